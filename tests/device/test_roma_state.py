"""What the ROMA surface leaves in the database: hashed secrets, history, audit."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select

from fleetkey.audit.models import EntityHistory
from fleetkey.runtime import Runtime
from fleetkey.things.models import Device, Product
from tests.device.support import (
    CHOSEN,
    OTHER_CHOSEN,
    Fleet,
    audit_events,
    dumped,
    new_fleet,
    password_of,
    roma_device,
    user_of,
)


async def _row(runtime: Runtime, model: type[Device] | type[Product], ident: object):
    async with runtime.db.unit_of_work(write=False) as session:
        return await session.get(model, int(str(ident)))


async def _history(runtime: Runtime, fleet: Fleet, kind: str, ident: object) -> list[EntityHistory]:
    async with runtime.db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(EntityHistory)
            .where(
                EntityHistory.tenant_id == fleet.caller.tenant_id,
                EntityHistory.entity_type == kind,
                EntityHistory.entity_id == str(ident),
            )
            .order_by(EntityHistory.id)
        )
        return list(rows)


def _keyed(runtime: Runtime, password: str) -> str:
    return hmac.new(runtime.vault.pepper, password.encode(), hashlib.sha256).hexdigest()


async def test_generated_secrets_are_stored_keyed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    row = await _row(runtime, Device, device["id"])
    assert row is not None
    assert row.user_name == user_of(device)
    assert (row.secret_kind, row.secret_hash) == ("keyed", _keyed(runtime, password_of(device)))
    assert password_of(device) not in row.secret_hash

    product = await _row(runtime, Product, fleet.product["id"])
    assert product is not None
    assert product.user_name == fleet.product_user
    assert product.secret_kind == "keyed"
    assert product.secret_hash == _keyed(runtime, fleet.product_password)


async def test_chosen_secrets_are_stored_with_argon2id(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet, user_name="chosen-device-3", password=CHOSEN)
    row = await _row(runtime, Device, device["id"])
    assert row is not None and row.secret_hash is not None
    assert row.secret_kind == "argon2id"
    assert row.secret_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert CHOSEN not in row.secret_hash
    assert PasswordHasher().verify(row.secret_hash, CHOSEN)

    response = await client.put(
        f"{fleet.roma}/products/{fleet.product['id']}/authentication",
        json={"password": OTHER_CHOSEN},
        headers=fleet.roma_headers,
    )
    assert response.status_code == 200
    product = await _row(runtime, Product, fleet.product["id"])
    assert product is not None and product.secret_hash is not None
    assert product.secret_kind == "argon2id"
    assert product.secret_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(product.secret_hash, OTHER_CHOSEN)


async def test_a_reset_changes_the_kind_both_ways(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    path = f"{fleet.roma}/devices/{device['id']}/authentication"
    response = await client.put(path, json={"password": CHOSEN}, headers=fleet.roma_headers)
    assert response.json() == {"user_name": user_of(device), "password": CHOSEN}
    row = await _row(runtime, Device, device["id"])
    assert row is not None and row.secret_kind == "argon2id"

    response = await client.put(path, json={}, headers=fleet.roma_headers)
    shown = response.json()
    assert shown["user_name"] == user_of(device) and shown["password"] not in (CHOSEN, "********")
    row = await _row(runtime, Device, device["id"])
    assert row is not None
    assert (row.secret_kind, row.secret_hash) == ("keyed", _keyed(runtime, shown["password"]))


async def test_history_rows_on_create_update_and_reset(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    base = f"{fleet.roma}/devices/{device['id']}"
    response = await client.put(
        base, json={"status": 1, "description": "paused"}, headers=fleet.roma_headers
    )
    assert response.status_code == 200
    response = await client.put(
        base + "/authentication", json={"password": CHOSEN}, headers=fleet.roma_headers
    )
    assert response.status_code == 200
    response = await client.put(base + "/authentication", json={}, headers=fleet.roma_headers)
    assert response.status_code == 200
    last_password = response.json()["password"]

    rows = await _history(runtime, fleet, "device", device["id"])
    assert [r.version for r in rows] == [1, 2, 3, 4]
    assert [r.data["status"] for r in rows] == [0, 1, 1, 1]
    assert [r.data["description"] for r in rows] == [None, "paused", "paused", "paused"]
    assert [r.data["secret_kind"] for r in rows] == ["keyed", "keyed", "argon2id", "keyed"]
    assert all(r.data["user_name"] == user_of(device) for r in rows)
    assert all("secret_hash" not in r.data for r in rows)

    stored = await _row(runtime, Device, device["id"])
    assert stored is not None and stored.secret_hash is not None
    text = json.dumps([r.data for r in rows])
    for secret in (password_of(device), CHOSEN, last_password, stored.secret_hash, "$argon2"):
        assert secret not in text


async def test_reset_audit_events_hold_no_secret(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    base = f"{fleet.roma}/devices/{device['id']}/authentication"
    response = await client.put(base, json={"password": CHOSEN}, headers=fleet.roma_headers)
    assert response.status_code == 200
    response = await client.put(
        base, json={"user_name": "renamed-device-2"}, headers=fleet.roma_headers
    )
    assert response.status_code == 200
    response = await client.put(
        f"{fleet.roma}/products/{fleet.product['id']}/authentication",
        json={},
        headers=fleet.roma_headers,
    )
    assert response.status_code == 200
    product_password = response.json()["password"]

    events = await audit_events(runtime, fleet.caller.tenant_id)
    device_events = [
        e for e in events if (e.entity_type, e.entity_id) == ("device", str(device["id"]))
    ]
    assert [e.action for e in device_events] == ["create", "reset_credential", "reset_credential"]
    first, second = device_events[1], device_events[2]
    assert first.changes["before"]["secret_kind"] == "keyed"
    assert first.changes["after"]["secret_kind"] == "argon2id"
    assert second.changes["before"]["user_name"] == user_of(device)
    assert second.changes["after"]["user_name"] == "renamed-device-2"
    assert "secret_kind" not in second.changes["after"]  # the password was kept
    resets = [e for e in events if e.action == "reset_credential"]
    assert {e.entity_type for e in resets} == {"device", "product"}

    # Through the audit API as well.
    response = await client.get(
        "/api/v1/audit",
        params={"entity_type": "device", "entity_id": str(device["id"])},
        headers=fleet.caller.headers,
    )
    assert [e["action"] for e in response.json()] == [
        "reset_credential",
        "reset_credential",
        "create",
    ]

    device_row = await _row(runtime, Device, device["id"])
    product_row = await _row(runtime, Product, fleet.product["id"])
    assert device_row is not None and product_row is not None
    text = dumped(events) + response.text
    assert "secret_hash" not in text
    for secret in (
        password_of(device),
        CHOSEN,
        fleet.product_password,
        product_password,
        device_row.secret_hash,
        product_row.secret_hash,
    ):
        assert secret is not None and secret not in text
