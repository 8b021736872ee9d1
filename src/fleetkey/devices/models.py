"""Registered devices and the white list of serials allowed to register for REGISTRATION."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.clock import utcnow
from fleetkey.db.base import Base, JSONType, UTCDateTime, new_id
from fleetkey.db.versioned import VersionedMixin

REGISTERED, REVOKED, RETIRED = "Registered", "Revoked", "Retired"
STATUSES = (REGISTERED, REVOKED, RETIRED)


def canonical_status(value: str) -> str | None:
    """Any spelling of a status in, one canonical form out (None when unknown)."""
    for status in STATUSES:
        if value.strip().lower() == status.lower():
            return status
    return None


class RegisteredDevice(VersionedMixin, Base):
    __tablename__ = "registered_devices"
    ENTITY_TYPE = "registered_device"

    code: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    status: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))  # AUTH | REGISTRATION
    device_id: Mapped[str] = mapped_column(String(256))
    device_sub_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    serial_number: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str] = mapped_column(ForeignKey("device_providers.id"))
    provider_name: Mapped[str] = mapped_column(String(128))
    type_code: Mapped[str] = mapped_column(String(36))
    subtype_code: Mapped[str] = mapped_column(String(36))
    make: Mapped[str | None] = mapped_column(String(36), nullable=True)
    model: Mapped[str | None] = mapped_column(String(36), nullable=True)
    firmware: Mapped[str] = mapped_column(String(128))
    certification: Mapped[str] = mapped_column(String(3))
    trust_provider_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The digital id exactly as the device sent it (after base64 decoding).
    digital_id: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        # One live device per serial and provider; a retired one frees the serial.
        Index(
            "uq_registered_devices_live_serial",
            "tenant_id",
            "provider_id",
            "serial_number",
            unique=True,
            sqlite_where=text("status != 'Retired'"),
            postgresql_where=text("status != 'Retired'"),
        ),
        Index("ix_registered_devices_list", "tenant_id", "code"),
        Index("ix_registered_devices_serial", "tenant_id", "serial_number"),
    )

    @property
    def entity_key(self) -> str:
        return self.code

    def history_key(self) -> str | None:
        return self.serial_number


class WhitelistedDevice(Base):
    """A serial an operator allows to register for REGISTRATION; its id becomes the code."""

    __tablename__ = "whitelisted_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    serial_number: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("tenant_id", "serial_number"),)
