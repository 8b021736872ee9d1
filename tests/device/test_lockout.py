"""Failed connects are counted in the database: every node sees the same count and lock.

Each node here is a Runtime of its own (engine, password cache, lockout policy) on the same
store, served by its own app through an in-process httpx client.
"""

from __future__ import annotations

import asyncio

import httpx

from fleetkey.runtime import Runtime
from fleetkey.things.models import AuthFailures
from tests.conftest import Store
from tests.device.support import (
    CHOSEN,
    DENY,
    Fleet,
    connect,
    denials,
    native_device,
    new_fleet,
    node,
    password_of,
    roma_device,
    user_of,
)

POLICY = {"device_auth_max_failures": 3, "device_auth_lockout_seconds": 60}
WRONG = "Not-The-Passw0rd!"


async def _verdict(
    node_client: httpx.AsyncClient,
    fleet: Fleet,
    user: str,
    password: str,
    client_id: str | None = None,
) -> str:
    response = await connect(node_client, fleet.broker, user, password, client_id)
    assert response.status_code == 200, response.text
    return str(response.json()["result"])


async def _failures(runtime: Runtime, fleet: Fleet, device_id: object) -> AuthFailures | None:
    async with runtime.db.unit_of_work(write=False) as session:
        return await session.get(AuthFailures, (fleet.caller.tenant_id, f"device:{device_id}"))


async def test_failures_on_one_node_lock_the_device_on_another(
    client: httpx.AsyncClient, runtime: Runtime, store: Store
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    bystander = await roma_device(client, fleet, device_name="bystander")
    user, password = user_of(device), password_of(device)

    async with node(store, **POLICY) as a, node(store, **POLICY) as b:
        assert await _verdict(b, fleet, user, password) == "allow"
        for _ in range(3):
            assert await _verdict(a, fleet, user, WRONG) == "deny"
        row = await _failures(runtime, fleet, device["id"])
        assert row is not None and row.failures == 3 and row.locked_until is not None

        assert await _verdict(b, fleet, user, password) == "deny"
        assert await _verdict(a, fleet, user, password) == "deny"
        assert await _verdict(b, fleet, user, password, str(device["client_id"])) == "deny"
        # Only that device is locked.
        assert await _verdict(b, fleet, user_of(bystander), password_of(bystander)) == "allow"

    assert await denials(runtime, fleet.caller.tenant_id) == [
        (str(device["id"]), "wrong password"),
        (str(device["id"]), "wrong password"),
        (str(device["id"]), "wrong password"),
        (str(device["id"]), "locked after failed attempts"),
        (str(device["id"]), "locked after failed attempts"),
        (str(device["id"]), "locked after failed attempts"),
    ]


async def test_failures_spread_over_two_nodes_add_up(
    client: httpx.AsyncClient, runtime: Runtime, store: Store
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet, user_name="chosen-device-2", password=CHOSEN)
    async with node(store, **POLICY) as a, node(store, **POLICY) as b:
        assert await _verdict(a, fleet, "chosen-device-2", CHOSEN) == "allow"  # cached on a
        assert await _verdict(a, fleet, "chosen-device-2", WRONG) == "deny"
        assert await _verdict(b, fleet, "chosen-device-2", WRONG) == "deny"
        assert await _verdict(a, fleet, "chosen-device-2", WRONG) == "deny"
        # Locked, even on the node that has the right password in its cache.
        assert await _verdict(a, fleet, "chosen-device-2", CHOSEN) == "deny"
        assert await _verdict(b, fleet, "chosen-device-2", CHOSEN) == "deny"
    row = await _failures(runtime, fleet, device["id"])
    assert row is not None and row.failures == 3


async def test_concurrent_failures_on_two_nodes_are_all_counted(
    client: httpx.AsyncClient, runtime: Runtime, store: Store
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    user = user_of(device)
    policy = {**POLICY, "device_auth_max_failures": 100}
    async with node(store, **policy) as a, node(store, **policy) as b:
        verdicts = await asyncio.gather(
            *(_verdict(n, fleet, user, WRONG) for n in (a, b, a, b, a, b))
        )
    assert verdicts == ["deny"] * 6
    row = await _failures(runtime, fleet, device["id"])
    assert row is not None and row.failures == 6 and row.locked_until is None


async def test_a_success_clears_the_count(
    client: httpx.AsyncClient, runtime: Runtime, store: Store
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    user, password = user_of(device), password_of(device)
    async with node(store, **POLICY) as a, node(store, **POLICY) as b:
        for _ in range(2):
            assert await _verdict(a, fleet, user, WRONG) == "deny"
        assert await _verdict(b, fleet, user, password) == "allow"
        assert await _failures(runtime, fleet, device["id"]) is None
        for _ in range(2):
            assert await _verdict(b, fleet, user, WRONG) == "deny"
        # 4 failures in all, but never 3 in a row: still allowed.
        assert await _verdict(a, fleet, user, password) == "allow"
        assert await _failures(runtime, fleet, device["id"]) is None


async def test_a_product_credential_device_is_locked_on_its_own(
    client: httpx.AsyncClient, runtime: Runtime, store: Store
) -> None:
    fleet = await new_fleet(client, runtime)
    first = await native_device(client, fleet, credential="product")
    second = await native_device(client, fleet, credential="product")
    user, password = fleet.product_user, fleet.product_password
    async with node(store, **POLICY) as a, node(store, **POLICY) as b:
        for _ in range(3):
            assert await _verdict(a, fleet, user, WRONG, first["client_id"]) == "deny"
        assert await _verdict(b, fleet, user, password, first["client_id"]) == "deny"
        assert await _verdict(b, fleet, user, password, second["client_id"]) == "allow"


async def test_the_lockout_ends(client: httpx.AsyncClient, runtime: Runtime, store: Store) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    user, password = user_of(device), password_of(device)
    policy = {**POLICY, "device_auth_lockout_seconds": 1}
    async with node(store, **policy) as a, node(store, **policy) as b:
        for _ in range(3):
            assert await _verdict(a, fleet, user, WRONG) == "deny"
        response = await connect(b, fleet.broker, user, password)
        assert (response.status_code, response.json()) == (200, DENY)

        await asyncio.sleep(1.2)
        assert await _verdict(b, fleet, user, password) == "allow"
        assert await _failures(runtime, fleet, device["id"]) is None
        assert await _verdict(a, fleet, user, password) == "allow"


async def test_deleting_a_device_forgets_its_failures(
    client: httpx.AsyncClient, runtime: Runtime, store: Store
) -> None:
    """On SQLite a new device can get the id of the one just deleted; it must not inherit
    that device's lockout."""
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    async with node(store, **POLICY) as a:
        for _ in range(3):
            assert await _verdict(a, fleet, user_of(device), WRONG) == "deny"
        assert await _failures(runtime, fleet, device["id"]) is not None
        response = await client.delete(
            f"{fleet.roma}/devices/{device['id']}", headers=fleet.roma_headers
        )
        assert response.status_code == 204
        assert await _failures(runtime, fleet, device["id"]) is None

        newer = await roma_device(client, fleet, device_name="newer")
        assert await _verdict(a, fleet, user_of(newer), password_of(newer)) == "allow"
