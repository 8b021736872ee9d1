"""ROMA Connect LINK surface (``/v2/{project_id}/link/instances/{instance_id}/...``).

Wire-compatible with huaweicloudsdkroma 3.1.x: integer ids, enums and millisecond times;
errors as ``{error_code, error_msg, request_id}`` with the same id in ``X-Request-Id`` (the
SDK reads it from the header). A ROMA project is a fleetkey tenant (by name).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fleetkey.api.auth import actor_for
from fleetkey.compat.roma import views
from fleetkey.compat.roma.caller import principal_for, tenant_name
from fleetkey.errors import DomainError, FieldProblem, ValidationFailed
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor
from fleetkey.things import service as things
from fleetkey.things.models import Product
from fleetkey.validation import holds_unstorable_text, unstorable

log = logging.getLogger("fleetkey.roma")

MAX_BODY = 1_000_000
TOO_LARGE = FieldProblem("body", "larger than 1 MB")
MAX_LIMIT = 999
UNSTORABLE = "must not hold a NUL character or an unpaired surrogate"
CODES = {
    "validation.invalid": (400, "ROMA.00110001"),
    "validation.format": (400, "ROMA.00110001"),
    "credential.user_name_taken": (400, "ROMA.00110001"),
    "product.duplicate": (400, "ROMA.00110001"),
    "product.has_devices": (400, "ROMA.00110001"),
    "product.not_found": (404, "ROMA.00110006"),
    "device.not_found": (404, "ROMA.00110006"),
    "instance.not_found": (500, "ROMA.00110002"),
    "version.conflict": (409, "ROMA.00110001"),
}


def roma_error(status: int, code: str, message: str, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"error_code": code, "error_msg": message, "request_id": request_id},
        status_code=status,
        headers={"X-Request-Id": request_id},
    )


def _message(exc: DomainError, project: str, instance: str) -> str:
    if exc.code == "instance.not_found":
        return f"The instance does not exist. project_id: {project}, instance_id: {instance}"
    if exc.code.endswith(".not_found"):
        ident = exc.params.get("id", "")
        return f"The resource does not exist. Check whether the resource ID {ident} is correct."
    if exc.problems:
        listed = ", ".join(f"{p.field}:{p.message}" for p in exc.problems)
        return f"The parameter does not meet verification rules: [{listed}]"
    return f"The parameter does not meet verification rules: [{exc.message}]"


class Body:
    """A request body where absent, ``{}`` and ``null`` members all mean "not given"."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def text(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValidationFailed([FieldProblem(key, "must be a string")])
        return value

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ValidationFailed([FieldProblem(key, "must be a non-negative integer")])
        return value

    def integers(self, key: str) -> list[int] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in value
        ):
            raise ValidationFailed([FieldProblem(key, "must be a list of integers")])
        return list(value)

    def texts(self, key: str) -> list[str] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationFailed([FieldProblem(key, "must be a list of strings")])
        return list(value)

    def object(self, key: str) -> Body:
        value = self.data.get(key)
        if value is None:
            return Body({})
        if not isinstance(value, dict):
            raise ValidationFailed([FieldProblem(key, "must be an object")])
        return Body(value)


def _refused(exc: DomainError, project: str, instance: str, request_id: str) -> Response:
    code_status, code = CODES.get(exc.code, (400, "ROMA.00110001"))
    return roma_error(code_status, code, _message(exc, project, instance), request_id)


def _parse_body(raw: bytes) -> Body:
    if not raw.strip():
        return Body({})
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed([FieldProblem("body", "is not JSON")]) from exc
    if data is None:
        return Body({})
    if not isinstance(data, dict):
        raise ValidationFailed([FieldProblem("body", "must be a JSON object")])
    if holds_unstorable_text(data):  # PostgreSQL refuses NUL: a 400 here, not a 500 there
        raise ValidationFailed([FieldProblem("body", UNSTORABLE)])
    return Body(data)


def _digits(raw: str) -> bool:
    """ASCII digits only: "²".isdigit() holds, but int("²") fails."""
    return raw.isascii() and raw.isdigit()


def _check_params(request: Request) -> None:
    """Path and query values are compared in SQL: refuse text no store can hold (NUL)."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if unstorable(value):
            raise ValidationFailed([FieldProblem(name, UNSTORABLE)])


@dataclass
class Call:
    request: Request
    body: Body
    actor: Actor
    session: AsyncSession
    instance_id: str

    def query_int(self, name: str, default: int | None = None, high: int = 2**63 - 1) -> int | None:
        raw = self.request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not _digits(raw) or int(raw) > high:
            raise ValidationFailed([FieldProblem(name, f"must be an integer from 0 to {high}")])
        return int(raw)

    def query_text(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        if value is not None and len(value) > 256:
            raise ValidationFailed([FieldProblem(name, "at most 256 characters")])
        return value or None

    def query_time(self, name: str) -> datetime | None:
        millis = self.query_int(name, high=253402300799999)
        return None if millis is None else datetime.fromtimestamp(millis / 1000, UTC)

    def page(self) -> tuple[int, int]:
        limit = self.query_int("limit", 10, MAX_LIMIT)
        if not limit:
            raise ValidationFailed([FieldProblem("limit", f"must be from 1 to {MAX_LIMIT}")])
        return self.query_int("offset", 0) or 0, limit


Handler = Callable[[Call], Awaitable[Any]]


def create_roma_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="fleetkey ROMA Connect LINK", openapi_url=None, docs_url=None)
    addresses = {
        "connect_address": rt.settings.mqtt_address,
        "ssl_connect_address": rt.settings.mqtt_ssl_address,
        "ipv6_connect_address": None,
        "ipv6_ssl_connect_address": None,
    }

    async def run(
        request: Request,
        project: str,
        instance: str,
        scope: str,
        handler: Handler,
        *,
        write: bool = True,
        status: int = 200,
    ) -> Response:
        request_id = request.scope.get("state", {}).get("request_id", "")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            # Before the signature: a body past 1 MB is cut short when read (api/bodies.py),
            # so its signature could not hold, and the answer would mislead.
            return _refused(ValidationFailed([TOO_LARGE]), project, instance, request_id)
        principal = await principal_for(rt, request, raw)
        if principal is None:
            return roma_error(401, "ROMA.1002", "Incorrect token or signature.", request_id)
        if await tenant_name(rt, principal.tenant_id) != project:
            return roma_error(
                403,
                "ROMA.00110008",
                f"You do not have the permission on project {project[:64]}.",
                request_id,
            )
        if not scopes.allows(principal.scopes, scope):
            return roma_error(
                403,
                "ROMA.00110008",
                f"You do not have the {scope} permission on the resource.",
                request_id,
            )
        actor = actor_for(principal, request)
        try:
            _check_params(request)
            body = _parse_body(raw)
            async with rt.db.unit_of_work(write=write) as session:
                await things.get_instance(session, actor.tenant_id, instance)
                result = await handler(Call(request, body, actor, session, instance))
        except DomainError as exc:
            return _refused(exc, project, instance, request_id)
        except Exception:
            log.exception("ROMA request %s failed", request_id)
            return roma_error(500, "ROMA.00110000", "Internal Error.", request_id)
        if result is None:
            return Response(status_code=204, headers={"X-Request-Id": request_id})
        return JSONResponse(result, status_code=status, headers={"X-Request-Id": request_id})

    base = "/{project}/link/instances/{instance}"

    # ---------------------------------------------------------------- products

    def product_input(b: Body) -> things.ProductInput:
        return things.ProductInput(
            name=b.text("name"),
            app_id=b.text("app_id"),
            manufacturer_id=b.text("manufacturer_id"),
            manufacturer_name=b.text("manufacturer_name"),
            model=b.text("model"),
            product_type=b.integer("product_type"),
            protocol_type=b.integer("protocol_type"),
            device_type=b.text("device_type"),
            description=b.text("description"),
            product_version=b.text("version"),
            data_format=b.integer("data_format"),
        )

    @app.post(base + "/products")
    async def create_product(request: Request, project: str, instance: str) -> Response:
        async def handle(c: Call) -> Any:
            row, issued = await things.create_product(
                c.session, rt.vault, c.actor, c.instance_id, product_input(c.body)
            )
            return views.product(row, issued.password)

        return await run(request, project, instance, scopes.THINGS_WRITE, handle, status=201)

    @app.get(base + "/products")
    async def list_products(request: Request, project: str, instance: str) -> Response:
        async def handle(c: Call) -> Any:
            offset, limit = c.page()
            product_id = c.query_text("id")
            known_id = product_id is not None and _digits(product_id) and len(product_id) <= 18
            filters = things.ProductFilter(
                name=c.query_text("name"),
                manufacturer_id=c.query_text("manufacturer_id"),
                manufacturer_name=c.query_text("manufacturer_name"),
                model=c.query_text("model"),
                device_type=c.query_text("device_type"),
                product_type=c.query_int("product_type"),
                protocol_type=c.query_int("protocol_type"),
                app_id=c.query_text("app_id"),
                product_id=int(product_id) if product_id and known_id else None,
                created_from=c.query_time("created_date_start"),
                created_to=c.query_time("created_date_end"),
            )
            if product_id and not known_id:
                return {"total": 0, "size": 0, "items": []}
            total, rows = await things.list_products(
                c.session, c.actor.tenant_id, c.instance_id, filters, offset, limit
            )
            return {"total": total, "size": len(rows), "items": [views.product(r) for r in rows]}

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    def product_id_of(raw: str) -> int:
        if not _digits(raw) or len(raw) > 18:
            raise ValidationFailed([FieldProblem("product_id", "must be an integer")])
        return int(raw)

    @app.get(base + "/products/{product_id}")
    async def show_product(
        request: Request, project: str, instance: str, product_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            row = await things.get_product(
                c.session, c.actor.tenant_id, c.instance_id, product_id_of(product_id)
            )
            return views.product(row)

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    @app.put(base + "/products/{product_id}")
    async def update_product(
        request: Request, project: str, instance: str, product_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            data = product_input(c.body)
            data.product_type = data.protocol_type = data.data_format = None  # not updatable
            row = await things.update_product(
                c.session, c.actor, c.instance_id, product_id_of(product_id), data
            )
            return views.product(row)

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    @app.delete(base + "/products/{product_id}")
    async def delete_product(
        request: Request, project: str, instance: str, product_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            await things.delete_product(
                c.session, c.actor, c.instance_id, product_id_of(product_id)
            )
            return None

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    @app.get(base + "/products/{product_id}/authentication")
    async def show_product_auth(
        request: Request, project: str, instance: str, product_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            row = await things.get_product(
                c.session, c.actor.tenant_id, c.instance_id, product_id_of(product_id)
            )
            return views.authentication(row.user_name) or {"user_name": None, "password": None}

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    @app.put(base + "/products/{product_id}/authentication")
    async def reset_product_auth(
        request: Request, project: str, instance: str, product_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            issued = await things.reset_product_credential(
                c.session,
                rt.vault,
                c.actor,
                c.instance_id,
                product_id_of(product_id),
                c.body.text("user_name"),
                c.body.text("password"),
            )
            return {"user_name": issued.user_name, "password": issued.password}

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    @app.get(base + "/products/{product_id}/devices-summary")
    async def product_summary(
        request: Request, project: str, instance: str, product_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            pid = product_id_of(product_id)
            await things.get_product(c.session, c.actor.tenant_id, c.instance_id, pid)
            total, _ = await things.list_devices(
                c.session,
                c.actor.tenant_id,
                c.instance_id,
                things.DeviceFilter(product_id=pid),
                0,
                1,
            )
            return {"summary": total}

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    # ---------------------------------------------------------------- devices

    async def device_view(c: Call, device: Any, shown: str | None = None) -> dict[str, Any]:
        product = await c.session.get(Product, device.product_id)
        assert product is not None
        return views.device(device, product, addresses, shown)

    def device_id_of(raw: str) -> int:
        if not _digits(raw) or len(raw) > 18:
            raise ValidationFailed([FieldProblem("device_id", "must be an integer")])
        return int(raw)

    def device_input(b: Body) -> things.DeviceInput:
        return things.DeviceInput(
            device_name=b.text("device_name"),
            node_id=b.text("node_id"),
            app_id=b.text("app_id"),
            status=b.integer("status"),
            description=b.text("description"),
            tags=b.texts("tags"),
        )

    @app.post(base + "/devices")
    async def create_device(request: Request, project: str, instance: str) -> Response:
        async def handle(c: Call) -> Any:
            referer = c.body.object("product")
            ref = things.ProductRef(
                product_id=referer.integer("product_id"),
                manufacturer_id=referer.text("manufacturer_id"),
                model=referer.text("model"),
            )
            row, issued = await things.create_device(
                c.session,
                rt.vault,
                c.actor,
                c.instance_id,
                ref,
                device_input(c.body),
                c.body.text("user_name"),
                c.body.text("password"),
            )
            return await device_view(c, row, issued.password if issued else None)

        return await run(request, project, instance, scopes.THINGS_WRITE, handle, status=201)

    @app.get(base + "/devices")
    async def list_devices(request: Request, project: str, instance: str) -> Response:
        async def handle(c: Call) -> Any:
            offset, limit = c.page()
            online = c.query_text("online_status")
            statuses = []
            for part in (online or "").split(","):
                if part.strip():
                    if not _digits(part.strip()):
                        raise ValidationFailed([FieldProblem("online_status", "0, 1 or 2")])
                    statuses.append(int(part))
            filters = things.DeviceFilter(
                product_id=c.query_int("product_id"),
                product_name=c.query_text("product_name"),
                device_name=c.query_text("device_name"),
                client_id=c.query_text("client_id"),
                node_id=c.query_text("node_id"),
                app_id=c.query_text("app_id"),
                online_status=statuses,
                node_type=c.query_int("node_type"),
                tag=c.query_text("tag"),
                created_from=c.query_time("created_date_start"),
                created_to=c.query_time("created_date_end"),
            )
            total, rows = await things.list_devices(
                c.session, c.actor.tenant_id, c.instance_id, filters, offset, limit
            )
            items = [await device_view(c, r) for r in rows]
            return {"total": total, "size": len(items), **addresses, "items": items}

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    @app.get(base + "/devices/{device_id}")
    async def show_device(
        request: Request, project: str, instance: str, device_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            row = await things.get_device(
                c.session, c.actor.tenant_id, c.instance_id, device_id_of(device_id)
            )
            return await device_view(c, row)

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    @app.put(base + "/devices/{device_id}")
    async def update_device(
        request: Request, project: str, instance: str, device_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            data = device_input(c.body)
            data.node_id = data.app_id = None  # not updatable through ROMA
            row = await things.update_device(
                c.session, c.actor, c.instance_id, device_id_of(device_id), data
            )
            return await device_view(c, row)

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    @app.delete(base + "/devices/{device_id}")
    async def delete_device(
        request: Request, project: str, instance: str, device_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            await things.delete_device(c.session, c.actor, c.instance_id, device_id_of(device_id))
            return None

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    @app.delete(base + "/devices")
    async def batch_delete(request: Request, project: str, instance: str) -> Response:
        async def handle(c: Call) -> Any:
            ids = c.body.integers("resources") or c.body.integers("device_ids") or []
            if not ids:
                raise ValidationFailed([FieldProblem("resources", "must not be empty")])
            await things.delete_devices(c.session, c.actor, c.instance_id, ids)
            return None

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    @app.post(base + "/devices/force-offline")
    async def force_offline(request: Request, project: str, instance: str) -> Response:
        async def handle(c: Call) -> Any:
            ids = c.body.integers("device_ids") or []
            done, missing = await things.force_offline(c.session, c.actor, c.instance_id, ids)
            return {
                "success": [
                    {"id": d.id, "device_name": d.device_name, "device_id": d.id} for d in done
                ],
                "failed": [{"id": i, "device_name": None, "device_id": i} for i in missing],
            }

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    @app.get(base + "/statistics/devices-count")
    async def count_devices(request: Request, project: str, instance: str) -> Response:
        async def handle(c: Call) -> Any:
            devices = await things.count_devices(c.session, c.actor.tenant_id, c.instance_id)
            products = await things.count_products(c.session, c.actor.tenant_id, c.instance_id)
            none = {"never_connected": 0, "online": 0, "offline": 0}
            return {
                "product_templates": {"product_templates_numbers": 0},
                "products": {
                    "normal_products_numbers": products.get(0, 0),
                    "gateway_products_numbers": products.get(1, 0),
                },
                "devices": {
                    "normal_devices": devices,
                    "gateway_devices": none,
                    "subsets_devices": none,
                },
            }

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    @app.get(base + "/devices/{device_id}/authentication")
    async def show_device_auth(
        request: Request, project: str, instance: str, device_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            row = await things.get_device(
                c.session, c.actor.tenant_id, c.instance_id, device_id_of(device_id)
            )
            if row.user_name is None:  # connects with its product's credential
                product = await c.session.get(Product, row.product_id)
                assert product is not None
                return views.authentication(product.user_name)
            return views.authentication(row.user_name)

        return await run(request, project, instance, scopes.THINGS_READ, handle, write=False)

    @app.put(base + "/devices/{device_id}/authentication")
    async def reset_device_auth(
        request: Request, project: str, instance: str, device_id: str
    ) -> Response:
        async def handle(c: Call) -> Any:
            issued = await things.reset_device_credential(
                c.session,
                rt.vault,
                c.actor,
                c.instance_id,
                device_id_of(device_id),
                c.body.text("user_name"),
                c.body.text("password"),
            )
            return {"user_name": issued.user_name, "password": issued.password}

        return await run(request, project, instance, scopes.THINGS_WRITE, handle)

    return app
