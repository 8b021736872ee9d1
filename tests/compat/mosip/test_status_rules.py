"""DELETE /registereddevices/deregister/{code} and the two status routes."""

from __future__ import annotations

from typing import Any

from fleetkey.runtime import Runtime
from tests.compat.mosip.support import (
    audit_rows,
    counts,
    device_row,
    failed,
    history_rows,
    set_status,
)
from tests.compat.mosip.world import World
from tests.conftest import Caller

UPDATED = {"status": "success", "message": "Device status updated successfully"}
NO_DEVICE = [("ADM-DPM-038", "Data not found for provided device code")]


async def doc_status(w: World, code: str, status: str) -> dict[str, Any]:
    return await w.put("/registereddevices/status", params={"devicecode": code, "status": status})


# ---------------------------------------------------------------- deregister


async def test_deregister_retires_and_records_history(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    code = await world.register_ok()
    body = await world.delete(f"/registereddevices/deregister/{code}")
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.device.delete", "1.0")
    assert body["metadata"] == {} and body["errors"] is None
    assert body["response"] == {"status": "success", "message": "Device de-register successfully"}

    row = await device_row(runtime, code)
    assert row is not None
    assert (row.status, row.version, row.is_active) == ("Retired", 2, True)
    assert row.updated_by == f"tester@{caller.tenant}"
    rows = await history_rows(runtime, caller.tenant_id, "registered_device", code)
    assert [(r.version, r.data["status"]) for r in rows] == [(1, "Registered"), (2, "Retired")]
    assert rows[1].valid_from == row.updated_at
    events = await audit_rows(runtime, caller.tenant_id, "registered_device", code)
    assert [e.action for e in events] == ["register", "deregister"]
    assert events[1].changes["before"]["status"] == "Registered"
    assert events[1].changes["after"]["status"] == "Retired"


async def test_deregister_unknown_device(world: World, caller: Caller, runtime: Runtime) -> None:
    before = await counts(runtime, caller.tenant_id)
    body = await world.delete("/registereddevices/deregister/no-such-device")
    assert body["id"] == "io.mosip.masterdata.device.delete"
    assert failed(body) == [("KER-DPM-001", "No register device found")]
    assert await counts(runtime, caller.tenant_id) == before


async def test_deregister_twice(world: World, caller: Caller, runtime: Runtime) -> None:
    code = await world.register_ok()
    await world.delete(f"/registereddevices/deregister/{code}")
    before = await counts(runtime, caller.tenant_id)
    again = await world.delete(f"/registereddevices/deregister/{code}")
    assert failed(again) == [("KER-DPM-002", "Device already de-registered")]
    assert await counts(runtime, caller.tenant_id) == before


async def test_deregister_a_revoked_device(world: World) -> None:
    code = await world.register_ok()
    await set_status(world, code, "Revoked")
    body = await world.delete(f"/registereddevices/deregister/{code}")
    assert failed(body) == [("KER-DPM-002", "Device already de-registered")]


# ---------------------------------------------------------------- status


async def test_status_on_the_real_route_any_case_in_canonical_stored(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    code = await world.register_ok()
    body = await set_status(world, code, "rEvOkEd")
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.device.update", "1.0")
    assert body["metadata"] == {} and body["errors"] is None and body["response"] == UPDATED
    row = await device_row(runtime, code)
    assert row is not None and (row.status, row.version) == ("Revoked", 2)
    rows = await history_rows(runtime, caller.tenant_id, "registered_device", code)
    assert [r.data["status"] for r in rows] == ["Registered", "Revoked"]
    events = await audit_rows(runtime, caller.tenant_id, "registered_device", code)
    assert [e.action for e in events] == ["register", "status"]


async def test_status_on_the_doc_route(world: World, runtime: Runtime) -> None:
    code = await world.register_ok()
    body = await doc_status(world, code, "REVOKED")
    assert body["errors"] is None and body["response"] == UPDATED
    row = await device_row(runtime, code)
    assert row is not None and row.status == "Revoked"
    # The page quotes its values; the quotes are not part of them.
    back = await doc_status(world, f"'{code}'", "'registered'")
    assert back["response"] == UPDATED
    row = await device_row(runtime, code)
    assert row is not None and row.status == "Registered"


async def test_status_same_as_current(world: World, caller: Caller, runtime: Runtime) -> None:
    code = await world.register_ok()
    assert failed(await set_status(world, code, "registered")) == [
        ("KER-DPM-039", "Device already is in Registered status")
    ]
    await set_status(world, code, "Revoked")
    before = await counts(runtime, caller.tenant_id)
    assert failed(await set_status(world, code, "REVOKED")) == [
        ("KER-DPM-039", "Device already is in Revoked status")
    ]
    assert failed(await doc_status(world, code, "revoked")) == [
        ("KER-DPM-039", "Device already is in Revoked status")
    ]
    assert await counts(runtime, caller.tenant_id) == before


async def test_status_unknown_value(world: World, runtime: Runtime) -> None:
    code = await world.register_ok()
    for status in ("Lost", "Registeredx", "active"):
        assert failed(await set_status(world, code, status)) == [
            ("ADM-DPM-037", "Invalid status received")
        ], status
    row = await device_row(runtime, code)
    assert row is not None and (row.status, row.version) == ("Registered", 1)


async def test_status_unknown_device(world: World) -> None:
    assert failed(await set_status(world, "no-such-device", "Revoked")) == NO_DEVICE
    assert failed(await doc_status(world, "no-such-device", "Revoked")) == NO_DEVICE


async def test_status_unknown_device_is_reported_before_an_invalid_status(world: World) -> None:
    assert failed(await set_status(world, "no-such-device", "Lost")) == NO_DEVICE


async def test_status_missing_parameters(world: World) -> None:
    code = await world.register_ok()
    real = "/registereddevices/update/status"
    assert failed(await world.put(real, params={"deviceCode": code})) == [
        ("KER-MSD-999", "statusCode must not be null")
    ]
    assert failed(await world.put(real, params={"statusCode": "Revoked"})) == [
        ("KER-MSD-999", "deviceCode must not be null")
    ]
    assert failed(await world.put(real)) == [
        ("KER-MSD-999", "deviceCode must not be null"),
        ("KER-MSD-999", "statusCode must not be null"),
    ]
    # The doc route's own parameter names are not the real route's.
    assert failed(await world.put(real, params={"devicecode": code, "status": "Revoked"})) == [
        ("KER-MSD-999", "deviceCode must not be null"),
        ("KER-MSD-999", "statusCode must not be null"),
    ]
    assert failed(await world.put("/registereddevices/status", params={"devicecode": code})) == [
        ("KER-MSD-999", "status must not be null")
    ]
    assert failed(await world.put(real, params={"deviceCode": "", "statusCode": "Revoked"})) == [
        ("KER-MSD-999", "deviceCode must not be null")
    ]


async def test_status_of_a_retired_device(world: World, runtime: Runtime) -> None:
    code = await world.register_ok()
    await world.delete(f"/registereddevices/deregister/{code}")
    assert failed(await set_status(world, code, "Registered")) == [
        ("KER-DPM-002", "Device already de-registered")
    ]
    assert failed(await set_status(world, code, "Revoked")) == [
        ("KER-DPM-002", "Device already de-registered")
    ]
    assert failed(await set_status(world, code, "retired")) == [
        ("KER-DPM-039", "Device already is in Retired status")
    ]
    row = await device_row(runtime, code)
    assert row is not None and (row.status, row.version) == ("Retired", 2)


async def test_status_retired_through_the_status_route(world: World, runtime: Runtime) -> None:
    code = await world.register_ok()
    body = await set_status(world, code, "RETIRED")
    assert body["response"] == UPDATED
    row = await device_row(runtime, code)
    assert row is not None and row.status == "Retired"
    # Retired through either route frees the serial.
    assert await world.register_ok() != code


async def test_revoked_then_registered_again_validates(world: World) -> None:
    code = await world.register_ok()
    await set_status(world, code, "Revoked")
    assert failed(await world.validate(code)) == [("ADM-DPM-002", "Device is revoked/retired")]
    assert (await set_status(world, code, "Registered"))["response"] == UPDATED
    assert (await world.validate(code))["errors"] is None
