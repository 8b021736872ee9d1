from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.tenants.models import ApiToken, Tenant


async def tenant_by_name(session: AsyncSession, name: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.name == name))


async def tenant_by_id(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list(await session.scalars(select(Tenant).order_by(Tenant.name)))


async def token_by_hash(session: AsyncSession, token_hash: str) -> ApiToken | None:
    return await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


async def list_tokens(session: AsyncSession, tenant_id: str | None) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.created_at)
    if tenant_id:
        stmt = stmt.where(ApiToken.tenant_id == tenant_id)
    return list(await session.scalars(stmt))
