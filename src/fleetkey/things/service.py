"""Instances, products and devices: lifecycle and credentials."""

from __future__ import annotations

import json
import string
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import create_entity, creation_steps, emit, update_entity
from fleetkey.clock import utcnow
from fleetkey.credentials.randomness import random_text
from fleetkey.credentials.vault import Vault
from fleetkey.db.direct import Step
from fleetkey.errors import DomainError, FieldProblem, ValidationFailed, conflict, not_found
from fleetkey.tenants.context import Actor
from fleetkey.things import credentials
from fleetkey.things.models import (
    DISABLED,
    ENABLED,
    OFFLINE,
    ONLINE,
    AuthFailures,
    Device,
    Instance,
    Product,
)
from fleetkey.validation import Checks

# ------------------------------------------------------------------ instances


async def create_instance(
    session: AsyncSession, actor: Actor, instance_id: str | None, name: str | None = None
) -> Instance:
    ident = instance_id or str(uuid.uuid4())
    if not ident or len(ident) > 36 or not all(c.isalnum() or c in "-_" for c in ident):
        raise ValidationFailed([FieldProblem("id", "1 to 36 letters, digits, - or _")])
    if await session.get(Instance, (actor.tenant_id, ident)):
        raise conflict("instance.exists", f"instance {ident} already exists")
    row = Instance(tenant_id=actor.tenant_id, id=ident, name=(name or ident)[:64])
    session.add(row)
    await session.flush()
    emit(session, actor, "create", "instance", ident, {"after": {"id": ident}}, utcnow())
    return row


async def get_instance(session: AsyncSession, tenant_id: str, instance_id: str) -> Instance:
    row = await session.get(Instance, (tenant_id, instance_id)) if len(instance_id) <= 36 else None
    if row is None:
        raise DomainError(
            "instance.not_found", "instance does not exist", 404, {"instance_id": instance_id}
        )
    return row


async def list_instances(session: AsyncSession, tenant_id: str) -> list[Instance]:
    return list(
        await session.scalars(
            select(Instance).where(Instance.tenant_id == tenant_id).order_by(Instance.id)
        )
    )


# ------------------------------------------------------------------ products


@dataclass
class ProductInput:
    name: str | None = None
    app_id: str | None = None
    manufacturer_id: str | None = None
    manufacturer_name: str | None = None
    model: str | None = None
    product_type: int | None = None
    protocol_type: int | None = None
    device_type: str | None = None
    description: str | None = None
    product_version: str | None = None
    data_format: int | None = None

    def check(self, creating: bool) -> None:
        c = Checks()
        c.text("name", self.name, 64, required=creating)
        for name in (
            "app_id",
            "manufacturer_id",
            "manufacturer_name",
            "model",
            "device_type",
            "product_version",
        ):
            c.text(name, getattr(self, name), 64, required=False)
        c.text("description", self.description, 200, required=False, min_len=0)
        for name, allowed in (
            ("product_type", (0, 1)),
            ("protocol_type", (0, 1, 2, 3, 4)),
            ("data_format", (0, 1)),
        ):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                c.add(name, f"must be one of {', '.join(map(str, allowed))}")
        c.raise_if_any()

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _not_found(kind: str, ident: object) -> DomainError:
    return not_found(f"{kind}.not_found", f"{kind} {ident} does not exist", id=str(ident))


async def create_product(
    session: AsyncSession, vault: Vault, actor: Actor, instance_id: str, data: ProductInput
) -> tuple[Product, credentials.IssuedCredential]:
    data.check(creating=True)
    await get_instance(session, actor.tenant_id, instance_id)
    await _refuse_duplicate_product_name(session, actor.tenant_id, instance_id, data.name, None)
    row = Product(instance_id=instance_id, **data.given())
    row.tenant_id = actor.tenant_id
    changes, issued = await credentials.apply(session, vault, row, None, None, "p")
    for key, value in changes.items():
        setattr(row, key, value)
    await create_entity(session, actor, row, utcnow())
    return row, issued


async def _refuse_duplicate_product_name(
    session: AsyncSession, tenant_id: str, instance_id: str, name: str | None, self_id: int | None
) -> None:
    if name is None:
        return
    clash = await session.scalar(
        select(Product.id).where(
            Product.tenant_id == tenant_id,
            Product.instance_id == instance_id,
            Product.name == name,
        )
    )
    if clash is not None and clash != self_id:
        raise conflict("product.duplicate", f"a product named {name} already exists")


async def get_product(
    session: AsyncSession, tenant_id: str, instance_id: str, product_id: int
) -> Product:
    row = await session.get(Product, product_id) if 0 <= product_id < 2**63 else None
    if row is None or row.tenant_id != tenant_id or row.instance_id != instance_id:
        raise _not_found("product", product_id)
    return row


async def update_product(
    session: AsyncSession, actor: Actor, instance_id: str, product_id: int, data: ProductInput
) -> Product:
    data.check(creating=False)
    row = await get_product(session, actor.tenant_id, instance_id, product_id)
    await _refuse_duplicate_product_name(session, actor.tenant_id, instance_id, data.name, row.id)
    await update_entity(session, actor, row, data.given(), utcnow())
    return row


async def delete_product(
    session: AsyncSession, actor: Actor, instance_id: str, product_id: int
) -> None:
    row = await get_product(session, actor.tenant_id, instance_id, product_id)
    devices = await session.scalar(
        select(func.count()).select_from(Device).where(Device.product_id == row.id)
    )
    if devices:
        raise conflict("product.has_devices", f"product {product_id} still has {devices} devices")
    await update_entity(session, actor, row, {"is_active": False}, utcnow(), action="delete")
    await session.delete(row)


@dataclass
class ProductFilter:
    name: str | None = None
    manufacturer_id: str | None = None
    manufacturer_name: str | None = None
    model: str | None = None
    device_type: str | None = None
    product_type: int | None = None
    protocol_type: int | None = None
    app_id: str | None = None
    product_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def list_products(
    session: AsyncSession,
    tenant_id: str,
    instance_id: str,
    f: ProductFilter,
    offset: int,
    limit: int,
) -> tuple[int, list[Product]]:
    conditions: list[Any] = [Product.tenant_id == tenant_id, Product.instance_id == instance_id]
    for column, value in (
        (Product.manufacturer_id, f.manufacturer_id),
        (Product.manufacturer_name, f.manufacturer_name),
        (Product.model, f.model),
        (Product.device_type, f.device_type),
        (Product.product_type, f.product_type),
        (Product.protocol_type, f.protocol_type),
        (Product.app_id, f.app_id),
        (Product.id, f.product_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if f.name:
        conditions.append(Product.name.icontains(f.name, autoescape=True))
    if f.created_from:
        conditions.append(Product.created_at >= f.created_from)
    if f.created_to:
        conditions.append(Product.created_at <= f.created_to)
    return await _page(session, Product, conditions, offset, limit)


async def _page(
    session: AsyncSession, model: Any, conditions: list[Any], offset: int, limit: int
) -> tuple[int, list[Any]]:
    total = await session.scalar(select(func.count()).select_from(model).where(*conditions))
    rows = await session.scalars(
        select(model).where(*conditions).order_by(model.id).offset(offset).limit(limit)
    )
    return int(total or 0), list(rows)


async def reset_product_credential(
    session: AsyncSession,
    vault: Vault,
    actor: Actor,
    instance_id: str,
    product_id: int,
    user_name: str | None,
    password: str | None,
) -> credentials.IssuedCredential:
    row = await get_product(session, actor.tenant_id, instance_id, product_id)
    changes, issued = await credentials.apply(session, vault, row, user_name, password, "p")
    await update_entity(session, actor, row, changes, utcnow(), action="reset_credential")
    return issued


# ------------------------------------------------------------------ devices


@dataclass
class DeviceInput:
    device_name: str | None = None
    node_id: str | None = None
    app_id: str | None = None
    status: int | None = None
    description: str | None = None
    tags: list[str] | None = None

    def check(self, creating: bool) -> None:
        c = Checks()
        c.text("device_name", self.device_name, 64, required=creating, min_len=2)
        c.text("node_id", self.node_id, 64, required=creating, min_len=2)
        if self.node_id and not all(
            ch.isascii() and (ch.isalnum() or ch in "_-") for ch in self.node_id
        ):
            c.add("node_id", "letters, digits, _ and - only")
        c.text("app_id", self.app_id, 64, required=False)
        c.text("description", self.description, 200, required=False, min_len=0)
        if self.status is not None and self.status not in (ENABLED, DISABLED):
            c.add("status", "must be 0 (enabled) or 1 (disabled)")
        if self.tags is not None and (
            len(self.tags) > 20
            or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in self.tags)
        ):
            c.add("tags", "at most 20 tags of 1 to 64 characters")
        c.raise_if_any()

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ProductRef:
    product_id: int | None = None
    manufacturer_id: str | None = None
    model: str | None = None


def _client_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return f"D{int(time.time() * 1000)}{random_text(alphabet, 6)}"


async def _resolve_product(
    session: AsyncSession, tenant_id: str, instance_id: str, ref: ProductRef
) -> Product:
    if ref.product_id is not None:
        return await get_product(session, tenant_id, instance_id, ref.product_id)
    if ref.manufacturer_id and ref.model:
        row = await session.scalar(
            select(Product)
            .where(
                Product.tenant_id == tenant_id,
                Product.instance_id == instance_id,
                Product.manufacturer_id == ref.manufacturer_id,
                Product.model == ref.model,
            )
            .order_by(Product.id)
            .limit(1)
        )
        if row is None:
            raise _not_found("product", f"{ref.manufacturer_id}/{ref.model}")
        return row
    raise ValidationFailed(
        [FieldProblem("product", "give product_id, or manufacturer_id and model")]
    )


async def create_device(
    session: AsyncSession,
    vault: Vault,
    actor: Actor,
    instance_id: str,
    ref: ProductRef,
    data: DeviceInput,
    user_name: str | None = None,
    password: str | None = None,
    own_credential: bool = True,
) -> tuple[Device, credentials.IssuedCredential | None]:
    """A device with its own credential (given, or generated and shown once), or, with
    ``own_credential=False``, one that connects with its product's credential."""
    data.check(creating=True)
    await get_instance(session, actor.tenant_id, instance_id)
    product = await _resolve_product(session, actor.tenant_id, instance_id, ref)
    row = Device(
        instance_id=instance_id,
        product_id=product.id,
        client_id=_client_id(),
        **{"tags": [], **data.given()},
    )
    row.tenant_id = actor.tenant_id
    issued = None
    if own_credential:
        changes, issued = await credentials.apply(session, vault, row, user_name, password, "d")
        for key, value in changes.items():
            setattr(row, key, value)
    await create_entity(session, actor, row, utcnow())
    return row, issued


def device_creation_steps(
    vault: Vault,
    actor: Actor,
    instance_id: str,
    product_id: int,
    data: DeviceInput,
    at: datetime,
) -> tuple[list[Step], dict[str, Any], credentials.IssuedCredential]:
    """``create_device`` with a generated credential, as steps of a direct unit (for
    devices made at device rate: a bootstrap). The instance and the product must exist;
    the product is the caller's to know (its foreign key refuses one that went away).
    Returns the steps (the new id returned as "id"), the row and the credential."""
    data.check(creating=True)
    changes, issued = credentials.generated(vault, "d")
    given = {
        "instance_id": instance_id,
        "product_id": product_id,
        "client_id": _client_id(),
        **{"tags": [], **data.given()},
        **changes,
    }
    steps = creation_steps(actor, Device, given, at)
    return steps, dict(steps[0].params), issued


async def get_device(
    session: AsyncSession, tenant_id: str, instance_id: str, device_id: int
) -> Device:
    row = await session.get(Device, device_id) if 0 <= device_id < 2**63 else None
    if row is None or row.tenant_id != tenant_id or row.instance_id != instance_id:
        raise _not_found("device", device_id)
    return row


async def update_device(
    session: AsyncSession,
    actor: Actor,
    instance_id: str,
    device_id: int,
    data: DeviceInput,
    expected_version: int | None = None,
) -> Device:
    data.check(creating=False)
    row = await get_device(session, actor.tenant_id, instance_id, device_id)
    await update_entity(session, actor, row, data.given(), utcnow(), expected_version)
    return row


async def delete_device(
    session: AsyncSession, actor: Actor, instance_id: str, device_id: int
) -> None:
    row = await get_device(session, actor.tenant_id, instance_id, device_id)
    await update_entity(session, actor, row, {"is_active": False}, utcnow(), action="delete")
    await session.delete(row)
    # SQLite may give the id to the next device: it must not inherit this one's lockout.
    await session.execute(
        delete(AuthFailures).where(
            AuthFailures.tenant_id == actor.tenant_id, AuthFailures.subject == f"device:{row.id}"
        )
    )


async def delete_devices(
    session: AsyncSession, actor: Actor, instance_id: str, device_ids: list[int]
) -> None:
    """All or nothing: an unknown id fails the whole batch and deletes none."""
    for device_id in dict.fromkeys(device_ids):
        await delete_device(session, actor, instance_id, device_id)


async def force_offline(
    session: AsyncSession, actor: Actor, instance_id: str, device_ids: list[int]
) -> tuple[list[Device], list[int]]:
    done, missing = [], []
    for device_id in dict.fromkeys(device_ids):
        try:
            row = await get_device(session, actor.tenant_id, instance_id, device_id)
        except DomainError:
            missing.append(device_id)
            continue
        if row.online_status == ONLINE:
            await update_entity(
                session, actor, row, {"online_status": OFFLINE}, utcnow(), action="force_offline"
            )
        done.append(row)
    return done, missing


@dataclass
class DeviceFilter:
    product_id: int | None = None
    product_name: str | None = None
    device_name: str | None = None
    client_id: str | None = None
    node_id: str | None = None
    app_id: str | None = None
    online_status: list[int] = field(default_factory=list)
    node_type: int | None = None
    tag: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


async def list_devices(
    session: AsyncSession,
    tenant_id: str,
    instance_id: str,
    f: DeviceFilter,
    offset: int,
    limit: int,
) -> tuple[int, list[Device]]:
    conditions: list[Any] = [Device.tenant_id == tenant_id, Device.instance_id == instance_id]
    for column, value in (
        (Device.product_id, f.product_id),
        (Device.client_id, f.client_id),
        (Device.node_id, f.node_id),
        (Device.app_id, f.app_id),
    ):
        if value is not None:
            conditions.append(column == value)
    if f.device_name:
        conditions.append(Device.device_name.icontains(f.device_name, autoescape=True))
    if f.online_status:
        conditions.append(Device.online_status.in_(f.online_status))
    if f.node_type not in (None, 0):
        conditions.append(Device.id < 0)  # gateways and sub-devices are not modelled yet
    if f.product_name:
        conditions.append(
            Device.product_id.in_(
                select(Product.id).where(
                    Product.tenant_id == tenant_id,
                    Product.name.icontains(f.product_name, autoescape=True),
                )
            )
        )
    if f.created_from:
        conditions.append(Device.created_at >= f.created_from)
    if f.created_to:
        conditions.append(Device.created_at <= f.created_to)
    if f.tag:
        # The JSON text of the tag list holds each tag as a JSON string: SQLite's with
        # non-ASCII characters \u-escaped, PostgreSQL's (JSONB) with them as they are.
        text = cast(Device.tags, String)
        conditions.append(
            or_(
                text.contains(json.dumps(f.tag), autoescape=True),
                text.contains(json.dumps(f.tag, ensure_ascii=False), autoescape=True),
            )
        )
    return await _page(session, Device, conditions, offset, limit)


async def count_devices(session: AsyncSession, tenant_id: str, instance_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(Device.online_status, func.count())
        .where(Device.tenant_id == tenant_id, Device.instance_id == instance_id)
        .group_by(Device.online_status)
    )
    counts = {"never_connected": 0, "online": 0, "offline": 0}
    names = {0: "never_connected", 1: "online", 2: "offline"}
    for status, number in rows.all():
        counts[names.get(int(status), "offline")] += int(number)
    return counts


async def count_products(session: AsyncSession, tenant_id: str, instance_id: str) -> dict[int, int]:
    rows = await session.execute(
        select(Product.product_type, func.count())
        .where(Product.tenant_id == tenant_id, Product.instance_id == instance_id)
        .group_by(Product.product_type)
    )
    return {int(kind): int(number) for kind, number in rows.all()}


async def reset_device_credential(
    session: AsyncSession,
    vault: Vault,
    actor: Actor,
    instance_id: str,
    device_id: int,
    user_name: str | None,
    password: str | None,
) -> credentials.IssuedCredential:
    row = await get_device(session, actor.tenant_id, instance_id, device_id)
    changes, issued = await credentials.apply(session, vault, row, user_name, password, "d")
    await update_entity(session, actor, row, changes, utcnow(), action="reset_credential")
    return issued
