"""``POST .../subjects/{subjectId}/register-device`` and ``DELETE .../devices/{inventoryId}``.

Register checks the kit is dispensed to this subject and has a connection type: cloud to
cloud needs a vendor code and registers once; device to cloud forbids the vendor code, needs
the subject number and answers the first bootstrap pair.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fleetkey.runtime import Runtime
from tests.compat.clinicalone.support import (
    C2C_ALREADY_REGISTERED,
    D2C_ALREADY_REGISTERED,
    DEVICE_ID,
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
    SCALE_1,
    SETTINGS_MISSING,
    STUDY,
    STUDY_NOT_FOUND,
    SUBJECT,
    SUBJECT_NUMBER,
    SUBJECT_NUMBER_MISSING,
    UNAUTHORIZED,
    VENDOR_CODE,
    VENDOR_CODE_MISSING,
    VENDOR_CODE_NOT_ALLOWED,
    WATCH,
    WATCH_1,
    Trial,
    assert_ors_error,
    assert_pair,
    bootstrap,
    new_trial,
    ors_error,
    ors_ok,
    stored_device,
)
from tests.conftest import Caller, new_caller


def d2c(item: str = WATCH_1, **extra: Any) -> dict[str, Any]:
    return {"inventoryId": item, "mSubjectId": M_SUBJECT, "subjectNumber": SUBJECT_NUMBER, **extra}


def c2c(item: str = SCALE_1, **extra: Any) -> dict[str, Any]:
    return {"inventoryId": item, "mSubjectId": M_SUBJECT, "vendorCode": VENDOR_CODE, **extra}


async def test_register_device_to_cloud_answers_the_first_pair(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.dispensed(WATCH_1)

    pair = assert_pair(await trial.register(d2c()))

    row = await stored_device(runtime, pair["id"])
    assert row.tenant_id == trial.caller.tenant_id
    assert (row.study_id, row.mode, row.subject_id, row.m_subject_id, row.inventory_id) == (
        STUDY,
        "active",
        SUBJECT,
        M_SUBJECT,
        WATCH_1,
    )
    assert (row.connection_type, row.subject_number, row.vendor_code) == (
        "device_to_cloud",
        SUBJECT_NUMBER,
        None,
    )
    assert row.access_id == pair["accessId"] and row.deregistered_at is None
    assert row.otp_hash == runtime.vault.keyed_hash(f"otp:{pair['accessId']}:{pair['otp']}")
    assert row.thing_id is None and row.bootstrapped_at is None


async def test_register_cloud_to_cloud_stores_the_vendor_code_and_answers_no_pair(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.dispensed(SCALE_1)

    response = await trial.register(c2c())

    assert response.status_code == 200, response.text
    body = response.json()
    device_id = body["result"]["id"]
    assert DEVICE_ID.match(device_id)
    assert body == ors_ok({"accessId": None, "id": device_id, "otp": None})
    row = await stored_device(runtime, device_id)
    assert (row.connection_type, row.vendor_code, row.access_id, row.otp_hash) == (
        "cloud_to_cloud",
        VENDOR_CODE,
        None,
        None,
    )


# ------------------------------------------------------------------ 400: the page's reasons


async def test_unknown_subject(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    response = await trial.register(d2c(), subject_id="5555AAAA5555AAAA5555AAAA5555AAAA")
    assert_ors_error(response, 400, INVALID_SUBJECT)


@pytest.mark.parametrize("m_subject", [OTHER_M_SUBJECT, "MSUBJECT-999", None, "", "   "], ids=repr)
async def test_m_subject_id_that_is_not_the_subjects(trial: Trial, m_subject: str | None) -> None:
    await trial.dispensed(WATCH_1)
    body = d2c()
    if m_subject is None:
        del body["mSubjectId"]
    else:
        body["mSubjectId"] = m_subject
    assert_ors_error(await trial.register(body), 400, INVALID_SUBJECT)


async def test_not_dispensed(trial: Trial) -> None:
    await trial.item(WATCH_1, WATCH)
    assert_ors_error(await trial.register(d2c()), 400, NOT_DISPENSED)


async def test_dispensed_to_a_different_subject(trial: Trial) -> None:
    await trial.dispensed(WATCH_1, OTHER_SUBJECT)
    assert_ors_error(await trial.register(d2c()), 400, DISPENSED_TO_OTHER)
    # The subject it was dispensed to can register it.
    body = d2c(mSubjectId=OTHER_M_SUBJECT)
    assert_pair(await trial.register(body, subject_id=OTHER_SUBJECT))


async def test_invalid_device_id(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    assert_ors_error(
        await trial.register(d2c("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")), 400, INVALID_DEVICE
    )
    body = d2c()
    del body["inventoryId"]
    assert_ors_error(await trial.register(body), 400, INVALID_DEVICE)


async def test_kit_type_without_connection_type(trial: Trial) -> None:
    await trial.dispensed(LEGACY_1)
    assert_ors_error(await trial.register(d2c(LEGACY_1)), 400, NO_CONNECTION_TYPE)
    assert_ors_error(await trial.register(c2c(LEGACY_1)), 400, NO_CONNECTION_TYPE)


async def test_no_connection_kit(trial: Trial) -> None:
    await trial.dispensed(PATCH_1)
    assert_ors_error(await trial.register(d2c(PATCH_1)), 400, NO_CONNECTION)
    assert_ors_error(await trial.register(c2c(PATCH_1)), 400, NO_CONNECTION)


async def test_cloud_to_cloud_without_vendor_code(trial: Trial) -> None:
    await trial.dispensed(SCALE_1)
    body = c2c()
    del body["vendorCode"]
    assert_ors_error(await trial.register(body), 400, VENDOR_CODE_MISSING)
    assert_ors_error(await trial.register(c2c(vendorCode="")), 400, VENDOR_CODE_MISSING)


async def test_cloud_to_cloud_registers_once(trial: Trial) -> None:
    await trial.dispensed(SCALE_1)
    assert (await trial.register(c2c())).status_code == 200
    assert_ors_error(await trial.register(c2c()), 400, C2C_ALREADY_REGISTERED)
    assert_ors_error(await trial.register(c2c(vendorCode="OTHER9")), 400, C2C_ALREADY_REGISTERED)


async def test_device_to_cloud_with_a_vendor_code(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    response = await trial.register(d2c(vendorCode=VENDOR_CODE))
    assert_ors_error(response, 400, VENDOR_CODE_NOT_ALLOWED)


async def test_device_to_cloud_without_a_subject_number(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    body = d2c()
    del body["subjectNumber"]
    assert_ors_error(await trial.register(body), 400, SUBJECT_NUMBER_MISSING)
    assert_ors_error(await trial.register(d2c(subjectNumber="")), 400, SUBJECT_NUMBER_MISSING)


async def test_device_to_cloud_registered_twice(trial: Trial) -> None:
    first = await trial.register_watch()
    assert_ors_error(await trial.register(d2c()), 400, D2C_ALREADY_REGISTERED)
    # The refused second registration did not touch the first pair.
    assert (await bootstrap(trial.client, first)).status_code == 200


async def test_not_a_json_object(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    path = trial.subject_path() + "/register-device"
    for content in (b"{not json", b"[1, 2]", b'"x"'):
        response = await trial.client.post(
            path,
            content=content,
            headers={**trial.caller.headers, "content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["errorData"]["errorCode"] == "C1-REQ-400"
    response = await trial.register(d2c(subjectNumber="x" * 101))
    assert response.json() == ors_error(
        ("C1-REQ-400", "subjectNumber must be a string of at most 100 characters")
    )
    # Text no store can keep: a lone surrogate (escaped, or as raw bytes, which json.loads
    # decodes too) or a NUL, anywhere in the body. Nothing is registered.
    for content in (
        b'{"inventoryId": "\\ud800"}',
        b'{"inventoryId": "W1", "subjectNumber": "\xed\xa0\x80"}',
        b'{"mSubjectId": "a\\u0000"}',
    ):
        response = await trial.client.post(
            path,
            content=content,
            headers={**trial.caller.headers, "content-type": "application/json"},
        )
        assert response.json() == ors_error(
            ("C1-REQ-400", "the request body holds a NUL or an unpaired surrogate")
        ), response.text
        assert response.status_code == 400


# ------------------------------------------------------------------ 404, 500, who may call


async def test_unknown_study_or_mode_is_404(trial: Trial) -> None:
    await trial.dispensed(WATCH_1)
    other = Trial(trial.client, trial.caller, "0123456789ABCDEF0123456789ABCDEF")
    assert_ors_error(await other.register(d2c()), 404, STUDY_NOT_FOUND)
    assert_ors_error(await trial.register(d2c(), mode="prod"), 404, STUDY_NOT_FOUND)


async def test_study_without_mhealth_settings_is_500(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    trial = await new_trial(client, caller, settings=None)
    await trial.dispensed(WATCH_1)
    assert_ors_error(await trial.register(d2c()), 500, SETTINGS_MISSING)
    # The 400 rules come first.
    assert_ors_error(await trial.register(d2c(subjectNumber=None)), 400, SUBJECT_NUMBER_MISSING)
    # Once the study has settings, the same request registers.
    response = await client.put(
        f"/api/v1/studies/{STUDY}/mhealth-settings",
        json={"mhealth_settings": {"url": "https://mhealth.example.test"}},
        headers=caller.headers,
    )
    assert response.status_code == 200 and response.json()["has_mhealth_settings"] is True
    assert_pair(await trial.register(d2c()))


async def test_without_a_token_401_and_without_the_right_403(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.dispensed(WATCH_1)
    assert_ors_error(await trial.register(d2c(), headers={}), 401, UNAUTHORIZED)
    reader = await new_caller(runtime, scopes=["studies:read"], tenant=trial.caller.tenant)
    assert_ors_error(await trial.register(d2c(), headers=reader.headers), 403, FORBIDDEN)
    # Neither registered anything.
    assert_pair(await trial.register(d2c()))


# ------------------------------------------------------------------ modes are separate worlds


async def test_modes_are_separate_worlds(trial: Trial, runtime: Runtime) -> None:
    active = await trial.register_watch()

    # The subject and the kit exist in active mode only.
    assert_ors_error(await trial.register(d2c(), mode="test"), 400, INVALID_SUBJECT)
    assert_ors_error(await trial.recreate(mode="test"), 400, INVALID_SUBJECT)
    assert_ors_error(await trial.deregister(mode="test"), 400, INVALID_SUBJECT)

    # The same IDs in test mode are other rows: the kit is not dispensed there.
    await trial.subject(SUBJECT, M_SUBJECT, SUBJECT_NUMBER, mode="test")
    assert_ors_error(await trial.register(d2c(), mode="test"), 400, INVALID_DEVICE)
    await trial.item(WATCH_1, WATCH, mode="test")
    assert_ors_error(await trial.register(d2c(), mode="test"), 400, NOT_DISPENSED)
    assert_ors_error(await trial.recreate(mode="test"), 400, NOT_DISPENSED)
    await trial.dispense(SUBJECT, WATCH_1, mode="test")
    assert_ors_error(await trial.recreate(mode="test"), 400, NOT_REGISTERED)

    test = assert_pair(await trial.register(d2c(), mode="test"))
    assert test["id"] != active["id"]
    assert (await stored_device(runtime, test["id"])).mode == "test"
    # Recreating in test mode leaves the active pair alone.
    assert_pair(await trial.recreate(mode="test"))
    assert (await bootstrap(trial.client, active)).status_code == 200


# ------------------------------------------------------------------ deregister


async def test_deregister_then_register_again(trial: Trial, runtime: Runtime) -> None:
    first = await trial.register_watch()

    response = await trial.deregister(WATCH_1, M_SUBJECT)

    assert response.status_code == 200, response.text
    assert response.json() == ors_ok("Device deregistered successfully")
    row = await stored_device(runtime, first["id"])
    assert row.deregistered_at is not None
    assert row.access_id is None and row.otp_hash is None
    response = await bootstrap(trial.client, first)
    assert (response.status_code, response.json()) == (401, INVALID_PAIR)
    assert_ors_error(await trial.deregister(), 400, NOT_REGISTERED)

    second = assert_pair(await trial.register(d2c()))
    assert second["id"] != first["id"]
    assert (await bootstrap(trial.client, second)).status_code == 200


async def test_deregister_rules(trial: Trial, runtime: Runtime) -> None:
    await trial.dispensed(WATCH_1)
    assert_ors_error(await trial.deregister(), 400, NOT_REGISTERED)  # before register
    pair = assert_pair(await trial.register(d2c()))
    assert_ors_error(await trial.deregister(m_subject_id=None), 400, INVALID_SUBJECT)
    assert_ors_error(await trial.deregister(m_subject_id=OTHER_M_SUBJECT), 400, INVALID_SUBJECT)
    assert_ors_error(
        await trial.deregister("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"), 400, INVALID_DEVICE
    )
    assert_ors_error(
        await trial.deregister(m_subject_id=OTHER_M_SUBJECT, subject_id=OTHER_SUBJECT),
        400,
        DISPENSED_TO_OTHER,
    )
    await trial.item(PATCH_1, "patch")
    assert_ors_error(await trial.deregister(PATCH_1), 400, NOT_DISPENSED)
    assert_ors_error(await trial.deregister(mode="prod"), 404, STUDY_NOT_FOUND)
    assert_ors_error(await trial.deregister(headers={}), 401, UNAUTHORIZED)
    reader = await new_caller(runtime, scopes=["studies:read"], tenant=trial.caller.tenant)
    assert_ors_error(await trial.deregister(headers=reader.headers), 403, FORBIDDEN)

    await trial.client.put(
        f"/api/v1/studies/{STUDY}/mhealth-settings",
        json={"mhealth_settings": None},
        headers=trial.caller.headers,
    )
    assert_ors_error(await trial.deregister(), 500, SETTINGS_MISSING)
    # None of the refusals deregistered it.
    assert (await stored_device(runtime, pair["id"])).deregistered_at is None


async def test_deregister_cloud_to_cloud_allows_a_new_registration(trial: Trial) -> None:
    await trial.dispensed(SCALE_1)
    assert (await trial.register(c2c())).status_code == 200
    response = await trial.deregister(SCALE_1)
    assert response.json() == ors_ok("Device deregistered successfully")
    assert (await trial.register(c2c())).status_code == 200
