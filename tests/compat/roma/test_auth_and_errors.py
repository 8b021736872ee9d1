"""How the SDK authenticates (AK/SK signature, or a token) and how it parses errors."""

from __future__ import annotations

import json
from typing import Any

import huaweicloudsdkroma.v2 as sdk
from huaweicloudsdkcore.exceptions.exceptions import (
    ClientRequestException,
    ServerResponseException,
)

from fleetkey.clock import utcnow
from fleetkey.tenants.models import AccessKey
from tests.compat.roma.support import (
    GOOD_PASSWORD,
    Roma,
    Wire,
    check_request_id,
    compliant,
    expect_error,
    not_found_message,
    sdk_client,
    sdk_date,
    setup_roma,
)
from tests.conftest import new_caller

UNAUTHENTICATED = (401, "ROMA.1002", "Incorrect token or signature.")


def _show(roma: Roma, device_id: int, instance: str | None = None) -> sdk.ShowDeviceRequest:
    return sdk.ShowDeviceRequest(instance_id=instance or roma.instance, device_id=device_id)


async def _a_device(roma: Roma) -> int:
    product = await roma.product()
    return int((await roma.device(product.id)).id)


def _rejected(reply: Any, status: int, code: str, message: str) -> None:
    """A raw ``requests``/``httpx`` reply carrying a ROMA error."""
    body = json.loads(reply.content)
    assert reply.status_code == status, body
    assert body == {
        "error_code": code,
        "error_msg": message,
        "request_id": reply.headers["X-Request-Id"],
    }
    assert body["request_id"]


async def test_the_sdk_signs_with_ak_sk(roma: Roma) -> None:
    await roma.call("list_devices", sdk.ListDevicesRequest(instance_id=roma.instance))
    sent = roma.wire.requests[-1].header_params
    authorization = sent["Authorization"]
    assert authorization.startswith(f"SDK-HMAC-SHA256 Access={roma.ak}, SignedHeaders=")
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-sdk-date", "x-project-id", "x-client-nonce"} <= set(signed)
    assert sent["X-Project-Id"] == roma.project
    assert "X-Auth-Token" not in sent


async def test_not_found_is_a_client_request_exception(roma: Roma) -> None:
    missing = await _a_device(roma) + 10_000
    exc = await roma.fails("show_device", _show(roma, missing))
    assert isinstance(exc, ClientRequestException)
    assert not isinstance(exc, ServerResponseException)
    expect_error(exc, 404, "ROMA.00110006", not_found_message(missing))
    assert exc.request_id == roma.wire.last.headers["X-Request-Id"]
    assert len(exc.request_id) > 0

    # Every request gets its own id.
    again = await roma.fails("show_device", _show(roma, missing))
    assert again.request_id and again.request_id != exc.request_id


async def test_unknown_instance_is_a_server_response_exception(roma: Roma) -> None:
    exc = await roma.fails("show_device", _show(roma, 1, instance="no-such-instance"))
    assert isinstance(exc, ServerResponseException)
    expect_error(
        exc,
        500,
        "ROMA.00110002",
        f"The instance does not exist. project_id: {roma.project}, instance_id: no-such-instance",
    )
    # The instance is checked before the resource.
    exc = await roma.fails("list_products", sdk.ListProductsRequest(instance_id="x" * 37, limit=5))
    expect_error(
        exc,
        500,
        "ROMA.00110002",
        f"The instance does not exist. project_id: {roma.project}, instance_id: {'x' * 37}",
    )


async def test_an_instance_of_another_project_does_not_exist_here(roma: Roma) -> None:
    other = await setup_roma(roma.runtime, roma.server)
    device_id = await _a_device(other)
    exc = await roma.fails("show_device", _show(roma, device_id, instance=other.instance))
    expect_error(
        exc,
        500,
        "ROMA.00110002",
        f"The instance does not exist. project_id: {roma.project}, instance_id: {other.instance}",
    )


async def test_a_device_of_another_instance_is_not_found(roma: Roma) -> None:
    other = await setup_roma(roma.runtime, roma.server)
    device_id = await _a_device(other)
    exc = await roma.fails("show_device", _show(roma, device_id))
    expect_error(exc, 404, "ROMA.00110006", not_found_message(device_id))


async def test_wrong_secret_key_is_401(roma: Roma) -> None:
    device_id = await _a_device(roma)
    wire = Wire()
    wrong = sdk_client(roma.server.url, roma.ak, roma.sk + "x", roma.project, wire)
    try:
        await roma.invoke(wrong.show_device_invoker(_show(roma, device_id)))
    except ClientRequestException as exc:
        check_request_id(exc, wire.last)
        expect_error(exc, *UNAUTHENTICATED)
    else:
        raise AssertionError("a wrong SK was accepted")


async def test_unknown_access_key_is_401(roma: Roma) -> None:
    device_id = await _a_device(roma)
    wire = Wire()
    stranger = sdk_client(roma.server.url, "NOSUCHACCESSKEY00000", roma.sk, roma.project, wire)
    try:
        await roma.invoke(stranger.show_device_invoker(_show(roma, device_id)))
    except ClientRequestException as exc:
        check_request_id(exc, wire.last)
        expect_error(exc, *UNAUTHENTICATED)
    else:
        raise AssertionError("an unknown AK was accepted")


async def test_a_revoked_access_key_is_401(roma: Roma) -> None:
    device_id = await _a_device(roma)
    async with roma.runtime.db.unit_of_work() as session:
        key = await session.get(AccessKey, roma.ak)
        assert key is not None
        key.revoked_at = utcnow()
    exc = await roma.fails("show_device", _show(roma, device_id))
    expect_error(exc, *UNAUTHENTICATED)


async def test_sdk_date_more_than_15_minutes_off_is_401(roma: Roma) -> None:
    device_id = await _a_device(roma)
    for offset in (-16 * 60, 16 * 60, -24 * 3600):
        stamp = sdk_date(offset)
        invoker = roma.invoker("show_device", _show(roma, device_id))
        exc = await roma.invoke_fails(invoker.add_header("X-Sdk-Date", stamp))
        assert roma.wire.requests[-1].header_params["X-Sdk-Date"] == stamp
        assert isinstance(exc, ClientRequestException)
        expect_error(exc, *UNAUTHENTICATED)
    # Within the window (14 minutes either way) the signature is good.
    for offset in (-14 * 60, 14 * 60):
        invoker = roma.invoker("show_device", _show(roma, device_id))
        shown = await roma.invoke(invoker.add_header("X-Sdk-Date", sdk_date(offset)))
        assert shown.id == device_id


async def test_a_malformed_sdk_date_is_401(roma: Roma) -> None:
    device_id = await _a_device(roma)
    url, headers, body = roma.signed("GET", f"/devices/{device_id}")
    headers["X-Sdk-Date"] = "2026-01-01T00:00:00Z"
    _rejected(await roma.send(url, headers, body, "GET"), *UNAUTHENTICATED)
    del headers["X-Sdk-Date"]
    _rejected(await roma.send(url, headers, body, "GET"), *UNAUTHENTICATED)


async def test_a_replayed_signed_request_is_401(roma: Roma) -> None:
    device_id = await _a_device(roma)
    url, headers, body = roma.signed("GET", f"/devices/{device_id}")
    first = await roma.send(url, headers, body, "GET")
    assert first.status_code == 200, first.text
    assert first.json()["id"] == device_id
    _rejected(await roma.send(url, headers, body, "GET"), *UNAUTHENTICATED)


async def test_a_replayed_reset_is_401_and_changes_nothing(roma: Roma) -> None:
    device_id = await _a_device(roma)
    url, headers, body = roma.signed("PUT", f"/devices/{device_id}/authentication", b"{}")
    first = await roma.send(url, headers, body, "PUT")
    assert first.status_code == 200, first.text
    password = first.json()["password"]
    assert compliant(password)
    _rejected(await roma.send(url, headers, body, "PUT"), *UNAUTHENTICATED)
    user_name = first.json()["user_name"]
    assert await roma.device_auth(user_name, password, None) == "allow"


async def test_the_sdk_repeating_a_request_within_its_second_is_a_replay(roma: Roma) -> None:
    """The SDK signs the time to the second and adds no nonce: the same call twice with the
    same X-Sdk-Date signs alike, and the second is refused. (The suite's ``Roma.call`` adds
    a signed nonce header for this reason.)"""
    device_id = await _a_device(roma)
    stamp = sdk_date(0)
    first = await roma.invoke(
        roma.sdk.show_device_invoker(_show(roma, device_id)).add_header("X-Sdk-Date", stamp)
    )
    assert first.id == device_id
    exc = await roma.invoke_fails(
        roma.sdk.show_device_invoker(_show(roma, device_id)).add_header("X-Sdk-Date", stamp)
    )
    expect_error(exc, *UNAUTHENTICATED)


async def test_a_tampered_request_is_401(roma: Roma) -> None:
    device_id = await _a_device(roma)
    # Another body than the one signed.
    url, headers, _ = roma.signed(
        "PUT", f"/devices/{device_id}/authentication", b'{"password": "Aa1!aaaaBBBBcccc"}'
    )
    tampered = b'{"password": "Zz9#zzzzYYYYxxxx"}'
    _rejected(await roma.send(url, headers, tampered, "PUT"), *UNAUTHENTICATED)
    # Another query than the one signed.
    url, headers, body = roma.signed("GET", "/devices", query=[("limit", 1)])
    _rejected(
        await roma.send(url.replace("limit=1", "limit=2"), headers, body, "GET"), *UNAUTHENTICATED
    )
    # Another path than the one signed.
    url, headers, body = roma.signed("GET", f"/devices/{device_id}")
    _rejected(await roma.send(url + "/authentication", headers, body, "GET"), *UNAUTHENTICATED)
    # A signed header changed after signing.
    url, headers, body = roma.signed("GET", f"/devices/{device_id}")
    headers["X-Project-Id"] = "someone-else"
    _rejected(await roma.send(url, headers, body, "GET"), *UNAUTHENTICATED)


async def test_a_signed_request_made_by_hand_with_the_sdk_signer(roma: Roma) -> None:
    device_id = await _a_device(roma)
    url, headers, body = roma.signed(
        "PUT",
        f"/devices/{device_id}/authentication",
        json.dumps({"password": GOOD_PASSWORD}).encode(),
    )
    reply = await roma.send(url, headers, body, "PUT")
    assert reply.status_code == 200, reply.text
    assert reply.json()["password"] == GOOD_PASSWORD
    url, headers, body = roma.signed(
        "GET", "/devices", query=[("limit", 5), ("device_name", "dev ice"), ("offset", 0)]
    )
    reply = await roma.send(url, headers, body, "GET")
    assert reply.status_code == 200, reply.text
    assert reply.json()["total"] == 0


async def test_no_credentials_at_all_is_401(roma: Roma) -> None:
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "SDK-HMAC-SHA256 Access=X, SignedHeaders=host, Signature=zz"},
    ):
        reply = await roma.http("GET", "/devices", token="", headers=headers)
        _rejected(reply, *UNAUTHENTICATED)
    # An empty X-Auth-Token counts as none.
    reply = await roma.http("GET", "/devices", token="", headers={"X-Auth-Token": ""})
    _rejected(reply, *UNAUTHENTICATED)


async def test_an_unknown_token_is_401(roma: Roma) -> None:
    reply = await roma.http("GET", "/devices", token="fk_not-a-token")
    _rejected(reply, *UNAUTHENTICATED)


async def test_a_fleetkey_token_in_x_auth_token(roma: Roma) -> None:
    device_id = await _a_device(roma)
    reply = await roma.http("GET", f"/devices/{device_id}")
    assert reply.status_code == 200
    assert reply.json()["id"] == device_id
    assert reply.headers["X-Request-Id"]
    # As a bearer token too.
    reply = await roma.http(
        "GET",
        f"/devices/{device_id}",
        token="",
        headers={"Authorization": f"Bearer {roma.token}"},
    )
    assert reply.status_code == 200
    assert reply.json()["id"] == device_id


async def test_the_sdk_with_x_auth_token_and_no_valid_key(roma: Roma) -> None:
    """The docs' way: X-Auth-Token. A token wins over the (here meaningless) signature."""
    device_id = await _a_device(roma)
    wire = Wire()
    client = sdk_client(roma.server.url, "NOSUCHACCESSKEY00000", "no-secret", roma.project, wire)
    invoker = client.show_device_invoker(_show(roma, device_id))
    shown = await roma.invoke(invoker.add_header("X-Auth-Token", roma.token))
    assert (shown.status_code, shown.id) == (200, device_id)
    assert wire.requests[-1].header_params["X-Auth-Token"] == roma.token


async def test_a_token_of_another_tenant_is_403(roma: Roma) -> None:
    device_id = await _a_device(roma)
    stranger = await new_caller(roma.runtime)
    reply = await roma.http("GET", f"/devices/{device_id}", token=stranger.token)
    _rejected(
        reply,
        403,
        "ROMA.00110008",
        f"You do not have the permission on project {roma.project}.",
    )
    reply = await roma.http("DELETE", f"/devices/{device_id}", token=stranger.token)
    assert reply.status_code == 403
    assert (await roma.show_device(device_id)).id == device_id


async def test_ak_sk_of_another_project_is_403(roma: Roma) -> None:
    other = await setup_roma(roma.runtime, roma.server)
    device_id = await _a_device(other)
    wire = Wire()
    # My key, the other project's id.
    client = sdk_client(roma.server.url, roma.ak, roma.sk, other.project, wire)
    try:
        await roma.invoke(client.show_device_invoker(_show(other, device_id)))
    except ClientRequestException as exc:
        check_request_id(exc, wire.last)
        expect_error(
            exc,
            403,
            "ROMA.00110008",
            f"You do not have the permission on project {other.project}.",
        )
    else:
        raise AssertionError("a key was accepted for another project")


async def test_a_read_only_token_cannot_write(roma: Roma) -> None:
    device_id = await _a_device(roma)
    reader = await new_caller(roma.runtime, scopes=["things:read"], tenant=roma.project)
    reply = await roma.http("GET", f"/devices/{device_id}", token=reader.token)
    assert reply.status_code == 200
    reply = await roma.http(
        "PUT", f"/devices/{device_id}/authentication", token=reader.token, json={}
    )
    _rejected(
        reply,
        403,
        "ROMA.00110008",
        "You do not have the things:write permission on the resource.",
    )
    # A broker token may authenticate devices, nothing else.
    reply = await roma.http("GET", f"/devices/{device_id}", token=roma.broker_token)
    _rejected(
        reply,
        403,
        "ROMA.00110008",
        "You do not have the things:read permission on the resource.",
    )


async def test_a_caller_request_id_is_echoed(roma: Roma) -> None:
    reply = await roma.http("GET", "/devices/999999999", headers={"X-Request-Id": "my-req-1"})
    _rejected(reply, 404, "ROMA.00110006", not_found_message(999999999))
    assert reply.headers["X-Request-Id"] == "my-req-1"
