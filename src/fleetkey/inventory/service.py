"""Studies, kit types, subjects, inventory and dispensation."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import emit
from fleetkey.clock import utcnow
from fleetkey.errors import DomainError, FieldProblem, ValidationFailed, conflict, not_found
from fleetkey.inventory.models import (
    CONNECTION_TYPES,
    DEVICE_TO_CLOUD,
    MODES,
    InventoryItem,
    KitType,
    Study,
    Subject,
)
from fleetkey.tenants.context import Actor
from fleetkey.validation import Checks

STUDY_ID = re.compile(r"^[0-9A-F]{32}$")
SIMPLE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _check_id(field: str, value: str, pattern: re.Pattern[str] = SIMPLE_ID) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        message = (
            "must be 32 upper-case hexadecimal characters"
            if pattern is STUDY_ID
            else "must be 1 to 64 letters, digits, '.', '_' or '-'"
        )
        raise ValidationFailed([FieldProblem(field, message)])


def _audit(
    session: AsyncSession, actor: Actor, kind: str, ident: str, after: dict[str, Any]
) -> None:
    emit(session, actor, "create", kind, ident, {"after": after}, utcnow())


async def create_study(
    session: AsyncSession,
    actor: Actor,
    study_id: str,
    name: str,
    mhealth_settings: dict[str, Any] | None,
) -> Study:
    _check_id("id", study_id, STUDY_ID)
    c = Checks()
    c.text("name", name, 128)
    c.raise_if_any()
    if await session.get(Study, (actor.tenant_id, study_id)):
        raise conflict("study.exists", f"study {study_id} already exists")
    row = Study(
        tenant_id=actor.tenant_id, id=study_id, name=name, mhealth_settings=mhealth_settings
    )
    session.add(row)
    await session.flush()
    # Settings may hold a service password: the audit log only records that they exist.
    _audit(
        session,
        actor,
        "study",
        study_id,
        {"name": name, "mhealth_settings": mhealth_settings is not None},
    )
    return row


async def get_study(
    session: AsyncSession, tenant_id: str, study_id: str, mode: str | None
) -> Study:
    """The study (and a known mode); anything else is the one 404 Clinical One gives."""
    row = await session.get(Study, (tenant_id, study_id)) if len(study_id) <= 32 else None
    if row is None or (mode is not None and mode not in MODES):
        raise not_found("study.not_found", "Invalid study ID or version", id=study_id)
    return row


async def set_mhealth_settings(
    session: AsyncSession, actor: Actor, study_id: str, settings: dict[str, Any] | None
) -> Study:
    row = await get_study(session, actor.tenant_id, study_id, None)
    row.mhealth_settings = settings
    emit(
        session,
        actor,
        "update",
        "study",
        study_id,
        {"after": {"mhealth_settings": settings is not None}},
        utcnow(),
    )
    return row


async def list_studies(session: AsyncSession, tenant_id: str) -> list[Study]:
    return list(
        await session.scalars(select(Study).where(Study.tenant_id == tenant_id).order_by(Study.id))
    )


async def create_kit_type(
    session: AsyncSession,
    actor: Actor,
    study_id: str,
    kit_id: str,
    name: str,
    connection_type: str | None,
) -> KitType:
    await get_study(session, actor.tenant_id, study_id, None)
    _check_id("id", kit_id)
    c = Checks()
    c.text("name", name, 128)
    if connection_type is not None and connection_type not in CONNECTION_TYPES:
        c.add("connection_type", f"must be one of {', '.join(CONNECTION_TYPES)}")
    c.raise_if_any()
    if await session.get(KitType, (actor.tenant_id, study_id, kit_id)):
        raise conflict("kit_type.exists", f"kit type {kit_id} already exists")
    row = KitType(
        tenant_id=actor.tenant_id,
        study_id=study_id,
        id=kit_id,
        name=name,
        connection_type=connection_type,
    )
    session.add(row)
    await session.flush()
    _audit(
        session,
        actor,
        "kit_type",
        kit_id,  # audit entity IDs hold 64 characters: the scope goes into the change
        {"study_id": study_id, "name": name, "connection_type": connection_type},
    )
    return row


async def create_subject(
    session: AsyncSession,
    actor: Actor,
    study_id: str,
    mode: str,
    subject_id: str,
    subject_number: str | None,
    m_subject_id: str | None,
) -> Subject:
    await get_study(session, actor.tenant_id, study_id, mode)
    _check_id("id", subject_id)
    c = Checks()
    c.text("subject_number", subject_number, 100, required=False)
    c.text("m_subject_id", m_subject_id, 64, required=False)
    c.raise_if_any()
    if await session.get(Subject, (actor.tenant_id, study_id, mode, subject_id)):
        raise conflict("subject.exists", f"subject {subject_id} already exists")
    row = Subject(
        tenant_id=actor.tenant_id,
        study_id=study_id,
        mode=mode,
        id=subject_id,
        subject_number=subject_number,
        m_subject_id=m_subject_id,
    )
    session.add(row)
    await session.flush()
    _audit(
        session,
        actor,
        "subject",
        subject_id,
        {
            "study_id": study_id,
            "mode": mode,
            "subject_number": subject_number,
            "m_subject_id": m_subject_id,
        },
    )
    return row


async def create_inventory_item(
    session: AsyncSession, actor: Actor, study_id: str, mode: str, item_id: str, kit_type_id: str
) -> InventoryItem:
    await get_study(session, actor.tenant_id, study_id, mode)
    _check_id("id", item_id)
    if await session.get(KitType, (actor.tenant_id, study_id, kit_type_id)) is None:
        raise not_found("kit_type.not_found", f"kit type {kit_type_id} does not exist")
    if await session.get(InventoryItem, (actor.tenant_id, study_id, mode, item_id)):
        raise conflict("inventory.exists", f"inventory item {item_id} already exists")
    row = InventoryItem(
        tenant_id=actor.tenant_id, study_id=study_id, mode=mode, id=item_id, kit_type_id=kit_type_id
    )
    session.add(row)
    await session.flush()
    _audit(
        session,
        actor,
        "inventory_item",
        item_id,
        {"study_id": study_id, "mode": mode, "kit_type_id": kit_type_id},
    )
    return row


async def dispense(
    session: AsyncSession, actor: Actor, study_id: str, mode: str, subject_id: str, item_id: str
) -> InventoryItem:
    await get_study(session, actor.tenant_id, study_id, mode)
    # Row locks (PostgreSQL) serialise dispensations per subject and per kit, so the
    # "already dispensed" and one-D2C-per-subject checks see each other's commits.
    subject = await session.get(
        Subject, (actor.tenant_id, study_id, mode, subject_id), with_for_update=True
    )
    if subject is None:
        raise not_found("subject.not_found", f"subject {subject_id} does not exist")
    item = await session.get(
        InventoryItem, (actor.tenant_id, study_id, mode, item_id), with_for_update=True
    )
    if item is None:
        raise not_found("inventory.not_found", f"inventory item {item_id} does not exist")
    if item.dispensed_to is not None:
        raise conflict("inventory.dispensed", f"inventory item {item_id} is already dispensed")
    kit = await session.get(KitType, (actor.tenant_id, study_id, item.kit_type_id))
    if kit is not None and kit.connection_type == DEVICE_TO_CLOUD:
        # Clinical One: only one device-to-cloud device per subject in a study.
        for other in await session.scalars(
            select(InventoryItem).where(
                InventoryItem.tenant_id == actor.tenant_id,
                InventoryItem.study_id == study_id,
                InventoryItem.mode == mode,
                InventoryItem.dispensed_to == subject_id,
            )
        ):
            other_kit = await session.get(KitType, (actor.tenant_id, study_id, other.kit_type_id))
            if other_kit is not None and other_kit.connection_type == DEVICE_TO_CLOUD:
                raise DomainError(
                    "inventory.d2c_limit",
                    "only one device-to-cloud device may be dispensed to a subject",
                    409,
                )
    item.dispensed_to, item.dispensed_at = subject_id, utcnow()
    await session.flush()
    emit(
        session,
        actor,
        "dispense",
        "inventory_item",
        item_id,
        {"study_id": study_id, "mode": mode, "after": {"dispensed_to": subject_id}},
        utcnow(),
    )
    return item
