"""May this device connect? The check a message broker asks for at every connection.

How a device identifies itself (docs/compat/roma.md):

- one-device-one-secret: ``username`` is the device's own user name; ``client_id``, when
  given, must be the device's client id;
- one-model-one-secret: ``username`` is the product's user name and ``client_id`` names a
  device of that product which has no credential of its own.

Every check decides on the subject's current row (status, stored secret), so a disable, a
delete or a reset takes effect at once. Cached are only the Argon2id comparison (see
``credentials.passwords.PasswordChecker``) and allowed attempts while no one has written
to the store since (``db.direct.UnchangedCache``; on PostgreSQL another node's write
arrives as a notification a moment after its commit). Failed attempts are counted in the
database, shared by all nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, cast, literal, select, update
from sqlalchemy.exc import IntegrityError

from fleetkey.audit.service import emit
from fleetkey.clock import utcnow
from fleetkey.credentials.passwords import PasswordChecker, StoredSecret
from fleetkey.db.direct import Statement
from fleetkey.db.session import Database
from fleetkey.tenants.context import Actor
from fleetkey.things.models import DISABLED, AuthFailures, Device, Product
from fleetkey.validation import unstorable

MAX_FIELD = 256


def _loggable(value: str) -> str:
    """What of a presented value may go into the audit log (no store refuses it)."""
    return "<unreadable>" if unstorable(value) else value[:MAX_FIELD]


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    window_seconds: int = 300
    lockout_seconds: int = 300


@dataclass(frozen=True)
class Attempt:
    username: str
    password: str
    client_id: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # for the audit log only, never for the caller
    device_id: int | None = None


def _subject_columns(owner: Any) -> Select[*tuple[Any, ...]]:
    """A device, with its failure counter, and the secret of ``owner`` (itself or its product)."""
    failures = and_(
        AuthFailures.tenant_id == Device.tenant_id,
        AuthFailures.subject == literal("device:") + cast(Device.id, String),
    )
    return (
        select(
            Device.id,
            Device.client_id,
            Device.status,
            owner.secret_kind,
            owner.secret_hash,
            Device.secret_hash.label("own_secret"),
            AuthFailures.failures,
            AuthFailures.locked_until,
        )
        .select_from(Device)
        .outerjoin(AuthFailures, failures)
        .where(Device.tenant_id == bindparam("tenant_id"))
    )


# The checks below run once per connection attempt: one statement each, straight on the
# driver (db/direct.py).
_BY_DEVICE_USER = Statement(
    _subject_columns(Device).where(Device.user_name == bindparam("user")),
    batch_on=("user", Device.user_name),
    sqlite_batches=True,
)
_BY_PRODUCT_USER = Statement(
    _subject_columns(Product)
    .join(Product, Product.id == Device.product_id)
    .where(Product.tenant_id == bindparam("tenant_id"), Product.user_name == bindparam("user"))
    .where(Device.client_id == bindparam("client_id"))
)
_PRODUCT_EXISTS = Statement(
    select(Product.id).where(
        Product.tenant_id == bindparam("tenant_id"), Product.user_name == bindparam("user")
    )
)


@dataclass(frozen=True)
class Subject:
    device_id: int
    status: int
    stored: StoredSecret
    failures: int
    locked_until: datetime | None


async def _subject(db: Database, tenant_id: str, attempt: Attempt) -> tuple[Subject | None, str]:
    """The device and the secret it must present, or (None, reason)."""
    row = await db.direct.first(_BY_DEVICE_USER, tenant_id=tenant_id, user=attempt.username)
    if row is not None:
        if attempt.client_id and attempt.client_id != row["client_id"]:
            return None, "client id does not belong to the device"
    else:
        if not attempt.client_id:
            known = await db.direct.first(
                _PRODUCT_EXISTS, tenant_id=tenant_id, user=attempt.username
            )
            why = "product credential without a client id"
            return None, why if known else "unknown user name"
        row = await db.direct.first(
            _BY_PRODUCT_USER,
            tenant_id=tenant_id,
            user=attempt.username,
            client_id=attempt.client_id,
        )
        if row is None:
            known = await db.direct.first(
                _PRODUCT_EXISTS, tenant_id=tenant_id, user=attempt.username
            )
            return (
                None,
                "client id is not a device of the product" if known else "unknown user name",
            )
        if row["own_secret"] is not None:
            return None, "device has its own credential"
    return (
        Subject(
            row["id"],
            row["status"],
            StoredSecret(row["secret_kind"] or "", row["secret_hash"] or ""),
            row["failures"] or 0,
            row["locked_until"],
        ),
        "",
    )


class DeviceAuthenticator:
    def __init__(self, db: Database, checker: PasswordChecker, policy: LockoutPolicy) -> None:
        self._db = db
        self._checker = checker
        self._policy = policy
        # Allowed attempts, while the store is unchanged (db/direct.py, UnchangedCache).
        self._allowed = db.direct.cache("device_auth.allowed")

    async def check(self, actor: Actor, attempt: Attempt) -> Decision:
        if (
            any(
                unstorable(v) for v in (attempt.username, attempt.password, attempt.client_id or "")
            )
            or not attempt.username
            or not attempt.password
            or max(len(attempt.username), len(attempt.password), len(attempt.client_id or ""))
            > MAX_FIELD
        ):
            return await self._deny(actor, attempt, None, "missing or oversized credentials")
        fingerprint = self._checker.fingerprint(attempt.password)
        key = (actor.tenant_id, attempt.username, attempt.client_id, fingerprint)
        known, version = await self._allowed.lookup(key)
        if known is not None:
            return Decision(True, "ok", known)
        subject, reason = await _subject(self._db, actor.tenant_id, attempt)
        if subject is None:
            return await self._deny(actor, attempt, None, reason)
        device_id, stored = subject.device_id, subject.stored
        if subject.locked_until and subject.locked_until > utcnow():
            return await self._deny(actor, attempt, device_id, "locked after failed attempts")
        if subject.status == DISABLED:
            return await self._deny(actor, attempt, device_id, "device is disabled")
        if not stored.hash or not await self._checker.matches(
            f"device:{device_id}", stored, attempt.password, fingerprint
        ):
            await self._count_failure(actor.tenant_id, device_id)
            return await self._deny(actor, attempt, device_id, "wrong password")
        if subject.failures:
            await self._clear_failures(actor.tenant_id, device_id)
        else:
            self._allowed.keep(key, device_id, version)
        return Decision(True, "ok", device_id)

    async def _deny(
        self, actor: Actor, attempt: Attempt, device_id: int | None, reason: str
    ) -> Decision:
        async with self._db.unit_of_work() as session:
            emit(
                session,
                actor,
                "auth_denied",
                "device",
                str(device_id) if device_id is not None else "",
                {
                    "reason": reason,
                    "username": _loggable(attempt.username),
                    "client_id": _loggable(attempt.client_id or ""),
                },
                utcnow(),
            )
        return Decision(False, reason, device_id)

    async def _count_failure(self, tenant_id: str, device_id: int) -> None:
        subject = f"device:{device_id}"
        now = utcnow()
        policy = self._policy
        for _ in range(3):
            try:
                async with self._db.unit_of_work() as session:
                    row = await session.get(AuthFailures, (tenant_id, subject))
                    if row is None:
                        session.add(
                            AuthFailures(
                                tenant_id=tenant_id,
                                subject=subject,
                                window_started_at=now,
                                failures=1,
                            )
                        )
                        await session.flush()
                        row = await session.get(AuthFailures, (tenant_id, subject))
                        assert row is not None
                    elif row.window_started_at + timedelta(seconds=policy.window_seconds) < now or (
                        row.locked_until is not None and row.locked_until <= now
                    ):
                        # A new window, or a served cool-down: count from one again.
                        row.window_started_at, row.failures, row.locked_until = now, 1, None
                    else:
                        # Atomic on every backend, whatever other nodes count meanwhile.
                        await session.execute(
                            update(AuthFailures)
                            .where(
                                AuthFailures.tenant_id == tenant_id, AuthFailures.subject == subject
                            )
                            .values(failures=AuthFailures.failures + 1)
                        )
                        await session.refresh(row)
                    if row.failures >= policy.max_failures:
                        row.locked_until = now + timedelta(seconds=policy.lockout_seconds)
                return
            except IntegrityError:
                continue  # another node inserted the first failure; count again

    async def _clear_failures(self, tenant_id: str, device_id: int) -> None:
        async with self._db.unit_of_work() as session:
            row = await session.get(AuthFailures, (tenant_id, f"device:{device_id}"))
            if row is not None:
                await session.delete(row)
