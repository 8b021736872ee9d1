from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.db.repository import owned, page
from fleetkey.devices.models import RETIRED, RegisteredDevice, WhitelistedDevice


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
