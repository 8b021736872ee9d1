"""Registering a device from the claims it presents (MOSIP's deviceData), rule by rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import create_entity, creation_steps, update_entity
from fleetkey.clock import utcnow
from fleetkey.db.direct import INTEGRITY_ERRORS, Statement
from fleetkey.db.session import Database
from fleetkey.devices import repository as repo
from fleetkey.devices.models import REGISTERED, RETIRED, RegisteredDevice
from fleetkey.errors import (
    DomainError,
    FieldProblem,
    ValidationFailed,
    conflict,
    invalid,
    not_found,
)
from fleetkey.providers import catalog
from fleetkey.providers.models import DeviceProvider, TrustProvider
from fleetkey.tenants.context import Actor
from fleetkey.validation import Checks

PURPOSES = ("AUTH", "REGISTRATION")
CERTIFICATION_LEVELS = ("L0", "L1")
L1_NEEDS_TRUST = (
    "If certification level received is L1 then FoundationalTPId OR FoundationalTrustSignature "
    "OR FoundationalTrustCertificate should not be null or empty"
)


@dataclass
class DigitalIdClaim:
    serial_no: str | None
    provider_name: str | None
    provider_id: str | None
    make: str | None
    model: str | None
    type: str | None
    subtype: str | None
    date_time: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeviceClaim:
    device_id: str | None
    purpose: str | None
    # None means the key was absent; "" means present and empty (allowed below L1).
    trust_provider_id: str | None
    certification: str | None
    device_sub_id: str | None
    firmware: str | None
    expires_at: datetime | None
    timestamp: datetime | None
    digital_id: DigitalIdClaim | None


@dataclass(frozen=True)
class TimestampWindow:
    """Accept ``now - past < timestamp < now + ahead`` (MOSIP's ``+N`` setting).

    A ``-N`` setting means the opposite MOSIP rule: the timestamp must be at least N minutes
    old.
    """

    ahead_minutes: int
    past_minutes: int
    mode: str = "+"

    @classmethod
    def parse(cls, setting: str, past_minutes: int) -> TimestampWindow:
        setting = setting.strip()
        mode, number = (setting[0], setting[1:]) if setting[:1] in "+-" else ("+", setting)
        return cls(int(number), past_minutes, mode)

    def check(self, stamp: datetime, now: datetime) -> None:
        if self.mode == "+":
            ok = (
                now - timedelta(minutes=self.past_minutes)
                < stamp
                < now + timedelta(minutes=self.ahead_minutes)
            )
            word = "after"
        else:
            ok = now >= stamp + timedelta(minutes=self.ahead_minutes)
            word = "before"
        if not ok:
            raise invalid(
                "registration.timestamp_out_of_window",
                f"Time Stamp input is {self.ahead_minutes} min {word} the current timestamp",
                minutes=self.ahead_minutes,
                direction=word,
            )


def _check_claim(claim: DeviceClaim) -> None:
    c = Checks()
    c.text("device_id", claim.device_id, 36)
    if claim.purpose is None or claim.purpose.upper() not in PURPOSES:
        c.add("purpose", "Invalid Purpose received")
    if (
        claim.trust_provider_id is None
        or claim.certification is None
        or (claim.certification == "L1" and not claim.trust_provider_id.strip())
    ):
        c.add("trust_provider_id", L1_NEEDS_TRUST)
    elif len(claim.trust_provider_id) > 36:  # stored (below L1 unchecked) in a 36-char column
        c.add("trust_provider_id", "Foundational Trust Provider id is longer than 36 characters")
    c.raise_if_any()


def _check_info(claim: DeviceClaim) -> None:
    c = Checks()
    if claim.certification not in CERTIFICATION_LEVELS:
        c.add("certification", "Invalid Certification level received")
    c.text("firmware", claim.firmware, 128)
    c.text("device_sub_id", claim.device_sub_id, 256, required=False, min_len=0)
    if claim.digital_id is None:
        c.add("digital_id", "must not be null")
    c.raise_if_any()


def _check_digital_id(d: DigitalIdClaim) -> None:
    c = Checks()
    c.text("digital_id.serial_no", d.serial_no, 64)
    c.text("digital_id.provider_name", d.provider_name, 128)
    c.text("digital_id.provider_id", d.provider_id, 36)
    c.text("digital_id.make", d.make, 36, required=False)
    c.text("digital_id.model", d.model, 36, required=False)
    c.text("digital_id.type", d.type, 36)
    c.text("digital_id.subtype", d.subtype, 36)
    c.raise_if_any()


# What a registration checks of the registry besides the device itself, in one round trip:
# the trust provider (for L1), the provider, and the catalog's reading of type and subtype.
def _references_statement() -> Any:
    tenant: Any = bindparam("tenant_id")
    tp, dp = TrustProvider, DeviceProvider
    return select(
        select(tp.is_active)
        .where(tp.tenant_id == tenant, tp.id == bindparam("trust_provider_id"))
        .scalar_subquery()
        .label("trust_provider_active"),
        select(dp.is_active)
        .where(dp.tenant_id == tenant, dp.id == bindparam("provider_id"))
        .scalar_subquery()
        .label("provider_active"),
        select(dp.vendor_name)
        .where(dp.tenant_id == tenant, dp.id == bindparam("provider_id"))
        .scalar_subquery()
        .label("provider_name"),
        *catalog.resolution_columns(tenant, bindparam("type_code"), bindparam("subtype_code")),
    )


_REFERENCES = Statement(_references_statement())


async def _checked_references(
    db: Database, tenant: str, claim: DeviceClaim, digital: DigitalIdClaim
) -> catalog.ResolvedType:
    """MOSIP's checks of what the claim names, in its order: trust provider (L1 only),
    provider id and name, type and subtype."""
    assert digital.type and digital.subtype
    refs = await db.direct.first(
        _REFERENCES,
        tenant_id=tenant,
        trust_provider_id=claim.trust_provider_id or "",
        provider_id=digital.provider_id,
        type_code=digital.type,
        subtype_code=digital.subtype,
    )
    assert refs is not None  # a SELECT without FROM yields one row
    if claim.certification == "L1" and not refs["trust_provider_active"]:
        raise not_found(
            "registration.trust_provider_not_found",
            f"Foundational Trust Provider {claim.trust_provider_id} does not exist",
            id=claim.trust_provider_id,
        )
    if not refs["provider_active"] or refs["provider_name"] != digital.provider_name:
        raise not_found(
            "registration.provider_mismatch",
            "Device Provider ID/Name does not exist in the list of Registered Device Providers",
        )
    return catalog.resolved(
        digital.type,
        digital.subtype,
        refs["canonical_type"],
        bool(refs["canonical_type_active"]),
        bool(refs["subtype_active"]),
    )


def _duplicate_serial() -> DomainError:
    return conflict("registration.duplicate_serial", "Serial no and DpId already exist")


async def register(db: Database, actor: Actor, claim: DeviceClaim, window: TimestampWindow) -> str:
    """Every check in MOSIP's order; the first failure wins, nothing is written before.
    Returns the device code.

    The references are read before the write, outside its transaction: a provider or
    catalog entry deactivated in that moment still lets this one registration through
    (providers are deactivated, never deleted, so the write cannot lose its provider).
    An AUTH registration, the one a fleet makes at volume, is one direct unit
    (db/direct.py): its code is a fresh UUID and the live serial rule is the unique index
    ``uq_registered_devices_live_serial``. A REGISTRATION one reads the white list and may
    bring a retired device back, in a unit of work.
    """
    _check_claim(claim)
    if claim.timestamp is None:
        raise ValidationFailed([FieldProblem("timestamp", "must not be null")])
    now = utcnow()
    window.check(claim.timestamp, now)
    _check_info(claim)
    digital = claim.digital_id
    assert digital is not None
    _check_digital_id(digital)
    assert digital.provider_id and digital.serial_no and digital.type and digital.subtype
    purpose = (claim.purpose or "").upper()
    resolved = await _checked_references(db, actor.tenant_id, claim, digital)
    fields: dict[str, Any] = dict(
        status=REGISTERED,
        purpose=purpose,
        device_id=claim.device_id,
        device_sub_id=claim.device_sub_id,
        serial_number=digital.serial_no,
        provider_id=digital.provider_id,
        provider_name=digital.provider_name,
        type_code=resolved.type_code,
        subtype_code=resolved.subtype_code,
        make=digital.make,
        model=digital.model,
        firmware=claim.firmware,
        certification=claim.certification,
        trust_provider_id=claim.trust_provider_id or None,
        expires_at=claim.expires_at,
        digital_id=digital.raw,
        is_active=True,
    )
    if purpose == "REGISTRATION":
        async with db.unit_of_work() as session:
            return await _register_whitelisted(session, actor, fields, now)
    code = str(uuid.uuid4())
    try:
        await db.direct.run(
            creation_steps(
                actor,
                RegisteredDevice,
                {"code": code, **fields},
                now,
                action="register",
                key=code,
                lookup_key=digital.serial_no,
            )
        )
    except INTEGRITY_ERRORS:
        raise _duplicate_serial() from None  # a live device has this serial and provider
    return code


async def _register_whitelisted(
    session: AsyncSession, actor: Actor, fields: dict[str, Any], now: datetime
) -> str:
    tenant, serial = actor.tenant_id, fields["serial_number"]
    if await repo.live_device_with_serial(session, tenant, fields["provider_id"], serial):
        raise _duplicate_serial()
    entry = await repo.whitelisted(session, tenant, serial)
    if entry is None:
        raise DomainError(
            "registration.not_whitelisted",
            f"{serial} Cannot register device as it is not a white-listed device",
            422,
            {"serial": serial},
        )
    try:
        existing = await repo.device(session, tenant, entry.id)
        if existing is not None and existing.status == RETIRED:
            # A white-listed device coming back after retirement keeps its code and history.
            await update_entity(session, actor, existing, fields, now, action="register")
            return existing.code
        if existing is not None:
            raise _duplicate_serial()
        await create_entity(
            session, actor, RegisteredDevice(code=entry.id, **fields), now, action="register"
        )
        return entry.id
    except IntegrityError as exc:
        # A concurrent registration of the same serial won the unique index.
        raise _duplicate_serial() from exc
