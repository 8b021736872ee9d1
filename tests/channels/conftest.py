"""Fixtures for challenge delivery: real local peers, and a private RabbitMQ STOMP node.

A STOMP node that cannot start skips its tests with the reason, except under ``CI=true``
or ``FLEETKEY_TEST_POSTGRES=1``, where it is a failure (as for the broker tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from fleetkey.db.migrate import upgrade
from tests.broker.rabbit import REQUIRED, RabbitUnavailable
from tests.channels.support import HttpReceiver, MailBox, StompNode, start_stomp_node
from tests.conftest import Store, _create_pg_database, _drop_pg_database, _pg_url


@pytest.fixture
def mailbox() -> Iterator[MailBox]:
    with MailBox() as box:
        yield box


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as peer:
        yield peer


@pytest.fixture(scope="session")
def stomp_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StompNode]:
    try:
        node = start_stomp_node(tmp_path_factory.mktemp("rabbitmq-stomp"))
    except RabbitUnavailable as exc:
        if REQUIRED:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
async def private_store(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    """A database of ``store``'s backend that no other app uses: a running delivery worker
    (the app's own, or a live server's from other tests) sees only this test's challenges."""
    data_dir = tmp_path_factory.mktemp(f"fleetkey-private-{store.backend}")
    if store.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir / 'fleetkey.db'}"
        await asyncio.to_thread(upgrade, url)
        yield Store("sqlite", url, data_dir)
        return
    name = await _create_pg_database()
    try:
        url = _pg_url(name)
        await asyncio.to_thread(upgrade, url)
        yield Store("postgresql", url, data_dir)
    finally:
        await _drop_pg_database(name)
