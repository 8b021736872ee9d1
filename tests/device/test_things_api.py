"""Native /api/v1 instances and devices."""

from __future__ import annotations

import httpx

from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.things import credentials
from tests.conftest import Caller, new_caller
from tests.device.support import allowed, native_device, new_fleet


def _error(code: str, message: str, details: object = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details}}


async def test_create_and_list_instances(client: httpx.AsyncClient, caller: Caller) -> None:
    response = await client.post(
        "/api/v1/instances", json={"id": "plant-b"}, headers=caller.headers
    )
    assert (response.status_code, response.json()) == (201, {"id": "plant-b", "name": "plant-b"})
    response = await client.post(
        "/api/v1/instances", json={"id": "plant-a", "name": "Plant A"}, headers=caller.headers
    )
    assert (response.status_code, response.json()) == (201, {"id": "plant-a", "name": "Plant A"})
    response = await client.post("/api/v1/instances", json={}, headers=caller.headers)
    assert response.status_code == 201
    generated = response.json()["id"]
    assert len(generated) == 36 and response.json()["name"] == generated

    response = await client.get("/api/v1/instances", headers=caller.headers)
    assert response.status_code == 200
    assert response.json() == sorted(
        [
            {"id": "plant-a", "name": "Plant A"},
            {"id": "plant-b", "name": "plant-b"},
            {"id": generated, "name": generated},
        ],
        key=lambda i: i["id"],
    )


async def test_instances_are_per_tenant(client: httpx.AsyncClient, runtime: Runtime) -> None:
    first, second = await new_caller(runtime), await new_caller(runtime)
    for who in (first, second):
        response = await client.post("/api/v1/instances", json={"id": "same"}, headers=who.headers)
        assert response.status_code == 201
    response = await client.post(
        "/api/v1/instances", json={"id": "only-first"}, headers=first.headers
    )
    assert response.status_code == 201
    response = await client.get("/api/v1/instances", headers=second.headers)
    assert response.json() == [{"id": "same", "name": "same"}]


async def test_a_duplicate_instance_is_409(client: httpx.AsyncClient, caller: Caller) -> None:
    body = {"id": "plant-1"}
    assert (
        await client.post("/api/v1/instances", json=body, headers=caller.headers)
    ).status_code == 201
    response = await client.post("/api/v1/instances", json=body, headers=caller.headers)
    assert response.status_code == 409
    assert response.json() == _error("instance.exists", "instance plant-1 already exists")


async def test_a_bad_instance_id_is_422(client: httpx.AsyncClient, caller: Caller) -> None:
    for bad in ("has space", "semi;colon", "slash/ed", "dot.ted"):
        response = await client.post("/api/v1/instances", json={"id": bad}, headers=caller.headers)
        assert response.status_code == 422, bad
        assert response.json() == _error(
            "validation.invalid",
            "id: 1 to 36 letters, digits, - or _",
            [{"field": "id", "message": "1 to 36 letters, digits, - or _"}],
        )
    for body in ({"id": "x" * 37}, {"id": 5}, {"id": "ok", "extra": 1}, {"name": "n" * 65}):
        response = await client.post("/api/v1/instances", json=body, headers=caller.headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "validation.invalid"
    response = await client.get("/api/v1/instances", headers=caller.headers)
    assert response.json() == []


async def test_instances_need_the_things_scopes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    nobody = await client.get("/api/v1/instances")
    assert nobody.status_code == 401
    assert nobody.json()["error"]["code"] == "auth.unauthenticated"
    reader = await new_caller(runtime, [scopes.THINGS_READ])
    assert (await client.get("/api/v1/instances", headers=reader.headers)).status_code == 200
    response = await client.post("/api/v1/instances", json={"id": "x"}, headers=reader.headers)
    assert response.status_code == 403
    assert response.json() == _error(
        "auth.forbidden", f"the token lacks the {scopes.THINGS_WRITE} scope"
    )
    broker = await new_caller(runtime, [scopes.DEVICE_AUTH])
    assert (await client.get("/api/v1/instances", headers=broker.headers)).status_code == 403


async def test_a_device_with_its_own_credential_shows_it_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await native_device(client, fleet, credential="own")
    assert set(device) == {"id", "client_id", "product_id", "authentication"}
    assert device["product_id"] == fleet.product["id"]
    auth = device["authentication"]
    assert set(auth) == {"user_name", "password"}
    assert auth["user_name"].startswith("d-")
    credentials.check_user_name(auth["user_name"])
    credentials.check_password(auth["password"])

    # Afterwards only the user name can be read back.
    response = await client.get(
        f"{fleet.roma}/devices/{device['id']}/authentication", headers=fleet.roma_headers
    )
    assert response.json() == {"user_name": auth["user_name"], "password": "********"}
    response = await client.get(f"{fleet.roma}/devices/{device['id']}", headers=fleet.roma_headers)
    assert response.json()["authentication"] == {
        "user_name": auth["user_name"],
        "password": "********",
    }
    assert auth["password"] not in response.text
    assert await allowed(client, fleet, auth["user_name"], auth["password"], device["client_id"])


async def test_the_default_credential_is_own(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fleet = await new_fleet(client, runtime)
    response = await client.post(
        f"/api/v1/instances/{fleet.instance}/devices",
        json={"product_id": fleet.product["id"], "device_name": "meter", "node_id": "n-1"},
        headers=fleet.caller.headers,
    )
    assert response.status_code == 201
    assert "authentication" in response.json()


async def test_a_device_with_the_product_credential_has_none_of_its_own(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await native_device(client, fleet, credential="product")
    assert set(device) == {"id", "client_id", "product_id"}
    response = await client.get(
        f"{fleet.roma}/devices/{device['id']}/authentication", headers=fleet.roma_headers
    )
    assert response.json() == {"user_name": fleet.product_user, "password": "********"}
    response = await client.get(f"{fleet.roma}/devices/{device['id']}", headers=fleet.roma_headers)
    assert response.json()["authentication"] is None
    assert await allowed(
        client, fleet, fleet.product_user, fleet.product_password, device["client_id"]
    )


async def test_device_creation_errors(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fleet = await new_fleet(client, runtime)
    path = f"/api/v1/instances/{fleet.instance}/devices"
    body = {"product_id": 999999999, "device_name": "meter", "node_id": "n-1"}
    response = await client.post(path, json=body, headers=fleet.caller.headers)
    assert response.status_code == 404
    assert response.json() == _error(
        "product.not_found", "product 999999999 does not exist", {"id": "999999999"}
    )

    body["product_id"] = fleet.product["id"]
    response = await client.post(
        "/api/v1/instances/elsewhere/devices", json=body, headers=fleet.caller.headers
    )
    assert response.status_code == 404
    assert response.json() == _error(
        "instance.not_found", "instance does not exist", {"instance_id": "elsewhere"}
    )

    # A product of another instance of the tenant is not found from this one.
    response = await client.post(
        "/api/v1/instances", json={"id": "plant-2"}, headers=fleet.caller.headers
    )
    assert response.status_code == 201
    response = await client.post(
        "/api/v1/instances/plant-2/devices", json=body, headers=fleet.caller.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product.not_found"

    for bad in (
        {**body, "credential": "shared"},
        {**body, "node_id": "bad node"},
        {**body, "device_name": "x"},
        {**body, "product_id": -1},
        {**body, "unknown": 1},
        {"device_name": "meter", "node_id": "n-1"},
    ):
        response = await client.post(path, json=bad, headers=fleet.caller.headers)
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "validation.invalid"


async def test_a_product_of_another_tenant_is_not_found(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    other = await new_fleet(client, runtime)
    response = await client.post(
        f"/api/v1/instances/{other.instance}/devices",
        json={"product_id": fleet.product["id"], "device_name": "meter", "node_id": "n-1"},
        headers=other.caller.headers,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product.not_found"
