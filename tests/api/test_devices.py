"""Native /api/v1: registered devices (lists, reads, history, status) and validation."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.api.helpers import API, build_fleet, created, error, software_body, tick, validate_body
from tests.conftest import Caller


async def test_get_device(client: httpx.AsyncClient, caller: Caller) -> None:
    fleet = await build_fleet(client, caller)
    code = await fleet.register()
    response = await client.get(f"{API}/devices/{code}", headers=caller.headers)
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    device = response.json()
    assert {
        k: device[k]
        for k in (
            "code",
            "tenant_id",
            "status",
            "purpose",
            "device_id",
            "device_sub_id",
            "serial_number",
            "provider_id",
            "provider_name",
            "type_code",
            "subtype_code",
            "make",
            "model",
            "firmware",
            "certification",
            "is_active",
            "version",
            "created_by",
            "updated_by",
        )
    } == {
        "code": code,
        "tenant_id": caller.tenant_id,
        "status": "Registered",
        "purpose": "AUTH",
        "device_id": "70959dd5-e45f-438a-9ff8-9b263908e572",
        "device_sub_id": "1",
        "serial_number": "1801160992",
        "provider_id": fleet.provider_id,
        "provider_name": "Test Vendor",
        "type_code": "Finger",  # registered as "Fingerprint", stored canonical
        "subtype_code": "Single",
        "make": "MC01A",
        "model": "TVSFD",
        "firmware": "firmware",
        "certification": "L0",
        "is_active": True,
        "version": 1,
        "created_by": f"tester@{caller.tenant}",
        "updated_by": None,
    }
    assert device["digital_id"]["type"] == "Fingerprint"  # kept as the device sent it

    missing = await client.get(f"{API}/devices/nope", headers=caller.headers)
    assert missing.status_code == 404
    assert missing.json() == error(
        "device.not_found", "Data not found for provided device code", {"code": "nope"}
    )


async def test_list_devices_with_filters(client: httpx.AsyncClient, caller: Caller) -> None:
    fleet = await build_fleet(client, caller)
    h = caller.headers
    auth = [await fleet.register(serial=f"A-{i}") for i in range(3)]
    entry = (
        await client.post(API + "/whitelisted-devices", json={"serial_number": "R-1"}, headers=h)
    ).json()
    reg = await fleet.register(serial="R-1", purpose="REGISTRATION")
    iris = await fleet.register(
        serial="I-1", digital={"type": "Iris", "deviceSubType": "DoubleIris"}
    )
    revoked = await client.put(
        f"{API}/devices/{auth[0]}/status", json={"status": "Revoked"}, headers=h
    )
    assert revoked.status_code == 200

    async def codes(**params: str) -> list[str]:
        response = await client.get(API + "/devices", params=params, headers=h)
        assert response.status_code == 200, response.text
        assert response.json()["next_cursor"] is None
        return [d["code"] for d in response.json()["items"]]

    everything = sorted([*auth, reg, iris])
    assert reg == entry["id"]
    assert await codes() == everything
    assert await codes(status="Revoked") == [auth[0]]
    assert await codes(status="registered") == sorted([auth[1], auth[2], reg, iris])
    assert await codes(status="Retired") == []
    assert await codes(purpose="REGISTRATION") == [reg]
    assert await codes(purpose="auth") == sorted([*auth, iris])
    assert await codes(provider_id=fleet.provider_id) == everything
    assert await codes(provider_id="other") == []
    assert await codes(serial_number="A-1") == [auth[1]]
    assert await codes(type_code="Iris") == [iris]
    assert await codes(type_code="Finger") == sorted([*auth, reg])
    assert await codes(type_code="Finger", purpose="AUTH", status="Registered") == sorted(auth[1:])

    bad = await client.get(API + "/devices", params={"status": "Lost"}, headers=h)
    assert bad.status_code == 422
    assert bad.json() == error(
        "device.status_invalid", "Invalid status received", {"status": "Lost"}
    )


async def test_cursor_paging_walks_every_device_once(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    fleet = await build_fleet(client, caller)
    registered = [await fleet.register(serial=f"P-{i}") for i in range(5)]
    seen: list[str] = []
    cursors: list[str | None] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(API + "/devices", params=params, headers=caller.headers)).json()
        seen += [d["code"] for d in page["items"]]
        cursor = page["next_cursor"]
        cursors.append(cursor)
        if cursor is None:
            break
    assert seen == sorted(registered)
    assert cursors == [seen[1], seen[3], None]


async def test_as_of_reads_the_old_status_and_history_lists_versions(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    fleet = await build_fleet(client, caller)
    code = await fleet.register()
    first = (await client.get(f"{API}/devices/{code}", headers=caller.headers)).json()
    await tick()
    url = f"{API}/devices/{code}/status"
    revoked = (await client.put(url, json={"status": "REVOKED"}, headers=caller.headers)).json()
    await tick()
    back = (await client.put(url, json={"status": "registered"}, headers=caller.headers)).json()
    assert (revoked["status"], revoked["version"]) == ("Revoked", 2)
    assert (back["status"], back["version"]) == ("Registered", 3)

    async def as_of(at: str) -> httpx.Response:
        return await client.get(
            f"{API}/devices/{code}", params={"as_of": at}, headers=caller.headers
        )

    then = await as_of(first["created_at"])
    assert then.status_code == 200
    assert then.json() == first
    assert (await as_of(revoked["updated_at"])).json()["status"] == "Revoked"
    assert (await as_of(back["updated_at"])).json() == back
    before = await as_of("2001-01-01T00:00:00Z")
    assert before.status_code == 404
    assert before.json() == error(
        "device.not_found", f"device {code} did not exist at that time", {"code": code}
    )

    history = await client.get(f"{API}/devices/{code}/history", headers=caller.headers)
    assert history.status_code == 200
    entries = history.json()
    assert [e["version"] for e in entries] == [1, 2, 3]
    assert [e["data"] for e in entries] == [first, revoked, back]
    assert [datetime.fromisoformat(e["valid_from"]) for e in entries] == [
        datetime.fromisoformat(t)
        for t in (first["created_at"], revoked["updated_at"], back["updated_at"])
    ]
    missing = await client.get(f"{API}/devices/nope/history", headers=caller.headers)
    assert missing.status_code == 404
    assert missing.json() == error("device.not_found", "no device nope", {"code": "nope"})


async def test_set_status_with_if_match(client: httpx.AsyncClient, caller: Caller) -> None:
    fleet = await build_fleet(client, caller)
    code = await fleet.register()
    url = f"{API}/devices/{code}/status"
    h = caller.headers

    stale = await client.put(url, json={"status": "Revoked"}, headers={**h, "If-Match": '"3"'})
    assert stale.status_code == 412
    assert stale.json() == error(
        "version.conflict", f"registered_device {code} is at version 1, not 3", {"current": 1}
    )
    ok = await client.put(url, json={"status": "Revoked"}, headers={**h, "If-Match": '"1"'})
    assert (ok.status_code, ok.headers["etag"]) == (200, '"2"')
    assert (ok.json()["status"], ok.json()["updated_by"]) == ("Revoked", f"tester@{caller.tenant}")
    by_body = await client.put(url, json={"status": "Registered", "version": 1}, headers=h)
    assert by_body.status_code == 412
    assert by_body.json()["error"]["details"] == {"current": 2}

    same = await client.put(url, json={"status": "revoked"}, headers=h)
    assert same.status_code == 409
    assert same.json() == error(
        "device.status_same", "Device already is in Revoked status", {"status": "Revoked"}
    )
    invalid = await client.put(url, json={"status": "Lost"}, headers=h)
    assert invalid.status_code == 422
    assert invalid.json() == error(
        "device.status_invalid", "Invalid status received", {"status": "Lost"}
    )
    retired = await client.put(url, json={"status": "Retired"}, headers=h)
    assert (retired.status_code, retired.json()["status"]) == (200, "Retired")
    final = await client.put(url, json={"status": "Registered"}, headers=h)
    assert final.status_code == 409
    assert final.json() == error("device.retired", "Device already de-registered")
    missing = await client.put(f"{API}/devices/nope/status", json={"status": "Revoked"}, headers=h)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "device.not_found"
    extra = await client.put(url, json={"status": "Revoked", "reason": "lost"}, headers=h)
    assert extra.status_code == 422
    assert extra.json()["error"]["details"] == [
        {"field": "reason", "message": "Extra inputs are not permitted"}
    ]
    current = await client.get(f"{API}/devices/{code}", headers=h)
    assert (current.headers["etag"], current.json()["status"]) == ('"3"', "Retired")


async def test_validate_live_and_as_of(client: httpx.AsyncClient, caller: Caller) -> None:
    fleet = await build_fleet(client, caller)
    code = await fleet.register()
    h = caller.headers
    url = API + "/devices/validate"

    valid = await client.post(url, json=validate_body(code, fleet.provider_id), headers=h)
    assert valid.status_code == 200
    assert valid.json() == {
        "valid": True,
        "basis": "live",
        "code": None,
        "message": None,
        "details": None,
    }
    registered_at = (await client.get(f"{API}/devices/{code}", headers=h)).json()["created_at"]

    await tick()
    await client.put(f"{API}/devices/{code}/status", json={"status": "Revoked"}, headers=h)
    revoked = await client.post(url, json=validate_body(code, fleet.provider_id), headers=h)
    assert revoked.status_code == 200
    assert revoked.json() == {
        "valid": False,
        "basis": "live",
        "code": "validate.device_not_registered",
        "message": "Device is revoked/retired",
        "details": None,
    }
    # as it was when registered, the device was valid
    history = await client.post(
        url, json=validate_body(code, fleet.provider_id, as_of=registered_at), headers=h
    )
    assert history.json() == {
        "valid": True,
        "basis": "history",
        "code": None,
        "message": None,
        "details": None,
    }
    too_early = await client.post(
        url, json=validate_body(code, fleet.provider_id, as_of="2001-01-01T00:00:00Z"), headers=h
    )
    assert too_early.json() == {
        "valid": False,
        "basis": "history",
        "code": "validate.device_not_found",
        "message": "Device is marked Inactive or not found",
        "details": None,
    }


async def test_validate_failures(client: httpx.AsyncClient, caller: Caller) -> None:
    fleet = await build_fleet(client, caller)
    code = await fleet.register()
    h = caller.headers
    url = API + "/devices/validate"

    async def verdict(body: dict[str, object]) -> dict[str, object]:
        response = await client.post(url, json=body, headers=h)
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result

    assert await verdict(validate_body("unknown", fleet.provider_id)) == {
        "valid": False,
        "basis": "live",
        "code": "validate.device_not_found",
        "message": "Device is marked Inactive or not found",
        "details": None,
    }
    assert await verdict(validate_body(code, fleet.provider_id, purpose="REGISTRATION")) == {
        "valid": False,
        "basis": "live",
        "code": "validate.device_not_found",
        "message": "Device is marked Inactive or not found",
        "details": None,
    }
    assert await verdict(validate_body(code, "other-provider")) == {
        "valid": False,
        "basis": "live",
        "code": "validate.provider_inactive",
        "message": "Device Provider is marked Inactive or not found",
        "details": None,
    }
    assert await verdict(validate_body(code, fleet.provider_id, sw_version="9.9")) == {
        "valid": False,
        "basis": "live",
        "code": "validate.software_version_unknown",
        "message": "deviceServiceVersion not found",
        "details": None,
    }
    await created(
        client,
        caller,
        "/device-software",
        software_body(fleet.provider_id, sw_version="2.0", model="OTHER"),
    )
    assert await verdict(validate_body(code, fleet.provider_id, sw_version="2.0")) == {
        "valid": False,
        "basis": "live",
        "code": "validate.software_mismatch",
        "message": "Software version does not match against the Device Details",
        "details": None,
    }
    mismatch = await verdict(
        validate_body(code, fleet.provider_id, digital_id={"make": "Other", "serial_no": "x"})
    )
    assert mismatch == {
        "valid": False,
        "basis": "live",
        "code": "validate.digital_id_mismatch",
        "message": "Device code does not match against - make; "
        "Device code does not match against - serialNo",
        "details": [
            {"field": "make", "message": "Device code does not match against - make"},
            {"field": "serialNo", "message": "Device code does not match against - serialNo"},
        ],
    }

    invalid = await client.post(url, json={"device_code": code}, headers=h)
    assert invalid.status_code == 422
    assert invalid.json() == error(
        "validation.invalid",
        "the request is not valid",
        [
            {"field": "sw_version", "message": "Field required"},
            {"field": "digital_id", "message": "Field required"},
        ],
    )
    extra = await client.post(
        url,
        json=validate_body(code, fleet.provider_id, digital_id={"dpId": "x"}),
        headers=h,
    )
    assert extra.status_code == 422
    assert extra.json()["error"]["details"] == [
        {"field": "digital_id.dpId", "message": "Extra inputs are not permitted"}
    ]
