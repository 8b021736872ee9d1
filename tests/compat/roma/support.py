"""Driving fleetkey's ROMA surface through the official SDK (huaweicloudsdkroma).

Every call goes over real HTTP to the ``live_server`` fixture, signed with AK/SK exactly as
huaweicloudsdkcore signs it. The SDK is synchronous (requests), so calls run in a worker
thread and the test's event loop keeps serving the ``runtime`` fixture meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import huaweicloudsdkroma.v2 as roma
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from fleetkey.compat.roma.caller import new_access_key
from fleetkey.runtime import Runtime
from fleetkey.tenants import service as tenants
from fleetkey.tenants.context import Actor
from fleetkey.things import service as things
from tests.conftest import LiveServer, new_caller

SPECIALS = "~!@#$%^&*()-_=+|[{}];:<>/?"
MASK = "********"
USER_NAME = re.compile(r"^[A-Za-z0-9-]{10,50}$")
GOOD_PASSWORD = "Aa1!aaaaBBBBcccc"  # 16 characters, one of each kind
OTHER_PASSWORD = "Zz9#zzzzYYYYxxxx-2"
SDK_DATE = "%Y%m%dT%H%M%SZ"


def compliant(password: object) -> bool:
    """The reset-authentication page's rule: 16 to 32 characters with a digit, an upper-case
    and a lower-case letter and a special character, nothing else."""
    return (
        isinstance(password, str)
        and 16 <= len(password) <= 32
        and any(c.isdigit() for c in password)
        and any(c.isascii() and c.isupper() for c in password)
        and any(c.isascii() and c.islower() for c in password)
        and any(c in SPECIALS for c in password)
        and all(c.isascii() and (c.isalnum() or c in SPECIALS) for c in password)
    )


def now_millis() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Wire:
    """The last request the SDK sent and the last response it got (HttpHandler hooks)."""

    requests: list[SdkRequest] = field(default_factory=list)
    responses: list[requests.Response] = field(default_factory=list)

    def handler(self) -> HttpHandler:
        def on_request(**kwargs: Any) -> None:
            self.requests.append(kwargs["request"])

        def on_response(**kwargs: Any) -> None:
            self.responses.append(kwargs["response"])

        return HttpHandler().add_request_handler(on_request).add_response_handler(on_response)

    @property
    def last(self) -> requests.Response:
        return self.responses[-1]


def sdk_client(url: str, ak: str, sk: str, project: str, wire: Wire | None = None) -> Any:
    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    builder = (
        roma.RomaClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(ak, sk, project))
        .with_endpoint(url)  # never with_region: that would add Huawei Cloud's endpoint
    )
    if wire is not None:
        builder = builder.with_http_handler(wire.handler())
    return builder.build()


@dataclass
class Roma:
    """A fresh tenant (ROMA project), an instance in it, an AK/SK pair and an SDK client."""

    runtime: Runtime
    server: LiveServer
    project: str
    tenant_id: str
    instance: str
    ak: str
    sk: str
    sdk: Any
    wire: Wire
    token: str  # a fleetkey API token of the tenant (full access)
    broker_token: str  # scope device:authenticate

    # ------------------------------------------------------------------ SDK calls

    def invoker(self, operation: str, request: Any) -> Any:
        """The SDK's invoker for ``operation``, with a signed nonce header.

        fleetkey refuses a signature it has seen before (replay guard), and the SDK's
        signature covers the time only to the second: two identical calls within one
        second would sign alike. The nonce keeps every call of this suite distinct, so no
        test depends on the clock's second boundary.
        """
        invoker = getattr(self.sdk, f"{operation}_invoker")(request)
        return invoker.add_header("X-Client-Nonce", uuid.uuid4().hex)

    async def call(self, operation: str, request: Any) -> Any:
        """Run an SDK operation; the reply carries a non-empty X-Request-Id."""
        response = await self.invoke(self.invoker(operation, request))
        assert self.wire.last.headers.get("X-Request-Id")
        return response

    async def fails(self, operation: str, request: Any) -> ServiceResponseException:
        """Run an SDK operation that must fail; check the error's request id."""
        return await self.invoke_fails(self.invoker(operation, request))

    async def invoke_fails(self, invoker: Any) -> ServiceResponseException:
        try:
            await self.invoke(invoker)
        except ServiceResponseException as exc:
            check_request_id(exc, self.wire.last)
            return exc
        raise AssertionError("the call succeeded")

    async def invoke(self, invoker: Any) -> Any:
        return await asyncio.to_thread(invoker.invoke)

    # ------------------------------------------------------------------ raw HTTP

    def path(
        self, suffix: str = "", project: str | None = None, instance: str | None = None
    ) -> str:
        return f"/v2/{project or self.project}/link/instances/{instance or self.instance}{suffix}"

    async def http(
        self,
        method: str,
        suffix: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """A request with ``X-Auth-Token``: the tenant's token unless another is given; an
        empty ``token`` sends no X-Auth-Token at all."""
        token = self.token if token is None else token
        sent = {**({"X-Auth-Token": token} if token else {}), **(headers or {})}
        async with httpx.AsyncClient(base_url=self.server.url, timeout=30) as http:
            return await http.request(method, self.path(suffix), headers=sent, **kwargs)

    def signed(
        self,
        method: str,
        suffix: str,
        body: bytes = b"",
        *,
        query: list[tuple[str, Any]] | None = None,
        sdk_date: str | None = None,
        sk: str | None = None,
    ) -> tuple[str, dict[str, str], bytes]:
        """URL, headers and body of a request signed by huaweicloudsdkcore's own Signer."""
        host = self.server.url.split("://", 1)[1]
        headers = {"Content-Type": "application/json;charset=UTF-8", "X-Project-Id": self.project}
        if sdk_date is not None:
            headers["X-Sdk-Date"] = sdk_date
        request = SdkRequest(
            method=method,
            schema="http",
            host=host,
            resource_path=self.path(suffix),
            query_params=list(query or []),
            header_params=headers,
            body=body,
        )
        Signer(BasicCredentials(self.ak, sk or self.sk, self.project)).sign(request)
        return f"{self.server.url}{request.uri}", dict(request.header_params), body

    async def send(self, url: str, headers: dict[str, str], body: bytes, method: str) -> Any:
        def go() -> requests.Response:
            return requests.request(method, url, headers=headers, data=body, timeout=30)

        return await asyncio.to_thread(go)

    # ------------------------------------------------------------------ device side

    async def device_auth(self, username: str, password: str, client_id: str | None) -> str:
        """What a broker hears at POST /api/v1/auth/device: "allow" or "deny"."""
        body: dict[str, Any] = {"username": username, "password": password}
        if client_id is not None:
            body["client_id"] = client_id
        async with httpx.AsyncClient(base_url=self.server.url, timeout=30) as http:
            reply = await http.post(
                "/api/v1/auth/device",
                json=body,
                headers={"Authorization": f"Bearer {self.broker_token}"},
            )
        assert reply.status_code == 200, reply.text
        result: str = reply.json()["result"]
        return result

    # ------------------------------------------------------------------ builders

    async def product(self, **fields: Any) -> Any:
        values: dict[str, Any] = {
            "name": unique("thermo"),
            "manufacturer_id": "acme",
            "manufacturer_name": "Acme",
            "model": "T1",
            "product_type": 0,
            "protocol_type": 0,
            "app_id": "app-1",
        }
        values.update(fields)
        body = roma.CreateProductRequestBody(**values)
        return await self.call(
            "create_product", roma.CreateProductRequest(instance_id=self.instance, body=body)
        )

    async def device(self, product_id: int, **fields: Any) -> Any:
        values: dict[str, Any] = {
            "product": roma.ProductReferer(product_id=product_id),
            "device_name": unique("dev"),
            "node_id": unique("node"),
            "app_id": "app-1",
        }
        values.update(fields)
        body = roma.CreateDeviceRequestBody(**values)
        return await self.call(
            "create_device", roma.CreateDeviceRequest(instance_id=self.instance, body=body)
        )

    async def show_device(self, device_id: int) -> Any:
        return await self.call(
            "show_device", roma.ShowDeviceRequest(instance_id=self.instance, device_id=device_id)
        )

    async def reset(self, device_id: int, body: Any = None, **fields: Any) -> Any:
        if body is None and fields:
            body = roma.ResetAuthenticationRequestBody(**fields)
        request = roma.ResetAuthenticationRequest(
            instance_id=self.instance, device_id=device_id, body=body
        )
        return await self.call("reset_authentication", request)

    async def reset_fails(self, device_id: int, **fields: Any) -> ServiceResponseException:
        request = roma.ResetAuthenticationRequest(
            instance_id=self.instance,
            device_id=device_id,
            body=roma.ResetAuthenticationRequestBody(**fields),
        )
        return await self.fails("reset_authentication", request)


def check_request_id(exc: ServiceResponseException, reply: requests.Response) -> None:
    """The SDK takes request_id from X-Request-Id; the body carries the same, non-empty."""
    body = json.loads(reply.content)
    assert exc.request_id
    assert exc.request_id == reply.headers["X-Request-Id"] == body["request_id"]
    assert set(body) == {"error_code", "error_msg", "request_id"}
    assert (exc.error_code, exc.error_msg) == (body["error_code"], body["error_msg"])


def expect_error(
    exc: ServiceResponseException, status: int, code: str, message: str | Callable[[str], bool]
) -> None:
    assert exc.status_code == status, (exc.status_code, exc.error_code, exc.error_msg)
    assert exc.error_code == code, exc.error_msg
    if callable(message):
        assert message(exc.error_msg), exc.error_msg
    else:
        assert exc.error_msg == message


def not_found_message(ident: object) -> str:
    return f"The resource does not exist. Check whether the resource ID {ident} is correct."


def invalid_message(*problems: str) -> str:
    return f"The parameter does not meet verification rules: [{', '.join(problems)}]"


USER_NAME_PROBLEM = "user_name:must be 10 to 50 letters, digits or hyphens"
PASSWORD_PROBLEM = (
    "password:must be 16 to 32 characters with a digit, an upper-case letter, a lower-case "
    f"letter and one of {SPECIALS}"
)


async def setup_roma(runtime: Runtime, server: LiveServer) -> Roma:
    project = unique("proj")
    instance = str(uuid.uuid4())
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, project)
        actor = Actor(tenant_id=tenant.id, name="roma-tests", request_id="roma-tests")
        await things.create_instance(session, actor, instance)
        ak, sk = await new_access_key(session, runtime.vault, tenant.id, "roma-tests")
    admin = await new_caller(runtime, tenant=project)
    broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=project)
    wire = Wire()
    return Roma(
        runtime=runtime,
        server=server,
        project=project,
        tenant_id=tenant.id,
        instance=instance,
        ak=ak,
        sk=sk,
        sdk=sdk_client(server.url, ak, sk, project, wire),
        wire=wire,
        token=admin.token,
        broker_token=broker.token,
    )


def sdk_date(offset_seconds: int) -> str:
    stamp = datetime.now(UTC).timestamp() + offset_seconds
    return datetime.fromtimestamp(stamp, UTC).strftime(SDK_DATE)
