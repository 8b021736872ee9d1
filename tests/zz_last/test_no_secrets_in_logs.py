"""Runs last (this folder sorts after every other): no secret made or accepted during the
whole run may appear in anything fleetkey, uvicorn, SQLAlchemy or Alembic logged."""

from __future__ import annotations

import logging

from tests import secret_watch


def test_the_watch_sees_secrets_and_logs() -> None:
    # The watch is live: it remembers what it is given and collects what fleetkey logs.
    secret_watch.remember("canary-secret-value-0123")
    logging.getLogger("fleetkey.canary").info("a harmless line")
    assert "canary-secret-value-0123" in secret_watch.SECRETS
    assert any("a harmless line" in line for line in secret_watch.RECORDS)
    secret_watch.SECRETS.discard("canary-secret-value-0123")


def test_no_secret_reached_a_log() -> None:
    leaks = [
        (secret[:4] + "...", line[:160])
        for line in secret_watch.RECORDS
        for secret in secret_watch.SECRETS
        if secret in line
    ]
    assert leaks == []
