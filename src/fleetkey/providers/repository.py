from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.db.repository import owned, page
from fleetkey.providers.models import DeviceProvider, DeviceSoftware, TrustProvider


async def provider(
    session: AsyncSession, tenant_id: str, provider_id: str
) -> DeviceProvider | None:
    return await owned(session, DeviceProvider, tenant_id, provider_id)


async def active_provider_named(
    session: AsyncSession, tenant_id: str, vendor_name: str, address: str | None
) -> list[DeviceProvider]:
    stmt = select(DeviceProvider).where(
        DeviceProvider.tenant_id == tenant_id,
        DeviceProvider.vendor_name == vendor_name,
        DeviceProvider.is_active.is_(True),
    )
    stmt = stmt.where(
        DeviceProvider.address.is_(None) if address is None else DeviceProvider.address == address
    )
    return list(await session.scalars(stmt))


async def list_providers(
    session: AsyncSession, tenant_id: str, after: str | None, limit: int
) -> list[DeviceProvider]:
    return await page(session, DeviceProvider, tenant_id, after, limit)


async def trust_provider(
    session: AsyncSession, tenant_id: str, provider_id: str
) -> TrustProvider | None:
    return await owned(session, TrustProvider, tenant_id, provider_id)


async def trust_provider_like(
    session: AsyncSession,
    tenant_id: str,
    name: str,
    email: str,
    address: str,
    alias: str,
    is_active: bool,
) -> TrustProvider | None:
    return await session.scalar(
        select(TrustProvider)
        .where(
            TrustProvider.tenant_id == tenant_id,
            TrustProvider.name == name,
            TrustProvider.email == email,
            TrustProvider.address == address,
            TrustProvider.certificate_alias == alias,
            TrustProvider.is_active.is_(is_active),
        )
        .limit(1)
    )


async def list_trust_providers(
    session: AsyncSession, tenant_id: str, after: str | None, limit: int
) -> list[TrustProvider]:
    return await page(session, TrustProvider, tenant_id, after, limit)


async def software(
    session: AsyncSession, tenant_id: str, software_id: str
) -> DeviceSoftware | None:
    return await owned(session, DeviceSoftware, tenant_id, software_id)


RELEASE_KEY = ("sw_version", "provider_id", "type_code", "subtype_code", "make", "model")


async def software_same_release(
    session: AsyncSession, tenant_id: str, fields: dict[str, object]
) -> DeviceSoftware | None:
    """The software row with the same release key (version, provider, type, make, model)."""
    conditions = [getattr(DeviceSoftware, k) == fields[k] for k in RELEASE_KEY]
    return await session.scalar(
        select(DeviceSoftware).where(DeviceSoftware.tenant_id == tenant_id, *conditions).limit(1)
    )


async def active_software_count(session: AsyncSession, tenant_id: str, sw_version: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(DeviceSoftware)
            .where(
                DeviceSoftware.tenant_id == tenant_id,
                DeviceSoftware.sw_version == sw_version,
                DeviceSoftware.is_active.is_(True),
            )
        )
        or 0
    )


async def matching_active_software(
    session: AsyncSession,
    tenant_id: str,
    sw_version: str,
    provider_id: str,
    type_code: str,
    subtype_code: str,
    make: str,
    model: str,
) -> DeviceSoftware | None:
    return await session.scalar(
        select(DeviceSoftware)
        .where(
            DeviceSoftware.tenant_id == tenant_id,
            DeviceSoftware.sw_version == sw_version,
            DeviceSoftware.provider_id == provider_id,
            DeviceSoftware.type_code == type_code,
            DeviceSoftware.subtype_code == subtype_code,
            DeviceSoftware.make == make,
            DeviceSoftware.model == model,
            DeviceSoftware.is_active.is_(True),
        )
        .limit(1)
    )


async def list_software(
    session: AsyncSession, tenant_id: str, after: str | None, limit: int
) -> list[DeviceSoftware]:
    return await page(session, DeviceSoftware, tenant_id, after, limit)
