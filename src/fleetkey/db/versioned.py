"""Columns and behaviour shared by every versioned, audited entity."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from fleetkey.clock import iso_millis
from fleetkey.db.base import UTCDateTime


class VersionedMixin:
    ENTITY_TYPE: ClassVar[str]
    # Columns never copied into history or audit (secrets, hashes).
    SNAPSHOT_EXCLUDE: ClassVar[frozenset[str]] = frozenset()

    tenant_id: Mapped[str]
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(160), nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # UPDATE ... WHERE version = :seen, so two concurrent writers cannot both win.
        return {"version_id_col": cls.version}

    @property
    def entity_key(self) -> str:
        return str(self.id)  # type: ignore[attr-defined]

    def history_key(self) -> str | None:
        return None

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for column in self.__table__.columns:  # type: ignore[attr-defined]
            if column.key in self.SNAPSHOT_EXCLUDE:
                continue
            value = getattr(self, column.key)
            out[column.key] = iso_millis(value) if isinstance(value, datetime) else value
        return out
