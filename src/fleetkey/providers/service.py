"""Rules for device providers, trust providers and device software."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import create_entity, update_entity
from fleetkey.clock import utcnow
from fleetkey.errors import conflict, not_found
from fleetkey.providers import catalog
from fleetkey.providers import repository as repo
from fleetkey.providers.models import DeviceProvider, DeviceSoftware, TrustProvider
from fleetkey.tenants.context import Actor
from fleetkey.validation import Checks

# ---------------------------------------------------------------- device providers


@dataclass
class ProviderInput:
    vendor_name: str | None
    address: str | None = None
    email: str | None = None
    contact_number: str | None = None
    certificate_alias: str | None = None
    is_active: bool | None = True

    def check(self) -> None:
        c = Checks()
        c.text("vendor_name", self.vendor_name, 128)
        c.text("address", self.address, 512, required=False, min_len=0)
        c.text("email", self.email, 256, required=False, min_len=0)
        c.text("contact_number", self.contact_number, 16, required=False, min_len=0)
        c.text("certificate_alias", self.certificate_alias, 36, required=False, min_len=0)
        c.present("is_active", self.is_active)
        c.raise_if_any()


async def _refuse_duplicate_provider(
    session: AsyncSession, actor: Actor, data: ProviderInput, self_id: str | None
) -> None:
    assert data.vendor_name is not None
    clash = await repo.active_provider_named(
        session, actor.tenant_id, data.vendor_name, data.address
    )
    # Unlike MOSIP, the record being updated never clashes with itself.
    if data.is_active and any(p.id != self_id for p in clash):
        raise conflict(
            "provider.duplicate",
            f"{data.vendor_name} Device Provider already exist",
            vendor_name=data.vendor_name,
        )


async def create_provider(
    session: AsyncSession, actor: Actor, data: ProviderInput
) -> DeviceProvider:
    data.check()
    await _refuse_duplicate_provider(session, actor, data, None)
    row = DeviceProvider(**asdict(data))
    await create_entity(session, actor, row, utcnow())
    return row


async def get_provider(session: AsyncSession, actor: Actor, provider_id: str) -> DeviceProvider:
    row = await repo.provider(session, actor.tenant_id, provider_id)
    if row is None:
        raise not_found("provider.not_found", "Device Provider does not exist", id=provider_id)
    return row


async def update_provider(
    session: AsyncSession,
    actor: Actor,
    provider_id: str,
    data: ProviderInput,
    expected_version: int | None = None,
) -> DeviceProvider:
    data.check()
    row = await get_provider(session, actor, provider_id)
    await _refuse_duplicate_provider(session, actor, data, row.id)
    await update_entity(session, actor, row, asdict(data), utcnow(), expected_version)
    return row


# ---------------------------------------------------------------- trust providers


@dataclass
class TrustProviderInput:
    name: str | None
    address: str | None
    email: str | None
    contact_number: str | None
    certificate_alias: str | None
    is_active: bool = False

    def check(self) -> None:
        c = Checks()
        c.text("name", self.name, 128)
        c.text("address", self.address, 512)
        c.text("email", self.email, 256)
        c.text("contact_number", self.contact_number, 16)
        c.text("certificate_alias", self.certificate_alias, 36)
        c.raise_if_any()


async def create_trust_provider(
    session: AsyncSession, actor: Actor, data: TrustProviderInput
) -> TrustProvider:
    data.check()
    assert data.name and data.email and data.address and data.certificate_alias
    if await repo.trust_provider_like(
        session,
        actor.tenant_id,
        data.name,
        data.email,
        data.address,
        data.certificate_alias,
        data.is_active,
    ):
        raise conflict("trust_provider.duplicate", "Foundational Trust Provider already exist")
    row = TrustProvider(**asdict(data))
    await create_entity(session, actor, row, utcnow())
    return row


async def get_trust_provider(
    session: AsyncSession, actor: Actor, provider_id: str
) -> TrustProvider:
    row = await repo.trust_provider(session, actor.tenant_id, provider_id)
    if row is None:
        raise not_found("trust_provider.not_found", "FTP is not present for id", id=provider_id)
    return row


async def update_trust_provider(
    session: AsyncSession,
    actor: Actor,
    provider_id: str,
    data: TrustProviderInput,
    expected_version: int | None = None,
) -> TrustProvider:
    data.check()
    row = await get_trust_provider(session, actor, provider_id)
    await update_entity(session, actor, row, asdict(data), utcnow(), expected_version)
    return row


# ---------------------------------------------------------------- device software (MDS)

SOFTWARE_HASH_MAX = 256  # room for any hex or base64 digest, SHA-512 included


@dataclass
class SoftwareInput:
    sw_version: str | None
    provider_id: str | None
    type_code: str | None
    subtype_code: str | None
    make: str | None
    model: str | None
    binary_hash: str | None
    sw_created_at: datetime | None = None
    sw_expires_at: datetime | None = None
    is_active: bool | None = True

    def check(self) -> None:
        c = Checks()
        c.text("sw_version", self.sw_version, 64)
        for name in ("provider_id", "type_code", "subtype_code", "make", "model"):
            c.text(name, getattr(self, name), 36)
        c.text("binary_hash", self.binary_hash, SOFTWARE_HASH_MAX)
        c.present("is_active", self.is_active)
        if self.sw_created_at and self.sw_expires_at and self.sw_expires_at < self.sw_created_at:
            c.add("sw_expires_at", "must not be before the creation time")
        c.raise_if_any()


async def _checked_software_fields(
    session: AsyncSession, actor: Actor, data: SoftwareInput
) -> dict[str, object]:
    """MOSIP's order: type, subtype, then provider. Returns the columns to store."""
    assert data.type_code and data.subtype_code and data.provider_id
    resolved = await catalog.resolve(session, actor.tenant_id, data.type_code, data.subtype_code)
    provider = await repo.provider(session, actor.tenant_id, data.provider_id)
    if provider is None or not provider.is_active:
        raise not_found(
            "software.provider_not_found",
            "Device Provider Id not found in the list of Device Providers",
            id=data.provider_id,
        )
    fields = asdict(data)
    fields.update(type_code=resolved.type_code, subtype_code=resolved.subtype_code)
    return fields


async def create_software(
    session: AsyncSession, actor: Actor, data: SoftwareInput
) -> DeviceSoftware:
    data.check()
    fields = await _checked_software_fields(session, actor, data)
    if await repo.software_same_release(session, actor.tenant_id, fields):
        raise conflict("software.duplicate", "MOSIP-Device-Service already exist")
    row = DeviceSoftware(**fields)
    await create_entity(session, actor, row, utcnow())
    return row


async def get_software(session: AsyncSession, actor: Actor, software_id: str) -> DeviceSoftware:
    row = await repo.software(session, actor.tenant_id, software_id)
    if row is None:
        raise not_found(
            "software.not_found", f"MDS ID {software_id} does not exist", id=software_id
        )
    return row


async def update_software(
    session: AsyncSession,
    actor: Actor,
    software_id: str,
    data: SoftwareInput,
    expected_version: int | None = None,
) -> DeviceSoftware:
    data.check()
    row = await get_software(session, actor, software_id)
    fields = await _checked_software_fields(session, actor, data)
    clash = await repo.software_same_release(session, actor.tenant_id, fields)
    if clash is not None and clash.id != row.id:
        raise conflict("software.duplicate", "MOSIP-Device-Service already exist")
    await update_entity(session, actor, row, fields, utcnow(), expected_version)
    return row
