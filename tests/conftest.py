"""Shared fixtures: every storage test runs once on SQLite and once on PostgreSQL.

PostgreSQL tests use a database created for this run and dropped afterwards. When the
server is absent they skip with the reason, except under ``CI=true`` or
``FLEETKEY_TEST_POSTGRES=1``, where an absent server is a failure.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from fleetkey.app import create_app
from fleetkey.config import Settings
from fleetkey.db.migrate import upgrade
from fleetkey.runtime import Runtime
from fleetkey.tenants import service as tenants
from tests import secret_watch  # noqa: F401  (must wrap before any test module imports)

PG_ADMIN_DSN = os.environ.get(
    "FLEETKEY_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PG_REQUIRED = os.environ.get("CI") == "true" or os.environ.get("FLEETKEY_TEST_POSTGRES") == "1"


async def _create_pg_database() -> str:
    name = f"fleetkey_test_{os.getpid()}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@dataclass
class Store:
    backend: str
    url: str
    data_dir: Path


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    data_dir = tmp_path_factory.mktemp(f"fleetkey-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'fleetkey.db'}"
        await asyncio.to_thread(upgrade, url)
        yield Store("sqlite", url, data_dir)
        return
    try:
        name = await _create_pg_database()
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_DSN}: {exc}"
        if PG_REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    url = _pg_url(name)
    await asyncio.to_thread(upgrade, url)
    try:
        yield Store("postgresql", url, data_dir)
    finally:
        await _drop_pg_database(name)


def make_settings(store: Store, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": store.data_dir,
        "database_url": store.url,
        "master_key": base64.b64encode(b"k" * 32).decode(),
        "token_cache_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def runtime(store: Store) -> AsyncIterator[Runtime]:
    rt = Runtime.build(make_settings(store))
    yield rt
    await rt.db.dispose()


@pytest.fixture(scope="session")
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fleetkey.test") as c:
        yield c


@dataclass
class Caller:
    """A fresh tenant and a token for it: tests never see each other's data."""

    tenant: str
    tenant_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_caller(
    runtime: Runtime, scopes: list[str] | None = None, tenant: str | None = None
) -> Caller:
    name = tenant or f"t-{uuid.uuid4().hex[:12]}"
    async with runtime.db.unit_of_work() as session:
        row = await tenants.ensure_tenant(session, name)
        issued = await tenants.create_token(
            session, runtime.vault, row, f"tester@{name}", scopes or []
        )
    return Caller(name, row.id, issued.token)


@pytest.fixture
async def caller(runtime: Runtime) -> Caller:
    return await new_caller(runtime)


@dataclass
class LiveServer:
    """fleetkey served over real HTTP (for clients that need a socket: SDKs, brokers)."""

    url: str
    port: int
    settings: Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(store: Store) -> Iterator[LiveServer]:
    """uvicorn in a thread of its own, with its own event loop and runtime on ``store``."""
    import uvicorn

    settings = make_settings(store)
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live fleetkey server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", port, settings)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
