"""Fixtures for real-broker tests: a private RabbitMQ node per live fleetkey server.

``live_server`` is per store backend, so ``rabbit_node`` (session scope, on top of it) is
too: one node for SQLite, one for PostgreSQL, each asking its own fleetkey over HTTP.

A node that cannot start skips the tests with the reason, except under ``CI=true`` or
``FLEETKEY_TEST_POSTGRES=1``, where it is a failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.broker.rabbit import REQUIRED, RabbitNode, RabbitUnavailable, start_node
from tests.conftest import Caller, LiveServer, new_caller


@pytest.fixture(scope="session")
def rabbit_node(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RabbitNode]:
    try:
        node = start_node(tmp_path_factory.mktemp("rabbitmq"), live_server.url)
    except RabbitUnavailable as exc:
        if REQUIRED:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield node
    finally:
        node.stop()


@dataclass
class Broker:
    """The node, asking fleetkey with a ``device:authenticate`` token of ``admin``'s tenant."""

    node: RabbitNode
    url: str  # the live fleetkey server
    method: str  # how RabbitMQ's HTTP backend asks: get (query) or post (form body)
    token: Caller
    admin: Caller  # full access to the same tenant

    @property
    def mqtt_port(self) -> int:
        return self.node.mqtt_port


@pytest.fixture(scope="module", params=["get", "post"])
async def broker(
    request: pytest.FixtureRequest,
    rabbit_node: RabbitNode,
    live_server: LiveServer,
    runtime: Runtime,
) -> AsyncIterator[Broker]:
    method: str = request.param
    admin = await new_caller(runtime)
    token = await new_caller(runtime, [scopes.DEVICE_AUTH], tenant=admin.tenant)
    rabbit_node.point_at(live_server.url, token.token, method)
    yield Broker(rabbit_node, live_server.url, method, token, admin)
    rabbit_node.point_at(live_server.url, "unset", "post")
