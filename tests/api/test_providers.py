"""Native /api/v1: device providers, trust providers and device software."""

from __future__ import annotations

import re

import httpx

from tests.api.helpers import (
    API,
    PROVIDER,
    TRUST_PROVIDER,
    create_provider,
    created,
    error,
    software_body,
)
from tests.conftest import Caller

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# ------------------------------------------------------------------ device providers


async def test_create_device_provider_returns_201_the_row_and_its_etag(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    response = await client.post(API + "/device-providers", json=PROVIDER, headers=caller.headers)
    assert response.status_code == 201
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert UUID.match(body["id"]) and TIME.match(body["created_at"])
    assert body == {
        **PROVIDER,
        "id": body["id"],
        "tenant_id": caller.tenant_id,
        "version": 1,
        "created_by": f"tester@{caller.tenant}",
        "created_at": body["created_at"],
        "updated_by": None,
        "updated_at": None,
    }

    fetched = await client.get(f"{API}/device-providers/{body['id']}", headers=caller.headers)
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    assert fetched.json() == body


async def test_optional_provider_fields_default_to_null_and_active(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    body = await created(client, caller, "/device-providers", {"vendor_name": "Bare Vendor"})
    assert (body["vendor_name"], body["address"], body["email"]) == ("Bare Vendor", None, None)
    assert (body["contact_number"], body["certificate_alias"], body["is_active"]) == (
        None,
        None,
        True,
    )


async def test_update_provider_with_if_match(client: httpx.AsyncClient, caller: Caller) -> None:
    provider = await create_provider(client, caller)
    url = f"{API}/device-providers/{provider['id']}"
    changed = {**PROVIDER, "address": "New Address", "certificate_alias": "changed"}

    stale = await client.put(url, json=changed, headers={**caller.headers, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json() == error(
        "version.conflict",
        f"device_provider {provider['id']} is at version 1, not 7",
        {"current": 1},
    )
    # the refused update changed nothing
    unchanged = await client.get(url, headers=caller.headers)
    assert unchanged.json() == provider

    ok = await client.put(url, json=changed, headers={**caller.headers, "If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'
    body = ok.json()
    assert (body["address"], body["certificate_alias"], body["version"]) == (
        "New Address",
        "changed",
        2,
    )
    assert body["updated_by"] == f"tester@{caller.tenant}"
    assert TIME.match(body["updated_at"])
    assert body["created_at"] == provider["created_at"]
    assert (await client.get(url, headers=caller.headers)).json() == body


async def test_provider_not_found_error_shape(client: httpx.AsyncClient, caller: Caller) -> None:
    response = await client.get(f"{API}/device-providers/no-such-id", headers=caller.headers)
    assert response.status_code == 404
    assert response.json() == error(
        "provider.not_found", "Device Provider does not exist", {"id": "no-such-id"}
    )
    update = await client.put(
        f"{API}/device-providers/no-such-id", json=PROVIDER, headers=caller.headers
    )
    assert update.status_code == 404
    assert update.json() == error(
        "provider.not_found", "Device Provider does not exist", {"id": "no-such-id"}
    )


async def test_invalid_provider_body_lists_every_field(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    response = await client.post(
        API + "/device-providers",
        json={"address": 3, "contact_number": "1" * 17, "is_active": "maybe"},
        headers=caller.headers,
    )
    assert response.status_code == 422
    assert response.json() == error(
        "validation.invalid",
        "the request is not valid",
        [
            {"field": "vendor_name", "message": "Field required"},
            {"field": "address", "message": "Input should be a valid string"},
            {"field": "contact_number", "message": "String should have at most 16 characters"},
            {
                "field": "is_active",
                "message": "Input should be a valid boolean, unable to interpret input",
            },
        ],
    )


async def test_unknown_fields_are_rejected(client: httpx.AsyncClient, caller: Caller) -> None:
    response = await client.post(
        API + "/device-providers",
        json={**PROVIDER, "vendorName": "camelCase", "tenant_id": "someone-else"},
        headers=caller.headers,
    )
    assert response.status_code == 422
    assert response.json() == error(
        "validation.invalid",
        "the request is not valid",
        [
            {"field": "vendorName", "message": "Extra inputs are not permitted"},
            {"field": "tenant_id", "message": "Extra inputs are not permitted"},
        ],
    )
    listing = await client.get(API + "/device-providers", headers=caller.headers)
    assert listing.json() == {"items": [], "next_cursor": None}


async def test_blank_vendor_name_is_a_domain_validation_error(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    response = await client.post(
        API + "/device-providers", json={**PROVIDER, "vendor_name": "   "}, headers=caller.headers
    )
    assert response.status_code == 422
    assert response.json() == error(
        "validation.invalid",
        "vendor_name: size must be between 1 and 128",
        [{"field": "vendor_name", "message": "size must be between 1 and 128"}],
    )


async def test_duplicate_active_provider_is_a_conflict(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    await create_provider(client, caller)
    response = await client.post(API + "/device-providers", json=PROVIDER, headers=caller.headers)
    assert response.status_code == 409
    assert response.json() == error(
        "provider.duplicate",
        "Test Vendor Device Provider already exist",
        {"vendor_name": "Test Vendor"},
    )
    # another address is another provider
    await create_provider(client, caller, address="Second site")


async def test_list_device_providers_pages_by_id(client: httpx.AsyncClient, caller: Caller) -> None:
    ids = sorted(
        [(await create_provider(client, caller, vendor_name=f"Vendor {i}"))["id"] for i in range(3)]
    )
    first = await client.get(API + "/device-providers", params={"limit": 2}, headers=caller.headers)
    assert first.status_code == 200
    page = first.json()
    assert [p["id"] for p in page["items"]] == ids[:2]
    assert page["next_cursor"] == ids[1]
    second = await client.get(
        API + "/device-providers",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=caller.headers,
    )
    assert [p["id"] for p in second.json()["items"]] == ids[2:]
    assert second.json()["next_cursor"] is None


async def test_list_limit_is_bounded(client: httpx.AsyncClient, caller: Caller) -> None:
    response = await client.get(
        API + "/device-providers", params={"limit": 0}, headers=caller.headers
    )
    assert response.status_code == 422
    assert response.json() == error(
        "validation.invalid",
        "the request is not valid",
        [{"field": "query.limit", "message": "Input should be greater than or equal to 1"}],
    )


# ------------------------------------------------------------------ trust providers


async def test_trust_provider_create_get_update(client: httpx.AsyncClient, caller: Caller) -> None:
    response = await client.post(
        API + "/trust-providers", json=TRUST_PROVIDER, headers=caller.headers
    )
    assert response.status_code == 201
    assert response.headers["etag"] == '"1"'
    ftp = response.json()
    assert ftp == {
        **TRUST_PROVIDER,
        "id": ftp["id"],
        "tenant_id": caller.tenant_id,
        "version": 1,
        "created_by": f"tester@{caller.tenant}",
        "created_at": ftp["created_at"],
        "updated_by": None,
        "updated_at": None,
    }
    url = f"{API}/trust-providers/{ftp['id']}"
    fetched = await client.get(url, headers=caller.headers)
    assert (fetched.status_code, fetched.headers["etag"], fetched.json()) == (200, '"1"', ftp)

    changed = {**TRUST_PROVIDER, "email": "FTP1test@mosip.io", "certificate_alias": "Change"}
    stale = await client.put(url, json=changed, headers={**caller.headers, "If-Match": '"2"'})
    assert stale.status_code == 412
    assert stale.json() == error(
        "version.conflict", f"trust_provider {ftp['id']} is at version 1, not 2", {"current": 1}
    )
    ok = await client.put(url, json=changed, headers={**caller.headers, "If-Match": '"1"'})
    assert (ok.status_code, ok.headers["etag"]) == (200, '"2"')
    assert (ok.json()["email"], ok.json()["certificate_alias"]) == ("FTP1test@mosip.io", "Change")

    listing = await client.get(API + "/trust-providers", headers=caller.headers)
    assert listing.json() == {"items": [ok.json()], "next_cursor": None}


async def test_trust_provider_errors(client: httpx.AsyncClient, caller: Caller) -> None:
    missing = await client.get(f"{API}/trust-providers/nope", headers=caller.headers)
    assert missing.status_code == 404
    assert missing.json() == error(
        "trust_provider.not_found", "FTP is not present for id", {"id": "nope"}
    )

    invalid = await client.post(
        API + "/trust-providers", json={"name": "FTP 1"}, headers=caller.headers
    )
    assert invalid.status_code == 422
    assert invalid.json() == error(
        "validation.invalid",
        "the request is not valid",
        [
            {"field": field, "message": "Field required"}
            for field in ("address", "email", "contact_number", "certificate_alias")
        ],
    )

    await created(client, caller, "/trust-providers", TRUST_PROVIDER)
    duplicate = await client.post(
        API + "/trust-providers", json=TRUST_PROVIDER, headers=caller.headers
    )
    assert duplicate.status_code == 409
    assert duplicate.json() == error(
        "trust_provider.duplicate", "Foundational Trust Provider already exist"
    )


# ------------------------------------------------------------------ device software


async def test_device_software_crud_with_versions(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    provider = await create_provider(client, caller)
    body = software_body(provider["id"], type_code="Fingerprint")
    response = await client.post(API + "/device-software", json=body, headers=caller.headers)
    assert response.status_code == 201
    assert response.headers["etag"] == '"1"'
    sw = response.json()
    assert sw == {
        **body,
        "type_code": "Finger",  # the alias is stored as its canonical type
        "id": sw["id"],
        "tenant_id": caller.tenant_id,
        "version": 1,
        "created_by": f"tester@{caller.tenant}",
        "created_at": sw["created_at"],
        "updated_by": None,
        "updated_at": None,
    }
    url = f"{API}/device-software/{sw['id']}"
    fetched = await client.get(url, headers=caller.headers)
    assert (fetched.status_code, fetched.headers["etag"], fetched.json()) == (200, '"1"', sw)

    # If-Match naming an old version: 412, nothing changes
    newer = software_body(provider["id"], sw_expires_at="2031-01-01T00:00:00.000Z")
    stale = await client.put(url, json=newer, headers={**caller.headers, "If-Match": '"5"'})
    assert stale.status_code == 412
    assert stale.json() == error(
        "version.conflict", f"device_software {sw['id']} is at version 1, not 5", {"current": 1}
    )
    assert (await client.get(url, headers=caller.headers)).json() == sw

    # If-Match naming the current version (weak ETags too)
    ok = await client.put(url, json=newer, headers={**caller.headers, "If-Match": 'W/"1"'})
    assert (ok.status_code, ok.headers["etag"]) == (200, '"2"')
    assert ok.json()["sw_expires_at"] == "2031-01-01T00:00:00.000Z"
    assert ok.json()["version"] == 2

    # the body's version works the same way
    stale_body = await client.put(url, json={**newer, "version": 1}, headers=caller.headers)
    assert stale_body.status_code == 412
    assert stale_body.json()["error"]["code"] == "version.conflict"
    assert stale_body.json()["error"]["details"] == {"current": 2}
    ok_body = await client.put(
        url, json={**newer, "binary_hash": "h2", "version": 2}, headers=caller.headers
    )
    assert (ok_body.status_code, ok_body.headers["etag"]) == (200, '"3"')
    assert ok_body.json()["binary_hash"] == "h2"

    # neither If-Match nor version: the update applies
    blind = await client.put(url, json={**newer, "binary_hash": "h3"}, headers=caller.headers)
    assert (blind.status_code, blind.headers["etag"]) == (200, '"4"')
    assert blind.json()["binary_hash"] == "h3"
    assert (await client.get(url, headers=caller.headers)).headers["etag"] == '"4"'

    listing = await client.get(API + "/device-software", headers=caller.headers)
    assert listing.json() == {"items": [blind.json()], "next_cursor": None}


async def test_if_match_must_be_a_version_etag(client: httpx.AsyncClient, caller: Caller) -> None:
    provider = await create_provider(client, caller)
    response = await client.put(
        f"{API}/device-providers/{provider['id']}",
        json=PROVIDER,
        headers={**caller.headers, "If-Match": '"abc"'},
    )
    assert response.status_code == 422
    assert response.json() == error(
        "validation.invalid", 'If-Match must be a version ETag like "3"'
    )


async def test_if_match_wins_over_the_body_version(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    provider = await create_provider(client, caller)
    response = await client.put(
        f"{API}/device-providers/{provider['id']}",
        json={**PROVIDER, "email": "x@y.z", "version": 9},
        headers={**caller.headers, "If-Match": '"1"'},
    )
    assert (response.status_code, response.json()["email"]) == (200, "x@y.z")


async def test_device_software_rules(client: httpx.AsyncClient, caller: Caller) -> None:
    provider = await create_provider(client, caller)

    no_provider = await client.post(
        API + "/device-software", json=software_body("missing"), headers=caller.headers
    )
    assert no_provider.status_code == 404
    assert no_provider.json() == error(
        "software.provider_not_found",
        "Device Provider Id not found in the list of Device Providers",
        {"id": "missing"},
    )

    no_type = await client.post(
        API + "/device-software",
        json=software_body(provider["id"], type_code="Palm"),
        headers=caller.headers,
    )
    assert no_type.status_code == 404
    assert no_type.json() == error(
        "catalog.type_not_found", "device type Palm does not exist", {"type": "Palm"}
    )

    no_subtype = await client.post(
        API + "/device-software",
        json=software_body(provider["id"], subtype_code="Full face"),
        headers=caller.headers,
    )
    assert no_subtype.status_code == 404
    assert no_subtype.json() == error(
        "catalog.subtype_not_found",
        "device subtype Full face of type Finger does not exist",
        {"subtype": "Full face", "type": "Finger"},
    )

    backwards = await client.post(
        API + "/device-software",
        json=software_body(
            provider["id"],
            sw_created_at="2022-01-01T00:00:00Z",
            sw_expires_at="2021-01-01T00:00:00Z",
        ),
        headers=caller.headers,
    )
    assert backwards.status_code == 422
    assert backwards.json() == error(
        "validation.invalid",
        "sw_expires_at: must not be before the creation time",
        [{"field": "sw_expires_at", "message": "must not be before the creation time"}],
    )

    await created(client, caller, "/device-software", software_body(provider["id"]))
    duplicate = await client.post(
        API + "/device-software", json=software_body(provider["id"]), headers=caller.headers
    )
    assert duplicate.status_code == 409
    assert duplicate.json() == error("software.duplicate", "MOSIP-Device-Service already exist")

    missing = await client.get(f"{API}/device-software/nope", headers=caller.headers)
    assert missing.status_code == 404
    assert missing.json() == error(
        "software.not_found", "MDS ID nope does not exist", {"id": "nope"}
    )

    extra = await client.post(
        API + "/device-software",
        json={**software_body(provider["id"]), "swVersion": "1"},
        headers=caller.headers,
    )
    assert extra.status_code == 422
    assert extra.json()["error"]["details"] == [
        {"field": "swVersion", "message": "Extra inputs are not permitted"}
    ]
