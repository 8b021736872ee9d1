"""Registering dispensed devices with mHealth, their bootstrap pair, and the bootstrap itself.

The pair is an access ID (6 characters) and a one-time password (8 characters), both from
an alphabet without look-alikes. The OTP is stored as a keyed hash, expires (24 hours by
default), works once, and locks after too many wrong tries until it is recreated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, and_, bindparam, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import emit, emit_step, update_entity
from fleetkey.clock import utcnow
from fleetkey.credentials.randomness import random_text
from fleetkey.credentials.vault import Vault
from fleetkey.db.direct import INTEGRITY_ERRORS, Statement, Step, UnitRefused
from fleetkey.db.session import Database
from fleetkey.errors import DomainError
from fleetkey.inventory import service as inventory
from fleetkey.inventory.models import (
    CLOUD_TO_CLOUD,
    DEVICE_TO_CLOUD,
    MODES,
    NO_CONNECTION,
    InventoryItem,
    KitType,
    MhealthDevice,
    Study,
    Subject,
)
from fleetkey.tenants.context import Actor
from fleetkey.things.models import DISABLED, Device

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0 or 1
ACCESS_ID_LENGTH, OTP_LENGTH = 6, 8


def _random(length: int) -> str:
    return random_text(ALPHABET, length)


def _rule(code: str, message: str) -> DomainError:
    return DomainError(code, message, 400)


@dataclass(frozen=True)
class Dispensed:
    study: Study
    subject: Subject
    item: InventoryItem
    kit: KitType


async def _dispensed(
    session: AsyncSession,
    tenant_id: str,
    study_id: str,
    mode: str,
    subject_id: str,
    m_subject_id: str | None,
    inventory_id: str,
) -> Dispensed:
    """The preconditions every device action shares, in Clinical One's order."""
    study = await inventory.get_study(session, tenant_id, study_id, mode)
    subject = await session.get(Subject, (tenant_id, study_id, mode, subject_id[:64]))
    if subject is None or (m_subject_id is not None and subject.m_subject_id != m_subject_id):
        raise _rule("device.invalid_subject", "Invalid subject ID")
    # Locked (PostgreSQL): device actions on one kit run one at a time, so two concurrent
    # registrations cannot both find "not registered yet".
    item = await session.get(
        InventoryItem, (tenant_id, study_id, mode, inventory_id[:64]), with_for_update=True
    )
    if item is None:
        raise _rule("device.invalid_device", "Invalid device Id")
    if item.dispensed_to is None:
        raise _rule("device.not_dispensed", "Device is not dispensed to the subject")
    if item.dispensed_to != subject.id:
        raise _rule("device.dispensed_to_other", "Device is dispensed to different subject")
    kit = await session.get(KitType, (tenant_id, study_id, item.kit_type_id))
    if kit is None or kit.connection_type is None:
        raise _rule("device.no_connection_type", "Device does not have any connection type")
    if kit.connection_type == NO_CONNECTION:
        raise _rule("device.no_connection", "Device is of no-connection connection type")
    return Dispensed(study, subject, item, kit)


def _require_settings(study: Study) -> None:
    if not study.mhealth_settings:
        raise DomainError("mhealth.settings_missing", "mHealth settings are not found", 500)


async def _live_registration(session: AsyncSession, d: Dispensed) -> MhealthDevice | None:
    # FOR UPDATE (PostgreSQL; SQLite writers are serialised anyway): wait for a bootstrap
    # redeeming the pair to commit, so recreate/deregister see its otp_used_at and thing_id
    # instead of overwriting a stale snapshot (a new pair answering 401, a live credential).
    return await session.scalar(
        select(MhealthDevice)
        .where(
            MhealthDevice.tenant_id == d.study.tenant_id,
            MhealthDevice.study_id == d.study.id,
            MhealthDevice.mode == d.subject.mode,
            MhealthDevice.inventory_id == d.item.id,
            MhealthDevice.deregistered_at.is_(None),
        )
        .with_for_update()
    )


@dataclass(frozen=True)
class IssuedPair:
    device_id: str
    access_id: str | None
    otp: str | None  # shown once


@dataclass(frozen=True)
class DrawnPair:
    access_id: str
    otp: str
    otp_hash: str
    expires_at: datetime


def draw_pair(vault: Vault, ttl: timedelta) -> DrawnPair:
    """A fresh access ID and OTP (shown once), the OTP's keyed hash and its expiry."""
    access_id, otp = _random(ACCESS_ID_LENGTH), _random(OTP_LENGTH)
    return DrawnPair(access_id, otp, vault.keyed_hash(f"otp:{access_id}:{otp}"), utcnow() + ttl)


async def _new_pair(
    session: AsyncSession, vault: Vault, device: MhealthDevice, ttl: timedelta
) -> IssuedPair:
    """Replace the device's pair in place (so the old one stops working in the same write)."""
    for _ in range(10):
        drawn = draw_pair(vault, ttl)
        try:
            async with session.begin_nested():
                device.access_id = drawn.access_id
                device.otp_hash = drawn.otp_hash
                device.otp_expires_at = drawn.expires_at
                device.otp_used_at = None
                device.otp_failures = 0
                await session.flush()
            return IssuedPair(device.id, drawn.access_id, drawn.otp)
        except IntegrityError:
            continue  # that access ID is in use by a live pair; draw again
    raise DomainError("mhealth.access_id_exhausted", "could not draw a free access ID", 500)


_CHANGE_KEYS = ("inventory_id", "subject_id", "connection_type", "access_id", "otp_expires_at")


def _change_view(values: dict[str, Any]) -> dict[str, Any]:
    """Audit view of a registration: never the OTP or its hash."""
    out = {key: values[key] for key in _CHANGE_KEYS}
    expires = out["otp_expires_at"]
    out["otp_expires_at"] = expires.isoformat() if expires else None
    return out


def _changes(device: MhealthDevice) -> dict[str, Any]:
    return _change_view({key: getattr(device, key) for key in _CHANGE_KEYS})


async def register_device(
    session: AsyncSession,
    vault: Vault,
    actor: Actor,
    study_id: str,
    mode: str,
    subject_id: str,
    inventory_id: str,
    m_subject_id: str | None,
    subject_number: str | None,
    vendor_code: str | None,
    ttl: timedelta,
) -> IssuedPair:
    if m_subject_id is None or not m_subject_id.strip():
        raise _rule("device.invalid_subject", "Invalid subject ID")
    d = await _dispensed(
        session, actor.tenant_id, study_id, mode, subject_id, m_subject_id, inventory_id
    )
    existing = await _live_registration(session, d)
    if d.kit.connection_type == CLOUD_TO_CLOUD:
        if not vendor_code:
            raise _rule(
                "device.vendor_code_missing",
                "Vendor code is missing for cloud to cloud connection type of devices",
            )
        if existing is not None:
            raise _rule(
                "device.c2c_already_registered",
                "Cloud to cloud connection type device is already registered",
            )
    else:
        if vendor_code:
            raise _rule(
                "device.vendor_code_not_allowed",
                "Vendor code has been specified for device to cloud connection type of devices",
            )
        if not subject_number:
            raise _rule(
                "device.subject_number_missing",
                "Subject number is missing for device to cloud connection type of devices",
            )
        if existing is not None:
            raise _rule(
                "device.already_registered",
                "mHealth device is already registered; recreate its access code",
            )
    _require_settings(d.study)
    device = MhealthDevice(
        id=uuid.uuid4().hex.upper(),
        tenant_id=actor.tenant_id,
        study_id=study_id,
        mode=mode,
        subject_id=d.subject.id,
        m_subject_id=m_subject_id,
        inventory_id=d.item.id,
        connection_type=d.kit.connection_type or "",
        vendor_code=vendor_code or None,
        subject_number=subject_number,
        registered_at=utcnow(),
        otp_failures=0,
    )
    session.add(device)
    await session.flush()
    issued = IssuedPair(device.id, None, None)
    if d.kit.connection_type == DEVICE_TO_CLOUD:
        issued = await _new_pair(session, vault, device, ttl)
    emit(
        session,
        actor,
        "register",
        "mhealth_device",
        device.id,
        {"after": _changes(device)},
        utcnow(),
    )
    return issued


async def recreate_pair(
    session: AsyncSession,
    vault: Vault,
    actor: Actor,
    study_id: str,
    mode: str,
    subject_id: str,
    inventory_id: str,
    m_subject_id: str | None,
    ttl: timedelta,
) -> IssuedPair:
    d = await _dispensed(
        session, actor.tenant_id, study_id, mode, subject_id, m_subject_id, inventory_id
    )
    device = await _live_registration(session, d)
    if device is None:
        raise _rule("device.not_registered", "mHealth device is not registered")
    if d.kit.connection_type == CLOUD_TO_CLOUD and not device.vendor_code:
        raise _rule(
            "device.vendor_code_missing",
            "Vendor code is missing for cloud to cloud connection type of devices",
        )
    _require_settings(d.study)
    before = _changes(device)
    issued = await _new_pair(session, vault, device, ttl)
    emit(
        session,
        actor,
        "recreate_access_code",
        "mhealth_device",
        device.id,
        {"before": before, "after": _changes(device)},
        utcnow(),
    )
    return issued


# ------------------------------------------------------------------ recreate, direct
# Clinical One recreates pairs for a whole site at a time. When every rule of
# ``_dispensed`` and ``recreate_pair`` holds, one read proves it and one unit writes the new
# pair with its audit event; anything else (an error to name, a pair changed meanwhile, an
# access ID drawn twice) goes through ``recreate_pair``, which names errors in Clinical
# One's order.

# How a registration's rows meet, for the reads of the device side (here and bootstrap).
STUDY_OF_REGISTRATION = and_(
    Study.tenant_id == MhealthDevice.tenant_id, Study.id == MhealthDevice.study_id
)
ITEM_OF_REGISTRATION = and_(
    InventoryItem.tenant_id == MhealthDevice.tenant_id,
    InventoryItem.study_id == MhealthDevice.study_id,
    InventoryItem.mode == MhealthDevice.mode,
    InventoryItem.id == MhealthDevice.inventory_id,
)
KIT_TYPE_OF_ITEM = and_(
    KitType.tenant_id == InventoryItem.tenant_id,
    KitType.study_id == InventoryItem.study_id,
    KitType.id == InventoryItem.kit_type_id,
)

_LIVE_KIT = Statement(
    select(
        MhealthDevice.id,
        MhealthDevice.inventory_id,
        MhealthDevice.subject_id,
        MhealthDevice.connection_type,
        MhealthDevice.access_id,
        MhealthDevice.otp_expires_at,
        Study.mhealth_settings,
    )
    .join(Study, STUDY_OF_REGISTRATION)
    .join(
        Subject,
        and_(
            Subject.tenant_id == MhealthDevice.tenant_id,
            Subject.study_id == MhealthDevice.study_id,
            Subject.mode == MhealthDevice.mode,
            Subject.id == MhealthDevice.subject_id,
        ),
    )
    .join(InventoryItem, and_(ITEM_OF_REGISTRATION, InventoryItem.dispensed_to == Subject.id))
    .join(KitType, KIT_TYPE_OF_ITEM)
    .where(
        MhealthDevice.tenant_id == bindparam("tenant_id"),
        MhealthDevice.study_id == bindparam("study_id"),
        MhealthDevice.mode == bindparam("mode"),
        MhealthDevice.inventory_id == bindparam("inventory_id"),
        MhealthDevice.deregistered_at.is_(None),
        Subject.id == bindparam("subject_id"),
        Subject.m_subject_id == bindparam("m_subject_id"),
        or_(KitType.connection_type == DEVICE_TO_CLOUD, KitType.connection_type == CLOUD_TO_CLOUD),
        or_(
            KitType.connection_type != CLOUD_TO_CLOUD,
            and_(MhealthDevice.vendor_code.is_not(None), MhealthDevice.vendor_code != ""),
        ),
    )
)
# Only the pair that was read, and only while the kit is still dispensed to the subject.
_REPLACE_PAIR = Statement(
    update(MhealthDevice)
    .where(
        MhealthDevice.id == bindparam("device"),
        MhealthDevice.deregistered_at.is_(None),
        MhealthDevice.access_id.is_not_distinct_from(bindparam("old_access_id")),
        MhealthDevice.otp_expires_at.is_not_distinct_from(bindparam("old_expires_at")),
        exists().where(
            ITEM_OF_REGISTRATION, InventoryItem.dispensed_to == MhealthDevice.subject_id
        ),
    )
    .values(
        access_id=bindparam("access_id"),
        otp_hash=bindparam("otp_hash"),
        otp_expires_at=bindparam("expires_at"),
        otp_used_at=None,
        otp_failures=0,
    )
)


async def recreate_pair_direct(
    db: Database,
    vault: Vault,
    actor: Actor,
    study_id: str,
    mode: str,
    subject_id: str,
    inventory_id: str,
    m_subject_id: str,
    ttl: timedelta,
) -> IssuedPair | None:
    """``recreate_pair`` when every rule holds and nothing races it; None: ask it instead."""
    if len(study_id) > 32 or mode not in MODES:
        return None
    row = await db.direct.first(
        _LIVE_KIT,
        tenant_id=actor.tenant_id,
        study_id=study_id,
        mode=mode,
        inventory_id=inventory_id[:64],
        subject_id=subject_id[:64],
        m_subject_id=m_subject_id,
    )
    if row is None or not row["mhealth_settings"]:
        return None
    known = {key: row[key] for key in _CHANGE_KEYS}
    drawn = draw_pair(vault, ttl)
    after = {**known, "access_id": drawn.access_id, "otp_expires_at": drawn.expires_at}
    try:
        await db.direct.run(
            [
                Step(
                    _REPLACE_PAIR,
                    {
                        "device": row["id"],
                        "old_access_id": row["access_id"],
                        "old_expires_at": row["otp_expires_at"],
                        "access_id": drawn.access_id,
                        "otp_hash": drawn.otp_hash,
                        "expires_at": drawn.expires_at,
                    },
                    rows=1,
                ),
                emit_step(
                    actor,
                    "recreate_access_code",
                    "mhealth_device",
                    row["id"],
                    {"before": _change_view(known), "after": _change_view(after)},
                    utcnow(),
                ),
            ]
        )
    except (UnitRefused, *INTEGRITY_ERRORS):
        return None
    return IssuedPair(row["id"], drawn.access_id, drawn.otp)


async def deregister_device(
    session: AsyncSession,
    actor: Actor,
    study_id: str,
    mode: str,
    subject_id: str,
    inventory_id: str,
    m_subject_id: str | None,
) -> MhealthDevice:
    d = await _dispensed(
        session, actor.tenant_id, study_id, mode, subject_id, m_subject_id, inventory_id
    )
    device = await _live_registration(session, d)
    if device is None:
        raise _rule("device.not_registered", "mHealth device is not registered")
    _require_settings(d.study)
    before = _changes(device)
    device.deregistered_at = utcnow()
    device.access_id = device.otp_hash = None  # the pair dies with the registration
    if device.thing_id is not None:
        # Its long-term credential stops working too.
        thing = await session.get(Device, device.thing_id)
        if thing is not None and thing.status != DISABLED:
            await update_entity(
                session, actor, thing, {"status": DISABLED}, utcnow(), action="deregister"
            )
    emit(
        session,
        actor,
        "deregister",
        "mhealth_device",
        device.id,
        {"before": before, "after": _changes(device)},
        utcnow(),
    )
    return device


# ------------------------------------------------------------------ the device side


@dataclass(frozen=True)
class BootstrapClaim:
    device: MhealthDevice
    study: Study


def otp_matches(vault: Vault, device: MhealthDevice, access_id: str, otp: str) -> bool:
    import hmac

    expected = device.otp_hash or ""
    return hmac.compare_digest(vault.keyed_hash(f"otp:{access_id}:{otp}"), expected)


def pair_usable(device: MhealthDevice, now: datetime, max_failures: int) -> bool:
    return (
        device.deregistered_at is None
        and device.otp_used_at is None
        and device.otp_expires_at is not None
        and device.otp_expires_at > now
        and device.otp_failures < max_failures
    )


async def count_failure(session: AsyncSession, device_id: str, access_id: str) -> None:
    await session.execute(
        update(MhealthDevice)
        .where(MhealthDevice.id == device_id, MhealthDevice.access_id == access_id)
        .values(otp_failures=MhealthDevice.otp_failures + 1)
    )


def claim_statement() -> Update:
    """Use the pair and link the connected device made for it (binds: device, access_id,
    otp_hash, now, thing_id): it touches one row for exactly one of any concurrent callers,
    none once the pair was used, replaced or the registration ended."""
    return (
        update(MhealthDevice)
        .where(
            MhealthDevice.id == bindparam("device"),
            MhealthDevice.access_id == bindparam("access_id"),
            MhealthDevice.otp_hash == bindparam("otp_hash"),
            MhealthDevice.otp_used_at.is_(None),
            MhealthDevice.bootstrapped_at.is_(None),
            MhealthDevice.deregistered_at.is_(None),
        )
        .values(
            otp_used_at=bindparam("now"),
            bootstrapped_at=bindparam("now"),
            thing_id=bindparam("thing_id"),
        )
    )
