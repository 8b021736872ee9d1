"""POST /registereddevices: every MOSIP rule in MOSIP's order, and what gets stored."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from fleetkey.app import create_app
from fleetkey.clock import iso_millis
from fleetkey.runtime import Runtime
from tests.compat.mosip import doc
from tests.compat.mosip.support import (
    DUPLICATE_SERIAL,
    L1_NEEDS_TRUST,
    PROVIDER_MISMATCH,
    add_provider,
    audit_rows,
    counts,
    device_row,
    encoded,
    failed,
    fmt,
    history_rows,
    is_uuid,
    set_provider_active,
    signed_payload,
    whitelist,
    without,
)
from tests.compat.mosip.world import World, build_world
from tests.conftest import Caller, Store, make_settings, new_caller

WINDOW_5 = [("MSD-RDS-001", "Time Stamp input is 5 min after the current timestamp")]
# "???" puts a '?' (0x3F) at a byte position that base64 turns into '/' (or '_').
AWKWARD_FIRMWARE = "fw???"


async def registered_code(body: dict[str, Any]) -> str:
    """The device code of a successful registration (its signed payload's deviceCode)."""
    assert body["errors"] is None, body
    return str(signed_payload(body["response"])["deviceCode"])


async def ftp(w: World, **changes: Any) -> str:
    body = await w.post("/foundationaltrustprovider", doc.with_request(doc.FTP_CREATE, **changes))
    assert body["errors"] is None, body
    return str(body["response"]["id"])


# ---------------------------------------------------------------- success and stored state


async def test_register_auth_device_stores_row_history_and_audit(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    body = await world.register()
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.device.create", "v1")
    assert body["metadata"] is None and body["errors"] is None
    payload = signed_payload(body["response"])
    code = payload["deviceCode"]
    assert is_uuid(code)
    assert payload["status"] == "REGISTERED" and payload["env"] == "local"

    row = await device_row(runtime, code)
    assert row is not None
    assert row.tenant_id == caller.tenant_id
    assert {
        "status": row.status,
        "purpose": row.purpose,
        "device_id": row.device_id,
        "device_sub_id": row.device_sub_id,
        "serial_number": row.serial_number,
        "provider_id": row.provider_id,
        "provider_name": row.provider_name,
        "type_code": row.type_code,
        "subtype_code": row.subtype_code,
        "make": row.make,
        "model": row.model,
        "firmware": row.firmware,
        "certification": row.certification,
        "trust_provider_id": row.trust_provider_id,
        "is_active": row.is_active,
        "version": row.version,
        "created_by": row.created_by,
    } == {
        "status": "Registered",
        "purpose": "AUTH",
        "device_id": "70959dd5-e45f-438a-9ff8-9b263908e572",
        "device_sub_id": "1",
        "serial_number": "1801160992",
        "provider_id": world.provider_id,
        "provider_name": "Test Vendor",
        # The page's "Fingerprint" is the catalog's other spelling of "Finger".
        "type_code": "Finger",
        "subtype_code": "Single",
        "make": "MC01A",
        "model": "TVSFD",
        "firmware": "firmware",
        "certification": "L0",
        # L0: the trust provider id is kept as sent, never looked up.
        "trust_provider_id": "83cdb6ea-6e62-11ea-bc55-0242ac130003",
        "is_active": True,
        "version": 1,
        "created_by": f"tester@{caller.tenant}",
    }
    # The digital id is stored exactly as the device sent it.
    assert row.digital_id["type"] == "Fingerprint" and row.digital_id["serialNo"] == "1801160992"

    [history] = await history_rows(runtime, caller.tenant_id, "registered_device", code)
    assert (history.version, history.lookup_key, history.data["status"]) == (
        1,
        "1801160992",
        "Registered",
    )
    assert history.valid_from == row.created_at
    [event] = await audit_rows(runtime, caller.tenant_id, "registered_device", code)
    assert (event.action, event.actor) == ("register", f"tester@{caller.tenant}")
    # Written as a direct unit, yet the rows the ORM path (create_entity) would write.
    assert history.data == row.snapshot()
    assert event.changes == {"after": row.snapshot()}


async def test_signed_payload_echoes_the_device_timestamp_and_digital_id(world: World) -> None:
    stamp = doc.now_text(-30)
    digital = {"make": "MC01A", "serialNo": "SN-echo"}
    body = await world.register(serial="SN-echo", digital=digital, info={"timeStamp": stamp})
    payload = signed_payload(body["response"])
    assert list(payload) == ["status", "digitalId", "deviceCode", "env", "timeStamp"]
    assert payload["timeStamp"] == stamp
    assert "=" not in payload["digitalId"]
    sent = json.loads(base64.urlsafe_b64decode(payload["digitalId"] + "=="))
    assert sent["serialNo"] == "SN-echo" and sent["deviceProviderId"] == world.provider_id
    assert sent["type"] == "Fingerprint" and sent["deviceSubType"] == "Single"


# ---------------------------------------------------------------- deviceData encodings


async def test_device_data_in_standard_base64(world: World) -> None:
    def standard(data: Any) -> str:
        text = encoded(data)
        assert "/" in text and text.endswith("==")
        return text

    body = await world.register(info={"firmware": AWKWARD_FIRMWARE}, encode=standard)
    assert is_uuid(await registered_code(body))


async def test_device_data_in_url_safe_base64(world: World) -> None:
    def urlsafe(data: Any) -> str:
        text = encoded(data, urlsafe=True)
        assert "_" in text and "/" not in text and text.endswith("==")
        return text

    body = await world.register(info={"firmware": AWKWARD_FIRMWARE}, encode=urlsafe)
    assert is_uuid(await registered_code(body))


async def test_device_data_unpadded(world: World) -> None:
    def unpadded(data: Any) -> str:
        text = encoded(data, padded=False)
        assert "=" not in text and len(text) % 4 == 2
        return text

    def urlsafe_unpadded(data: Any) -> str:
        text = encoded(data, urlsafe=True, padded=False)
        assert "=" not in text and "_" in text
        return text

    first = await world.register(info={"firmware": AWKWARD_FIRMWARE}, encode=unpadded)
    assert is_uuid(await registered_code(first))
    second = await world.register(
        serial="SN-2", info={"firmware": AWKWARD_FIRMWARE}, encode=urlsafe_unpadded
    )
    assert is_uuid(await registered_code(second))


async def test_device_data_as_the_middle_part_of_a_jws(world: World, runtime: Runtime) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').decode().rstrip("=")

    def jws(data: Any) -> str:
        return f"{header}.{encoded(data, urlsafe=True, padded=False)}.c2lnbmF0dXJl"

    body = await world.register(info={"firmware": AWKWARD_FIRMWARE}, encode=jws)
    row = await device_row(runtime, await registered_code(body))
    assert row is not None and row.firmware == AWKWARD_FIRMWARE


async def test_nested_members_may_be_objects_or_base64(world: World, runtime: Runtime) -> None:
    # deviceInfo as base64 of its JSON, digitalId as a plain object.
    def nested(data: Any) -> str:
        info = dict(data["deviceInfo"])
        info["digitalId"] = json.loads(base64.b64decode(info["digitalId"]))
        return doc.b64({**data, "deviceInfo": doc.b64(info)})

    body = await world.register(encode=nested)
    row = await device_row(runtime, await registered_code(body))
    assert row is not None and row.serial_number == "1801160992"


async def test_device_data_that_is_not_base64_json(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    before = await counts(runtime, caller.tenant_id)
    expected = fmt("Invalid Format in field : deviceData")
    for bad in ("!!!not base64!!!", "", doc.b64("just a string")[:-4] + "@@@@"):
        body = await world.post("/registereddevices", {"request": {"deviceData": bad}})
        assert body["id"] == "io.mosip.masterdata.device.create"
        assert failed(body) == expected, bad
    not_json = base64.b64encode(b"not json at all").decode()
    body = await world.post("/registereddevices", {"request": {"deviceData": not_json}})
    assert failed(body) == expected
    a_list = doc.b64([1, 2, 3])
    assert failed(await world.post("/registereddevices", {"request": {"deviceData": a_list}})) == (
        expected
    )
    assert failed(await world.post("/registereddevices", {"request": {}})) == expected
    assert await counts(runtime, caller.tenant_id) == before


async def test_digital_id_that_is_not_base64_json(world: World) -> None:
    body = await world.register(info={"digitalId": "%%%"})
    assert failed(body) == fmt("Invalid Format in field : digitalId")


# ---------------------------------------------------------------- purpose and certification


async def test_purpose_is_matched_in_any_case(world: World, runtime: Runtime) -> None:
    for serial, purpose in (("SN-a", "auth"), ("SN-b", "Auth"), ("SN-c", "AUTH")):
        code = await registered_code(await world.register(serial=serial, purpose=purpose))
        row = await device_row(runtime, code)
        assert row is not None and row.purpose == "AUTH"


async def test_invalid_purpose(world: World, caller: Caller, runtime: Runtime) -> None:
    before = await counts(runtime, caller.tenant_id)
    for purpose in ("PAYMENT", "", "AUTHX"):
        body = await world.register(purpose=purpose)
        assert failed(body) == fmt("Invalid Purpose received"), purpose
    absent = await world.register(encode=without("purpose"))
    assert failed(absent) == fmt("Invalid Purpose received")
    assert await counts(runtime, caller.tenant_id) == before


async def test_certification_level_is_exact(world: World) -> None:
    for level in ("L2", "l0", "L00", ""):
        body = await world.register(info={"certification": level})
        assert failed(body) == fmt("Invalid Certification level received"), level


async def test_l1_needs_a_trust_provider_id(world: World) -> None:
    for ftp_id in ("", "   "):
        body = await world.register(
            info={"certification": "L1"}, data={"foundationalTrustProviderId": ftp_id}
        )
        assert failed(body) == fmt(L1_NEEDS_TRUST)


async def test_absent_trust_provider_key_fails_at_any_level(world: World) -> None:
    # MOSIP's @ValidFoundational is false when the key is absent, whatever the level.
    for level in ("L0", "L1"):
        body = await world.register(
            info={"certification": level}, encode=without("foundationalTrustProviderId")
        )
        assert failed(body) == fmt(L1_NEEDS_TRUST), level


async def test_l0_with_an_empty_trust_provider_id(world: World, runtime: Runtime) -> None:
    body = await world.register(data={"foundationalTrustProviderId": ""})
    row = await device_row(runtime, await registered_code(body))
    assert row is not None and (row.certification, row.trust_provider_id) == ("L0", None)


async def test_l1_with_an_unknown_or_inactive_trust_provider(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    unknown = "83cdb6ea-6e62-11ea-bc55-0242ac130003"  # the page's FTP id
    inactive = await ftp(world, isActive=False)
    before = await counts(runtime, caller.tenant_id)
    body = await world.register(info={"certification": "L1"})
    assert failed(body) == [
        ("ADM-DPM-030", f"Foundational Trust Provider {unknown} does not exist")
    ]
    body = await world.register(
        info={"certification": "L1"}, data={"foundationalTrustProviderId": inactive}
    )
    assert failed(body) == [
        ("ADM-DPM-030", f"Foundational Trust Provider {inactive} does not exist")
    ]
    assert await counts(runtime, caller.tenant_id) == before


async def test_l1_with_an_existing_trust_provider(world: World, runtime: Runtime) -> None:
    ftp_id = await ftp(world)
    body = await world.register(
        info={"certification": "L1"}, data={"foundationalTrustProviderId": ftp_id}
    )
    row = await device_row(runtime, await registered_code(body))
    assert row is not None and (row.certification, row.trust_provider_id) == ("L1", ftp_id)


async def test_l1_with_another_tenants_trust_provider(
    world: World, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other = await new_caller(runtime)
    foreign = await ftp(World(client, other.headers))
    body = await world.register(
        info={"certification": "L1"}, data={"foundationalTrustProviderId": foreign}
    )
    assert failed(body) == [
        ("ADM-DPM-030", f"Foundational Trust Provider {foreign} does not exist")
    ]


# ---------------------------------------------------------------- field checks


async def test_subtype_under_either_spelling(world: World, runtime: Runtime) -> None:
    page = await world.register(
        serial="SN-page", digital={"deviceSubType": None, "subType": "Single"}
    )
    row = await device_row(runtime, await registered_code(page))
    assert row is not None and row.subtype_code == "Single"
    real = await world.register(serial="SN-real", digital={"deviceSubType": "Single"})
    row = await device_row(runtime, await registered_code(real))
    assert row is not None and row.subtype_code == "Single"


async def test_device_data_field_checks(world: World) -> None:
    body = await world.register(data={"deviceId": None, "purpose": "nope"})
    assert failed(body) == [
        ("KER-MSD-999", "deviceId must not be null"),
        ("KER-MSD-999", "Invalid Purpose received"),
    ]
    long_id = await world.register(data={"deviceId": "d" * 37})
    assert failed(long_id) == fmt("deviceId size must be between 1 and 36")


async def test_device_info_field_checks(world: World) -> None:
    body = await world.register(info={"certification": "L9", "firmware": None})
    assert failed(body) == [
        ("KER-MSD-999", "Invalid Certification level received"),
        ("KER-MSD-999", "deviceInfo.firmware must not be null"),
    ]
    no_digital_id = await world.register(info={"digitalId": None})
    assert failed(no_digital_id) == fmt("deviceInfo.digitalId must not be null")
    long_firmware = await world.register(info={"firmware": "f" * 129})
    assert failed(long_firmware) == fmt("deviceInfo.firmware size must be between 1 and 128")


async def test_digital_id_field_checks(world: World) -> None:
    body = await world.register(
        digital={"serialNo": None, "deviceProvider": None, "type": "t" * 37}
    )
    assert failed(body) == [
        ("KER-MSD-999", "digitalId.serialNo must not be null"),
        ("KER-MSD-999", "digitalId.deviceProvider must not be null"),
        ("KER-MSD-999", "digitalId.type size must be between 1 and 36"),
    ]
    no_subtype = await world.register(digital={"deviceSubType": None})
    assert failed(no_subtype) == fmt("digitalId.deviceSubType must not be null")
    long_serial = await world.register(serial="s" * 65)
    assert failed(long_serial) == fmt("digitalId.serialNo size must be between 1 and 64")


async def test_timestamp_missing_or_unreadable(world: World) -> None:
    missing = await world.register(info={"timeStamp": None})
    assert failed(missing) == fmt("deviceInfo.timeStamp must not be null")
    unreadable = await world.register(info={"timeStamp": "16/02/2020 12:50"})
    assert failed(unreadable) == fmt("Invalid Format in field : deviceInfo.timeStamp")


# ---------------------------------------------------------------- timestamp window


async def test_timestamp_window_default(world: World, caller: Caller, runtime: Runtime) -> None:
    before = await counts(runtime, caller.tenant_id)
    ahead = await world.register(info={"timeStamp": doc.now_text(6 * 60)})
    assert failed(ahead) == WINDOW_5
    behind = await world.register(info={"timeStamp": doc.now_text(-3 * 60)})
    assert failed(behind) == WINDOW_5
    assert await counts(runtime, caller.tenant_id) == before
    for serial, offset in (("SN-ahead", 4 * 60), ("SN-behind", -60)):
        body = await world.register(serial=serial, info={"timeStamp": doc.now_text(offset)})
        assert is_uuid(await registered_code(body))


async def test_timestamp_window_is_checked_after_device_data_and_before_device_info(
    world: World,
) -> None:
    late = doc.now_text(10 * 60)
    purpose_first = await world.register(purpose="nope", info={"timeStamp": late})
    assert failed(purpose_first) == fmt("Invalid Purpose received")
    window_first = await world.register(info={"timeStamp": late, "certification": "L7"})
    assert failed(window_first) == WINDOW_5


async def test_timestamp_window_is_configurable(store: Store) -> None:
    async def with_window(setting: str) -> tuple[Runtime, httpx.AsyncClient]:
        rt = Runtime.build(make_settings(store, mosip_register_timestamp_window=setting))
        app = create_app(rt.settings, rt)
        transport = httpx.ASGITransport(app=app)
        return rt, httpx.AsyncClient(transport=transport, base_url="http://fleetkey.test")

    rt, client = await with_window("+10")
    try:
        caller = await new_caller(rt)
        w = await build_world(client, caller.headers)
        await registered_code(await w.register(info={"timeStamp": doc.now_text(7 * 60)}))
        too_far = await w.register(serial="SN-11", info={"timeStamp": doc.now_text(11 * 60)})
        assert failed(too_far) == [
            ("MSD-RDS-001", "Time Stamp input is 10 min after the current timestamp")
        ]
        # The past tolerance is its own setting (2 minutes, as MOSIP hard-codes).
        old = await w.register(serial="SN-old", info={"timeStamp": doc.now_text(-3 * 60)})
        assert failed(old) == [
            ("MSD-RDS-001", "Time Stamp input is 10 min after the current timestamp")
        ]
    finally:
        await client.aclose()
        await rt.db.dispose()

    # MOSIP's "-N": the timestamp must be at least N minutes old.
    rt, client = await with_window("-1")
    try:
        caller = await new_caller(rt)
        w = await build_world(client, caller.headers)
        await registered_code(await w.register(info={"timeStamp": doc.now_text(-90)}))
        fresh = await w.register(serial="SN-fresh")
        assert failed(fresh) == [
            ("MSD-RDS-001", "Time Stamp input is 1 min before the current timestamp")
        ]
    finally:
        await client.aclose()
        await rt.db.dispose()


# ---------------------------------------------------------------- provider and catalog


async def test_provider_id_and_name_must_match_an_active_provider(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    other = await add_provider(world)  # "Other Vendor"
    before = await counts(runtime, caller.tenant_id)
    wrong_name = await world.register(digital={"deviceProvider": "Other Vendor"})
    assert failed(wrong_name) == [PROVIDER_MISMATCH]
    wrong_id = await world.register(digital={"deviceProviderId": "SYNCBYTE.MC01A"})
    assert failed(wrong_id) == [PROVIDER_MISMATCH]
    # Both exist, but not as one provider.
    crossed = await world.register(digital={"deviceProviderId": other})
    assert failed(crossed) == [PROVIDER_MISMATCH]
    assert await counts(runtime, caller.tenant_id) == before
    await set_provider_active(world, world.provider_id, False)
    before = await counts(runtime, caller.tenant_id)
    inactive = await world.register()
    assert failed(inactive) == [PROVIDER_MISMATCH]
    assert await counts(runtime, caller.tenant_id) == before


async def test_unknown_device_type(world: World) -> None:
    body = await world.register(digital={"type": "Scanner"})
    assert failed(body) == [("ADM-DPM-026", "Scanner Device Type does not exist")]


async def test_unknown_device_subtype(world: World) -> None:
    body = await world.register(digital={"deviceSubType": "Double"})
    assert failed(body) == [("ADM-DPM-027", "Double Device Sub-Type does not exist")]
    # Subtypes belong to their type: an iris subtype is not a finger subtype.
    crossed = await world.register(digital={"deviceSubType": "SingleIris"})
    assert failed(crossed) == [("ADM-DPM-027", "SingleIris Device Sub-Type does not exist")]


async def test_provider_is_checked_before_the_catalog(world: World) -> None:
    body = await world.register(digital={"deviceProvider": "Nobody", "type": "Scanner"})
    assert failed(body) == [PROVIDER_MISMATCH]
    type_first = await world.register(digital={"type": "Scanner", "deviceSubType": "Double"})
    assert failed(type_first) == [("ADM-DPM-026", "Scanner Device Type does not exist")]


# ---------------------------------------------------------------- serial and white list


async def test_same_serial_and_provider_twice(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    await registered_code(await world.register())
    before = await counts(runtime, caller.tenant_id)
    again = await world.register(purpose="Auth")
    assert failed(again) == [DUPLICATE_SERIAL]
    assert await counts(runtime, caller.tenant_id) == before
    # The same serial under another provider is another device.
    other = await add_provider(world, "Test Vendor", "Second Address")
    body = await world.post("/registereddevices", doc.registration(other))
    assert is_uuid(await registered_code(body))


async def test_a_revoked_device_still_holds_its_serial(world: World) -> None:
    code = await registered_code(await world.register())
    await world.put(
        "/registereddevices/update/status", params={"deviceCode": code, "statusCode": "Revoked"}
    )
    assert failed(await world.register()) == [DUPLICATE_SERIAL]


async def test_after_deregistration_the_serial_registers_again(
    world: World, runtime: Runtime
) -> None:
    first = await registered_code(await world.register())
    gone = await world.delete(f"/registereddevices/deregister/{first}")
    assert gone["errors"] is None
    second = await registered_code(await world.register())
    assert second != first and is_uuid(second)
    old, new = await device_row(runtime, first), await device_row(runtime, second)
    assert old is not None and new is not None
    assert (old.status, new.status) == ("Retired", "Registered")


async def test_registration_purpose_needs_a_white_listed_serial(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    before = await counts(runtime, caller.tenant_id)
    body = await world.register(purpose="REGISTRATION")
    assert failed(body) == [
        ("ADM-DPM-042", "1801160992 Cannot register device as it is not a white-listed device")
    ]
    assert await counts(runtime, caller.tenant_id) == before


async def test_white_listed_serial_takes_the_entry_id_as_device_code(
    world: World, caller: Caller, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    entry = await whitelist(client, caller.headers, "1801160992")
    body = await world.register(purpose="registration")
    code = await registered_code(body)
    assert code == entry
    row = await device_row(runtime, code)
    assert row is not None and (row.purpose, row.status) == ("REGISTRATION", "Registered")
    [history] = await history_rows(runtime, caller.tenant_id, "registered_device", code)
    [event] = await audit_rows(runtime, caller.tenant_id, "registered_device", code)
    assert (history.lookup_key, history.data) == ("1801160992", row.snapshot())
    assert (event.action, event.changes) == ("register", {"after": row.snapshot()})
    # A second registration of the same serial and provider is a duplicate, not a new code.
    assert failed(await world.register(purpose="Registration")) == [DUPLICATE_SERIAL]


async def test_white_listed_device_comes_back_with_its_code_after_retirement(
    world: World, caller: Caller, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    entry = await whitelist(client, caller.headers, "1801160992")
    assert await registered_code(await world.register(purpose="REGISTRATION")) == entry
    await world.delete(f"/registereddevices/deregister/{entry}")
    assert await registered_code(await world.register(purpose="REGISTRATION")) == entry
    row = await device_row(runtime, entry)
    assert row is not None and (row.status, row.version) == ("Registered", 3)
    rows = await history_rows(runtime, caller.tenant_id, "registered_device", entry)
    assert [r.data["status"] for r in rows] == ["Registered", "Retired", "Registered"]


async def test_white_list_is_not_consulted_for_auth(
    world: World, caller: Caller, client: httpx.AsyncClient
) -> None:
    entry = await whitelist(client, caller.headers, "1801160992")
    code = await registered_code(await world.register(purpose="AUTH"))
    assert is_uuid(code) and code != entry


# ---------------------------------------------------------------- nothing written on failure


async def test_failed_registrations_write_nothing(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    await registered_code(await world.register(serial="SN-taken"))
    before = await counts(runtime, caller.tenant_id)
    attempts: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        (dict(purpose="nope"), fmt("Invalid Purpose received")),
        (dict(info={"timeStamp": doc.now_text(600)}), WINDOW_5),
        (dict(info={"certification": "L3"}), fmt("Invalid Certification level received")),
        (dict(digital={"deviceProvider": "Nobody"}), [PROVIDER_MISMATCH]),
        (
            dict(digital={"type": "Scanner"}),
            [("ADM-DPM-026", "Scanner Device Type does not exist")],
        ),
        (
            dict(digital={"deviceSubType": "Double"}),
            [("ADM-DPM-027", "Double Device Sub-Type does not exist")],
        ),
        (dict(serial="SN-taken"), [DUPLICATE_SERIAL]),
        (
            dict(serial="SN-new", purpose="REGISTRATION"),
            [("ADM-DPM-042", "SN-new Cannot register device as it is not a white-listed device")],
        ),
        (
            dict(info={"certification": "L1"}),
            [
                (
                    "ADM-DPM-030",
                    "Foundational Trust Provider 83cdb6ea-6e62-11ea-bc55-0242ac130003 "
                    "does not exist",
                )
            ],
        ),
    ]
    for kwargs, expected in attempts:
        assert failed(await world.register(**kwargs)) == expected, kwargs
    assert await counts(runtime, caller.tenant_id) == before


async def test_registration_history_time_is_the_row_creation_time(
    world: World, caller: Caller, runtime: Runtime
) -> None:
    code = await registered_code(await world.register())
    row = await device_row(runtime, code)
    assert row is not None
    [event] = await audit_rows(runtime, caller.tenant_id, "registered_device", code)
    assert iso_millis(event.occurred_at) == iso_millis(row.created_at)
