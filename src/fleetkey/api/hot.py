"""The hot paths: the few calls a fleet makes at connection rate, dispatched ahead of routing.

Brokers checking a device, OTP verification and MOSIP's validate arrive many thousand
times a second in a reconnect storm. FastAPI's middleware stack, routing, dependency
injection and request objects cost several times what those calls need, so the application
(``fleetkey.app.FleetkeyApp``) hands an exact (method, path) match to ``HotRoutes`` before
any of that, and everything else to FastAPI. Each hot call is one ``HotHandler``; the
FastAPI route for the same path delegates to the same handler (``respond``), so OpenAPI
still lists it and there is one implementation.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from fleetkey.api.bodies import capped
from fleetkey.api.errors import INTERNAL
from fleetkey.api.middleware import request_id_from
from fleetkey.runtime import Runtime

log = logging.getLogger("fleetkey.api")


@dataclass
class HotRequest:
    method: str
    path: str
    headers: dict[bytes, bytes]  # lower-case names; the first value of a repeated header
    query: bytes
    body: bytes
    request_id: str

    def header(self, name: bytes) -> str:
        return self.headers.get(name, b"").decode("latin-1")

    @classmethod
    async def from_request(cls, request: Request) -> HotRequest:
        return cls.from_scope(request.scope, await request.body())

    @classmethod
    def from_scope(cls, scope: Scope, body: bytes) -> HotRequest:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        return cls(
            scope["method"],
            scope["path"],
            headers,
            scope.get("query_string", b""),
            body,
            scope.get("state", {}).get("request_id", ""),
        )


# The same spelling as Starlette's JSONResponse. Made once: ``json.dumps`` with options
# builds an encoder per call, a cost at connection rate.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_JSON_ASCII = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


@dataclass
class HotResponse:
    """A JSON answer (every hot path answers JSON), with any headers of its own."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> HotResponse:
        body = _JSON.encode(payload)
        try:
            return cls(status, body.encode(), headers)
        except UnicodeEncodeError:
            # A lone surrogate a client sent and the answer echoes (MOSIP echoes the request's
            # id and version): valid JSON only as an escape.
            return cls(status, _JSON_ASCII.encode(payload).encode(), headers)

    def to_starlette(self) -> Response:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers}
        return Response(self.body, self.status, headers, media_type="application/json")


HotHandler = Callable[[Runtime, HotRequest], Awaitable[HotResponse]]


def _native_internal_error(_: HotRequest) -> HotResponse:
    return HotResponse.json(500, INTERNAL)


@dataclass(frozen=True)
class HotRoute:
    handler: HotHandler
    # The surface's own answer to an unexpected failure (its envelope, never a traceback);
    # the native API's unless the surface has its own.
    on_error: Callable[[HotRequest], HotResponse] = _native_internal_error


async def respond(rt: Runtime, route: HotRoute, request: HotRequest) -> HotResponse:
    try:
        return await route.handler(rt, request)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return route.on_error(request)


async def routed(rt: Runtime, route: HotRoute, request: Request) -> Response:
    """The FastAPI route of a hot path: the same handler, for a request that was routed."""
    return (await respond(rt, route, await HotRequest.from_request(request))).to_starlette()


def openapi_json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a hot path's route, which reads its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@dataclass(frozen=True)
class HotPattern:
    """A hot path with parameters in it: ``path`` must match the whole path (``prefix``, a
    cheap first test, keeps the expression off every other request)."""

    method: str
    prefix: str
    path: re.Pattern[str]
    route: HotRoute


class HotRoutes:
    """Exact (method, path) matches, then patterns, answered without routing (see
    ``FleetkeyApp``)."""

    def __init__(
        self,
        runtime: Runtime,
        routes: dict[tuple[str, str], HotRoute],
        patterns: tuple[HotPattern, ...] = (),
    ):
        self.rt = runtime
        self.routes = routes
        self.patterns = patterns

    def route_for(self, scope: Scope) -> HotRoute | None:
        if scope["type"] != "http":
            return None
        method, path = scope["method"], scope["path"]
        route = self.routes.get((method, path))
        if route is not None:
            return route
        for pattern in self.patterns:
            if (
                method == pattern.method
                and path.startswith(pattern.prefix)
                and pattern.path.fullmatch(path)
            ):
                return pattern.route
        return None

    async def serve(self, route: HotRoute, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        receive = capped(receive, {})
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        # What RequestIdMiddleware does for routed requests.
        rid = request_id_from(scope["headers"])
        scope.setdefault("state", {})["request_id"] = rid
        request = HotRequest.from_scope(scope, b"".join(chunks))
        response = await respond(self.rt, route, request)
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"x-request-id", rid.encode("latin-1")),
                    *response.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})
