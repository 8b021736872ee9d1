"""Malformed input answers 400 ROMA.00110001 on both backends, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.compat.roma.support import Roma, invalid_message

UNSTORABLE = "must not hold a NUL character or an unpaired surrogate"
INT64 = 2**63 - 1


async def _device_id(roma: Roma) -> int:
    product = await roma.product()
    return int((await roma.device(product.id)).id)


def _error(reply: httpx.Response, status: int, code: str, message: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.json() == {
        "error_code": code,
        "error_msg": message,
        "request_id": reply.headers["X-Request-Id"],
    }


@pytest.mark.parametrize(
    ("suffix", "params", "problem"),
    [
        ("/devices", {"limit": "²"}, "limit:must be an integer from 0 to 999"),
        ("/devices", {"limit": "-1"}, "limit:must be an integer from 0 to 999"),
        ("/devices", {"offset": "1.5"}, f"offset:must be an integer from 0 to {INT64}"),
        ("/devices", {"product_id": "9" * 20}, f"product_id:must be an integer from 0 to {INT64}"),
        ("/devices", {"online_status": "²"}, "online_status:0, 1 or 2"),
        ("/devices", {"online_status": "0,x"}, "online_status:0, 1 or 2"),
        (
            "/devices",
            {"created_date_start": "9" * 17},
            "created_date_start:must be an integer from 0 to 253402300799999",
        ),
        ("/devices", {"device_name": "x" * 257}, "device_name:at most 256 characters"),
        ("/devices", {"device_name": "a\x00b"}, f"device_name:{UNSTORABLE}"),
        ("/devices", {"tag": "\x00"}, f"tag:{UNSTORABLE}"),
        ("/products", {"name": "\x00"}, f"name:{UNSTORABLE}"),
        ("/products", {"product_type": "²"}, f"product_type:must be an integer from 0 to {INT64}"),
        ("/devices/²", {}, "device_id:must be an integer"),
        ("/devices/-1", {}, "device_id:must be an integer"),
        ("/devices/" + "9" * 19, {}, "device_id:must be an integer"),
        ("/devices/abc/authentication", {}, "device_id:must be an integer"),
        ("/products/²", {}, "product_id:must be an integer"),
        ("/products/" + "1" * 30 + "/authentication", {}, "product_id:must be an integer"),
    ],
)
async def test_bad_query_and_path_values(
    roma: Roma, suffix: str, params: dict[str, str], problem: str
) -> None:
    reply = await roma.http("GET", suffix, params=params)
    _error(reply, 400, "ROMA.00110001", invalid_message(problem))


@pytest.mark.parametrize("value", ["²", "9" * 30, "-3", "x"])
async def test_a_product_id_filter_that_names_no_product_finds_none(roma: Roma, value: str) -> None:
    await roma.product()
    reply = await roma.http("GET", "/products", params={"id": value})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"total": 0, "size": 0, "items": []}


async def test_nul_in_the_instance_path(roma: Roma) -> None:
    async with httpx.AsyncClient(base_url=roma.server.url, timeout=30) as http:
        reply = await http.get(
            f"/v2/{roma.project}/link/instances/ab%00c/devices",
            headers={"X-Auth-Token": roma.token},
        )
    _error(reply, 400, "ROMA.00110001", invalid_message(f"instance:{UNSTORABLE}"))


@pytest.mark.parametrize(
    ("method", "suffix", "raw"),
    [
        ("POST", "/devices", b'{"device_name": "a\\u0000b", "node_id": "n1"}'),
        ("PUT", "/devices/{id}", b'{"description": "x\\u0000"}'),
        ("PUT", "/devices/{id}", b'{"tags": ["ok", "\\ud800"]}'),
        ("PUT", "/devices/{id}/authentication", b'{"password": "Aa1!aaaaBBBB\\u0000ccc"}'),
        ("POST", "/products", b'{"name": "p", "extra": {"\\u0000": 1}}'),
    ],
)
async def test_text_no_store_can_hold_in_a_body(
    roma: Roma, method: str, suffix: str, raw: bytes
) -> None:
    device_id = await _device_id(roma)
    reply = await roma.http(method, suffix.format(id=device_id), content=raw)
    _error(reply, 400, "ROMA.00110001", invalid_message(f"body:{UNSTORABLE}"))
    shown: Any = await roma.show_device(device_id)
    assert shown.description is None and shown.tags == []
