"""``POST /api/v1/otp/verify``: is this one-time code right for this authenticator, now?"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.api.deps import readable_params, require, runtime, write_session
from fleetkey.authenticators import service as authenticators
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor

router = APIRouter(
    prefix="/api/v1/otp", tags=["device side"], dependencies=[Depends(readable_params)]
)
verifier = Depends(require(scopes.OTP_VERIFY))


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: int | str = Field(description="the device's id or uid")
    code: str = Field(max_length=16)


class VerifyOut(BaseModel):
    valid: bool


@router.post("/verify")
async def verify(
    body: VerifyIn,
    actor: Actor = verifier,
    session: AsyncSession = Depends(write_session, scope="function"),
    rt: Runtime = Depends(runtime),
) -> VerifyOut:
    policy = authenticators.VerifyPolicy(
        rt.settings.otp_max_failures, rt.settings.otp_unblock_after_seconds or None
    )
    ident = body.device_id if isinstance(body.device_id, int) else body.device_id[:64]
    valid = await authenticators.verify_code(session, rt.vault, actor, ident, body.code, policy)
    return VerifyOut(valid=valid)
