"""Native /api/v1: authentication, scopes and tenant confinement."""

from __future__ import annotations

import httpx
import pytest

from fleetkey.runtime import Runtime
from fleetkey.tenants import repository as tenant_repo
from fleetkey.tenants import service as tenants
from tests.api.helpers import (
    API,
    PROVIDER,
    bearer,
    build_fleet,
    create_provider,
    error,
    software_body,
    validate_body,
)
from tests.conftest import Caller, new_caller

UNAUTHENTICATED = error("auth.unauthenticated", "a valid bearer token is required")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/devices"),
        ("GET", "/api/v1/device-providers"),
        ("POST", "/api/v1/device-providers"),
        ("GET", "/api/v1/device-types"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/changes"),
    ],
)
async def test_no_token_is_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json=PROVIDER if method == "POST" else None)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


@pytest.mark.parametrize(
    "authorization",
    ["Bearer fk_not-a-real-token", "Bearer not-even-prefixed", "Basic dXNlcjpwYXNz", "Bearer "],
)
async def test_an_unknown_or_malformed_credential_is_401(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get(API + "/devices", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


async def test_a_token_lacking_a_scope_is_403(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    reader = await new_caller(runtime, scopes=["registry:read"], tenant=caller.tenant)
    provider = await create_provider(client, caller)

    listing = await client.get(API + "/device-providers", headers=reader.headers)
    assert listing.status_code == 200
    assert [p["id"] for p in listing.json()["items"]] == [provider["id"]]

    write = await client.post(API + "/device-providers", json=PROVIDER, headers=reader.headers)
    assert write.status_code == 403
    assert write.json() == error("auth.forbidden", "the token lacks the registry:write scope")
    update = await client.put(
        f"{API}/device-providers/{provider['id']}", json=PROVIDER, headers=reader.headers
    )
    assert update.status_code == 403
    audit = await client.get(API + "/audit", headers=reader.headers)
    assert audit.status_code == 403
    assert audit.json() == error("auth.forbidden", "the token lacks the audit:read scope")
    validate = await client.post(
        API + "/devices/validate", json=validate_body("x", provider["id"]), headers=reader.headers
    )
    assert validate.status_code == 403
    assert validate.json() == error("auth.forbidden", "the token lacks the registry:validate scope")
    # nothing was written by the refused requests
    after = await client.get(API + "/device-providers", headers=caller.headers)
    assert after.json()["items"] == [provider]


async def test_a_mosip_role_expands_to_its_scopes(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    resident = await new_caller(runtime, scopes=["RESIDENT"], tenant=caller.tenant)
    validate = await client.post(
        API + "/devices/validate", json=validate_body("x", "p"), headers=resident.headers
    )
    assert validate.status_code == 200
    assert validate.json()["code"] == "validate.device_not_found"
    read = await client.get(API + "/devices", headers=resident.headers)
    assert read.status_code == 403
    assert read.json() == error("auth.forbidden", "the token lacks the registry:read scope")


async def test_a_revoked_token_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    assert (await client.get(API + "/devices", headers=caller.headers)).status_code == 200
    async with runtime.db.unit_of_work() as session:
        record = await tenant_repo.token_by_hash(session, runtime.vault.keyed_hash(caller.token))
        assert record is not None
        await tenants.revoke_token(session, record.id)
    refused = await client.get(API + "/devices", headers=caller.headers)
    assert refused.status_code == 401
    assert refused.json() == UNAUTHENTICATED
    assert (await client.get(API + "/devices", headers=bearer(caller.token))).status_code == 401


async def test_tenant_b_cannot_see_tenant_a(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    a = caller
    b = await new_caller(runtime)
    fleet = await build_fleet(client, a)
    code = await fleet.register()
    ftp = (
        await client.post(
            API + "/trust-providers",
            json={
                "name": "FTP",
                "address": "x",
                "email": "e",
                "contact_number": "1",
                "certificate_alias": "c",
            },
            headers=a.headers,
        )
    ).json()
    wl = (
        await client.post(
            API + "/whitelisted-devices", json={"serial_number": "S"}, headers=a.headers
        )
    ).json()

    provider = await client.get(f"{API}/device-providers/{fleet.provider_id}", headers=b.headers)
    assert provider.status_code == 404
    assert provider.json() == error(
        "provider.not_found", "Device Provider does not exist", {"id": fleet.provider_id}
    )
    device = await client.get(f"{API}/devices/{code}", headers=b.headers)
    assert device.status_code == 404
    assert device.json() == error(
        "device.not_found", "Data not found for provided device code", {"code": code}
    )
    assert (await client.get(f"{API}/devices/{code}/history", headers=b.headers)).status_code == (
        404
    )
    software = await client.get(f"{API}/device-software/{fleet.software_id}", headers=b.headers)
    assert software.json()["error"]["code"] == "software.not_found"
    trust = await client.get(f"{API}/trust-providers/{ftp['id']}", headers=b.headers)
    assert trust.json()["error"]["code"] == "trust_provider.not_found"

    for path in (
        "/devices",
        "/device-providers",
        "/trust-providers",
        "/device-software",
        "/whitelisted-devices",
    ):
        listing = await client.get(API + path, headers=b.headers)
        assert listing.status_code == 200
        assert listing.json() == {"items": [], "next_cursor": None}, path
    assert (await client.get(API + "/audit", headers=b.headers)).json() == []
    assert (await client.get(API + "/changes", headers=b.headers)).json()["items"] == []

    # B can neither change A's records nor build on them
    update = await client.put(
        f"{API}/device-providers/{fleet.provider_id}", json=PROVIDER, headers=b.headers
    )
    assert update.status_code == 404
    status = await client.put(
        f"{API}/devices/{code}/status", json={"status": "Revoked"}, headers=b.headers
    )
    assert status.status_code == 404
    delete = await client.delete(f"{API}/whitelisted-devices/{wl['id']}", headers=b.headers)
    assert delete.status_code == 404
    borrowed = await client.post(
        API + "/device-software", json=software_body(fleet.provider_id), headers=b.headers
    )
    assert borrowed.status_code == 404
    assert borrowed.json()["error"]["code"] == "software.provider_not_found"
    verdict = await client.post(
        API + "/devices/validate", json=validate_body(code, fleet.provider_id), headers=b.headers
    )
    assert verdict.json()["code"] == "validate.device_not_found"

    # A still sees everything unchanged
    mine = await client.get(f"{API}/devices/{code}", headers=a.headers)
    assert (mine.status_code, mine.json()["status"]) == (200, "Registered")
    assert [
        w["id"]
        for w in (await client.get(API + "/whitelisted-devices", headers=a.headers)).json()["items"]
    ] == [wl["id"]]
