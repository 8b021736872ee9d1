"""Registering a device from the claims it presents (MOSIP's deviceData), rule by rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import create_entity, update_entity
from fleetkey.clock import utcnow
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
from fleetkey.providers import repository as providers
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


async def register(
    session: AsyncSession, actor: Actor, claim: DeviceClaim, window: TimestampWindow
) -> RegisteredDevice:
    """Every check in MOSIP's order; the first failure wins, nothing is written before."""
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
    tenant = actor.tenant_id

    if claim.certification == "L1":
        assert claim.trust_provider_id
        ftp = await providers.trust_provider(session, tenant, claim.trust_provider_id)
        if ftp is None or not ftp.is_active:
            raise not_found(
                "registration.trust_provider_not_found",
                f"Foundational Trust Provider {claim.trust_provider_id} does not exist",
                id=claim.trust_provider_id,
            )

    provider = await providers.provider(session, tenant, digital.provider_id)
    if provider is None or not provider.is_active or provider.vendor_name != digital.provider_name:
        raise not_found(
            "registration.provider_mismatch",
            "Device Provider ID/Name does not exist in the list of Registered Device Providers",
        )
    resolved = await catalog.resolve(session, tenant, digital.type, digital.subtype)

    if await repo.live_device_with_serial(session, tenant, provider.id, digital.serial_no):
        raise conflict("registration.duplicate_serial", "Serial no and DpId already exist")

    if purpose == "REGISTRATION":
        entry = await repo.whitelisted(session, tenant, digital.serial_no)
        if entry is None:
            raise DomainError(
                "registration.not_whitelisted",
                f"{digital.serial_no} Cannot register device as it is not a white-listed device",
                422,
                {"serial": digital.serial_no},
            )
        code = entry.id
    else:
        code = str(uuid.uuid4())

    fields: dict[str, Any] = dict(
        status=REGISTERED,
        purpose=purpose,
        device_id=claim.device_id,
        device_sub_id=claim.device_sub_id,
        serial_number=digital.serial_no,
        provider_id=provider.id,
        provider_name=provider.vendor_name,
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
    try:
        existing = await repo.device(session, tenant, code)
        if existing is not None and existing.status == RETIRED:
            # A white-listed device coming back after retirement keeps its code and history.
            await update_entity(session, actor, existing, fields, now, action="register")
            return existing
        if existing is not None:
            raise conflict("registration.duplicate_serial", "Serial no and DpId already exist")
        device = RegisteredDevice(code=code, **fields)
        await create_entity(session, actor, device, now, action="register")
        return device
    except IntegrityError as exc:
        # A concurrent registration of the same serial won the unique index.
        raise conflict("registration.duplicate_serial", "Serial no and DpId already exist") from exc
