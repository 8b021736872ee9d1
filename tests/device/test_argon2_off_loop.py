"""Argon2id comparisons run in worker threads: the event loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio

import httpx

from fleetkey.runtime import Runtime
from tests.device.support import ALLOW, CHOSEN, DENY, connect, new_fleet, roma_device


async def test_healthz_answers_while_four_argon2_checks_run(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    fleet = await new_fleet(client, runtime)
    users = [f"argon-device-{i}" for i in range(4)]
    for i, user in enumerate(users):
        await roma_device(client, fleet, device_name=f"argon-{i}", user_name=user, password=CHOSEN)

    # Four different devices: none of the comparisons can come from the cache.
    checks = [
        asyncio.create_task(connect(client, fleet.broker, user, CHOSEN if i % 2 else CHOSEN[::-1]))
        for i, user in enumerate(users)
    ]
    health = await client.get("/healthz")
    answers = await asyncio.gather(*checks)

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert [(r.status_code, r.json()) for r in answers] == [
        (200, DENY),
        (200, ALLOW),
        (200, DENY),
        (200, ALLOW),
    ]
