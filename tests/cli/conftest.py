"""Running the real ``fleetkey`` command against a fresh SQLite store or the test PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from fleetkey.app import create_app
from fleetkey.config import Settings
from tests.conftest import Store

FLEETKEY = Path(sys.executable).parent / "fleetkey"
# The key tests.conftest.make_settings uses, so tokens the CLI issues work in-process too.
MASTER_KEY = base64.b64encode(b"k" * 32).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a service manager stops it; killed if it has not ended in 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETKEY_")}
    # Rich must not wrap or colour the tables the tests read.
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb")
    env.update(extra)
    return env


@dataclass
class Cli:
    backend: str
    data_dir: Path
    database_url: str  # "" means the SQLite file in data_dir
    env: dict[str, str]

    async def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [str(FLEETKEY), *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    async def ok(self, *args: str) -> list[str]:
        """Run, expect exit status 0, return the output lines."""
        done = await self.run(*args)
        assert done.returncode == 0, (done.stdout, done.stderr)
        return done.stdout.splitlines()

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            master_key=MASTER_KEY,
            token_cache_seconds=0.0,
        )

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """The app, in-process, over the same store the command wrote to."""
        app = create_app(self.settings)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://cli.test") as c:
                yield c
        finally:
            await app.state.runtime.db.dispose()


@pytest.fixture
async def cli(store: Store, tmp_path: Path) -> Cli:
    """SQLite: a brand-new store in tmp_path (migrated here). PostgreSQL: the run's database."""
    url = "" if store.backend == "sqlite" else store.url
    env = clean_env(FLEETKEY_DATA_DIR=str(tmp_path), FLEETKEY_MASTER_KEY=MASTER_KEY)
    if url:
        env["FLEETKEY_DATABASE_URL"] = url
    runner = Cli(store.backend, tmp_path, url, env)
    await runner.ok("migrate")
    return runner
