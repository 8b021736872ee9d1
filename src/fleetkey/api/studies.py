"""Native /api/v1 routes for the clinical-trial world: studies, kit types, subjects, kits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.api.deps import read_session, readable_params, require, write_session
from fleetkey.clock import iso_millis
from fleetkey.inventory import service as inventory
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor

router = APIRouter(
    prefix="/api/v1/studies", tags=["studies"], dependencies=[Depends(readable_params)]
)
reader = Depends(require(scopes.STUDIES_READ))
writer = Depends(require(scopes.STUDIES_WRITE))
reading = Depends(read_session, scope="function")
writing = Depends(write_session, scope="function")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StudyIn(Strict):
    id: str = Field(max_length=32, description="32 upper-case hexadecimal characters")
    name: str = Field(max_length=128)
    mhealth_settings: dict[str, Any] | None = Field(
        default=None, description="how the study reaches mHealth (absent: devices cannot register)"
    )


class SettingsIn(Strict):
    mhealth_settings: dict[str, Any] | None


class KitTypeIn(Strict):
    id: str = Field(max_length=64)
    name: str = Field(max_length=128)
    connection_type: str | None = Field(
        default=None, description="cloud_to_cloud, device_to_cloud or none"
    )


class SubjectIn(Strict):
    id: str = Field(max_length=64)
    subject_number: str | None = Field(default=None, max_length=100)
    m_subject_id: str | None = Field(default=None, max_length=64)


class InventoryIn(Strict):
    id: str = Field(max_length=64)
    kit_type_id: str = Field(max_length=64)


class DispensationIn(Strict):
    inventory_id: str = Field(max_length=64)


def _study(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "has_mhealth_settings": bool(row.mhealth_settings),
        "created_at": iso_millis(row.created_at),
    }


@router.post("", status_code=201)
async def create_study(
    body: StudyIn, actor: Actor = writer, session: AsyncSession = writing
) -> dict[str, Any]:
    row = await inventory.create_study(session, actor, body.id, body.name, body.mhealth_settings)
    return _study(row)


@router.get("")
async def list_studies(
    actor: Actor = reader, session: AsyncSession = reading
) -> list[dict[str, Any]]:
    return [_study(r) for r in await inventory.list_studies(session, actor.tenant_id)]


@router.get("/{study_id}")
async def get_study(
    study_id: str, actor: Actor = reader, session: AsyncSession = reading
) -> dict[str, Any]:
    return _study(await inventory.get_study(session, actor.tenant_id, study_id, None))


@router.put("/{study_id}/mhealth-settings")
async def put_settings(
    study_id: str, body: SettingsIn, actor: Actor = writer, session: AsyncSession = writing
) -> dict[str, Any]:
    return _study(
        await inventory.set_mhealth_settings(session, actor, study_id, body.mhealth_settings)
    )


@router.post("/{study_id}/kit-types", status_code=201)
async def create_kit_type(
    study_id: str, body: KitTypeIn, actor: Actor = writer, session: AsyncSession = writing
) -> dict[str, Any]:
    row = await inventory.create_kit_type(
        session, actor, study_id, body.id, body.name, body.connection_type
    )
    return {"id": row.id, "name": row.name, "connection_type": row.connection_type}


@router.post("/{study_id}/{mode}/subjects", status_code=201)
async def create_subject(
    study_id: str,
    mode: str,
    body: SubjectIn,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    row = await inventory.create_subject(
        session, actor, study_id, mode, body.id, body.subject_number, body.m_subject_id
    )
    return {"id": row.id, "subject_number": row.subject_number, "m_subject_id": row.m_subject_id}


@router.post("/{study_id}/{mode}/inventory", status_code=201)
async def create_inventory_item(
    study_id: str,
    mode: str,
    body: InventoryIn,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    row = await inventory.create_inventory_item(
        session, actor, study_id, mode, body.id, body.kit_type_id
    )
    return {"id": row.id, "kit_type_id": row.kit_type_id, "dispensed_to": row.dispensed_to}


@router.post("/{study_id}/{mode}/subjects/{subject_id}/dispensations", status_code=201)
async def dispense(
    study_id: str,
    mode: str,
    subject_id: str,
    body: DispensationIn,
    actor: Actor = writer,
    session: AsyncSession = writing,
) -> dict[str, Any]:
    row = await inventory.dispense(session, actor, study_id, mode, subject_id, body.inventory_id)
    return {
        "inventory_id": row.id,
        "subject_id": row.dispensed_to,
        "dispensed_at": iso_millis(row.dispensed_at),
    }
