"""Native API errors: ``{"error": {"code", "message", "details"}}`` with a real HTTP status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from fleetkey.errors import DomainError

log = logging.getLogger("fleetkey.api")


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status,
        headers=headers,
    )


def domain_error_response(exc: DomainError) -> JSONResponse:
    details: Any = [{"field": p.field, "message": p.message} for p in exc.problems] or (
        exc.params or None
    )
    return error_response(exc.status, exc.code, exc.message, details)


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": err.get("msg", "invalid"),
            }
            for err in exc.errors()
        ]
        return error_response(422, "validation.invalid", "the request is not valid", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(
            exc.status_code,
            f"http.{exc.status_code}",
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The route's template, not the concrete path: some paths carry a broker token.
        route = getattr(request.scope.get("route"), "path", "?")
        log.exception("unexpected error on %s %s", request.method, route)
        return error_response(500, "internal", "internal server error")
