"""Tenants and API tokens."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.clock import utcnow
from fleetkey.credentials.vault import Vault
from fleetkey.db.direct import Statement
from fleetkey.db.session import Database
from fleetkey.errors import DomainError, not_found
from fleetkey.providers import catalog
from fleetkey.tenants import repository as repo
from fleetkey.tenants import scopes as scope_rules
from fleetkey.tenants.models import ApiToken, AppKey, Tenant

TOKEN_PREFIX = "fk_"


async def create_tenant(session: AsyncSession, name: str) -> Tenant:
    name = name.strip()
    if not name or len(name) > 128:
        raise DomainError("tenant.invalid_name", "a tenant name is 1 to 128 characters", 422)
    if await repo.tenant_by_name(session, name):
        raise DomainError("tenant.exists", f"tenant {name} already exists", 409)
    tenant = Tenant(name=name)
    session.add(tenant)
    await session.flush()
    await catalog.seed_defaults(session, tenant.id)
    return tenant


async def ensure_tenant(session: AsyncSession, name: str) -> Tenant:
    return await repo.tenant_by_name(session, name) or await create_tenant(session, name)


@dataclass(frozen=True)
class IssuedToken:
    record: ApiToken
    token: str  # shown once, never stored


async def create_token(
    session: AsyncSession, vault: Vault, tenant: Tenant, name: str, requested: list[str]
) -> IssuedToken:
    try:
        granted = scope_rules.normalise(requested)
    except ValueError as exc:
        raise DomainError("token.invalid_scope", str(exc), 422) from exc
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        tenant_id=tenant.id, name=name, token_hash=vault.keyed_hash(token), scopes=granted
    )
    session.add(record)
    await session.flush()
    return IssuedToken(record, token)


_Credential = TypeVar("_Credential", ApiToken, AppKey)


async def revoke(
    session: AsyncSession, model: type[_Credential], key: str, what: str
) -> _Credential:
    """Revoke a credential (an API token, an app key) by its key; revoking again keeps the
    first time. Unknown: ``<what>.not_found``."""
    record = await session.get(model, key)
    if record is None:
        raise not_found(f"{what}.not_found", f"no {what.replace('_', ' ')} {key}")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
    return record


async def revoke_token(session: AsyncSession, token_id: str) -> ApiToken:
    return await revoke(session, ApiToken, token_id, "token")


@dataclass(frozen=True)
class Principal:
    token_id: str
    tenant_id: str
    name: str
    scopes: frozenset[str]


# The token's row by its keyed hash: one indexed read on the driver (db/direct.py).
_BY_HASH = Statement(
    select(
        ApiToken.id, ApiToken.tenant_id, ApiToken.name, ApiToken.scopes, ApiToken.revoked_at
    ).where(ApiToken.token_hash == bindparam("digest"))
)


class TokenVerifier:
    """Token -> principal, with a short per-process cache.

    The cache keeps a hot credential check to one dictionary lookup. A revoked token stays
    usable on another node for at most ``ttl`` seconds (documented in docs/security.md).
    When an entry expires under load, one read refreshes it and every request for the same
    token meanwhile waits for that read, rather than each reading the store again.
    """

    def __init__(self, vault: Vault, ttl: float, max_entries: int = 10_000) -> None:
        self._vault = vault
        self._ttl = ttl
        self._max = max_entries
        # By the token's memo key (a cheap keyed digest); the store is asked by its keyed hash.
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        self._reading: dict[bytes, asyncio.Future[Principal | None]] = {}

    def key(self, token: str) -> bytes:
        """The key this verifier knows ``token`` by (see ``trusted``)."""
        return self._vault.memo_key(token.encode())

    def trusted(self, key: bytes) -> bool:
        """Does this process trust the token known by ``key`` right now, without asking the
        store: a cached check that found a live token and has not expired."""
        hit = self._cache.get(key)
        return hit is not None and hit[1] is not None and hit[0] > time.monotonic()

    async def verify(self, db: Database, token: str, key: bytes | None = None) -> Principal | None:
        """The token's principal, or None for an unknown or revoked token. ``key``: the
        token's ``key`` if the caller has it already."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
            return None
        key = key or self.key(token)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        while (reading := self._reading.get(key)) is not None:
            try:
                return await asyncio.shield(reading)
            except asyncio.CancelledError:
                if not reading.cancelled():
                    raise  # this request was cancelled
                # The reading request went away (a client disconnect): read here instead.
        reading = self._reading[key] = asyncio.get_running_loop().create_future()
        try:
            answer = await self._read(db, key, token)
        except asyncio.CancelledError:
            reading.cancel()
            raise
        except BaseException as exc:
            reading.set_exception(exc)
            reading.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._reading[key]
        reading.set_result(answer)
        return answer

    async def _read(self, db: Database, key: bytes, token: str) -> Principal | None:
        read_at = time.monotonic()  # before the read: an entry never outlives its ttl
        row = await db.direct.first(_BY_HASH, digest=self._vault.keyed_hash(token))
        principal = None
        if row is not None and row["revoked_at"] is None:
            principal = Principal(
                row["id"], row["tenant_id"], row["name"], scope_rules.expand(row["scopes"])
            )
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[key] = (read_at + self._ttl, principal)
        return principal
