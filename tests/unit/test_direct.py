"""``db.direct``: single statements on the driver, and the cache of unchanged answers."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import sqlite as sqlite_dialect

from fleetkey.db.direct import (
    INTEGRITY_ERRORS,
    WAL_HEADER_BYTES,
    DirectStore,
    Done,
    Ref,
    Statement,
    Step,
    UnitRefused,
    WriterTurns,
)
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


async def _failure_counts(runtime: Runtime, tenant_id: str) -> dict[str, int]:
    """Every subject's failure count in the tenant, read through the ORM."""
    async with runtime.db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(AuthFailures).where(AuthFailures.tenant_id == tenant_id)
        )
        return {row.subject: row.failures for row in rows}


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


_ALL_FAILURES = Statement(
    select(AuthFailures.subject, AuthFailures.window_started_at)
    .where(AuthFailures.tenant_id == bindparam("tenant_id"))
    .order_by(AuthFailures.subject)
)


async def test_all_reads_every_row_through_the_column_types(runtime: Runtime) -> None:
    tenant_id = await _tenant_with_failures(runtime, "direct-all", 3)
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert await runtime.db.direct.all(_ALL_FAILURES, tenant_id=tenant_id) == [
        {"subject": f"device:{i}", "window_started_at": started} for i in range(3)
    ]
    assert await runtime.db.direct.all(_ALL_FAILURES, tenant_id="no-such-tenant") == []


async def test_unchanged_cache_forgets_on_any_commit(runtime: Runtime, store: Store) -> None:
    tenant_id = await _tenant_with_failures(runtime, "direct-cache", 1)
    cache = runtime.db.direct.cache("test.unchanged")
    assert runtime.db.direct.cache("test.unchanged") is cache
    known, version = await cache.lookup("k")
    assert known is None and version is not None
    cache.keep("k", 42, version)
    assert await cache.lookup("k") == (42, version)
    # A read-only unit of work changes nothing.
    async with runtime.db.unit_of_work(write=False) as session:
        await session.get(AuthFailures, (tenant_id, "device:0"))
    assert await cache.lookup("k") == (42, version)
    # A commit through this process's ORM drops every answer at once.
    await _tenant_with_failures(runtime, "direct-cache-2", 1)
    known, newer = await cache.lookup("k")
    assert known is None and newer != version
    # An answer read before a commit is not kept under the newer version.
    cache.keep("late", 1, version)
    assert (await cache.lookup("late"))[0] is None
    # So does a direct write: a unit, and a batched UPDATE (on PostgreSQL queued apart from
    # the units, DirectStore._pg_updates).
    direct = runtime.db.direct
    writes = (
        (_BUMP, {"tenant_id": tenant_id, "until": None}),
        (_SET_IF, {"tenant_id": tenant_id, "s": "device:0", "seen": 1, "n": 5}),
    )
    for statement, params in writes:
        cache.keep("k", 42, newer)
        assert await cache.lookup("k") == (42, newer)
        assert await direct.execute(statement, **params) == 1
        known, after = await cache.lookup("k")
        assert known is None and after != newer, statement
        newer = after
    assert (await _failure_counts(runtime, tenant_id))["device:0"] == 5


async def test_another_nodes_commit_drops_answers(runtime: Runtime, store: Store) -> None:
    """A commit this process did not make: another SQLite connection, or on PostgreSQL
    another node, whose change arrives as a notification (migration 0006)."""
    tenant_id = await _tenant_with_failures(runtime, "direct-other-node", 1)
    cache = runtime.db.direct.cache("test.other-node")
    _, version = await cache.lookup("k")
    cache.keep("k", 42, version)
    assert (await cache.lookup("k"))[0] == 42
    bump = "UPDATE auth_failures SET failures = failures + 1 WHERE tenant_id = "
    if store.backend == "sqlite":
        with sqlite3.connect(store.data_dir / "fleetkey.db") as other:
            other.execute(bump + "?", (tenant_id,))
        # Seen at once, in the same turn of the loop: the WAL-index header moved.
        assert (await cache.lookup("k"))[0] is None
        return
    other = await asyncpg.connect(store.url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await other.execute(bump + "$1", tenant_id)
    finally:
        await other.close()
    for _ in range(200):  # the notification comes a moment after the commit
        if (await cache.lookup("k"))[0] is None:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the other node's commit did not drop the cached answer")


async def test_sqlite_without_a_wal_index_the_version_is_read_once_per_turn(
    runtime: Runtime, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the database has no WAL index to watch, ``PRAGMA data_version`` tells, read
    once per turn of the event loop."""
    if store.backend != "sqlite":
        pytest.skip("SQLite's own change signal")
    tenant_id = await _tenant_with_failures(runtime, "direct-no-wal-index", 1)
    direct = runtime.db.direct
    monkeypatch.setattr(direct, "_wal_header", None)
    monkeypatch.setattr(direct, "_wal_header_tried", True)
    cache = direct.cache("test.no-wal-index")
    _, version = await cache.lookup("k")
    cache.keep("k", 42, version)
    with sqlite3.connect(store.data_dir / "fleetkey.db") as other:
        other.execute("UPDATE auth_failures SET failures = 7 WHERE tenant_id = ?", (tenant_id,))
    assert (await cache.lookup("k"))[0] == 42  # this turn's reading still stands
    await asyncio.sleep(0)
    assert (await cache.lookup("k"))[0] is None


def test_sqlite_the_wal_index_header_moves_with_every_commit(tmp_path: Path) -> None:
    """What ``DirectStore.data_version`` relies on: any connection's commit rewrites the
    first WAL_HEADER_BYTES of the -shm file; reads and rolled-back writes do not."""
    path = tmp_path / "wal.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x INTEGER)")
    direct = DirectStore(f"sqlite+aiosqlite:///{path}", sqlite_dialect.dialect())
    header = direct._sqlite_wal_header()
    assert header is not None
    try:
        before = header[:WAL_HEADER_BYTES]
        writer.execute("SELECT * FROM t").fetchall()
        writer.execute("BEGIN")
        writer.execute("INSERT INTO t VALUES (1)")
        writer.execute("ROLLBACK")
        assert header[:WAL_HEADER_BYTES] == before
        writer.execute("INSERT INTO t VALUES (2)")
        after = header[:WAL_HEADER_BYTES]
        assert after != before
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.execute("INSERT INTO t VALUES (3)")
        assert header[:WAL_HEADER_BYTES] not in (before, after)
    finally:
        writer.close()
        asyncio.run(direct.close())


_ONE = Statement(
    update(AuthFailures)
    .where(AuthFailures.tenant_id == bindparam("tenant_id"), AuthFailures.subject == bindparam("s"))
    .values(failures=AuthFailures.failures + 1)
)
_ADD = Statement(
    insert(AuthFailures).values(
        tenant_id=bindparam("tenant_id"),
        subject=bindparam("s"),
        window_started_at=bindparam("at"),
        failures=0,
    )
)


async def test_writes_of_one_turn_commit_together_each_with_its_outcome(
    runtime: Runtime,
) -> None:
    tenant_id = await _tenant_with_failures(runtime, "direct-batch", 3)
    direct = runtime.db.direct
    at = datetime(2026, 1, 1, tzinfo=UTC)
    outcomes = await asyncio.gather(
        direct.execute(_ONE, tenant_id=tenant_id, s="device:0"),
        direct.execute(_ONE, tenant_id=tenant_id, s="device:1"),
        direct.execute(_ADD, tenant_id=tenant_id, s="device:2", at=at),  # exists already
        direct.execute(_ONE, tenant_id=tenant_id, s="device:1"),
        direct.execute(_ONE, tenant_id=tenant_id, s="device:9"),  # no such row
        direct.execute(_ADD, tenant_id=tenant_id, s="device:3", at=at),
        return_exceptions=True,
    )
    assert outcomes[:2] == [1, 1] and outcomes[3:] == [1, 0, 1]
    # The duplicate failed alone, with the driver's integrity error.
    assert isinstance(outcomes[2], sqlite3.IntegrityError | asyncpg.UniqueViolationError)
    counts = await _failure_counts(runtime, tenant_id)
    assert counts == {"device:0": 1, "device:1": 2, "device:2": 0, "device:3": 0}


_ADD_RETURNING = Statement(
    insert(AuthFailures)
    .values(
        tenant_id=bindparam("tenant_id"),
        subject=bindparam("s"),
        window_started_at=bindparam("at"),
        failures=bindparam("failures"),
    )
    .returning(AuthFailures.failures)
)


def _add_then_bump(tenant_id: str, subject: str, bump: str, expect: int) -> list[Step]:
    """A unit: insert ``subject`` (returning its failure count, 4), then add that count to
    ``bump``'s, which must touch ``expect`` rows."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Step(
            _ADD_RETURNING,
            {"tenant_id": tenant_id, "s": subject, "at": at, "failures": 4},
            returns="count",
        ),
        Step(
            _ADD_TO,
            {"tenant_id": tenant_id, "s": bump, "by": Ref("count", lambda n: n * 10)},
            rows=expect,
        ),
    ]


_ADD_TO = Statement(
    update(AuthFailures)
    .where(AuthFailures.tenant_id == bindparam("tenant_id"), AuthFailures.subject == bindparam("s"))
    .values(failures=AuthFailures.failures + bindparam("by"))
)


async def test_a_unit_commits_whole_or_not_at_all_each_with_its_outcome(
    runtime: Runtime,
) -> None:
    tenant_id = await _tenant_with_failures(runtime, "direct-units", 2)
    direct = runtime.db.direct
    outcomes = await asyncio.gather(
        # Commits: the insert, and device:0 + 40.
        direct.run(_add_then_bump(tenant_id, "device:5", "device:0", 1)),
        # Refused at its second step (no device:9): its insert is undone too.
        direct.run(_add_then_bump(tenant_id, "device:6", "device:9", 1)),
        # Fails at its first step (device:1 exists): nothing of it is written.
        direct.run(_add_then_bump(tenant_id, "device:1", "device:0", 1)),
        # Commits, after the others in the same turn.
        direct.run(_add_then_bump(tenant_id, "device:7", "device:1", 1)),
        return_exceptions=True,
    )
    first, refused, duplicate, last = outcomes
    assert isinstance(first, Done) and first.rows == [1, 1] and first.returned == {"count": 4}
    assert isinstance(refused, UnitRefused) and refused.step == 1
    assert isinstance(duplicate, INTEGRITY_ERRORS)
    assert isinstance(last, Done) and last.rows == [1, 1]
    counts = await _failure_counts(runtime, tenant_id)
    assert counts == {"device:0": 40, "device:1": 40, "device:5": 4, "device:7": 4}


async def test_a_unit_alone_refused_at_its_first_step_writes_nothing(runtime: Runtime) -> None:
    tenant_id = await _tenant_with_failures(runtime, "direct-unit-alone", 1)
    direct = runtime.db.direct
    bump = Step(_ADD_TO, {"tenant_id": tenant_id, "s": "device:8", "by": 1}, rows=1)
    add = Step(
        _ADD_RETURNING,
        {
            "tenant_id": tenant_id,
            "s": "device:3",
            "at": datetime(2026, 1, 1, tzinfo=UTC),
            "failures": 2,
        },
    )
    try:
        await direct.run([bump, add])
    except UnitRefused as refused:
        assert refused.step == 0
    else:
        raise AssertionError("the unit was not refused")
    assert await direct.first(_FAILURES, tenant_id=tenant_id, s="device:3") is None


async def test_a_unit_alone_refused_at_its_last_step_undoes_the_first(runtime: Runtime) -> None:
    """Alone in its batch a unit has no savepoint of its own: the transaction's rollback
    undoes it, and the next unit finds the store as it was."""
    tenant_id = await _tenant_with_failures(runtime, "direct-alone-undone", 1)
    direct = runtime.db.direct
    try:
        await direct.run(_add_then_bump(tenant_id, "device:6", "device:9", 1))
    except UnitRefused as refused:
        assert refused.step == 1
    else:
        raise AssertionError("the unit was not refused")
    assert await direct.first(_FAILURES, tenant_id=tenant_id, s="device:6") is None
    done = await direct.run(_add_then_bump(tenant_id, "device:7", "device:0", 1))
    assert done.rows == [1, 1] and done.returned == {"count": 4}
    assert await _failure_counts(runtime, tenant_id) == {"device:0": 40, "device:7": 4}


_ADD_ROW = Statement(
    insert(AuthFailures).values(
        tenant_id=bindparam("tenant_id"),
        subject=bindparam("s"),
        window_started_at=bindparam("at"),
        failures=bindparam("failures"),
    )
)


def _two_inserts(tenant_id: str, first: str, second: str, failures: int) -> list[Step]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        Step(_ADD_ROW, {"tenant_id": tenant_id, "s": s, "at": at, "failures": failures})
        for s in (first, second)
    ]


async def test_units_of_inserts_alone_of_one_turn_each_keep_their_outcome(
    runtime: Runtime,
) -> None:
    """On PostgreSQL such units go as one executemany per statement; a failing one sends
    them back to one transaction each."""
    tenant_id = await _tenant_with_failures(runtime, "direct-inserts", 1)
    direct = runtime.db.direct
    together = await asyncio.gather(
        *(direct.run(_two_inserts(tenant_id, f"a:{i}", f"b:{i}", i)) for i in range(3))
    )
    assert [done.rows for done in together] == [[1, 1]] * 3
    outcomes = await asyncio.gather(
        direct.run(_two_inserts(tenant_id, "a:3", "b:3", 3)),
        # Its second row exists: the unit fails whole, its first row undone.
        direct.run(_two_inserts(tenant_id, "a:4", "device:0", 4)),
        direct.run(_two_inserts(tenant_id, "a:5", "b:5", 5)),
        return_exceptions=True,
    )
    first, duplicate, last = outcomes
    assert isinstance(first, Done) and first.rows == [1, 1]
    assert isinstance(duplicate, INTEGRITY_ERRORS)
    assert isinstance(last, Done) and last.rows == [1, 1]
    counts = await _failure_counts(runtime, tenant_id)
    assert counts == {
        "device:0": 0,
        **{f"{kind}:{i}": i for i in (0, 1, 2, 3, 5) for kind in ("a", "b")},
    }


_FAILURES_OF = Statement(
    select(AuthFailures.subject, AuthFailures.failures).where(
        AuthFailures.tenant_id == bindparam("tenant_id"), AuthFailures.subject == bindparam("s")
    ),
    batch_on=("s", AuthFailures.subject),
    sqlite_batches=True,
)


async def test_reads_of_one_turn_each_get_their_own_row(runtime: Runtime, store: Store) -> None:
    """On PostgreSQL these go to the server as one statement; the answers must be those of
    single reads, whatever else is in the batch (a missing row, a repeated key, another
    tenant, a value the server refuses)."""
    tenant_id = await _tenant_with_failures(runtime, "direct-batched", 3)
    other_tenant = await _tenant_with_failures(runtime, "direct-batched-other", 1)
    direct = runtime.db.direct
    for subject, count in (("device:1", 4), ("device:2", 7)):
        await direct.execute(_SET, tenant_id=tenant_id, s=subject, n=count)
    outcomes = await asyncio.gather(
        direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:2"),
        direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:9"),
        direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:1"),
        direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:2"),
        direct.first(_FAILURES_OF, tenant_id=other_tenant, s="device:0"),
        direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:\x00"),
        direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:0"),
        return_exceptions=True,
    )
    two = {"subject": "device:2", "failures": 7}
    assert outcomes[:5] == [
        two,
        None,
        {"subject": "device:1", "failures": 4},
        two,
        {"subject": "device:0", "failures": 0},
    ]
    assert outcomes[6] == {"subject": "device:0", "failures": 0}
    refused = outcomes[5]
    # SQLite looks the NUL up and finds nothing; PostgreSQL refuses the text, for that
    # caller only (the others were answered above).
    if store.backend == "sqlite":
        assert refused is None
    else:
        assert isinstance(refused, asyncpg.CharacterNotInRepertoireError), refused


async def test_sqlite_reads_gathered_over_a_few_turns_run_as_one_statement(
    runtime: Runtime, store: Store
) -> None:
    """On SQLite too, reads gathered over a few turns cost one statement (json_each); a key
    the batch could answer differently from a single read (another type, NUL) is read alone."""
    if store.backend != "sqlite":
        pytest.skip("SQLite's batched reads (PostgreSQL's are above)")
    tenant_id = await _tenant_with_failures(runtime, "direct-batched-sqlite", 3)
    direct = runtime.db.direct
    await direct.execute(_SET, tenant_id=tenant_id, s="device:1", n=4)
    await direct.execute(_ADD_SUBJECT, tenant_id=tenant_id, s="5", n=6)
    statements: list[str] = []
    direct._sqlite_reader().set_trace_callback(statements.append)
    try:
        outcomes = await asyncio.gather(
            *(direct.first(_FAILURES_OF, tenant_id=tenant_id, s=f"device:{i}") for i in range(4)),
            direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:1"),
        )
        assert outcomes == [
            {"subject": "device:0", "failures": 0},
            {"subject": "device:1", "failures": 4},
            {"subject": "device:2", "failures": 0},
            None,
            {"subject": "device:1", "failures": 4},
        ]
        assert len(statements) == 1 and "json_each" in statements[0], statements
        statements.clear()
        # An integer for a text column finds "5" through SQLite's type affinity, as a
        # single read does; in the batch its row would carry "5", not 5, and be missed.
        mixed = await asyncio.gather(
            direct.first(_FAILURES_OF, tenant_id=tenant_id, s="5"),
            direct.first(_FAILURES_OF, tenant_id=tenant_id, s=5),  # type: ignore[arg-type]
            direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:2"),
            direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:1\x00"),
        )
        assert mixed == [
            {"subject": "5", "failures": 6},
            {"subject": "5", "failures": 6},
            {"subject": "device:2", "failures": 0},
            None,
        ]
        batched = [sql for sql in statements if "json_each" in sql]
        assert len(batched) == 1 and len(statements) == 3, statements
        statements.clear()
        # Reads asked for a few turns apart still go together (READ_GATHER_TURNS).
        early = asyncio.ensure_future(direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:0"))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        late = await direct.first(_FAILURES_OF, tenant_id=tenant_id, s="device:2")
        assert (await early, late) == (
            {"subject": "device:0", "failures": 0},
            {"subject": "device:2", "failures": 0},
        )
        assert len(statements) == 1 and "json_each" in statements[0], statements
        statements.clear()
        # Not asked for (sqlite_batches): each read on its own, at once.
        alone = await asyncio.gather(
            direct.first(_FAILURES_OF_ALONE, tenant_id=tenant_id, s="device:1"),
            direct.first(_FAILURES_OF_ALONE, tenant_id=tenant_id, s="device:2"),
        )
        assert alone == [
            {"subject": "device:1", "failures": 4},
            {"subject": "device:2", "failures": 0},
        ]
        assert len(statements) == 2 and not any("json_each" in sql for sql in statements)
    finally:
        direct._sqlite_reader().set_trace_callback(None)


_SUBJECT_WITH = Statement(
    select(AuthFailures.subject).where(
        AuthFailures.tenant_id == bindparam("tenant_id"), AuthFailures.failures == bindparam("n")
    ),
    batch_on=("n", AuthFailures.failures),
    sqlite_batches=True,
)


async def test_a_batched_read_of_an_integer_no_store_holds_fails_for_its_caller_alone(
    runtime: Runtime, store: Store
) -> None:
    """An integer beyond 64 bits is refused by a single read on both stores. In a batch it
    must be too, not quietly found nowhere (SQLite's ``json_each`` would carry it as a
    real), and the other readers of the batch still get their rows."""
    tenant_id = await _tenant_with_failures(runtime, "direct-batched-wide", 1)
    direct = runtime.db.direct
    await direct.execute(_SET, tenant_id=tenant_id, s="device:0", n=4)
    outcomes = await asyncio.gather(
        direct.first(_SUBJECT_WITH, tenant_id=tenant_id, n=4),
        direct.first(_SUBJECT_WITH, tenant_id=tenant_id, n=2**70),
        direct.first(_SUBJECT_WITH, tenant_id=tenant_id, n=5),
        return_exceptions=True,
    )
    assert outcomes[0] == {"subject": "device:0"}
    assert outcomes[2] is None
    refused = outcomes[1]
    if store.backend == "sqlite":
        assert isinstance(refused, OverflowError), refused
        assert str(refused) == "Python int too large to convert to SQLite INTEGER"
    else:  # read alone after the batch failed: the value itself is named
        assert isinstance(refused, asyncpg.DataError), refused
        assert str(refused).endswith(f": {2**70} (value out of int32 range)"), str(refused)


_FAILURES_OF_ALONE = Statement(
    select(AuthFailures.subject, AuthFailures.failures).where(
        AuthFailures.tenant_id == bindparam("tenant_id"), AuthFailures.subject == bindparam("s")
    ),
    batch_on=("s", AuthFailures.subject),
)
_ADD_SUBJECT = Statement(
    insert(AuthFailures).values(
        tenant_id=bindparam("tenant_id"),
        subject=bindparam("s"),
        failures=bindparam("n"),
        window_started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
)


_SET = Statement(
    update(AuthFailures)
    .where(AuthFailures.tenant_id == bindparam("tenant_id"), AuthFailures.subject == bindparam("s"))
    .values(failures=bindparam("n"))
)


_SET_IF = Statement(
    update(AuthFailures)
    .where(
        AuthFailures.tenant_id == bindparam("tenant_id"),
        AuthFailures.subject == bindparam("s"),
        AuthFailures.failures == bindparam("seen"),
    )
    .values(failures=bindparam("n", type_=AuthFailures.failures.type)),
    batch_on=("s", AuthFailures.subject),
)


async def test_updates_of_one_turn_have_the_outcomes_of_updates_in_turn(
    runtime: Runtime,
) -> None:
    """On PostgreSQL these run as one UPDATE ... FROM unnest(...); a second update of the
    same row runs after it, so every outcome is what one-by-one updates would give."""
    tenant_id = await _tenant_with_failures(runtime, "direct-batched-updates", 3)
    direct = runtime.db.direct

    def set_if(s: str, seen: int, n: int) -> Any:
        return direct.execute(_SET_IF, tenant_id=tenant_id, s=s, seen=seen, n=n)

    guarded = [Step(_SET_IF, {"tenant_id": tenant_id, "s": "device:2", "seen": 0, "n": 2}, rows=1)]
    missing = [Step(_SET_IF, {"tenant_id": tenant_id, "s": "device:9", "seen": 0, "n": 1}, rows=1)]
    outcomes = await asyncio.gather(
        set_if("device:0", 0, 5),
        set_if("device:0", 0, 6),  # the row moved on: no longer at 0
        set_if("device:0", 5, 7),  # after the first: at 5
        set_if("device:1", 3, 9),  # never at 3
        direct.run(guarded),
        direct.run(missing),
        return_exceptions=True,
    )
    assert outcomes[:4] == [1, 0, 1, 0]
    assert isinstance(outcomes[4], Done) and outcomes[4].rows == [1]
    assert isinstance(outcomes[5], UnitRefused) and outcomes[5].step == 0
    counts = await _failure_counts(runtime, tenant_id)
    assert counts == {"device:0": 7, "device:1": 0, "device:2": 2}


async def test_a_batched_update_the_server_refuses_fails_for_its_caller_alone(
    runtime: Runtime, store: Store
) -> None:
    """On PostgreSQL ``execute`` calls of a batched UPDATE go as one statement; a value the
    server cannot take fails that statement, and then each runs alone with its own outcome.
    SQLite runs each on its own and takes the large integer."""
    tenant_id = await _tenant_with_failures(runtime, "direct-batched-refused", 3)
    direct = runtime.db.direct
    outcomes = await asyncio.gather(
        *(
            direct.execute(_SET_IF, tenant_id=tenant_id, s=f"device:{i}", seen=0, n=n)
            for i, n in enumerate((5, 2**40, 6))
        ),
        return_exceptions=True,
    )
    counts = await _failure_counts(runtime, tenant_id)
    if store.backend == "sqlite":
        assert outcomes == [1, 1, 1]
        assert counts == {"device:0": 5, "device:1": 2**40, "device:2": 6}
    else:
        assert outcomes[0] == 1 and outcomes[2] == 1
        # The driver's own refusal, for that value alone (run on its own, not in the array).
        assert isinstance(outcomes[1], asyncpg.DataError), repr(outcomes[1])
        assert "value out of int32 range" in str(outcomes[1])
        assert counts == {"device:0": 5, "device:1": 0, "device:2": 6}


async def test_a_unit_that_cannot_run_fails_alone(runtime: Runtime) -> None:
    """A parameter the driver cannot bind fails its own unit; the rest of the turn commits."""
    tenant_id = await _tenant_with_failures(runtime, "direct-unit-bad-param", 1)
    direct = runtime.db.direct
    bad = [
        Step(_ADD_TO, {"tenant_id": tenant_id, "s": "device:0", "by": 1}),
        Step(_ADD_TO, {"tenant_id": tenant_id, "s": {"not": "text"}, "by": 1}),
    ]
    outcomes = await asyncio.gather(
        direct.run(bad),
        direct.run(_add_then_bump(tenant_id, "device:4", "device:0", 1)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], Exception) and not isinstance(outcomes[0], UnitRefused)
    assert isinstance(outcomes[1], Done) and outcomes[1].rows == [1, 1]
    row = await direct.first(_FAILURES, tenant_id=tenant_id, s="device:0")
    assert row is not None and row["failures"] == 40  # only the good unit's bump


async def test_sqlite_direct_writers_of_every_process_take_turns(
    runtime: Runtime, store: Store
) -> None:
    """While another process's direct writer holds the turn (a lock file beside the
    database), a write waits for it, and commits the moment it is given back."""
    if store.backend != "sqlite":
        pytest.skip("turns between processes are SQLite's (PostgreSQL locks rows)")
    tenant_id = await _tenant_with_failures(runtime, "direct-turns", 1)
    other = WriterTurns(str(store.data_dir / "fleetkey.db"))
    assert other.try_take()
    try:
        write = asyncio.ensure_future(
            runtime.db.direct.execute(_ONE, tenant_id=tenant_id, s="device:0")
        )
        await asyncio.sleep(0.2)
        assert not write.done()
        second = WriterTurns(str(store.data_dir / "fleetkey.db"))
        assert not second.try_take()  # one holder at a time, whatever the process
        second.close()
    finally:
        other.give_back()
    assert await asyncio.wait_for(write, 5) == 1
    other.close()
    row = await runtime.db.direct.first(_FAILURES, tenant_id=tenant_id, s="device:0")
    assert row is not None and row["failures"] == 1


async def test_sqlite_hot_reads_keep_the_default_page_cache_and_cannot_write(
    runtime: Runtime, store: Store
) -> None:
    """The reader of hot reads keeps SQLite's default page cache (a larger one makes each
    read after another connection's commit dearer; db/direct.py) and cannot write."""
    if store.backend != "sqlite":
        pytest.skip("a SQLite connection's page cache")
    tenant_id = await _tenant_with_failures(runtime, "direct-reader", 1)
    assert await runtime.db.direct.first(_FAILURES, tenant_id=tenant_id, s="device:0") is not None
    reader = runtime.db.direct._sqlite_reader()
    default = sqlite3.connect(":memory:").execute("PRAGMA cache_size").fetchone()
    assert reader.execute("PRAGMA cache_size").fetchone() == default == (-2000,)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM auth_failures")
