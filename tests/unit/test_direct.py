"""``db.direct``: single statements on the driver, and the cache that never goes stale."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from fleetkey.db.direct import Statement
from fleetkey.runtime import Runtime
from fleetkey.tenants import service as tenants
from fleetkey.things.models import AuthFailures
from tests.conftest import Store

_FAILURES = Statement(
    select(AuthFailures.failures, AuthFailures.locked_until, AuthFailures.window_started_at).where(
        AuthFailures.tenant_id == bindparam("tenant_id"), AuthFailures.subject == bindparam("s")
    )
)
_BUMP = Statement(
    update(AuthFailures)
    .where(AuthFailures.tenant_id == bindparam("tenant_id"))
    .values(failures=AuthFailures.failures + 1, locked_until=bindparam("until"))
)


async def _tenant_with_failures(runtime: Runtime, name: str, subjects: int) -> str:
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, name)
        for i in range(subjects):
            session.add(
                AuthFailures(
                    tenant_id=tenant.id,
                    subject=f"device:{i}",
                    window_started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                    failures=0,
                )
            )
        return tenant.id


async def test_reads_and_writes_through_the_column_types(runtime: Runtime) -> None:
    tenant_id = await _tenant_with_failures(runtime, "direct-types", 3)
    direct = runtime.db.direct
    row = await direct.first(_FAILURES, tenant_id=tenant_id, s="device:1")
    # A UTCDateTime reads back aware, on SQLite (stored as naive text) as on PostgreSQL.
    assert row == {
        "failures": 0,
        "locked_until": None,
        "window_started_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    until = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert await direct.execute(_BUMP, tenant_id=tenant_id, until=until) == 3
    row = await direct.first(_FAILURES, tenant_id=tenant_id, s="device:2")
    assert row is not None and row["failures"] == 1 and row["locked_until"] == until
    assert await direct.first(_FAILURES, tenant_id=tenant_id, s="device:9") is None
    # The ORM sees what the direct write committed.
    async with runtime.db.unit_of_work(write=False) as session:
        stored = await session.get(AuthFailures, (tenant_id, "device:0"))
        assert stored is not None and stored.failures == 1 and stored.locked_until == until


async def test_unchanged_cache_forgets_on_any_commit(runtime: Runtime, store: Store) -> None:
    cache = runtime.db.direct.cache("test.unchanged")
    assert runtime.db.direct.cache("test.unchanged") is cache
    known, version = cache.lookup("k")
    assert known is None
    cache.keep("k", 42, version)
    if store.backend == "postgresql":
        # No cheap change signal: nothing is kept.
        assert version is None
        assert cache.lookup("k") == (None, None)
        return
    assert cache.lookup("k") == (42, version)
    # A commit by another connection (the ORM's) drops every answer.
    await _tenant_with_failures(runtime, "direct-cache", 1)
    known, newer = cache.lookup("k")
    assert known is None and newer != version
    # An answer read before a commit is not kept under the newer version.
    cache.keep("late", 1, version)
    assert cache.lookup("late")[0] is None
