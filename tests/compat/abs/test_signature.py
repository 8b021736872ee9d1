"""``X-App-Sig``: HMAC over method, path, time and body; 5 minutes; single use. DEV-SKIP only
when the settings allow it; a bearer token works too."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from fleetkey.app import create_app
from fleetkey.compat.abs.signature import DEV_SKIP, MAX_AGE_SECONDS, new_app_key, sign
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.compat.abs.support import PUT, Bank, error_answer, new_bank
from tests.conftest import Store, make_settings, new_caller

REFUSED = error_answer("[ERROR-AUTHENTICATION : X-App-Sig is missing or invalid]")
BODY = json.dumps({"client_code": "C001", "device_type": "totp"}).encode()


async def _post(
    client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str]
) -> dict[str, object]:
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


async def _count(bank: Bank) -> int:
    answer = await bank.search()
    assert answer["status"] == "success", answer
    return int(answer["total_records"])


async def test_a_signed_call_works_once(bank: Bank, client: httpx.AsyncClient) -> None:
    header = {"X-App-Sig": sign(bank.app_id, bank.secret, "POST", PUT, BODY)}
    first = await _post(client, PUT, BODY, header)
    assert first["status"] == "success"
    assert await _post(client, PUT, BODY, header) == REFUSED
    assert await _count(bank) == 1


async def test_refused_signatures(bank: Bank, client: httpx.AsyncClient) -> None:
    now = time.time()
    good = sign(bank.app_id, bank.secret, "POST", PUT, BODY, now)
    app_id, seconds, mac = good.split(":")
    refused = {
        "missing": {},
        "empty": {"X-App-Sig": ""},
        "wrong secret": {"X-App-Sig": sign(bank.app_id, "not-the-secret", "POST", PUT, BODY)},
        "wrong path": {
            "X-App-Sig": sign(bank.app_id, bank.secret, "POST", "/model/oAuthDevice/getDb/1", BODY)
        },
        "wrong body": {"X-App-Sig": sign(bank.app_id, bank.secret, "POST", PUT, BODY + b" ")},
        "wrong method": {"X-App-Sig": sign(bank.app_id, bank.secret, "GET", PUT, BODY)},
        "older than 5 minutes": {
            "X-App-Sig": sign(
                bank.app_id, bank.secret, "POST", PUT, BODY, now - MAX_AGE_SECONDS - 5
            )
        },
        "more than 5 minutes ahead": {
            "X-App-Sig": sign(
                bank.app_id, bank.secret, "POST", PUT, BODY, now + MAX_AGE_SECONDS + 5
            )
        },
        "unknown app": {"X-App-Sig": sign("app_unknown", bank.secret, "POST", PUT, BODY)},
        "time edited": {"X-App-Sig": f"{app_id}:{int(seconds) + 1}:{mac}"},
        "mac cut": {"X-App-Sig": f"{app_id}:{seconds}:{mac[:-2]}"},
        "not hex": {"X-App-Sig": f"{app_id}:{seconds}:{'z' * 64}"},
        "no time": {"X-App-Sig": f"{app_id}::{mac}"},
        "garbage": {"X-App-Sig": "x"},
        "lower-case dev-skip": {"X-App-Sig": DEV_SKIP.lower()},
        "dev-skip": {"X-App-Sig": DEV_SKIP},
        "bad bearer": {"Authorization": "Bearer nope"},
    }
    for reason, headers in refused.items():
        assert await _post(client, PUT, BODY, headers) == REFUSED, reason
    # Nothing was created, and the good signature still works (refusals did not use it up).
    assert await _count(bank) == 0
    assert (await _post(client, PUT, BODY, {"X-App-Sig": good}))["status"] == "success"
    assert await _count(bank) == 1


async def test_every_route_needs_the_signature(bank: Bank, client: httpx.AsyncClient) -> None:
    created = await bank.create(client_code="C001", device_type="totp")
    for path in (
        PUT,
        f"/model/oAuthDevice/getDb/{created['id']}",
        f"/api/oAuthDevice/getDb/{created['uid']}",
        "/api/oAuthDevice/getData/oAuthDeviceSearchRequest",
        f"/api/oAuthDevice/deleteItem/{created['id']}",
    ):
        assert await _post(client, path, b"{}", {}) == REFUSED, path
        wrong = {"X-App-Sig": sign(bank.app_id, bank.secret, "POST", path + "x", b"{}")}
        assert await _post(client, path, b"{}", wrong) == REFUSED, path
    assert (await bank.record(created["id"]))["version"] == 1


async def test_signatures_within_five_minutes_work(bank: Bank, client: httpx.AsyncClient) -> None:
    now = time.time()
    for offset in (-MAX_AGE_SECONDS + 10, -60, 0, 60, MAX_AGE_SECONDS - 10):
        header = {"X-App-Sig": sign(bank.app_id, bank.secret, "POST", PUT, BODY, now + offset)}
        assert (await _post(client, PUT, BODY, header))["status"] == "success", offset
    assert await _count(bank) == 5


async def test_an_app_key_acts_for_its_own_bank_only(
    bank: Bank, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other = await new_bank(client, runtime)
    theirs = await other.create(client_code="C001", device_type="totp")
    assert await bank.get(theirs["id"]) == error_answer("[RECORD-NOT-FOUND]")
    # A second key of the same bank sees the same devices.
    async with runtime.db.unit_of_work() as session:
        app_id, secret = await new_app_key(session, runtime.vault, other.tenant_id, "second")
    second = Bank(client, other.tenant, other.tenant_id, app_id, secret)
    assert (await second.record(theirs["uid"]))["id"] == theirs["id"]
    mine = await second.create(client_code="C002", device_type="totp")
    assert mine["create_user"] == f"app:{app_id}"
    assert theirs["create_user"] == f"app:{other.app_id}"


async def test_dev_skip_is_refused_by_default(bank: Bank, client: httpx.AsyncClient) -> None:
    assert await _post(client, PUT, BODY, {"X-App-Sig": DEV_SKIP}) == REFUSED
    assert await _count(bank) == 0


async def test_dev_skip_when_the_settings_allow_it(bank: Bank, store: Store) -> None:
    settings = make_settings(store, abs_dev_skip=True, abs_dev_tenant=bank.tenant)
    rt = Runtime.build(settings)
    try:
        app = create_app(settings, rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dev.test") as dev:
            skip = {"X-App-Sig": DEV_SKIP}
            answer = await _post(dev, PUT, BODY, skip)
            assert answer["status"] == "success", answer
            created = answer["data"]
            assert isinstance(created, dict)
            assert created["create_user"] == "DEV-SKIP"
            # The same request again: DEV-SKIP is no signature, so no replay check.
            assert (await _post(dev, PUT, BODY, skip))["status"] == "success"
            got = await _post(dev, f"/api/oAuthDevice/getDb/{created['uid']}", b"{}", skip)
            assert got["data"] == {**created, "private_key": None, "Base64QrCodePng": None}
            # A real signature still works there, and a wrong one is still refused.
            good = {"X-App-Sig": sign(bank.app_id, bank.secret, "POST", PUT, BODY)}
            assert (await _post(dev, PUT, BODY, good))["status"] == "success"
            bad = {"X-App-Sig": sign(bank.app_id, "wrong", "POST", PUT, BODY)}
            assert await _post(dev, PUT, BODY, bad) == REFUSED
        # The devices are the configured bank's: its signed calls see them.
        assert (await bank.record(created["id"]))["uid"] == created["uid"]
        assert await _count(bank) == 3
    finally:
        await rt.db.dispose()


async def test_dev_skip_for_a_tenant_that_does_not_exist(bank: Bank, store: Store) -> None:
    settings = make_settings(store, abs_dev_skip=True, abs_dev_tenant="no-such-bank")
    rt = Runtime.build(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://dev.test") as dev:
            assert await _post(dev, PUT, BODY, {"X-App-Sig": DEV_SKIP}) == REFUSED
    finally:
        await rt.db.dispose()


async def test_a_bearer_token_works_too(
    bank: Bank, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    full = await new_caller(runtime, tenant=bank.tenant)
    answer = await _post(client, PUT, BODY, full.headers)
    assert answer["status"] == "success", answer
    created = answer["data"]
    assert isinstance(created, dict)
    assert created["create_user"] == f"tester@{bank.tenant}"
    # A bearer call may be repeated: the token is not a one-time signature.
    assert (await _post(client, PUT, BODY, full.headers))["status"] == "success"
    # The signed surface sees what the token made.
    assert (await bank.record(created["id"]))["uid"] == created["uid"]

    reader = await new_caller(runtime, [scopes.AUTHENTICATORS_READ], tenant=bank.tenant)
    got = await _post(client, f"/model/oAuthDevice/getDb/{created['id']}", b"{}", reader.headers)
    assert got["status"] == "success"
    assert await _post(client, PUT, BODY, reader.headers) == error_answer(
        "[ERROR-FORBIDDEN : the caller lacks authenticators:write]"
    )
    verifier = await new_caller(runtime, [scopes.OTP_VERIFY], tenant=bank.tenant)
    path = f"/api/oAuthDevice/getDb/{created['id']}"
    assert await _post(client, path, b"{}", verifier.headers) == error_answer(
        "[ERROR-FORBIDDEN : the caller lacks authenticators:read]"
    )
    assert await _post(client, "/api/oAuthDevice/deleteItem/1", b"{}", reader.headers) == (
        error_answer("[ERROR-FORBIDDEN : the caller lacks authenticators:write]")
    )
    assert await _count(bank) == 2


@pytest.mark.parametrize("size", [200_001, 300_000, 2_000_000])
async def test_an_oversized_body_is_refused(bank: Bank, size: int) -> None:
    body = json.dumps({"client_code": "C001", "device_type": 5, "description": "x" * size})
    answer = await bank.call(PUT, raw=body.encode())
    assert answer == error_answer("[ERROR-VALIDATION : body: larger than 200 kB]")
