"""Device providers, foundational trust providers and MDS: every MOSIP rule, exactly."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from fleetkey.clock import iso_millis
from fleetkey.runtime import Runtime
from tests.compat.mosip import doc
from tests.compat.mosip.support import (
    TIME,
    add_provider,
    audit_rows,
    call,
    counts,
    failed,
    fmt,
    history_rows,
    is_uuid,
    set_provider_active,
)
from tests.compat.mosip.world import World
from tests.conftest import Caller

UNKNOWN_ID = "0e90bb45-cc9b-4521-9644-72755f6aa1e9"


def dp_body(**changes: Any) -> dict[str, Any]:
    return doc.with_request(doc.PROVIDER_CREATE, **changes)


def dp_without(*keys: str, template: dict[str, Any] = doc.PROVIDER_CREATE) -> dict[str, Any]:
    body = doc.with_request(template)
    for key in keys:
        del body["request"][key]
    return body


# ---------------------------------------------------------------- device providers


async def test_provider_create_stores_row_history_and_audit(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    body = await call(client, "POST", "/deviceprovider", caller.headers, json=doc.PROVIDER_CREATE)
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.deviceprovider.create", "1.0")
    assert body["metadata"] is None and body["errors"] == []
    shown = body["response"]
    pid = shown["id"]
    assert is_uuid(pid)
    assert TIME.match(shown["createdDateTime"])
    assert shown == {
        "id": pid,
        "vendorName": "Test Vendor",
        "address": "Address of Test Vendor",
        "email": "test@mosip.io",
        "contactNumber": "9663175928",
        "certificateAlias": "Test",
        "isActive": True,
        "createdBy": f"tester@{caller.tenant}",
        "createdDateTime": shown["createdDateTime"],
        "updatedBy": None,
        "updatedDateTime": None,
        "isDeleted": None,
        "deletedDateTime": None,
    }

    [history] = await history_rows(runtime, caller.tenant_id, "device_provider", pid)
    assert history.version == 1
    assert iso_millis(history.valid_from) == shown["createdDateTime"]
    assert {
        k: history.data[k]
        for k in ("id", "vendor_name", "address", "email", "contact_number", "certificate_alias")
    } == {
        "id": pid,
        "vendor_name": "Test Vendor",
        "address": "Address of Test Vendor",
        "email": "test@mosip.io",
        "contact_number": "9663175928",
        "certificate_alias": "Test",
    }
    assert history.data["is_active"] is True and history.data["tenant_id"] == caller.tenant_id

    [event] = await audit_rows(runtime, caller.tenant_id, "device_provider", pid)
    assert (event.action, event.actor) == ("create", f"tester@{caller.tenant}")
    assert iso_millis(event.occurred_at) == shown["createdDateTime"]
    assert set(event.changes) == {"after"}
    assert event.changes["after"]["vendor_name"] == "Test Vendor"
    assert event.request_id


async def test_provider_duplicate_name_and_address_is_refused(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    w = World(client, caller.headers)
    await add_provider(w, "Test Vendor", "Address of Test Vendor")
    before = await counts(runtime, caller.tenant_id)
    again = await w.post("/deviceprovider", doc.PROVIDER_CREATE)
    assert again["id"] == "io.mosip.masterdata.deviceprovider.create"
    assert failed(again) == [("ADM-DPM-011", "Test Vendor Device Provider already exist")]
    assert await counts(runtime, caller.tenant_id) == before
    # The same name at another address is another provider.
    other = await w.post("/deviceprovider", dp_body(address="Second Address"))
    assert other["errors"] == [] and other["response"]["vendorName"] == "Test Vendor"


async def test_provider_name_is_free_again_once_the_holder_is_inactive(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    w = World(client, caller.headers)
    first = await add_provider(w, "Test Vendor", "Address of Test Vendor")
    await set_provider_active(w, first, False)
    second = await w.post("/deviceprovider", doc.PROVIDER_CREATE)
    assert second["errors"] == [] and second["response"]["id"] != first


async def test_provider_put_keeping_its_own_name_and_address_succeeds(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    # MOSIP's own query does not exclude the record being updated; fleetkey does.
    w = World(client, caller.headers)
    pid = await add_provider(w, "Test Vendor", "Address of Test Vendor")
    body = await w.put(
        "/deviceprovider",
        doc.with_request(doc.PROVIDER_UPDATE, id=pid, address="Address of Test Vendor"),
    )
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.deviceprovider.update", "1.0")
    assert body["metadata"] is None and body["errors"] == []
    shown = body["response"]
    assert shown["id"] == pid
    assert (shown["vendorName"], shown["address"]) == ("Test Vendor", "Address of Test Vendor")
    assert (shown["certificateAlias"], shown["contactNumber"]) == ("changed", "9000000000")
    assert shown["updatedBy"] == f"tester@{caller.tenant}"
    assert TIME.match(shown["updatedDateTime"])

    rows = await history_rows(runtime, caller.tenant_id, "device_provider", pid)
    assert [r.version for r in rows] == [1, 2]
    assert iso_millis(rows[1].valid_from) == shown["updatedDateTime"]
    assert rows[1].data["certificate_alias"] == "changed"
    events = await audit_rows(runtime, caller.tenant_id, "device_provider", pid)
    assert [e.action for e in events] == ["create", "update"]
    assert events[1].changes["before"]["certificate_alias"] == "Test"
    assert events[1].changes["after"]["certificate_alias"] == "changed"


async def test_provider_put_onto_another_providers_name_and_address_is_refused(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    w = World(client, caller.headers)
    await add_provider(w, "Test Vendor", "Address of Test Vendor")
    second = await add_provider(w, "Test Vendor", "Second Address")
    body = await w.put(
        "/deviceprovider",
        doc.with_request(doc.PROVIDER_UPDATE, id=second, address="Address of Test Vendor"),
    )
    assert body["id"] == "io.mosip.masterdata.deviceprovider.update"
    assert failed(body) == [("ADM-DPM-011", "Test Vendor Device Provider already exist")]


async def test_provider_put_unknown_id(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    body = await w.put("/deviceprovider", doc.PROVIDER_UPDATE)
    assert failed(body) == [("ADM-DPM-003", "Device Provider does not exist")]


async def test_provider_put_without_id(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    body = await w.put("/deviceprovider", dp_without("id", template=doc.PROVIDER_UPDATE))
    assert failed(body) == fmt("request.id: must not be null")


async def test_provider_missing_vendor_name(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    before = await counts(runtime, caller.tenant_id)
    w = World(client, caller.headers)
    body = await w.post("/deviceprovider", dp_without("vendorName"))
    assert failed(body) == fmt("request.vendorName: must not be null")
    assert await counts(runtime, caller.tenant_id) == before


async def test_provider_missing_is_active(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    body = await w.post("/deviceprovider", dp_without("isActive"))
    assert failed(body) == fmt("request.isActive: must not be null")


async def test_provider_optional_fields_may_be_absent(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    w = World(client, caller.headers)
    body = await w.post(
        "/deviceprovider", dp_without("address", "email", "contactNumber", "certificateAlias")
    )
    assert body["errors"] == []
    shown = body["response"]
    assert [shown[k] for k in ("address", "email", "contactNumber", "certificateAlias")] == [
        None,
        None,
        None,
        None,
    ]


async def test_provider_field_sizes(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    too_long = await w.post(
        "/deviceprovider",
        dp_body(
            vendorName="v" * 129,
            address="a" * 513,
            email="e" * 257,
            contactNumber="1" * 17,
            certificateAlias="c" * 37,
        ),
    )
    assert failed(too_long) == [
        ("KER-MSD-999", "request.vendorName: size must be between 1 and 128"),
        ("KER-MSD-999", "request.address: size must be between 0 and 512"),
        ("KER-MSD-999", "request.email: size must be between 0 and 256"),
        ("KER-MSD-999", "request.contactNumber: size must be between 0 and 16"),
        ("KER-MSD-999", "request.certificateAlias: size must be between 0 and 36"),
    ]
    blank = await w.post("/deviceprovider", dp_body(vendorName="   "))
    assert failed(blank) == fmt("request.vendorName: size must be between 1 and 128")

    longest = dict(
        vendorName="v" * 128,
        address="a" * 512,
        email="e" * 256,
        contactNumber="1" * 16,
        certificateAlias="c" * 36,
    )
    at_limit = await w.post("/deviceprovider", dp_body(**longest))
    assert at_limit["errors"] == []
    shown = at_limit["response"]
    assert {k: shown[k] for k in longest} == longest


async def test_provider_missing_request(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    body = await w.post("/deviceprovider", {"id": "x.y", "version": "1.0", "request": None})
    assert (body["id"], body["version"]) == ("x.y", "1.0")
    assert failed(body) == fmt("request: must not be null")
    absent = await w.post("/deviceprovider", {"version": "1.0"})
    assert absent["id"] == "io.mosip.masterdata.deviceprovider.create"
    assert failed(absent) == fmt("request: must not be null")


async def test_provider_request_of_the_wrong_shape(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    w = World(client, caller.headers)
    assert failed(await w.post("/deviceprovider", {"request": "text"})) == fmt(
        "Invalid Format in field : request"
    )
    assert failed(await w.post("/deviceprovider", [1, 2])) == fmt(
        "Invalid Format in field : request"
    )
    assert failed(await w.post("/deviceprovider", dp_body(vendorName=["a"]))) == fmt(
        "Invalid Format in field : vendorName"
    )
    assert failed(await w.post("/deviceprovider", dp_body(isActive="maybe"))) == fmt(
        "Invalid Format in field : isActive"
    )


async def test_provider_malformed_json(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    before = await counts(runtime, caller.tenant_id)
    body = await call(
        client,
        "POST",
        "/deviceprovider",
        {**caller.headers, "Content-Type": "application/json"},
        content=b'{"request": {"vendorName": ',
    )
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.deviceprovider.create", "1.0")
    assert failed(body) == fmt("Invalid Format in field : request (body is not JSON)")
    assert await counts(runtime, caller.tenant_id) == before


# ---------------------------------------------------------------- foundational trust providers


def ftp_body(**changes: Any) -> dict[str, Any]:
    return doc.with_request(doc.FTP_CREATE, **changes)


async def test_ftp_create_and_history(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    w = World(client, caller.headers)
    body = await w.post("/foundationaltrustprovider", doc.FTP_CREATE)
    assert (body["id"], body["version"]) == (
        "io.mosip.masterdata.foundationaltrustprovider.create",
        "1.0",
    )
    assert body["metadata"] is None and body["errors"] is None
    shown = body["response"]
    assert is_uuid(shown["id"]) and TIME.match(shown["createdDateTime"])
    assert shown == {
        "id": shown["id"],
        "name": "FTP 1",
        "address": "Address of FTP 1",
        "email": "FTP1@mosip.io",
        "contactNo": "9876543210",
        "certAlias": "Test",
        "isActive": True,
        "createdBy": f"tester@{caller.tenant}",
        "createdDateTime": shown["createdDateTime"],
        "updatedBy": None,
        "updatedDateTime": None,
        "isDeleted": None,
        "deletedDateTime": None,
    }
    [history] = await history_rows(runtime, caller.tenant_id, "trust_provider", shown["id"])
    assert history.version == 1 and history.data["name"] == "FTP 1"
    [event] = await audit_rows(runtime, caller.tenant_id, "trust_provider", shown["id"])
    assert event.action == "create"


async def test_ftp_duplicate_is_http_200(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    w = World(client, caller.headers)
    await w.post("/foundationaltrustprovider", doc.FTP_CREATE)
    before = await counts(runtime, caller.tenant_id)
    again = await w.post("/foundationaltrustprovider", doc.FTP_CREATE)  # asserts HTTP 200
    assert failed(again) == [("ADM-DPM-016", "Foundational Trust Provider already exist")]
    assert await counts(runtime, caller.tenant_id) == before
    # MOSIP's duplicate query includes isActive: an inactive twin is another record.
    twin = await w.post("/foundationaltrustprovider", ftp_body(isActive=False))
    assert twin["errors"] is None and twin["response"]["isActive"] is False
    # ... and so is one with another certificate alias.
    other = await w.post("/foundationaltrustprovider", ftp_body(certAlias="Other"))
    assert other["errors"] is None


async def test_ftp_update(client: httpx.AsyncClient, caller: Caller, runtime: Runtime) -> None:
    w = World(client, caller.headers)
    ftp_id = (await w.post("/foundationaltrustprovider", doc.FTP_CREATE))["response"]["id"]
    body = await w.put("/foundationaltrustprovider", doc.with_request(doc.FTP_UPDATE, id=ftp_id))
    assert body["id"] == "io.mosip.masterdata.foundationaltrustprovider.update"
    assert body["errors"] is None
    shown = body["response"]
    assert (shown["id"], shown["email"], shown["certAlias"]) == (
        ftp_id,
        "FTP1test@mosip.io",
        "Change",
    )
    assert shown["updatedBy"] == f"tester@{caller.tenant}"
    rows = await history_rows(runtime, caller.tenant_id, "trust_provider", ftp_id)
    assert [r.version for r in rows] == [1, 2]
    assert rows[1].data["email"] == "FTP1test@mosip.io"


async def test_ftp_update_unknown_id(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    body = await w.put("/foundationaltrustprovider", doc.FTP_UPDATE)
    assert body["id"] == "io.mosip.masterdata.foundationaltrustprovider.update"
    assert failed(body) == [("ADM-DPM-016", "FTP is not present for id")]


async def test_ftp_update_without_id(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    body = await w.put("/foundationaltrustprovider", dp_without("id", template=doc.FTP_UPDATE))
    assert failed(body) == fmt("request.id: must not be null")


async def test_ftp_required_fields(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    w = World(client, caller.headers)
    before = await counts(runtime, caller.tenant_id)
    body = await w.post(
        "/foundationaltrustprovider", {"request": {"isActive": True}, "version": "1.0"}
    )
    assert failed(body) == [
        ("KER-MSD-999", "request.name: must not be null"),
        ("KER-MSD-999", "request.address: must not be null"),
        ("KER-MSD-999", "request.email: must not be null"),
        ("KER-MSD-999", "request.contactNo: must not be null"),
        ("KER-MSD-999", "request.certAlias: must not be null"),
    ]
    one = await w.post("/foundationaltrustprovider", dp_without("email", template=doc.FTP_CREATE))
    assert failed(one) == fmt("request.email: must not be null")
    assert await counts(runtime, caller.tenant_id) == before


async def test_ftp_field_sizes(client: httpx.AsyncClient, caller: Caller) -> None:
    w = World(client, caller.headers)
    body = await w.post(
        "/foundationaltrustprovider",
        ftp_body(name="n" * 129, address=" ", email="e" * 257, contactNo="1" * 17, certAlias=""),
    )
    assert failed(body) == [
        ("KER-MSD-999", "request.name: size must be between 1 and 128"),
        ("KER-MSD-999", "request.address: size must be between 1 and 512"),
        ("KER-MSD-999", "request.email: size must be between 1 and 256"),
        ("KER-MSD-999", "request.contactNo: size must be between 1 and 16"),
        ("KER-MSD-999", "request.certAlias: size must be between 1 and 36"),
    ]


async def test_ftp_is_active_defaults_to_false(client: httpx.AsyncClient, caller: Caller) -> None:
    # MOSIP's DTO has a primitive boolean: absent means false.
    w = World(client, caller.headers)
    body = await w.post(
        "/foundationaltrustprovider", dp_without("isActive", template=doc.FTP_CREATE)
    )
    assert body["errors"] is None and body["response"]["isActive"] is False


# ---------------------------------------------------------------- MDS


def mds_body(w: World, **changes: Any) -> dict[str, Any]:
    return doc.with_request(doc.MDS_CREATE, **{"deviceProviderId": w.provider_id, **changes})


async def test_mds_create_response_and_history(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    body = await world.post("/mosipdeviceservice", mds_body(world, swVersion="v2"))
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.mds.create", "1.0")
    assert body["metadata"] is None and body["errors"] is None
    shown = body["response"]
    assert is_uuid(shown["id"]) and TIME.match(shown["createdDateTime"])
    assert shown == {
        "isActive": True,
        "createdBy": f"tester@{caller.tenant}",
        "createdDateTime": shown["createdDateTime"],
        "updatedBy": None,
        "updatedDateTime": None,
        "isDeleted": None,
        "deletedDateTime": None,
        "id": shown["id"],
        "swVersion": "v2",
        "deviceProviderId": world.provider_id,
        "regDeviceTypeCode": "Finger",
        "regDeviceSubCode": "Single",
        "make": "MC01A",
        "model": "TVSFD",
        "swCreateDateTime": "2020-02-10T06:12:52.994Z",
        "swExpiryDateTime": "2021-02-10T06:12:52.994Z",
        "swBinaryHash": "Test Hash",
    }
    [history] = await history_rows(runtime, caller.tenant_id, "device_software", shown["id"])
    assert (history.version, history.lookup_key) == (1, "v2")
    [event] = await audit_rows(runtime, caller.tenant_id, "device_software", shown["id"])
    assert event.action == "create"


async def test_mds_type_spelling_of_the_page_is_stored_canonical(world: World) -> None:
    body = await world.post(
        "/mosipdeviceservice", mds_body(world, swVersion="v3", regDeviceTypeCode="Fingerprint")
    )
    assert body["errors"] is None and body["response"]["regDeviceTypeCode"] == "Finger"


async def test_mds_unknown_type(world: World, caller: Caller, runtime: Runtime) -> None:
    before = await counts(runtime, caller.tenant_id)
    body = await world.post("/mosipdeviceservice", mds_body(world, regDeviceTypeCode="Scanner"))
    assert body["id"] == "io.mosip.masterdata.mds.create"
    assert failed(body) == [
        ("ADM-DPM-040", "Reg Device Type Code not found in the list of Reg Device Types")
    ]
    assert await counts(runtime, caller.tenant_id) == before


async def test_mds_unknown_subtype(world: World) -> None:
    expected = [
        ("ADM-DPM-041", "Reg Device Sub Type Code not found in the list of Reg Device Sub Types")
    ]
    body = await world.post("/mosipdeviceservice", mds_body(world, regDeviceSubCode="Double"))
    assert failed(body) == expected
    # A subtype of another type is not a subtype of this one.
    wrong_type = await world.post(
        "/mosipdeviceservice", mds_body(world, regDeviceSubCode="SingleIris")
    )
    assert failed(wrong_type) == expected


async def test_mds_unknown_or_inactive_provider(world: World) -> None:
    expected = [("ADM-DPM-039", "Device Provider Id not found in the list of Device Providers")]
    body = await world.post(
        "/mosipdeviceservice", mds_body(world, deviceProviderId="no-such-provider")
    )
    assert failed(body) == expected
    await set_provider_active(world, world.provider_id, False)
    inactive = await world.post("/mosipdeviceservice", mds_body(world, swVersion="v9"))
    assert failed(inactive) == expected


async def test_mds_type_is_checked_before_subtype_and_provider(world: World) -> None:
    body = await world.post(
        "/mosipdeviceservice",
        mds_body(
            world, regDeviceTypeCode="Scanner", regDeviceSubCode="Double", deviceProviderId="x"
        ),
    )
    assert [code for code, _ in failed(body)] == ["ADM-DPM-040"]
    sub_first = await world.post(
        "/mosipdeviceservice", mds_body(world, regDeviceSubCode="Double", deviceProviderId="x")
    )
    assert [code for code, _ in failed(sub_first)] == ["ADM-DPM-041"]


async def test_mds_duplicate(world: World, caller: Caller, runtime: Runtime) -> None:
    before = await counts(runtime, caller.tenant_id)
    body = await world.post("/mosipdeviceservice", mds_body(world))
    assert failed(body) == [("ADM-DPM-021", "MOSIP-Device-Service already exist")]
    assert await counts(runtime, caller.tenant_id) == before
    other_model = await world.post("/mosipdeviceservice", mds_body(world, model="OTHER"))
    assert other_model["errors"] is None


async def test_mds_update(world: World, caller: Caller, runtime: Runtime) -> None:
    body = await world.put(
        "/mosipdeviceservice",
        doc.with_request(doc.MDS_UPDATE, id=world.software_id, deviceProviderId=world.provider_id),
    )
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.mds.update", "1.0")
    assert body["errors"] is None
    shown = body["response"]
    assert shown["id"] == world.software_id
    assert shown["swExpiryDateTime"] == "2022-02-10T06:12:52.994Z"
    assert shown["updatedBy"] == f"tester@{caller.tenant}" and TIME.match(shown["updatedDateTime"])
    rows = await history_rows(runtime, caller.tenant_id, "device_software", world.software_id)
    assert [r.version for r in rows] == [1, 2]


async def test_mds_update_unknown_id(world: World) -> None:
    body = await world.put(
        "/mosipdeviceservice",
        doc.with_request(doc.MDS_UPDATE, deviceProviderId=world.provider_id),
    )
    assert body["id"] == "io.mosip.masterdata.mds.update"
    assert failed(body) == [
        ("ADM-DPM-023", "MDS ID 0f343b65-aba2-44d2-b836-e7511270b1ab does not exist")
    ]


async def test_mds_update_checks_provider_type_and_subtype(world: World) -> None:
    def put(**changes: Any) -> dict[str, Any]:
        values = {"id": world.software_id, "deviceProviderId": world.provider_id, **changes}
        return doc.with_request(doc.MDS_UPDATE, **values)

    assert failed(await world.put("/mosipdeviceservice", put(deviceProviderId="nope"))) == [
        ("ADM-DPM-039", "Device Provider Id not found in the list of Device Providers")
    ]
    assert failed(await world.put("/mosipdeviceservice", put(regDeviceTypeCode="Scanner"))) == [
        ("ADM-DPM-040", "Reg Device Type Code not found in the list of Reg Device Types")
    ]
    assert failed(await world.put("/mosipdeviceservice", put(regDeviceSubCode="Double"))) == [
        ("ADM-DPM-041", "Reg Device Sub Type Code not found in the list of Reg Device Sub Types")
    ]


async def test_mds_update_onto_another_release_is_a_duplicate(world: World) -> None:
    other = await world.post("/mosipdeviceservice", mds_body(world, swVersion="v2"))
    assert other["errors"] is None
    body = await world.put(
        "/mosipdeviceservice",
        doc.with_request(
            doc.MDS_UPDATE,
            id=other["response"]["id"],
            deviceProviderId=world.provider_id,
            swVersion="TestSwVersion1",
        ),
    )
    assert failed(body) == [("ADM-DPM-021", "MOSIP-Device-Service already exist")]


async def test_mds_accepts_a_sha256_hex_hash(world: World) -> None:
    digest = hashlib.sha256(b"mds binary").hexdigest()
    assert len(digest) == 64
    body = await world.post(
        "/mosipdeviceservice", mds_body(world, swVersion="v-sha", swBinaryHash=digest)
    )
    assert body["errors"] is None and body["response"]["swBinaryHash"] == digest
    too_long = await world.post(
        "/mosipdeviceservice", mds_body(world, swVersion="v-long", swBinaryHash="f" * 257)
    )
    assert failed(too_long) == fmt("request.swBinaryHash: size must be between 1 and 256")


async def test_mds_required_fields(world: World) -> None:
    body = await world.post("/mosipdeviceservice", {"request": {}, "version": "1.0"})
    assert failed(body) == [
        ("KER-MSD-999", "request.swVersion: must not be null"),
        ("KER-MSD-999", "request.deviceProviderId: must not be null"),
        ("KER-MSD-999", "request.regDeviceTypeCode: must not be null"),
        ("KER-MSD-999", "request.regDeviceSubCode: must not be null"),
        ("KER-MSD-999", "request.make: must not be null"),
        ("KER-MSD-999", "request.model: must not be null"),
        ("KER-MSD-999", "request.swBinaryHash: must not be null"),
        ("KER-MSD-999", "request.isActive: must not be null"),
    ]
    too_long = await world.post(
        "/mosipdeviceservice", mds_body(world, swVersion="v" * 65, make="m" * 37)
    )
    assert failed(too_long) == [
        ("KER-MSD-999", "request.swVersion: size must be between 1 and 64"),
        ("KER-MSD-999", "request.make: size must be between 1 and 36"),
    ]


async def test_mds_bad_date_text(world: World) -> None:
    body = await world.post(
        "/mosipdeviceservice", mds_body(world, swVersion="v4", swCreateDateTime="yesterday")
    )
    assert failed(body) == fmt("Invalid Format in field : swCreateDateTime")


async def test_mds_update_without_id(world: World) -> None:
    body = await world.put("/mosipdeviceservice", mds_body(world))
    assert failed(body) == fmt("request.id: must not be null")
