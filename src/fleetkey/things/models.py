"""Connected things: instances (partitions of a tenant), products (models), devices.

Ids are integers because the ROMA SDK parses them as ``int``. A device authenticates with
its own credential (one-device-one-secret) or, when it has none, with its product's
(one-model-one-secret).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.clock import utcnow
from fleetkey.db.base import Base, BigId, JSONType, UTCDateTime
from fleetkey.db.versioned import VersionedMixin

ENABLED, DISABLED = 0, 1
NEVER_CONNECTED, ONLINE, OFFLINE = 0, 1, 2


class Instance(Base):
    __tablename__ = "thing_instances"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CredentialColumns:
    """A user name and a stored secret (never the secret itself)."""

    SNAPSHOT_EXCLUDE: ClassVar[frozenset[str]] = frozenset({"secret_hash"})

    user_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secret_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    secret_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)


class Product(CredentialColumns, VersionedMixin, Base):
    __tablename__ = "thing_products"
    ENTITY_TYPE = "product"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    instance_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(64))
    app_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manufacturer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manufacturer_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model: Mapped[str | None] = mapped_column(String(64), nullable=True)
    product_type: Mapped[int] = mapped_column(Integer, default=0)
    protocol_type: Mapped[int] = mapped_column(Integer, default=0)
    device_type: Mapped[str] = mapped_column(String(64), default="Default")
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    product_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data_format: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "instance_id"], ["thing_instances.tenant_id", "thing_instances.id"]
        ),
        UniqueConstraint("tenant_id", "instance_id", "name"),
        Index("ix_thing_products_model", "tenant_id", "instance_id", "manufacturer_id", "model"),
        Index("uq_thing_products_user", "tenant_id", "user_name", unique=True),
        # SQLite reuses the highest id after a delete unless told not to.
        {"sqlite_autoincrement": True},
    )


class Device(CredentialColumns, VersionedMixin, Base):
    __tablename__ = "thing_devices"
    ENTITY_TYPE = "device"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    instance_id: Mapped[str] = mapped_column(String(36))
    product_id: Mapped[int] = mapped_column(ForeignKey("thing_products.id"))
    device_name: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64))
    app_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[int] = mapped_column(Integer, default=ENABLED)
    online_status: Mapped[int] = mapped_column(Integer, default=NEVER_CONNECTED)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_thing_devices_list", "tenant_id", "instance_id", "id"),
        Index("uq_thing_devices_client", "tenant_id", "client_id", unique=True),
        Index("uq_thing_devices_user", "tenant_id", "user_name", unique=True),
        Index("ix_thing_devices_product", "product_id"),
        # SQLite reuses the highest id after a delete unless told not to.
        {"sqlite_autoincrement": True},
    )


class AuthFailures(Base):
    """Failed credential checks of one subject, shared by every API node."""

    __tablename__ = "auth_failures"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
