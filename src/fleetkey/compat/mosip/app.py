"""The MOSIP device-management surface: a thin translator between MOSIP's wire and domains.

Mounted at ``/v1/masterdata`` and at ``/masterdata`` (the API page's own spelling for
validate). Every failure is HTTP 200 with MOSIP's envelope, as the page shows.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request, cookie_parser
from starlette.responses import Response

from fleetkey.api.auth import actor_with_id, bearer_value
from fleetkey.api.hot import HotRequest, HotResponse, HotRoute, routed
from fleetkey.clock import iso_millis, parse_instant
from fleetkey.compat.mosip import envelope as env
from fleetkey.compat.mosip import errors as mosip_errors
from fleetkey.compat.mosip import views, wire
from fleetkey.devices import registration, validate
from fleetkey.devices import service as devices
from fleetkey.errors import DomainError, FieldProblem, ValidationFailed
from fleetkey.keys.service import Signer
from fleetkey.providers import service as providers
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from fleetkey.tenants.context import Actor

log = logging.getLogger("fleetkey.mosip")
VALIDATE_PATH = "/deviceprovidermanagement/validate"
REGISTER_PATH = "/registereddevices"


@dataclass
class Call:
    query: dict[str, str]  # the last value of a repeated parameter, as Starlette reads it
    body: Any
    actor: Actor
    unit_of_work: AsyncSession | None
    signer: Signer | None = None

    @property
    def req(self) -> dict[str, Any]:
        return wire.request_object(self.body)

    @property
    def session(self) -> AsyncSession:
        assert self.unit_of_work is not None, "this operation runs without a unit of work"
        return self.unit_of_work


Handler = Callable[[Call], Awaitable[Any]]


def _token(request: HotRequest) -> str | None:
    """A bearer token, or MOSIP's own ``Authorization`` cookie (with or without "Bearer")."""
    token = bearer_value(request.header(b"authorization"))
    if token:
        return token
    cookie = cookie_parser(request.header(b"cookie")).get("Authorization", "").strip()
    return (
        cookie.split(" ", 1)[1].strip() if cookie.lower().startswith("bearer ") else cookie or None
    )


def _echo(op: env.Operation, body: Any) -> env.Echo:
    given = body if isinstance(body, dict) else {}
    ident, version = given.get("id"), given.get("version")
    return env.Echo(
        ident if isinstance(ident, str) else op.id,
        version if isinstance(version, str) else "1.0",
    )


def create_mosip_app(rt: Runtime) -> FastAPI:
    app = FastAPI(title="fleetkey MOSIP device management", openapi_url=None, docs_url=None)

    async def answer(
        request: HotRequest,
        path_params: dict[str, str],
        op: env.Operation,
        scope: str,
        handler: Handler,
        *,
        write: bool = True,
        unit_of_work: bool = True,
        with_body: bool = True,
        fields: dict[str, str] | None = None,
        overrides: dict[str, tuple[str, str]] | None = None,
        needs_signer: bool = False,
    ) -> HotResponse:
        body: Any = None
        parse_error: DomainError | None = None
        query = parse_qsl(request.query.decode("latin-1"), keep_blank_values=True)
        try:
            if with_body:
                body = wire.parse_json(request.body)
            # The device code of a path or query is text the store must be able to compare.
            for name, value in (*path_params.items(), *query):
                wire.check_json(value, (name,))
        except DomainError as exc:
            parse_error = exc
        echo = _echo(op, body)
        principal = await rt.principal(_token(request))
        if principal is None:
            return env.failure(echo, [mosip_errors.AUTH_FAILED])
        if not scopes.allows(principal.scopes, scope):
            return env.failure(echo, [mosip_errors.FORBIDDEN])
        if parse_error is not None:
            return env.failure(echo, mosip_errors.to_mosip(parse_error))
        actor = actor_with_id(principal, request.request_id)
        try:
            # Fetched before the transaction: a first key is created in a transaction of
            # its own, which must not wait behind this request's write lock.
            signer = await rt.keys.current_signer(actor.tenant_id) if needs_signer else None
            if unit_of_work:
                async with rt.db.unit_of_work(write=write) as session:
                    response = await handler(Call(dict(query), body, actor, session, signer))
            else:
                response = await handler(Call(dict(query), body, actor, None, signer))
        except DomainError as exc:
            return env.failure(echo, mosip_errors.to_mosip(exc, fields, overrides))
        except Exception:
            log.exception("MOSIP %s failed (request %s)", op.id, actor.request_id)
            return env.failure(echo, [mosip_errors.INTERNAL])
        return env.success(op, echo, response)

    async def run(request: Request, *args: Any, **kwargs: Any) -> Response:
        """``answer`` for a routed request."""
        hot = await HotRequest.from_request(request)
        return (await answer(hot, dict(request.path_params), *args, **kwargs)).to_starlette()

    # ------------------------------------------------------------ device providers

    def provider_input(req: dict[str, Any]) -> providers.ProviderInput:
        return providers.ProviderInput(
            vendor_name=wire.text(req, "vendorName"),
            address=wire.text(req, "address"),
            email=wire.text(req, "email"),
            contact_number=wire.text(req, "contactNumber"),
            certificate_alias=wire.text(req, "certificateAlias"),
            is_active=wire.flag(req, "isActive", "active"),
        )

    def required_id(req: dict[str, Any]) -> str:
        ident = wire.text(req, "id")
        if ident is None or not ident.strip():
            raise ValidationFailed([FieldProblem("id", "must not be null")])
        return ident

    @app.post("/deviceprovider")
    async def create_device_provider(request: Request) -> Response:
        async def handle(c: Call) -> Any:
            row = await providers.create_provider(c.session, c.actor, provider_input(c.req))
            return views.device_provider(row)

        return await run(
            request,
            env.DEVICE_PROVIDER_CREATE,
            scopes.REGISTRY_WRITE,
            handle,
            fields=views.PROVIDER_FIELDS,
        )

    @app.put("/deviceprovider")
    async def update_device_provider(request: Request) -> Response:
        async def handle(c: Call) -> Any:
            req = c.req
            row = await providers.update_provider(
                c.session, c.actor, required_id(req), provider_input(req)
            )
            return views.device_provider(row)

        return await run(
            request,
            env.DEVICE_PROVIDER_UPDATE,
            scopes.REGISTRY_WRITE,
            handle,
            fields=views.PROVIDER_FIELDS,
        )

    # ------------------------------------------------------------ foundational trust providers

    def trust_input(req: dict[str, Any]) -> providers.TrustProviderInput:
        return providers.TrustProviderInput(
            name=wire.text(req, "name"),
            address=wire.text(req, "address"),
            email=wire.text(req, "email"),
            contact_number=wire.text(req, "contactNo"),
            certificate_alias=wire.text(req, "certAlias"),
            is_active=bool(wire.flag(req, "isActive", "active")),
        )

    @app.post("/foundationaltrustprovider")
    async def create_trust_provider(request: Request) -> Response:
        async def handle(c: Call) -> Any:
            row = await providers.create_trust_provider(c.session, c.actor, trust_input(c.req))
            return views.trust_provider(row)

        return await run(
            request,
            env.FTP_CREATE,
            scopes.REGISTRY_WRITE,
            handle,
            fields=views.TRUST_PROVIDER_FIELDS,
        )

    @app.put("/foundationaltrustprovider")
    async def update_trust_provider(request: Request) -> Response:
        async def handle(c: Call) -> Any:
            req = c.req
            row = await providers.update_trust_provider(
                c.session, c.actor, required_id(req), trust_input(req)
            )
            return views.trust_provider(row)

        return await run(
            request,
            env.FTP_UPDATE,
            scopes.REGISTRY_WRITE,
            handle,
            fields=views.TRUST_PROVIDER_FIELDS,
        )

    # ------------------------------------------------------------ device software (MDS)

    def software_input(req: dict[str, Any]) -> providers.SoftwareInput:
        return providers.SoftwareInput(
            sw_version=wire.text(req, "swVersion"),
            provider_id=wire.text(req, "deviceProviderId"),
            type_code=wire.text(req, "regDeviceTypeCode"),
            subtype_code=wire.text(req, "regDeviceSubCode"),
            make=wire.text(req, "make"),
            model=wire.text(req, "model"),
            binary_hash=wire.text(req, "swBinaryHash"),
            sw_created_at=wire.instant(req, "swCreateDateTime"),
            sw_expires_at=wire.instant(req, "swExpiryDateTime"),
            is_active=wire.flag(req, "isActive", "active"),
        )

    @app.post("/mosipdeviceservice")
    async def create_software(request: Request) -> Response:
        async def handle(c: Call) -> Any:
            row = await providers.create_software(c.session, c.actor, software_input(c.req))
            return views.device_software(row)

        return await run(
            request,
            env.MDS_CREATE,
            scopes.REGISTRY_WRITE,
            handle,
            fields=views.SOFTWARE_FIELDS,
            overrides=mosip_errors.MDS_OVERRIDES,
        )

    @app.put("/mosipdeviceservice")
    async def update_software(request: Request) -> Response:
        async def handle(c: Call) -> Any:
            req = c.req
            row = await providers.update_software(
                c.session, c.actor, required_id(req), software_input(req)
            )
            return views.device_software(row)

        return await run(
            request,
            env.MDS_UPDATE,
            scopes.REGISTRY_WRITE,
            handle,
            fields=views.SOFTWARE_FIELDS,
            overrides=mosip_errors.MDS_OVERRIDES,
        )

    # ------------------------------------------------------------ registered devices

    async def register(c: Call) -> Any:
        claim = device_claim(c.req)
        # Signed after the commit: no transaction waits on the signature.
        code = await registration.register(rt.db, c.actor, claim, rt.register_window)
        assert c.signer is not None and claim.digital_id is not None
        return signed_registration(c.signer, code, claim)

    async def answer_register(_: Runtime, request: HotRequest) -> HotResponse:
        """Registration is the one write a fleet makes at enrolment rate (a hot path: its
        AUTH case is one direct unit, and the signature is most of its cost)."""
        return await answer(
            request,
            {},
            env.DEVICE_REGISTER,
            scopes.REGISTRY_WRITE,
            register,
            unit_of_work=False,
            fields=views.REGISTRATION_FIELDS,
            overrides=mosip_errors.REGISTER_OVERRIDES,
            needs_signer=True,
        )

    register_route = HotRoute(
        answer_register,
        lambda _: env.failure(_echo(env.DEVICE_REGISTER, None), [mosip_errors.INTERNAL]),
    )

    @app.post(REGISTER_PATH)
    async def register_device(request: Request) -> Response:
        return await routed(rt, register_route, request)

    def signed_registration(signer: Signer, code: str, claim: registration.DeviceClaim) -> str:
        assert claim.digital_id is not None
        digital = json.dumps(claim.digital_id.raw, separators=(",", ":")).encode()
        payload = {
            "status": "REGISTERED",
            "digitalId": base64.urlsafe_b64encode(digital).decode().rstrip("="),
            "deviceCode": code,
            "env": rt.settings.mosip_env,
            "timeStamp": iso_millis(claim.timestamp),
        }
        return sign_compact(signer, payload)

    # ``:path`` so that a code with a "/" (or none at all) still gets MOSIP's envelope.
    @app.delete("/registereddevices/deregister/{device_code:path}")
    async def deregister_device(request: Request, device_code: str) -> Response:
        async def handle(c: Call) -> Any:
            await devices.deregister(c.session, c.actor, device_code)
            return {"status": "success", "message": "Device de-register successfully"}

        return await run(
            request,
            env.DEVICE_DEREGISTER,
            scopes.REGISTRY_WRITE,
            handle,
            with_body=False,
            overrides=mosip_errors.DEREGISTER_OVERRIDES,
        )

    async def change_status(request: Request, code_param: str, status_param: str) -> Response:
        async def handle(c: Call) -> Any:
            code = wire.strip_quotes(c.query.get(code_param))
            status = wire.strip_quotes(c.query.get(status_param))
            missing = [
                FieldProblem(name, "must not be null")
                for name, value in ((code_param, code), (status_param, status))
                if not value
            ]
            if missing:
                raise ValidationFailed(missing)
            assert code and status
            await devices.set_status(c.session, c.actor, code, status)
            return {"status": "success", "message": "Device status updated successfully"}

        return await run(request, env.DEVICE_STATUS, scopes.REGISTRY_WRITE, handle, with_body=False)

    @app.put("/registereddevices/status")
    async def update_status_doc(request: Request) -> Response:
        return await change_status(request, "devicecode", "status")

    @app.put("/registereddevices/update/status")
    async def update_status_real(request: Request) -> Response:
        return await change_status(request, "deviceCode", "statusCode")

    async def check_device(c: Call) -> Any:
        kind = await validate.validate(rt.db, c.actor.tenant_id, validation_query(c.req))
        message = (
            "Device details validated successfully"
            if kind == "live"
            else "Device details history validated successfully"
        )
        return [{"status": "Valid", "message": message}]

    async def answer_validate(_: Runtime, request: HotRequest) -> HotResponse:
        """Validate is called for every authentication a device takes part in: a hot path
        (api/hot.py) whose live check is one statement without a unit of work."""
        return await answer(
            request,
            {},
            env.DEVICE_VALIDATE,
            scopes.REGISTRY_VALIDATE,
            check_device,
            unit_of_work=False,
            fields=views.VALIDATE_FIELDS,
        )

    validate_route = HotRoute(
        answer_validate,
        lambda _: env.failure(_echo(env.DEVICE_VALIDATE, None), [mosip_errors.INTERNAL]),
    )
    app.state.hot_routes = {
        ("POST", VALIDATE_PATH): validate_route,
        ("POST", REGISTER_PATH): register_route,
    }

    @app.post(VALIDATE_PATH)
    async def validate_device(request: Request) -> Response:
        return await routed(rt, validate_route, request)

    return app


def sign_compact(signer: Signer, payload: dict[str, Any]) -> str:
    """``b64(header).b64(payload).b64(RS256 signature over the first two parts)``.

    Standard base64 with padding, as MOSIP writes it; docs/compat/mosip.md has the details.
    """
    header = base64.b64encode(b'{"alg":"RS256","type":"JWS"}').decode()
    body = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    signing_input = f"{header}.{body}"
    signature = base64.b64encode(signer.sign(signing_input.encode("ascii"))).decode()
    return f"{signing_input}.{signature}"


def _object(value: Any, field: str) -> dict[str, Any]:
    """A nested member that may arrive as an object or as base64 of one."""
    if isinstance(value, dict):
        return value
    return wire.decode_b64_json(value, field)


def device_claim(req: dict[str, Any]) -> registration.DeviceClaim:
    data = wire.decode_b64_json(req.get("deviceData"), "deviceData")
    info_value = data.get("deviceInfo")
    info = _object(info_value, "deviceInfo") if info_value is not None else {}
    digital_value = info.get("digitalId")
    digital = _object(digital_value, "digitalId") if digital_value is not None else None
    timestamp = wire.text(info, "timeStamp")
    try:
        stamp = parse_instant(timestamp) if timestamp is not None else None
    except ValueError as exc:
        raise wire.FormatError("deviceInfo.timeStamp") from exc
    ftp = data.get("foundationalTrustProviderId")
    return registration.DeviceClaim(
        device_id=wire.text(data, "deviceId"),
        purpose=wire.text(data, "purpose"),
        trust_provider_id=None if ftp is None else wire.text(data, "foundationalTrustProviderId"),
        certification=wire.text(info, "certification"),
        device_sub_id=wire.text(info, "deviceSubId"),
        firmware=wire.text(info, "firmware"),
        expires_at=wire.instant(info, "deviceExpiry"),
        timestamp=stamp,
        digital_id=None
        if digital is None
        else registration.DigitalIdClaim(
            serial_no=wire.text(digital, "serialNo"),
            provider_name=wire.text(digital, "deviceProvider"),
            provider_id=wire.text(digital, "deviceProviderId"),
            make=wire.text(digital, "make"),
            model=wire.text(digital, "model"),
            type=wire.text(digital, "type"),
            # MOSIP 1.0.10 says deviceSubType; the API page (and 1.0.8) say subType.
            subtype=wire.text(digital, "deviceSubType", "subType"),
            date_time=wire.text(digital, "dateTime"),
            raw=digital,
        ),
    )


def validation_query(req: dict[str, Any]) -> validate.ValidationQuery:
    problems: list[FieldProblem] = []

    def blank_checked(obj: dict[str, Any], field: str, *keys: str) -> str:
        value = wire.text(obj, *keys)
        if value is None or not value.strip():
            problems.append(FieldProblem(field, "must not be blank"))
            return ""
        return value

    code = blank_checked(req, "device_code", "deviceCode")
    version = blank_checked(req, "sw_version", "deviceServiceVersion")
    digital_value = req.get("digitalId")
    if digital_value is None:
        problems.append(FieldProblem("digital_id", "must not be null"))
        digital: dict[str, Any] = {}
    else:
        digital = _object(digital_value, "digitalId")
    values = (
        {
            name: blank_checked(digital, name, *keys)
            for name, keys in (
                ("serial_no", ("serialNo",)),
                ("provider_name", ("dp",)),
                ("provider_id", ("dpId",)),
                ("make", ("make",)),
                ("model", ("model",)),
                ("type", ("type",)),
                ("subtype", ("deviceSubType", "subType")),
            )
        }
        if digital_value is not None
        else dict.fromkeys(
            ("serial_no", "provider_name", "provider_id", "make", "model", "type", "subtype"), ""
        )
    )
    if problems:
        raise ValidationFailed(problems)
    stamp_text = wire.text(req, "timeStamp", "timestamp")
    at = None
    if stamp_text is not None and stamp_text.strip():
        try:
            at = parse_instant(stamp_text)
        except ValueError as exc:
            raise DomainError(
                "validation.timestamp",
                f"Text '{stamp_text}' could not be parsed format should be "
                "yyyy-mm-ddThh:mm:ss format",
                422,
            ) from exc
    return validate.ValidationQuery(
        device_code=code,
        sw_version=version,
        purpose=wire.text(req, "purpose"),
        at=at,
        **values,
    )
