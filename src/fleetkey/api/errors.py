"""Native API errors: ``{"error": {"code", "message", "details"}}`` with a real HTTP status."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from fleetkey.api.bodies import BODY_CUT, MAX_BODY_READ
from fleetkey.errors import DomainError

log = logging.getLogger("fleetkey.api")


def error_payload(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


INTERNAL = error_payload("internal", "internal server error")


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_payload(code, message, details), status_code=status, headers=headers)


def domain_error_payload(exc: DomainError) -> dict[str, Any]:
    details: Any = [{"field": p.field, "message": p.message} for p in exc.problems] or (
        exc.params or None
    )
    return error_payload(exc.code, exc.message, details)


def domain_error_response(exc: DomainError) -> JSONResponse:
    return JSONResponse(domain_error_payload(exc), status_code=exc.status)


def invalid_request_payload(errors: Sequence[Any]) -> dict[str, Any]:
    """Pydantic's errors as the native 422 (``body`` is left out of each location)."""
    details = [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
            "message": err.get("msg", "invalid"),
        }
        for err in errors
    ]
    return error_payload("validation.invalid", "the request is not valid", details)


def _body_cut(request: Request) -> bool:
    """The body went past ``MAX_BODY_READ`` (api/bodies.py ``capped`` read only its first
    bytes): whatever refused the request, the answer is "too large"."""
    return bool(request.scope.get("state", {}).get(BODY_CUT))


def _too_large() -> JSONResponse:
    return error_response(
        413, "request.too_large", f"the request body is larger than {MAX_BODY_READ} bytes"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        if _body_cut(request):
            return _too_large()
        return domain_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _body_cut(request):
            return _too_large()
        return JSONResponse(invalid_request_payload(exc.errors()), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if _body_cut(request):
            return _too_large()
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
        return JSONResponse(INTERNAL, status_code=500)
