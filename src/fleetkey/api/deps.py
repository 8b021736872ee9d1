"""Request-scoped pieces of the native API: the runtime, the caller, the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.api.auth import actor_for, bearer_token
from fleetkey.errors import DomainError
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor
from fleetkey.tenants.service import Principal
from fleetkey.validation import unstorable


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def authorize(principal: Principal | None, scope: str) -> Principal:
    """The native API's 401 (no or bad token) and 403 (token without ``scope``)."""
    if principal is None:
        raise DomainError("auth.unauthenticated", "a valid bearer token is required", 401)
    if not scopes.allows(principal.scopes, scope):
        raise DomainError("auth.forbidden", f"the token lacks the {scope} scope", 403)
    return principal


def require(scope: str) -> Callable[..., Coroutine[Any, Any, Actor]]:
    async def dependency(request: Request, rt: Runtime = Depends(runtime)) -> Actor:
        principal = authorize(await rt.principal(bearer_token(request)), scope)
        return actor_for(principal, request)

    return dependency


async def write_session(rt: Runtime = Depends(runtime)) -> AsyncIterator[AsyncSession]:
    async with rt.db.unit_of_work(write=True) as session:
        yield session


async def read_session(rt: Runtime = Depends(runtime)) -> AsyncIterator[AsyncSession]:
    async with rt.db.unit_of_work(write=False) as session:
        yield session


def expected_version(request: Request, body_version: int | None = None) -> int | None:
    """``If-Match: "3"`` (or the body's ``version``) names the version the caller saw."""
    header = request.headers.get("if-match")
    if header:
        value = header.strip().removeprefix("W/").strip('"')
        # ASCII digits only ("²".isdigit() holds, int("²") fails) and no more than int64 holds.
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            raise DomainError("validation.invalid", 'If-Match must be a version ETag like "3"', 422)
        return int(value)
    return body_version


def readable_params(request: Request) -> None:
    """Path and query values are compared in SQL: refuse text no store can hold (NUL)."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if unstorable(value):
            raise DomainError(
                "validation.invalid",
                f"{name} must not hold a NUL character or an unpaired surrogate",
                422,
                {"field": name},
            )


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}
