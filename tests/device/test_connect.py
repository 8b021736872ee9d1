"""POST /api/v1/auth/device: who may ask, what the answer is, and what the audit log keeps."""

from __future__ import annotations

import httpx

from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.conftest import Caller, new_caller
from tests.device.support import (
    ALLOW,
    AUTH,
    CHOSEN,
    DENY,
    allowed,
    audit_events,
    connect,
    denials,
    dumped,
    native_device,
    new_fleet,
    password_of,
    roma_device,
    user_of,
)

UNAUTHENTICATED = {
    "error": {
        "code": "auth.unauthenticated",
        "message": "a broker token is required",
        "details": None,
    }
}


# ---------------------------------------------------------------- the broker's token


async def test_no_token_is_401_with_the_error_envelope(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    body = {"username": user_of(device), "password": password_of(device)}

    response = await client.post(AUTH, json=body)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED

    response = await client.post(AUTH, json=body, headers={"Authorization": "Bearer fk_nope"})
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


async def test_a_token_without_the_broker_scope_is_401_too(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Current behaviour: a valid token lacking ``device:authenticate`` gets the same 401 as
    no token (the native API would answer 403 auth.forbidden)."""
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    for granted in ([scopes.THINGS_READ], [scopes.THINGS_WRITE, scopes.AUDIT_READ]):
        other = await new_caller(runtime, granted, tenant=fleet.caller.tenant)
        response = await connect(client, other, user_of(device), password_of(device))
        assert response.status_code == 401
        assert response.json() == UNAUTHENTICATED
    # No decision was taken, so nothing was audited as a denial.
    assert await denials(runtime, fleet.caller.tenant_id) == []


async def test_a_full_access_token_may_ask_too(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    response = await connect(client, fleet.caller, user_of(device), password_of(device))
    assert (response.status_code, response.json()) == (200, ALLOW)


async def test_a_broker_only_sees_its_own_tenant(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    stranger: Caller = await new_caller(runtime, [scopes.DEVICE_AUTH])
    response = await connect(client, stranger, user_of(device), password_of(device))
    assert (response.status_code, response.json()) == (200, DENY)
    assert await denials(runtime, stranger.tenant_id) == [("", "unknown user name")]


# ---------------------------------------------------------------- one-device-one-secret


async def test_own_credential_with_and_without_client_id(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    other = await roma_device(client, fleet, device_name="second", node_id="node-9")
    user, password = user_of(device), password_of(device)

    assert await allowed(client, fleet, user, password)
    assert await allowed(client, fleet, user, password, device["client_id"])
    assert not await allowed(client, fleet, user, password, other["client_id"])
    assert not await allowed(client, fleet, user, password + "x")
    assert not await allowed(client, fleet, user, password_of(other))
    # EMQX's placeholder is spelled ``clientid``; both spellings are read.
    response = await client.post(
        AUTH,
        json={"username": user, "password": password, "clientid": other["client_id"]},
        headers=fleet.broker.headers,
    )
    assert response.json() == DENY
    response = await client.post(
        AUTH,
        json={"username": user, "password": password, "clientid": device["client_id"]},
        headers=fleet.broker.headers,
    )
    assert response.json() == ALLOW

    # A client id of another device names no subject (the password is not even checked).
    assert await denials(runtime, fleet.caller.tenant_id) == [
        ("", "client id does not belong to the device"),
        (str(device["id"]), "wrong password"),
        (str(device["id"]), "wrong password"),
        ("", "client id does not belong to the device"),
    ]


async def test_a_chosen_password_connects(client: httpx.AsyncClient, runtime: Runtime) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet, user_name="sensor-chosen-1", password=CHOSEN)
    assert device["authentication"] == {"user_name": "sensor-chosen-1", "password": CHOSEN}
    assert await allowed(client, fleet, "sensor-chosen-1", CHOSEN)
    assert await allowed(client, fleet, "sensor-chosen-1", CHOSEN, device["client_id"])
    assert not await allowed(client, fleet, "sensor-chosen-1", CHOSEN.lower())
    assert not await allowed(client, fleet, "sensor-chosen-1", CHOSEN[:-1])


# ---------------------------------------------------------------- one-model-one-secret


async def test_product_credential_with_the_client_id_of_a_product_device(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    shared = await native_device(client, fleet, credential="product")
    assert "authentication" not in shared
    user, password = fleet.product_user, fleet.product_password

    assert await allowed(client, fleet, user, password, shared["client_id"])
    assert not await allowed(client, fleet, user, password)  # which device?
    assert not await allowed(client, fleet, user, password + "x", shared["client_id"])
    assert not await allowed(client, fleet, user, password, "D0000000000000nope")

    assert await denials(runtime, fleet.caller.tenant_id) == [
        ("", "product credential without a client id"),
        (str(shared["id"]), "wrong password"),
        ("", "client id is not a device of the product"),
    ]


async def test_a_device_with_its_own_credential_cannot_use_the_products(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    own = await native_device(client, fleet, credential="own")
    user, password = fleet.product_user, fleet.product_password

    assert not await allowed(client, fleet, user, password, own["client_id"])
    assert await allowed(client, fleet, user_of(own), password_of(own), own["client_id"])
    assert await denials(runtime, fleet.caller.tenant_id) == [("", "device has its own credential")]


async def test_a_product_credential_only_covers_its_own_products_devices(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    response = await client.post(
        fleet.roma + "/products",
        json={"name": "valve", "manufacturer_id": "acme", "model": "V2"},
        headers=fleet.roma_headers,
    )
    assert response.status_code == 201, response.text
    valve = response.json()
    shared = await native_device(client, fleet, credential="product")  # a thermostat

    valve_user, valve_password = (
        valve["authentication"]["user_name"],
        valve["authentication"]["password"],
    )
    assert not await allowed(client, fleet, valve_user, valve_password, shared["client_id"])
    assert await allowed(
        client, fleet, fleet.product_user, fleet.product_password, shared["client_id"]
    )
    assert await denials(runtime, fleet.caller.tenant_id) == [
        ("", "client id is not a device of the product")
    ]


async def test_a_device_user_name_with_the_product_password_is_denied(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    own = await roma_device(client, fleet)
    assert not await allowed(client, fleet, user_of(own), fleet.product_password)
    assert await denials(runtime, fleet.caller.tenant_id) == [(str(own["id"]), "wrong password")]


# ---------------------------------------------------------------- denials look alike


async def test_every_denial_has_the_same_answer_and_its_own_audit_reason(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    wrong = await roma_device(client, fleet, device_name="wrong")
    disabled = await roma_device(client, fleet, device_name="disabled")
    deleted = await roma_device(client, fleet, device_name="deleted")
    locked = await roma_device(client, fleet, device_name="locked")
    ok = await roma_device(client, fleet, device_name="fine")

    response = await client.put(
        f"{fleet.roma}/devices/{disabled['id']}", json={"status": 1}, headers=fleet.roma_headers
    )
    assert response.status_code == 200, response.text
    response = await client.delete(
        f"{fleet.roma}/devices/{deleted['id']}", headers=fleet.roma_headers
    )
    assert response.status_code == 204, response.text
    for _ in range(runtime.settings.device_auth_max_failures):
        assert not await allowed(client, fleet, user_of(locked), "Not-The-Passw0rd!")
    before = len(await denials(runtime, fleet.caller.tenant_id))

    attempts = {
        "wrong password": (user_of(wrong), password_of(wrong) + "x"),
        "unknown user name": ("nobody-at-all-here", password_of(wrong)),
        "device is disabled": (user_of(disabled), password_of(disabled)),
        "deleted": (user_of(deleted), password_of(deleted)),
        "locked after failed attempts": (user_of(locked), password_of(locked)),
    }
    answers = {}
    for why, (user, password) in attempts.items():
        response = await connect(client, fleet.broker, user, password)
        answers[why] = (response.status_code, response.headers["content-type"], response.content)
    assert set(answers.values()) == {(200, "application/json", b'{"result":"deny"}')}

    response = await connect(client, fleet.broker, user_of(ok), password_of(ok))
    assert (response.status_code, response.json()) == (200, ALLOW)

    reasons = (await denials(runtime, fleet.caller.tenant_id))[before:]
    assert reasons == [
        (str(wrong["id"]), "wrong password"),
        ("", "unknown user name"),
        (str(disabled["id"]), "device is disabled"),
        ("", "unknown user name"),  # a deleted device is unknown
        (str(locked["id"]), "locked after failed attempts"),
    ]

    # The same reasons through the audit API, for a full-access token of the tenant.
    response = await client.get(
        "/api/v1/audit",
        params={"entity_type": "device", "limit": 1000},
        headers=fleet.caller.headers,
    )
    assert response.status_code == 200, response.text
    listed = [
        (e["entity_id"], e["changes"]["reason"])
        for e in reversed(response.json())
        if e["action"] == "auth_denied"
    ]
    assert listed[before:] == reasons
    assert all(
        e["actor"] == f"tester@{fleet.caller.tenant}"
        for e in response.json()
        if e["action"] == "auth_denied"
    )
    denied = [e for e in response.json() if e["action"] == "auth_denied"]
    assert {tuple(sorted(e["changes"])) for e in denied} == {("client_id", "reason", "username")}

    # No password (right or wrong, generated or tried) is in any audit row of the tenant.
    leaked = dumped(await audit_events(runtime, fleet.caller.tenant_id)) + response.text
    for device in (wrong, disabled, deleted, locked, ok):
        assert password_of(device) not in leaked
    assert "Not-The-Passw0rd!" not in leaked
    assert fleet.product_password not in leaked


async def test_malformed_requests_are_denied_not_errors(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    user, password = user_of(device), password_of(device)
    headers = {**fleet.broker.headers, "Content-Type": "application/json"}
    bodies = [
        b"",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"{" * 5000,
        b'{"username": "' + user.encode() + b'"}',
        b'{"password": "' + password.encode() + b'"}',
        b'{"username": 12, "password": 34}',
        b'{"username": "' + b"u" * 257 + b'", "password": "x"}',
        b'{"username": "' + user.encode() + b'", "password": "' + b"p" * 257 + b'"}',
        b'{"username": "'
        + user.encode()
        + b'", "password": "x", "client_id": "'
        + b"c" * 257
        + b'"}',
    ]
    for raw in bodies:
        response = await client.post(AUTH, content=raw, headers=headers)
        assert (response.status_code, response.json()) == (200, DENY), raw[:40]
    reasons = {r for _, r in await denials(runtime, fleet.caller.tenant_id)}
    assert reasons == {"missing or oversized credentials"}
    assert await allowed(client, fleet, user, password)
