"""Builders for device-side tests: a tenant, its broker token, an instance, a product, devices.

Products and devices are made through the ROMA surface (``X-Auth-Token`` with a fleetkey
token); a device that connects with its product's credential can only be made through the
native API (``"credential": "product"``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from fleetkey.app import create_app
from fleetkey.audit.models import AuditEvent
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.conftest import Caller, Store, make_settings, new_caller

AUTH = "/api/v1/auth/device"
ALLOW = {"result": "allow"}
DENY = {"result": "deny"}
# Chosen passwords that meet ROMA's rules (16-32 characters: digit, upper, lower, special).
CHOSEN = "Chosen-Passw0rd!x"
OTHER_CHOSEN = "0ther-Passw0rd#yz"


@dataclass
class Fleet:
    """A fresh tenant: a full-access caller, a broker, an instance and one product."""

    caller: Caller
    broker: Caller
    instance: str
    product: dict[str, Any]

    @property
    def roma(self) -> str:
        return f"/v2/{self.caller.tenant}/link/instances/{self.instance}"

    @property
    def roma_headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.caller.token}

    @property
    def product_user(self) -> str:
        return str(self.product["authentication"]["user_name"])

    @property
    def product_password(self) -> str:
        return str(self.product["authentication"]["password"])


async def new_fleet(client: httpx.AsyncClient, runtime: Runtime) -> Fleet:
    caller = await new_caller(runtime)
    broker = await new_caller(runtime, [scopes.DEVICE_AUTH], tenant=caller.tenant)
    response = await client.post(
        "/api/v1/instances", json={"id": "plant-1"}, headers=caller.headers
    )
    assert response.status_code == 201, response.text
    fleet = Fleet(caller, broker, "plant-1", {})
    response = await client.post(
        fleet.roma + "/products",
        json={"name": "thermostat", "manufacturer_id": "acme", "model": "T1"},
        headers=fleet.roma_headers,
    )
    assert response.status_code == 201, response.text
    fleet.product = response.json()
    return fleet


async def roma_device(client: httpx.AsyncClient, fleet: Fleet, **extra: Any) -> dict[str, Any]:
    """A device with its own credential (generated, or ``user_name``/``password`` given)."""
    body = {
        "device_name": extra.pop("device_name", "sensor"),
        "node_id": extra.pop("node_id", "node-1"),
        "product": {"product_id": fleet.product["id"]},
        **extra,
    }
    response = await client.post(fleet.roma + "/devices", json=body, headers=fleet.roma_headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def native_device(
    client: httpx.AsyncClient, fleet: Fleet, credential: str = "own"
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/instances/{fleet.instance}/devices",
        json={
            "product_id": fleet.product["id"],
            "device_name": "meter",
            "node_id": "node-2",
            "credential": credential,
        },
        headers=fleet.caller.headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def user_of(device: dict[str, Any]) -> str:
    return str(device["authentication"]["user_name"])


def password_of(device: dict[str, Any]) -> str:
    return str(device["authentication"]["password"])


async def connect(
    client: httpx.AsyncClient,
    broker: Caller,
    username: str,
    password: str,
    client_id: str | None = None,
) -> httpx.Response:
    body = {"username": username, "password": password}
    if client_id is not None:
        body["client_id"] = client_id
    return await client.post(AUTH, json=body, headers=broker.headers)


async def allowed(
    client: httpx.AsyncClient,
    fleet: Fleet,
    username: str,
    password: str,
    client_id: str | None = None,
) -> bool:
    """The broker's verdict; any answer but HTTP 200 allow/deny fails the test."""
    response = await connect(client, fleet.broker, username, password, client_id)
    assert response.status_code == 200, response.text
    assert response.json() in (ALLOW, DENY)
    return bool(response.json() == ALLOW)


async def audit_events(runtime: Runtime, tenant_id: str) -> list[AuditEvent]:
    async with runtime.db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
        )
        return list(rows)


async def denials(runtime: Runtime, tenant_id: str) -> list[tuple[str, str]]:
    """(entity id, reason) of every ``auth_denied`` event, oldest first."""
    return [
        (e.entity_id, e.changes["reason"])
        for e in await audit_events(runtime, tenant_id)
        if e.action == "auth_denied"
    ]


def dumped(events: list[AuditEvent]) -> str:
    """Every stored column of the events as one text, to search for leaked secrets."""
    return json.dumps(
        [[e.actor, e.request_id, e.action, e.entity_type, e.entity_id, e.changes] for e in events]
    )


@asynccontextmanager
async def node(store: Store, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Another API node: its own runtime (engine, caches, lockout policy) on the same store."""
    settings = make_settings(store, **overrides)
    rt = Runtime.build(settings)
    app = create_app(settings, rt)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as c:
            yield c
    finally:
        await rt.db.dispose()
