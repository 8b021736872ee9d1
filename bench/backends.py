"""A fresh store per benchmark: a SQLite file in a temporary directory, or a PostgreSQL
database created for the run and dropped afterwards. Settings reach fleetkey only through
its ``FLEETKEY_*`` environment variables, as they would in production."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.procs import BIN, REPO

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Store:
    backend: str  # "sqlite" | "postgresql"
    data_dir: Path
    url: str  # FLEETKEY_DATABASE_URL (empty: SQLite file in data_dir)
    master_key: str
    pg_admin_dsn: str = ""
    pg_database: str = ""

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "fleetkey.db"

    @property
    def asyncpg_dsn(self) -> str:
        return f"{self.pg_admin_dsn.rsplit('/', 1)[0]}/{self.pg_database}"

    @property
    def sqlalchemy_url(self) -> str:
        return self.url or f"sqlite+aiosqlite:///{self.sqlite_path}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETKEY_")}
        env.update(
            FLEETKEY_DATA_DIR=str(self.data_dir),
            FLEETKEY_DATABASE_URL=self.url,
            FLEETKEY_MASTER_KEY=self.master_key,
            FLEETKEY_LOG_LEVEL="warning",
            PYTHONPATH=str(REPO),
        )
        env.update(extra)
        return env

    def fleetkey(self, *args: str) -> str:
        """Run the ``fleetkey`` command against this store; its standard output."""
        done = subprocess.run(
            [str(BIN / "fleetkey"), *args],
            env=self.env(),
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"fleetkey {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def migrate(self) -> None:
        self.fleetkey("migrate")

    def create_token(self, tenant: str, name: str) -> str:
        """A full-access token for ``tenant`` (created if missing); printed on the last line."""
        return self.fleetkey("token", "create", "--tenant", tenant, "--name", name).split()[-1]

    def count_devices(self) -> int:
        if self.backend == "sqlite":
            with sqlite3.connect(self.sqlite_path) as conn:
                return int(conn.execute("SELECT count(*) FROM registered_devices").fetchone()[0])
        return asyncio.run(_pg_scalar(self.asyncpg_dsn, "SELECT count(*) FROM registered_devices"))

    def size_bytes(self) -> int:
        if self.backend == "sqlite":
            return sum(p.stat().st_size for p in self.data_dir.glob("fleetkey.db*"))
        return asyncio.run(
            _pg_scalar(self.asyncpg_dsn, "SELECT pg_database_size(current_database())")
        )


async def _pg_scalar(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def _pg_admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_available(dsn: str) -> str | None:
    """None when PostgreSQL answers at ``dsn``, else why not."""
    try:
        asyncio.run(_pg_admin(dsn, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def postgres_version(dsn: str) -> str:
    async def get() -> str:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(get())


def create_store(backend: str, work_dir: Path, pg_admin_dsn: str = DEFAULT_PG_DSN) -> Store:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work_dir))
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    if backend == "sqlite":
        store = Store("sqlite", data_dir, "", master_key)
    elif backend == "postgresql":
        name = f"fleetkey_bench_{os.getpid()}_{secrets.token_hex(3)}"
        asyncio.run(_pg_admin(pg_admin_dsn, f'CREATE DATABASE "{name}"'))
        base = pg_admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        store = Store("postgresql", data_dir, f"{base}/{name}", master_key, pg_admin_dsn, name)
    else:
        raise ValueError(f"unknown backend {backend}")
    store.migrate()
    return store


def analyze_store(store: Store) -> None:
    """Refresh the planner's statistics after bulk seeding, as PostgreSQL's autovacuum (and
    any SQLite deployment's ``PRAGMA optimize``) would soon after in service. Without them
    a freshly filled table can be read through the wrong index. On PostgreSQL also VACUUM,
    as autovacuum would have done in service (this machine's runs without it): it sets the
    hint bits and the visibility map, work the first reads of the measured runs would
    otherwise do on the same two cores."""
    if store.backend == "postgresql":
        asyncio.run(_pg_admin(store.asyncpg_dsn, "VACUUM ANALYZE"))
    else:
        with sqlite3.connect(store.sqlite_path) as conn:
            conn.execute("ANALYZE")
            # Seeding's writes move from the WAL into the database file, as a server's
            # checkpoints would have done long before a storm.
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def drop_store(store: Store, keep: bool = False) -> None:
    if keep:
        return
    if store.backend == "postgresql" and store.pg_database:
        asyncio.run(
            _pg_admin(
                store.pg_admin_dsn, f'DROP DATABASE IF EXISTS "{store.pg_database}" WITH (FORCE)'
            )
        )
    shutil.rmtree(store.data_dir, ignore_errors=True)
