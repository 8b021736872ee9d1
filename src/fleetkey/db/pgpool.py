"""A lean pool of asyncpg connections for the direct statements (``db.direct``).

``asyncpg.Pool`` costs about 25 µs of client CPU per statement on these machines on top of
the statement's own ~35 (acquire through an ``asyncio.Queue``, release shielded in a task
of its own, a reset pass): measured with ``pool.fetch`` against ``conn.fetch`` in one
process, docs/performance-device.md. The direct statements never change session state (no
SET, LISTEN, advisory locks, prepared transactions), so a connection can go back to the
idle list as it is; one that may be in an unknown state (the statement was cancelled, the
connection failed, a transaction is still open) is closed instead.

One pool belongs to one event loop. Up to ``max_size`` connections are open; a caller
beyond that waits for one to come back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg


class PoolClosed(asyncpg.InterfaceError):
    """The pool was closed while a caller waited for a connection."""


class LeanPool:
    def __init__(
        self,
        dsn: str,
        max_size: int,
        init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> None:
        self._dsn = dsn
        self._max = max_size
        self._init = init
        self._idle: list[asyncpg.Connection] = []
        self._waiting: deque[asyncio.Future[asyncpg.Connection]] = deque()
        self._open = 0  # connections open or being opened, idle or in use
        self._closed = False
        self._opening: set[asyncio.Task[None]] = set()  # held: the loop keeps weak references

    @classmethod
    async def open(
        cls,
        dsn: str,
        max_size: int,
        init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> LeanPool:
        """A pool with one connection open already (so a server that is down is heard of
        here, as with ``asyncpg.create_pool``)."""
        pool = cls(dsn, max_size, init)
        pool.give(await pool.take())
        return pool

    @property
    def size(self) -> int:
        return self._open

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self._dsn)
        try:
            if self._init is not None:
                await self._init(conn)
        except BaseException:
            conn.terminate()
            raise
        return conn

    async def take(self) -> asyncpg.Connection:
        """An idle connection, a new one while fewer than ``max_size`` are open, or the next
        one given back."""
        if self._closed:
            raise PoolClosed("the connection pool is closed")
        if self._idle:
            return self._idle.pop()
        if self._open < self._max:
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                self._replace_for_waiter()
                raise
        waiter: asyncio.Future[asyncpg.Connection] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed a connection just as the caller went away: it goes to the next one.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.give(waiter.result())
            raise

    def give(self, conn: asyncpg.Connection, reusable: bool = True) -> None:
        """Back to the pool; closed instead unless ``reusable`` and in a known state."""
        if not reusable or self._closed or conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
            self._open -= 1
            self._replace_for_waiter()
            return
        waiter = self._next_waiter()
        if waiter is None:
            self._idle.append(conn)
        else:
            waiter.set_result(conn)

    def _next_waiter(self) -> asyncio.Future[asyncpg.Connection] | None:
        """The longest-waiting caller still waiting (one that went away is dropped)."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                return waiter
        return None

    def _replace_for_waiter(self) -> None:
        """A connection closed while callers wait: open another for the first of them."""
        if self._waiting and not self._closed and self._open < self._max:
            self._open += 1
            task = asyncio.ensure_future(self._open_for_waiter())
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)

    async def _open_for_waiter(self) -> None:
        try:
            conn = await self._connect()
        except Exception as exc:
            self._open -= 1
            # The waiter it was for hears why; any others wait for a connection given back.
            waiter = self._next_waiter()
            if waiter is not None:
                waiter.set_exception(exc)
            return
        self.give(conn)

    def _after_use(self, conn: asyncpg.Connection, error: BaseException | None) -> None:
        """Back after use. The server refusing a statement (``PostgresError``) leaves the
        connection as it was; anything else (cancelled mid-statement, the connection lost,
        the caller's own failure inside ``acquire``) leaves it in an unknown state."""
        self.give(conn, reusable=error is None or isinstance(error, asyncpg.PostgresError))

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self.take()
        try:
            yield conn
        except BaseException as exc:
            self._after_use(conn, exc)
            raise
        self._after_use(conn, None)

    async def _on_one(self, method: Callable[..., Awaitable[Any]], sql: str, args: Any) -> Any:
        """``method`` of a connection (``fetch``, ``fetchrow``) with the connection taken and
        given back here: what ``acquire`` does, without a context manager's own cost."""
        conn = await self.take()
        try:
            result = await method(conn, sql, *args)
        except BaseException as exc:
            self._after_use(conn, exc)
            raise
        self._after_use(conn, None)
        return result

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._on_one(asyncpg.Connection.fetch, sql, args)
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._on_one(asyncpg.Connection.fetchrow, sql, args)
        return row

    def _shut(self) -> list[asyncpg.Connection]:
        """Refuse new callers, fail the waiting ones; the idle connections, for closing."""
        self._closed = True
        while (waiter := self._next_waiter()) is not None:
            waiter.set_exception(PoolClosed("the connection pool is closed"))
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        return idle

    async def close(self) -> None:
        """Close the idle connections now; those in use close when they come back."""
        for conn in self._shut():
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    def terminate(self) -> None:
        """Close at once, without waiting for the server (the pool's loop may be gone)."""
        for conn in self._shut():
            conn.terminate()
