"""Who may call what: tokens, MOSIP's Authorization cookie, roles, tenant isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fleetkey.runtime import Runtime
from tests.compat.mosip import doc
from tests.compat.mosip.support import (
    PROVIDER_MISMATCH,
    VALID_LIVE,
    call,
    counts,
    failed,
    is_uuid,
    signed_payload,
)
from tests.compat.mosip.world import World, build_world
from tests.conftest import Caller, new_caller

AUTH_FAILED = [("KER-ATH-401", "Authentication Failed")]
FORBIDDEN = [("KER-ATH-403", "Forbidden")]

# (method, path, body or None, the operation id the error envelope carries by default)
WRITES: list[tuple[str, str, Any, str]] = [
    ("POST", "/deviceprovider", {"request": {}}, "io.mosip.masterdata.deviceprovider.create"),
    ("PUT", "/deviceprovider", {"request": {}}, "io.mosip.masterdata.deviceprovider.update"),
    (
        "POST",
        "/foundationaltrustprovider",
        {"request": {}},
        "io.mosip.masterdata.foundationaltrustprovider.create",
    ),
    (
        "PUT",
        "/foundationaltrustprovider",
        {"request": {}},
        "io.mosip.masterdata.foundationaltrustprovider.update",
    ),
    ("POST", "/mosipdeviceservice", {"request": {}}, "io.mosip.masterdata.mds.create"),
    ("PUT", "/mosipdeviceservice", {"request": {}}, "io.mosip.masterdata.mds.update"),
    ("POST", "/registereddevices", {"request": {}}, "io.mosip.masterdata.device.create"),
    ("DELETE", "/registereddevices/deregister/x", None, "io.mosip.masterdata.device.delete"),
    ("PUT", "/registereddevices/status", None, "io.mosip.masterdata.device.update"),
    ("PUT", "/registereddevices/update/status", None, "io.mosip.masterdata.device.update"),
]
EVERY = [
    *WRITES,
    (
        "POST",
        "/deviceprovidermanagement/validate",
        {"request": {}},
        "io.mosip.masterdata.device.validate",
    ),
]


def _kwargs(body: Any) -> dict[str, Any]:
    return {} if body is None else {"json": body}


@pytest.mark.parametrize(("method", "path", "body", "op_id"), EVERY)
async def test_no_token(
    client: httpx.AsyncClient, method: str, path: str, body: Any, op_id: str
) -> None:
    answer = await call(client, method, path, None, **_kwargs(body))
    assert answer["id"] == op_id and answer["version"] == "1.0"
    assert failed(answer) == AUTH_FAILED


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer fk_not-a-real-token"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Cookie": "Authorization=fk_not-a-real-token"},
    ],
)
async def test_bad_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    answer = await call(client, "POST", "/deviceprovider", headers, json=doc.PROVIDER_CREATE)
    assert answer["id"] == "io.mosip.masterdata.deviceprovider.create"
    assert failed(answer) == AUTH_FAILED


async def test_authentication_comes_before_reading_the_body(client: httpx.AsyncClient) -> None:
    # Authentication is checked before the body is read: no token and bad JSON is a 401.
    answer = await call(
        client,
        "POST",
        "/deviceprovider",
        {"Content-Type": "application/json"},
        content=b"{not json",
    )
    assert failed(answer) == AUTH_FAILED


async def test_token_in_mosips_authorization_cookie(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    cookies = (f"Authorization={caller.token}", f"Authorization=Bearer {caller.token}")
    for number, cookie in enumerate(cookies):
        answer = await call(
            client,
            "POST",
            "/deviceprovider",
            {"Cookie": cookie},
            json=doc.with_request(doc.PROVIDER_CREATE, address=f"Address {number}"),
        )
        assert answer["errors"] == [], answer
        assert answer["response"]["createdBy"] == f"tester@{caller.tenant}"


async def test_header_wins_over_cookie(client: httpx.AsyncClient, caller: Caller) -> None:
    headers = {**caller.headers, "Cookie": "Authorization=fk_not-a-real-token"}
    answer = await call(client, "POST", "/deviceprovider", headers, json=doc.PROVIDER_CREATE)
    assert answer["errors"] == []


async def test_resident_may_validate_but_not_write(
    world: World, client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    code = await world.register_ok()
    resident = await new_caller(runtime, scopes=["RESIDENT"], tenant=caller.tenant)
    assert resident.tenant_id == caller.tenant_id
    as_resident = World(client, resident.headers, world.provider_id, world.software_id)
    assert (await as_resident.validate(code))["response"] == VALID_LIVE

    before = await counts(runtime, caller.tenant_id)
    for method, path, body, op_id in WRITES:
        answer = await call(client, method, path, resident.headers, **_kwargs(body))
        assert answer["id"] == op_id
        assert failed(answer) == FORBIDDEN, path
    deregister = await call(
        client, "DELETE", f"/registereddevices/deregister/{code}", resident.headers
    )
    assert failed(deregister) == FORBIDDEN
    register = await call(
        client,
        "POST",
        "/registereddevices",
        resident.headers,
        json=doc.registration(world.provider_id, serial="SN-resident"),
    )
    assert failed(register) == FORBIDDEN
    # Forbidden is decided before the body is read.
    bad_json = await call(
        client,
        "POST",
        "/deviceprovider",
        {**resident.headers, "Content-Type": "application/json"},
        content=b"{",
    )
    assert failed(bad_json) == FORBIDDEN
    assert await counts(runtime, caller.tenant_id) == before
    assert (await world.validate(code))["response"] == VALID_LIVE


@pytest.mark.parametrize("role", ["ID_AUTHENTICATION", "REGISTRATION_PROCESSOR"])
async def test_other_validating_roles(
    world: World, client: httpx.AsyncClient, caller: Caller, runtime: Runtime, role: str
) -> None:
    code = await world.register_ok()
    reader = await new_caller(runtime, scopes=[role], tenant=caller.tenant)
    as_reader = World(client, reader.headers, world.provider_id, world.software_id)
    assert (await as_reader.validate(code))["response"] == VALID_LIVE
    answer = await call(client, "POST", "/deviceprovider", reader.headers, json=doc.PROVIDER_CREATE)
    assert failed(answer) == FORBIDDEN


async def test_zonal_admin_may_write(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin = await new_caller(runtime, scopes=["ZONAL_ADMIN"])
    w = await build_world(client, admin.headers)
    body = await w.register()
    assert body["errors"] is None
    code = signed_payload(body["response"])["deviceCode"]
    assert is_uuid(code)
    assert (await w.validate(code))["response"] == VALID_LIVE
    status = await w.put(
        "/registereddevices/update/status", params={"deviceCode": code, "statusCode": "Revoked"}
    )
    assert status["errors"] is None
    gone = await w.delete(f"/registereddevices/deregister/{code}")
    assert failed(gone) == [("KER-DPM-002", "Device already de-registered")]


async def test_tenants_do_not_see_each_other(
    world: World, client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    code = await world.register_ok()
    other = await new_caller(runtime)
    b = await build_world(client, other.headers)  # B has its own "Test Vendor"
    before_a = await counts(runtime, caller.tenant_id)

    # B validates A's device, with A's provider id or its own.
    as_b = World(client, other.headers, world.provider_id, world.software_id)
    assert failed(await as_b.validate(code)) == [
        ("ADM-DPM-001", "Device is marked Inactive or not found")
    ]
    assert failed(await b.validate(code)) == [
        ("ADM-DPM-001", "Device is marked Inactive or not found")
    ]
    assert failed(await as_b.validate(code, at=doc.now_text())) == [
        ("ADM-DPM-001", "Device is marked Inactive or not found")
    ]
    # B deregisters or changes A's device.
    assert failed(await b.delete(f"/registereddevices/deregister/{code}")) == [
        ("KER-DPM-001", "No register device found")
    ]
    status = await b.put(
        "/registereddevices/update/status", params={"deviceCode": code, "statusCode": "Revoked"}
    )
    assert failed(status) == [("ADM-DPM-038", "Data not found for provided device code")]
    # B uses A's provider.
    assert failed(await as_b.register(serial="SN-b")) == [PROVIDER_MISMATCH]
    put = await b.put(
        "/deviceprovider", doc.with_request(doc.PROVIDER_UPDATE, id=world.provider_id)
    )
    assert failed(put) == [("ADM-DPM-003", "Device Provider does not exist")]
    mds = await b.post(
        "/mosipdeviceservice",
        doc.with_request(doc.MDS_CREATE, deviceProviderId=world.provider_id, swVersion="vB"),
    )
    assert failed(mds) == [
        ("ADM-DPM-039", "Device Provider Id not found in the list of Device Providers")
    ]
    mds_put = await b.put(
        "/mosipdeviceservice",
        doc.with_request(doc.MDS_UPDATE, id=world.software_id, deviceProviderId=b.provider_id),
    )
    assert failed(mds_put) == [("ADM-DPM-023", f"MDS ID {world.software_id} does not exist")]

    # Nothing of A's changed, and A still validates.
    assert await counts(runtime, caller.tenant_id) == before_a
    assert (await world.validate(code))["response"] == VALID_LIVE
    # The same serial under B's own provider is B's own device.
    b_code = await b.register_ok()
    assert b_code != code
