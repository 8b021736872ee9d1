"""History and audit as one mechanism: every change of a versioned entity goes here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, insert, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from fleetkey.audit.models import AuditEvent, EntityHistory
from fleetkey.db.direct import Ref, Statement, Step
from fleetkey.db.versioned import VersionedMixin, new_row, snapshot_of
from fleetkey.errors import DomainError
from fleetkey.tenants.context import Actor


class Versioned(Protocol):
    ENTITY_TYPE: str
    tenant_id: str
    version: int

    @property
    def entity_key(self) -> str: ...

    def snapshot(self) -> dict[str, Any]: ...

    def history_key(self) -> str | None: ...


def _diff(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    if before is None:
        return {"after": after}
    changed = {k for k in after.keys() | before.keys() if before.get(k) != after.get(k)}
    return {
        "before": {k: before.get(k) for k in sorted(changed)},
        "after": {k: after.get(k) for k in sorted(changed)},
    }


def tx_order_for(dialect: str) -> Any:
    """An audit event's place in commit order (see ``AuditEvent.tx_order``)."""
    if dialect == "postgresql":
        return literal_column("pg_current_xact_id()::text::bigint")
    return 0


def _tx_order(session: AsyncSession) -> Any:
    return tx_order_for(session.get_bind().dialect.name)


async def record_change(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity: Versioned,
    before: dict[str, Any] | None,
    at: datetime,
) -> None:
    """Write the entity's new history row and the audit event describing the change."""
    after = entity.snapshot()
    session.add(
        EntityHistory(
            tenant_id=entity.tenant_id,
            entity_type=entity.ENTITY_TYPE,
            entity_id=entity.entity_key,
            lookup_key=entity.history_key(),
            version=entity.version,
            valid_from=at,
            data=after,
        )
    )
    emit(session, actor, action, entity.ENTITY_TYPE, entity.entity_key, _diff(before, after), at)


async def create_entity(
    session: AsyncSession, actor: Actor, entity: Any, at: datetime, action: str = "create"
) -> None:
    """Insert a new versioned entity with its first history row and audit event."""
    entity.tenant_id = actor.tenant_id
    entity.created_by, entity.created_at = actor.name, at
    session.add(entity)
    await session.flush()
    await record_change(session, actor, action, entity, None, at)


async def update_entity(
    session: AsyncSession,
    actor: Actor,
    entity: Any,
    changes: dict[str, Any],
    at: datetime,
    expected_version: int | None = None,
    action: str = "update",
) -> None:
    """Apply ``changes``; refuse a stale ``expected_version``; write history and audit."""
    if expected_version is not None and expected_version != entity.version:
        raise DomainError(
            "version.conflict",
            f"{entity.ENTITY_TYPE} {entity.entity_key} is at version {entity.version}, "
            f"not {expected_version}",
            412,
            {"current": entity.version},
        )
    before = entity.snapshot()
    # Named now: after a failed flush the entity's attributes are expired and unreadable.
    label = f"{entity.ENTITY_TYPE} {entity.entity_key}"
    for key, value in changes.items():
        setattr(entity, key, value)
    entity.updated_by, entity.updated_at = actor.name, at
    try:
        await session.flush()
    except StaleDataError as exc:
        raise DomainError("version.conflict", f"{label} changed meanwhile", 409) from exc
    await record_change(session, actor, action, entity, before, at)


def emit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any],
    at: datetime,
) -> None:
    """An audit event without a history row (for unversioned things: tokens, keys)."""
    session.add(
        AuditEvent(
            tx_order=_tx_order(session),
            tenant_id=actor.tenant_id,
            occurred_at=at,
            actor=actor.name,
            request_id=actor.request_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            changes=changes,
        )
    )


# ------------------------------------------------------------------ the same rows, direct
# For the few writes made at device rate (db/direct.py): the rows ``create_entity`` and
# ``emit`` write, as steps of a unit rather than through a session.


def _insert_of(table: Any, **fixed: Any) -> Any:
    """INSERT of every column but a generated id, each bound by its key (``fixed``: SQL
    expressions instead)."""
    return insert(table).values(
        {
            c.key: fixed.get(c.key, bindparam(c.key))
            for c in table.columns
            if not (c.primary_key and c.autoincrement is True)
        }
    )


_HISTORY_ROW = Statement(_insert_of(EntityHistory.__table__))
_AUDIT_ROW = Statement(
    lambda dialect: _insert_of(AuditEvent.__table__, tx_order=tx_order_for(dialect))
)


_ENTITY_INSERTS: dict[tuple[str, bool], Statement] = {}


def _entity_insert(model: type[VersionedMixin], returns_id: bool) -> Statement:
    table = model.__table__  # type: ignore[attr-defined]
    hit = _ENTITY_INSERTS.get((table.name, returns_id))
    if hit is None:
        insert_row = _insert_of(table)
        hit = Statement(insert_row.returning(table.c.id) if returns_id else insert_row)
        _ENTITY_INSERTS[(table.name, returns_id)] = hit
    return hit


def emit_step(
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str | Ref,
    changes: dict[str, Any] | Ref,
    at: datetime,
) -> Step:
    """``emit`` as a step of a direct unit."""
    return Step(
        _AUDIT_ROW,
        {
            "tenant_id": actor.tenant_id,
            "occurred_at": at,
            "actor": actor.name,
            "request_id": actor.request_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "changes": changes,
        },
    )


def creation_steps(
    actor: Actor,
    model: type[VersionedMixin],
    given: dict[str, Any],
    at: datetime,
    *,
    action: str = "create",
    key: str | None = None,
    lookup_key: str | None = None,
) -> list[Step]:
    """``create_entity`` as steps of a direct unit: the entity, its first history row and
    its audit event. ``key``: the entity's key when ``given`` holds its primary key, else
    None and the generated id is returned as "id". ``lookup_key``: its ``history_key()``."""
    row = new_row(model, {**given, "created_by": actor.name, "created_at": at})
    row["tenant_id"] = actor.tenant_id
    # The snapshot as the ORM takes it after the insert (a generated id in its place).
    before_id = snapshot_of(model, lambda column: row.get(column))

    def snapshot(new_id: int) -> dict[str, Any]:
        return {**before_id, "id": new_id}

    entity_id: str | Ref
    data: dict[str, Any] | Ref
    changes: dict[str, Any] | Ref
    if key is None:
        entity_id = Ref("id", str)
        data = Ref("id", snapshot)
        changes = Ref("id", lambda new_id: _diff(None, snapshot(new_id)))
    else:
        entity_id, data, changes = key, before_id, _diff(None, before_id)
    return [
        Step(_entity_insert(model, key is None), row, returns="id" if key is None else None),
        Step(
            _HISTORY_ROW,
            {
                "tenant_id": actor.tenant_id,
                "entity_type": model.ENTITY_TYPE,
                "entity_id": entity_id,
                "lookup_key": lookup_key,
                "version": row["version"],
                "valid_from": at,
                "data": data,
            },
        ),
        emit_step(actor, action, model.ENTITY_TYPE, entity_id, changes, at),
    ]


def _version_at(
    h: Any, selected: Any, entity_type: str, entity_id: Any, at: Any, tenant: Any
) -> Any:
    """The one rule of an as-of read, for both spellings below: the latest history row of
    the entity with ``valid_from <= at`` (the later row of two at one instant), one
    descent of ``ix_entity_history_lookup``."""
    return (
        select(selected)
        .where(
            h.entity_type == entity_type,
            h.entity_id == entity_id,
            h.valid_from <= at,
            h.tenant_id == tenant,
        )
        .order_by(h.valid_from.desc(), h.id.desc())
        .limit(1)
    )


async def as_of(
    session: AsyncSession, tenant_id: str, entity_type: str, entity_id: str, at: datetime
) -> EntityHistory | None:
    """The entity as it was at ``at``: one indexed query."""
    h = EntityHistory
    return await session.scalar(_version_at(h, h, entity_type, entity_id, at, tenant_id))


def as_of_data(entity_type: str, entity_id: Any) -> Any:
    """For a statement that reads more besides (``db.direct``): the ``data`` of one entity
    as it was at the bound ``at``, in the bound ``tenant_id``, as ``as_of`` reads it, as a
    scalar subquery."""
    h = aliased(EntityHistory)
    at = bindparam("at", type_=EntityHistory.valid_from.type)
    return _version_at(
        h, h.data, entity_type, entity_id, at, bindparam("tenant_id")
    ).scalar_subquery()


def as_of_by_key(entity_type: str) -> Any:
    """For ``db.direct``: the ``data`` (column "data") of every entity of ``entity_type``
    that carried the bound ``lookup_key`` at some time, each as it was at the bound ``at``
    (None for one that did not exist yet): ``as_of`` for each, in one statement."""
    keyed = (
        select(EntityHistory.entity_id)
        .where(
            EntityHistory.tenant_id == bindparam("tenant_id"),
            EntityHistory.entity_type == entity_type,
            EntityHistory.lookup_key == bindparam("lookup_key"),
        )
        .distinct()
        .subquery("keyed")
    )
    return select(as_of_data(entity_type, keyed.c.entity_id).label("data")).select_from(keyed)


async def history_of(
    session: AsyncSession, tenant_id: str, entity_type: str, entity_id: str
) -> list[EntityHistory]:
    rows = await session.scalars(
        select(EntityHistory)
        .where(
            EntityHistory.entity_type == entity_type,
            EntityHistory.entity_id == entity_id,
            EntityHistory.tenant_id == tenant_id,
        )
        .order_by(EntityHistory.valid_from, EntityHistory.id)
    )
    return list(rows)


async def search_audit(
    session: AsyncSession,
    tenant_id: str,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Newest first; ``before_id`` pages further back."""
    conditions = [AuditEvent.tenant_id == tenant_id]
    if entity_type:
        conditions.append(AuditEvent.entity_type == entity_type)
    if entity_id:
        conditions.append(AuditEvent.entity_id == entity_id)
    if actor:
        conditions.append(AuditEvent.actor == actor)
    if since:
        conditions.append(AuditEvent.occurred_at >= since)
    if until:
        conditions.append(AuditEvent.occurred_at < until)
    if before_id is not None:
        conditions.append(AuditEvent.id < before_id)
    rows = await session.scalars(
        select(AuditEvent).where(and_(*conditions)).order_by(AuditEvent.id.desc()).limit(limit)
    )
    return list(rows)


async def changes_after(
    session: AsyncSession, tenant_id: str, cursor: tuple[int, int], limit: int
) -> list[AuditEvent]:
    """The change feed: events after ``cursor`` in commit order, never skipping one.

    On PostgreSQL an event is served only once every transaction that could still commit
    before it has finished (its transaction id is below the snapshot's xmin). Ordering by
    (transaction id, event id) then means a resumed reader can never miss a late commit.
    """
    stmt = select(AuditEvent).where(
        AuditEvent.tenant_id == tenant_id,
        tuple_(AuditEvent.tx_order, AuditEvent.id) > tuple_(*cursor),
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.where(
            AuditEvent.tx_order
            < literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        )
    stmt = stmt.order_by(AuditEvent.tx_order, AuditEvent.id).limit(limit)
    return list(await session.scalars(stmt))


def event_view(event: AuditEvent) -> dict[str, Any]:
    from fleetkey.clock import iso_millis

    return {
        "id": event.id,
        "occurred_at": iso_millis(event.occurred_at),
        "actor": event.actor,
        "request_id": event.request_id,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "changes": event.changes,
    }
