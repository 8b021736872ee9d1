"""Columns and behaviour shared by every versioned, audited entity."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
        return snapshot_of(type(self), lambda key: getattr(self, key))


def snapshot_of(model: type[VersionedMixin], value: Callable[[str], Any]) -> dict[str, Any]:
    """What history and audit keep of an entity: every column but its secrets, datetimes as
    ISO text (``value`` gives a column's value by key)."""
    out: dict[str, Any] = {}
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        if column.key in model.SNAPSHOT_EXCLUDE:
            continue
        v = value(column.key)
        out[column.key] = iso_millis(v) if isinstance(v, datetime) else v
    return out


def new_row(model: type[VersionedMixin], given: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of a new row but its generated id: ``given``, else the column's Python
    default, else None (what the ORM would insert, for a Core INSERT of all columns)."""
    row: dict[str, Any] = {}
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        if column.primary_key and column.autoincrement is True:
            continue
        if column.key in given:
            row[column.key] = given[column.key]
        elif column.default is not None and column.default.is_scalar:
            row[column.key] = column.default.arg
        elif column.default is not None and column.default.is_callable:
            row[column.key] = column.default.arg(None)  # SQLAlchemy passes a context
        else:
            row[column.key] = None
    return row
