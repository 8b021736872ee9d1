"""``PUT .../subjects/{subjectId}/devices/{inventoryId}/access-code?mSubjectId=`` (the seed).

Recreates the access ID and OTP of a registered device-to-cloud device; the old pair stops
working in the same write. Every 400 reason of the page has its own errorCode.
"""

from __future__ import annotations

from datetime import timedelta

import httpx

from fleetkey.clock import as_utc, utcnow
from fleetkey.runtime import Runtime
from tests.compat.clinicalone.support import (
    ALREADY_BOOTSTRAPPED,
    DISPENSED_TO_OTHER,
    FORBIDDEN,
    INVALID_DEVICE,
    INVALID_PAIR,
    INVALID_SUBJECT,
    LEGACY_1,
    M_SUBJECT,
    NO_CONNECTION,
    NO_CONNECTION_TYPE,
    NOT_DISPENSED,
    NOT_REGISTERED,
    OTHER_M_SUBJECT,
    OTHER_SUBJECT,
    PATCH_1,
    SETTINGS_MISSING,
    STUDY,
    STUDY_NOT_FOUND,
    SUBJECT,
    UNAUTHORIZED,
    WATCH,
    WATCH_1,
    Trial,
    assert_ors_error,
    assert_pair,
    bootstrap,
    stored_device,
)
from tests.conftest import new_caller


async def test_recreate_with_the_page_values_replaces_the_pair(
    trial: Trial, runtime: Runtime
) -> None:
    first = await trial.register_watch()
    before = utcnow()

    response = await trial.recreate(WATCH_1, M_SUBJECT)

    second = assert_pair(response)
    assert response.headers["content-type"] == "application/json"
    assert second["id"] == first["id"]  # the same device instance, a new pair
    assert second["accessId"] != first["accessId"]
    row = await stored_device(runtime, second["id"])
    assert (row.study_id, row.mode, row.subject_id, row.m_subject_id, row.inventory_id) == (
        STUDY,
        "active",
        SUBJECT,
        M_SUBJECT,
        WATCH_1,
    )
    assert row.access_id == second["accessId"]
    assert row.otp_hash == runtime.vault.keyed_hash(f"otp:{second['accessId']}:{second['otp']}")
    assert row.otp_used_at is None and row.bootstrapped_at is None
    assert row.otp_failures == 0
    assert row.otp_expires_at is not None
    expires = as_utc(row.otp_expires_at)
    assert before + timedelta(hours=24) <= expires <= utcnow() + timedelta(hours=24)

    # The previous pair stops working at once; the new one works.
    old = await bootstrap(trial.client, first)
    assert old.status_code == 401 and old.json() == INVALID_PAIR
    new = await bootstrap(trial.client, second)
    assert new.status_code == 200, new.text


async def test_each_recreate_invalidates_every_earlier_pair(trial: Trial) -> None:
    pairs = [await trial.register_watch()]
    for _ in range(3):
        pairs.append(assert_pair(await trial.recreate()))
    assert len({p["accessId"] for p in pairs}) == 4
    assert len({p["id"] for p in pairs}) == 1
    for stale in pairs[:-1]:
        response = await bootstrap(trial.client, stale)
        assert (response.status_code, response.json()) == (401, INVALID_PAIR)
    assert (await bootstrap(trial.client, pairs[-1])).status_code == 200


async def test_recreate_after_a_bootstrap_gives_a_pair_that_answers_already_bootstrapped(
    trial: Trial,
) -> None:
    first = await trial.register_watch()
    assert (await bootstrap(trial.client, first)).status_code == 200

    fresh = assert_pair(await trial.recreate())

    response = await bootstrap(trial.client, fresh)
    assert (response.status_code, response.json()) == (400, ALREADY_BOOTSTRAPPED)


# ------------------------------------------------------------------ 400: the page's reasons


async def test_unknown_subject_is_an_invalid_subject_id(trial: Trial) -> None:
    await trial.register_watch()
    response = await trial.recreate(WATCH_1, M_SUBJECT, subject_id="NO-SUCH-SUBJECT")
    assert_ors_error(response, 400, INVALID_SUBJECT)


async def test_m_subject_id_of_another_subject_is_an_invalid_subject_id(
    trial: Trial, runtime: Runtime
) -> None:
    pair = await trial.register_watch()
    response = await trial.recreate(WATCH_1, OTHER_M_SUBJECT)
    assert_ors_error(response, 400, INVALID_SUBJECT)
    # Nothing changed: the first pair is still the live one.
    assert (await stored_device(runtime, pair["id"])).access_id == pair["accessId"]


async def test_unknown_or_missing_m_subject_id_is_an_invalid_subject_id(trial: Trial) -> None:
    await trial.register_watch()
    assert_ors_error(await trial.recreate(WATCH_1, "MSUBJECT-999"), 400, INVALID_SUBJECT)
    assert_ors_error(await trial.recreate(WATCH_1, None), 400, INVALID_SUBJECT)
    assert_ors_error(await trial.recreate(WATCH_1, ""), 400, INVALID_SUBJECT)


async def test_kit_not_dispensed(trial: Trial) -> None:
    await trial.item(WATCH_1, WATCH)
    assert_ors_error(await trial.recreate(WATCH_1), 400, NOT_DISPENSED)


async def test_kit_dispensed_to_a_different_subject(trial: Trial) -> None:
    await trial.dispensed(WATCH_1, OTHER_SUBJECT)
    assert_ors_error(await trial.recreate(WATCH_1, M_SUBJECT), 400, DISPENSED_TO_OTHER)


async def test_unknown_inventory_id_is_an_invalid_device_id(trial: Trial) -> None:
    await trial.register_watch()
    response = await trial.recreate("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")
    assert_ors_error(response, 400, INVALID_DEVICE)


async def test_dispensed_but_never_registered(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    assert_ors_error(await trial.recreate(), 400, NOT_REGISTERED)


async def test_deregistered_device_is_not_registered(trial: Trial) -> None:
    await trial.register_watch()
    assert (await trial.deregister()).status_code == 200
    assert_ors_error(await trial.recreate(), 400, NOT_REGISTERED)


async def test_kit_type_without_connection_type(trial: Trial) -> None:
    await trial.dispensed(LEGACY_1)
    assert_ors_error(await trial.recreate(LEGACY_1), 400, NO_CONNECTION_TYPE)


async def test_no_connection_kit(trial: Trial) -> None:
    await trial.dispensed(PATCH_1)
    assert_ors_error(await trial.recreate(PATCH_1), 400, NO_CONNECTION)


# ------------------------------------------------------------------ 404, 500


async def test_unknown_study_is_404(trial: Trial) -> None:
    await trial.register_watch()
    other = Trial(trial.client, trial.caller, "0123456789ABCDEF0123456789ABCDEF")
    assert_ors_error(await other.recreate(), 404, STUDY_NOT_FOUND)
    # A study ID that is not even 32 characters, and one that is far too long.
    assert_ors_error(
        await Trial(trial.client, trial.caller, "not-a-study").recreate(), 404, STUDY_NOT_FOUND
    )
    assert_ors_error(
        await Trial(trial.client, trial.caller, "A" * 200).recreate(), 404, STUDY_NOT_FOUND
    )


async def test_study_of_another_tenant_is_404(
    trial: Trial, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await trial.register_watch()
    stranger = await new_caller(runtime)
    response = await Trial(client, stranger).recreate()
    assert_ors_error(response, 404, STUDY_NOT_FOUND)


async def test_unknown_mode_is_404(trial: Trial) -> None:
    await trial.register_watch()
    for mode in ("prod", "ACTIVE", "production"):
        assert_ors_error(await trial.recreate(mode=mode), 404, STUDY_NOT_FOUND)


async def test_missing_mhealth_settings_is_500(trial: Trial, runtime: Runtime) -> None:
    pair = await trial.register_watch()
    response = await trial.client.put(
        f"/api/v1/studies/{STUDY}/mhealth-settings",
        json={"mhealth_settings": None},
        headers=trial.caller.headers,
    )
    assert response.status_code == 200 and response.json()["has_mhealth_settings"] is False

    assert_ors_error(await trial.recreate(), 500, SETTINGS_MISSING)

    row = await stored_device(runtime, pair["id"])
    assert row.access_id == pair["accessId"]  # rolled back: the old pair is untouched
    assert (await bootstrap(trial.client, pair)).status_code == 200


async def test_a_400_rule_comes_before_the_missing_settings(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    await trial.client.put(
        f"/api/v1/studies/{STUDY}/mhealth-settings",
        json={"mhealth_settings": None},
        headers=trial.caller.headers,
    )
    assert_ors_error(await trial.recreate(), 400, NOT_REGISTERED)


# ------------------------------------------------------------------ who may call


async def test_without_a_token_is_401_in_the_envelope(trial: Trial) -> None:
    pair = await trial.register_watch()
    assert_ors_error(await trial.recreate(headers={}), 401, UNAUTHORIZED)
    assert_ors_error(
        await trial.recreate(headers={"Authorization": "Bearer not-a-token"}), 401, UNAUTHORIZED
    )
    # Still the first pair.
    assert (await bootstrap(trial.client, pair)).status_code == 200


async def test_a_token_without_device_actions_post_is_403(trial: Trial, runtime: Runtime) -> None:
    await trial.register_watch()
    reader = await new_caller(runtime, scopes=["studies:read"], tenant=trial.caller.tenant)
    assert_ors_error(await trial.recreate(headers=reader.headers), 403, FORBIDDEN)
    broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=trial.caller.tenant)
    assert_ors_error(await trial.recreate(headers=broker.headers), 403, FORBIDDEN)


async def test_a_token_with_only_device_actions_post_may_recreate(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.register_watch()
    site = await new_caller(runtime, scopes=["DeviceActionsPost"], tenant=trial.caller.tenant)
    assert_pair(await trial.recreate(headers=site.headers))
