"""Reading the caller's credential off a request; shared by every surface."""

from __future__ import annotations

from starlette.requests import Request

from fleetkey.api.middleware import request_id_from
from fleetkey.tenants.context import Actor
from fleetkey.tenants.service import Principal


def bearer_token(request: Request) -> str | None:
    return bearer_value(request.headers.get("authorization", ""))


def bearer_value(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def request_id_of(request: Request) -> str:
    """The id RequestIdMiddleware gave the request (or one made now, by the same rule)."""
    return getattr(request.state, "request_id", "") or request_id_from(request.scope["headers"])


def actor_for(principal: Principal, request: Request) -> Actor:
    return actor_with_id(principal, request_id_of(request))


def actor_with_id(principal: Principal, request_id: str) -> Actor:
    return Actor(
        tenant_id=principal.tenant_id,
        name=principal.name,
        scopes=principal.scopes,
        request_id=request_id,
        token_id=principal.token_id,
    )
