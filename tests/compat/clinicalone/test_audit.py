"""Every device action leaves an audit event with its actor, and never an OTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from fleetkey.inventory import mhealth
from fleetkey.runtime import Runtime
from fleetkey.tenants.context import Actor
from tests.compat.clinicalone.support import (
    M_SUBJECT,
    OTHER_M_SUBJECT,
    SUBJECT,
    WATCH_1,
    WATCH_2,
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


async def test_a_direct_recreate_records_what_the_unit_of_work_records(
    trial: Trial, runtime: Runtime
) -> None:
    """A recreate whose rules all hold takes one read and one unit (``recreate_pair_direct``);
    its stored pair and audit event must be those of ``recreate_pair``."""
    first = await trial.register_watch()
    actor = Actor(trial.caller.tenant_id, "site", request_id="r-direct")
    ttl = timedelta(hours=runtime.settings.bootstrap_otp_ttl_hours)
    args = (trial.study, trial.mode, SUBJECT, WATCH_1, M_SUBJECT, ttl)
    direct = await mhealth.recreate_pair_direct(runtime.db, runtime.vault, actor, *args)
    assert direct is not None and direct.device_id == first["id"]
    async with runtime.db.unit_of_work() as session:
        orm = await mhealth.recreate_pair(
            session,
            runtime.vault,
            replace(actor, request_id="r-orm"),
            *args[:3],
            WATCH_1,
            M_SUBJECT,
            ttl,
        )
    events = await mhealth_events(runtime, trial.caller.tenant_id)
    register, by_direct, by_orm = events[-3:]
    assert (by_direct.action, by_direct.request_id) == ("recreate_access_code", "r-direct")
    assert (by_orm.action, by_orm.request_id) == ("recreate_access_code", "r-orm")
    # Each view of the registration is the one the unit of work takes of the stored row:
    # the direct "before" is what registering recorded, the direct "after" what the ORM
    # then read back (same keys, values and spelling of the expiry).
    assert register.action == "register"
    assert by_direct.changes["before"] == register.changes["after"]
    assert by_direct.changes["before"]["access_id"] == first["accessId"]
    assert by_direct.changes["after"]["access_id"] == direct.access_id
    assert by_orm.changes["before"] == by_direct.changes["after"]
    assert by_orm.changes["after"]["access_id"] == orm.access_id
    # The ORM's pair replaced the direct one, which works no more; the page's OTP rules hold.
    assert (
        await bootstrap(trial.client, {"accessId": direct.access_id, "otp": direct.otp or ""})
    ).status_code == 401
    row = await stored_device(runtime, first["id"])
    assert (row.access_id, row.otp_failures, row.otp_used_at) == (orm.access_id, 0, None)


async def test_a_recreate_that_breaks_a_rule_is_never_taken_directly(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.register_watch()
    actor = Actor(trial.caller.tenant_id, "site")
    ttl = timedelta(hours=1)
    db, vault = runtime.db, runtime.vault
    # Another subject's mSubjectId, a kit not registered, an unknown mode: the unit of
    # work names each error.
    for subject, item, m_subject, mode in (
        (SUBJECT, WATCH_1, OTHER_M_SUBJECT, trial.mode),
        (SUBJECT, WATCH_2, M_SUBJECT, trial.mode),
        (SUBJECT, WATCH_1, M_SUBJECT, "nonsense"),
    ):
        assert (
            await mhealth.recreate_pair_direct(
                db, vault, actor, trial.study, mode, subject, item, m_subject, ttl
            )
            is None
        )
    assert (await trial.deregister()).status_code == 200
    assert (
        await mhealth.recreate_pair_direct(
            db, vault, actor, trial.study, trial.mode, SUBJECT, WATCH_1, M_SUBJECT, ttl
        )
        is None
    )
