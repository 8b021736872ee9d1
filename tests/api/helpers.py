"""Small builders for native-API tests: bodies, creation shortcuts, a registered device."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from fleetkey.runtime import Runtime
from fleetkey.tenants import repository as tenant_repo
from fleetkey.tenants import service as tenants
from tests.compat.mosip.world import World
from tests.conftest import Caller

API = "/api/v1"

# The vendor name must match the digital id of tests.compat.mosip.doc ("Test Vendor").
PROVIDER: dict[str, Any] = {
    "vendor_name": "Test Vendor",
    "address": "Address of Test Vendor",
    "email": "test@mosip.io",
    "contact_number": "9663175928",
    "certificate_alias": "Test",
    "is_active": True,
}

TRUST_PROVIDER: dict[str, Any] = {
    "name": "FTP 1",
    "address": "Address of FTP 1",
    "email": "FTP1@mosip.io",
    "contact_number": "9876543210",
    "certificate_alias": "Test",
    "is_active": True,
}


def software_body(provider_id: str, **changes: Any) -> dict[str, Any]:
    """The release the doc's registration request matches (make MC01A, model TVSFD)."""
    body: dict[str, Any] = {
        "sw_version": "TestSwVersion1",
        "provider_id": provider_id,
        "type_code": "Finger",
        "subtype_code": "Single",
        "make": "MC01A",
        "model": "TVSFD",
        "binary_hash": "Test Hash",
        "sw_created_at": "2020-02-10T06:12:52.994Z",
        "sw_expires_at": "2030-02-10T06:12:52.994Z",
        "is_active": True,
    }
    body.update(changes)
    return body


def error(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


async def created(
    client: httpx.AsyncClient, caller: Caller, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(API + path, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def create_provider(
    client: httpx.AsyncClient, caller: Caller, **changes: Any
) -> dict[str, Any]:
    return await created(client, caller, "/device-providers", {**PROVIDER, **changes})


@dataclass
class Fleet:
    """A tenant with a device provider, its software release and a MOSIP world to register."""

    caller: Caller
    provider_id: str
    software_id: str
    world: World

    async def register(self, **kwargs: Any) -> str:
        return await self.world.register_ok(**kwargs)


async def build_fleet(client: httpx.AsyncClient, caller: Caller) -> Fleet:
    provider = await create_provider(client, caller)
    software = await created(client, caller, "/device-software", software_body(provider["id"]))
    world = World(client, caller.headers, provider_id=provider["id"])
    return Fleet(caller, provider["id"], software["id"], world)


def validate_body(code: str, provider_id: str, **changes: Any) -> dict[str, Any]:
    """A native validation request that matches a device registered by ``Fleet.register``."""
    digital = {
        "serial_no": "1801160992",
        "provider_name": "Test Vendor",
        "provider_id": provider_id,
        "make": "MC01A",
        "model": "TVSFD",
        "type": "Fingerprint",
        "subtype": "Single",
    }
    digital.update(changes.pop("digital_id", {}))
    body: dict[str, Any] = {
        "device_code": code,
        "sw_version": "TestSwVersion1",
        "purpose": "AUTH",
        "digital_id": digital,
    }
    body.update(changes)
    return body


async def token_named(runtime: Runtime, tenant: str, name: str, scopes: list[str]) -> str:
    """Another token of an existing tenant, under another actor name."""
    async with runtime.db.unit_of_work() as session:
        row = await tenant_repo.tenant_by_name(session, tenant)
        assert row is not None
        issued = await tenants.create_token(session, runtime.vault, row, name, scopes)
    return issued.token


async def tick() -> None:
    """Let the millisecond clock move on, so two writes never share a timestamp."""
    await asyncio.sleep(0.005)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
