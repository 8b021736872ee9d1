"""Request bodies: absent, ``{}`` and ``null`` members mean the same; unknown fields are
ignored; what is not JSON, or not of the right JSON type, is refused."""

from __future__ import annotations

import json
from typing import Any

import httpx
import huaweicloudsdkroma.v2 as sdk
import pytest

from tests.compat.roma.support import MASK, Roma, compliant, invalid_message


def _update(roma: Roma, device_id: int, body: Any) -> sdk.UpdateDeviceRequest:
    return sdk.UpdateDeviceRequest(instance_id=roma.instance, device_id=device_id, body=body)


async def test_update_device_with_no_body_empty_body_and_nulls(roma: Roma) -> None:
    product = await roma.product()
    device = await roma.device(product.id, device_name="keep-me", description="d", tags=["t"])
    kept = ("keep-me", "d", ["t"], 0)

    def state(reply: Any) -> tuple[Any, ...]:
        return (reply.device_name, reply.description, reply.tags, reply.status)

    absent = await roma.call("update_device", _update(roma, device.id, None))
    assert not roma.wire.requests[-1].body
    assert state(absent) == kept
    empty = await roma.call(
        "update_device", _update(roma, device.id, sdk.UpdateDeviceRequestBody())
    )
    assert state(empty) == kept
    for raw in (
        b"",
        b"{}",
        b"null",
        b'{"device_name": null, "description": null, "tags": null, "status": null}',
    ):
        reply = await roma.http("PUT", f"/devices/{device.id}", content=raw)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        assert (data["device_name"], data["description"], data["tags"], data["status"]) == kept
    assert state(await roma.show_device(device.id)) == kept


async def test_update_product_with_nulls_changes_nothing(roma: Roma) -> None:
    product = await roma.product(name="null-product", model="M1", description="desc")
    reply = await roma.http(
        "PUT",
        f"/products/{product.id}",
        json={"name": None, "model": None, "description": None, "version": None},
    )
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert (data["name"], data["model"], data["description"]) == ("null-product", "M1", "desc")
    updated = await roma.call(
        "update_product",
        sdk.UpdateProductRequest(instance_id=roma.instance, product_id=product.id, body=None),
    )
    assert (updated.name, updated.model) == ("null-product", "M1")


async def test_create_device_with_null_optional_fields(roma: Roma) -> None:
    product = await roma.product()
    reply = await roma.http(
        "POST",
        "/devices",
        json={
            "product": {"product_id": product.id, "manufacturer_id": None, "model": None},
            "device_name": "nulls-device",
            "node_id": "nulls-node",
            "parent_device_id": None,
            "user_name": None,
            "password": None,
            "app_id": None,
            "status": None,
            "description": None,
            "tags": None,
        },
    )
    assert reply.status_code == 201, reply.text
    data = reply.json()
    assert (data["status"], data["online_status"], data["tags"]) == (0, 0, [])
    assert data["description"] is None and data["app_id"] is None
    assert compliant(data["authentication"]["password"])
    shown = await roma.show_device(data["id"])
    assert shown.authentication.password == MASK


async def test_unknown_fields_are_ignored(roma: Roma) -> None:
    reply = await roma.http(
        "POST",
        "/products",
        json={
            "name": "extra-fields",
            "template_id": 7,  # an SDK field fleetkey does not model
            "colour": "blue",
            "nested": {"deep": [1, 2, 3]},
        },
    )
    assert reply.status_code == 201, reply.text
    product = reply.json()
    assert product["name"] == "extra-fields"
    assert not {"template_id", "colour", "nested"} & set(product)

    reply = await roma.http(
        "POST",
        "/devices",
        json={
            "product": {"product_id": product["id"], "product_name": "ignored", "x": 1},
            "device_name": "extra-device",
            "node_id": "extra-node",
            "plugin_id": 1,
            "whatever": None,
        },
    )
    assert reply.status_code == 201, reply.text
    device = reply.json()
    assert device["product"]["product_id"] == product["id"]
    assert device["product"]["product_name"] == "extra-fields"
    assert not {"whatever"} & set(device)

    reply = await roma.http(
        "PUT",
        f"/devices/{device['id']}/authentication",
        json={"user_name": "extra-user-01", "unknown": True},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"user_name": "extra-user-01", "password": MASK}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{not json", "body:is not JSON"),
        (b'{"user_name": "abc"', "body:is not JSON"),
        (b"[]", "body:must be a JSON object"),
        (b'"text"', "body:must be a JSON object"),
        (b"42", "body:must be a JSON object"),
    ],
)
async def test_bodies_that_are_not_a_json_object(roma: Roma, raw: bytes, problem: str) -> None:
    product = await roma.product()
    device = await roma.device(product.id)
    reply = await roma.http("PUT", f"/devices/{device.id}/authentication", content=raw)
    assert reply.status_code == 400
    assert reply.json() == {
        "error_code": "ROMA.00110001",
        "error_msg": invalid_message(problem),
        "request_id": reply.headers["X-Request-Id"],
    }
    shown = await roma.show_device(device.id)
    assert shown.authentication.user_name == device.authentication.user_name


def _device_body(product_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    base = {"product": {"product_id": product_id}, "device_name": "d1", "node_id": "n1"}
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"product": "abc"}, "product:must be an object"),
        ({"product": {"product_id": "1"}}, "product_id:must be a non-negative integer"),
        ({"product": {"product_id": True}}, "product_id:must be a non-negative integer"),
        ({"product": {"product_id": -1}}, "product_id:must be a non-negative integer"),
        ({"product": {"product_id": 2**63}}, "product_id:must be a non-negative integer"),
        ({"device_name": 5}, "device_name:must be a string"),
        ({"tags": "a"}, "tags:must be a list of strings"),
        ({"tags": [1]}, "tags:must be a list of strings"),
        ({"status": "0"}, "status:must be a non-negative integer"),
        ({"status": 0.0}, "status:must be a non-negative integer"),
    ],
)
async def test_wrong_json_types(roma: Roma, changes: dict[str, Any], problem: str) -> None:
    product = await roma.product()
    body = _device_body(product.id, changes)
    reply = await roma.http("POST", "/devices", content=json.dumps(body))
    assert reply.status_code == 400, reply.text
    assert reply.json()["error_msg"] == invalid_message(problem)
    listed = await roma.call("list_devices", sdk.ListDevicesRequest(instance_id=roma.instance))
    assert listed.total == 0


async def test_a_body_over_one_megabyte_is_refused(roma: Roma) -> None:
    product = await roma.product()
    device = await roma.device(product.id)
    raw = json.dumps({"password": None, "padding": "x" * 1_000_001}).encode()
    reply = await roma.http("PUT", f"/devices/{device.id}/authentication", content=raw)
    assert reply.status_code == 400
    assert reply.json()["error_msg"] == invalid_message("body:larger than 1 MB")


async def test_a_signed_body_over_one_megabyte_is_refused_as_too_large(roma: Roma) -> None:
    """Reading stops just past 1 MB, so the body's signature cannot be checked: the size is
    refused first, not reported as a bad signature."""
    product = await roma.product()
    device = await roma.device(product.id)
    raw = json.dumps({"password": None, "padding": "x" * 2_000_000}).encode()
    url, headers, body = roma.signed("PUT", f"/devices/{device.id}/authentication", raw)
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.put(url, headers=headers, content=body)
    assert reply.status_code == 400
    assert reply.json()["error_msg"] == invalid_message("body:larger than 1 MB")
