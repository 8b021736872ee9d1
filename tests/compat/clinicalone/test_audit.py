"""Every device action leaves an audit event with its actor, and never an OTP."""

from __future__ import annotations

from fleetkey.runtime import Runtime
from tests.compat.clinicalone.support import (
    SUBJECT,
    WATCH_1,
    Trial,
    all_events,
    assert_pair,
    bootstrap,
    dumped,
    mhealth_events,
    stored_device,
    wrong_otp,
)


async def test_register_recreate_bootstrap_deregister_are_audited(
    trial: Trial, runtime: Runtime
) -> None:
    first = await trial.register_watch()
    second = assert_pair(await trial.recreate())
    wrong = await bootstrap(trial.client, wrong_otp(second))
    assert wrong.status_code == 401
    assert (await bootstrap(trial.client, second)).status_code == 200
    third = assert_pair(await trial.recreate())
    assert (await trial.deregister()).status_code == 200
    device_id = first["id"]
    site = f"tester@{trial.caller.tenant}"

    events = await mhealth_events(runtime, trial.caller.tenant_id)

    assert [(e.action, e.actor, e.entity_id) for e in events] == [
        ("register", site, device_id),
        ("recreate_access_code", site, device_id),
        ("bootstrap_denied", f"device:{device_id}", device_id),
        ("bootstrap", f"device:{device_id}", device_id),
        ("recreate_access_code", site, device_id),
        ("deregister", site, device_id),
    ]
    register, recreate, denied, boot, _, deregister = events
    assert register.changes["after"]["access_id"] == first["accessId"]
    assert register.changes["after"]["inventory_id"] == WATCH_1
    assert register.changes["after"]["subject_id"] == SUBJECT
    assert register.changes["after"]["connection_type"] == "device_to_cloud"
    assert recreate.changes["before"]["access_id"] == first["accessId"]
    assert recreate.changes["after"]["access_id"] == second["accessId"]
    assert denied.changes == {"reason": "wrong OTP"}
    row = await stored_device(runtime, device_id)
    assert boot.changes["after"]["thing_id"] == row.thing_id
    assert boot.changes["after"]["certificate"] is False
    assert deregister.changes["before"]["access_id"] == third["accessId"]
    assert deregister.changes["after"]["access_id"] is None
    assert len({e.request_id for e in events}) == len(events)

    # No OTP (nor its keyed hash) in any audit row of the tenant.
    text = dumped(await all_events(runtime, trial.caller.tenant_id))
    for pair in (first, second, third):
        assert pair["otp"] not in text
        assert runtime.vault.keyed_hash(f"otp:{pair['accessId']}:{pair['otp']}") not in text


async def test_refused_actions_write_no_mhealth_event(trial: Trial, runtime: Runtime) -> None:
    await trial.dispensed(WATCH_1)
    assert (await trial.recreate()).status_code == 400
    assert (await trial.deregister()).status_code == 400
    assert (await trial.recreate(mode="prod")).status_code == 404
    assert await mhealth_events(runtime, trial.caller.tenant_id) == []
