"""Native /api/v1 routes for the device trust registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.api import schemas
from fleetkey.api.deps import (
    etag,
    expected_version,
    read_session,
    readable_params,
    require,
    runtime,
    write_session,
)
from fleetkey.devices import repository as device_repo
from fleetkey.devices import service as devices
from fleetkey.devices import validate as validation
from fleetkey.errors import DomainError
from fleetkey.providers import catalog
from fleetkey.providers import repository as provider_repo
from fleetkey.providers import service as providers
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor

router = APIRouter(prefix="/api/v1", dependencies=[Depends(readable_params)])

reader = Depends(require(scopes.REGISTRY_READ))
writer = Depends(require(scopes.REGISTRY_WRITE))
validator = Depends(require(scopes.REGISTRY_VALIDATE))
reading = Depends(read_session, scope="function")
writing = Depends(write_session, scope="function")
Limit = Query(100, ge=1, le=1000)


def _page(items: list[Any], limit: int, key: str) -> dict[str, Any]:
    views = [item.snapshot() if hasattr(item, "snapshot") else item for item in items]
    cursor = views[-1][key] if len(views) == limit else None
    return {"items": views, "next_cursor": cursor}


def _one(response: Response, row: Any) -> dict[str, Any]:
    response.headers.update(etag(row.version))
    data: dict[str, Any] = row.snapshot()
    return data


# ------------------------------------------------------------------ device providers


@router.get("/device-providers", tags=["providers"])
async def list_device_providers(
    actor: Actor = reader,
    session: AsyncSession = reading,
    limit: int = Limit,
    cursor: str | None = None,
) -> dict[str, Any]:
    rows = await provider_repo.list_providers(session, actor.tenant_id, cursor, limit)
    return _page(rows, limit, "id")


@router.post("/device-providers", status_code=201, tags=["providers"])
async def create_device_provider(
    body: schemas.ProviderIn,
    response: Response,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    data = providers.ProviderInput(**body.model_dump(exclude={"version"}))
    return _one(response, await providers.create_provider(session, actor, data))


@router.get("/device-providers/{provider_id}", tags=["providers"])
async def get_device_provider(
    provider_id: str, response: Response, actor: Actor = reader, session: AsyncSession = reading
) -> dict[str, Any]:
    return _one(response, await providers.get_provider(session, actor, provider_id))


@router.put("/device-providers/{provider_id}", tags=["providers"])
async def update_device_provider(
    provider_id: str,
    body: schemas.ProviderIn,
    request: Request,
    response: Response,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    data = providers.ProviderInput(**body.model_dump(exclude={"version"}))
    row = await providers.update_provider(
        session, actor, provider_id, data, expected_version(request, body.version)
    )
    return _one(response, row)


# ------------------------------------------------------------------ trust providers


@router.get("/trust-providers", tags=["providers"])
async def list_trust_providers(
    actor: Actor = reader,
    session: AsyncSession = reading,
    limit: int = Limit,
    cursor: str | None = None,
) -> dict[str, Any]:
    rows = await provider_repo.list_trust_providers(session, actor.tenant_id, cursor, limit)
    return _page(rows, limit, "id")


@router.post("/trust-providers", status_code=201, tags=["providers"])
async def create_trust_provider(
    body: schemas.TrustProviderIn,
    response: Response,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    data = providers.TrustProviderInput(**body.model_dump(exclude={"version"}))
    return _one(response, await providers.create_trust_provider(session, actor, data))


@router.get("/trust-providers/{provider_id}", tags=["providers"])
async def get_trust_provider(
    provider_id: str, response: Response, actor: Actor = reader, session: AsyncSession = reading
) -> dict[str, Any]:
    return _one(response, await providers.get_trust_provider(session, actor, provider_id))


@router.put("/trust-providers/{provider_id}", tags=["providers"])
async def update_trust_provider(
    provider_id: str,
    body: schemas.TrustProviderIn,
    request: Request,
    response: Response,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    data = providers.TrustProviderInput(**body.model_dump(exclude={"version"}))
    row = await providers.update_trust_provider(
        session, actor, provider_id, data, expected_version(request, body.version)
    )
    return _one(response, row)


# ------------------------------------------------------------------ device software


@router.get("/device-software", tags=["providers"])
async def list_device_software(
    actor: Actor = reader,
    session: AsyncSession = reading,
    limit: int = Limit,
    cursor: str | None = None,
) -> dict[str, Any]:
    rows = await provider_repo.list_software(session, actor.tenant_id, cursor, limit)
    return _page(rows, limit, "id")


@router.post("/device-software", status_code=201, tags=["providers"])
async def create_device_software(
    body: schemas.SoftwareIn,
    response: Response,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    data = providers.SoftwareInput(**body.model_dump(exclude={"version"}))
    return _one(response, await providers.create_software(session, actor, data))


@router.get("/device-software/{software_id}", tags=["providers"])
async def get_device_software(
    software_id: str, response: Response, actor: Actor = reader, session: AsyncSession = reading
) -> dict[str, Any]:
    return _one(response, await providers.get_software(session, actor, software_id))


@router.put("/device-software/{software_id}", tags=["providers"])
async def update_device_software(
    software_id: str,
    body: schemas.SoftwareIn,
    request: Request,
    response: Response,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    data = providers.SoftwareInput(**body.model_dump(exclude={"version"}))
    row = await providers.update_software(
        session, actor, software_id, data, expected_version(request, body.version)
    )
    return _one(response, row)


# ------------------------------------------------------------------ device type catalog


@router.get("/device-types", tags=["catalog"])
async def list_device_types(
    actor: Actor = reader, session: AsyncSession = reading
) -> list[schemas.DeviceTypeOut]:
    return [
        schemas.DeviceTypeOut(
            code=t.code, name=t.name, alias_of=t.alias_of, is_active=t.is_active, subtypes=subs
        )
        for t, subs in await catalog.list_types(session, actor.tenant_id)
    ]


@router.put("/device-types/{code}", tags=["catalog"])
async def put_device_type(
    code: str, body: schemas.DeviceTypeIn, actor: Actor = writer, session: AsyncSession = writing
) -> schemas.DeviceTypeOut:
    if not code.strip() or len(code) > 36:
        raise DomainError("validation.invalid", "a type code is 1 to 36 characters", 422)
    row = await catalog.put_type(
        session, actor.tenant_id, code, body.name, body.subtypes, body.alias_of, body.is_active
    )
    subs = [] if body.alias_of else sorted(set(body.subtypes))
    return schemas.DeviceTypeOut(
        code=row.code,
        name=row.name,
        alias_of=row.alias_of,
        is_active=row.is_active,
        subtypes=subs,
    )


# ------------------------------------------------------------------ white-listed serials


@router.get("/whitelisted-devices", tags=["devices"])
async def list_whitelisted(
    actor: Actor = reader,
    session: AsyncSession = reading,
    limit: int = Limit,
    cursor: str | None = None,
) -> schemas.Page[schemas.WhitelistOut]:
    rows = await device_repo.list_whitelist(session, actor.tenant_id, cursor, limit)
    items = [schemas.WhitelistOut.model_validate(r, from_attributes=True) for r in rows]
    return schemas.Page(
        items=items, next_cursor=rows[-1].serial_number if len(rows) == limit else None
    )


@router.post("/whitelisted-devices", status_code=201, tags=["devices"])
async def whitelist_device(
    body: schemas.WhitelistIn, actor: Actor = writer, session: AsyncSession = writing
) -> schemas.WhitelistOut:
    row = await devices.whitelist_serial(session, actor, body.serial_number, body.description)
    return schemas.WhitelistOut.model_validate(row, from_attributes=True)


@router.delete("/whitelisted-devices/{entry_id}", status_code=204, tags=["devices"])
async def unwhitelist_device(
    entry_id: str, actor: Actor = writer, session: AsyncSession = writing
) -> Response:
    await devices.unwhitelist(session, actor, entry_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ registered devices


@router.get("/devices", tags=["devices"])
async def list_devices(
    actor: Actor = reader,
    session: AsyncSession = reading,
    status: str | None = Query(None, max_length=32),
    purpose: str | None = Query(None, max_length=16),
    provider_id: str | None = Query(None, max_length=36),
    serial_number: str | None = Query(None, max_length=64),
    type_code: str | None = Query(None, max_length=36),
    limit: int = Limit,
    cursor: str | None = Query(None, max_length=36),
) -> dict[str, Any]:
    rows = await devices.list_devices(
        session,
        actor,
        status=status,
        purpose=purpose,
        provider_id=provider_id,
        serial_number=serial_number,
        type_code=type_code,
        after=cursor,
        limit=limit,
    )
    return _page(rows, limit, "code")


@router.get("/devices/{code}", tags=["devices"])
async def get_device(
    code: str,
    response: Response,
    as_of: schemas.Instant | None = Query(
        None, description="read the device as it was at this time"
    ),
    actor: Actor = reader,
    session: AsyncSession = reading,
) -> dict[str, Any]:
    if as_of is not None:
        return await devices.device_as_of(session, actor, code, as_of)
    return _one(response, await devices.get_device(session, actor, code))


@router.get("/devices/{code}/history", tags=["devices"])
async def device_history(
    code: str, actor: Actor = reader, session: AsyncSession = reading
) -> list[schemas.HistoryEntry]:
    return [schemas.HistoryEntry(**h) for h in await devices.device_history(session, actor, code)]


@router.put("/devices/{code}/status", tags=["devices"])
async def set_device_status(
    code: str,
    body: schemas.StatusIn,
    request: Request,
    response: Response,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    row = await devices.set_status(
        session, actor, code, body.status, expected_version(request, body.version)
    )
    return _one(response, row)


@router.post("/devices/validate", tags=["devices"])
async def validate_device(
    body: schemas.ValidateIn, actor: Actor = validator, rt: Runtime = Depends(runtime)
) -> schemas.ValidateOut:
    d = body.digital_id
    query = validation.ValidationQuery(
        device_code=body.device_code,
        sw_version=body.sw_version,
        purpose=body.purpose,
        serial_no=d.serial_no,
        provider_name=d.provider_name,
        provider_id=d.provider_id,
        make=d.make,
        model=d.model,
        type=d.type,
        subtype=d.subtype,
        at=body.as_of,
    )
    basis = "history" if body.as_of else "live"
    try:
        await validation.validate(rt.db, actor.tenant_id, query)
    except DomainError as exc:
        if not exc.code.startswith("validate."):
            raise
        details = [{"field": p.field, "message": p.message} for p in exc.problems] or None
        return schemas.ValidateOut(
            valid=False, basis=basis, code=exc.code, message=exc.message, details=details
        )
    return schemas.ValidateOut(valid=True, basis=basis)
