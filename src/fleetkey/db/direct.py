"""Statements for the hot paths, straight on the database driver.

A unit of work through the ORM costs about half a millisecond of Python per request
(session, transaction, aiosqlite's thread hop), many times what the device-side calls
themselves need (docs/performance.md). The few calls a fleet makes at connection rate
run their one statement here instead: the statement is still written once with SQLAlchemy
Core, compiled once per dialect, and its binds and results pass through the same column
types (so a ``UTCDateTime`` reads back as an aware datetime on both stores).

- SQLite: reads run on the event loop on a connection of their own (a WAL reader never
  waits for a writer, and an indexed read takes microseconds); a write is tried on the
  loop without waiting for the lock, and when the lock is held it waits on a thread of
  its own, so it never blocks the loop that the lock holder (an ORM unit of work in this
  process) needs in order to finish.
- PostgreSQL: a pool of asyncpg connections per process (``db.pgpool.LeanPool``; asyncpg's
  own pool costs nearly as much client CPU as the statement), each statement prepared once
  per connection. One batch of units is in flight per process; writes asked for meanwhile go
  into the next one together (group commit), since each commit costs a WAL flush. A round
  trip costs far more than a row, so statements declared with ``batch_on`` go many at
  once (see ``Statement``), as do units of independent INSERTs; the other units of a
  batch run side by side, each in its own transaction, so that their round trips overlap
  (``_PgPlan``).

Each read is one statement. A write is a *unit*: one statement, or a few that stand or
fall together (``run``: a device with its history and audit rows), where a step may use a
value an earlier step returned and may insist on touching exactly so many rows (a claim).
Units asked for in the same turn of the event loop go together (on SQLite in one commit),
each keeping its own outcome. Anything that needs reads between its writes belongs in a unit of work
(``Database.unit_of_work``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import mmap
import os
import sqlite3
from collections.abc import Callable, Generator, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import ARRAY, Integer, String, Update, any_, bindparam, event, func, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import ClauseElement, visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BinaryExpression, BindParameter
from sqlalchemy.sql.sqltypes import NullType

from fleetkey.db.pgpool import LeanPool
from fleetkey.validation import unstorable

Processor = Callable[[Any], Any] | None
log = logging.getLogger("fleetkey.db")
# Migration 0006's triggers notify here when a table behind a cached answer changes.
CHANGES_CHANNEL = "fleetkey_changes"
# Commits made by this process (ORM units of work and direct writes): they invalidate cached
# answers at once, without waiting for their own notification to come back.
_LOCAL_COMMITS = [0]


_WROTE = "fleetkey_wrote"


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if not state.is_select:  # INSERT, UPDATE, DELETE, or text that may be any of them
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _count_commit(session: Session) -> None:
    # Only a commit that wrote: a read-only unit of work (say, a token lookup) is no change.
    if session.info.pop(_WROTE, False):
        _LOCAL_COMMITS[0] += 1


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, _: Any) -> None:
    session.info.pop(_WROTE, None)


# Every SQLite connection of a process, the ORM's and these, is set up alike: WAL (readers
# never wait for the writer), NORMAL sync (durable at checkpoints, as WAL allows), a wait
# for the write lock rather than an immediate SQLITE_BUSY, and enforced foreign keys.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=15000",
    "PRAGMA foreign_keys=ON",
)

# The reader answers every hot read (a broker's device, an authenticator's row) in this
# process, with SQLite's default page cache (2 MB). A larger one (64 MB was tried) reads a
# little faster while nobody writes (6.2-8.9 against 7.0-10.5 µs a device read), but every
# other connection's commit empties the cache, and once the cache has been full that costs
# the next read about 25 µs more (52 against 28 µs a read after each commit, measured in
# one process): a fleet that writes (TOTP counters, bootstraps) pays that on every read.

# The first copy of the WAL-index header at the start of a WAL database's ``-shm`` file
# (https://www.sqlite.org/walformat.html, "The WAL-Index Header"): every commit by any
# connection rewrites it (its change counter, last frame and checksums), and so does the
# reset of the log after a checkpoint. Reading these bytes costs a tenth of a microsecond;
# ``PRAGMA data_version``, the same signal through a statement, cost about 6 µs of worker
# CPU per request under load.
WAL_HEADER_BYTES = 48


@dataclass(frozen=True)
class Compiled:
    sql: str
    order: tuple[str, ...]
    defaults: dict[str, Any]
    binds: Mapping[str, Processor]
    columns: tuple[str, ...]
    results: tuple[Processor, ...]
    inserts: bool  # an INSERT of one row of VALUES, without RETURNING
    # The result columns that have a processor (most have none): only these are converted.
    processed: tuple[tuple[str, Callable[[Any], Any]], ...] = ()


def _bind_processor(bind_type: Any, dialect: Dialect) -> Processor:
    """What a parameter's value passes through on its way to the driver. An array whose
    items need no conversion goes as it is: SQLAlchemy's array processor would copy the
    list item by item, for every batched statement of the hot paths."""
    impl = bind_type.dialect_impl(dialect)
    if (
        isinstance(impl, ARRAY)
        and impl.item_type.dialect_impl(dialect).bind_processor(dialect) is None
    ):
        return None
    return impl.bind_processor(dialect)  # type: ignore[no-any-return]


def _compile(statement: ClauseElement, dialect: Dialect) -> Compiled:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    order = tuple(compiled.positiontup or ())
    binds = {name: _bind_processor(bind.type, dialect) for name, bind in compiled.binds.items()}
    selected = getattr(statement, "selected_columns", ())
    columns = tuple(c.key for c in selected)
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in selected)
    return Compiled(
        sql=str(compiled),
        order=order,
        defaults={k: v for k, v in compiled.params.items() if v is not None},
        binds=binds,
        columns=columns,
        results=results,
        processed=tuple((name, p) for name, p in zip(columns, results, strict=True) if p),
        inserts=bool(
            compiled.isinsert
            and not compiled.effective_returning
            and getattr(statement, "select", None) is None  # VALUES, one row
        ),
    )


BATCH_KEY = "batch_key"
# Batched reads wait this many turns of the event loop before they go, so that requests that
# arrive meanwhile (each turn polls the sockets, and a new request's handler reaches its
# read a turn after its bytes) join them: a statement's fixed cost (~35 µs of client CPU on
# PostgreSQL, plus the server's) is shared by more requests. Measured against one turn, one
# pinned worker under wrk: first broker connections 62 -> 53 µs of server CPU on SQLite,
# 67 -> 55 µs (and 12.5 -> 10.5 µs of database CPU) on PostgreSQL; TOTP on PostgreSQL
# 82 -> 68 µs. Three turns gave most of it; nine no more than five.
READ_GATHER_TURNS = 5


def _batched(statement: ClauseElement, param: str, column: Any) -> Callable[[str], ClauseElement]:
    """``statement`` for many values of ``param`` at once, and the row says which value it
    answers (``BATCH_KEY``). PostgreSQL: ``column = :param`` becomes ``column = ANY(:param)``
    (an array); SQLite: ``column IN (SELECT value FROM json_each(:param))`` (a JSON array
    text: one statement for any number of values, where an IN list would be one per size).
    """

    def any_of(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter) and element.key == param:
            return any_(bindparam(param, type_=ARRAY(element.type)))
        return None

    def in_json(element: Any, **_: Any) -> Any:
        if (
            isinstance(element, BinaryExpression)
            and isinstance(element.right, BindParameter)
            and element.right.key == param
        ):
            values = func.json_each(bindparam(param, type_=String())).table_valued("value")
            return element.left.in_(select(values.c.value))
        return None

    def built(dialect: str) -> ClauseElement:
        swap = in_json if dialect == "sqlite" else any_of
        swapped = visitors.replacement_traverse(statement, {}, swap)
        return swapped.add_columns(column.label(BATCH_KEY))  # type: ignore[attr-defined]

    return built


def _after_turns(loop: asyncio.AbstractEventLoop, turns: int, callback: Callable[[], None]) -> None:
    """``callback`` on the ``turns``-th turn of ``loop`` from now (1: ``call_soon``)."""
    if turns <= 1:
        loop.call_soon(callback)
    else:
        loop.call_soon(_after_turns, loop, turns - 1, callback)


def _by_batch_key(c: Compiled, records: Sequence[Any]) -> dict[Any, dict[str, Any] | None]:
    """A batched read's rows by the value each answers (its ``BATCH_KEY`` column)."""
    rows: dict[Any, dict[str, Any] | None] = {}
    for record in records:
        row = _row(c, record)
        rows.setdefault(row.pop(BATCH_KEY), row)
    return rows


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _json_batchable(key: Any, kind: type | None) -> bool:
    """Whether a batch through SQLite's ``json_each`` answers ``key`` as a single read would:
    a value of the column's own Python type (the row's ``BATCH_KEY`` must equal it), an
    integer SQLite stores (64 bits: JSON carries a larger one as a real, which finds
    nothing, where a single read refuses it) or text it stores as it is (no NUL, which
    JSON text brings back cut short; no unpaired surrogate, which a single read refuses)."""
    if type(key) is not kind:
        return False
    if isinstance(key, int):
        return _INT64_MIN <= key <= _INT64_MAX
    return isinstance(key, str) and not unstorable(key)


BATCH_ORD = "batch_ord"


def _batched_update(statement: Update) -> tuple[ClauseElement, tuple[str, ...]]:
    """``statement`` for many sets of its parameters at once: each parameter becomes a
    column of ``unnest(...)`` joined in (UPDATE ... FROM), and the rows updated say which
    set they came from (``BATCH_ORD``). Every parameter needs a type (a bare ``bindparam``
    in ``values()`` has none: give it one)."""
    types: dict[str, Any] = {}

    def collect(element: BindParameter[Any]) -> None:
        if not element.unique:  # not a literal SQLAlchemy bound for us
            types[element.key] = element.type

    visitors.traverse(statement, {}, {"bindparam": collect})
    untyped = [k for k, t in types.items() if isinstance(t, NullType)]
    assert not untyped, f"batched parameters need a type: {untyped}"
    names = tuple(types)
    sets = (
        func.unnest(
            *(bindparam(k, type_=ARRAY(types[k])) for k in names),
            bindparam(BATCH_ORD, type_=ARRAY(Integer())),
        )
        .table_valued(*names, BATCH_ORD)
        .render_derived()
    )

    def replace(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter) and element.key in types:
            return sets.c[element.key]
        return None

    swapped = visitors.replacement_traverse(statement, {}, replace)
    return swapped.returning(sets.c[BATCH_ORD]), names  # type: ignore[attr-defined]


class Statement:
    """A Core statement, compiled on first use for the dialect it runs on. ``statement`` may
    also be a function of the dialect's name, for the rare statement that differs.

    ``batch_on=(param, column)`` lets PostgreSQL take many at once (a round trip there
    costs ~100 µs, a row ~9 µs):

    - a SELECT where ``column = :param`` finds at most one row: reads asked for within
      ``READ_GATHER_TURNS`` turns of the event loop that differ only in ``param`` go to the
      server as one statement;
    - an UPDATE: its ``DirectStore.execute`` calls of one commit run as one statement,
      one per value of ``param`` (a second for the same value runs in the next commit, so
      it sees the first's change as it would in turn: ``DirectStore._pg_updates``); in a
      unit of ``DirectStore.run`` it runs as any statement does.

    ``sqlite_batches=True`` batches such a SELECT on SQLite too, for a statement whose own
    cost is far above its index lookups (a join, many columns): a first broker connection's
    read, 8 columns and a join, cost 6% less server CPU batched; a TOTP device's read by
    primary key cost 3% more (measured while reads went at the loop's next turn: the request
    then waits for its read as well as for its write). docs/performance-device.md has the
    runs.
    """

    def __init__(
        self,
        statement: ClauseElement | Callable[[str], ClauseElement],
        batch_on: tuple[str, Any] | None = None,
        sqlite_batches: bool = False,
    ) -> None:
        self.statement = statement
        self.sqlite_batches = sqlite_batches and batch_on is not None
        self._compiled: dict[str, Compiled] = {}
        self.batch_param: str | None = None  # the parameter batches differ in
        self.batch_type: type | None = None  # its values' Python type (the column's)
        self.batched: Statement | None = None  # the statement for a whole batch
        self.batched_params: tuple[str, ...] = ()  # an UPDATE's: each a column of unnest()
        if batch_on is not None:
            assert isinstance(statement, ClauseElement)
            self.batch_param = batch_on[0]
            try:
                self.batch_type = batch_on[1].type.python_type
            except NotImplementedError:  # a type without one: SQLite reads these alone
                pass
            if isinstance(statement, Update):
                update, self.batched_params = _batched_update(statement)
                self.batched = Statement(update)
            else:
                self.batched = Statement(_batched(statement, *batch_on))

    @property
    def batches_updates(self) -> bool:
        return bool(self.batched_params)

    def compiled(self, dialect: Dialect) -> Compiled:
        hit = self._compiled.get(dialect.name)
        if hit is None:
            built = self.statement
            if not isinstance(built, ClauseElement):
                built = built(dialect.name)
            hit = self._compiled[dialect.name] = _compile(built, dialect)
        return hit


@dataclass(frozen=True)
class Ref:
    """A parameter that is a value an earlier step of the same unit returned (its
    ``Step.returns`` name), passed through ``convert`` when given."""

    name: str
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Step:
    """One statement of a unit. ``returns``: keep the first column of its first returned row
    (``RETURNING``) under this name. ``rows``: the unit is refused, and none of it written,
    unless this step touches exactly that many rows."""

    statement: Statement
    params: Mapping[str, Any]
    returns: str | None = None
    rows: int | None = None

    @property
    def takes_returned(self) -> bool:
        """Whether a parameter is a value an earlier step of the unit returns (``Ref``)."""
        return _takes_returned(self.params)


def _takes_returned(params: Mapping[str, Any]) -> bool:
    return any(isinstance(v, Ref) for v in params.values())


# How often, at most, the loop's own SQLite commits ask for a checkpoint (seconds).
CHECKPOINT_EVERY = 0.25

# What a unique or foreign key refusing a direct write raises, on either driver.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


class UnitRefused(Exception):
    """A step with ``rows`` touched another number of rows; nothing of the unit was kept."""

    def __init__(self, step: int) -> None:
        super().__init__(f"step {step} of the unit touched an unexpected number of rows")
        self.step = step


@dataclass(frozen=True)
class Done:
    """What a unit did: the rows each step touched, and the values steps returned."""

    rows: list[int]
    returned: dict[str, Any]


def _args(c: Compiled, params: Mapping[str, Any]) -> list[Any]:
    out = []
    for name in c.order:
        value = params[name] if name in params else c.defaults.get(name)
        processor = c.binds.get(name)
        out.append(processor(value) if processor is not None and value is not None else value)
    return out


def _resolved(params: Mapping[str, Any], returned: dict[str, Any]) -> Mapping[str, Any]:
    if not _takes_returned(params):
        return params
    out = dict(params)
    for key, value in params.items():
        if isinstance(value, Ref):
            got = returned[value.name]
            out[key] = value.convert(got) if value.convert is not None else got
    return out


# What a driver answers for one statement: rows touched, and the first returned value.
Answer = tuple[int, Any]
# Each step with its arguments bound ahead when it needs nothing from an earlier step (on
# SQLite, so that the write lock is not held while values are converted), else None.
Unit = list[tuple[Compiled, Step, list[Any] | None]]


def _unit_steps(unit: Unit) -> Generator[tuple[Compiled, list[Any], bool], Answer, Done]:
    """The rules of a unit, apart from any driver: the driver runs each statement yielded
    (with whether a returned value is wanted) and sends back its ``Answer``."""
    rows: list[int] = []
    returned: dict[str, Any] = {}
    for index, (c, step, bound) in enumerate(unit):
        args = bound if bound is not None else _args(c, _resolved(step.params, returned))
        touched, value = yield c, args, step.returns is not None
        if step.rows is not None and touched != step.rows:
            raise UnitRefused(index)
        if step.returns is not None:
            returned[step.returns] = value
        rows.append(touched)
    return Done(rows, returned)


def _first_value(c: Compiled, values: Sequence[Any] | None) -> Any:
    if not values:
        return None
    processor = c.results[0] if c.results else None
    return processor(values[0]) if processor is not None and values[0] is not None else values[0]


def _row(c: Compiled, values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(c.columns, values, strict=True))
    for name, processor in c.processed:
        value = row[name]
        if value is not None:
            row[name] = processor(value)
    return row


Pending = tuple[Unit, "asyncio.Future[Done]"]
Outcome = Done | BaseException


def _count(status: str) -> int:
    """The row count in a command status such as "UPDATE 1" or "INSERT 0 1" (its last word)."""
    return int(status.rsplit(" ", 1)[-1])


def _sqlite_unit(conn: sqlite3.Connection, unit: Unit) -> Done:
    steps = _unit_steps(unit)
    answer: Answer | None = None
    try:
        while True:
            c, args, wants_value = steps.send(answer)  # type: ignore[arg-type]
            cursor = conn.execute(c.sql, args)
            if wants_value:
                found = cursor.fetchall()
                answer = (len(found), _first_value(c, found[0] if found else None))
            else:
                answer = (cursor.rowcount, None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]


def _sqlite_batch(conn: sqlite3.Connection, batch: list[Pending]) -> list[Outcome]:
    """One transaction; a unit that fails or is refused is undone alone (a savepoint, or
    for a single statement SQLite's own statement rollback) and reported to its caller,
    the rest commit. A unit alone in its batch needs no savepoint: undoing it is undoing
    the transaction."""
    conn.execute("BEGIN IMMEDIATE")
    outcomes: list[Outcome] = []
    try:
        if len(batch) == 1:
            try:
                done = _sqlite_unit(conn, batch[0][0])
            except Exception as exc:
                if not conn.in_transaction:
                    raise  # as below: the transaction is gone
                conn.execute("ROLLBACK")
                return [exc]
            conn.execute("COMMIT")
            return [done]
        for unit, _ in batch:
            several = len(unit) > 1
            if several:
                conn.execute("SAVEPOINT unit")
            try:
                outcomes.append(_sqlite_unit(conn, unit))
            except Exception as exc:
                if not conn.in_transaction:
                    raise  # an error SQLite ends the transaction on: the batch is lost
                if several:
                    conn.execute("ROLLBACK TO unit")
                outcomes.append(exc)
            if several:
                conn.execute("RELEASE unit")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


async def _pg_update_batch(
    pool: LeanPool,
    statement: Statement,
    dialect: Dialect,
    queued: list[tuple[Mapping[str, Any], asyncio.Future[int]]],
) -> list[int | BaseException]:
    """One statement for them all (``Statement.batched``, each set of parameters a row of
    ``unnest``): the rows each touched (its set's ord came back)."""
    assert statement.batched is not None
    c = statement.batched.compiled(dialect)
    columns: dict[str, Any] = {
        name: [params[name] for params, _ in queued] for name in statement.batched_params
    }
    columns[BATCH_ORD] = list(range(len(queued)))
    touched = {record[0] for record in await pool.fetch(c.sql, *_args(c, columns))}
    return [1 if index in touched else 0 for index in range(len(queued))]


async def _pg_update_alone(
    pool: LeanPool, statement: Statement, dialect: Dialect, params: Mapping[str, Any]
) -> int:
    c = statement.compiled(dialect)
    async with pool.acquire() as conn:
        return _count(await conn.execute(c.sql, *_args(c, params)))


async def _pg_unit(conn: Any, unit: Unit) -> Done:
    steps = _unit_steps(unit)
    answer: Answer | None = None
    try:
        while True:
            c, args, wants_value = steps.send(answer)  # type: ignore[arg-type]
            if wants_value:
                found = await conn.fetch(c.sql, *args)
                answer = (len(found), _first_value(c, found[0] if found else None))
            else:
                answer = (_count(await conn.execute(c.sql, *args)), None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]


def _independent_inserts(unit: Unit) -> bool:
    """Whether ``unit`` is INSERTs alone that need nothing from one another: no returned
    values, no row guards."""
    return all(
        c.inserts and step.returns is None and step.rows is None and not step.takes_returned
        for c, step, _ in unit
    )


def _insert_groups(batch: list[Pending]) -> list[list[int]]:
    """Units of independent INSERTs with the same statements in the same order (a device
    with its history and audit rows), two or more: each group runs as one ``executemany``
    per statement, a round trip each instead of one per row."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (unit, _) in enumerate(batch):
        if _independent_inserts(unit):
            shape = tuple(id(step.statement) for _, step, _ in unit)
            groups.setdefault(shape, []).append(index)
    return [members for members in groups.values() if len(members) >= 2]


@dataclass
class _PgPlan:
    """How one commit's units reach PostgreSQL: first the groups of inserts (one
    transaction), then every other unit on a connection and in a transaction of its own,
    all at once, so that the round trips of units of several statements overlap instead of
    queueing in one transaction. (``execute`` of a batched UPDATE is no unit: it runs
    before them, ``DirectStore._pg_updates``.)"""

    inserts: list[list[int]]
    alone: list[int]

    @classmethod
    def of(cls, batch: list[Pending]) -> _PgPlan:
        inserts = _insert_groups(batch)
        taken = {index for members in inserts for index in members}
        return cls(inserts, [index for index in range(len(batch)) if index not in taken])

    def grouped(self) -> list[int]:
        return [index for members in self.inserts for index in members]

    def grouped_statements(self, batch: list[Pending]) -> int:
        return sum(len(batch[members[0]][0]) for members in self.inserts)


def _needs_transaction(unit: Unit) -> bool:
    """More than one statement, or one whose row count is checked after it ran (undoing
    it needs a rollback): a single statement is atomic on its own, without the BEGIN and
    COMMIT round trips."""
    return len(unit) > 1 or unit[0][1].rows is not None


async def _pg_inserts_together(
    conn: Any, batch: list[Pending], members: list[int]
) -> dict[int, Outcome]:
    """One group of ``_insert_groups``: outcomes by position."""
    first = batch[members[0]][0]
    for position, (c, _, _) in enumerate(first):
        rows = [_args(c, batch[i][0][position][1].params) for i in members]
        await conn.executemany(c.sql, rows)
    return {index: Done([1] * len(first), {}) for index in members}


def _outcomes_of(finished: asyncio.Future[list[Outcome]]) -> list[Outcome]:
    error = finished.exception()
    return [error] if error is not None else finished.result()


def _settle(done: asyncio.Future[Any], outcome: Any) -> None:
    if done.done():  # the caller went away (a client disconnect cancels its task)
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def _settle_committed(settled: Iterable[tuple[asyncio.Future[Any], Any]]) -> None:
    """Each caller its outcome, after a commit of this process (or its failure) is counted
    (the ORM's count after theirs): an answer read before it is not kept
    (``UnchangedCache``), even by a caller that went away."""
    _LOCAL_COMMITS[0] += 1
    for done, outcome in settled:
        _settle(done, outcome)


def _deliver(batch: list[Pending], outcomes: list[Outcome]) -> None:
    """Each unit's caller its own outcome (one outcome for all: the batch failed as a
    whole)."""
    if len(outcomes) == 1 and len(batch) > 1:
        outcomes = outcomes * len(batch)
    _settle_committed((done, outcome) for (_, done), outcome in zip(batch, outcomes, strict=True))


class WriterTurns:
    """Direct SQLite writers of every process take turns on a lock file beside the database.

    SQLite's own busy handler polls, sleeping 1 ms, then 2, 5, 10 and up to 100 ms, so a
    process that finds the write lock taken often sleeps long after it was released (two
    workers bootstrapping left a third of the machine idle). A waiter on this lock wakes
    when the holder is done. Each role (the loop's eager try, the writer thread) has its
    own open file, so they exclude each other too. An in-memory database has no file
    beside it and no other process: no turns.
    """

    def __init__(self, database: str) -> None:
        self._path = f"{database}.writers" if database and database != ":memory:" else ""
        self._fd: int | None = None

    def _file(self) -> int | None:
        if self._fd is None and self._path:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def try_take(self) -> bool:
        fd = self._file()
        if fd is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def take(self) -> None:
        fd = self._file()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)

    def give_back(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class _ReadGroup:
    """Reads of one statement, gathered over a few turns, that differ only in the batched
    parameter."""

    statement: Statement
    params: dict[str, Any]
    waiting: dict[Any, list[asyncio.Future[dict[str, Any] | None]]] = field(default_factory=dict)

    def deliver(self, key: Any, outcome: dict[str, Any] | None | BaseException) -> None:
        for done in self.waiting[key]:
            _settle(done, outcome)


async def _json_reads(conn: Any) -> None:
    """JSON columns read back as values, as through the ORM. Binds are already JSON text
    (the column type's own processor), so they pass through as they are."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=str, decoder=json.loads, format="text"
        )


class DirectStore:
    """One per process, beside the SQLAlchemy engine, on the same database."""

    def __init__(self, url: str, dialect: Dialect) -> None:
        self._url = make_url(url)
        self._dialect = dialect
        self._sqlite = dialect.name == "sqlite"
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._eager: sqlite3.Connection | None = None
        self._pending: list[Pending] = []
        # PostgreSQL: ``execute`` of an UPDATE that batches, by statement (``_pg_updates``).
        self._updates: dict[Statement, list[tuple[Mapping[str, Any], asyncio.Future[int]]]] = {}
        self._writer_turns: dict[str, WriterTurns] = {}
        self._checkpointed_at = float("-inf")
        self._reads: dict[tuple[int, tuple[tuple[str, Any], ...]], _ReadGroup] = {}
        self._pg_committing = False
        self._sqlite_waiting = False
        self._write_thread: ThreadPoolExecutor | None = None
        self._caches: dict[str, UnchangedCache] = {}
        self._pool: LeanPool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._listener: Any = None
        self._listener_loop: asyncio.AbstractEventLoop | None = None
        self._listen_failed_at = float("-inf")
        self._connecting = False
        self._notified = 0
        self._turn_version: int | None = None
        self._wal_header: mmap.mmap | None = None
        self._wal_header_tried = False

    # ------------------------------------------------------------------ SQLite

    def _sqlite_connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._url.database or "", isolation_level=None, check_same_thread=False
        )
        for pragma in SQLITE_PRAGMAS:
            conn.execute(pragma)
        return conn

    def _sqlite_reader(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._sqlite_connect()
            self._reader.execute("PRAGMA query_only=1")
        return self._reader

    def _sqlite_wal_header(self) -> mmap.mmap | None:
        """The WAL-index header, mapped read-only, or None where there is none (a database
        not in WAL mode): then ``PRAGMA data_version`` tells instead."""
        if not self._wal_header_tried:
            self._wal_header_tried = True
            # Opened (and kept open) first: while a connection is open SQLite keeps the
            # -shm file, so the mapping always shows the live header.
            self._sqlite_reader().execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            try:
                fd = os.open(f"{self._url.database}-shm", os.O_RDONLY)
            except OSError:
                return None
            try:
                self._wal_header = mmap.mmap(fd, WAL_HEADER_BYTES, mmap.MAP_SHARED, mmap.PROT_READ)
            except (OSError, ValueError):  # shorter than a header: not a live WAL index
                self._wal_header = None
            finally:
                os.close(fd)
        return self._wal_header

    def _sqlite_eager(self) -> sqlite3.Connection:
        """A writer that never waits for the lock (busy_timeout 0), nor checkpoints: a
        checkpoint copies the WAL into the database and syncs it, milliseconds the event
        loop would stand still for; the writer thread does it instead (``_checkpoint``)."""
        if self._eager is None:
            self._eager = self._sqlite_connect()
            self._eager.execute("PRAGMA busy_timeout=0")
            self._eager.execute("PRAGMA wal_autocheckpoint=0")
        return self._eager

    def _checkpoint_soon(self) -> None:
        """After the loop's own commits, at most every ``CHECKPOINT_EVERY`` seconds: a
        passive checkpoint on the writer thread (it never waits for readers or writers)."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._checkpointed_at < CHECKPOINT_EVERY:
            return
        self._checkpointed_at = loop.time()
        loop.run_in_executor(self._writer_thread(), self._checkpoint)

    def _checkpoint(self) -> None:
        self._sqlite_writer().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _writer_thread(self) -> ThreadPoolExecutor:
        if self._write_thread is None:
            self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="fleetkey-write")
        return self._write_thread

    def _sqlite_writer(self) -> sqlite3.Connection:
        """The writer that waits for the lock (on the writer thread only)."""
        if self._writer is None:
            self._writer = self._sqlite_connect()
        return self._writer

    # ------------------------------------------------------------------ PostgreSQL

    def _dsn(self) -> str:
        return self._url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _pg(self) -> LeanPool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._pool_loop is not loop:
            # A pool belongs to the loop that made it (tests run one loop per test).
            self._pool.terminate()
            self._pool = None
        if self._pool is None:
            dsn = self._dsn()
            pool = await LeanPool.open(dsn, max_size=10, init=_json_reads)
            if self._pool is None:  # no other task made one meanwhile
                self._pool, self._pool_loop = pool, loop
            else:
                await pool.close()
        return self._pool

    # ------------------------------------------------------------------ the API

    async def first(self, statement: Statement, **params: Any) -> dict[str, Any] | None:
        """The first row of a SELECT, by column key, or None."""
        if statement.batched is not None and (statement.sqlite_batches or not self._sqlite):
            return await self._batched_first(statement, params)
        c = statement.compiled(self._dialect)
        args = _args(c, params)
        if self._sqlite:
            values = self._sqlite_reader().execute(c.sql, args).fetchone()
        else:
            pool = await self._pg()
            values = await pool.fetchrow(c.sql, *args)
        return None if values is None else _row(c, values)

    async def all(self, statement: Statement, **params: Any) -> list[dict[str, Any]]:
        """Every row of a SELECT, by column key."""
        c = statement.compiled(self._dialect)
        args = _args(c, params)
        if self._sqlite:
            records = self._sqlite_reader().execute(c.sql, args).fetchall()
        else:
            pool = await self._pg()
            records = await pool.fetch(c.sql, *args)
        return [_row(c, values) for values in records]

    def _batched_first(
        self, statement: Statement, params: dict[str, Any]
    ) -> asyncio.Future[dict[str, Any] | None]:
        """The read, queued with the others of its statement and its other parameters: a
        future of its row, which ``first`` awaits itself."""
        param = statement.batch_param
        assert param is not None
        # Keyword arguments keep the caller's order: one call site, one key (another order
        # only makes a group of its own).
        others = tuple([(k, v) for k, v in params.items() if k != param])
        group = self._reads.get((id(statement), others))
        if group is None:
            group = self._reads[(id(statement), others)] = _ReadGroup(statement, dict(others))
            if len(self._reads) == 1:
                _after_turns(asyncio.get_running_loop(), READ_GATHER_TURNS, self._flush_reads)
        done: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        group.waiting.setdefault(params[param], []).append(done)
        return done

    def _flush_reads(self) -> None:
        groups, self._reads = self._reads, {}
        for group in groups.values():
            if self._sqlite:
                self._sqlite_read_group(group)
            else:
                asyncio.ensure_future(self._read_group(group))

    def _sqlite_read_group(self, group: _ReadGroup) -> None:
        """A turn's reads of one statement on the reader, on the loop: the statement runs once
        for all of them (its fixed cost, not the index lookups, is most of a read here), and
        alone for a key ``_json_batchable`` refuses, or for each key if the batch fails."""
        statement, batched = group.statement, group.statement.batched
        param = statement.batch_param
        assert param is not None and batched is not None
        reader = self._sqlite_reader()
        keys = [k for k in group.waiting if _json_batchable(k, statement.batch_type)]
        rows: dict[Any, dict[str, Any] | None] = {}
        if len(keys) > 1:
            c = batched.compiled(self._dialect)
            try:
                args = _args(c, {**group.params, param: json.dumps(keys)})
                found = _by_batch_key(c, reader.execute(c.sql, args).fetchall())
            except Exception:  # noqa: BLE001 - each key on its own below, with its own error
                pass
            else:
                rows = {key: found.get(key) for key in keys}
        c = statement.compiled(self._dialect)
        for key in group.waiting:
            if key not in rows:
                try:
                    one = reader.execute(c.sql, _args(c, {**group.params, param: key})).fetchone()
                except Exception as exc:  # noqa: BLE001 - the caller's to handle, as unbatched
                    group.deliver(key, exc)
                    continue
                rows[key] = None if one is None else _row(c, one)
            group.deliver(key, rows[key])

    async def _read_group(self, group: _ReadGroup) -> None:
        statement, keys = group.statement, list(group.waiting)
        param = statement.batch_param
        assert param is not None and statement.batched is not None
        try:
            pool = await self._pg()
            if len(keys) == 1:
                c = statement.compiled(self._dialect)
                found = await pool.fetchrow(c.sql, *_args(c, {**group.params, param: keys[0]}))
                rows = {keys[0]: None if found is None else _row(c, found)}
            else:
                c = statement.batched.compiled(self._dialect)
                args = _args(c, {**group.params, param: keys})
                rows = _by_batch_key(c, await pool.fetch(c.sql, *args))
        except Exception as exc:
            if len(keys) == 1:
                group.deliver(keys[0], exc)
                return
            # One value the server refused fails the statement: each on its own, then.
            for key in keys:
                single = _ReadGroup(statement, group.params, {key: group.waiting[key]})
                asyncio.ensure_future(self._read_group(single))
            return
        for key in keys:
            group.deliver(key, rows.get(key))

    def cache(self, name: str) -> UnchangedCache:
        """The process's ``UnchangedCache`` called ``name`` (made on first use)."""
        hit = self._caches.get(name)
        if hit is None:
            hit = self._caches[name] = UnchangedCache(self)
        return hit

    async def data_version(self) -> Hashable | None:
        """A value that changes whenever the tables behind cached answers may have changed.

        SQLite: the WAL-index header (``WAL_HEADER_BYTES``), which every commit by any
        connection rewrites, plus this process's own commits (counted at once, before the
        header shows them to another process). Without a WAL: ``PRAGMA data_version``, which
        moves on every commit by any other connection, read once per turn of the event loop.
        PostgreSQL: the count of ``fleetkey_changes``
        notifications this process received (migration 0006 sends one when a transaction
        that changed those tables commits) plus this process's own commits, which count at
        once. None while the listener is not connected: then nothing may be cached.
        """
        if self._sqlite:
            header = self._wal_header if self._wal_header_tried else self._sqlite_wal_header()
            if header is not None:
                return (header[:WAL_HEADER_BYTES], _LOCAL_COMMITS[0])
            if self._turn_version is None:
                # Read once per turn of the event loop (it touches the WAL's shared memory,
                # a cost at connection rate): a commit by another process is seen from the
                # next turn on; this process's own commits count at once.
                row = self._sqlite_reader().execute("PRAGMA data_version").fetchone()
                self._turn_version = int(row[0])
                asyncio.get_running_loop().call_soon(self._next_turn)
            return (self._turn_version, _LOCAL_COMMITS[0])
        # Connected: no await (this runs at connection rate).
        listening = self._listener_up() or await self._listening()
        return (self._notified, _LOCAL_COMMITS[0]) if listening else None

    def _listener_up(self) -> bool:
        listener = self._listener
        return (
            listener is not None
            and self._listener_loop is asyncio.get_running_loop()
            and not listener.is_closed()
        )

    async def _listening(self) -> bool:
        loop = asyncio.get_running_loop()
        if self._listener is not None and self._listener_loop is loop:
            return not self._listener.is_closed()
        if self._listener_loop is loop and (
            self._connecting or self._listen_failed_at > loop.time() - 5
        ):
            # Another task is connecting, or the last attempt failed just now: answer
            # uncached meanwhile rather than open a connection per request.
            return False
        self._listener_loop, self._connecting = loop, True
        try:
            conn = await asyncpg.connect(self._dsn())
            await conn.add_listener(CHANGES_CHANNEL, self._on_change)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("not listening for changes, so not caching: %s", exc)
            self._listen_failed_at = loop.time()
            return False
        finally:
            self._connecting = False
        conn.add_termination_listener(self._on_lost)
        self._listener = conn
        self._notified += 1  # whatever was read before listening is not trusted
        return True

    def _next_turn(self) -> None:
        self._turn_version = None

    def _on_change(self, *_: Any) -> None:
        self._notified += 1

    def _on_lost(self, *_: Any) -> None:
        self._listener = None
        self._notified += 1

    async def execute(self, statement: Statement, **params: Any) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it touched.

        On PostgreSQL an UPDATE that batches (``Statement``) is queued apart from the units:
        each commit first runs those of one statement as one (``_pg_updates``), with none of
        a unit's bookkeeping around each (a TOTP verification's used step, at login rate).
        """
        if statement.batches_updates and not self._sqlite:
            return await self._submit_update(statement, params)
        return (await self._submit([Step(statement, params)])).rows[0]

    def _submit_update(
        self, statement: Statement, params: Mapping[str, Any]
    ) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._updates.setdefault(statement, []).append((params, done))
        self._commit_soon()
        return done

    async def run(self, steps: Sequence[Step]) -> Done:
        """Run the steps as one unit: all of them commit, or none (``UnitRefused`` when a
        step's ``rows`` did not match, or the error of the step that failed).

        Units asked for in the same turn of the event loop go together (each keeps its
        own outcome): on SQLite in one transaction, on PostgreSQL as ``_PgPlan`` says; a
        commit or a round trip costs far more than the statements, and a busy loop turns
        over many requests at once. Each caller still returns only after its unit has
        committed.
        """
        return await self._submit(steps)

    def _submit(self, steps: Sequence[Step]) -> asyncio.Future[Done]:
        """The unit, queued for the next batch: a future of its outcome, which ``execute``
        and ``run`` await themselves (a coroutine between them and it would cost its part
        of every suspension and resumption, at connection rate)."""
        unit: Unit = []
        for step in steps:
            c = step.statement.compiled(self._dialect)
            ahead = self._sqlite and not step.takes_returned
            unit.append((c, step, _args(c, step.params) if ahead else None))
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Done] = loop.create_future()
        self._pending.append((unit, done))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return done

    def _commit_soon(self) -> None:
        """PostgreSQL: the next commit starts (at the next turn) unless one is in flight, which
        takes whatever is queued when it is done."""
        if not self._pg_committing:
            self._pg_committing = True
            asyncio.ensure_future(self._pg_commits())

    def _flush(self) -> None:
        if not self._sqlite:
            # Group commit: one PostgreSQL commit (a WAL flush) in flight per process; what
            # is asked for meanwhile goes in the next one, however many it is.
            self._commit_soon()
            return
        if self._sqlite_waiting:
            # A batch is waiting for the write lock: what is asked for meanwhile goes in
            # the next one, together (a turn of the lock costs a commit and, after another
            # process wrote, SQLite reloading its page cache).
            return
        batch, self._pending = self._pending, []
        # Uncontended (the usual case): on the loop, no thread hop. If the write lock is
        # held (another process, or an ORM transaction of this one that may need this very
        # loop to finish), wait for it on the writer thread instead.
        eager = self._turns("eager")
        if eager.try_take():
            try:
                outcomes = _sqlite_batch(self._sqlite_eager(), batch)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    _deliver(batch, [exc])
                    return
            else:
                _deliver(batch, outcomes)
                self._checkpoint_soon()
                return
            finally:
                eager.give_back()
        self._sqlite_waiting = True
        waited = asyncio.get_running_loop().run_in_executor(
            self._writer_thread(), self._waited_batch, batch
        )
        waited.add_done_callback(lambda f: self._waited_done(batch, f))

    def _waited_done(self, batch: list[Pending], finished: asyncio.Future[list[Outcome]]) -> None:
        self._sqlite_waiting = False
        _deliver(batch, _outcomes_of(finished))
        if self._pending:
            self._flush()

    def _waited_batch(self, batch: list[Pending]) -> list[Outcome]:
        """On the writer thread: wait for this store's direct writers of every process in
        turn (woken the moment the holder is done), then for SQLite's lock if an ORM
        transaction holds it (its busy handler)."""
        turns = self._turns("thread")
        turns.take()
        try:
            return _sqlite_batch(self._sqlite_writer(), batch)
        finally:
            turns.give_back()

    def _turns(self, role: str) -> WriterTurns:
        hit = self._writer_turns.get(role)
        if hit is None:
            hit = self._writer_turns[role] = WriterTurns(self._url.database or "")
        return hit

    async def _pg_commits(self) -> None:
        try:
            while self._pending or self._updates:
                updates, self._updates = self._updates, {}
                batch, self._pending = self._pending, []
                # The batched updates first, as _PgPlan runs its own.
                for statement, queued in updates.items():
                    try:
                        await self._pg_updates(statement, queued)
                    except Exception as exc:  # no pool at all: every caller hears why
                        _settle_committed((done, exc) for _, done in queued)
                if batch:
                    try:
                        await self._flush_pg(batch)
                    except Exception as exc:  # no pool at all: every caller hears why
                        _deliver(batch, [exc])
        finally:
            self._pg_committing = False

    async def _pg_updates(
        self, statement: Statement, queued: list[tuple[Mapping[str, Any], asyncio.Future[int]]]
    ) -> None:
        """``execute`` calls of one batched UPDATE as one statement, a value of its batched
        parameter once; a second update for a value runs in the next commit, after the
        first, so that it sees the first's change as updates in turn would. If the
        statement fails (a value the server refuses), each runs alone, with its own outcome.
        """
        key = statement.batch_param or ""
        now: list[tuple[Mapping[str, Any], asyncio.Future[int]]] = []
        later: list[tuple[Mapping[str, Any], asyncio.Future[int]]] = []
        values: set[Any] = set()
        for item in queued:
            value = item[0].get(key)
            (later if value in values else now).append(item)
            values.add(value)
        if later:
            self._updates[statement] = later + self._updates.get(statement, [])
        pool = await self._pg()
        outcomes: list[int | BaseException] | None = None
        if len(now) > 1:
            with contextlib.suppress(Exception):  # each alone below, with its own outcome
                outcomes = await _pg_update_batch(pool, statement, self._dialect, now)
        if outcomes is None:
            outcomes = []
            for params, _ in now:
                try:
                    outcomes.append(await _pg_update_alone(pool, statement, self._dialect, params))
                except Exception as exc:
                    outcomes.append(exc)
        _settle_committed((done, outcome) for (_, done), outcome in zip(now, outcomes, strict=True))

    async def _flush_pg(self, batch: list[Pending]) -> None:
        pool = await self._pg()
        plan = _PgPlan.of(batch)
        outcomes: dict[int, Outcome] = {}
        if plan.inserts:
            await self._pg_grouped(pool, batch, plan, outcomes)
        await asyncio.gather(*(self._pg_alone(pool, batch, i, outcomes) for i in plan.alone))
        _deliver(batch, [outcomes[index] for index in range(len(batch))])

    async def _pg_alone(
        self, pool: LeanPool, batch: list[Pending], index: int, outcomes: dict[int, Outcome]
    ) -> None:
        unit = batch[index][0]
        try:
            async with pool.acquire() as conn:
                if _needs_transaction(unit):
                    async with conn.transaction():
                        outcomes[index] = await _pg_unit(conn, unit)
                else:
                    outcomes[index] = await _pg_unit(conn, unit)
        except Exception as exc:
            outcomes[index] = exc

    async def _pg_grouped(
        self, pool: LeanPool, batch: list[Pending], plan: _PgPlan, outcomes: dict[int, Outcome]
    ) -> None:
        """The groups' statements in one transaction (none around a single one). When one
        fails, their units run each on its own instead."""
        together: dict[int, Outcome] = {}
        try:
            async with pool.acquire() as conn:
                if plan.grouped_statements(batch) == 1:
                    await self._pg_groups(conn, batch, plan, together)
                else:
                    async with conn.transaction():
                        await self._pg_groups(conn, batch, plan, together)
        except Exception:
            await asyncio.gather(
                *(self._pg_alone(pool, batch, index, outcomes) for index in plan.grouped())
            )
            return
        outcomes.update(together)

    async def _pg_groups(
        self, conn: Any, batch: list[Pending], plan: _PgPlan, outcomes: dict[int, Outcome]
    ) -> None:
        for members in plan.inserts:
            outcomes.update(await _pg_inserts_together(conn, batch, members))

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            with contextlib.suppress(Exception):
                await listener.close()
        if self._write_thread is not None:
            # First: a checkpoint or a waiting batch may still be using the writer.
            thread, self._write_thread = self._write_thread, None
            await asyncio.to_thread(thread.shutdown, wait=True)
        if self._wal_header is not None:
            self._wal_header.close()
        self._wal_header, self._wal_header_tried = None, False
        for conn in (self._reader, self._writer, self._eager):
            if conn is not None:
                conn.close()
        for turns in self._writer_turns.values():
            turns.close()
        self._writer_turns.clear()
        self._reader = self._writer = self._eager = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class UnchangedCache:
    """Answers kept only while the database is unchanged since they were read.

    ``lookup`` returns a remembered answer and the version to ``keep`` a new one under. The
    version is taken before the caller reads, so a commit that lands between the read and
    ``keep`` changes it and the answer is dropped at the next lookup: never stale. Any commit
    by anyone empties the cache, so it pays off for repeated reads of a quiet store (a
    reconnect storm, validate in a loop). On PostgreSQL another node's commit reaches this
    process as a notification, a moment (well under a millisecond on one host) after it
    commits; until the listener is connected nothing is kept.
    """

    def __init__(self, store: DirectStore, max_entries: int = 100_000) -> None:
        self._store = store
        self._max = max_entries
        self._version: Hashable | None = None
        self._entries: dict[Any, Any] = {}

    async def lookup(self, key: Any) -> tuple[Any, Hashable | None]:
        version = await self._store.data_version()
        if version is None:
            return None, None
        if version != self._version:
            self._entries.clear()
            self._version = version
        return self._entries.get(key), version

    def keep(self, key: Any, value: Any, version: Hashable | None) -> None:
        if version is None or version != self._version:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = value
