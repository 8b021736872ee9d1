"""Fixtures for the MOSIP rule tests."""

from __future__ import annotations

import httpx
import pytest

from tests.compat.mosip.world import World, build_world
from tests.conftest import Caller


@pytest.fixture
async def world(client: httpx.AsyncClient, caller: Caller) -> World:
    """A fresh tenant with the page's device provider and its MDS (TestSwVersion1)."""
    return await build_world(client, caller.headers)
