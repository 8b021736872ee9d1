"""Native /api/v1 routes for instances, products and devices that connect to brokers."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.api.deps import read_session, readable_params, require, runtime, write_session
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor
from fleetkey.things import service as things

router = APIRouter(prefix="/api/v1", tags=["things"], dependencies=[Depends(readable_params)])
reader = Depends(require(scopes.THINGS_READ))
writer = Depends(require(scopes.THINGS_WRITE))
reading = Depends(read_session, scope="function")
writing = Depends(write_session, scope="function")


class InstanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, max_length=36)
    name: str | None = Field(default=None, max_length=64)


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: int = Field(ge=0, lt=2**63)
    device_name: str = Field(max_length=64)
    node_id: str = Field(max_length=64)
    description: str | None = Field(default=None, max_length=200)
    tags: list[str] | None = Field(default=None, max_length=20)
    credential: Literal["own", "product"] = Field(
        default="own",
        description="own: a generated password shown once; product: connects with the "
        "product's credential (one-model-one-secret)",
    )


@router.post("/instances", status_code=201)
async def create_instance(
    body: InstanceIn, actor: Actor = writer, session: AsyncSession = writing
) -> dict[str, Any]:
    row = await things.create_instance(session, actor, body.id, body.name)
    return {"id": row.id, "name": row.name}


@router.get("/instances")
async def list_instances(
    actor: Actor = reader, session: AsyncSession = reading
) -> list[dict[str, Any]]:
    return [
        {"id": r.id, "name": r.name} for r in await things.list_instances(session, actor.tenant_id)
    ]


@router.post("/instances/{instance_id}/devices", status_code=201)
async def create_device(
    instance_id: str,
    body: DeviceIn,
    actor: Actor = writer,
    session: AsyncSession = writing,
    rt: Runtime = Depends(runtime),
) -> dict[str, Any]:
    data = things.DeviceInput(
        body.device_name, body.node_id, None, None, body.description, body.tags
    )
    row, issued = await things.create_device(
        session,
        rt.vault,
        actor,
        instance_id,
        things.ProductRef(product_id=body.product_id),
        data,
        own_credential=body.credential == "own",
    )
    view = {"id": row.id, "client_id": row.client_id, "product_id": row.product_id}
    if issued is not None:
        view["authentication"] = {"user_name": issued.user_name, "password": issued.password}
    return view
