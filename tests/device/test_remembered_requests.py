"""A broker's exact request, once allowed, is answered from memory until anything changes.

The suite's runtime keeps no token cache (``token_cache_seconds`` 0), under which nothing
is remembered; these tests run a node that caches tokens, as a deployment does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from fleetkey.api import device_auth
from fleetkey.app import create_app
from fleetkey.runtime import Runtime
from tests.conftest import Store, make_settings
from tests.device.support import (
    AUTH,
    Fleet,
    allowed,
    new_fleet,
    password_of,
    roma_device,
    user_of,
)


@dataclass
class Node:
    runtime: Runtime
    client: httpx.AsyncClient


@asynccontextmanager
async def _node(store: Store, token_cache_seconds: float) -> AsyncIterator[Node]:
    settings = make_settings(store, token_cache_seconds=token_cache_seconds)
    rt = Runtime.build(settings)
    transport = httpx.ASGITransport(app=create_app(settings, rt))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as c:
            yield Node(rt, c)
    finally:
        await rt.db.dispose()


@pytest.fixture
async def node(store: Store) -> AsyncIterator[Node]:
    async with _node(store, 30.0) as made:
        yield made


async def _device(node: Node) -> tuple[Fleet, str, str, str]:
    """A fleet with one device: (fleet, user name, password, the device's path)."""
    fleet = await new_fleet(node.client, node.runtime)
    device = await roma_device(node.client, fleet)
    return fleet, user_of(device), password_of(device), f"{fleet.roma}/devices/{device['id']}"


def _remembered(node: Node) -> dict[object, object]:
    cache = node.runtime.db.direct.cache(device_auth._ALLOWED_REQUESTS)
    return dict(cache._entries)


def _checks_fail(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, any request that reaches the credential check is answered 500."""

    async def unreachable(*_: object) -> None:
        raise RuntimeError("the credential check ran")

    monkeypatch.setattr(node.runtime.device_auth, "check", unreachable)


async def test_a_repeated_request_is_answered_without_checking_again(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet, user, password, path = await _device(node)
    client_id = (await node.client.get(path, headers=fleet.roma_headers)).json()["client_id"]
    assert await allowed(node.client, fleet, user, password)
    # The entry names the broker token it was allowed for (by the verifier's key for it).
    assert list(_remembered(node).values()) == [node.runtime.tokens.key(fleet.broker.token)]

    _checks_fail(node, monkeypatch)
    assert await allowed(node.client, fleet, user, password)
    # Another body (the same credential with its client id) is another question.
    response = await node.client.post(
        AUTH,
        json={"username": user, "password": password, "client_id": client_id},
        headers=fleet.broker.headers,
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"


async def test_denials_are_never_remembered(node: Node) -> None:
    fleet, user, password, _ = await _device(node)
    assert not await allowed(node.client, fleet, user, password + "x")
    assert _remembered(node) == {}


async def test_a_reset_forgets_at_once(node: Node) -> None:
    fleet, user, password, path = await _device(node)
    assert await allowed(node.client, fleet, user, password)
    assert len(_remembered(node)) == 1
    response = await node.client.put(
        path + "/authentication",
        json={},
        headers=fleet.roma_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["password"] != password
    assert not await allowed(node.client, fleet, user, password)
    assert await allowed(node.client, fleet, user, response.json()["password"])


async def test_a_disable_forgets_at_once(node: Node) -> None:
    fleet, user, password, path = await _device(node)
    assert await allowed(node.client, fleet, user, password)
    assert len(_remembered(node)) == 1
    response = await node.client.put(
        path,
        json={"status": 1},
        headers=fleet.roma_headers,
    )
    assert response.status_code == 200, response.text
    assert not await allowed(node.client, fleet, user, password)


async def test_nothing_is_remembered_past_the_token_check(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _node(store, 0.2) as short:
        fleet, user, password, _ = await _device(short)
        assert await allowed(short.client, fleet, user, password)
        assert len(_remembered(short)) == 1
        await asyncio.sleep(0.3)
        _checks_fail(short, monkeypatch)
        response = await short.client.post(
            AUTH, json={"username": user, "password": password}, headers=fleet.broker.headers
        )
        assert response.status_code == 500  # past the memory, to the check


async def test_entries_count_again_once_their_token_is_checked_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _node(store, 0.2) as short:
        fleet, user, password, _ = await _device(short)
        other = await roma_device(short.client, fleet)
        assert await allowed(short.client, fleet, user, password)
        assert await allowed(short.client, fleet, user_of(other), password_of(other))
        assert len(_remembered(short)) == 2
        await asyncio.sleep(0.3)
        # The token's cached check expired: the next request goes to the check, which
        # reads the token again...
        checks = 0
        check = short.runtime.device_auth.check

        async def counted(*args: object) -> object:
            nonlocal checks
            checks += 1
            return await check(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(short.runtime.device_auth, "check", counted)
        assert await allowed(short.client, fleet, user, password)
        assert checks == 1
        # ...and the other device's remembered request counts again without a check.
        assert await allowed(short.client, fleet, user_of(other), password_of(other))
        assert checks == 1
        assert len(_remembered(short)) == 2
