"""``/model/oAuthDevice/putDb``: create, update, enumerations, enrolment secrets, masking,
the default notification device and device numbers used as logins."""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from fleetkey.authenticators import otp
from fleetkey.authenticators.models import AuthDevice
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.compat.abs.support import (
    SCHEMA_FIELDS,
    VERIFY,
    Bank,
    assert_error,
    code_for,
    error_answer,
    fresh_step,
    new_bank,
    qr_shows,
)
from tests.conftest import new_caller

ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TYPES_ERROR = (
    "[ERROR-VALIDATION : device_type: must be one of 0=email, 1=http, 2=mobile_application, "
    "3=phone, 4=stomp, 5=totp]"
)
STATUS_ERROR = (
    "[ERROR-VALIDATION : device_status: must be one of 0=active, 1=blocked, 2=deactivated]"
)
RFC_SEED_B32 = otp.b32(b"12345678901234567890")


async def _row(runtime: Runtime, device_id: int) -> AuthDevice:
    async with runtime.db.unit_of_work(write=False) as session:
        row = await session.get(AuthDevice, device_id)
        assert row is not None
        return row


# ------------------------------------------------------------------ create


async def test_create_echoes_every_schema_field(bank: Bank) -> None:
    before = time.time()
    answer = await bank.put(
        {
            "client_code": "C001",
            "device_type": 0,
            "device_number": "john.doe@example.com",
            "description": "work mail",
            "operation_system": "iOS 17",
            "action": "register",
            "form_title": "Notification devices",
            "default_for_notifications": 1,
            "use_device_as_login": 0,
            # Server-set fields: whatever a caller sends, the server decides.
            "create_user": "mallory",
            "create_date": "2000-01-01T00:00:00Z",
            "modify_user": "mallory",
            "version": 7,
            "state": 9,
            "device_number_masked": "shown as sent",
        }
    )
    assert answer["status"] == "success"
    assert answer["error_description"] == ""
    assert answer["error"] == {}
    assert answer["data_type"] == "oAuthDevice"
    assert answer["total_records"] == 1
    data = answer["data"]
    assert set(data) == SCHEMA_FIELDS
    assert isinstance(data["id"], int) and data["id"] > 0
    assert str(uuid.UUID(data["uid"])) == data["uid"]
    assert ISO_MILLIS.match(data["create_date"]), data["create_date"]
    created = data["create_date"]
    assert before - 1 <= _epoch(created) <= time.time() + 1
    assert data == {
        "id": data["id"],
        "uid": data["uid"],
        "client_code": "C001",
        "device_type": "email",
        "device_status": "active",
        "device_number": "john.doe@example.com",
        "device_number_masked": "j***@example.com",
        "description": "work mail",
        "operation_system": "iOS 17",
        "action": "register",
        "form_title": "Notification devices",
        "default_for_notifications": 1,
        "use_device_as_login": 0,
        "create_date": created,
        "create_user": f"app:{bank.app_id}",
        "modify_date": created,
        "modify_user": f"app:{bank.app_id}",
        "state": 0,
        "version": 1,
        "Base64QrCodePng": None,
        "private_key": None,
    }
    # What getDb shows is what the create answered.
    assert await bank.record(data["id"]) == data


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_each_create_gets_its_own_id_and_uid(bank: Bank) -> None:
    a = await bank.create(client_code="C001", device_type="totp")
    b = await bank.create(client_code="C001", device_type="totp")
    assert a["id"] != b["id"]
    assert a["uid"] != b["uid"]
    assert a["private_key"] != b["private_key"]


async def test_an_empty_id_or_uid_is_a_create(bank: Bank) -> None:
    for ident in ({"id": 0}, {"id": ""}, {"id": None}, {"uid": ""}, {"id": "", "uid": None}):
        data = await bank.create(client_code="C001", device_type="totp", **ident)
        assert data["version"] == 1, ident
    assert (await bank.search(client_code="C001"))["total_records"] == 5


async def test_create_requires_client_code_type_and_number(bank: Bank) -> None:
    assert await bank.put({"device_type": "totp"}) == error_answer(
        "[ERROR-VALIDATION : client_code: must not be null]"
    )
    assert await bank.put({"client_code": "C001"}) == error_answer(
        "[ERROR-VALIDATION : device_type: must not be null]"
    )
    # email, phone, http and stomp devices need their number; totp and the app do not.
    for kind in ("email", "http", "phone", "stomp"):
        assert await bank.put({"client_code": "C001", "device_type": kind}) == error_answer(
            "[ERROR-VALIDATION : device_number: must not be null]"
        ), kind
    assert (await bank.create(client_code="C001", device_type="mobile_application"))[
        "device_number"
    ] is None
    assert await bank.put({"client_code": "", "device_type": "totp"}) == error_answer(
        "[ERROR-VALIDATION : client_code: size must be between 1 and 64]"
    )
    # Nothing was created by the refused calls.
    assert (await bank.search(client_code="C001"))["total_records"] == 1


async def test_a_body_that_is_not_a_json_object_is_refused(bank: Bank) -> None:
    assert_error(await bank.call("/model/oAuthDevice/putDb", raw=b"[1, 2]"), "[ERROR-VALIDATION")
    assert_error(await bank.call("/model/oAuthDevice/putDb", raw=b"{nope"), "[ERROR-VALIDATION")


# ------------------------------------------------------------------ enumerations


@pytest.mark.parametrize("given", [5, "5", "totp", "TOTP", " totp "])
async def test_device_type_by_code_or_name(bank: Bank, given: object) -> None:
    data = await bank.create(client_code="C001", device_type=given)
    assert data["device_type"] == "totp"
    assert (await bank.search(client_code="C001", device_type=5))["total_records"] == 1


@pytest.mark.parametrize(
    ("code", "name"),
    [(0, "email"), (1, "http"), (2, "mobile_application"), (3, "phone"), (4, "stomp"), (5, "totp")],
)
async def test_every_device_type(bank: Bank, code: int, name: str) -> None:
    number = {"email": "a@b.example", "http": "https://h.example/x"}.get(name, "+15550001111")
    by_code = await bank.create(client_code="C001", device_type=code, device_number=number)
    by_name = await bank.create(client_code="C001", device_type=name, device_number=number)
    assert by_code["device_type"] == by_name["device_type"] == name


@pytest.mark.parametrize(
    ("given", "expected"),
    [(0, "active"), (1, "blocked"), ("1", "blocked"), ("blocked", "blocked"), (2, "deactivated")],
)
async def test_device_status_by_code_or_name(bank: Bank, given: object, expected: str) -> None:
    data = await bank.create(client_code="C001", device_type="totp", device_status=given)
    assert data["device_status"] == expected
    assert (await bank.record(data["uid"]))["device_status"] == expected


@pytest.mark.parametrize("given", [6, "6", -1, "-1", "sms", 5.0, [5], {"code": 5}])
async def test_bad_device_type(bank: Bank, given: object) -> None:
    answer = await bank.put({"client_code": "C001", "device_type": given})
    assert answer == error_answer(TYPES_ERROR)
    assert (await bank.search())["total_records"] == 0


@pytest.mark.parametrize("given", [3, "lost", "active!"])
async def test_bad_device_status(bank: Bank, given: object) -> None:
    answer = await bank.put({"client_code": "C001", "device_type": 5, "device_status": given})
    assert answer == error_answer(STATUS_ERROR)


async def test_a_boolean_is_no_enumeration_code(bank: Bank) -> None:
    answer = await bank.put({"client_code": "C001", "device_type": True})
    assert answer == error_answer("[ERROR-VALIDATION : device_type: must be a code or a name]")
    answer = await bank.put({"client_code": "C001", "device_type": 5, "device_status": False})
    assert answer == error_answer("[ERROR-VALIDATION : device_status: must be a code or a name]")


@pytest.mark.parametrize(
    ("given", "expected"), [(1, 1), ("1", 1), (True, 1), ("true", 1), (0, 0), (False, 0)]
)
async def test_flags_accept_code_or_name(bank: Bank, given: object, expected: int) -> None:
    data = await bank.create(
        client_code="C001",
        device_type="email",
        device_number=f"{uuid.uuid4().hex[:8]}@example.com",
        default_for_notifications=given,
        use_device_as_login=given,
    )
    assert data["default_for_notifications"] == expected
    assert data["use_device_as_login"] == expected


async def test_bad_flag(bank: Bank) -> None:
    answer = await bank.put(
        {"client_code": "C001", "device_type": 5, "default_for_notifications": "yes"}
    )
    assert answer == error_answer(
        "[ERROR-VALIDATION : default_for_notifications: must be 0/1 or false/true]"
    )


# ------------------------------------------------------------------ update


async def test_update_by_id_and_by_uid_needs_the_current_version(bank: Bank) -> None:
    created = await bank.create(
        client_code="C001", device_type="phone", device_number="+447700900123", description="a"
    )
    ident, uid = created["id"], created["uid"]

    # Without a version: refused, nothing changes.
    assert await bank.put({"id": ident, "description": "b"}) == error_answer(
        "[ERROR-VALIDATION : version: an update must carry the version]"
    )
    assert await bank.put({"uid": uid, "description": "b"}) == error_answer(
        "[ERROR-VALIDATION : version: an update must carry the version]"
    )
    assert await bank.record(ident) == created

    by_id = await bank.put({"id": ident, "description": "b", "version": 1})
    assert by_id["status"] == "success", by_id
    assert by_id["total_records"] == 1
    data = by_id["data"]
    assert data["version"] == 2
    assert data["description"] == "b"
    # Fields not sent are kept; the creation stamp stays, the modification stamp moves.
    assert data["device_number"] == "+447700900123"
    assert data["client_code"] == "C001"
    assert data["create_date"] == created["create_date"]
    assert data["create_user"] == created["create_user"]
    assert data["modify_user"] == f"app:{bank.app_id}"
    assert _epoch(data["modify_date"]) >= _epoch(created["create_date"])
    assert data["id"] == ident and data["uid"] == uid

    by_uid = await bank.put({"uid": uid, "description": "c", "version": "2"})
    assert by_uid["status"] == "success", by_uid
    assert by_uid["data"]["version"] == 3
    assert by_uid["data"]["description"] == "c"

    # A stale version: refused with the version mismatch, by id and by uid.
    for body in ({"id": ident, "version": 2}, {"uid": uid, "version": 1}):
        answer = await bank.put({**body, "description": "stale"})
        assert_error(answer, "[ERROR-VERSION-MISMATCH ")
    assert (await bank.put({"id": ident, "version": 4, "description": "ahead"}))[
        "error_description"
    ].startswith("[ERROR-VERSION-MISMATCH ")
    current = await bank.record(uid)
    assert current["version"] == 3
    assert current["description"] == "c"


async def test_update_echoing_the_record_back(bank: Bank) -> None:
    """A client may send back the record it read, with its edits."""
    created = await bank.create(client_code="C001", device_type="totp")
    record = await bank.record(created["id"])
    answer = await bank.put({**record, "description": "edited"})
    assert answer["status"] == "success", answer
    assert answer["data"]["version"] == 2
    assert answer["data"]["description"] == "edited"
    assert answer["data"]["private_key"] is None
    assert answer["data"]["Base64QrCodePng"] is None


async def test_update_of_an_unknown_device(bank: Bank) -> None:
    for body in (
        {"id": 987654321, "version": 1, "description": "x"},
        {"uid": str(uuid.uuid4()), "version": 1, "description": "x"},
    ):
        assert await bank.put(body) == error_answer("[RECORD-NOT-FOUND]")


async def test_update_cannot_change_the_type_or_set_a_seed(bank: Bank) -> None:
    created = await bank.create(client_code="C001", device_type="totp")
    answer = await bank.put({"id": created["id"], "version": 1, "device_type": "email"})
    assert answer == error_answer(
        "[ERROR-VALIDATION : device_type: cannot change; create a device]"
    )
    answer = await bank.put({"id": created["id"], "version": 1, "private_key": RFC_SEED_B32})
    assert answer == error_answer("[ERROR-VALIDATION : private_key: is set only when created]")
    # The same type, by code or name, is no change.
    answer = await bank.put({"id": created["id"], "version": 1, "device_type": 5})
    assert answer["status"] == "success" and answer["data"]["version"] == 2


async def test_another_tenants_device_cannot_be_updated(
    bank: Bank, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    other = await new_bank(client, runtime)
    created = await other.create(client_code="C001", device_type="totp")
    for body in ({"id": created["id"]}, {"uid": created["uid"]}):
        answer = await bank.put({**body, "version": 1, "description": "hijack"})
        assert answer == error_answer("[RECORD-NOT-FOUND]")
    assert (await other.record(created["id"]))["description"] is None


async def test_deactivated_is_final(bank: Bank) -> None:
    created = await bank.create(client_code="C001", device_type="totp")
    answer = await bank.put({"id": created["id"], "version": 1, "device_status": "deactivated"})
    assert answer["data"]["device_status"] == "deactivated"
    for status in (0, "active", 1, "blocked"):
        answer = await bank.put({"id": created["id"], "version": 2, "device_status": status})
        assert_error(answer, "[ERROR-DEVICE-DEACTIVATED : ")
    record = await bank.record(created["id"])
    assert record["device_status"] == "deactivated"
    assert record["version"] == 2
    # Other fields may still be edited.
    answer = await bank.put({"id": created["id"], "version": 2, "description": "retired"})
    assert answer["data"]["device_status"] == "deactivated"


async def test_blocked_and_active_switch_both_ways(bank: Bank) -> None:
    created = await bank.create(client_code="C001", device_type="totp")
    answer = await bank.put({"id": created["id"], "version": 1, "device_status": 1})
    assert answer["data"]["device_status"] == "blocked"
    answer = await bank.put({"id": created["id"], "version": 2, "device_status": "active"})
    assert answer["data"]["device_status"] == "active"
    assert answer["data"]["version"] == 3


# ------------------------------------------------------------------ totp enrolment


async def test_totp_create_shows_qr_and_seed_once(bank: Bank, runtime: Runtime) -> None:
    data = await bank.create(client_code="C001", device_type="totp", description="phone")
    seed = otp.from_b32(data["private_key"])
    assert len(seed) == 20
    assert data["private_key"] == otp.b32(seed)  # base32, upper case, no padding
    png = base64.b64decode(data["Base64QrCodePng"], validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # The QR is the Key URI of this seed, with the client code as account name.
    uri = (
        f"otpauth://totp/fleetkey:C001?secret={data['private_key']}"
        "&issuer=fleetkey&algorithm=SHA1&digits=6&period=30"
    )
    assert qr_shows(png, uri)
    assert not qr_shows(png, uri.replace("C001", "C002"))

    # Never shown again: getDb (both paths, id and uid), getData, updates.
    for ident in (data["id"], data["uid"]):
        for surface in ("model", "api"):
            record = (await bank.get(ident, surface))["data"]
            assert record["private_key"] is None
            assert record["Base64QrCodePng"] is None
    found = await bank.search(client_code="C001")
    assert [(r["private_key"], r["Base64QrCodePng"]) for r in found["data"]] == [(None, None)]
    updated = await bank.put({"id": data["id"], "version": 1, "description": "x"})
    assert updated["data"]["private_key"] is None
    assert updated["data"]["Base64QrCodePng"] is None

    # Stored sealed, not in the clear.
    row = await _row(runtime, data["id"])
    assert row.secret_sealed is not None
    assert data["private_key"] not in row.secret_sealed
    assert row.otp_kind == "totp" and row.otp_algorithm == "SHA1" and row.otp_digits == 6
    assert runtime.vault.open(row.secret_sealed, f"auth-device:{row.tenant_id}:{row.uid}") == seed


async def test_totp_qr_names_the_device_number_when_there_is_one(bank: Bank) -> None:
    data = await bank.create(
        client_code="C001", device_type="totp", device_number="alice", otp_digits=8
    )
    png = base64.b64decode(data["Base64QrCodePng"])
    assert qr_shows(
        png,
        f"otpauth://totp/fleetkey:alice?secret={data['private_key']}"
        "&issuer=fleetkey&algorithm=SHA1&digits=8&period=30",
    )


async def test_imported_seed_is_the_seed(
    bank: Bank, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    spaced = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"
    data = await bank.create(client_code="C001", device_type="totp", private_key=spaced)
    assert data["private_key"] == RFC_SEED_B32
    verifier = await new_caller(runtime, [scopes.OTP_VERIFY], tenant=bank.tenant)
    step = await fresh_step()
    code = code_for(RFC_SEED_B32, step)
    response = await client.post(
        VERIFY, json={"device_id": data["uid"], "code": code}, headers=verifier.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"valid": True}


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("not base32!", "private_key: must be base32"),
        ("GEZDGNB1GEZDGNB1", "private_key: must be base32"),
        ("GEZDGNBV", "private_key: at least 80 bits"),
    ],
)
async def test_imported_seed_must_be_base32_of_80_bits(
    bank: Bank, given: str, problem: str
) -> None:
    answer = await bank.put({"client_code": "C001", "device_type": 5, "private_key": given})
    assert answer == error_answer(f"[ERROR-VALIDATION : {problem}]")
    assert (await bank.search(client_code="C001"))["total_records"] == 0


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"otp_type": "motp"}, "otp_kind: must be totp or hotp"),
        ({"otp_algorithm": "md5"}, "otp_algorithm: must be SHA1, SHA256 or SHA512"),
        ({"otp_digits": 7}, "otp_digits: must be 6 or 8"),
    ],
)
async def test_otp_extension_fields_are_checked(
    bank: Bank, fields: dict[str, Any], problem: str
) -> None:
    answer = await bank.put({"client_code": "C001", "device_type": 5, **fields})
    assert answer == error_answer(f"[ERROR-VALIDATION : {problem}]")


# ------------------------------------------------------------------ mobile application


async def test_mobile_application_gets_a_private_key_once(bank: Bank, runtime: Runtime) -> None:
    data = await bank.create(
        client_code="C001", device_type="mobile_application", operation_system="Android 14"
    )
    assert data["Base64QrCodePng"] is None
    pem = data["private_key"]
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)

    row = await _row(runtime, data["id"])
    assert row.secret_sealed is None
    assert row.public_key_pem is not None
    stored = serialization.load_pem_public_key(row.public_key_pem.encode())
    assert isinstance(stored, Ed25519PublicKey)
    assert stored.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ) == key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    stored.verify(key.sign(b"confirm payment 42"), b"confirm payment 42")

    # Only the public key is stored: no column holds the private one.
    body = pem.split("-----")[2].replace("\n", "")
    for column in AuthDevice.__table__.columns:
        value = getattr(row, column.key)
        assert not (isinstance(value, str) and (body in value or "PRIVATE" in value)), column.key
    for ident in (data["id"], data["uid"]):
        assert (await bank.record(ident))["private_key"] is None

    other = await bank.create(client_code="C001", device_type=2)
    assert other["private_key"] != pem


async def test_no_other_type_gets_enrolment_secrets(bank: Bank) -> None:
    for kind, number in (
        ("email", "a@example.com"),
        ("http", "https://hooks.example.com/x"),
        ("phone", "+15550001111"),
        ("stomp", "/queue/c001"),
    ):
        data = await bank.create(client_code="C001", device_type=kind, device_number=number)
        assert data["private_key"] is None and data["Base64QrCodePng"] is None, kind


# ------------------------------------------------------------------ masking


@pytest.mark.parametrize(
    ("kind", "number", "masked"),
    [
        ("email", "john.doe@example.com", "j***@example.com"),
        ("email", "x@bank.example", "x***@bank.example"),
        ("email", "no-at-sign", "***sign"),
        ("phone", "+447700900123", "+44*******123"),
        ("phone", "+44 7700 900123", "+44*******123"),
        ("phone", "0123456789", "01*****789"),
        ("http", "https://hooks.example.com/abs/notify?token=abc", "https://hooks.example.com/***"),
        ("http", "http://10.0.0.5:8080/cb", "http://10.0.0.5:8080/***"),
        ("stomp", "/queue/client-C001", "***C001"),
        ("stomp", "q1", "***"),
        ("mobile_application", "device-ABCDEFG", "***DEFG"),
        ("totp", "authenticator-9876", "***9876"),
    ],
)
async def test_device_number_masked(bank: Bank, kind: str, number: str, masked: str) -> None:
    data = await bank.create(client_code="C001", device_type=kind, device_number=number)
    assert data["device_number"] == number
    assert data["device_number_masked"] == masked
    assert (await bank.record(data["id"]))["device_number_masked"] == masked


async def test_masked_follows_the_number_and_is_null_without_one(bank: Bank) -> None:
    data = await bank.create(client_code="C001", device_type="totp")
    assert data["device_number"] is None and data["device_number_masked"] is None
    data = await bank.create(client_code="C001", device_type="email", device_number="ann@x.example")
    answer = await bank.put({"id": data["id"], "version": 1, "device_number": "bob@y.example"})
    assert answer["data"]["device_number_masked"] == "b***@y.example"


# ------------------------------------------------------------------ default for notifications


async def test_one_default_device_per_client(bank: Bank) -> None:
    mail = await bank.create(
        client_code="C001",
        device_type="email",
        device_number="ann@example.com",
        default_for_notifications=1,
    )
    other_client = await bank.create(
        client_code="C002",
        device_type="email",
        device_number="bob@example.com",
        default_for_notifications=1,
    )
    phone = await bank.create(
        client_code="C001",
        device_type="phone",
        device_number="+447700900123",
        default_for_notifications=True,
    )
    assert phone["default_for_notifications"] == 1
    assert phone["version"] == 1

    # The previous default was cleared, and its version moved with it.
    mail_now = await bank.record(mail["id"])
    assert mail_now["default_for_notifications"] == 0
    assert mail_now["version"] == 2
    # Another client's default is untouched.
    assert await bank.record(other_client["id"]) == other_client

    defaults = await bank.search(client_code="C001", default_for_notifications=1)
    assert [r["id"] for r in defaults["data"]] == [phone["id"]]
    assert defaults["total_records"] == 1

    # Making the mail the default again through an update clears the phone.
    stale = await bank.put({"id": mail["id"], "version": 1, "default_for_notifications": 1})
    assert_error(stale, "[ERROR-VERSION-MISMATCH ")
    answer = await bank.put({"id": mail["id"], "version": 2, "default_for_notifications": 1})
    assert answer["data"]["default_for_notifications"] == 1
    assert answer["data"]["version"] == 3
    phone_now = await bank.record(phone["id"])
    assert phone_now["default_for_notifications"] == 0
    assert phone_now["version"] == 2
    defaults = await bank.search(client_code="C001", default_for_notifications="true")
    assert [r["id"] for r in defaults["data"]] == [mail["id"]]

    # An update of the default device that leaves it the default clears nobody.
    answer = await bank.put({"id": mail["id"], "version": 3, "description": "main"})
    assert answer["data"]["default_for_notifications"] == 1
    assert (await bank.record(phone["id"]))["version"] == 2
    assert (await bank.search(default_for_notifications=1))["total_records"] == 2


async def test_a_refused_update_clears_no_default(bank: Bank) -> None:
    mail = await bank.create(
        client_code="C001",
        device_type="email",
        device_number="a@x.example",
        default_for_notifications=1,
    )
    phone = await bank.create(client_code="C001", device_type="phone", device_number="+15550001")
    stale = await bank.put({"id": phone["id"], "version": 9, "default_for_notifications": 1})
    assert_error(stale, "[ERROR-VERSION-MISMATCH ")
    assert await bank.record(mail["id"]) == mail


# ------------------------------------------------------------------ device number as login


async def test_a_login_device_number_is_unique_in_the_tenant(
    bank: Bank, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first = await bank.create(
        client_code="C001",
        device_type="email",
        device_number="ann@example.com",
        use_device_as_login=1,
    )
    assert first["use_device_as_login"] == 1
    # The same number as a login, for the same or another client of the bank: refused.
    for client_code in ("C001", "C002"):
        answer = await bank.put(
            {
                "client_code": client_code,
                "device_type": "email",
                "device_number": "ann@example.com",
                "use_device_as_login": 1,
            }
        )
        assert answer == error_answer(
            "[ERROR-DEVICE-NUMBER-IN-USE : device number ann@example.com is already a login]"
        )
    # The same number, not as a login: allowed.
    plain = await bank.create(
        client_code="C002", device_type="email", device_number="ann@example.com"
    )
    # ... but it cannot become a login later.
    answer = await bank.put({"id": plain["id"], "version": 1, "use_device_as_login": 1})
    assert_error(answer, "[ERROR-DEVICE-NUMBER-IN-USE : ")
    # Nor can another login device take the number by an update.
    login2 = await bank.create(
        client_code="C003",
        device_type="email",
        device_number="cy@example.com",
        use_device_as_login=1,
    )
    answer = await bank.put({"id": login2["id"], "version": 1, "device_number": "ann@example.com"})
    assert_error(answer, "[ERROR-DEVICE-NUMBER-IN-USE : ")

    # Another bank may use the number as a login.
    other = await new_bank(client, runtime)
    theirs = await other.create(
        client_code="C001",
        device_type="email",
        device_number="ann@example.com",
        use_device_as_login=1,
    )
    assert theirs["use_device_as_login"] == 1

    # Once the first stops being a login, the number is free.
    answer = await bank.put({"id": first["id"], "version": 1, "use_device_as_login": 0})
    assert answer["status"] == "success"
    answer = await bank.put({"id": plain["id"], "version": 1, "use_device_as_login": 1})
    assert answer["status"] == "success", answer
    logins = await bank.search(device_number="ann@example.com", use_device_as_login=1)
    assert [r["id"] for r in logins["data"]] == [plain["id"]]


async def test_a_deleted_login_frees_the_number(bank: Bank) -> None:
    first = await bank.create(
        client_code="C001",
        device_type="phone",
        device_number="+15550002",
        use_device_as_login=1,
    )
    assert (await bank.delete(first["id"]))["status"] == "success"
    again = await bank.create(
        client_code="C001",
        device_type="phone",
        device_number="+15550002",
        use_device_as_login=1,
    )
    assert again["uid"] != first["uid"]
    assert (await bank.record(again["uid"]))["version"] == 1


async def test_a_deleted_devices_id_is_not_reused(bank: Bank) -> None:
    """ABS addresses records by id: an id must never name a second device (history and
    audit are keyed by it too). SQLite would reuse the largest rowid without AUTOINCREMENT."""
    first = await bank.create(client_code="C001", device_type="totp")
    assert (await bank.delete(first["id"]))["status"] == "success"
    again = await bank.create(client_code="C001", device_type="totp")
    assert again["id"] != first["id"]
    assert await bank.get(first["id"]) == error_answer("[RECORD-NOT-FOUND]")


async def test_stored_state_matches_the_answer(bank: Bank, runtime: Runtime) -> None:
    data = await bank.create(
        client_code="C009", device_type="stomp", device_number="/queue/c9", device_status=1
    )
    async with runtime.db.unit_of_work(write=False) as session:
        rows = list(
            await session.scalars(select(AuthDevice).where(AuthDevice.tenant_id == bank.tenant_id))
        )
    assert [(r.id, r.uid, r.device_type, r.device_status, r.client_code) for r in rows] == [
        (data["id"], data["uid"], 4, 1, "C009")
    ]


async def test_a_webhook_number_must_be_an_http_url(bank: Bank) -> None:
    # fleetkey POSTs challenges to it: nothing but http(s) is accepted.
    for number in ("not a url", "ftp://h.example/x", "file:///etc/passwd"):
        assert await bank.put(
            {"client_code": "C001", "device_type": "http", "device_number": number}
        ) == error_answer(
            "[ERROR-VALIDATION : device_number: must be an http:// or https:// URL]"
        ), number
