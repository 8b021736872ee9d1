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
from starlette.responses import PlainTextResponse, Response

from fleetkey.api.auth import actor_with_id, bearer_value, request_id_of
from fleetkey.api.errors import error_payload
from fleetkey.api.hot import HotRequest, HotResponse, HotRoute, openapi_json_body, routed
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor
from fleetkey.things.auth import Attempt
from fleetkey.things.models import DISABLED, Device, Product

router = APIRouter(tags=["device side"])
ALLOW, DENY = "allow", "deny"
# The route reads its body itself (a hot path); this is what OpenAPI shows of it.
AUTH_DEVICE_BODY = openapi_json_body(
    {
        "type": "object",
        "properties": {
            "username": {"type": "string"},
            "password": {"type": "string"},
            "client_id": {"type": "string"},
        },
        "required": ["username", "password"],
    }
)


def _runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


async def _broker(
    rt: Runtime, token: str | None, request_id: str, token_key: bytes | None = None
) -> Actor | None:
    if not token:
        return None
    principal = await rt.tokens.verify(rt.db, token, token_key)
    if principal is None or not scopes.allows(principal.scopes, scopes.DEVICE_AUTH):
        return None
    return actor_with_id(principal, request_id)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


_NO_BROKER = error_payload("auth.unauthenticated", "a broker token is required")


# A reconnect storm asks the same question again and again: the same broker token and the
# same body. Exact requests recently allowed are remembered by a keyed digest of their
# Authorization header and body (never the bytes themselves), in an UnchangedCache: any commit
# anywhere (a reset, a disable, a revoked token) forgets all of them. An entry holds the key
# of the broker token that was allowed, and counts only while this process trusts that token
# without asking the store (``TokenVerifier.trusted``): when the token's cached check
# expires, the next request re-checks it and every entry of that token counts again (before,
# each entry died with the check it was made under, and a storm went through the whole
# check again every ``token_cache_seconds``). A repeated request is answered without parsing
# or checking anything. Denials are never remembered: each one counts.
_ALLOWED_REQUESTS = "device_auth.allowed_requests"


async def answer_device_auth(rt: Runtime, request: HotRequest) -> HotResponse:
    """``POST /api/v1/auth/device``: a hot path (api/hot.py)."""
    authorization = request.headers.get(b"authorization", b"")
    remembered = rt.db.direct.cache(_ALLOWED_REQUESTS)
    # No header value holds a newline, so (header, body) maps to one message and back.
    key = rt.vault.memo_key(authorization + b"\n" + request.body)
    token_key, version = await remembered.lookup(key)
    if token_key is not None and rt.tokens.trusted(token_key):
        return _ALLOWED
    token = bearer_value(authorization.decode("latin-1")) or ""
    token_key = rt.tokens.key(token)  # checked with it, and remembered by it
    broker = await _broker(rt, token, request.request_id, token_key)
    if broker is None:
        return HotResponse.json(401, _NO_BROKER)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    attempt = Attempt(
        _text(data, "username"),
        _text(data, "password"),
        _text(data, "client_id") or _text(data, "clientid") or None,
    )
    decision = await rt.device_auth.check(broker, attempt)
    if not decision.allowed:
        return _DENIED
    remembered.keep(key, token_key, version)
    return _ALLOWED


_ALLOWED = HotResponse(200, b'{"result":"allow"}')
_DENIED = HotResponse(200, b'{"result":"deny"}')
PATH = "/api/v1/auth/device"
HOT_ROUTES = {("POST", PATH): HotRoute(answer_device_auth)}


@router.post(PATH, openapi_extra=AUTH_DEVICE_BODY)
async def authenticate_device(request: Request) -> Response:
    """EMQX's HTTP authentication: ``{"result": "allow"}`` or ``{"result": "deny"}``."""
    return await routed(_runtime(request), HOT_ROUTES[("POST", PATH)], request)


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
    broker = await _broker(_runtime(request), token, request_id_of(request))
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
    broker = await _broker(_runtime(request), token, request_id_of(request))
    if broker is None or check not in ("vhost", "resource", "topic"):
        return PlainTextResponse(DENY)
    params = await _rabbit_params(request)
    known = await _known_subject(_runtime(request), broker.tenant_id, params.get("username", ""))
    return PlainTextResponse(ALLOW if known else DENY)
