"""Fixtures for the official-SDK compatibility suite of the ROMA Connect LINK surface."""

from __future__ import annotations

import pytest

from fleetkey.runtime import Runtime
from tests.compat.roma.support import Roma, setup_roma
from tests.conftest import LiveServer


@pytest.fixture
async def roma(runtime: Runtime, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Roma:
    """A fresh project (tenant) with one instance and an AK/SK pair, and an SDK client."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    return await setup_roma(runtime, live_server)
