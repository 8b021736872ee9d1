"""Device providers, foundational trust providers, device software (MDS), the type catalog."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.db.base import Base, UTCDateTime, new_id
from fleetkey.db.versioned import VersionedMixin


class DeviceProvider(VersionedMixin, Base):
    __tablename__ = "device_providers"
    ENTITY_TYPE = "device_provider"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    vendor_name: Mapped[str] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(512), nullable=True)
    email: Mapped[str | None] = mapped_column(String(256), nullable=True)
    contact_number: Mapped[str | None] = mapped_column(String(16), nullable=True)
    certificate_alias: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (Index("ix_device_providers_name", "tenant_id", "vendor_name"),)


class TrustProvider(VersionedMixin, Base):
    """A foundational trust provider (the root of an L1 device's trust)."""

    __tablename__ = "trust_providers"
    ENTITY_TYPE = "trust_provider"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(512))
    email: Mapped[str] = mapped_column(String(256))
    contact_number: Mapped[str] = mapped_column(String(16))
    certificate_alias: Mapped[str] = mapped_column(String(36))


class DeviceSoftware(VersionedMixin, Base):
    """A device service (MOSIP's MDS) release of one provider's make and model."""

    __tablename__ = "device_software"
    ENTITY_TYPE = "device_software"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    sw_version: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str] = mapped_column(ForeignKey("device_providers.id"))
    type_code: Mapped[str] = mapped_column(String(36))
    subtype_code: Mapped[str] = mapped_column(String(36))
    make: Mapped[str] = mapped_column(String(36))
    model: Mapped[str] = mapped_column(String(36))
    binary_hash: Mapped[str] = mapped_column(String(256))
    sw_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sw_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "sw_version", "provider_id", "type_code", "subtype_code", "make", "model"
        ),
    )

    def history_key(self) -> str | None:
        return self.sw_version


class DeviceType(Base):
    __tablename__ = "device_types"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(512), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Another spelling of a canonical type (MOSIP's doc says "Fingerprint" for "Finger").
    alias_of: Mapped[str | None] = mapped_column(String(36), nullable=True)


class DeviceSubType(Base):
    __tablename__ = "device_subtypes"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(512), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
