"""``db.pgpool.LeanPool`` against the real PostgreSQL: connections are reused, bounded,
handed to waiters, and closed rather than reused when their state is unknown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from fleetkey.db.pgpool import LeanPool, PoolClosed
from tests.conftest import PG_ADMIN_DSN, PG_REQUIRED


@pytest.fixture
async def pool() -> AsyncIterator[LeanPool]:
    try:
        made = await LeanPool.open(PG_ADMIN_DSN, max_size=2)
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: {exc}"
        if PG_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield made
    finally:
        await made.close()


async def _backend(pool: LeanPool) -> int:
    pid: int = (await pool.fetchrow("SELECT pg_backend_pid() AS pid"))["pid"]  # type: ignore[index]
    return pid


async def test_open_connects_once_and_statements_reuse_it(pool: LeanPool) -> None:
    assert (pool.size, pool.idle) == (1, 1)
    first = await _backend(pool)
    assert await _backend(pool) == first
    assert await pool.fetch("SELECT 1 AS one UNION ALL SELECT 2") == [(1,), (2,)]
    assert await pool.fetchrow("SELECT 1 WHERE false") is None
    assert (pool.size, pool.idle) == (1, 1)


async def test_a_refused_statement_leaves_the_connection_in_the_pool(pool: LeanPool) -> None:
    first = await _backend(pool)
    with pytest.raises(asyncpg.UndefinedTableError):
        await pool.fetch("SELECT * FROM no_such_table")
    assert await _backend(pool) == first
    assert (pool.size, pool.idle) == (1, 1)


async def test_at_most_max_size_open_and_a_waiter_gets_the_next_given_back(
    pool: LeanPool,
) -> None:
    a, b = await pool.take(), await pool.take()
    assert (pool.size, pool.idle) == (2, 0)
    third = asyncio.ensure_future(pool.take())
    await asyncio.sleep(0.05)
    assert not third.done() and pool.size == 2
    pool.give(a)
    assert await third is a
    pool.give(b)
    pool.give(a)
    assert (pool.size, pool.idle) == (2, 2)


async def test_a_cancelled_statement_closes_its_connection(pool: LeanPool) -> None:
    first = await _backend(pool)
    sleeping = asyncio.ensure_future(pool.fetch("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    assert (pool.size, pool.idle) == (0, 0)
    assert await _backend(pool) != first  # a new connection, not the one left mid-statement
    assert pool.size == 1


async def test_a_connection_left_in_a_transaction_is_not_reused(pool: LeanPool) -> None:
    conn = await pool.take()
    await conn.execute("BEGIN")
    pool.give(conn)
    assert conn.is_closed() and (pool.size, pool.idle) == (0, 0)


async def test_an_error_inside_acquire_closes_the_connection_unless_the_server_refused(
    pool: LeanPool,
) -> None:
    first = await _backend(pool)
    with pytest.raises(asyncpg.UndefinedTableError):
        async with pool.acquire() as conn:
            await conn.execute("SELECT * FROM no_such_table")
    assert await _backend(pool) == first
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn:
            raise RuntimeError("the caller's own failure")
    assert conn.is_closed() and pool.size == 0


async def test_a_waiter_gets_a_new_connection_when_one_is_closed(pool: LeanPool) -> None:
    a, b = await pool.take(), await pool.take()
    third = asyncio.ensure_future(pool.take())
    await asyncio.sleep(0.05)
    pool.give(a, reusable=False)
    got = await asyncio.wait_for(third, 10)
    assert got is not a and not got.is_closed()
    pool.give(got)
    pool.give(b)
    assert (pool.size, pool.idle) == (2, 2)


async def test_close_fails_waiters_and_refuses_new_callers(pool: LeanPool) -> None:
    a, b = await pool.take(), await pool.take()
    third = asyncio.ensure_future(pool.take())
    await asyncio.sleep(0.05)
    await pool.close()
    with pytest.raises(PoolClosed):
        await third
    with pytest.raises(PoolClosed):
        await pool.take()
    pool.give(a)
    pool.give(b)
    assert a.is_closed() and b.is_closed() and pool.size == 0
