"""RabbitMQ's HTTP auth backend: ``allow``/``deny`` as plain text, the broker token in the URL."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.conftest import new_caller
from tests.device.support import (
    CHOSEN,
    Fleet,
    denials,
    native_device,
    new_fleet,
    password_of,
    roma_device,
    user_of,
)


def _base(fleet: Fleet, token: str | None = None) -> str:
    return f"/api/v1/auth/rabbitmq/{token or fleet.broker.token}"


def _text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def _user_get(client: httpx.AsyncClient, fleet: Fleet, **params: str) -> str:
    return _text(await client.get(_base(fleet) + "/user", params=params))


async def _user_post(client: httpx.AsyncClient, fleet: Fleet, **form: str) -> str:
    return _text(await client.post(_base(fleet) + "/user", data=form))


async def test_user_with_get_query(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    user, password = user_of(device), password_of(device)
    assert await _user_get(client, fleet, username=user, password=password) == "allow"
    assert await _user_get(client, fleet, username=user, password=password + "x") == "deny"
    assert await _user_get(client, fleet, username="nobody-at-all", password=password) == "deny"
    assert await _user_get(client, fleet, username=user) == "deny"
    assert await _user_get(client, fleet) == "deny"


async def test_user_with_post_form(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet, user_name="rabbit-device-1", password=CHOSEN)
    assert await _user_post(client, fleet, username="rabbit-device-1", password=CHOSEN) == "allow"
    assert await _user_post(client, fleet, username="rabbit-device-1", password="x" + CHOSEN) == (
        "deny"
    )
    assert await _user_post(client, fleet, username="nobody-at-all", password=CHOSEN) == "deny"
    assert await _user_post(client, fleet) == "deny"
    assert await denials(runtime, fleet.caller.tenant_id) == [
        (str(device["id"]), "wrong password"),
        ("", "unknown user name"),
        ("", "missing or oversized credentials"),
    ]


async def test_user_with_post_form_and_a_product_credential(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    shared = await native_device(client, fleet, credential="product")
    form = {"username": fleet.product_user, "password": fleet.product_password}
    assert await _user_post(client, fleet, **form, client_id=shared["client_id"]) == "allow"
    assert await _user_post(client, fleet, **form) == "deny"


async def test_user_of_a_disabled_device_is_denied(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    response = await client.put(
        f"{fleet.roma}/devices/{device['id']}", json={"status": 1}, headers=fleet.roma_headers
    )
    assert response.status_code == 200
    form = {"username": user_of(device), "password": password_of(device)}
    assert await _user_get(client, fleet, **form) == "deny"
    assert await _user_post(client, fleet, **form) == "deny"


@pytest.mark.parametrize("check", ["vhost", "resource", "topic"])
async def test_permission_checks(client: httpx.AsyncClient, runtime: Runtime, check: str) -> None:
    fleet = await new_fleet(client, runtime)
    enabled = await roma_device(client, fleet, device_name="enabled")
    disabled = await roma_device(client, fleet, device_name="disabled")
    response = await client.put(
        f"{fleet.roma}/devices/{disabled['id']}", json={"status": 1}, headers=fleet.roma_headers
    )
    assert response.status_code == 200
    path = f"{_base(fleet)}/{check}"
    extra = {"vhost": "/", "resource": "exchange", "name": "amq.topic", "permission": "write"}

    async def verdict(username: str, method: str) -> str:
        params = {"username": username, **extra}
        if method == "GET":
            return _text(await client.get(path, params=params))
        return _text(await client.post(path, data=params))

    for method in ("GET", "POST"):
        assert await verdict(user_of(enabled), method) == "allow"
        assert await verdict(fleet.product_user, method) == "allow"
        assert await verdict(user_of(disabled), method) == "deny"
        assert await verdict("nobody-at-all", method) == "deny"
        assert await verdict("", method) == "deny"
        assert await verdict("u" * 300, method) == "deny"


async def test_bad_tokens_and_unknown_checks_are_denied(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    form = {"username": user_of(device), "password": password_of(device)}
    reader = await new_caller(runtime, [scopes.THINGS_READ], tenant=fleet.caller.tenant)
    for token in ("fk_not-a-token", "nonsense", reader.token):
        base = _base(fleet, token)
        assert _text(await client.get(base + "/user", params=form)) == "deny"
        assert _text(await client.post(base + "/user", data=form)) == "deny"
        for check in ("vhost", "resource", "topic"):
            assert _text(await client.get(f"{base}/{check}", params=form)) == "deny"
    assert _text(await client.get(_base(fleet) + "/other", params=form)) == "deny"
    assert _text(await client.get(_base(fleet) + "/user", params=form)) == "allow"
    # No decision was taken for a bad token, so none was audited.
    assert await denials(runtime, fleet.caller.tenant_id) == []


async def test_odd_post_bodies_are_denied_not_errors(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    user, password = user_of(device), password_of(device)
    form = "application/x-www-form-urlencoded"
    bodies = [
        (form, b"username=\xff\xfe&password=x"),
        (form, "&".join(f"f{i}=v" for i in range(500)).encode()),
        (form, b"username=" + user.encode() + b"&password=" + b"p" * 70000),
        ("application/json", b'{"username": "' + user.encode() + b'"}'),
        ("multipart/form-data; boundary=xyz", b"--xyz--\r\n"),
    ]
    for check in ("user", "vhost", "topic"):
        for content_type, raw in bodies:
            response = await client.post(
                f"{_base(fleet)}/{check}", content=raw, headers={"Content-Type": content_type}
            )
            assert _text(response) == "deny", (check, content_type, raw[:30])
    # The form spelling RabbitMQ uses (with a charset) is understood.
    response = await client.post(
        _base(fleet) + "/user",
        content=urlencode({"username": user, "password": password}).encode(),
        headers={"Content-Type": form + "; charset=utf-8"},
    )
    assert _text(response) == "allow"
