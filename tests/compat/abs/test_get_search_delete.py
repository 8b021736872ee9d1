"""getDb (by id and uid, model and api paths), getData search with paging, deleteItem."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from fleetkey.runtime import Runtime
from tests.compat.abs.support import SEARCH, Bank, error_answer, new_bank

NOT_FOUND = error_answer("[RECORD-NOT-FOUND]")


async def test_get_db_by_id_and_by_uid_on_both_paths(bank: Bank) -> None:
    created = await bank.create(
        client_code="C001", device_type="phone", device_number="+447700900123", description="d"
    )
    stored = {**created}
    for ident in (created["id"], str(created["id"]), created["uid"]):
        for surface in ("model", "api"):
            answer = await bank.get(ident, surface)
            assert answer == {
                "status": "success",
                "error_description": "",
                "error": {},
                "data_type": "oAuthDevice",
                "total_records": 1,
                "data": stored,
            }, (ident, surface)


@pytest.mark.parametrize("surface", ["model", "api"])
async def test_get_db_of_nothing(bank: Bank, surface: str) -> None:
    for ident in ("987654321", str(uuid.uuid4()), "not-an-id", "0", "9" * 30):
        assert await bank.get(ident, surface) == NOT_FOUND, ident


async def test_get_db_of_another_banks_device(
    bank: Bank, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other = await new_bank(client, runtime)
    theirs = await other.create(client_code="C001", device_type="totp")
    for ident in (theirs["id"], theirs["uid"]):
        for surface in ("model", "api"):
            assert await bank.get(ident, surface) == NOT_FOUND
    assert (await bank.delete(theirs["id"])) == NOT_FOUND
    assert (await other.record(theirs["id"]))["version"] == 1


async def _world(bank: Bank) -> dict[str, dict[str, Any]]:
    """Five devices of two clients, created in this order (ids ascending)."""
    made = {
        "c1_mail": await bank.create(
            client_code="C001",
            device_type="email",
            device_number="ann@example.com",
            default_for_notifications=1,
        ),
        "c1_phone": await bank.create(
            client_code="C001", device_type="phone", device_number="+447700900123"
        ),
        "c1_totp": await bank.create(client_code="C001", device_type="totp", description="app"),
        "c2_mail": await bank.create(
            client_code="C002",
            device_type="email",
            device_number="bob@example.com",
            default_for_notifications=1,
        ),
        "c2_totp": await bank.create(
            client_code="C002", device_type=5, device_status="blocked", description="old app"
        ),
    }
    ids = [d["id"] for d in made.values()]
    assert ids == sorted(ids)
    return made


def _ids(answer: dict[str, Any]) -> list[int]:
    assert answer["status"] == "success", answer
    assert answer["data_type"] == "oAuthDevice"
    assert isinstance(answer["data"], list)
    return [row["id"] for row in answer["data"]]


async def test_get_data_filters(bank: Bank) -> None:
    w = await _world(bank)
    i = {name: d["id"] for name, d in w.items()}
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({}, [i["c1_mail"], i["c1_phone"], i["c1_totp"], i["c2_mail"], i["c2_totp"]]),
        ({"client_code": "C001"}, [i["c1_mail"], i["c1_phone"], i["c1_totp"]]),
        ({"client_code": "C002"}, [i["c2_mail"], i["c2_totp"]]),
        ({"client_code": "C404"}, []),
        ({"device_type": "totp"}, [i["c1_totp"], i["c2_totp"]]),
        ({"device_type": 5}, [i["c1_totp"], i["c2_totp"]]),
        ({"device_type": "0"}, [i["c1_mail"], i["c2_mail"]]),
        ({"device_type": "stomp"}, []),
        ({"device_status": 1}, [i["c2_totp"]]),
        ({"device_status": "blocked"}, [i["c2_totp"]]),
        ({"device_status": "active"}, [i["c1_mail"], i["c1_phone"], i["c1_totp"], i["c2_mail"]]),
        ({"default_for_notifications": 1}, [i["c1_mail"], i["c2_mail"]]),
        ({"default_for_notifications": "false"}, [i["c1_phone"], i["c1_totp"], i["c2_totp"]]),
        ({"client_code": "C001", "device_type": "totp"}, [i["c1_totp"]]),
        ({"client_code": "C002", "default_for_notifications": True}, [i["c2_mail"]]),
        ({"client_code": "C001", "device_status": 1}, []),
        ({"device_number": "bob@example.com"}, [i["c2_mail"]]),
        ({"uid": w["c1_phone"]["uid"]}, [i["c1_phone"]]),
        ({"search": "app"}, [i["c1_totp"], i["c2_totp"]]),
        ({"search": "example.com"}, [i["c1_mail"], i["c2_mail"]]),
    ]
    for filters, expected in cases:
        answer = await bank.search(**filters)
        assert _ids(answer) == expected, filters
        assert answer["total_records"] == len(expected), filters
    # The rows are the records getDb shows.
    found = await bank.search(client_code="C001", device_type="totp")
    assert found["data"] == [await bank.record(i["c1_totp"])]


async def test_get_data_paging(bank: Bank) -> None:
    w = await _world(bank)
    every = [d["id"] for d in w.values()]
    pages = [
        ({"page": 1, "page_size": 2}, every[0:2]),
        ({"page": 2, "page_size": 2}, every[2:4]),
        ({"page": 3, "page_size": 2}, every[4:5]),
        ({"page": 4, "page_size": 2}, []),
        ({"page": "2", "page_size": "3"}, every[3:5]),
        ({"page_size": 1}, every[0:1]),
        ({"page": 1, "page_size": 1000}, every),
    ]
    for paging, expected in pages:
        answer = await bank.search(**paging)
        assert _ids(answer) == expected, paging
        # total_records counts every match, not the page.
        assert answer["total_records"] == 5, paging
    answer = await bank.search(client_code="C001", page=2, page_size=2)
    assert _ids(answer) == [w["c1_totp"]["id"]]
    assert answer["total_records"] == 3


async def test_get_data_refuses_bad_requests(bank: Bank) -> None:
    assert await bank.search(page_size=1001) == error_answer(
        "[ERROR-VALIDATION : page_size: at most 1000]"
    )
    assert await bank.search(page=-1) == error_answer(
        "[ERROR-VALIDATION : page: must be a non-negative integer]"
    )
    assert (await bank.search(device_type="sms"))["error_description"].startswith(
        "[ERROR-VALIDATION : device_type: must be one of"
    )
    assert (await bank.call(SEARCH, raw=b'"C001"'))["error_description"] == (
        "[ERROR-VALIDATION : body: must be a JSON object]"
    )


async def test_get_data_sees_only_the_callers_devices(
    bank: Bank, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other = await new_bank(client, runtime)
    await other.create(client_code="C001", device_type="totp")
    mine = await bank.create(client_code="C001", device_type="totp")
    answer = await bank.search(client_code="C001")
    assert _ids(answer) == [mine["id"]]
    assert answer["total_records"] == 1


async def test_delete_item(bank: Bank) -> None:
    keep = await bank.create(client_code="C001", device_type="totp")
    gone = await bank.create(client_code="C001", device_type="email", device_number="a@x.example")
    answer = await bank.delete(gone["id"])
    assert answer == {
        "status": "success",
        "error_description": "",
        "error": {},
        "data_type": "oAuthDevice",
        "total_records": 1,
        "data": {},
    }
    for ident in (gone["id"], gone["uid"]):
        for surface in ("model", "api"):
            assert await bank.get(ident, surface) == NOT_FOUND
    # Deleting again, or updating it: not found.
    assert await bank.delete(gone["id"]) == NOT_FOUND
    assert await bank.put({"id": gone["id"], "version": 1, "description": "x"}) == NOT_FOUND
    answer = await bank.search(client_code="C001")
    assert _ids(answer) == [keep["id"]]
    assert answer["total_records"] == 1
    assert (await bank.record(keep["id"]))["version"] == 1


async def test_delete_item_by_uid(bank: Bank) -> None:
    gone = await bank.create(client_code="C001", device_type="mobile_application")
    assert (await bank.delete(gone["uid"]))["status"] == "success"
    assert await bank.get(gone["id"]) == NOT_FOUND
    assert await bank.get(gone["uid"], "api") == NOT_FOUND
    assert (await bank.search())["total_records"] == 0
