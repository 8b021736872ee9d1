"""Audit log, change feed, public keys and health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from fleetkey.api import schemas
from fleetkey.api.deps import read_session, readable_params, require, runtime
from fleetkey.audit import service as audit
from fleetkey.errors import DomainError
from fleetkey.keys import service as keys
from fleetkey.runtime import Runtime
from fleetkey.tenants import repository as tenants
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor

router = APIRouter(dependencies=[Depends(readable_params)])
reading = Depends(read_session, scope="function")
auditor = Depends(require(scopes.AUDIT_READ))


@router.get("/api/v1/audit", tags=["audit"])
async def search_audit(
    actor: Actor = auditor,
    session: AsyncSession = reading,
    entity_type: str | None = Query(None, max_length=40),
    entity_id: str | None = Query(None, max_length=64),
    by: str | None = Query(None, max_length=160, description="actor name"),
    since: schemas.Instant | None = None,
    until: schemas.Instant | None = None,
    before_id: int | None = Query(None, ge=0, le=2**62),
    limit: int = Query(100, ge=1, le=1000),
) -> list[schemas.AuditOut]:
    rows = await audit.search_audit(
        session,
        actor.tenant_id,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=by,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    return [schemas.AuditOut(**audit.event_view(r)) for r in rows]


def _parse_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return (-1, 0)
    try:
        tx, _, ident = cursor.partition(".")
        parsed = (int(tx), int(ident))
    except ValueError as exc:
        raise DomainError(
            "validation.invalid", "cursor is not one this feed returned", 422
        ) from exc
    if not all(-1 <= v < 2**62 for v in parsed):
        raise DomainError("validation.invalid", "cursor is not one this feed returned", 422)
    return parsed


@router.get("/api/v1/changes", tags=["audit"])
async def change_feed(
    actor: Actor = auditor,
    session: AsyncSession = reading,
    after: str | None = Query(None, max_length=64, description="cursor from the last page"),
    limit: int = Query(100, ge=1, le=1000),
) -> schemas.ChangesOut:
    position = _parse_cursor(after)
    rows = await audit.changes_after(session, actor.tenant_id, position, limit)
    if rows:
        position = (rows[-1].tx_order, rows[-1].id)
    return schemas.ChangesOut(
        items=[schemas.AuditOut(**audit.event_view(r)) for r in rows],
        cursor=f"{position[0]}.{position[1]}",
    )


@router.get("/.well-known/jwks.json", tags=["keys"])
async def jwks(
    session: AsyncSession = reading,
    tenant: str | None = Query(None, max_length=128, description="only this tenant's keys"),
) -> dict[str, Any]:
    tenant_id = None
    if tenant:
        row = await tenants.tenant_by_name(session, tenant)
        if row is None:
            return {"keys": []}
        tenant_id = row.id
    return await keys.jwks(session, tenant_id)


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(rt: Runtime = Depends(runtime)) -> JSONResponse:
    try:
        async with rt.db.unit_of_work(write=False) as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "unavailable", "store": rt.db.dialect}, status_code=503)
    return JSONResponse({"status": "ready", "store": rt.db.dialect})
