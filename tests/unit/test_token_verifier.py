"""``TokenVerifier``: the per-process token cache, its expiry and its single read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fleetkey.runtime import Runtime
from fleetkey.tenants import service as tenants
from fleetkey.tenants.service import TokenVerifier
from tests.conftest import new_caller


class _CountingReads:
    """``db.direct.first`` of a runtime, counted, with an optional pause or failure."""

    def __init__(self, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None
        original = runtime.db.direct.first

        async def first(statement: Any, **params: Any) -> Any:
            self.calls += 1
            if self.gate is not None:
                await self.gate.wait()
            if self.fail is not None:
                raise self.fail
            return await original(statement, **params)

        monkeypatch.setattr(runtime.db.direct, "first", first)


async def test_concurrent_requests_for_an_expired_token_read_it_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await new_caller(runtime, scopes=["device:authenticate"])
    verifier = TokenVerifier(runtime.vault, ttl=60.0)
    reads = _CountingReads(runtime, monkeypatch)
    reads.gate = asyncio.Event()
    waiting = [asyncio.create_task(verifier.verify(runtime.db, caller.token)) for _ in range(20)]
    await asyncio.sleep(0.01)
    reads.gate.set()
    principals = await asyncio.gather(*waiting)
    assert reads.calls == 1
    assert {p.tenant_id if p else None for p in principals} == {caller.tenant_id}
    assert (await verifier.verify(runtime.db, caller.token)) == principals[0]
    assert reads.calls == 1  # cached


async def test_a_revoked_token_stops_working_when_its_entry_expires(runtime: Runtime) -> None:
    caller = await new_caller(runtime)
    verifier = TokenVerifier(runtime.vault, ttl=0.2)
    principal = await verifier.verify(runtime.db, caller.token)
    assert principal is not None and principal.tenant_id == caller.tenant_id
    async with runtime.db.unit_of_work() as session:
        await tenants.revoke_token(session, principal.token_id)
    assert await verifier.verify(runtime.db, caller.token) == principal  # within the ttl
    await asyncio.sleep(0.25)
    assert await verifier.verify(runtime.db, caller.token) is None
    assert await verifier.verify(runtime.db, "fk_unknown") is None
    assert await verifier.verify(runtime.db, "not-a-token") is None


async def test_a_failed_read_fails_every_waiter_and_is_not_cached(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await new_caller(runtime)
    verifier = TokenVerifier(runtime.vault, ttl=60.0)
    reads = _CountingReads(runtime, monkeypatch)
    reads.gate, reads.fail = asyncio.Event(), OSError("store unreachable")
    waiting = [asyncio.create_task(verifier.verify(runtime.db, caller.token)) for _ in range(3)]
    await asyncio.sleep(0.01)
    reads.gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(o) for o in outcomes] == [OSError] * 3 and reads.calls == 1
    reads.fail = None
    principal = await verifier.verify(runtime.db, caller.token)
    assert principal is not None and reads.calls == 2


async def test_a_waiter_reads_itself_when_the_reading_request_is_cancelled(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await new_caller(runtime)
    verifier = TokenVerifier(runtime.vault, ttl=60.0)
    reads = _CountingReads(runtime, monkeypatch)
    reads.gate = asyncio.Event()
    reader = asyncio.create_task(verifier.verify(runtime.db, caller.token))
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(verifier.verify(runtime.db, caller.token))
    await asyncio.sleep(0.01)
    reader.cancel()  # a client disconnect
    await asyncio.sleep(0.01)
    reads.gate.set()
    principal = await waiter
    assert principal is not None and principal.tenant_id == caller.tenant_id
    assert reader.cancelled() and reads.calls == 2
