"""Concurrent dispensations and registrations: every check-then-write rule holds under a race.

On PostgreSQL the requests really overlap (each holds a connection of its own); on SQLite
writers queue for the write lock. Either way the outcome must be exactly one winner.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from fleetkey.inventory.models import InventoryItem, MhealthDevice
from fleetkey.runtime import Runtime
from tests.compat.clinicalone.support import (
    C2C_ALREADY_REGISTERED,
    D2C_ALREADY_REGISTERED,
    M_SUBJECT,
    OTHER_SUBJECT,
    SCALE,
    SCALE_1,
    STUDY,
    SUBJECT,
    SUBJECT_NUMBER,
    VENDOR_CODE,
    WATCH,
    WATCH_1,
    WATCH_2,
    Trial,
    new_trial,
    ors_error,
)
from tests.conftest import new_caller

ROUNDS = 3


async def _live_registrations(runtime: Runtime, tenant_id: str, item_id: str) -> int:
    async with runtime.db.unit_of_work(write=False) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(MhealthDevice)
            .where(
                MhealthDevice.tenant_id == tenant_id,
                MhealthDevice.inventory_id == item_id,
                MhealthDevice.deregistered_at.is_(None),
            )
        )
    return int(count or 0)


async def _dispense(trial: Trial, subject_id: str, item_id: str) -> httpx.Response:
    return await trial.client.post(
        f"/api/v1/studies/{STUDY}/{trial.mode}/subjects/{subject_id}/dispensations",
        json={"inventory_id": item_id},
        headers=trial.caller.headers,
    )


async def test_concurrent_registrations_of_one_kit_register_it_once(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.dispensed(WATCH_1)
    await trial.dispensed(SCALE_1)
    d2c = {"inventoryId": WATCH_1, "mSubjectId": M_SUBJECT, "subjectNumber": SUBJECT_NUMBER}
    c2c = {"inventoryId": SCALE_1, "mSubjectId": M_SUBJECT, "vendorCode": VENDOR_CODE}

    responses = await asyncio.gather(
        *(trial.register(d2c) for _ in range(8)), *(trial.register(c2c) for _ in range(8))
    )

    watch, scale = responses[:8], responses[8:]
    assert sorted(r.status_code for r in watch) == [200] + [400] * 7
    assert [r.json() for r in watch if r.status_code == 400] == [
        ors_error(D2C_ALREADY_REGISTERED)
    ] * 7
    assert sorted(r.status_code for r in scale) == [200] + [400] * 7
    assert [r.json() for r in scale if r.status_code == 400] == [
        ors_error(C2C_ALREADY_REGISTERED)
    ] * 7
    assert await _live_registrations(runtime, trial.caller.tenant_id, WATCH_1) == 1
    assert await _live_registrations(runtime, trial.caller.tenant_id, SCALE_1) == 1


async def test_concurrent_dispensations_of_one_kit_dispense_it_once(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.item(SCALE_1, SCALE)
    subjects = [SUBJECT, OTHER_SUBJECT] * 4

    responses = await asyncio.gather(*(_dispense(trial, s, SCALE_1) for s in subjects))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "inventory.dispensed"
    }
    winner = next(r.json() for r in responses if r.status_code == 201)
    async with runtime.db.unit_of_work(write=False) as session:
        row = await session.get(InventoryItem, (trial.caller.tenant_id, STUDY, "active", SCALE_1))
    assert row is not None and row.dispensed_to == winner["subject_id"]


async def test_concurrent_device_to_cloud_dispensations_keep_one_per_subject(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for _ in range(ROUNDS):
        trial = await new_trial(client, await new_caller(runtime))
        await trial.item(WATCH_1, WATCH)
        await trial.item(WATCH_2, WATCH)

        responses = await asyncio.gather(
            _dispense(trial, SUBJECT, WATCH_1), _dispense(trial, SUBJECT, WATCH_2)
        )

        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        loser = next(r.json() for r in responses if r.status_code == 409)
        assert loser["error"]["code"] == "inventory.d2c_limit"
