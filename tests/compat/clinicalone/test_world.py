"""The native API that builds the clinical-trial world the device actions run in."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from fleetkey.runtime import Runtime
from tests.compat.clinicalone.support import (
    M_SUBJECT,
    OTHER_SUBJECT,
    SCALE_1,
    STUDY,
    SUBJECT,
    SUBJECT_NUMBER,
    WATCH,
    WATCH_1,
    WATCH_2,
    Trial,
    all_events,
)
from tests.conftest import Caller, new_caller

STUDIES = "/api/v1/studies"
TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


async def _post(
    client: httpx.AsyncClient, caller: Caller, path: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(STUDIES + path, json=body, headers=caller.headers)


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


async def test_create_study_kit_type_subject_item_and_dispense(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    response = await _post(
        client, caller, "", {"id": STUDY, "name": "Study 1", "mhealth_settings": {"u": "x"}}
    )
    assert response.status_code == 201, response.text
    study = response.json()
    assert set(study) == {"id", "name", "has_mhealth_settings", "created_at"}
    assert (study["id"], study["name"], study["has_mhealth_settings"]) == (STUDY, "Study 1", True)
    assert re.match(TIME, study["created_at"])

    response = await client.get(f"{STUDIES}/{STUDY}", headers=caller.headers)
    assert response.status_code == 200 and response.json() == study
    response = await client.get(STUDIES, headers=caller.headers)
    assert response.status_code == 200 and response.json() == [study]

    response = await _post(
        client,
        caller,
        f"/{STUDY}/kit-types",
        {"id": WATCH, "name": "Watch", "connection_type": "device_to_cloud"},
    )
    assert response.status_code == 201
    assert response.json() == {"id": WATCH, "name": "Watch", "connection_type": "device_to_cloud"}
    response = await _post(client, caller, f"/{STUDY}/kit-types", {"id": "bare", "name": "Bare"})
    assert response.status_code == 201
    assert response.json() == {"id": "bare", "name": "Bare", "connection_type": None}

    response = await _post(
        client,
        caller,
        f"/{STUDY}/active/subjects",
        {"id": SUBJECT, "subject_number": SUBJECT_NUMBER, "m_subject_id": M_SUBJECT},
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": SUBJECT,
        "subject_number": SUBJECT_NUMBER,
        "m_subject_id": M_SUBJECT,
    }

    response = await _post(
        client, caller, f"/{STUDY}/active/inventory", {"id": WATCH_1, "kit_type_id": WATCH}
    )
    assert response.status_code == 201
    assert response.json() == {"id": WATCH_1, "kit_type_id": WATCH, "dispensed_to": None}

    response = await _post(
        client,
        caller,
        f"/{STUDY}/active/subjects/{SUBJECT}/dispensations",
        {"inventory_id": WATCH_1},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"inventory_id", "subject_id", "dispensed_at"}
    assert (body["inventory_id"], body["subject_id"]) == (WATCH_1, SUBJECT)
    assert re.match(TIME, body["dispensed_at"])


@pytest.mark.parametrize(
    "study_id",
    [
        "b1b8327afaa6412287106192ab5984ef",  # lower case
        "B1B8327AFAA6412287106192AB5984E",  # 31
        "G1B8327AFAA6412287106192AB5984EF",  # not hex
        "B1B8327A-FAA6-4122-8710-6192AB5984EF",  # dashed uuid (too long for the field)
        "",
    ],
)
async def test_study_id_must_be_32_upper_case_hex(
    client: httpx.AsyncClient, caller: Caller, study_id: str
) -> None:
    response = await _post(client, caller, "", {"id": study_id, "name": "S"})
    _error(response, 422, "validation.invalid")
    assert (await client.get(STUDIES, headers=caller.headers)).json() == []


async def test_duplicates_are_409(trial: Trial) -> None:
    client, caller = trial.client, trial.caller
    _error(await _post(client, caller, "", {"id": STUDY, "name": "Again"}), 409, "study.exists")
    _error(
        await _post(client, caller, f"/{STUDY}/kit-types", {"id": WATCH, "name": "W"}),
        409,
        "kit_type.exists",
    )
    _error(
        await _post(client, caller, f"/{STUDY}/active/subjects", {"id": SUBJECT}),
        409,
        "subject.exists",
    )
    await trial.item(WATCH_1, WATCH)
    _error(
        await _post(
            client, caller, f"/{STUDY}/active/inventory", {"id": WATCH_1, "kit_type_id": WATCH}
        ),
        409,
        "inventory.exists",
    )
    # The same IDs in another mode are new rows.
    await trial.subject(SUBJECT, M_SUBJECT, mode="training")
    await trial.item(WATCH_1, WATCH, mode="training")


async def test_the_same_study_id_in_another_tenant_is_another_study(
    trial: Trial, runtime: Runtime
) -> None:
    other = await new_caller(runtime)
    response = await _post(trial.client, other, "", {"id": STUDY, "name": "Theirs"})
    assert response.status_code == 201, response.text
    response = await trial.client.get(f"{STUDIES}/{STUDY}", headers=trial.caller.headers)
    assert response.json()["name"] == "Study 1"


async def test_unknown_study_mode_kit_type_and_subject(trial: Trial) -> None:
    client, caller = trial.client, trial.caller
    missing = "0123456789ABCDEF0123456789ABCDEF"
    error = _error(
        await _post(client, caller, f"/{missing}/kit-types", {"id": "k", "name": "K"}),
        404,
        "study.not_found",
    )
    assert error["message"] == "Invalid study ID or version"
    _error(
        await _post(client, caller, f"/{STUDY}/prod/subjects", {"id": "s"}), 404, "study.not_found"
    )
    _error(
        await _post(client, caller, f"/{STUDY}/active/inventory", {"id": "i", "kit_type_id": "x"}),
        404,
        "kit_type.not_found",
    )
    await trial.item(WATCH_1, WATCH)
    _error(
        await _post(
            client,
            caller,
            f"/{STUDY}/active/subjects/nobody/dispensations",
            {"inventory_id": WATCH_1},
        ),
        404,
        "subject.not_found",
    )
    _error(
        await _post(
            client,
            caller,
            f"/{STUDY}/active/subjects/{SUBJECT}/dispensations",
            {"inventory_id": "x"},
        ),
        404,
        "inventory.not_found",
    )


async def test_invalid_fields_are_422(trial: Trial) -> None:
    client, caller = trial.client, trial.caller
    _error(
        await _post(
            client,
            caller,
            f"/{STUDY}/kit-types",
            {"id": "k", "name": "K", "connection_type": "wifi"},
        ),
        422,
        "validation.invalid",
    )
    _error(
        await _post(client, caller, f"/{STUDY}/active/subjects", {"id": "has space"}),
        422,
        "validation.invalid",
    )
    _error(
        await _post(client, caller, f"/{STUDY}/active/subjects", {"id": "s", "extra": 1}),
        422,
        "validation.invalid",
    )


async def test_one_device_to_cloud_kit_per_subject(trial: Trial, runtime: Runtime) -> None:
    await trial.dispensed(WATCH_1)
    await trial.item(WATCH_2, WATCH)

    response = await _post(
        trial.client,
        trial.caller,
        f"/{STUDY}/active/subjects/{SUBJECT}/dispensations",
        {"inventory_id": WATCH_2},
    )

    error = _error(response, 409, "inventory.d2c_limit")
    assert error["message"] == "only one device-to-cloud device may be dispensed to a subject"
    # A cloud-to-cloud kit may still be dispensed to the subject, and the second watch to
    # another subject, or to the same subject in another mode.
    await trial.dispensed(SCALE_1)
    await trial.dispense(OTHER_SUBJECT, WATCH_2)
    await trial.subject(SUBJECT, M_SUBJECT, mode="test")
    await trial.item(WATCH_2, WATCH, mode="test")
    await trial.dispense(SUBJECT, WATCH_2, mode="test")


async def test_dispensing_a_dispensed_kit_is_409(trial: Trial) -> None:
    await trial.dispensed(SCALE_1)
    for subject in (SUBJECT, OTHER_SUBJECT):
        response = await _post(
            trial.client,
            trial.caller,
            f"/{STUDY}/active/subjects/{subject}/dispensations",
            {"inventory_id": SCALE_1},
        )
        _error(response, 409, "inventory.dispensed")


async def test_world_writes_need_studies_write(trial: Trial, runtime: Runtime) -> None:
    reader = await new_caller(runtime, scopes=["studies:read"], tenant=trial.caller.tenant)
    response = await _post(trial.client, reader, f"/{STUDY}/active/subjects", {"id": "s2"})
    _error(response, 403, "auth.forbidden")
    response = await trial.client.get(f"{STUDIES}/{STUDY}", headers=reader.headers)
    assert response.status_code == 200
    response = await trial.client.post(STUDIES, json={"id": STUDY, "name": "x"})
    _error(response, 401, "auth.unauthenticated")


async def test_world_changes_are_audited_without_the_settings(
    trial: Trial, runtime: Runtime
) -> None:
    await trial.dispensed(WATCH_1)
    events = [
        (e.action, e.entity_type, e.entity_id, e.changes)
        for e in await all_events(runtime, trial.caller.tenant_id)
    ]
    assert events[0] == (
        "create",
        "study",
        STUDY,
        {"after": {"name": "Study 1", "mhealth_settings": True}},
    )
    assert (
        "create",
        "subject",
        SUBJECT,
        {
            "after": {
                "study_id": STUDY,
                "mode": "active",
                "subject_number": SUBJECT_NUMBER,
                "m_subject_id": M_SUBJECT,
            }
        },
    ) in events
    assert events[-2:] == [
        (
            "create",
            "inventory_item",
            WATCH_1,
            {"after": {"study_id": STUDY, "mode": "active", "kit_type_id": WATCH}},
        ),
        (
            "dispense",
            "inventory_item",
            WATCH_1,
            {"study_id": STUDY, "mode": "active", "after": {"dispensed_to": SUBJECT}},
        ),
    ]
    assert "c1-mhealth" not in str(events)  # the settings' contents are never logged
