"""Brokers ask here whether a device may connect.

- ``POST /api/v1/auth/device`` ``{username, password, client_id}`` -> ``{"result": "allow"}``
  or ``{"result": "deny"}`` (EMQX's HTTP authentication shape), for the tenant of the
  broker's token (scope ``device:authenticate``).
- RabbitMQ's HTTP auth backend (``rabbitmq_auth_backend_http``): ``user``, ``vhost``,
  ``resource`` and ``topic`` paths answering ``allow``/``deny`` as plain text. RabbitMQ
  cannot send headers, so its broker token travels in the configured URL:
  ``/api/v1/auth/rabbitmq/<token>/user``.

A denial never says which part was wrong; the reason is in the audit log.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import JSONResponse, PlainTextResponse, Response

from fleetkey.api.auth import actor_for, bearer_token
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor
from fleetkey.things.auth import Attempt
from fleetkey.things.models import DISABLED, Device, Product

router = APIRouter(tags=["device side"])
ALLOW, DENY = "allow", "deny"


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _broker(request: Request, token: str | None) -> Actor | None:
    principal = await _runtime(request).principal(token)
    if principal is None or not scopes.allows(principal.scopes, scopes.DEVICE_AUTH):
        return None
    return actor_for(principal, request)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


@router.post("/api/v1/auth/device")
async def authenticate_device(request: Request) -> JSONResponse:
    broker = await _broker(request, bearer_token(request))
    if broker is None:
        return JSONResponse(
            {
                "error": {
                    "code": "auth.unauthenticated",
                    "message": "a broker token is required",
                    "details": None,
                }
            },
            status_code=401,
        )
    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    attempt = Attempt(
        _text(data, "username"),
        _text(data, "password"),
        _text(data, "client_id") or _text(data, "clientid") or None,
    )
    decision = await _runtime(request).device_auth.check(broker, attempt)
    return JSONResponse({"result": ALLOW if decision.allowed else DENY})


async def _rabbit_params(request: Request) -> dict[str, str]:
    """RabbitMQ sends GET query parameters, or a form body with ``http_method = post``."""
    params = dict(request.query_params)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
        # Parsed here: request.form() needs python-multipart, which is not a dependency.
        body = await request.body()
        try:
            if len(body) <= 65536:
                params.update(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=100))
        except ValueError:  # not UTF-8, or too many fields: the checks see no parameters
            pass
    return params


async def _known_subject(rt: Runtime, tenant_id: str, username: str) -> bool:
    """An enabled device's user name, or a product's (its devices connect with it)."""
    if not username or len(username) > 256:
        return False
    async with rt.db.unit_of_work(write=False) as session:
        device = await session.scalar(
            select(Device.status).where(Device.tenant_id == tenant_id, Device.user_name == username)
        )
        if device is not None:
            return bool(device != DISABLED)
        product = await session.scalar(
            select(Product.id).where(Product.tenant_id == tenant_id, Product.user_name == username)
        )
        return product is not None


@router.api_route(
    "/api/v1/auth/rabbitmq/{token}/user", methods=["GET", "POST"], include_in_schema=False
)
async def rabbit_user(request: Request, token: str) -> Response:
    broker = await _broker(request, token)
    if broker is None:
        return PlainTextResponse(DENY)
    params = await _rabbit_params(request)
    attempt = Attempt(
        params.get("username", ""), params.get("password", ""), params.get("client_id") or None
    )
    decision = await _runtime(request).device_auth.check(broker, attempt)
    return PlainTextResponse(ALLOW if decision.allowed else DENY)


@router.api_route(
    "/api/v1/auth/rabbitmq/{token}/{check}", methods=["GET", "POST"], include_in_schema=False
)
async def rabbit_permission(request: Request, token: str, check: str) -> Response:
    """vhost, resource and topic checks: an authenticated, enabled subject may use them."""
    broker = await _broker(request, token)
    if broker is None or check not in ("vhost", "resource", "topic"):
        return PlainTextResponse(DENY)
    params = await _rabbit_params(request)
    known = await _known_subject(_runtime(request), broker.tenant_id, params.get("username", ""))
    return PlainTextResponse(ALLOW if known else DENY)
