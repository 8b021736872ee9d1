"""A one-time code sent to a client's notification device, and how its delivery is going."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.db.base import Base, BigId, UTCDateTime

PENDING, SENT, RETRYING, FAILED = "pending", "sent", "retrying", "failed"


class Challenge(Base):
    __tablename__ = "challenges"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    client_code: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[int] = mapped_column(BigId)
    channel: Mapped[str] = mapped_column(String(24))
    # The code only as a keyed hash; for a mobile app, the nonce it must sign.
    code_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Delivery: never blocks verification; a failed delivery is reported and retried.
    delivery_status: Mapped[str] = mapped_column(String(16), default=PENDING)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Sealed message for redelivery (the code must be resent as it was first sent).
    message_sealed: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_challenges_due", "delivery_status", "next_delivery_at"),
        Index("ix_challenges_client", "tenant_id", "client_code"),
    )
