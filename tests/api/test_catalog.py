"""Native /api/v1: the device type catalog and the white list of serials."""

from __future__ import annotations

from datetime import datetime

import httpx
from sqlalchemy import select

from fleetkey.devices.models import WhitelistedDevice
from fleetkey.runtime import Runtime
from tests.api.helpers import API, build_fleet, create_provider, error, software_body
from tests.compat.mosip.world import World, errors_of
from tests.conftest import Caller

SEEDED = [
    {
        "code": "Face",
        "name": "Face",
        "alias_of": None,
        "is_active": True,
        "subtypes": ["Full face"],
    },
    {
        "code": "Finger",
        "name": "Finger",
        "alias_of": None,
        "is_active": True,
        "subtypes": ["Single", "Slab", "Touchless"],
    },
    {
        "code": "Fingerprint",
        "name": "Fingerprint",
        "alias_of": "Finger",
        "is_active": True,
        "subtypes": ["Single", "Slab", "Touchless"],
    },
    {
        "code": "Iris",
        "name": "Iris",
        "alias_of": None,
        "is_active": True,
        "subtypes": ["DoubleIris", "SingleIris"],
    },
]


async def test_seeded_device_types(client: httpx.AsyncClient, caller: Caller) -> None:
    response = await client.get(API + "/device-types", headers=caller.headers)
    assert response.status_code == 200
    assert response.json() == SEEDED


async def test_put_device_type_then_register_a_device_of_it(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    # a repeated subtype is taken once (it used to fail the unique key: a 500)
    palm = {"name": "Palm print", "subtypes": ["Right", "Left", "Left"]}
    response = await client.put(API + "/device-types/Palm", json=palm, headers=caller.headers)
    assert response.status_code == 200
    expected = {
        "code": "Palm",
        "name": "Palm print",
        "alias_of": None,
        "is_active": True,
        "subtypes": ["Left", "Right"],
    }
    assert response.json() == expected
    listing = (await client.get(API + "/device-types", headers=caller.headers)).json()
    assert listing == [*SEEDED, expected]  # ordered by code: Palm sorts last

    provider = await create_provider(client, caller)
    world = World(client, caller.headers, provider_id=provider["id"])
    code = await world.register_ok(digital={"type": "Palm", "deviceSubType": "Left"})
    device = (await client.get(f"{API}/devices/{code}", headers=caller.headers)).json()
    assert (device["type_code"], device["subtype_code"]) == ("Palm", "Left")

    # a subtype not listed any more is deactivated: registrations of it are refused
    again = await client.put(
        API + "/device-types/Palm",
        json={"name": "Palm", "subtypes": ["Right"]},
        headers=caller.headers,
    )
    assert again.json()["subtypes"] == ["Right"]
    refused = await world.register(
        serial="palm-2", digital={"type": "Palm", "deviceSubType": "Left"}
    )
    assert errors_of(refused) == [("ADM-DPM-027", "Left Device Sub-Type does not exist")]
    sw = await client.post(
        API + "/device-software",
        json=software_body(provider["id"], type_code="Palm", subtype_code="Left"),
        headers=caller.headers,
    )
    assert sw.status_code == 404
    assert sw.json() == error(
        "catalog.subtype_not_found",
        "device subtype Left of type Palm does not exist",
        {"subtype": "Left", "type": "Palm"},
    )


async def test_put_device_type_alias(client: httpx.AsyncClient, caller: Caller) -> None:
    response = await client.put(
        API + "/device-types/Fingerprints",
        json={"name": "Fingerprints", "alias_of": "Finger"},
        headers=caller.headers,
    )
    assert response.status_code == 200
    assert response.json() == {
        "code": "Fingerprints",
        "name": "Fingerprints",
        "alias_of": "Finger",
        "is_active": True,
        "subtypes": [],
    }
    listing = (await client.get(API + "/device-types", headers=caller.headers)).json()
    alias = next(t for t in listing if t["code"] == "Fingerprints")
    assert alias["subtypes"] == ["Single", "Slab", "Touchless"]

    provider = await create_provider(client, caller)
    sw = await client.post(
        API + "/device-software",
        json=software_body(provider["id"], type_code="Fingerprints"),
        headers=caller.headers,
    )
    assert (sw.status_code, sw.json()["type_code"]) == (201, "Finger")


async def test_put_device_type_errors(client: httpx.AsyncClient, caller: Caller) -> None:
    alias_of_alias = await client.put(
        API + "/device-types/Thumb",
        json={"name": "Thumb", "alias_of": "Fingerprint"},
        headers=caller.headers,
    )
    assert alias_of_alias.status_code == 422
    assert alias_of_alias.json() == error(
        "catalog.bad_alias", "Fingerprint is not a canonical type"
    )
    alias_with_subtypes = await client.put(
        API + "/device-types/Thumb",
        json={"name": "Thumb", "alias_of": "Finger", "subtypes": ["Single"]},
        headers=caller.headers,
    )
    assert alias_with_subtypes.status_code == 422
    assert alias_with_subtypes.json() == error(
        "catalog.bad_alias", "an alias has no subtypes of its own"
    )
    too_long = await client.put(
        API + "/device-types/" + "T" * 37, json={"name": "T"}, headers=caller.headers
    )
    assert too_long.status_code == 422
    assert too_long.json() == error("validation.invalid", "a type code is 1 to 36 characters")
    unknown_field = await client.put(
        API + "/device-types/Palm", json={"name": "Palm", "sub_types": []}, headers=caller.headers
    )
    assert unknown_field.status_code == 422
    assert unknown_field.json()["error"]["details"] == [
        {"field": "sub_types", "message": "Extra inputs are not permitted"}
    ]
    listing = (await client.get(API + "/device-types", headers=caller.headers)).json()
    assert listing == SEEDED


# ------------------------------------------------------------------ white list


async def test_whitelist_post_get_delete(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    url = API + "/whitelisted-devices"
    first = await client.post(
        url, json={"serial_number": "SN-2", "description": "bench unit"}, headers=caller.headers
    )
    assert first.status_code == 201
    entry = first.json()
    assert set(entry) == {"id", "serial_number", "description", "created_at"}
    assert (entry["serial_number"], entry["description"]) == ("SN-2", "bench unit")
    async with runtime.db.unit_of_work(write=False) as session:
        row = await session.get(WhitelistedDevice, entry["id"])
        assert row is not None
        assert (row.tenant_id, row.serial_number) == (caller.tenant_id, "SN-2")
        assert datetime.fromisoformat(entry["created_at"]) == row.created_at

    second = (await client.post(url, json={"serial_number": "SN-1"}, headers=caller.headers)).json()
    duplicate = await client.post(url, json={"serial_number": "SN-2"}, headers=caller.headers)
    assert duplicate.status_code == 409
    assert duplicate.json() == error("whitelist.exists", "serial SN-2 is already white-listed")

    listing = await client.get(url, headers=caller.headers)
    assert listing.status_code == 200
    assert listing.json() == {"items": [second, entry], "next_cursor": None}
    paged = (await client.get(url, params={"limit": 1}, headers=caller.headers)).json()
    assert paged == {"items": [second], "next_cursor": "SN-1"}
    rest = await client.get(url, params={"limit": 1, "cursor": "SN-1"}, headers=caller.headers)
    assert rest.json() == {"items": [entry], "next_cursor": "SN-2"}

    deleted = await client.delete(f"{url}/{entry['id']}", headers=caller.headers)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await client.get(url, headers=caller.headers)).json() == {
        "items": [second],
        "next_cursor": None,
    }
    again = await client.delete(f"{url}/{entry['id']}", headers=caller.headers)
    assert again.status_code == 404
    assert again.json() == error("whitelist.not_found", f"no white-list entry {entry['id']}")
    async with runtime.db.unit_of_work(write=False) as session:
        serials = await session.scalars(
            select(WhitelistedDevice.serial_number).where(
                WhitelistedDevice.tenant_id == caller.tenant_id
            )
        )
        assert list(serials) == ["SN-1"]


async def test_whitelist_validation(client: httpx.AsyncClient, caller: Caller) -> None:
    blank = await client.post(
        API + "/whitelisted-devices", json={"serial_number": " "}, headers=caller.headers
    )
    assert blank.status_code == 422
    assert blank.json() == error(
        "validation.invalid",
        "serial_number: size must be between 1 and 64",
        [{"field": "serial_number", "message": "size must be between 1 and 64"}],
    )
    missing = await client.post(API + "/whitelisted-devices", json={}, headers=caller.headers)
    assert missing.status_code == 422
    assert missing.json()["error"]["details"] == [
        {"field": "serial_number", "message": "Field required"}
    ]


async def test_a_whitelisted_serial_registers_for_registration_under_the_entry_id(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    fleet = await build_fleet(client, caller)
    refused = await fleet.world.register(serial="WL-1", purpose="REGISTRATION")
    assert errors_of(refused) == [
        ("ADM-DPM-042", "WL-1 Cannot register device as it is not a white-listed device")
    ]
    entry = (
        await client.post(
            API + "/whitelisted-devices", json={"serial_number": "WL-1"}, headers=caller.headers
        )
    ).json()
    code = await fleet.register(serial="WL-1", purpose="REGISTRATION")
    assert code == entry["id"]
    device = (await client.get(f"{API}/devices/{code}", headers=caller.headers)).json()
    assert (device["purpose"], device["serial_number"], device["status"]) == (
        "REGISTRATION",
        "WL-1",
        "Registered",
    )


async def test_a_deactivated_type_is_unusable_through_its_alias_too(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    finger = {"name": "Finger", "subtypes": ["Single", "Slab", "Touchless"], "is_active": False}
    response = await client.put(API + "/device-types/Finger", json=finger, headers=caller.headers)
    assert response.status_code == 200
    assert response.json() == {**SEEDED[1], "is_active": False}
    provider = await create_provider(client, caller)
    for spelling in ("Finger", "Fingerprint"):
        refused = await client.post(
            API + "/device-software",
            json=software_body(provider["id"], type_code=spelling),
            headers=caller.headers,
        )
        assert refused.status_code == 404, spelling
        assert refused.json() == error(
            "catalog.type_not_found", f"device type {spelling} does not exist", {"type": spelling}
        )
    world = World(client, caller.headers, provider_id=provider["id"])
    assert errors_of(await world.register()) == [
        ("ADM-DPM-026", "Fingerprint Device Type does not exist")
    ]
