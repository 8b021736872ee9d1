"""Fixtures for the Clinical One device-action tests."""

from __future__ import annotations

import httpx
import pytest

from tests.compat.clinicalone.support import Trial, new_trial
from tests.conftest import Caller


@pytest.fixture
async def trial(client: httpx.AsyncClient, caller: Caller) -> Trial:
    """A fresh tenant with the page's study, its mHealth settings, four kit types and two
    subjects in active mode."""
    return await new_trial(client, caller)
