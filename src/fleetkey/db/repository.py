"""The two queries every tenant-owned table needs: one row, and one page of rows."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def owned(session: AsyncSession, model: type[T], tenant_id: str, key: Any) -> T | None:
    """The row with primary key ``key`` if it belongs to ``tenant_id``; another tenant's row
    is indistinguishable from a missing one."""
    row = await session.get(model, key)
    return row if row is not None and getattr(row, "tenant_id", None) == tenant_id else None


async def page(
    session: AsyncSession,
    model: type[T],
    tenant_id: str,
    after: Any,
    limit: int,
    order_by: str = "id",
) -> list[T]:
    """Keyset paging: rows ordered by ``order_by``, strictly after the cursor ``after``."""
    column = getattr(model, order_by)
    stmt = select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
    if after:
        stmt = stmt.where(column > after)
    return list(await session.scalars(stmt.order_by(column).limit(limit)))
