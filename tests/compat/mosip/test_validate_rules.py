"""POST /deviceprovidermanagement/validate: live rules, as-of rules, request checks."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.compat.mosip import doc
from tests.compat.mosip.support import (
    VALID_HISTORY,
    VALID_LIVE,
    add_provider,
    failed,
    fmt,
    set_provider_active,
    set_status,
    update_software,
)
from tests.compat.mosip.world import World

NOT_FOUND = [("ADM-DPM-001", "Device is marked Inactive or not found")]
REVOKED = [("ADM-DPM-002", "Device is revoked/retired")]
PROVIDER_MISSING = [("ADM-DPM-003", "Device Provider does not exist")]
PROVIDER_INACTIVE = [("ADM-DPM-004", "Device Provider is marked Inactive or not found")]
VERSION_UNKNOWN = [("ADM-DPM-005", "deviceServiceVersion not found")]
SOFTWARE_MISMATCH = [("ADM-DPM-007", "Software version does not match against the Device Details")]
STEP = 0.03


def mismatch(*fields: str) -> list[tuple[str, str]]:
    return [("ADM-DPM-008", f"Device code does not match against - {f}") for f in fields]


async def moment() -> str:
    """A wire time strictly between what was written before and what is written after."""
    await asyncio.sleep(STEP)
    at = doc.now_text()
    await asyncio.sleep(STEP)
    return at


async def validate(w: World, code: str, **request: Any) -> dict[str, Any]:
    """The page's request for ``code``, with members of ``request`` replaced (None removes)."""
    body = doc.validation(code, w.provider_id)
    for key, value in request.items():
        if value is None:
            body["request"].pop(key, None)
        else:
            body["request"][key] = value
    return await w.post("/deviceprovidermanagement/validate", body)


# ---------------------------------------------------------------- live


async def test_valid_device(world: World) -> None:
    code = await world.register_ok()
    body = await world.validate(code)
    assert (body["id"], body["version"]) == ("io.mosip.masterdata.device.validate", "1.0")
    assert body["metadata"] == {} and body["errors"] is None
    assert body["response"] == VALID_LIVE


async def test_both_type_spellings_match(world: World) -> None:
    code = await world.register_ok()
    assert (await world.validate(code, type="Finger"))["response"] == VALID_LIVE
    assert (await world.validate(code, type="Fingerprint"))["response"] == VALID_LIVE
    assert (await world.validate(code, subType="Single", deviceSubType=None))[
        "response"
    ] == VALID_LIVE


async def test_unknown_device(world: World) -> None:
    body = await world.validate("no-such-device")
    assert body["id"] == "io.mosip.masterdata.device.validate"
    assert failed(body) == NOT_FOUND


async def test_purpose_must_match_in_any_case(world: World) -> None:
    code = await world.register_ok()
    assert failed(await validate(world, code, purpose="REGISTRATION")) == NOT_FOUND
    assert (await validate(world, code, purpose="auth"))["response"] == VALID_LIVE
    assert (await validate(world, code, purpose=None))["response"] == VALID_LIVE
    assert (await validate(world, code, purpose=""))["response"] == VALID_LIVE


async def test_revoked_or_retired_device(world: World) -> None:
    code = await world.register_ok()
    await set_status(world, code, "Revoked")
    assert failed(await world.validate(code)) == REVOKED
    retired = await world.register_ok(serial="SN-retired")
    await world.delete(f"/registereddevices/deregister/{retired}")
    assert failed(await world.validate(retired, serialNo="SN-retired")) == REVOKED


async def test_provider_inactive_or_unknown(world: World) -> None:
    code = await world.register_ok()
    assert failed(await world.validate(code, dpId="no-such-provider")) == PROVIDER_INACTIVE
    await set_provider_active(world, world.provider_id, False)
    assert failed(await world.validate(code)) == PROVIDER_INACTIVE


async def test_unknown_or_inactive_software_version(world: World) -> None:
    code = await world.register_ok()
    assert failed(await validate(world, code, deviceServiceVersion="NoSuchVersion")) == (
        VERSION_UNKNOWN
    )
    await update_software(world, isActive=False)
    assert failed(await world.validate(code)) == VERSION_UNKNOWN


async def test_software_exists_but_for_another_make(world: World) -> None:
    code = await world.register_ok()
    other = await world.post(
        "/mosipdeviceservice",
        doc.with_request(
            doc.MDS_CREATE, deviceProviderId=world.provider_id, swVersion="v2", make="OTHER"
        ),
    )
    assert other["errors"] is None
    assert failed(await validate(world, code, deviceServiceVersion="v2")) == SOFTWARE_MISMATCH
    # And when the device's own release changes make, the old version no longer fits.
    await update_software(world, model="OTHER-MODEL")
    assert failed(await world.validate(code)) == SOFTWARE_MISMATCH


async def test_two_mismatches_are_reported_together(world: World) -> None:
    code = await world.register_ok()
    body = await world.validate(code, make="MC02B", serialNo="999")
    assert failed(body) == mismatch("make", "serialNo")


async def test_every_mismatch_in_order(world: World) -> None:
    code = await world.register_ok()
    other = await add_provider(world)
    body = await world.validate(
        code,
        make="X",
        model="Y",
        dpId=other,
        dp="Other Vendor",
        serialNo="Z",
        type="Iris",
        deviceSubType="DoubleIris",
    )
    assert failed(body) == mismatch("make", "model", "dpId", "dp", "serialNo", "type", "subType")


async def test_comparison_is_case_sensitive(world: World) -> None:
    code = await world.register_ok()
    assert failed(await world.validate(code, make="mc01a", dp="test vendor")) == mismatch(
        "make", "dp"
    )


async def test_rules_apply_in_order(world: World) -> None:
    code = await world.register_ok()
    # 001 before anything else
    assert (
        failed(await validate(world, code, purpose="REGISTRATION", deviceServiceVersion="nope"))
        == NOT_FOUND
    )
    # 004 before 005
    unknown_provider = doc.validation(code, "no-such-provider")["request"]["digitalId"]
    assert (
        failed(await validate(world, code, deviceServiceVersion="nope", digitalId=unknown_provider))
        == PROVIDER_INACTIVE
    )
    # 005 before 008
    wrong_make = doc.validation(code, world.provider_id, make="X")["request"]["digitalId"]
    assert (
        failed(await validate(world, code, deviceServiceVersion="nope", digitalId=wrong_make))
        == VERSION_UNKNOWN
    )
    # 007 before 008
    await world.post(
        "/mosipdeviceservice",
        doc.with_request(
            doc.MDS_CREATE, deviceProviderId=world.provider_id, swVersion="v2", make="OTHER"
        ),
    )
    assert (
        failed(await validate(world, code, deviceServiceVersion="v2", digitalId=wrong_make))
        == SOFTWARE_MISMATCH
    )
    # 002 before 004
    await set_status(world, code, "Revoked")
    assert failed(await world.validate(code, dpId="no-such-provider")) == REVOKED


# ---------------------------------------------------------------- request checks


async def test_missing_device_code(world: World) -> None:
    assert failed(await validate(world, "x", deviceCode=None)) == fmt(
        "request.deviceCode: must not be blank"
    )
    assert failed(await validate(world, "x", deviceCode="  ")) == fmt(
        "request.deviceCode: must not be blank"
    )


async def test_missing_members_are_reported_together(world: World) -> None:
    body = await validate(world, "x", deviceCode=None, deviceServiceVersion=None, digitalId=None)
    assert failed(body) == [
        ("KER-MSD-999", "request.deviceCode: must not be blank"),
        ("KER-MSD-999", "request.deviceServiceVersion: must not be blank"),
        ("KER-MSD-999", "request.digitalId: must not be null"),
    ]
    empty_digital = await validate(world, "x", digitalId={})
    assert failed(empty_digital) == [
        ("KER-MSD-999", f"request.digitalId.{name}: must not be blank")
        for name in ("serialNo", "dp", "dpId", "make", "model", "type", "deviceSubType")
    ]


async def test_missing_request(world: World) -> None:
    body = await world.post("/deviceprovidermanagement/validate", {"id": "v", "version": "1.0"})
    assert body["id"] == "v"
    assert failed(body) == fmt("request: must not be null")


async def test_unreadable_timestamp(world: World) -> None:
    code = await world.register_ok()
    body = await world.validate(code, at="yesterday")
    assert failed(body) == [
        (
            "KER-MSD-039",
            "Text 'yesterday' could not be parsed format should be yyyy-mm-ddThh:mm:ss format",
        )
    ]


async def test_timestamp_under_either_key(world: World) -> None:
    code = await world.register_ok()
    await asyncio.sleep(STEP)
    at = doc.now_text()
    assert (await world.validate(code, at=at))["response"] == VALID_HISTORY
    camel = await validate(world, code, timeStamp=at)
    assert camel["response"] == VALID_HISTORY
    # A blank timestamp means "now, live".
    assert (await validate(world, code, timeStamp=""))["response"] == VALID_LIVE


# ---------------------------------------------------------------- as of a past instant


async def test_revoked_device_was_valid_before_the_revocation(world: World) -> None:
    before_device = await moment()
    code = await world.register_ok()
    before_revocation = await moment()
    await set_status(world, code, "Revoked")
    after_revocation = await moment()

    assert failed(await world.validate(code, at=before_device)) == NOT_FOUND
    assert (await world.validate(code, at=before_revocation))["response"] == VALID_HISTORY
    assert failed(await world.validate(code, at=after_revocation)) == REVOKED
    assert failed(await world.validate(code)) == REVOKED


async def test_deregistered_device_was_valid_before(world: World) -> None:
    code = await world.register_ok()
    before = await moment()
    await world.delete(f"/registereddevices/deregister/{code}")
    assert (await world.validate(code, at=before))["response"] == VALID_HISTORY
    assert failed(await world.validate(code, at=doc.now_text())) == REVOKED


async def test_purpose_mismatch_as_of(world: World) -> None:
    code = await world.register_ok()
    at = await moment()
    assert failed(await validate(world, code, timestamp=at, purpose="Registration")) == NOT_FOUND
    assert (await validate(world, code, timestamp=at, purpose="aUtH"))["response"] == (
        VALID_HISTORY
    )


async def test_provider_absent_at_that_time(world: World) -> None:
    code = await world.register_ok()
    before_other = await moment()
    other = await add_provider(world)
    after_other = await moment()
    assert failed(await world.validate(code, dpId=other, at=before_other)) == PROVIDER_MISSING
    assert failed(await world.validate(code, dpId=other, at=after_other)) == mismatch("dpId")
    assert failed(await world.validate(code, dpId="no-such-provider", at=after_other)) == (
        PROVIDER_MISSING
    )


async def test_provider_deactivated_later(world: World) -> None:
    code = await world.register_ok()
    while_active = await moment()
    await set_provider_active(world, world.provider_id, False)
    assert (await world.validate(code, at=while_active))["response"] == VALID_HISTORY
    assert failed(await world.validate(code, at=doc.now_text())) == PROVIDER_MISSING
    assert failed(await world.validate(code)) == PROVIDER_INACTIVE


async def test_software_as_it_was(world: World) -> None:
    code = await world.register_ok()
    before_change = await moment()
    await update_software(world, make="OTHER")
    after_change = await moment()
    assert (await world.validate(code, at=before_change))["response"] == VALID_HISTORY
    assert failed(await world.validate(code, at=after_change)) == SOFTWARE_MISMATCH
    assert failed(await world.validate(code)) == SOFTWARE_MISMATCH


async def test_software_renamed_later_still_matches_under_its_old_version(world: World) -> None:
    code = await world.register_ok()
    before_rename = await moment()
    await update_software(world, swVersion="TestSwVersion2")
    after_rename = await moment()
    assert (await world.validate(code, at=before_rename))["response"] == VALID_HISTORY
    # As of now the old version names no release: the as-of path reports 007, not 005.
    assert failed(await world.validate(code, at=after_rename)) == SOFTWARE_MISMATCH
    assert failed(await world.validate(code)) == VERSION_UNKNOWN
    renamed = await validate(world, code, deviceServiceVersion="TestSwVersion2")
    assert renamed["response"] == VALID_LIVE
    assert (
        failed(
            await validate(
                world, code, deviceServiceVersion="TestSwVersion2", timestamp=before_rename
            )
        )
        == SOFTWARE_MISMATCH
    )


async def test_software_deactivated_later(world: World) -> None:
    code = await world.register_ok()
    while_active = await moment()
    await update_software(world, isActive=False)
    assert (await world.validate(code, at=while_active))["response"] == VALID_HISTORY
    assert failed(await world.validate(code, at=doc.now_text())) == SOFTWARE_MISMATCH


async def test_a_release_made_later_does_not_count_as_of_before(world: World) -> None:
    code = await world.register_ok()
    before_release = await moment()
    created = await world.post(
        "/mosipdeviceservice",
        doc.with_request(doc.MDS_CREATE, deviceProviderId=world.provider_id, swVersion="v9"),
    )
    assert created["errors"] is None, created
    after_release = await moment()
    later = {"deviceServiceVersion": "v9"}
    assert failed(await validate(world, code, timestamp=before_release, **later)) == (
        SOFTWARE_MISMATCH
    )
    assert (await validate(world, code, timestamp=after_release, **later))["response"] == (
        VALID_HISTORY
    )


async def test_both_type_spellings_match_as_of(world: World) -> None:
    code = await world.register_ok()
    at = await moment()
    for spelling in ("Finger", "Fingerprint"):
        assert (await world.validate(code, type=spelling, at=at))["response"] == VALID_HISTORY
    assert failed(await world.validate(code, type="Face", at=at)) == mismatch("type")


async def test_unknown_version_as_of_is_a_software_mismatch(world: World) -> None:
    code = await world.register_ok()
    at = await moment()
    body = await validate(world, code, timestamp=at, deviceServiceVersion="NoSuchVersion")
    assert failed(body) == SOFTWARE_MISMATCH


async def test_mismatches_as_of_are_reported_together(world: World) -> None:
    code = await world.register_ok()
    at = await moment()
    assert failed(await world.validate(code, at=at, model="M2", type="Face")) == mismatch(
        "model", "type"
    )


async def test_device_as_it_was_is_compared(world: World) -> None:
    """The old device code stays valid for instants before its retirement."""
    code = await world.register_ok()
    at = await moment()
    await world.delete(f"/registereddevices/deregister/{code}")
    new_code = await world.register_ok()
    assert new_code != code
    assert (await world.validate(code, at=at))["response"] == VALID_HISTORY
    assert (await world.validate(new_code))["response"] == VALID_LIVE
    assert failed(await world.validate(new_code, at=at)) == NOT_FOUND
