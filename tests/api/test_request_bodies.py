"""Routed requests read a body only just past ``MAX_BODY_READ`` (api/bodies.py), as hot paths
do: an endless upload is never held in memory, and each surface refuses it in its own
envelope (the native API with 413)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from fleetkey.api.bodies import MAX_BODY_READ
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.conftest import new_caller

CHUNK = 65_536
# What reading an endless upload takes: the chunks up to the one that passes the limit.
CHUNKS_READ = MAX_BODY_READ // CHUNK + 1
STUDY = "0123456789ABCDEF0123456789ABCDEF"


class Endless:
    """An upload that never ends, counting the chunks the server asked for."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 1
            yield b" " * CHUNK


async def _endless(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, int]:
    upload = Endless()
    reply = await client.request(method, path, headers=headers, content=upload)
    return reply, upload.sent


async def test_native_api_answers_413_without_reading_past_the_limit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await new_caller(runtime)
    reply, sent = await _endless(client, "POST", "/api/v1/studies", admin.headers)
    assert sent == CHUNKS_READ
    assert reply.status_code == 413
    assert reply.json() == {
        "error": {
            "code": "request.too_large",
            "message": "the request body is larger than 1000000 bytes",
            "details": None,
        }
    }
    listed = await client.get("/api/v1/studies", headers=admin.headers)
    assert (listed.status_code, listed.json()) == (200, [])


async def test_native_api_takes_a_body_of_exactly_the_limit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """1,000,000 bytes are read whole (the study is then refused on its own rules, 422);
    with one byte more the same refusal is reported as too large."""
    admin = await new_caller(runtime)

    def body(size: int) -> bytes:
        start = json.dumps({"id": STUDY, "name": ""}).encode()
        padded = start[:-1] + b" " * (size - len(start)) + b"}"
        assert len(padded) == size
        return padded

    headers = {**admin.headers, "content-type": "application/json"}
    at_limit = await client.post("/api/v1/studies", content=body(MAX_BODY_READ), headers=headers)
    assert at_limit.status_code == 422, at_limit.text
    assert at_limit.json()["error"]["code"] == "validation.invalid"
    past = await client.post("/api/v1/studies", content=body(MAX_BODY_READ + 1), headers=headers)
    assert past.status_code == 413
    assert past.json()["error"]["code"] == "request.too_large"


async def test_mosip_routed_operations_refuse_it_in_the_mosip_envelope(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = await new_caller(runtime, ["ZONAL_ADMIN"])
    reply, sent = await _endless(client, "POST", "/v1/masterdata/deviceprovider", admin.headers)
    assert sent == CHUNKS_READ
    assert reply.status_code == 200
    answer: dict[str, Any] = reply.json()
    assert (answer["response"], answer["errors"]) == (
        None,
        [
            {
                "errorCode": "KER-MSD-999",
                "message": "Invalid Format in field : request (body larger than 1 MB)",
            }
        ],
    )


async def test_clinical_one_refuses_it_in_the_ors_envelope(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    site = await new_caller(runtime, [scopes.DEVICE_ACTIONS])
    path = f"/ec-ors-svc/rest/v1.0/studies/{STUDY}/active/subjects/S1/register-device"
    reply, sent = await _endless(client, "POST", path, site.headers)
    assert sent == CHUNKS_READ
    assert reply.status_code == 400
    assert reply.json() == {
        "status": "Failure",
        "version": 1,
        "result": None,
        "errorData": {
            "errorCode": "C1-REQ-400",
            "errorMessage": "the request body is too large",
            "details": None,
        },
    }
