"""Is this device, with this software, trustworthy now (or at a past instant)?

The order of checks and the meaning of each failure follow MOSIP's validate service; the
as-of path reads every record (device, provider, software) as it was at that instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetkey.db.session import Database
from fleetkey.devices import repository as repo
from fleetkey.devices.models import REGISTERED
from fleetkey.errors import DomainError, FieldProblem, not_found


@dataclass(frozen=True)
class ValidationQuery:
    device_code: str
    sw_version: str
    purpose: str | None
    serial_no: str
    provider_name: str
    provider_id: str
    make: str
    model: str
    type: str
    subtype: str
    at: datetime | None = None


# (field name reported, device column, query attribute)
COMPARED = (
    ("make", "make", "make"),
    ("model", "model", "model"),
    ("dpId", "provider_id", "provider_id"),
    ("dp", "provider_name", "provider_name"),
    ("serialNo", "serial_number", "serial_no"),
    ("type", "type_code", "type"),
    ("subType", "subtype_code", "subtype"),
)


def _fail(code: str, message: str, status: int = 422) -> DomainError:
    return DomainError(code, message, status)


async def validate(db: Database, tenant: str, q: ValidationQuery) -> str:
    """Raise the first failing rule; return "live" or "history" on success."""
    if q.at is None:
        await validate_live(db, tenant, q)
        return "live"
    await validate_as_of(db, tenant, q, q.at)
    return "history"


def _purpose_matches(device_purpose: str, wanted: str | None) -> bool:
    return not wanted or device_purpose.upper() == wanted.strip().upper()


async def validate_live(db: Database, tenant: str, q: ValidationQuery) -> None:
    """Raise the first rule the device breaks now. One statement, no unit of work: this
    runs for every authentication a device takes part in. A pass is remembered while the
    store is unchanged (``db.direct.UnchangedCache``)."""
    passed = db.direct.cache("live_validation.passed")
    key = (tenant, q)
    known, version = await passed.lookup(key)
    if known:
        return
    row = await repo.live_validation_row(
        db, tenant, q.device_code, q.provider_id, q.sw_version, q.type
    )
    if row is None or not row["is_active"] or not _purpose_matches(row["purpose"], q.purpose):
        raise not_found("validate.device_not_found", "Device is marked Inactive or not found")
    if row["status"] != REGISTERED:
        raise _fail("validate.device_not_registered", "Device is revoked/retired")
    if not row["provider_active"]:
        raise not_found(
            "validate.provider_inactive", "Device Provider is marked Inactive or not found"
        )
    if not row["version_known"]:
        raise not_found("validate.software_version_unknown", "deviceServiceVersion not found")
    if not row["software_matches"]:
        raise _fail(
            "validate.software_mismatch",
            "Software version does not match against the Device Details",
        )
    _compare(row, q, row["claimed_canonical_type"])
    passed.keep(key, True, version)


async def validate_as_of(db: Database, tenant: str, q: ValidationQuery, at: datetime) -> None:
    """Raise the first rule the device broke at ``at``, every record read as it was then.
    Two statements, no unit of work (MOSIP's authentication validates a device as of each
    capture's time)."""
    then = await repo.as_of_validation_row(db, tenant, q.device_code, q.provider_id, q.type, at)
    device = then["device"]
    if (
        device is None
        or not device["is_active"]
        or not _purpose_matches(device["purpose"], q.purpose)
    ):
        raise not_found("validate.device_not_found", "Device is marked Inactive or not found")
    if device["status"] != REGISTERED:
        raise _fail("validate.device_not_registered", "Device is revoked/retired")
    provider = then["provider"]
    if provider is None or not provider["is_active"]:
        raise not_found("validate.provider_missing", "Device Provider does not exist")
    releases = [
        release
        for release in await repo.software_as_of(db, tenant, q.sw_version, at)
        if release["is_active"] and release["sw_version"] == q.sw_version
    ]
    wanted = ("provider_id", "type_code", "subtype_code", "make", "model")
    if not any(all(r[k] == device[k] for k in wanted) for r in releases):
        raise _fail(
            "validate.software_mismatch",
            "Software version does not match against the Device Details",
        )
    _compare(device, q, then["claimed_canonical_type"])


def _compare(device: dict[str, Any], q: ValidationQuery, claimed_canonical: str | None) -> None:
    """Report every differing digital-id field together."""
    claimed = {attr: getattr(q, attr) for _, _, attr in COMPARED}
    # The catalog knows other spellings of a type ("Fingerprint" is "Finger").
    claimed["type"] = claimed_canonical or q.type
    problems = [
        FieldProblem(name, f"Device code does not match against - {name}")
        for name, column, attr in COMPARED
        if device.get(column) != claimed[attr]
    ]
    if problems:
        error = _fail("validate.digital_id_mismatch", "; ".join(p.message for p in problems))
        error.problems = problems
        raise error
