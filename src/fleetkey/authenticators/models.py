"""A client's authenticator and notification devices (ABS's ``oAuthDevice``)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.db.base import Base, BigId, UTCDateTime
from fleetkey.db.versioned import VersionedMixin

# Enumerations exactly as ABS numbers them.
DEVICE_TYPES = ("email", "http", "mobile_application", "phone", "stomp", "totp")
EMAIL, HTTP, MOBILE_APPLICATION, PHONE, STOMP, TOTP = range(6)
# Percent of each PostgreSQL page filled by inserts (migration 0007).
FILLFACTOR = 70
DEVICE_STATUSES = ("active", "blocked", "deactivated")
ACTIVE, BLOCKED, DEACTIVATED = range(3)


class AuthDevice(VersionedMixin, Base):
    __tablename__ = "auth_devices"
    ENTITY_TYPE = "auth_device"
    SNAPSHOT_EXCLUDE: ClassVar[frozenset[str]] = frozenset({"secret_sealed"})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    client_code: Mapped[str] = mapped_column(String(64))
    device_type: Mapped[int] = mapped_column(Integer)
    device_status: Mapped[int] = mapped_column(Integer, default=ACTIVE)
    device_number: Mapped[str | None] = mapped_column(String(256), nullable=True)
    description: Mapped[str | None] = mapped_column(String(512), nullable=True)
    operation_system: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str | None] = mapped_column(String(64), nullable=True)
    form_title: Mapped[str | None] = mapped_column(String(128), nullable=True)
    default_for_notifications: Mapped[bool] = mapped_column(Boolean, default=False)
    use_device_as_login: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[int] = mapped_column(Integer, default=0)
    # One-time-password authenticators (totp): the seed sealed under the master key.
    otp_kind: Mapped[str | None] = mapped_column(String(8), nullable=True)  # totp | hotp
    otp_algorithm: Mapped[str | None] = mapped_column(String(8), nullable=True)
    otp_digits: Mapped[int | None] = mapped_column(Integer, nullable=True)
    secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    # TOTP: the last step accepted (never again); HOTP: the next counter expected.
    otp_counter: Mapped[int] = mapped_column(BigId, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # mobile_application: the app's Ed25519 public key, to check its signed answers.
    public_key_pem: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_auth_devices_client", "tenant_id", "client_code"),
        # A device number used as a login names one device in the tenant.
        Index(
            "uq_auth_devices_login",
            "tenant_id",
            "device_number",
            unique=True,
            sqlite_where=text("use_device_as_login"),
            postgresql_where=text("use_device_as_login"),
        ),
        # SQLite reuses the highest id after a delete unless told not to. PostgreSQL leaves
        # room in each page so that a verification's counter update stays in the row's own
        # page (a HOT update: no index touched); migration 0007 says why.
        {"sqlite_autoincrement": True, "postgresql_with": {"fillfactor": FILLFACTOR}},
    )
