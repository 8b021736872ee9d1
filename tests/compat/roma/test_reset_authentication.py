"""The seed page: PUT .../devices/{device_id}/authentication, through the SDK.

user_name: letters, digits and hyphens, 10 to 50. password: 16 to 32 characters with a
digit, an upper-case letter, a lower-case letter and a special character. An empty field
is not reset; both empty: the system generates a password.
"""

from __future__ import annotations

import json
from typing import Any

import huaweicloudsdkroma.v2 as sdk
import pytest

from tests.compat.roma.support import (
    GOOD_PASSWORD,
    MASK,
    OTHER_PASSWORD,
    PASSWORD_PROBLEM,
    USER_NAME_PROBLEM,
    Roma,
    compliant,
    expect_error,
    invalid_message,
    not_found_message,
)


async def _device(roma: Roma, **fields: Any) -> Any:
    product = await roma.product()
    return await roma.device(product.id, **fields)


async def _show(roma: Roma, device_id: int) -> tuple[str, str]:
    shown = await roma.call(
        "show_authentication",
        sdk.ShowAuthenticationRequest(instance_id=roma.instance, device_id=device_id),
    )
    assert shown.status_code == 200
    return shown.user_name, shown.password


async def test_reset_to_given_values(roma: Roma) -> None:
    device = await _device(roma)
    old_name, old_password = device.authentication.user_name, device.authentication.password

    reset = await roma.reset(device.id, user_name="device01-new", password=GOOD_PASSWORD)
    assert reset.status_code == 200
    assert (reset.user_name, reset.password) == ("device01-new", GOOD_PASSWORD)
    assert await _show(roma, device.id) == ("device01-new", MASK)
    shown = await roma.show_device(device.id)
    assert (shown.authentication.user_name, shown.authentication.password) == (
        "device01-new",
        MASK,
    )

    assert await roma.device_auth("device01-new", GOOD_PASSWORD, device.client_id) == "allow"
    assert await roma.device_auth("device01-new", old_password, device.client_id) == "deny"
    assert await roma.device_auth(old_name, old_password, device.client_id) == "deny"


@pytest.mark.parametrize(
    "user_name",
    [
        "a" * 10,
        "A" * 50,
        "device-0001",
        "0123456789",
        "-----------",
        "Mixed-Case-9",
    ],
)
async def test_valid_user_names(roma: Roma, user_name: str) -> None:
    device = await _device(roma)
    reset = await roma.reset(device.id, user_name=user_name, password=GOOD_PASSWORD)
    assert (reset.user_name, reset.password) == (user_name, GOOD_PASSWORD)
    assert await _show(roma, device.id) == (user_name, MASK)


@pytest.mark.parametrize(
    "user_name",
    [
        "a" * 9,  # too short
        "b" * 51,  # too long
        "device_0001",  # underscore
        "device 0001",  # space
        "device.0001",
        "dévice-0001",  # not ASCII
        "device-0001\n",
    ],
)
async def test_invalid_user_names(roma: Roma, user_name: str) -> None:
    device = await _device(roma)
    before = await _show(roma, device.id)
    exc = await roma.reset_fails(device.id, user_name=user_name, password=GOOD_PASSWORD)
    expect_error(exc, 400, "ROMA.00110001", invalid_message(USER_NAME_PROBLEM))
    assert await _show(roma, device.id) == before
    # Nothing changed: the password shown at creation still works.
    assert (
        await roma.device_auth(before[0], device.authentication.password, device.client_id)
        == "allow"
    )


@pytest.mark.parametrize(
    "password",
    [
        "Aa1!" + "a" * 12,  # 16
        "Aa1!" + "b" * 28,  # 32
        "~!@#$%^&*()-_=+|[{}];:<>/?Aa1",  # every special character
        "zZ9?zzzzzzzzzzzz",
    ],
)
async def test_valid_passwords(roma: Roma, password: str) -> None:
    device = await _device(roma)
    reset = await roma.reset(device.id, password=password)
    assert (reset.user_name, reset.password) == (device.authentication.user_name, password)
    assert await roma.device_auth(reset.user_name, password, device.client_id) == "allow"


@pytest.mark.parametrize(
    "password",
    [
        "Aa1!" + "a" * 11,  # 15 characters
        "Aa1!" + "a" * 29,  # 33 characters
        "Aa1aaaaaaaaaaaaa",  # no special character
        "aa1!aaaaaaaaaaaa",  # no upper-case letter
        "AA1!AAAAAAAAAAAA",  # no lower-case letter
        "Aaa!aaaaaaaaaaaa",  # no digit
        "Aa1!aaaa aaaaaaa",  # a space
        "Aa1!aaaaaaaaaaa€",  # not ASCII
        "Aa1!aaaaaaaaaaa\u00e9",  # a non-ASCII letter
        "Aa1!aaaaaaaaaaa'",  # a special character the page does not list
        "short1A!",  # the SDK's own 8-32 rule allows it, the page does not
    ],
)
async def test_invalid_passwords(roma: Roma, password: str) -> None:
    device = await _device(roma)
    exc = await roma.reset_fails(device.id, password=password)
    expect_error(exc, 400, "ROMA.00110001", invalid_message(PASSWORD_PROBLEM))
    user_name = device.authentication.user_name
    assert await roma.device_auth(user_name, device.authentication.password, None) == "allow"


async def test_both_invalid_names_both_fields(roma: Roma) -> None:
    device = await _device(roma)
    exc = await roma.reset_fails(device.id, user_name="bad_name", password="weak")
    # The user name is checked first; the reset is refused as a whole.
    expect_error(exc, 400, "ROMA.00110001", invalid_message(USER_NAME_PROBLEM))


def _generated(roma: Roma, reset: Any, device: Any) -> None:
    assert reset.status_code == 200
    assert reset.user_name == device.authentication.user_name
    assert compliant(reset.password)
    assert reset.password != device.authentication.password


async def _both_empty_generates(roma: Roma, device: Any, reset: Any) -> None:
    _generated(roma, reset, device)
    user_name = device.authentication.user_name
    assert await _show(roma, device.id) == (user_name, MASK)
    assert await roma.device_auth(user_name, reset.password, device.client_id) == "allow"
    assert (
        await roma.device_auth(user_name, device.authentication.password, device.client_id)
        == "deny"
    )


async def test_both_empty_sdk_body_without_fields(roma: Roma) -> None:
    device = await _device(roma)
    reset = await roma.reset(device.id, sdk.ResetAuthenticationRequestBody())
    assert roma.wire.requests[-1].body in (b"{}", "{}")
    await _both_empty_generates(roma, device, reset)


async def test_both_empty_sdk_request_without_body(roma: Roma) -> None:
    device = await _device(roma)
    reset = await roma.reset(device.id)
    assert not roma.wire.requests[-1].body
    await _both_empty_generates(roma, device, reset)


async def test_both_empty_strings(roma: Roma) -> None:
    device = await _device(roma)
    reset = await roma.reset(device.id, user_name="", password="")
    await _both_empty_generates(roma, device, reset)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b"null",
        b'{"user_name": null, "password": null}',
        b'{"user_name": null}',
        b'{"password": null, "unknown": "ignored"}',
    ],
)
async def test_both_empty_raw_bodies(roma: Roma, body: bytes) -> None:
    device = await _device(roma)
    reply = await roma.http(
        "PUT",
        f"/devices/{device.id}/authentication",
        content=body,
        headers={"Content-Type": "application/json;charset=utf-8"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["X-Request-Id"]
    data = reply.json()
    assert set(data) == {"user_name", "password"}
    assert data["user_name"] == device.authentication.user_name
    assert compliant(data["password"])
    assert data["password"] != device.authentication.password
    assert await roma.device_auth(data["user_name"], data["password"], device.client_id) == "allow"


async def test_only_user_name_keeps_the_password(roma: Roma) -> None:
    device = await _device(roma, user_name="first-name-01", password=GOOD_PASSWORD)
    reset = await roma.reset(device.id, user_name="second-name-02")
    assert reset.status_code == 200
    assert (reset.user_name, reset.password) == ("second-name-02", MASK)
    assert await _show(roma, device.id) == ("second-name-02", MASK)
    # The old password still authenticates, under the new user name only.
    assert await roma.device_auth("second-name-02", GOOD_PASSWORD, device.client_id) == "allow"
    assert await roma.device_auth("first-name-01", GOOD_PASSWORD, device.client_id) == "deny"

    # The same with a generated password (stored differently from a chosen one).
    generated = await _device(roma)
    reset = await roma.reset(generated.id, user_name="third-name-03", password="")
    assert (reset.user_name, reset.password) == ("third-name-03", MASK)
    assert (
        await roma.device_auth("third-name-03", generated.authentication.password, None) == "allow"
    )


async def test_only_password_keeps_the_user_name(roma: Roma) -> None:
    device = await _device(roma, user_name="kept-name-01", password=GOOD_PASSWORD)
    reset = await roma.reset(device.id, password=OTHER_PASSWORD)
    assert (reset.user_name, reset.password) == ("kept-name-01", OTHER_PASSWORD)
    assert await _show(roma, device.id) == ("kept-name-01", MASK)
    assert await roma.device_auth("kept-name-01", OTHER_PASSWORD, None) == "allow"
    assert await roma.device_auth("kept-name-01", GOOD_PASSWORD, None) == "deny"


async def test_same_user_name_again_is_no_clash(roma: Roma) -> None:
    device = await _device(roma, user_name="same-name-01")
    reset = await roma.reset(device.id, user_name="same-name-01", password=GOOD_PASSWORD)
    assert (reset.user_name, reset.password) == ("same-name-01", GOOD_PASSWORD)


async def test_user_name_of_another_device_or_product_is_refused(roma: Roma) -> None:
    product = await roma.product()
    mine = await roma.device(product.id)
    await roma.device(product.id, user_name="other-device-1")
    exc = await roma.reset_fails(mine.id, user_name="other-device-1")
    expect_error(
        exc, 400, "ROMA.00110001", invalid_message("user name other-device-1 is already in use")
    )
    taken = product.authentication.user_name
    exc = await roma.reset_fails(mine.id, user_name=taken)
    expect_error(exc, 400, "ROMA.00110001", invalid_message(f"user name {taken} is already in use"))
    assert (await _show(roma, mine.id))[0] == mine.authentication.user_name


async def test_unknown_device_and_unknown_instance(roma: Roma) -> None:
    device = await _device(roma)
    missing = device.id + 10_000
    exc = await roma.reset_fails(missing, password=GOOD_PASSWORD)
    expect_error(exc, 404, "ROMA.00110006", not_found_message(missing))

    request = sdk.ResetAuthenticationRequest(
        instance_id="f3bb386a-23ec-47aa-9943-4c60ac658611",
        device_id=device.id,
        body=sdk.ResetAuthenticationRequestBody(password=GOOD_PASSWORD),
    )
    exc = await roma.fails("reset_authentication", request)
    expect_error(
        exc,
        500,
        "ROMA.00110002",
        f"The instance does not exist. project_id: {roma.project}, "
        "instance_id: f3bb386a-23ec-47aa-9943-4c60ac658611",
    )
    assert await roma.device_auth(device.authentication.user_name, GOOD_PASSWORD, None) == "deny"


async def test_device_id_that_is_not_an_integer(roma: Roma) -> None:
    reply = await roma.http("PUT", "/devices/abc/authentication", json={})
    assert reply.status_code == 400
    assert reply.json() == {
        "error_code": "ROMA.00110001",
        "error_msg": invalid_message("device_id:must be an integer"),
        "request_id": reply.headers["X-Request-Id"],
    }


async def test_wrong_json_types_are_refused(roma: Roma) -> None:
    device = await _device(roma)
    for body, field in (
        ({"user_name": 12345678901}, "user_name"),
        ({"password": ["Aa1!aaaaBBBBcccc"]}, "password"),
    ):
        reply = await roma.http(
            "PUT", f"/devices/{device.id}/authentication", content=json.dumps(body)
        )
        assert reply.status_code == 400
        assert reply.json()["error_msg"] == invalid_message(f"{field}:must be a string")
