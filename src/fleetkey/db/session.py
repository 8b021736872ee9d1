"""Engines and sessions. The request (or a CLI ``unit_of_work``) owns the transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from fleetkey.config import Settings
from fleetkey.db.direct import SQLITE_PRAGMAS, DirectStore


def _make_engine(url: str) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=False)
    if url.startswith("sqlite"):
        # Every unit of work ends in COMMIT or ROLLBACK already; the pool's own rollback on
        # return would be one more trip to the driver thread per request.
        kwargs.update(pool_reset_on_return=None)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front: a deferred BEGIN that later upgrades
        # fails at once with SQLITE_BUSY instead of waiting for busy_timeout.
        if conn.get_execution_options().get("fleetkey_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class Database:
    """One per process: an engine plus a read and a write session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.dialect = self.engine.dialect.name
        # Single statements of the hot paths, beside the ORM (see db/direct.py).
        self.direct = DirectStore(url, self.engine.dialect)
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writers: asyncio.Lock | None = None
        self._writers_loop: asyncio.AbstractEventLoop | None = None
        self._writer_task: asyncio.Task[Any] | None = None
        self._write = async_sessionmaker(
            self.engine.execution_options(fleetkey_write=True), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url_resolved)

    @asynccontextmanager
    async def unit_of_work(self, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A transaction that commits when the block ends and rolls back on any error."""
        if write and self.dialect == "sqlite":
            async with self._sqlite_writer_turn():
                async with self._write() as session, session.begin():
                    yield session
            return
        factory = self._write if write else self._read
        async with factory() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _sqlite_writer_turn(self) -> AsyncIterator[None]:
        """SQLite has one writer at a time. Writers of this process queue here, in order,
        rather than in SQLite's busy handler, which polls with growing sleeps (up to 100 ms)
        and lets a lucky newcomer overtake: only one writer per process then waits for the
        lock, for the other processes' writers. A task that already holds the turn (a
        nested unit of work) goes on as before."""
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if self._writers is None or self._writers_loop is not loop:
            self._writers, self._writers_loop = asyncio.Lock(), loop
        if self._writer_task is task:
            yield
            return
        async with self._writers:
            self._writer_task = task
            try:
                yield
            finally:
                self._writer_task = None

    async def dispose(self) -> None:
        await self.direct.close()
        await self.engine.dispose()
