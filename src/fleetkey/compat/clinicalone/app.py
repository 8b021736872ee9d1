"""Oracle Clinical One device actions (``/ec-ors-svc/rest/v1.0/studies/{studyId}/{mode}/...``).

Envelope ``ORSResponse {status, version, result, errorData}``; every rule of the API page
is its own ``errorCode`` with the page's wording in ``errorMessage``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from fleetkey.api.auth import actor_with_id, bearer_value, request_id_of
from fleetkey.api.hot import HotPattern, HotRequest, HotResponse, HotRoute, routed
from fleetkey.errors import DomainError
from fleetkey.inventory import mhealth
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor
from fleetkey.validation import holds_unstorable_text

log = logging.getLogger("fleetkey.clinicalone")

# Domain code -> Clinical One errorCode (fleetkey's own numbering; see docs/compat/clinicalone.md).
CODES: dict[str, str] = {
    "device.invalid_subject": "C1-DEV-001",
    "device.not_dispensed": "C1-DEV-002",
    "device.dispensed_to_other": "C1-DEV-003",
    "device.invalid_device": "C1-DEV-004",
    "device.not_registered": "C1-DEV-005",
    "device.no_connection_type": "C1-DEV-006",
    "device.vendor_code_missing": "C1-DEV-007",
    "device.no_connection": "C1-DEV-008",
    "device.c2c_already_registered": "C1-DEV-009",
    "device.vendor_code_not_allowed": "C1-DEV-010",
    "device.subject_number_missing": "C1-DEV-011",
    "device.already_registered": "C1-DEV-012",
    "study.not_found": "C1-STUDY-404",
    "mhealth.settings_missing": "C1-MHEALTH-500",
    "validation.invalid": "C1-REQ-400",
}
MAX_BODY = 100_000


def ors(result: Any, status: int = 200, error: tuple[str, str] | None = None) -> HotResponse:
    body = {
        "status": "Success" if error is None else "Failure",
        "version": 1,
        "result": result,
        "errorData": None
        if error is None
        else {"errorCode": error[0], "errorMessage": error[1], "details": None},
    }
    return HotResponse.json(status, body)


def _internal_error(_: HotRequest) -> HotResponse:
    return ors(None, 500, ("C1-500", "Internal server error"))


def _bad_request(message: str) -> DomainError:
    return DomainError("validation.invalid", message, 400)


def _text(data: dict[str, Any], key: str, max_len: int) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise _bad_request(f"{key} must be a string of at most {max_len} characters")
    return value


Handler = Callable[[AsyncSession, Actor], Awaitable[Any]]
# Tried before the unit of work; None: the unit of work answers.
Shortcut = Callable[[Actor], Awaitable[Any]]


def _refused(exc: DomainError) -> HotResponse:
    code = CODES.get(exc.code, "C1-REQ-400")
    status = exc.status if exc.status in (400, 404, 500) else 400
    return ors(None, status, (code, exc.message))


async def _run(
    rt: Runtime,
    authorization: str,
    request_id: str,
    handler: Handler,
    shortcut: Shortcut | None = None,
) -> HotResponse:
    principal = await rt.principal(bearer_value(authorization))
    if principal is None:
        return ors(None, 401, ("C1-AUTH-401", "Unauthorized: a valid bearer token is required"))
    if not scopes.allows(principal.scopes, scopes.DEVICE_ACTIONS):
        return ors(
            None,
            403,
            ("C1-AUTH-403", "Forbidden: the user does not have the DeviceActionsPost right"),
        )
    actor = actor_with_id(principal, request_id)
    try:
        result = await shortcut(actor) if shortcut is not None else None
        if result is None:
            async with rt.db.unit_of_work() as session:
                result = await handler(session, actor)
    except DomainError as exc:
        return _refused(exc)
    return ors(result)


def _pair_view(pair: mhealth.IssuedPair) -> dict[str, Any]:
    return {"accessId": pair.access_id, "id": pair.device_id, "otp": pair.otp}


PREFIX = "/ec-ors-svc/rest/v1.0"
# studies/{studyId}/{mode}/subjects/{subjectId}/devices/{inventoryId}/access-code
_RECREATE = r"/studies/([^/]+)/([^/]+)/subjects/([^/]+)/devices/([^/]+)/access-code"
_RECREATE_TAIL = re.compile(_RECREATE + "$")


def _m_subject_of(query: bytes) -> str:
    # The last value wins, as with Starlette's query parameters.
    values = [v for k, v in parse_qsl(query.decode("latin-1")) if k == "mSubjectId"]
    value = values[-1] if values else ""
    if not value or len(value) > 64:
        raise DomainError("device.invalid_subject", "Invalid subject ID", 400)
    return value


async def answer_recreate(rt: Runtime, request: HotRequest) -> HotResponse:
    """``PUT .../devices/{inventoryId}/access-code``: a new pair for a registered kit. A hot
    path: a site re-pairs its kits in bulk."""
    match = _RECREATE_TAIL.search(request.path)  # the whole path, or the mounted app's
    assert match is not None  # the route matched it
    study_id, mode, subject_id, inventory_id = match.groups()
    ttl = timedelta(hours=rt.settings.bootstrap_otp_ttl_hours)
    try:
        m_subject: str | None = _m_subject_of(request.query)
    except DomainError:
        m_subject = None  # no shortcut: the unit of work names it, after the caller's checks

    async def shortcut(actor: Actor) -> Any:
        assert m_subject is not None
        pair = await mhealth.recreate_pair_direct(
            rt.db, rt.vault, actor, study_id, mode, subject_id, inventory_id, m_subject, ttl
        )
        return None if pair is None else _pair_view(pair)

    async def handle(session: AsyncSession, actor: Actor) -> Any:
        pair = await mhealth.recreate_pair(
            session,
            rt.vault,
            actor,
            study_id,
            mode,
            subject_id,
            inventory_id,
            _m_subject_of(request.query),
            ttl,
        )
        return _pair_view(pair)

    authorization = request.header(b"authorization")
    return await _run(
        rt, authorization, request.request_id, handle, shortcut if m_subject else None
    )


RECREATE = HotRoute(answer_recreate, _internal_error)
HOT_PATTERNS = (
    HotPattern("PUT", PREFIX + "/studies/", re.compile(re.escape(PREFIX) + _RECREATE), RECREATE),
)


def create_clinicalone_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="fleetkey Clinical One device actions", openapi_url=None, docs_url=None)
    ttl = timedelta(hours=rt.settings.bootstrap_otp_ttl_hours)

    async def run(request: Request, handler: Handler) -> Response:
        try:
            answer = await _run(
                rt, request.headers.get("authorization", ""), request_id_of(request), handler
            )
        except Exception:
            log.exception("Clinical One request failed")
            answer = _internal_error(await HotRequest.from_request(request))
        return answer.to_starlette()

    base = "/studies/{study_id}/{mode}/subjects/{subject_id}"

    @app.post(base + "/register-device")
    async def register_device(
        request: Request, study_id: str, mode: str, subject_id: str
    ) -> Response:
        raw = await request.body()

        async def handle(session: AsyncSession, actor: Actor) -> Any:
            if len(raw) > MAX_BODY:
                raise _bad_request("the request body is too large")
            try:
                data = json.loads(raw or b"{}")
            except (ValueError, RecursionError) as exc:
                raise _bad_request("the request body is not JSON") from exc
            if not isinstance(data, dict):
                raise _bad_request("the request body must be a JSON object")
            if holds_unstorable_text(data):
                raise _bad_request("the request body holds a NUL or an unpaired surrogate")
            inventory_id = _text(data, "inventoryId", 64)
            if inventory_id is None:
                raise DomainError("device.invalid_device", "Invalid device Id", 400)
            pair = await mhealth.register_device(
                session,
                rt.vault,
                actor,
                study_id,
                mode,
                subject_id,
                inventory_id,
                _text(data, "mSubjectId", 64),
                _text(data, "subjectNumber", 100),
                _text(data, "vendorCode", 100),
                ttl,
            )
            return _pair_view(pair)

        return await run(request, handle)

    @app.put(base + "/devices/{inventory_id}/access-code")
    async def recreate_access_code(request: Request) -> Response:
        # Answered ahead of routing (RECREATE); routed here only from inside this app.
        return await routed(rt, RECREATE, request)

    @app.delete(base + "/devices/{inventory_id}")
    async def deregister_device(
        request: Request, study_id: str, mode: str, subject_id: str, inventory_id: str
    ) -> Response:
        async def handle(session: AsyncSession, actor: Actor) -> Any:
            await mhealth.deregister_device(
                session, actor, study_id, mode, subject_id, inventory_id, _m_subject(request)
            )
            return "Device deregistered successfully"

        return await run(request, handle)

    return app


def _m_subject(request: Request) -> str:
    return _m_subject_of(request.scope.get("query_string", b""))
