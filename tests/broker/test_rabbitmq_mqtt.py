"""Devices log in to a real RabbitMQ (MQTT 3.1.1) that asks fleetkey over HTTP.

RabbitMQ's ``rabbitmq_auth_backend_http`` calls fleetkey's ``user``, ``vhost``,
``resource`` and ``topic`` paths (``/api/v1/auth/rabbitmq/<broker token>/...``), both
with ``http_method = get`` (query string) and ``post`` (form body). Products and devices
are made through the ROMA surface over HTTP with ``X-Auth-Token``; a device that uses its
product's credential (one-model-one-secret) through the native API.

RabbitMQ 3.10 refuses a denied login with CONNACK return code 4 ("bad user name or
password", paho reason code 134); code 5 ("not authorized") is accepted as a refusal too.
A refusal alone cannot tell fleetkey's "deny" from a failing fleetkey, so every refusal is
paired with a login that does succeed through the same path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.broker.conftest import Broker
from tests.broker.rabbit import ACCEPTED, REFUSED, MqttClient, connack
from tests.conftest import new_caller

# Chosen passwords that meet ROMA's rules (16-32 characters: digit, upper, lower, special).
WRONG = "Wr0ng-Password!xyz"
RESET = "Fresh-Passw0rd#42x"


@dataclass
class Fleet:
    """One instance and one product of the broker's tenant, made over HTTP."""

    broker: Broker
    http: httpx.Client
    instance: str
    product: dict[str, Any]

    @property
    def roma(self) -> str:
        return f"/v2/{self.broker.admin.tenant}/link/instances/{self.instance}"

    def device(self, node_id: str) -> dict[str, Any]:
        """A device with its own generated credential, through ROMA."""
        response = self.http.post(
            self.roma + "/devices",
            json={
                "device_name": f"sensor {node_id}",
                "node_id": node_id,
                "product": {"product_id": self.product["id"]},
            },
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    def product_device(self, node_id: str) -> dict[str, Any]:
        """A device that connects with its product's credential, through the native API."""
        response = self.http.post(
            f"/api/v1/instances/{self.instance}/devices",
            json={
                "product_id": self.product["id"],
                "device_name": f"meter {node_id}",
                "node_id": node_id,
                "credential": "product",
            },
            headers=self.broker.admin.headers,
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        assert "authentication" not in data
        return data

    def set_status(self, device: dict[str, Any], status: int) -> None:
        response = self.http.put(f"{self.roma}/devices/{device['id']}", json={"status": status})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status

    def reset_password(self, device: dict[str, Any], password: str) -> None:
        response = self.http.put(
            f"{self.roma}/devices/{device['id']}/authentication", json={"password": password}
        )
        assert response.status_code == 200, response.text
        assert response.json()["user_name"] == user_of(device)


def user_of(subject: dict[str, Any]) -> str:
    return str(subject["authentication"]["user_name"])


def password_of(subject: dict[str, Any]) -> str:
    return str(subject["authentication"]["password"])


@pytest.fixture
def fleet(broker: Broker) -> Iterator[Fleet]:
    headers = {"X-Auth-Token": broker.admin.token}
    with httpx.Client(base_url=broker.url, headers=headers, timeout=30) as http:
        instance = f"plant-{uuid.uuid4().hex[:8]}"
        response = http.post(
            "/api/v1/instances", json={"id": instance}, headers=broker.admin.headers
        )
        assert response.status_code == 201, response.text
        response = http.post(
            f"/v2/{broker.admin.tenant}/link/instances/{instance}/products",
            json={"name": "thermostat", "manufacturer_id": "acme", "model": "T1"},
        )
        assert response.status_code == 201, response.text
        yield Fleet(broker, http, instance, response.json())


def login(fleet: Fleet, user: str, password: str, client_id: str) -> int:
    return connack(fleet.broker.mqtt_port, user, password, client_id)


def test_own_credential_connects_and_round_trips(fleet: Fleet) -> None:
    device = fleet.device("node-1")
    port = fleet.broker.mqtt_port
    with MqttClient(port, user_of(device), password_of(device), device["client_id"]) as client:
        assert client.connect() == ACCEPTED
        payload = f"hello from {fleet.broker.method}".encode()
        assert client.round_trip(f"devices/{device['client_id']}/echo", payload) == payload


def test_wrong_password_is_refused(fleet: Fleet) -> None:
    device = fleet.device("node-1")
    assert login(fleet, user_of(device), WRONG, device["client_id"]) in REFUSED
    assert login(fleet, "d-unknown-user", WRONG, device["client_id"]) in REFUSED
    assert login(fleet, user_of(device), password_of(device), device["client_id"]) == ACCEPTED


def test_client_id_of_another_device_is_refused(fleet: Fleet) -> None:
    device, other = fleet.device("node-1"), fleet.device("node-2")
    assert login(fleet, user_of(device), password_of(device), other["client_id"]) in REFUSED
    assert login(fleet, user_of(device), password_of(device), device["client_id"]) == ACCEPTED


def test_disabled_device_is_refused_until_enabled(fleet: Fleet) -> None:
    device = fleet.device("node-1")
    credentials = (user_of(device), password_of(device), device["client_id"])
    assert login(fleet, *credentials) == ACCEPTED
    fleet.set_status(device, 1)
    assert login(fleet, *credentials) in REFUSED
    fleet.set_status(device, 0)
    assert login(fleet, *credentials) == ACCEPTED


def test_reset_password_refuses_the_old_one(fleet: Fleet) -> None:
    device = fleet.device("node-1")
    old = password_of(device)
    assert login(fleet, user_of(device), old, device["client_id"]) == ACCEPTED
    fleet.reset_password(device, RESET)
    assert login(fleet, user_of(device), old, device["client_id"]) in REFUSED
    assert login(fleet, user_of(device), RESET, device["client_id"]) == ACCEPTED


def test_product_credential_connects_as_its_devices(fleet: Fleet) -> None:
    """One-model-one-secret: RabbitMQ 3.10 passes the MQTT client id to the user path
    (``client_id``), so the product's credential logs in as the device it names."""
    meter, own = fleet.product_device("node-1"), fleet.device("node-2")
    user, password = user_of(fleet.product), password_of(fleet.product)
    with MqttClient(fleet.broker.mqtt_port, user, password, meter["client_id"]) as client:
        assert client.connect() == ACCEPTED
        payload = b"one model, one secret"
        assert client.round_trip(f"devices/{meter['client_id']}/echo", payload) == payload
    assert login(fleet, user, password, f"D{uuid.uuid4().hex[:12]}") in REFUSED
    assert login(fleet, user, password, own["client_id"]) in REFUSED  # has its own secret
    assert login(fleet, user, WRONG, meter["client_id"]) in REFUSED


async def test_token_without_device_scope_lets_no_one_in(fleet: Fleet, runtime: Runtime) -> None:
    broker = fleet.broker
    device = fleet.device("node-1")
    credentials = (user_of(device), password_of(device), device["client_id"])
    reader = await new_caller(runtime, [scopes.THINGS_READ], tenant=broker.admin.tenant)
    broker.node.point_at(broker.url, reader.token, broker.method)
    try:
        assert login(fleet, *credentials) in REFUSED
    finally:
        broker.node.point_at(broker.url, broker.token.token, broker.method)
    assert login(fleet, *credentials) == ACCEPTED
