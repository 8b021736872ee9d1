"""The hot paths (api/hot.py): answered ahead of FastAPI, the same as their FastAPI routes.

Each hot path also has a FastAPI route (for OpenAPI) that calls the same handler. Here every
request goes both ways, through ``FleetkeyApp`` (the hot dispatch) and through FastAPI's own
``__call__`` (middleware and routing), and the answers must be the same. An unexpected
failure answers in the surface's own envelope.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fleetkey.api.bodies import MAX_BODY_READ
from fleetkey.api.hot import HotResponse
from fleetkey.app import create_app
from fleetkey.compat.mosip import envelope
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.compat.mosip import doc
from tests.conftest import new_caller

REGISTER_PATH = "/v1/masterdata/registereddevices"
VALIDATE_PATHS = (
    "/v1/masterdata/deviceprovidermanagement/validate",
    "/masterdata/deviceprovidermanagement/validate",
)


@pytest.fixture
async def both(runtime: Runtime) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """A client of the hot dispatch, and one whose requests FastAPI routes."""
    app = create_app(runtime.settings, runtime)

    async def routed(scope: Any, receive: Any, send: Any) -> None:
        await FastAPI.__call__(app, scope, receive, send)

    hot = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hot.test")
    via_fastapi = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=routed), base_url="http://routed.test"
    )
    async with hot, via_fastapi:
        yield hot, via_fastapi


def _comparable(response: httpx.Response) -> tuple[int, Any, str]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("responsetime", None)  # MOSIP's answer time differs by a few ms
    return response.status_code, body, response.headers["content-type"]


async def _same(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], path: str, **kwargs: Any
) -> tuple[int, Any, str]:
    hot, via_fastapi = both
    answers = [await c.post(path, **kwargs) for c in (hot, via_fastapi)]
    assert _comparable(answers[0]) == _comparable(answers[1]), [a.text for a in answers]
    return _comparable(answers[0])


async def test_the_hot_and_the_routed_answers_are_the_same(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], runtime: Runtime
) -> None:
    broker = await new_caller(runtime, [scopes.DEVICE_AUTH])
    verifier = await new_caller(runtime, [scopes.OTP_VERIFY])
    validator = await new_caller(runtime, [scopes.REGISTRY_VALIDATE])
    attempt = {"username": "nobody", "password": "x" * 20}

    assert await _same(both, "/api/v1/auth/device", json=attempt) == (
        401,
        {
            "error": {
                "code": "auth.unauthenticated",
                "message": "a broker token is required",
                "details": None,
            }
        },
        "application/json",
    )
    status, body, _ = await _same(both, "/api/v1/auth/device", json=attempt, headers=broker.headers)
    assert (status, body) == (200, {"result": "deny"})

    status, body, _ = await _same(both, "/api/v1/otp/verify", json={"code": "123456"})
    assert (status, body["error"]["code"]) == (401, "auth.unauthenticated")
    status, body, _ = await _same(
        both,
        "/api/v1/otp/verify",
        json={"device_id": 1, "code": "1" * 17},
        headers=verifier.headers,
    )
    assert (status, body["error"]["code"], [d["field"] for d in body["error"]["details"]]) == (
        422,
        "validation.invalid",
        ["code"],
    )
    status, body, _ = await _same(
        both,
        "/api/v1/otp/verify",
        json={"device_id": 987654321, "code": "123456"},
        headers=verifier.headers,
    )
    assert (status, body["error"]["code"]) == (404, "auth_device.not_found")

    for path in VALIDATE_PATHS:
        status, body, _ = await _same(both, path, json=doc.VALIDATE)
        assert (status, body["errors"]) == (
            200,
            [{"errorCode": "KER-ATH-401", "message": "Authentication Failed"}],
        )
        status, body, _ = await _same(both, path, json=doc.VALIDATE, headers=validator.headers)
        assert status == 200 and body["response"] is None
        assert body["errors"][0]["message"] == "Device is marked Inactive or not found"


async def test_registration_is_answered_the_same_hot_and_routed(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], runtime: Runtime
) -> None:
    writer = await new_caller(runtime, [scopes.REGISTRY_WRITE])
    body = doc.registration("no-such-provider")
    status, answer, _ = await _same(both, REGISTER_PATH, json=body)
    assert (status, answer["errors"]) == (
        200,
        [{"errorCode": "KER-ATH-401", "message": "Authentication Failed"}],
    )
    status, answer, _ = await _same(both, REGISTER_PATH, json=body, headers=writer.headers)
    assert (status, answer["id"], answer["response"]) == (200, envelope.DEVICE_REGISTER.id, None)
    assert answer["errors"] == [
        {
            "errorCode": "ADM-DPM-032",
            "message": "Device Provider ID/Name does not exist in the list of Registered "
            "Device Providers",
        }
    ]


async def test_a_huge_body_is_not_read_past_the_limit(runtime: Runtime) -> None:
    """An endless upload to a hot path: reading stops just past ``MAX_BODY_READ`` and the
    surface refuses it in its own envelope."""
    app = create_app(runtime.settings, runtime)
    validator = await new_caller(runtime, [scopes.REGISTRY_VALIDATE])
    chunk = b" " * 65_536
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": VALIDATE_PATHS[0],
        "raw_path": VALIDATE_PATHS[0].encode(),
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {validator.token}".encode())],
    }
    await app(scope, receive, send)
    assert received == MAX_BODY_READ // len(chunk) + 1
    assert sent[0]["status"] == 200
    body = json.loads(sent[1]["body"])
    assert (body["response"], body["errors"]) == (
        None,
        [
            {
                "errorCode": "KER-MSD-999",
                "message": "Invalid Format in field : request (body larger than 1 MB)",
            }
        ],
    )


async def test_the_hot_dispatch_gives_every_answer_a_request_id(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    hot, _ = both
    given = await hot.post("/api/v1/otp/verify", json={}, headers={"X-Request-Id": "abc-1"})
    assert given.headers["x-request-id"] == "abc-1"
    made = await hot.post("/api/v1/otp/verify", json={})
    rid = made.headers["x-request-id"]
    assert len(rid) == 32 and int(rid, 16) >= 0


async def test_an_unexpected_failure_answers_in_the_surfaces_envelope(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(db: object, token: str) -> None:
        raise RuntimeError("the store went away")

    # Every caller check goes through the token verifier.
    monkeypatch.setattr(runtime.tokens, "verify", broken)
    hot, _ = both
    headers = {"Authorization": "Bearer fk_secret-token-value"}

    native = await hot.post("/api/v1/auth/device", json={}, headers=headers)
    assert (native.status_code, native.json()) == (
        500,
        {"error": {"code": "internal", "message": "internal server error", "details": None}},
    )
    for path in VALIDATE_PATHS:
        mosip = await hot.post(path, json=doc.VALIDATE, headers=headers)
        body = mosip.json()
        assert mosip.status_code == 200 and body["response"] is None
        assert body["errors"] == [{"errorCode": "KER-MSD-500", "message": "Internal Server Error"}]
        assert body["id"] == envelope.DEVICE_VALIDATE.id
    # Logged with the path, never with the caller's token.
    assert "unexpected error on POST /api/v1/auth/device" in caplog.text
    assert "fk_secret-token-value" not in caplog.text


def test_an_echoed_lone_surrogate_is_answered_as_a_json_escape() -> None:
    """A client's unpaired surrogate (MOSIP echoes the request's id) cannot be UTF-8: the
    answer carries it as ``\\ud800`` rather than failing with a 500."""
    response = HotResponse.json(200, {"id": "a\ud800", "name": "é"})
    assert response.body == b'{"id":"a\\ud800","name":"\\u00e9"}'
    assert json.loads(response.body) == {"id": "a\ud800", "name": "é"}
    assert HotResponse.json(200, {"name": "é"}).body == '{"name":"é"}'.encode()
