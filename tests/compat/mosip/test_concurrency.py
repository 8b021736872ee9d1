"""Concurrent registrations of one serial under one provider: exactly one wins."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from fleetkey.runtime import Runtime
from tests.compat.mosip import doc
from tests.compat.mosip.support import (
    DUPLICATE_SERIAL,
    call,
    counts,
    failed,
    is_uuid,
    signed_payload,
    whitelist,
)
from tests.compat.mosip.world import World, build_world
from tests.conftest import Caller

RACERS = 32


async def race(w: World, purpose: str = "AUTH") -> tuple[list[str], Counter[tuple[str, str]]]:
    bodies = await asyncio.gather(
        *(
            call(
                w.client,
                "POST",
                "/registereddevices",
                w.headers,
                json=doc.registration(w.provider_id, purpose=purpose),
            )
            for _ in range(RACERS)
        )
    )
    codes = [signed_payload(b["response"])["deviceCode"] for b in bodies if b["errors"] is None]
    errors: Counter[tuple[str, str]] = Counter()
    for b in bodies:
        if b["errors"] is not None:
            errors.update(failed(b))
    return codes, errors


@pytest.mark.parametrize("warm", [False, True], ids=["first-use", "warm"])
async def test_one_of_32_concurrent_registrations_wins(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime, warm: bool
) -> None:
    w = await build_world(client, caller.headers)
    if warm:
        # The tenant's signing key already exists; "first-use" races its creation too.
        await w.register_ok(serial="SN-warm")
    before = await counts(runtime, caller.tenant_id)
    codes, errors = await race(w)
    assert len(codes) == 1 and is_uuid(codes[0])
    assert errors == Counter({DUPLICATE_SERIAL: RACERS - 1})
    after = await counts(runtime, caller.tenant_id)
    assert after["registered_devices"] == before["registered_devices"] + 1
    assert after["entity_history"] == before["entity_history"] + 1
    assert after["audit_events"] == before["audit_events"] + 1
    assert (await w.validate(codes[0]))["errors"] is None
    jwks = (await client.get("/.well-known/jwks.json", params={"tenant": caller.tenant})).json()
    assert len(jwks["keys"]) == 1


async def test_one_of_32_concurrent_white_listed_registrations_wins(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    w = await build_world(client, caller.headers)
    entry = await whitelist(client, caller.headers, "1801160992")
    codes, errors = await race(w, purpose="REGISTRATION")
    assert codes == [entry]
    assert errors == Counter({DUPLICATE_SERIAL: RACERS - 1})
    assert (await counts(runtime, caller.tenant_id))["registered_devices"] == 1
