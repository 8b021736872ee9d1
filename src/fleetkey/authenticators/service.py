"""Authenticator and notification devices: create, update, search, delete, verify codes."""

from __future__ import annotations

import base64
import io
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import create_entity, update_entity
from fleetkey.authenticators import otp
from fleetkey.authenticators.models import (
    ACTIVE,
    BLOCKED,
    DEACTIVATED,
    DEVICE_STATUSES,
    DEVICE_TYPES,
    EMAIL,
    HTTP,
    MOBILE_APPLICATION,
    PHONE,
    TOTP,
    AuthDevice,
)
from fleetkey.clock import utcnow
from fleetkey.credentials.vault import Vault
from fleetkey.db.direct import Statement
from fleetkey.db.session import Database
from fleetkey.errors import DomainError, FieldProblem, ValidationFailed, conflict, not_found
from fleetkey.tenants.context import Actor
from fleetkey.validation import Checks

SEED_BYTES = 20
HOTP_LOOK_AHEAD = 10
TOTP_WINDOW = 1  # steps accepted on each side of now
ISSUER = "fleetkey"


@dataclass
class DeviceInput:
    """Fields a caller may set; ``None`` means "not given" (keep on update)."""

    client_code: str | None = None
    device_type: int | None = None
    device_status: int | None = None
    device_number: str | None = None
    description: str | None = None
    operation_system: str | None = None
    action: str | None = None
    form_title: str | None = None
    default_for_notifications: bool | None = None
    use_device_as_login: bool | None = None
    # totp only: an imported base32 seed, and the code shape.
    private_key: str | None = None
    otp_kind: str | None = None
    otp_algorithm: str | None = None
    otp_digits: int | None = None

    def given(self) -> dict[str, Any]:
        skip = {"private_key"}
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in skip and getattr(self, f.name) is not None
        }


def _check(data: DeviceInput, creating: bool) -> None:
    c = Checks()
    c.text("client_code", data.client_code, 64, required=creating)
    if creating and data.device_type is None:
        c.add("device_type", "must not be null")
    if data.device_type is not None and data.device_type not in range(len(DEVICE_TYPES)):
        c.add("device_type", f"must be one of {', '.join(DEVICE_TYPES)} (or 0 to 5)")
    if data.device_status is not None and data.device_status not in range(len(DEVICE_STATUSES)):
        c.add("device_status", f"must be one of {', '.join(DEVICE_STATUSES)} (or 0 to 2)")
    c.text("device_number", data.device_number, 256, required=False)
    for name, limit in (
        ("description", 512),
        ("operation_system", 64),
        ("action", 64),
        ("form_title", 128),
    ):
        c.text(name, getattr(data, name), limit, required=False, min_len=0)
    if data.otp_kind is not None and data.otp_kind not in ("totp", "hotp"):
        c.add("otp_kind", "must be totp or hotp")
    if data.otp_algorithm is not None and data.otp_algorithm not in otp.ALGORITHMS:
        c.add("otp_algorithm", "must be SHA1, SHA256 or SHA512")
    if data.otp_digits is not None and data.otp_digits not in otp.DIGITS:
        c.add("otp_digits", "must be 6 or 8")
    c.raise_if_any()


def _check_number(device_type: int, number: str | None) -> None:
    """A webhook device's number is the URL fleetkey will POST to: only http(s)."""
    if device_type == HTTP and number is not None and not re.match(r"^https?://[^\s/]+", number):
        raise ValidationFailed(
            [FieldProblem("device_number", "must be an http:// or https:// URL")]
        )


def _needs_number(device_type: int) -> bool:
    return device_type not in (TOTP, MOBILE_APPLICATION)


def masked(device_type: int, number: str | None) -> str | None:
    """How a device number is shown: enough to recognise, not enough to use."""
    if not number:
        return None
    if device_type == EMAIL and "@" in number:
        local, _, domain = number.partition("@")
        return f"{local[:1]}***@{domain}"
    if device_type == PHONE:
        digits = re.sub(r"\D", "", number)
        prefix = "+" if number.strip().startswith("+") else ""
        if len(digits) <= 6:
            return f"{prefix}***{digits[-2:]}"
        return f"{prefix}{digits[:2]}{'*' * (len(digits) - 5)}{digits[-3:]}"
    if device_type == HTTP:
        match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^/@]*@)?([^/]+)", number)
        return f"{match.group(1)}{match.group(2)}/***" if match else "***"
    return f"***{number[-4:]}" if len(number) > 4 else "***"


@dataclass(frozen=True)
class Enrolment:
    """What a create shows once: the seed and its QR code, or the app's private key."""

    private_key: str | None = None
    qr_png_base64: str | None = None


def _qr(uri: str) -> str:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=4)
    return base64.b64encode(buffer.getvalue()).decode()


def _seal_context(device: AuthDevice) -> str:
    return seal_context(device.tenant_id, device.uid)


def seal_context(tenant_id: str, uid: str) -> str:
    """What a seed is sealed to: moving it to another record or tenant breaks it."""
    return f"auth-device:{tenant_id}:{uid}"


async def _clear_other_defaults(session: AsyncSession, actor: Actor, device: AuthDevice) -> None:
    """One default notification device per client: the others stop being it (each change
    versioned, with history and audit like any other)."""
    others = await session.scalars(
        select(AuthDevice).where(
            AuthDevice.tenant_id == device.tenant_id,
            AuthDevice.client_code == device.client_code,
            AuthDevice.id != device.id,
            AuthDevice.default_for_notifications.is_(True),
        )
    )
    for other in list(others):
        await update_entity(
            session,
            actor,
            other,
            {"default_for_notifications": False},
            utcnow(),
            action="clear_default",
        )


async def _refuse_login_clash(session: AsyncSession, device: AuthDevice) -> None:
    if not device.use_device_as_login or not device.device_number:
        return
    clash = await session.scalar(
        select(AuthDevice.id).where(
            AuthDevice.tenant_id == device.tenant_id,
            AuthDevice.device_number == device.device_number,
            AuthDevice.use_device_as_login.is_(True),
            AuthDevice.id != device.id,
        )
    )
    if clash is not None:
        raise conflict(
            "auth_device.login_taken", f"device number {device.device_number} is already a login"
        )


async def create_device(
    session: AsyncSession, vault: Vault, actor: Actor, data: DeviceInput
) -> tuple[AuthDevice, Enrolment]:
    _check(data, creating=True)
    assert data.device_type is not None
    if _needs_number(data.device_type) and not data.device_number:
        raise ValidationFailed([FieldProblem("device_number", "must not be null")])
    _check_number(data.device_type, data.device_number)
    row = AuthDevice(uid=str(uuid.uuid4()), **data.given())
    row.tenant_id = actor.tenant_id
    row.device_status = row.device_status if row.device_status is not None else ACTIVE
    enrolment = Enrolment()
    if row.device_type == TOTP:
        try:
            seed = otp.from_b32(data.private_key) if data.private_key else os.urandom(SEED_BYTES)
        except ValueError as exc:
            raise ValidationFailed([FieldProblem("private_key", "must be base32")]) from exc
        if len(seed) < 10:
            raise ValidationFailed([FieldProblem("private_key", "at least 80 bits")])
        row.otp_kind = row.otp_kind or "totp"
        row.otp_algorithm = row.otp_algorithm or "SHA1"
        row.otp_digits = row.otp_digits or 6
        row.otp_counter = -1 if row.otp_kind == "totp" else 0
        row.secret_sealed = vault.seal(seed, _seal_context(row))
        uri = otp.key_uri(
            row.otp_kind,
            ISSUER,
            row.device_number or row.client_code,
            seed,
            row.otp_digits,
            row.otp_algorithm,
        )
        enrolment = Enrolment(private_key=otp.b32(seed), qr_png_base64=_qr(uri))
    elif row.device_type == MOBILE_APPLICATION:
        key = Ed25519PrivateKey.generate()
        row.public_key_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        enrolment = Enrolment(private_key=private_pem)
    await _refuse_login_clash(session, row)
    try:
        await create_entity(session, actor, row, utcnow())
    except IntegrityError as exc:
        raise conflict("auth_device.login_taken", "device number is already a login") from exc
    if row.default_for_notifications:
        await _clear_other_defaults(session, actor, row)
    return row, enrolment


def _numeric_id(ident: str | int) -> int | None:
    """A device is named by its numeric id (up to 18 ASCII digits, what int64 holds) or,
    failing that, by its uid."""
    text = str(ident)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _device_not_found(ident: str | int) -> DomainError:
    return not_found("auth_device.not_found", "RECORD-NOT-FOUND", id=str(ident)[:64])


async def get_device(session: AsyncSession, tenant_id: str, ident: str | int) -> AuthDevice:
    """By numeric id or by uid."""
    number = _numeric_id(ident)
    if number is not None:
        row = await session.get(AuthDevice, number)
    else:
        row = await session.scalar(select(AuthDevice).where(AuthDevice.uid == str(ident)[:36]))
    if row is None or row.tenant_id != tenant_id:
        raise _device_not_found(ident)
    return row


async def update_device(
    session: AsyncSession,
    actor: Actor,
    ident: str | int,
    data: DeviceInput,
    expected_version: int | None,
) -> AuthDevice:
    _check(data, creating=False)
    row = await get_device(session, actor.tenant_id, ident)
    if expected_version is None:
        raise ValidationFailed([FieldProblem("version", "an update must carry the version")])
    changes = data.given()
    if "device_type" in changes and changes["device_type"] != row.device_type:
        raise ValidationFailed([FieldProblem("device_type", "cannot change; create a device")])
    if data.private_key is not None:
        raise ValidationFailed([FieldProblem("private_key", "is set only when created")])
    _check_number(row.device_type, data.device_number)
    for name in ("otp_kind", "otp_algorithm", "otp_digits"):
        changes.pop(name, None)
    # Any way out of deactivated (to blocked too, then active) would undo it.
    status = changes.get("device_status", row.device_status)
    if row.device_status == DEACTIVATED and status != DEACTIVATED:
        raise conflict("auth_device.deactivated", "a deactivated device stays deactivated")
    if changes.get("device_status") == ACTIVE and row.device_status == BLOCKED:
        changes.update(failures=0, blocked_at=None)  # an operator unblocks it
    probe_login = changes.get("use_device_as_login", row.use_device_as_login)
    probe_number = changes.get("device_number", row.device_number)
    if probe_login and probe_number:
        clash = await session.scalar(
            select(AuthDevice.id).where(
                AuthDevice.tenant_id == row.tenant_id,
                AuthDevice.device_number == probe_number,
                AuthDevice.use_device_as_login.is_(True),
                AuthDevice.id != row.id,
            )
        )
        if clash is not None:
            raise conflict(
                "auth_device.login_taken", f"device number {probe_number} is already a login"
            )
    await update_entity(session, actor, row, changes, utcnow(), expected_version)
    if row.default_for_notifications:
        await _clear_other_defaults(session, actor, row)
    return row


async def delete_device(session: AsyncSession, actor: Actor, ident: str | int) -> None:
    row = await get_device(session, actor.tenant_id, ident)
    await update_entity(session, actor, row, {"is_active": False}, utcnow(), action="delete")
    await session.delete(row)


@dataclass
class Search:
    client_code: str | None = None
    device_type: int | None = None
    device_status: int | None = None
    device_number: str | None = None
    default_for_notifications: bool | None = None
    use_device_as_login: bool | None = None
    uid: str | None = None
    text: str | None = None


async def search(
    session: AsyncSession, tenant_id: str, s: Search, offset: int, limit: int
) -> tuple[int, list[AuthDevice]]:
    conditions: list[Any] = [AuthDevice.tenant_id == tenant_id]
    for column, value in (
        (AuthDevice.client_code, s.client_code),
        (AuthDevice.device_type, s.device_type),
        (AuthDevice.device_status, s.device_status),
        (AuthDevice.device_number, s.device_number),
        (AuthDevice.default_for_notifications, s.default_for_notifications),
        (AuthDevice.use_device_as_login, s.use_device_as_login),
        (AuthDevice.uid, s.uid),
    ):
        if value is not None:
            conditions.append(column == value)
    if s.text:
        conditions.append(
            or_(
                AuthDevice.description.contains(s.text, autoescape=True),
                AuthDevice.device_number.contains(s.text, autoescape=True),
            )
        )
    total = await session.scalar(select(func.count()).select_from(AuthDevice).where(*conditions))
    rows = await session.scalars(
        select(AuthDevice).where(*conditions).order_by(AuthDevice.id).offset(offset).limit(limit)
    )
    return int(total or 0), list(rows)


# ------------------------------------------------------------------ verifying codes


@dataclass(frozen=True)
class VerifyPolicy:
    max_failures: int = 10
    unblock_after_seconds: int | None = None  # None: a blocked device stays blocked


def _verify_columns() -> Select[*tuple[Any, ...]]:
    """A verification's row, found by its key alone; ``verify_code`` checks the tenant on
    it. With the tenant in the WHERE clause as well, PostgreSQL read a batch of keys
    through the tenant's index and filtered all of the tenant's devices whenever it had
    no statistics for the table (a fresh import before autovacuum's first analysis, or
    autovacuum off): 0.9 ms for 9 keys among 5,000 devices, against 0.03 through the key's
    own index. By the key alone no plan but the key's index fits."""
    d = AuthDevice
    return select(
        d.id,
        d.uid,
        d.tenant_id,
        d.device_type,
        d.device_status,
        d.otp_kind,
        d.otp_algorithm,
        d.otp_digits,
        d.secret_sealed,
        d.otp_counter,
        d.failures,
        d.blocked_at,
    )


# Verification runs at login rate: single statements straight on the driver (db/direct.py).
_VERIFY_BY_ID = Statement(
    _verify_columns().where(AuthDevice.id == bindparam("id")), batch_on=("id", AuthDevice.id)
)
_VERIFY_BY_UID = Statement(
    _verify_columns().where(AuthDevice.uid == bindparam("uid")), batch_on=("uid", AuthDevice.uid)
)
# The guard on the counter read means of two concurrent uses exactly one succeeds.
_USE_STEP = Statement(
    update(AuthDevice)
    .where(
        AuthDevice.id == bindparam("id"),
        AuthDevice.otp_counter == bindparam("seen"),
        AuthDevice.device_status == ACTIVE,
    )
    .values(otp_counter=bindparam("counter", type_=AuthDevice.otp_counter.type), failures=0),
    batch_on=("id", AuthDevice.id),
)
_COUNT_FAILURE = Statement(
    update(AuthDevice)
    .where(AuthDevice.id == bindparam("id"))
    .values(failures=AuthDevice.failures + 1)
)


async def _set_state(
    db: Database, actor: Actor, device_id: int, changes: dict[str, Any], action: str
) -> None:
    """A block or an unblock: a change of the record, with history and audit.

    A concurrent verification may have made the same change first (many replays of one
    code reach the failure limit together): the record then moved on without this one,
    which changes nothing about this request's answer.
    """
    try:
        async with db.unit_of_work() as session:
            row = await get_device(session, actor.tenant_id, device_id)
            await update_entity(session, actor, row, changes, utcnow(), action=action)
    except DomainError as exc:
        if exc.code != "version.conflict":
            raise


def totp_candidates(now: int, last_used: int) -> list[int]:
    """The steps a TOTP code may be for, likeliest first: now, then each step of the window
    on either side (a clock a little off, a code sent as its step ended); none at or
    before the last step used."""
    steps = [now]
    for distance in range(1, TOTP_WINDOW + 1):
        steps += (now - distance, now + distance)
    return [step for step in steps if step > last_used]


async def verify_code(
    db: Database,
    vault: Vault,
    actor: Actor,
    ident: str | int,
    code: str,
    policy: VerifyPolicy,
) -> bool:
    """One-time code check. A used TOTP step or HOTP counter is never accepted again."""
    number = _numeric_id(ident)
    if number is not None:
        row = await db.direct.first(_VERIFY_BY_ID, id=number)
    else:
        row = await db.direct.first(_VERIFY_BY_UID, uid=str(ident)[:36])
    if row is None or row["tenant_id"] != actor.tenant_id:
        raise _device_not_found(ident)
    if row["device_type"] != TOTP or row["secret_sealed"] is None:
        raise DomainError(
            "auth_device.not_an_authenticator", "only totp devices verify one-time codes", 422
        )
    if row["device_status"] == DEACTIVATED:
        return False
    if row["device_status"] == BLOCKED:
        blocked_at = row["blocked_at"]
        expired = (
            policy.unblock_after_seconds is not None
            and blocked_at is not None
            and blocked_at + timedelta(seconds=policy.unblock_after_seconds) <= utcnow()
        )
        if not expired:
            return False
        unblocked = {"device_status": ACTIVE, "failures": 0, "blocked_at": None}
        await _set_state(db, actor, row["id"], unblocked, "unblock")
        row.update(unblocked)
    digits = row["otp_digits"] or 6
    # ASCII digits only: "１２３４５６".isdigit() holds, and compare_digest refuses non-ASCII.
    if not (code.isascii() and code.isdigit()) or len(code) != digits:
        matched = None
    else:
        seed = vault.open(row["secret_sealed"], seal_context(actor.tenant_id, row["uid"]))
        counter = row["otp_counter"]
        steps: Iterable[int]
        if row["otp_kind"] == "hotp":
            steps = range(counter, counter + HOTP_LOOK_AHEAD + 1)
        else:
            steps = totp_candidates(otp.totp_step(time.time()), counter)
        matched = otp.matching_step(seed, code, steps, digits, row["otp_algorithm"] or "SHA1")
    if matched is not None:
        # Counters are operational state, not a change of the record: no history row.
        used = await db.direct.execute(
            _USE_STEP,
            id=row["id"],
            seen=row["otp_counter"],
            counter=matched + 1 if row["otp_kind"] == "hotp" else matched,
        )
        return used == 1
    if row["failures"] + 1 >= policy.max_failures:
        blocked = {
            "failures": row["failures"] + 1,
            "device_status": BLOCKED,
            "blocked_at": utcnow(),
        }
        await _set_state(db, actor, row["id"], blocked, "block")
    else:
        await db.direct.execute(_COUNT_FAILURE, id=row["id"])
    return False
