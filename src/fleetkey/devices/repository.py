from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit import service as audit
from fleetkey.db.direct import Statement
from fleetkey.db.repository import owned, page
from fleetkey.db.session import Database
from fleetkey.devices.models import RETIRED, RegisteredDevice, WhitelistedDevice
from fleetkey.providers import catalog
from fleetkey.providers.models import DeviceProvider, DeviceSoftware


async def device(session: AsyncSession, tenant_id: str, code: str) -> RegisteredDevice | None:
    return await owned(session, RegisteredDevice, tenant_id, code)


async def live_device_with_serial(
    session: AsyncSession, tenant_id: str, provider_id: str, serial: str
) -> RegisteredDevice | None:
    return await session.scalar(
        select(RegisteredDevice)
        .where(
            RegisteredDevice.tenant_id == tenant_id,
            RegisteredDevice.provider_id == provider_id,
            RegisteredDevice.serial_number == serial,
            RegisteredDevice.status != RETIRED,
        )
        .limit(1)
    )


async def list_devices(
    session: AsyncSession,
    tenant_id: str,
    *,
    status: str | None,
    purpose: str | None,
    provider_id: str | None,
    serial_number: str | None,
    type_code: str | None,
    after: str | None,
    limit: int,
) -> list[RegisteredDevice]:
    stmt = select(RegisteredDevice).where(RegisteredDevice.tenant_id == tenant_id)
    for column, value in (
        (RegisteredDevice.status, status),
        (RegisteredDevice.purpose, purpose),
        (RegisteredDevice.provider_id, provider_id),
        (RegisteredDevice.serial_number, serial_number),
        (RegisteredDevice.type_code, type_code),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if after:
        stmt = stmt.where(RegisteredDevice.code > after)
    return list(await session.scalars(stmt.order_by(RegisteredDevice.code).limit(limit)))


async def whitelisted(
    session: AsyncSession, tenant_id: str, serial: str
) -> WhitelistedDevice | None:
    return await session.scalar(
        select(WhitelistedDevice).where(
            WhitelistedDevice.tenant_id == tenant_id, WhitelistedDevice.serial_number == serial
        )
    )


async def whitelist_entry(
    session: AsyncSession, tenant_id: str, entry_id: str
) -> WhitelistedDevice | None:
    return await owned(session, WhitelistedDevice, tenant_id, entry_id)


async def list_whitelist(
    session: AsyncSession, tenant_id: str, after: str | None, limit: int
) -> list[WhitelistedDevice]:
    return await page(session, WhitelistedDevice, tenant_id, after, limit, "serial_number")


def _claimed_canonical_type() -> Any:
    """The catalog's canonical spelling of the bound ``claimed_type``, labelled."""
    return catalog.canonical_type_column(bindparam("tenant_id"), bindparam("claimed_type")).label(
        "claimed_canonical_type"
    )


def _live_validation_statement() -> Any:
    """Built and compiled once (db/direct.py): it runs for every live validation."""
    d, p, s = RegisteredDevice, DeviceProvider, DeviceSoftware
    tenant: Any = bindparam("tenant_id")
    version = and_(
        s.tenant_id == tenant, s.sw_version == bindparam("sw_version"), s.is_active.is_(True)
    )
    software_matches = exists().where(
        version,
        s.provider_id == d.provider_id,
        s.type_code == d.type_code,
        s.subtype_code == d.subtype_code,
        s.make == func.coalesce(d.make, ""),
        s.model == func.coalesce(d.model, ""),
    )
    return (
        select(
            d.code,
            d.is_active,
            d.purpose,
            d.status,
            d.provider_id,
            d.provider_name,
            d.serial_number,
            d.type_code,
            d.subtype_code,
            d.make,
            d.model,
            p.is_active.label("provider_active"),
            software_matches.label("software_matches"),
            exists().where(version).label("version_known"),
            _claimed_canonical_type(),
        )
        .select_from(d)
        .outerjoin(p, and_(p.id == bindparam("provider_id"), p.tenant_id == tenant))
        .where(d.code == bindparam("code"), d.tenant_id == tenant)
    )


_LIVE_VALIDATION = Statement(_live_validation_statement(), batch_on=("code", RegisteredDevice.code))


async def live_validation_row(
    db: Database,
    tenant_id: str,
    code: str,
    provider_id: str,
    sw_version: str,
    claimed_type: str,
) -> dict[str, Any] | None:
    """Everything a live validation needs, in one indexed round trip (a hot path).

    The device, whether the claimed provider is active, whether an active release of
    ``sw_version`` exists at all and whether one matches the device, and the canonical
    spelling of the claimed type.
    """
    return await db.direct.first(
        _LIVE_VALIDATION,
        tenant_id=tenant_id,
        code=code,
        provider_id=provider_id,
        sw_version=sw_version,
        claimed_type=claimed_type,
    )


# An as-of validation reads history, not the live tables: the device and the provider as
# they were, with the catalog's reading of the claimed type (the catalog keeps no history),
# in one statement; then every release of the software version as it was.
_AS_OF_VALIDATION = Statement(
    select(
        audit.as_of_data(RegisteredDevice.ENTITY_TYPE, bindparam("code")).label("device"),
        audit.as_of_data(DeviceProvider.ENTITY_TYPE, bindparam("provider_id")).label("provider"),
        _claimed_canonical_type(),
    )
)
_SOFTWARE_AS_OF = Statement(audit.as_of_by_key(DeviceSoftware.ENTITY_TYPE))


async def as_of_validation_row(
    db: Database, tenant_id: str, code: str, provider_id: str, claimed_type: str, at: datetime
) -> dict[str, Any]:
    """The device's and the provider's data as they were at ``at`` (None for either that did
    not exist then), and the canonical spelling of the claimed type."""
    row = await db.direct.first(
        _AS_OF_VALIDATION,
        tenant_id=tenant_id,
        code=code,
        provider_id=provider_id,
        claimed_type=claimed_type,
        at=at,
    )
    assert row is not None  # a SELECT without FROM answers one row
    return row


async def software_as_of(
    db: Database, tenant_id: str, sw_version: str, at: datetime
) -> list[dict[str, Any]]:
    """Every release that was ever ``sw_version``, as it was at ``at`` (those that did not
    exist yet left out)."""
    rows = await db.direct.all(_SOFTWARE_AS_OF, tenant_id=tenant_id, lookup_key=sw_version, at=at)
    return [row["data"] for row in rows if row["data"] is not None]
