"""Concurrent credential resets of one device end in one consistent state."""

from __future__ import annotations

import asyncio

import httpx

from fleetkey.runtime import Runtime
from tests.conftest import Store
from tests.device.support import ALLOW, AUTH, new_fleet, node, roma_device, user_of

PASSWORDS = [f"Conc-Reset#{i:02d}abcXYZ" for i in range(12)]


async def test_concurrent_resets_leave_exactly_one_working_password(
    client: httpx.AsyncClient, runtime: Runtime, store: Store
) -> None:
    fleet = await new_fleet(client, runtime)
    device = await roma_device(client, fleet)
    url = f"{fleet.roma}/devices/{device['id']}/authentication"

    async def reset(password: str) -> httpx.Response:
        return await client.put(url, json={"password": password}, headers=fleet.roma_headers)

    answers = await asyncio.gather(*(reset(p) for p in PASSWORDS))
    # Each reset either applied (200) or lost a race cleanly (409); never a server error.
    assert {a.status_code for a in answers} <= {200, 409}
    applied = [p for p, a in zip(PASSWORDS, answers, strict=True) if a.status_code == 200]
    assert applied
    for lost in (a for a in answers if a.status_code == 409):
        assert lost.json()["error_code"] == "ROMA.00110001"
    # Exactly one of the passwords works now, and it is one whose reset was applied. (Asked
    # on a node whose lockout does not trip while eleven wrong candidates are tried.)
    working = []
    async with node(store, device_auth_max_failures=100) as other:
        for password in PASSWORDS:
            answer = await other.post(
                AUTH,
                json={"username": user_of(device), "password": password},
                headers=fleet.broker.headers,
            )
            if answer.json() == ALLOW:
                working.append(password)
    assert len(working) == 1
    assert working[0] in applied
    # The stored record moved once per applied reset.
    shown = await client.get(f"{fleet.roma}/devices/{device['id']}", headers=fleet.roma_headers)
    assert shown.status_code == 200
    history = await client.get(
        "/api/v1/audit",
        params={"entity_type": "device", "entity_id": str(device["id"])},
        headers=fleet.caller.headers,
    )
    resets = [e for e in history.json() if e["action"] == "reset_credential"]
    assert len(resets) == len(applied)
