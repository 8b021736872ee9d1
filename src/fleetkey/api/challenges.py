"""Challenges to notification devices: send a one-time code, then check the answer."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.api.deps import read_session, readable_params, require, runtime, write_session
from fleetkey.channels import service as challenges
from fleetkey.channels.models import Challenge
from fleetkey.clock import iso_millis
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor

router = APIRouter(prefix="/api/v1", tags=["challenges"], dependencies=[Depends(readable_params)])
sender = Depends(require(scopes.OTP_VERIFY))
reading = Depends(read_session, scope="function")
writing = Depends(write_session, scope="function")


class ChallengeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: int | str | None = Field(
        default=None,
        description="a device of the client (id or uid); default: its default notification device",
    )


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str | None = Field(default=None, max_length=16)
    signature: str | None = Field(
        default=None,
        max_length=256,
        description="mobile apps: base64 Ed25519 signature of '<id>.<nonce>'",
    )


def view(row: Challenge) -> dict[str, Any]:
    return {
        "id": row.id,
        "client_code": row.client_code,
        "device_id": row.device_id,
        "channel": row.channel,
        "expires_at": iso_millis(row.expires_at),
        "delivery": {
            "status": row.delivery_status,
            "attempts": row.delivery_attempts,
            "last_error": row.last_error,
            "next_attempt_at": iso_millis(row.next_delivery_at),
        },
    }


@router.post("/clients/{client_code}/challenges", status_code=201)
async def create_challenge(
    client_code: str, body: ChallengeIn, actor: Actor = sender, rt: Runtime = Depends(runtime)
) -> dict[str, Any]:
    ident = body.device_id if not isinstance(body.device_id, str) else body.device_id[:64]
    async with rt.db.unit_of_work() as session:
        row = await challenges.create_challenge(
            session, rt.vault, rt.settings, actor, client_code[:64], ident
        )
    # Committed first: whatever delivery does, the challenge exists and can be verified.
    try:
        await asyncio.wait_for(challenges.deliver(rt.db, rt.vault, rt.settings, row.id), 15)
    except TimeoutError:
        pass  # the worker retries it
    async with rt.db.unit_of_work(write=False) as session:
        return view(await challenges.get_challenge(session, actor.tenant_id, row.id))


@router.get("/challenges/{challenge_id}")
async def get_challenge(
    challenge_id: str, actor: Actor = sender, session: AsyncSession = reading
) -> dict[str, Any]:
    return view(await challenges.get_challenge(session, actor.tenant_id, challenge_id))


@router.post("/challenges/{challenge_id}/verify")
async def verify_challenge(
    challenge_id: str,
    body: AnswerIn,
    actor: Actor = sender,
    session: AsyncSession = writing,
    rt: Runtime = Depends(runtime),
) -> dict[str, bool]:
    valid = await challenges.verify(
        session, rt.vault, actor, challenge_id, body.code, body.signature
    )
    return {"valid": valid}
