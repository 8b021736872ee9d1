"""The two shared records of change: effective-time history and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fleetkey.db.base import Base, BigId, JSONType, UTCDateTime


class EntityHistory(Base):
    """One row per version of any versioned entity, valid from ``valid_from``.

    An as-of read is the latest row with ``valid_from <= T``: one descent of
    ``ix_entity_history_lookup``, however long the history grows.
    """

    __tablename__ = "entity_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    # A natural key some as-of queries search by (a software version, a serial number).
    lookup_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_entity_history_lookup", "entity_type", "entity_id", "valid_from", "id"),
        # entity_id too, so that "which entities ever carried this key" reads the index only.
        Index("ix_entity_history_key", "tenant_id", "entity_type", "lookup_key", "entity_id"),
        # SQLite reuses the highest id after a delete unless told not to.
        {"sqlite_autoincrement": True},
    )


class AuditEvent(Base):
    """Who changed what, when, in which request. Never a secret."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Position in commit order for the change feed: the writing transaction's id on
    # PostgreSQL (see audit/feed.py), 0 on SQLite where writers are serialised anyway.
    tx_order: Mapped[int] = mapped_column(BigInteger, default=0)
    tenant_id: Mapped[str] = mapped_column(String(36))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(160))
    request_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_audit_events_feed", "tenant_id", "tx_order", "id"),
        Index("ix_audit_events_entity", "tenant_id", "entity_type", "entity_id"),
        Index("ix_audit_events_actor", "tenant_id", "actor"),
        Index("ix_audit_events_time", "tenant_id", "occurred_at"),
        # SQLite reuses the highest id after a delete unless told not to.
        {"sqlite_autoincrement": True},
    )
