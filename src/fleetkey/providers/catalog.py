"""The editable device type catalog, and how a spelled type resolves to its canonical code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fleetkey.errors import DomainError, not_found
from fleetkey.providers.models import DeviceSubType, DeviceType

# MOSIP's seeded reg_device_type / reg_device_sub_type rows, plus the spelling the
# MOSIP API page's own examples use ("Fingerprint").
DEFAULT_TYPES: dict[str, tuple[str, list[str]]] = {
    "Finger": ("Finger", ["Slab", "Single", "Touchless"]),
    "Face": ("Face", ["Full face"]),
    "Iris": ("Iris", ["SingleIris", "DoubleIris"]),
}
DEFAULT_ALIASES = {"Fingerprint": "Finger"}


async def seed_defaults(session: AsyncSession, tenant_id: str) -> None:
    for code, (name, subtypes) in DEFAULT_TYPES.items():
        session.add(DeviceType(tenant_id=tenant_id, code=code, name=name))
        for sub in subtypes:
            session.add(DeviceSubType(tenant_id=tenant_id, type_code=code, code=sub, name=sub))
    for alias, target in DEFAULT_ALIASES.items():
        session.add(DeviceType(tenant_id=tenant_id, code=alias, name=alias, alias_of=target))
    await session.flush()


@dataclass(frozen=True)
class ResolvedType:
    type_code: str  # canonical
    subtype_code: str


async def canonical_type(session: AsyncSession, tenant_id: str, code: str) -> str | None:
    """The canonical code of an active type spelled ``code``, or None."""
    row = await session.get(DeviceType, (tenant_id, code))
    if row is None or not row.is_active:
        return None
    return row.alias_of or row.code


async def resolve(
    session: AsyncSession, tenant_id: str, type_code: str, subtype_code: str
) -> ResolvedType:
    """Check a type and subtype against the catalog; subtypes belong to their type."""
    canonical = await canonical_type(session, tenant_id, type_code)
    target = await session.get(DeviceType, (tenant_id, canonical)) if canonical else None
    sub = (
        await session.get(DeviceSubType, (tenant_id, canonical, subtype_code))
        if canonical
        else None
    )
    return resolved(
        type_code,
        subtype_code,
        canonical,
        target is not None and target.is_active,
        sub is not None and sub.is_active,
    )


def resolved(
    type_code: str,
    subtype_code: str,
    canonical: str | None,
    target_active: bool,
    subtype_active: bool,
) -> ResolvedType:
    """The catalog's rule on what was read of it: ``canonical`` is the active type spelled
    ``type_code`` resolved (None when there is none), ``target_active`` whether that
    canonical type is active (an alias of a deactivated type must not keep it usable),
    ``subtype_active`` whether the canonical type's ``subtype_code`` is."""
    if canonical is None or not target_active:
        raise not_found(
            "catalog.type_not_found", f"device type {type_code} does not exist", type=type_code
        )
    if not subtype_active:
        raise not_found(
            "catalog.subtype_not_found",
            f"device subtype {subtype_code} of type {canonical} does not exist",
            subtype=subtype_code,
            type=canonical,
        )
    return ResolvedType(canonical, subtype_code)


def canonical_type_column(tenant_id: Any, type_code: Any) -> Any:
    """``canonical_type`` as a scalar subquery, for a statement that reads more besides."""
    spelled = aliased(DeviceType)
    return (
        select(func.coalesce(spelled.alias_of, spelled.code))
        .where(
            spelled.tenant_id == tenant_id, spelled.code == type_code, spelled.is_active.is_(True)
        )
        .scalar_subquery()
    )


def resolution_columns(tenant_id: Any, type_code: Any, subtype_code: Any) -> list[Any]:
    """The reads behind ``resolved`` as scalar subqueries, labelled "canonical_type",
    "canonical_type_active" and "subtype_active", for a statement that reads more besides
    (a registration checks its provider in the same round trip)."""
    target = aliased(DeviceType)
    canonical = canonical_type_column(tenant_id, type_code)
    return [
        canonical.label("canonical_type"),
        select(target.is_active)
        .where(target.tenant_id == tenant_id, target.code == canonical)
        .scalar_subquery()
        .label("canonical_type_active"),
        select(DeviceSubType.is_active)
        .where(
            DeviceSubType.tenant_id == tenant_id,
            DeviceSubType.type_code == canonical,
            DeviceSubType.code == subtype_code,
        )
        .scalar_subquery()
        .label("subtype_active"),
    ]


async def list_types(session: AsyncSession, tenant_id: str) -> list[tuple[DeviceType, list[str]]]:
    types = list(
        await session.scalars(
            select(DeviceType).where(DeviceType.tenant_id == tenant_id).order_by(DeviceType.code)
        )
    )
    subs = list(
        await session.scalars(
            select(DeviceSubType)
            .where(DeviceSubType.tenant_id == tenant_id)
            .order_by(DeviceSubType.code)
        )
    )
    by_type: dict[str, list[str]] = {}
    for sub in subs:
        if sub.is_active:
            by_type.setdefault(sub.type_code, []).append(sub.code)
    return [(t, by_type.get(t.alias_of or t.code, [])) for t in types]


async def put_type(
    session: AsyncSession,
    tenant_id: str,
    code: str,
    name: str,
    subtypes: list[str],
    alias_of: str | None = None,
    is_active: bool = True,
) -> DeviceType:
    """Create or replace a type and its subtype list (subtypes not listed are deactivated)."""
    if alias_of:
        if await canonical_type(session, tenant_id, alias_of) != alias_of:
            raise DomainError("catalog.bad_alias", f"{alias_of} is not a canonical type", 422)
        if subtypes:
            raise DomainError("catalog.bad_alias", "an alias has no subtypes of its own", 422)
    row = await session.get(DeviceType, (tenant_id, code))
    if row is None:
        row = DeviceType(tenant_id=tenant_id, code=code)
        session.add(row)
    row.name, row.alias_of, row.is_active = name, alias_of, is_active
    existing = {
        s.code: s
        for s in await session.scalars(
            select(DeviceSubType).where(
                DeviceSubType.tenant_id == tenant_id, DeviceSubType.type_code == code
            )
        )
    }
    for sub_code, sub in existing.items():
        sub.is_active = sub_code in subtypes
    for sub_code in dict.fromkeys(subtypes):  # a repeated subtype is added once
        if sub_code not in existing:
            session.add(
                DeviceSubType(tenant_id=tenant_id, type_code=code, code=sub_code, name=sub_code)
            )
    await session.flush()
    return row
