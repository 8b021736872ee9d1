"""Device lifecycle after registration: status, deregistration, reads, history, white list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit import service as audit
from fleetkey.clock import utcnow
from fleetkey.devices import repository as repo
from fleetkey.devices.models import (
    RETIRED,
    REVOKED,
    RegisteredDevice,
    WhitelistedDevice,
    canonical_status,
)
from fleetkey.errors import conflict, invalid, not_found
from fleetkey.tenants.context import Actor
from fleetkey.validation import Checks


async def get_device(session: AsyncSession, actor: Actor, code: str) -> RegisteredDevice:
    row = await repo.device(session, actor.tenant_id, code)
    if row is None:
        raise not_found("device.not_found", "Data not found for provided device code", code=code)
    return row


async def set_status(
    session: AsyncSession,
    actor: Actor,
    code: str,
    requested: str,
    expected_version: int | None = None,
) -> RegisteredDevice:
    row = await get_device(session, actor, code)
    status = canonical_status(requested)
    if status is not None and status == row.status:
        raise conflict("device.status_same", f"Device already is in {status} status", status=status)
    if status is None:
        raise invalid("device.status_invalid", "Invalid status received", status=requested)
    if row.status == RETIRED:
        # Retirement is final; the serial may be registered again as a new device.
        raise conflict("device.retired", "Device already de-registered")
    try:
        await audit.update_entity(
            session, actor, row, {"status": status}, utcnow(), expected_version, action="status"
        )
    except IntegrityError as exc:
        raise conflict("registration.duplicate_serial", "Serial no and DpId already exist") from exc
    return row


async def deregister(session: AsyncSession, actor: Actor, code: str) -> RegisteredDevice:
    row = await repo.device(session, actor.tenant_id, code)
    if row is None:
        raise not_found("device.not_found", "No register device found", code=code)
    if row.status in (REVOKED, RETIRED):
        raise conflict("device.already_deregistered", "Device already de-registered")
    await audit.update_entity(
        session, actor, row, {"status": RETIRED}, utcnow(), action="deregister"
    )
    return row


async def list_devices(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    purpose: str | None = None,
    provider_id: str | None = None,
    serial_number: str | None = None,
    type_code: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[RegisteredDevice]:
    if status is not None:
        canonical = canonical_status(status)
        if canonical is None:
            raise invalid("device.status_invalid", "Invalid status received", status=status)
        status = canonical
    return await repo.list_devices(
        session,
        actor.tenant_id,
        status=status,
        purpose=purpose.upper() if purpose else None,
        provider_id=provider_id,
        serial_number=serial_number,
        type_code=type_code,
        after=after,
        limit=limit,
    )


async def device_as_of(
    session: AsyncSession, actor: Actor, code: str, at: datetime
) -> dict[str, Any]:
    row = await audit.as_of(session, actor.tenant_id, RegisteredDevice.ENTITY_TYPE, code, at)
    if row is None:
        raise not_found("device.not_found", f"device {code} did not exist at that time", code=code)
    return row.data


async def device_history(session: AsyncSession, actor: Actor, code: str) -> list[dict[str, Any]]:
    rows = await audit.history_of(session, actor.tenant_id, RegisteredDevice.ENTITY_TYPE, code)
    if not rows:
        raise not_found("device.not_found", f"no device {code}", code=code)
    return [{"valid_from": r.valid_from, "version": r.version, "data": r.data} for r in rows]


async def whitelist_serial(
    session: AsyncSession, actor: Actor, serial: str, description: str | None
) -> WhitelistedDevice:
    c = Checks()
    c.text("serial_number", serial, 64)
    c.text("description", description, 256, required=False, min_len=0)
    c.raise_if_any()
    if await repo.whitelisted(session, actor.tenant_id, serial):
        raise conflict("whitelist.exists", f"serial {serial} is already white-listed")
    row = WhitelistedDevice(
        tenant_id=actor.tenant_id, serial_number=serial, description=description
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise conflict("whitelist.exists", f"serial {serial} is already white-listed") from exc
    audit.emit(
        session,
        actor,
        "create",
        "whitelisted_device",
        row.id,
        {"after": {"serial_number": serial, "description": description}},
        utcnow(),
    )
    return row


async def unwhitelist(session: AsyncSession, actor: Actor, entry_id: str) -> None:
    row = await repo.whitelist_entry(session, actor.tenant_id, entry_id)
    if row is None:
        raise not_found("whitelist.not_found", f"no white-list entry {entry_id}")
    await session.delete(row)
    audit.emit(
        session,
        actor,
        "delete",
        "whitelisted_device",
        entry_id,
        {"before": {"serial_number": row.serial_number}},
        utcnow(),
    )
