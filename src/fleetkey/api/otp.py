"""``POST /api/v1/otp/verify``: is this one-time code right for this authenticator, now?

A hot path (api/hot.py): ``answer_verify`` serves it ahead of routing, and the FastAPI route
below delegates to it so that OpenAPI describes it.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from fleetkey.api.auth import actor_with_id, bearer_value
from fleetkey.api.deps import authorize, runtime
from fleetkey.api.errors import domain_error_payload, invalid_request_payload
from fleetkey.api.hot import HotRequest, HotResponse, HotRoute, openapi_json_body, routed
from fleetkey.authenticators import service as authenticators
from fleetkey.errors import DomainError
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes

PATH = "/api/v1/otp/verify"
router = APIRouter(prefix="/api/v1/otp", tags=["device side"])


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: int | str = Field(description="the device's id or uid")
    code: str = Field(max_length=16)


class VerifyOut(BaseModel):
    valid: bool


_VALID, _INVALID = b'{"valid":true}', b'{"valid":false}'


@functools.cache
def _policy(max_failures: int, unblock_after_seconds: int) -> authenticators.VerifyPolicy:
    """The settings' policy, made once (not per verification)."""
    return authenticators.VerifyPolicy(max_failures, unblock_after_seconds or None)


async def answer_verify(rt: Runtime, request: HotRequest) -> HotResponse:
    try:
        principal = authorize(
            await rt.principal(bearer_value(request.header(b"authorization"))), scopes.OTP_VERIFY
        )
        try:
            body = VerifyIn.model_validate_json(request.body or b"{}")
        except ValidationError as exc:
            return HotResponse.json(422, invalid_request_payload(exc.errors()))
        policy = _policy(rt.settings.otp_max_failures, rt.settings.otp_unblock_after_seconds)
        ident = body.device_id if isinstance(body.device_id, int) else body.device_id[:64]
        actor = actor_with_id(principal, request.request_id)
        valid = await authenticators.verify_code(rt.db, rt.vault, actor, ident, body.code, policy)
    except DomainError as exc:
        return HotResponse.json(exc.status, domain_error_payload(exc))
    return HotResponse(200, _VALID if valid else _INVALID)


HOT_ROUTES = {("POST", PATH): HotRoute(answer_verify)}


@router.post(
    "/verify",
    response_model=VerifyOut,
    openapi_extra=openapi_json_body(VerifyIn.model_json_schema()),
)
async def verify(request: Request) -> Response:
    return await routed(runtime(request), HOT_ROUTES[("POST", PATH)], request)
