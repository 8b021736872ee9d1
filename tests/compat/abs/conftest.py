"""Fixtures for the ABS oAuthDevice surface."""

from __future__ import annotations

import httpx
import pytest

from fleetkey.runtime import Runtime
from tests.compat.abs.support import Bank, new_bank


@pytest.fixture
async def bank(client: httpx.AsyncClient, runtime: Runtime) -> Bank:
    """A fresh tenant with an app key: tests never see each other's devices."""
    return await new_bank(client, runtime)
