"""Per-tenant RS256 signing keys: created on first use, rotated on demand, published as JWKS."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.clock import utcnow
from fleetkey.credentials.vault import Vault
from fleetkey.db.session import Database
from fleetkey.keys.models import SigningKey
from fleetkey.tenants.models import Tenant

KEY_BITS = 2048
# After a rotation another node may sign with the previous key for this long; the
# previous key stays published, so those signatures still verify.
CURRENT_KEY_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Signer:
    kid: str
    private_key: rsa.RSAPrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _seal_context(tenant_id: str, kid: str) -> str:
    return f"signing-key:{tenant_id}:{kid}"


def _new_key_row(vault: Vault, tenant_id: str) -> tuple[SigningKey, rsa.RSAPrivateKey]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    jwk = RSAKey.import_key(private.public_key())
    kid = jwk.thumbprint()
    public = {**jwk.as_dict(private=False), "kid": kid, "alg": "RS256", "use": "sig"}
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    row = SigningKey(
        kid=kid,
        tenant_id=tenant_id,
        public_jwk=public,
        private_sealed=vault.seal(der, _seal_context(tenant_id, kid)),
    )
    return row, private


class KeyRing:
    """Finds (or makes) a tenant's current signer; keeps opened keys in memory.

    Keys are read and created in transactions of their own: a key is published (committed)
    before anything is signed with it, whatever happens to the request that asked for it.
    """

    def __init__(self, vault: Vault, db: Database) -> None:
        self._vault = vault
        self._db = db
        self._opened: dict[str, rsa.RSAPrivateKey] = {}
        self._current: dict[str, tuple[float, str]] = {}

    def forget(self) -> None:
        self._current.clear()

    async def current_signer(self, tenant_id: str) -> Signer:
        cached = self._current.get(tenant_id)
        if cached and cached[0] > time.monotonic():
            return Signer(cached[1], self._opened[cached[1]])
        async with self._db.unit_of_work(write=False) as session:
            row = await _current_row(session, tenant_id)
        if row is None:
            row = await self.rotate(tenant_id, retire=False)
        if row.kid not in self._opened:
            der = self._vault.open(row.private_sealed, _seal_context(tenant_id, row.kid))
            loaded = serialization.load_der_private_key(der, password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self._opened[row.kid] = loaded
        self._current[tenant_id] = (time.monotonic() + CURRENT_KEY_CACHE_SECONDS, row.kid)
        return Signer(row.kid, self._opened[row.kid])

    async def rotate(self, tenant_id: str, retire: bool = True) -> SigningKey:
        """Start a new key. ``retire`` retires the old ones (they keep verifying)."""
        row, private = await asyncio.to_thread(_new_key_row, self._vault, tenant_id)
        async with self._db.unit_of_work() as session:
            # One key change per tenant at a time (PostgreSQL row lock; SQLite writers are
            # serialised already), so concurrent first uses cannot each add a current key.
            await session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
            if not retire and (existing := await _current_row(session, tenant_id)):
                return existing  # someone else created the first key meanwhile
            now = utcnow()
            for old in await session.scalars(
                select(SigningKey).where(
                    SigningKey.tenant_id == tenant_id, SigningKey.retired_at.is_(None)
                )
            ):
                old.retired_at = now
            session.add(row)
        self._opened[row.kid] = private
        self._current.pop(tenant_id, None)
        return row


async def _current_row(session: AsyncSession, tenant_id: str) -> SigningKey | None:
    return await session.scalar(
        select(SigningKey)
        .where(SigningKey.tenant_id == tenant_id, SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )


async def jwks(session: AsyncSession, tenant_id: str | None = None) -> dict[str, Any]:
    """Public keys, current and retired: retired ones still verify old signatures."""
    stmt = select(SigningKey).order_by(SigningKey.created_at)
    if tenant_id:
        stmt = stmt.where(SigningKey.tenant_id == tenant_id)
    return {"keys": [row.public_jwk for row in await session.scalars(stmt)]}
