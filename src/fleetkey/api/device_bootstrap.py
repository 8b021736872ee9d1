"""``POST /api/deviceBootstrap``: the mHealth Connector call a device makes with its pair.

HTTP Basic ``accessId:OTP``; an optional JSON body ``{"csr": "<PEM>"}`` asks for a client
certificate from the tenant's device CA.
"""

from __future__ import annotations

import base64
import binascii
import json

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from fleetkey.errors import DomainError
from fleetkey.inventory.bootstrap import INVALID, Redemption, redeem
from fleetkey.runtime import Runtime

router = APIRouter(tags=["device side"])


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or len(value) > 512:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _answer(exc: DomainError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="deviceBootstrap"'} if exc.status == 401 else None
    return JSONResponse(
        {"status": exc.status, "message": exc.message}, status_code=exc.status, headers=headers
    )


@router.post("/api/deviceBootstrap")
async def device_bootstrap(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    credentials = _basic(request)
    if credentials is None:
        return _answer(INVALID)
    raw = await request.body()
    csr = None
    if raw.strip():
        try:
            data = json.loads(raw) if len(raw) <= 65_536 else None
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("csr", ""), str | None):
            return _answer(
                DomainError(
                    "validation.invalid", 'the body must be {"csr": "<PEM CSR>"} or empty', 400
                )
            )
        csr = data.get("csr") or None
    request_id = request.scope.get("state", {}).get("request_id", "")
    try:
        params = await redeem(rt, Redemption(credentials[0], credentials[1], csr), request_id)
    except DomainError as exc:
        if exc.problems:
            return _answer(DomainError(exc.code, "; ".join(p.message for p in exc.problems), 400))
        return _answer(exc)
    return JSONResponse(params)
