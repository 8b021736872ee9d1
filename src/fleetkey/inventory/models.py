"""The clinical-trial world devices are dispensed in: studies, modes, subjects, kits.

Every row below a study carries its ``mode`` (test, active, training): the three worlds of a
study never see each other's subjects, inventory or devices.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.clock import utcnow
from fleetkey.db.base import Base, BigId, JSONType, UTCDateTime

MODES = ("test", "active", "training")
CLOUD_TO_CLOUD, DEVICE_TO_CLOUD, NO_CONNECTION = "cloud_to_cloud", "device_to_cloud", "none"
CONNECTION_TYPES = (CLOUD_TO_CLOUD, DEVICE_TO_CLOUD, NO_CONNECTION)


class Study(Base):
    __tablename__ = "studies"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 32 upper-case hex
    name: Mapped[str] = mapped_column(String(128))
    # Where and how the study reaches mHealth; absent means devices cannot be registered.
    mhealth_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KitType(Base):
    __tablename__ = "kit_types"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    study_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # None: the design never chose one ("Device does not have any connection type").
    connection_type: Mapped[str | None] = mapped_column(String(16), nullable=True)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "study_id"], ["studies.tenant_id", "studies.id"]),
    )


class Subject(Base):
    __tablename__ = "subjects"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    study_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    m_subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "study_id"], ["studies.tenant_id", "studies.id"]),
    )


class InventoryItem(Base):
    """A device kit in a study's inventory, and to whom it is dispensed (if anyone)."""

    __tablename__ = "inventory_items"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    study_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    mode: Mapped[str] = mapped_column(String(8), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kit_type_id: Mapped[str] = mapped_column(String(64))
    dispensed_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dispensed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "study_id", "kit_type_id"],
            ["kit_types.tenant_id", "kit_types.study_id", "kit_types.id"],
        ),
        Index("ix_inventory_items_subject", "tenant_id", "study_id", "mode", "dispensed_to"),
    )


class MhealthDevice(Base):
    """A dispensed kit registered with mHealth, and its bootstrap pair.

    One row per registration. The current access ID / OTP pair lives on the row itself, so
    recreating it replaces the old pair in the same update: two valid pairs can never
    coexist. ``access_id`` is unique among all rows (a device presents nothing else).
    """

    __tablename__ = "mhealth_devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # 32 upper-case hex
    tenant_id: Mapped[str] = mapped_column(String(36))
    study_id: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))
    subject_id: Mapped[str] = mapped_column(String(64))
    m_subject_id: Mapped[str] = mapped_column(String(64))
    inventory_id: Mapped[str] = mapped_column(String(64))
    connection_type: Mapped[str] = mapped_column(String(16))
    vendor_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    subject_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deregistered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The bootstrap pair: the OTP only as a keyed hash.
    access_id: Mapped[str | None] = mapped_column(String(16), nullable=True, unique=True)
    otp_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    otp_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    otp_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    otp_failures: Mapped[int] = mapped_column(Integer, default=0)
    # After bootstrap: the long-term credential is a connected device (things.Device).
    bootstrapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    thing_id: Mapped[int | None] = mapped_column(BigId, nullable=True)

    __table_args__ = (
        Index("ix_mhealth_devices_inventory", "tenant_id", "study_id", "mode", "inventory_id"),
    )
