"""``X-App-Sig``: fleetkey's own scheme, since ABS documents none (see docs/compat/abs.md).

    X-App-Sig: APP_ID:UNIX_SECONDS:hex(HMAC-SHA256(app_secret,
                   METHOD "\\n" PATH "\\n" UNIX_SECONDS "\\n" hex(sha256(body))))

Valid for 5 minutes either side of now; each signature is accepted once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.credentials.randomness import random_text
from fleetkey.credentials.replay import first_use
from fleetkey.credentials.vault import Vault
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes as scope_rules
from fleetkey.tenants.models import AppKey
from fleetkey.tenants.service import Principal, revoke

MAX_AGE_SECONDS = 300
DEV_SKIP = "DEV-SKIP"


def _context(app_id: str) -> str:
    return f"app-key:{app_id}"


def string_to_sign(method: str, path: str, seconds: str, body: bytes) -> str:
    return f"{method.upper()}\n{path}\n{seconds}\n{hashlib.sha256(body).hexdigest()}"


def sign(
    app_id: str, secret: str, method: str, path: str, body: bytes, now: float | None = None
) -> str:
    """What a client sends (used by the tests and documented for integrators)."""
    seconds = str(int(time.time() if now is None else now))
    mac = hmac.new(
        secret.encode(), string_to_sign(method, path, seconds, body).encode(), hashlib.sha256
    ).hexdigest()
    return f"{app_id}:{seconds}:{mac}"


async def new_app_key(
    session: AsyncSession, vault: Vault, tenant_id: str, name: str
) -> tuple[str, str]:
    app_id = "app_" + random_text(string.ascii_lowercase + string.digits, 16)
    secret = secrets.token_urlsafe(32)
    session.add(
        AppKey(
            app_id=app_id,
            tenant_id=tenant_id,
            name=name,
            secret_sealed=vault.seal(secret.encode(), _context(app_id)),
        )
    )
    await session.flush()
    return app_id, secret


async def list_app_keys(session: AsyncSession, tenant_id: str | None) -> list[AppKey]:
    stmt = select(AppKey).order_by(AppKey.created_at, AppKey.app_id)
    if tenant_id:
        stmt = stmt.where(AppKey.tenant_id == tenant_id)
    return list(await session.scalars(stmt))


async def revoke_app_key(session: AsyncSession, app_id: str) -> AppKey:
    """From now on no signature by this key is accepted (``verify`` reads the key on every
    call, so on every node at once)."""
    return await revoke(session, AppKey, app_id, "app_key")


async def verify(rt: Runtime, header: str, method: str, path: str, body: bytes) -> Principal | None:
    app_id, _, rest = header.partition(":")
    seconds, _, mac = rest.partition(":")
    if not (app_id and seconds.isdigit() and len(mac) == 64 and len(app_id) <= 64):
        return None
    if abs(time.time() - int(seconds)) > MAX_AGE_SECONDS:
        return None
    async with rt.db.unit_of_work(write=False) as session:
        key = await session.get(AppKey, app_id)
    if key is None or key.revoked_at is not None:
        return None
    secret = rt.vault.open(key.secret_sealed, _context(app_id)).decode()
    expected = hmac.new(
        secret.encode(), string_to_sign(method, path, seconds, body).encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, mac.lower()):
        return None
    if not await first_use(rt.db, f"abs:{mac.lower()}", 2 * MAX_AGE_SECONDS):
        return None
    return Principal(
        f"app:{app_id}", key.tenant_id, f"app:{app_id}", frozenset({scope_rules.FULL_ACCESS})
    )
