"""Concurrent bootstraps: a pair is redeemed once, and a recreate never leaves two valid pairs.

Requests run concurrently through the in-process client (``asyncio.gather``); on PostgreSQL
they hold connections of their own, on SQLite they contend for the write lock.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from fleetkey.runtime import Runtime
from fleetkey.things.models import Device, Product
from tests.compat.clinicalone.support import (
    ALREADY_BOOTSTRAPPED,
    INVALID_PAIR,
    OTHER_SUBJECT,
    SUBJECT,
    WATCH_1,
    WATCH_2,
    assert_pair,
    bootstrap,
    mhealth_events,
    new_trial,
    stored_device,
)
from tests.conftest import Caller, new_caller


async def _things(runtime: Runtime, tenant_id: str) -> int:
    async with runtime.db.unit_of_work(write=False) as session:
        count = await session.scalar(
            select(func.count()).select_from(Device).where(Device.tenant_id == tenant_id)
        )
    return int(count or 0)


async def test_32_concurrent_bootstraps_of_one_pair_succeed_once(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()

    responses = await asyncio.gather(*(bootstrap(client, pair) for _ in range(32)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 31, [r.text for r in responses if r.status_code >= 500]
    refusals = {r.content for r in responses if r.status_code == 401}
    assert len(refusals) == 1  # byte for byte the same refusal
    assert [r.json() for r in responses if r.status_code == 401] == [INVALID_PAIR] * 31
    # One long-term credential, one bootstrap event, and the pair is spent.
    assert await _things(runtime, caller.tenant_id) == 1
    events = await mhealth_events(runtime, caller.tenant_id)
    assert [e.action for e in events].count("bootstrap") == 1
    row = await stored_device(runtime, pair["id"])
    assert row.bootstrapped_at is not None and row.otp_failures == 0
    winner = next(r for r in responses if r.status_code == 200).json()
    broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=caller.tenant)
    verdict = await client.post(
        "/api/v1/auth/device",
        json={
            "username": winner["iotUserName"],
            "password": winner["iotSharedSecret"],
            "client_id": winner["iotDeviceId"],
        },
        headers=broker.headers,
    )
    assert verdict.json() == {"result": "allow"}
    after = await bootstrap(client, pair)
    assert (after.status_code, after.json()) == (401, INVALID_PAIR)


@pytest.mark.parametrize("position", [0, 8, 16])
async def test_a_recreate_racing_bootstraps_never_leaves_two_valid_pairs(
    client: httpx.AsyncClient, runtime: Runtime, position: int
) -> None:
    for _ in range(3):
        caller = await new_caller(runtime)
        trial = await new_trial(client, caller)
        old = await trial.register_watch()
        calls = [bootstrap(client, old) for _ in range(16)]
        calls.insert(position, trial.recreate())

        responses = await asyncio.gather(*calls)

        recreated = responses.pop(position)
        new = assert_pair(recreated)
        assert new["id"] == old["id"] and new["accessId"] != old["accessId"]
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 401}, [r.text for r in responses]
        assert all(r.json() == INVALID_PAIR for r in responses if r.status_code == 401)
        won = statuses.count(200)
        assert won <= 1

        # After everything settled: the old pair is dead; the new one works unless the old
        # one already bootstrapped the device.
        again = await bootstrap(client, old)
        assert (again.status_code, again.json()) == (401, INVALID_PAIR)
        fresh = await bootstrap(client, new)
        if won:
            assert (fresh.status_code, fresh.json()) == (400, ALREADY_BOOTSTRAPPED)
        else:
            assert fresh.status_code == 200, fresh.text
        assert await _things(runtime, caller.tenant_id) == 1
        row = await stored_device(runtime, old["id"])
        assert row.access_id == new["accessId"] and row.bootstrapped_at is not None


@pytest.mark.parametrize("position", [0, 8, 16])
async def test_a_deregister_racing_bootstraps_leaves_no_working_credential(
    client: httpx.AsyncClient, runtime: Runtime, position: int
) -> None:
    for _ in range(3):
        caller = await new_caller(runtime)
        broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=caller.tenant)
        trial = await new_trial(client, caller)
        pair = await trial.register_watch()
        calls = [bootstrap(client, pair) for _ in range(16)]
        calls.insert(position, trial.deregister())

        responses = await asyncio.gather(*calls)

        deregistered = responses.pop(position)
        assert deregistered.status_code == 200, deregistered.text
        assert deregistered.json()["result"] == "Device deregistered successfully"
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 401} and statuses.count(200) <= 1, statuses
        for won in (r.json() for r in responses if r.status_code == 200):
            verdict = await client.post(
                "/api/v1/auth/device",
                json={
                    "username": won["iotUserName"],
                    "password": won["iotSharedSecret"],
                    "client_id": won["iotDeviceId"],
                },
                headers=broker.headers,
            )
            assert verdict.json() == {"result": "deny"}
        after = await bootstrap(client, pair)
        assert (after.status_code, after.json()) == (401, INVALID_PAIR)


async def test_first_bootstraps_of_a_new_kit_type_at_once_all_succeed(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    """Both make the kit type's product on first use; the one that loses the race finds
    the other's instead of failing."""
    trial = await new_trial(client, caller)
    first = await trial.register_watch(WATCH_1, SUBJECT)
    second = await trial.register_watch(WATCH_2, OTHER_SUBJECT)

    responses = await asyncio.gather(bootstrap(client, first), bootstrap(client, second))

    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    assert await _things(runtime, caller.tenant_id) == 2
    async with runtime.db.unit_of_work(write=False) as session:
        products = await session.scalar(
            select(func.count()).select_from(Product).where(Product.tenant_id == caller.tenant_id)
        )
    assert products == 1
