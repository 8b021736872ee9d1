"""ABS oAuthDevice surface: every call is POST, carries ``X-App-Sig``, and answers HTTP 200
with ``{status, error_description, error, data_type, total_records, data}``; an error is
``status: "error"``, ``total_records: -2`` and a bracketed description."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse

from fleetkey.api.auth import actor_for, bearer_token
from fleetkey.authenticators import service as authenticators
from fleetkey.authenticators.models import DEVICE_STATUSES, DEVICE_TYPES, AuthDevice
from fleetkey.clock import iso_millis
from fleetkey.compat.abs import signature
from fleetkey.errors import DomainError, FieldProblem, ValidationFailed
from fleetkey.runtime import Runtime
from fleetkey.tenants import repository as tenant_repo
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor
from fleetkey.tenants.service import Principal

log = logging.getLogger("fleetkey.abs")
DATA_TYPE = "oAuthDevice"
MAX_BODY = 200_000
TOO_LARGE = FieldProblem("body", "larger than 200 kB")
MAX_PAGE = 1000

DESCRIPTIONS = {
    "auth_device.not_found": "RECORD-NOT-FOUND",
    "version.conflict": "ERROR-VERSION-MISMATCH",
    "auth_device.login_taken": "ERROR-DEVICE-NUMBER-IN-USE",
    "auth_device.deactivated": "ERROR-DEVICE-DEACTIVATED",
    "validation.invalid": "ERROR-VALIDATION",
}


def envelope(data: Any, total: int, error: str | None = None) -> JSONResponse:
    return JSONResponse(
        {
            "status": "success" if error is None else "error",
            "error_description": "" if error is None else f"[{error}]",
            "error": {},
            "data_type": DATA_TYPE if error is None else "",
            "total_records": total if error is None else -2,
            "data": data if error is None else {},
        }
    )


def _describe(exc: DomainError) -> str:
    head = DESCRIPTIONS.get(exc.code, "ERROR")
    if exc.code == "auth_device.not_found":
        return head
    detail = "; ".join(f"{p.field}: {p.message}" for p in exc.problems) or exc.message
    return f"{head} : {detail}"


def _enum(value: Any, names: tuple[str, ...], field: str) -> int | None:
    """The code (``5``, ``"5"``) or the name (``"totp"``)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationFailed([FieldProblem(field, "must be a code or a name")])
    if isinstance(value, int) and 0 <= value < len(names):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit() and int(text) < len(names):
            return int(text)
        if text in names:
            return names.index(text)
    raise ValidationFailed(
        [
            FieldProblem(
                field, f"must be one of {', '.join(f'{i}={n}' for i, n in enumerate(names))}"
            )
        ]
    )


def _flag(value: Any, field: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    raise ValidationFailed([FieldProblem(field, "must be 0/1 or false/true")])


def _text(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValidationFailed([FieldProblem(field, "must be a string")])
    return value


def _int(data: dict[str, Any], field: str) -> int | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise ValidationFailed([FieldProblem(field, "must be a non-negative integer")])


def device_input(data: dict[str, Any]) -> authenticators.DeviceInput:
    return authenticators.DeviceInput(
        client_code=_text(data, "client_code"),
        device_type=_enum(data.get("device_type"), DEVICE_TYPES, "device_type"),
        device_status=_enum(data.get("device_status"), DEVICE_STATUSES, "device_status"),
        device_number=_text(data, "device_number"),
        description=_text(data, "description"),
        operation_system=_text(data, "operation_system"),
        action=_text(data, "action"),
        form_title=_text(data, "form_title"),
        default_for_notifications=_flag(
            data.get("default_for_notifications"), "default_for_notifications"
        ),
        use_device_as_login=_flag(data.get("use_device_as_login"), "use_device_as_login"),
        private_key=_text(data, "private_key"),
        otp_kind=_text(data, "otp_type"),
        otp_algorithm=(_text(data, "otp_algorithm") or "").upper() or None,
        otp_digits=_int(data, "otp_digits"),
    )


def view(row: AuthDevice, enrolment: authenticators.Enrolment | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "uid": row.uid,
        "client_code": row.client_code,
        "device_type": DEVICE_TYPES[row.device_type],
        "device_status": DEVICE_STATUSES[row.device_status],
        "device_number": row.device_number,
        "device_number_masked": authenticators.masked(row.device_type, row.device_number),
        "description": row.description,
        "operation_system": row.operation_system,
        "action": row.action,
        "form_title": row.form_title,
        "default_for_notifications": 1 if row.default_for_notifications else 0,
        "use_device_as_login": 1 if row.use_device_as_login else 0,
        "create_date": iso_millis(row.created_at),
        "create_user": row.created_by,
        "modify_date": iso_millis(row.updated_at or row.created_at),
        "modify_user": row.updated_by or row.created_by,
        "state": row.state,
        "version": row.version,
        # Shown once, in the answer that creates the device; never again.
        "Base64QrCodePng": enrolment.qr_png_base64 if enrolment else None,
        "private_key": enrolment.private_key if enrolment else None,
    }


Handler = Callable[[AsyncSession, Actor, dict[str, Any]], Awaitable[tuple[Any, int]]]


def create_abs_router(rt: Runtime) -> APIRouter:
    # A router, not a sub-app: its paths start at the root (/model/..., /api/...).
    app = APIRouter(include_in_schema=False)

    async def caller(request: Request, raw: bytes) -> Principal | None:
        token = bearer_token(request)
        if token:
            return await rt.principal(token)
        header = request.headers.get("x-app-sig", "")
        if header == signature.DEV_SKIP:
            if not rt.settings.abs_dev_skip:
                return None
            async with rt.db.unit_of_work(write=False) as session:
                tenant = await tenant_repo.tenant_by_name(session, rt.settings.abs_dev_tenant)
            if tenant is None:
                return None
            return Principal("dev-skip", tenant.id, "DEV-SKIP", frozenset({scopes.FULL_ACCESS}))
        if not header:
            return None
        return await signature.verify(rt, header, request.method, request.url.path, raw)

    async def run(
        request: Request, scope: str, handler: Handler, write: bool = True
    ) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            # Before the signature: a body past 1 MB is cut short when read (api/bodies.py),
            # so its signature could not hold, and the answer would mislead.
            return envelope(None, 0, _describe(ValidationFailed([TOO_LARGE])))
        principal = await caller(request, raw)
        if principal is None:
            return envelope(None, 0, "ERROR-AUTHENTICATION : X-App-Sig is missing or invalid")
        if not scopes.allows(principal.scopes, scope):
            return envelope(None, 0, f"ERROR-FORBIDDEN : the caller lacks {scope}")
        actor = actor_for(principal, request)
        try:
            try:
                data = json.loads(raw) if raw.strip() else {}
            except (ValueError, RecursionError) as exc:
                raise ValidationFailed([FieldProblem("body", "is not JSON")]) from exc
            if not isinstance(data, dict):
                raise ValidationFailed([FieldProblem("body", "must be a JSON object")])
            async with rt.db.unit_of_work(write=write) as session:
                result, total = await handler(session, actor, data)
        except DomainError as exc:
            return envelope(None, 0, _describe(exc))
        except Exception:
            log.exception("ABS request failed")
            return envelope(None, 0, "ERROR-INTERNAL")
        return envelope(result, total)

    @app.post("/model/oAuthDevice/putDb")
    async def put_db(request: Request) -> JSONResponse:
        async def handle(
            session: AsyncSession, actor: Actor, data: dict[str, Any]
        ) -> tuple[Any, int]:
            ident = data.get("id") if data.get("id") not in (None, "", 0) else data.get("uid")
            if ident in (None, ""):
                row, enrolment = await authenticators.create_device(
                    session, rt.vault, actor, device_input(data)
                )
                return view(row, enrolment), 1
            if not isinstance(ident, str | int) or isinstance(ident, bool):
                raise ValidationFailed([FieldProblem("id", "must be an id or a uid")])
            row = await authenticators.update_device(
                session, actor, ident, device_input(data), _int(data, "version")
            )
            return view(row), 1

        return await run(request, scopes.AUTHENTICATORS_WRITE, handle)

    async def get_one(request: Request, ident: str) -> JSONResponse:
        async def handle(
            session: AsyncSession, actor: Actor, data: dict[str, Any]
        ) -> tuple[Any, int]:
            return view(await authenticators.get_device(session, actor.tenant_id, ident)), 1

        return await run(request, scopes.AUTHENTICATORS_READ, handle, write=False)

    @app.post("/model/oAuthDevice/getDb/{ident}")
    async def model_get_db(request: Request, ident: str) -> JSONResponse:
        return await get_one(request, ident)

    @app.post("/api/oAuthDevice/getDb/{ident}")
    async def api_get_db(request: Request, ident: str) -> JSONResponse:
        return await get_one(request, ident)

    @app.post("/api/oAuthDevice/getData/oAuthDeviceSearchRequest")
    async def get_data(request: Request) -> JSONResponse:
        async def handle(
            session: AsyncSession, actor: Actor, data: dict[str, Any]
        ) -> tuple[Any, int]:
            page_size = _int(data, "page_size") or _int(data, "limit") or 50
            if page_size > MAX_PAGE:
                raise ValidationFailed([FieldProblem("page_size", f"at most {MAX_PAGE}")])
            page = _int(data, "page")
            offset = (page - 1) * page_size if page else (_int(data, "offset") or 0)
            query = authenticators.Search(
                client_code=_text(data, "client_code"),
                device_type=_enum(data.get("device_type"), DEVICE_TYPES, "device_type"),
                device_status=_enum(data.get("device_status"), DEVICE_STATUSES, "device_status"),
                device_number=_text(data, "device_number"),
                default_for_notifications=_flag(
                    data.get("default_for_notifications"), "default_for_notifications"
                ),
                use_device_as_login=_flag(data.get("use_device_as_login"), "use_device_as_login"),
                uid=_text(data, "uid"),
                text=_text(data, "search"),
            )
            total, rows = await authenticators.search(
                session, actor.tenant_id, query, max(offset, 0), page_size
            )
            return [view(r) for r in rows], total

        return await run(request, scopes.AUTHENTICATORS_READ, handle, write=False)

    @app.post("/api/oAuthDevice/deleteItem/{ident}")
    async def delete_item(request: Request, ident: str) -> JSONResponse:
        async def handle(
            session: AsyncSession, actor: Actor, data: dict[str, Any]
        ) -> tuple[Any, int]:
            await authenticators.delete_device(session, actor, ident)
            return {}, 1

        return await run(request, scopes.AUTHENTICATORS_WRITE, handle)

    return app
