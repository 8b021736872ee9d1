"""Audit log, change feed and entity history: one record of every change."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import select, text

from fleetkey.audit.models import AuditEvent, EntityHistory
from fleetkey.runtime import Runtime
from tests.api.helpers import (
    API,
    PROVIDER,
    bearer,
    build_fleet,
    create_provider,
    error,
    tick,
    token_named,
)
from tests.conftest import Caller


async def _audit(client: httpx.AsyncClient, caller: Caller, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(API + "/audit", params=params, headers=caller.headers)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_every_change_is_audited_with_actor_and_request_id(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    response = await client.post(
        API + "/device-providers",
        json=PROVIDER,
        headers={**caller.headers, "X-Request-Id": "abc123"},
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "abc123"
    provider = response.json()
    update = await client.put(
        f"{API}/device-providers/{provider['id']}",
        json={**PROVIDER, "email": "new@mosip.io"},
        headers={**caller.headers, "X-Request-Id": "def456"},
    )
    assert update.headers["x-request-id"] == "def456"
    updated = update.json()

    events = await _audit(client, caller)
    assert [(e["action"], e["request_id"]) for e in events] == [
        ("update", "def456"),
        ("create", "abc123"),
    ]
    newest, oldest = events
    assert oldest == {
        "id": oldest["id"],
        "occurred_at": provider["created_at"],
        "actor": f"tester@{caller.tenant}",
        "request_id": "abc123",
        "action": "create",
        "entity_type": "device_provider",
        "entity_id": provider["id"],
        "changes": {"after": provider},
    }
    assert newest == {
        "id": newest["id"],
        "occurred_at": updated["updated_at"],
        "actor": f"tester@{caller.tenant}",
        "request_id": "def456",
        "action": "update",
        "entity_type": "device_provider",
        "entity_id": provider["id"],
        "changes": {
            "before": {
                "email": "test@mosip.io",
                "updated_at": None,
                "updated_by": None,
                "version": 1,
            },
            "after": {
                "email": "new@mosip.io",
                "updated_at": updated["updated_at"],
                "updated_by": f"tester@{caller.tenant}",
                "version": 2,
            },
        },
    }
    assert newest["id"] > oldest["id"]


async def test_a_generated_request_id_is_echoed_and_recorded(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    response = await client.post(API + "/device-providers", json=PROVIDER, headers=caller.headers)
    rid = response.headers["x-request-id"]
    assert len(rid) == 32 and int(rid, 16) >= 0
    [event] = await _audit(client, caller)
    assert event["request_id"] == rid
    # an unusable X-Request-Id (too long) is replaced, not recorded
    long = await client.post(
        API + "/whitelisted-devices",
        json={"serial_number": "S"},
        headers={**caller.headers, "X-Request-Id": "x" * 65},
    )
    assert long.headers["x-request-id"] != "x" * 65
    assert len(long.headers["x-request-id"]) == 32
    assert (await _audit(client, caller))[0]["request_id"] == long.headers["x-request-id"]


async def test_audit_filters(client: httpx.AsyncClient, runtime: Runtime, caller: Caller) -> None:
    first = await create_provider(client, caller, vendor_name="First")
    await tick()
    other = bearer(await token_named(runtime, caller.tenant, "robot@ops", []))
    second = (
        await client.post(
            API + "/device-providers", json={**PROVIDER, "vendor_name": "Second"}, headers=other
        )
    ).json()
    await tick()
    entry = (
        await client.post(
            API + "/whitelisted-devices", json={"serial_number": "S-1"}, headers=caller.headers
        )
    ).json()

    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [r["entity_id"] for r in rows]

    assert ids(await _audit(client, caller)) == [entry["id"], second["id"], first["id"]]
    assert ids(await _audit(client, caller, entity_type="device_provider")) == [
        second["id"],
        first["id"],
    ]
    assert ids(await _audit(client, caller, entity_type="whitelisted_device")) == [entry["id"]]
    assert ids(await _audit(client, caller, entity_id=first["id"])) == [first["id"]]
    assert ids(await _audit(client, caller, by="robot@ops")) == [second["id"]]
    assert ids(await _audit(client, caller, by=f"tester@{caller.tenant}")) == [
        entry["id"],
        first["id"],
    ]
    assert await _audit(client, caller, by="nobody") == []
    assert ids(await _audit(client, caller, since=second["created_at"])) == [
        entry["id"],
        second["id"],
    ]
    assert ids(await _audit(client, caller, until=second["created_at"])) == [first["id"]]
    assert ids(
        await _audit(client, caller, since=second["created_at"], until=entry["created_at"])
    ) == [second["id"]]
    assert ids(await _audit(client, caller, since="2999-01-01T00:00:00Z")) == []
    assert ids(
        await _audit(
            client, caller, entity_type="device_provider", by="robot@ops", since=first["created_at"]
        )
    ) == [second["id"]]
    # paging back through the log
    newest = await _audit(client, caller, limit=1)
    assert ids(newest) == [entry["id"]]
    assert ids(await _audit(client, caller, before_id=newest[0]["id"], limit=2)) == [
        second["id"],
        first["id"],
    ]
    bad = await client.get(API + "/audit", params={"since": "yesterday"}, headers=caller.headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation.invalid"
    assert [d["field"] for d in bad.json()["error"]["details"]] == ["query.since"]


async def test_no_secret_appears_in_any_audit_row(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    fleet = await build_fleet(client, caller)
    await fleet.register()
    await token_named(runtime, caller.tenant, "second@ops", ["registry:read"])
    token_hash = runtime.vault.keyed_hash(caller.token)
    async with runtime.db.unit_of_work(write=False) as session:
        rows = (
            (
                await session.execute(
                    text("SELECT * FROM audit_events WHERE tenant_id = :t"), {"t": caller.tenant_id}
                )
            )
            .mappings()
            .all()
        )
    assert len(rows) == 3  # provider, software, device
    dumped = json.dumps([dict(r) for r in rows], default=str)
    assert caller.token not in dumped
    assert caller.token.removeprefix("fk_") not in dumped
    assert token_hash not in dumped
    assert "private" not in dumped and "BEGIN" not in dumped


# ------------------------------------------------------------------ change feed


async def _changes(
    client: httpx.AsyncClient, caller: Caller, expect: int = 0, **params: Any
) -> dict[str, Any]:
    """One page of the feed. On PostgreSQL an event is served only once every transaction
    that began before it has ended, and xids are server-wide: another process's open
    transaction may hold our events back for a moment, so wait (briefly) for ``expect``."""
    for _ in range(100):
        response = await client.get(API + "/changes", params=params, headers=caller.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if len(body["items"]) >= expect:
            break
        await asyncio.sleep(0.05)
    return body


async def _position(runtime: Runtime, event_id: int) -> str:
    async with runtime.db.unit_of_work(write=False) as session:
        row = await session.get(AuditEvent, event_id)
        assert row is not None
        return f"{row.tx_order}.{row.id}"


async def test_change_feed_in_commit_order_with_resumable_cursor(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    empty = await _changes(client, caller)
    assert empty == {"items": [], "cursor": "-1.0"}

    provider = await create_provider(client, caller)
    await client.put(
        f"{API}/device-providers/{provider['id']}",
        json={**PROVIDER, "address": "moved"},
        headers=caller.headers,
    )
    entry = (
        await client.post(
            API + "/whitelisted-devices", json={"serial_number": "S"}, headers=caller.headers
        )
    ).json()

    page = await _changes(client, caller, expect=3)
    assert [(e["action"], e["entity_type"], e["entity_id"]) for e in page["items"]] == [
        ("create", "device_provider", provider["id"]),
        ("update", "device_provider", provider["id"]),
        ("create", "whitelisted_device", entry["id"]),
    ]
    assert page["items"] == list(reversed(await _audit(client, caller)))
    assert page["cursor"] == await _position(runtime, page["items"][-1]["id"])

    # resuming after the cursor: nothing new yet, and the cursor stays put
    assert await _changes(client, caller, after=page["cursor"]) == {
        "items": [],
        "cursor": page["cursor"],
    }
    deleted = await client.delete(
        f"{API}/whitelisted-devices/{entry['id']}", headers=caller.headers
    )
    assert deleted.status_code == 204
    later = await _changes(client, caller, expect=1, after=page["cursor"])
    assert [(e["action"], e["entity_id"]) for e in later["items"]] == [("delete", entry["id"])]
    assert later["items"][0]["changes"] == {"before": {"serial_number": "S"}}
    assert later["cursor"] == await _position(runtime, later["items"][0]["id"])

    # small pages walk the same events exactly once
    walked: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["after"] = cursor
        chunk = await _changes(client, caller, **params)  # all served by now
        if not chunk["items"]:
            break
        walked += [e["id"] for e in chunk["items"]]
        cursor = chunk["cursor"]
    assert walked == [e["id"] for e in page["items"] + later["items"]]


async def test_an_invalid_cursor_is_422(client: httpx.AsyncClient, caller: Caller) -> None:
    for cursor in ("zz", "1.x", "1.2.3", "-5.0", f"{2**62}.0", "."):
        response = await client.get(
            API + "/changes", params={"after": cursor}, headers=caller.headers
        )
        assert response.status_code == 422, cursor
        assert response.json() == error(
            "validation.invalid", "cursor is not one this feed returned"
        ), cursor


# ------------------------------------------------------------------ entity history


async def test_every_provider_create_and_update_writes_history(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    provider = await create_provider(client, caller)
    url = f"{API}/device-providers/{provider['id']}"
    await tick()
    v2 = await client.put(url, json={**PROVIDER, "address": "Two"}, headers=caller.headers)
    await tick()
    v3 = await client.put(url, json={**PROVIDER, "address": "Three"}, headers=caller.headers)
    refused = await client.put(
        url, json={**PROVIDER, "address": "Four"}, headers={**caller.headers, "If-Match": '"1"'}
    )
    assert refused.status_code == 412

    async with runtime.db.unit_of_work(write=False) as session:
        rows = list(
            await session.scalars(
                select(EntityHistory)
                .where(
                    EntityHistory.entity_type == "device_provider",
                    EntityHistory.entity_id == provider["id"],
                )
                .order_by(EntityHistory.id)
            )
        )
    assert [(r.tenant_id, r.version, r.lookup_key) for r in rows] == [
        (caller.tenant_id, 1, None),
        (caller.tenant_id, 2, None),
        (caller.tenant_id, 3, None),
    ]
    assert [r.data for r in rows] == [provider, v2.json(), v3.json()]
    assert [r.data["address"] for r in rows] == ["Address of Test Vendor", "Two", "Three"]
    assert (
        rows[0].valid_from.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        == (provider["created_at"])
    )
    assert rows[0].valid_from < rows[1].valid_from < rows[2].valid_from
