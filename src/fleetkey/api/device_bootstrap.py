"""``POST /api/deviceBootstrap``: the mHealth Connector call a device makes with its pair.

HTTP Basic ``accessId:OTP``; an optional JSON body ``{"csr": "<PEM>"}`` asks for a client
certificate from the tenant's device CA. A hot path (api/hot.py): a kit fleet switched on at
once bootstraps at device rate.
"""

from __future__ import annotations

import base64
import binascii
import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from fleetkey.api.deps import runtime
from fleetkey.api.hot import HotRequest, HotResponse, HotRoute, routed
from fleetkey.errors import DomainError
from fleetkey.inventory.bootstrap import INVALID, Redemption, redeem
from fleetkey.runtime import Runtime
from fleetkey.validation import holds_unstorable_text

router = APIRouter(tags=["device side"])
PATH = "/api/deviceBootstrap"
_CHALLENGE = ((b"www-authenticate", b'Basic realm="deviceBootstrap"'),)


def _basic(request: HotRequest) -> tuple[str, str] | None:
    scheme, _, value = request.header(b"authorization").partition(" ")
    if scheme.lower() != "basic" or len(value) > 512:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _answer(exc: DomainError) -> HotResponse:
    headers = _CHALLENGE if exc.status == 401 else ()
    return HotResponse.json(exc.status, {"status": exc.status, "message": exc.message}, headers)


def _internal_error(_: HotRequest) -> HotResponse:
    return HotResponse.json(500, {"status": 500, "message": "Internal server error"})


async def answer_bootstrap(rt: Runtime, request: HotRequest) -> HotResponse:
    credentials = _basic(request)
    if credentials is None:
        return _answer(INVALID)
    raw = request.body
    csr = None
    if raw.strip():
        try:
            data = json.loads(raw) if len(raw) <= 65_536 else None
        except (ValueError, RecursionError):
            data = None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("csr", ""), str | None)
            or holds_unstorable_text(data)
        ):
            return _answer(
                DomainError(
                    "validation.invalid", 'the body must be {"csr": "<PEM CSR>"} or empty', 400
                )
            )
        csr = data.get("csr") or None
    try:
        params = await redeem(
            rt, Redemption(credentials[0], credentials[1], csr), request.request_id
        )
    except DomainError as exc:
        if exc.problems:
            return _answer(DomainError(exc.code, "; ".join(p.message for p in exc.problems), 400))
        return _answer(exc)
    return HotResponse.json(200, params)


HOT_ROUTES = {("POST", PATH): HotRoute(answer_bootstrap, _internal_error)}


@router.post(PATH)
async def device_bootstrap(request: Request) -> Response:
    return await routed(runtime(request), HOT_ROUTES[("POST", PATH)], request)
