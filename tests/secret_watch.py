"""Watches the whole test run for secrets reaching a log.

Imported by tests/conftest.py before any test module, it wraps every function that makes or
accepts a secret (API tokens, device passwords, AK/SK and app secrets, bootstrap OTPs, TOTP
seeds, app private keys) to remember the values, and collects every log record fleetkey,
uvicorn, SQLAlchemy or Alembic emits. ``tests/zz_last/test_no_secrets_in_logs.py`` runs
last and fails if any remembered secret appears in any collected record.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from fleetkey.authenticators import service as authenticators
from fleetkey.compat.abs import signature
from fleetkey.compat.roma import caller
from fleetkey.credentials import passwords
from fleetkey.inventory import mhealth
from fleetkey.tenants import service as tenants
from fleetkey.things import credentials

WATCHED_LOGGERS = ("fleetkey", "uvicorn", "sqlalchemy", "alembic")
MIN_SECRET_LENGTH = 8  # shorter values (6-digit codes) would match innocent text

SECRETS: set[str] = set()
RECORDS: list[str] = []


def remember(*values: Any) -> None:
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH and value != credentials.MASK:
            SECRETS.add(value)


class _Collector(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(WATCHED_LOGGERS):
            try:
                RECORDS.append(self.format(record))
            except Exception:  # a record that cannot be formatted is still text to scan
                RECORDS.append(f"{record.msg!r} {record.args!r}")


def _wrap_async(module: Any, name: str, pick: Callable[[tuple[Any, ...], Any], list[Any]]) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        remember(*pick(args + tuple(kwargs.values()), result))
        return result

    setattr(module, name, wrapper)


def _wrap_sync(module: Any, name: str, pick: Callable[[tuple[Any, ...], Any], list[Any]]) -> None:
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        remember(*pick(args + tuple(kwargs.values()), result))
        return result

    setattr(module, name, wrapper)


def install() -> None:
    handler = _Collector(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger("fleetkey").setLevel(logging.DEBUG)

    _wrap_async(tenants, "create_token", lambda a, r: [r.token])
    _wrap_sync(passwords, "generate_password", lambda a, r: [r])
    # Chosen passwords arrive as arguments; generated ones come back in the result.
    _wrap_async(credentials, "apply", lambda a, r: [a[4] if len(a) > 4 else None, r[1].password])
    _wrap_async(caller, "new_access_key", lambda a, r: [r[1]])
    _wrap_async(signature, "new_app_key", lambda a, r: [r[1]])
    _wrap_async(mhealth, "_new_pair", lambda a, r: [r.otp])
    _wrap_async(authenticators, "create_device", lambda a, r: [r[1].private_key])


install()
