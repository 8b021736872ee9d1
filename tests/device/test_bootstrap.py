"""``POST /api/deviceBootstrap``: a device redeems its access ID and OTP, once.

The pair comes from Clinical One's register-device / access-code calls. The OTP is stored
as a keyed hash, expires, works once, locks after too many wrong tries until recreated,
and every refusal (wrong, expired, used, locked, unknown) is the same 401 byte for byte.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from fleetkey.audit.models import AuditEvent
from fleetkey.audit.service import history_of
from fleetkey.clock import as_utc, utcnow
from fleetkey.credentials import passwords
from fleetkey.credentials.vault import Vault
from fleetkey.runtime import Runtime
from fleetkey.tenants.context import Actor
from fleetkey.things import service as things
from fleetkey.things.models import Device, Product
from tests.compat.clinicalone.support import (
    ALREADY_BOOTSTRAPPED,
    AUTH,
    BOOTSTRAP,
    INVALID_PAIR,
    M_SUBJECT,
    OTHER_M_SUBJECT,
    OTHER_SUBJECT,
    STUDY,
    WATCH_1,
    WATCH_2,
    Trial,
    assert_pair,
    basic,
    bootstrap,
    mhealth_events,
    new_trial,
    stored_device,
    wrong_otp,
)
from tests.conftest import Caller, Store, new_caller
from tests.device.support import node

PARAMS = {
    "deviceModelUrn",
    "hardwareId",
    "iotBaseUrl",
    "iotDeviceId",
    "iotUserName",
    "iotSharedSecret",
    "profile",
    "studyname",
    "studyId",
    "subjectId",
}


def _refusal(response: httpx.Response) -> tuple[int, bytes, str | None, str | None]:
    """What a device sees of a refusal (everything but the per-request ID)."""
    return (
        response.status_code,
        response.content,
        response.headers.get("content-type"),
        response.headers.get("www-authenticate"),
    )


INVALID = (
    401,
    b'{"status":401,"message":"Invalid accessId or OTP"}',
    "application/json",
    'Basic realm="deviceBootstrap"',
)


def _assert_invalid(response: httpx.Response) -> None:
    assert _refusal(response) == INVALID, response.text
    assert response.json() == INVALID_PAIR


async def _connect(
    client: httpx.AsyncClient, broker: Caller, params: dict[str, Any], client_id: bool = True
) -> str:
    body = {"username": params["iotUserName"], "password": params["iotSharedSecret"]}
    if client_id:
        body["client_id"] = params["iotDeviceId"]
    response = await client.post(AUTH, json=body, headers=broker.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["result"])


def _csr_der(key: ec.EllipticCurvePrivateKey, name: str = "watch") -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(
        ["-----BEGIN CERTIFICATE REQUEST-----", *lines, "-----END CERTIFICATE REQUEST-----", ""]
    )


def _csr(key: ec.EllipticCurvePrivateKey, name: str = "watch") -> str:
    return _pem(_csr_der(key, name))


# ------------------------------------------------------------------ success


async def test_bootstrap_answers_the_connection_params_and_the_credential_connects(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()
    broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=caller.tenant)

    response = await bootstrap(client, pair)

    assert response.status_code == 200, response.text
    params = response.json()
    assert set(params) == PARAMS
    assert params["hardwareId"] == WATCH_1
    assert params["subjectId"] == M_SUBJECT
    assert params["studyId"] == STUDY
    assert params["studyname"] == "Study 1"
    assert params["deviceModelUrn"] == ["urn:fleetkey:kit:watch"]
    assert params["profile"] == {"mode": "active", "connectionType": "device_to_cloud"}
    assert params["iotBaseUrl"] == f"mqtt://{runtime.settings.mqtt_address}"
    assert params["iotDeviceId"] and params["iotUserName"] and len(params["iotSharedSecret"]) >= 16

    row = await stored_device(runtime, pair["id"])
    assert row.bootstrapped_at is not None and row.otp_used_at is not None
    assert row.thing_id is not None

    # The long-term credential works at the broker; a wrong secret does not.
    assert await _connect(client, broker, params) == "allow"
    assert await _connect(client, broker, params, client_id=False) == "allow"
    assert await _connect(client, broker, {**params, "iotSharedSecret": "nope"}) == "deny"

    # Deregistering kills the credential and the pair.
    response = await trial.deregister()
    assert response.status_code == 200
    assert response.json()["result"] == "Device deregistered successfully"
    assert await _connect(client, broker, params) == "deny"
    _assert_invalid(await bootstrap(client, pair))


async def test_the_iot_base_url_comes_from_the_study_settings(
    client: httpx.AsyncClient, caller: Caller
) -> None:
    trial = await new_trial(
        client, caller, settings={"iot_base_url": "mqtts://iot.example.test:8883"}
    )
    pair = await trial.register_watch()
    response = await bootstrap(client, pair)
    assert response.status_code == 200
    assert response.json()["iotBaseUrl"] == "mqtts://iot.example.test:8883"


async def test_every_bootstrapped_device_gets_its_own_credential(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=caller.tenant)
    first = (await bootstrap(client, await trial.register_watch())).json()
    # One device-to-cloud kit per subject: the second watch goes to the other subject.
    pair = await trial.register_watch(WATCH_2, OTHER_SUBJECT)
    second = (await bootstrap(client, pair)).json()
    assert first["iotDeviceId"] != second["iotDeviceId"]
    assert first["iotUserName"] != second["iotUserName"]
    assert (second["subjectId"], second["hardwareId"]) == (OTHER_M_SUBJECT, WATCH_2)
    assert await _connect(client, broker, first) == "allow"
    assert await _connect(client, broker, second) == "allow"
    # One device's secret does not open the other.
    assert (
        await _connect(client, broker, {**first, "iotSharedSecret": second["iotSharedSecret"]})
        == "deny"
    )


# ------------------------------------------------------------------ how the OTP is kept


async def test_the_otp_is_stored_only_as_a_peppered_keyed_hash(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()
    access_id, otp = pair["accessId"], pair["otp"]

    row = await stored_device(runtime, pair["id"])

    assert row.access_id == access_id
    assert row.otp_hash is not None and otp not in row.otp_hash
    assert row.otp_hash == runtime.vault.keyed_hash(f"otp:{access_id}:{otp}")
    # Not derivable without the pepper: no plain digest of the OTP or of the message matches,
    # and another master key gives another hash.
    message = f"otp:{access_id}:{otp}".encode()
    for guess in (
        hashlib.sha256(otp.encode()).hexdigest(),
        hashlib.sha256(message).hexdigest(),
        hmac.new(b"", message, hashlib.sha256).hexdigest(),
        hmac.new(otp.encode(), access_id.encode(), hashlib.sha256).hexdigest(),
    ):
        assert row.otp_hash != guess
    assert Vault(b"x" * 32).keyed_hash(f"otp:{access_id}:{otp}") != row.otp_hash
    # A recreated pair gets a fresh hash; the old one is gone.
    second = assert_pair(await trial.recreate())
    row = await stored_device(runtime, pair["id"])
    assert row.otp_hash == runtime.vault.keyed_hash(f"otp:{second['accessId']}:{second['otp']}")


# ------------------------------------------------------------------ refusals


async def test_the_pair_works_once(client: httpx.AsyncClient, caller: Caller) -> None:
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()
    assert (await bootstrap(client, pair)).status_code == 200

    _assert_invalid(await bootstrap(client, pair))
    _assert_invalid(await bootstrap(client, pair))


async def test_a_fresh_pair_after_a_bootstrap_is_already_bootstrapped(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()
    first = (await bootstrap(client, pair)).json()
    fresh = assert_pair(await trial.recreate())

    response = await bootstrap(client, fresh)

    assert (response.status_code, response.json()) == (400, ALREADY_BOOTSTRAPPED)
    assert "www-authenticate" not in response.headers
    # Still the one long-term credential; the fresh pair is not used up by the 400.
    row = await stored_device(runtime, pair["id"])
    assert row.otp_used_at is None and row.access_id == fresh["accessId"]
    broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=caller.tenant)
    assert await _connect(client, broker, first) == "allow"
    # A wrong OTP for that pair is still a plain 401.
    _assert_invalid(await bootstrap(client, wrong_otp(fresh)))


async def test_an_expired_otp_is_refused_until_recreated(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime, store: Store
) -> None:
    async with node(store, bootstrap_otp_ttl_hours=0.0003) as short:  # about 1.08 s
        trial = await new_trial(short, caller)
        pair = await trial.register_watch()
        row = await stored_device(runtime, pair["id"])
        assert row.otp_expires_at is not None
        lifetime = as_utc(row.otp_expires_at) - as_utc(row.registered_at)
        assert timedelta(seconds=1) <= lifetime <= timedelta(seconds=1.2)
        wait = (as_utc(row.otp_expires_at) - utcnow()).total_seconds() + 0.3
        await asyncio.sleep(max(wait, 0.0))

        _assert_invalid(await bootstrap(short, pair))
        _assert_invalid(await bootstrap(client, pair))
        # Expiry is no failure: nothing was counted.
        assert (await stored_device(runtime, pair["id"])).otp_failures == 0

        fresh = assert_pair(await trial.recreate())
        response = await bootstrap(short, fresh)
        assert response.status_code == 200, response.text


async def test_wrong_otps_lock_the_pair_until_it_is_recreated(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime, store: Store
) -> None:
    async with node(store, bootstrap_max_failures=3) as strict:
        trial = await new_trial(strict, caller)
        pair = await trial.register_watch()
        for _ in range(3):
            _assert_invalid(await bootstrap(strict, wrong_otp(pair)))
        row = await stored_device(runtime, pair["id"])
        assert row.otp_failures == 3 and row.otp_used_at is None

        # The right OTP no longer helps, and a locked pair counts no further.
        _assert_invalid(await bootstrap(strict, pair))
        _assert_invalid(await bootstrap(strict, pair))
        assert (await stored_device(runtime, pair["id"])).otp_failures == 3

        fresh = assert_pair(await trial.recreate())
        assert (await stored_device(runtime, pair["id"])).otp_failures == 0
        _assert_invalid(await bootstrap(strict, pair))
        response = await bootstrap(strict, fresh)
        assert response.status_code == 200, response.text

    reasons = [
        e.changes["reason"]
        for e in await mhealth_events(runtime, caller.tenant_id)
        if e.action == "bootstrap_denied"
    ]
    # The old pair after the recreate is an unknown access ID: no device, no event.
    assert reasons == ["wrong OTP"] * 3 + ["locked"] * 2


async def test_every_refusal_is_the_same_401(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime, store: Store
) -> None:
    trial = await new_trial(client, caller)
    used = await trial.register_watch()
    assert (await bootstrap(client, used)).status_code == 200

    async with node(store, bootstrap_otp_ttl_hours=0.0003) as short:
        expiring = await Trial(short, caller).register_watch(WATCH_2, OTHER_SUBJECT)
        row = await stored_device(runtime, expiring["id"])
        assert row.otp_expires_at is not None
        await asyncio.sleep(max((as_utc(row.otp_expires_at) - utcnow()).total_seconds(), 0) + 0.3)
        expired = await bootstrap(short, expiring)

    async with node(store, bootstrap_max_failures=1) as strict:
        victim_trial = await new_trial(strict, await new_caller(runtime))
        victim = await victim_trial.register_watch()
        wrong = await bootstrap(strict, wrong_otp(victim))
        locked = await bootstrap(strict, victim)

    answers = {
        "wrong": wrong,
        "locked": locked,
        "expired": expired,
        "used": await bootstrap(client, used),
        # "1" is outside the alphabet: no such access ID can ever be issued.
        "unknown access ID": await client.post(BOOTSTRAP, headers=basic("ZZZZZ1", "ABCDEFGH")),
        "empty": await client.post(BOOTSTRAP, headers=basic("", "")),
        "no colon": await client.post(BOOTSTRAP, headers={"Authorization": "Basic QUJDREVG"}),
        "not base64": await client.post(BOOTSTRAP, headers={"Authorization": "Basic !!!"}),
        "bearer": await client.post(BOOTSTRAP, headers=caller.headers),
        "no header": await client.post(BOOTSTRAP),
    }
    for name, response in answers.items():
        assert _refusal(response) == INVALID, (name, response.text)


# ------------------------------------------------------------------ with a CSR


async def test_a_csr_gets_a_client_certificate_from_the_tenant_ca(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()
    key = ec.generate_private_key(ec.SECP256R1())
    broker = await new_caller(runtime, scopes=["device:authenticate"], tenant=caller.tenant)

    response = await bootstrap(client, pair, csr=_csr(key))

    assert response.status_code == 200, response.text
    params = response.json()
    assert set(params) == PARAMS | {"certificate", "caCertificate"}
    cert = x509.load_pem_x509_certificate(params["certificate"].encode())
    ca = x509.load_pem_x509_certificate(params["caCertificate"].encode())
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    ca_key.verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )
    assert cert.issuer == ca.subject
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in common_names] == [params["iotDeviceId"]]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    basic_constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert basic_constraints.ca is False
    ca_constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert ca_constraints.ca is True
    now = utcnow()
    assert cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
    # The password credential is issued as well.
    assert await _connect(client, broker, params) == "allow"
    boot = [e for e in await mhealth_events(runtime, caller.tenant_id) if e.action == "bootstrap"]
    assert boot[0].changes["after"]["certificate"] is True

    # The tenant has one CA: the next device's certificate comes from the same one.
    await trial.deregister()
    second = assert_pair(
        await trial.register(
            {"inventoryId": WATCH_1, "mSubjectId": M_SUBJECT, "subjectNumber": "siteA-1"}
        )
    )
    other = await bootstrap(client, second, csr=_csr(ec.generate_private_key(ec.SECP256R1())))
    assert other.status_code == 200, other.text
    assert other.json()["caCertificate"] == params["caCertificate"]


async def test_a_bad_csr_is_400_and_does_not_use_up_the_pair(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()
    message = "must be a PEM certificate signing request with a valid signature"
    der = _csr_der(ec.generate_private_key(ec.SECP256R1()))
    # The signature's last byte changed: still well-formed, no longer valid.
    bad_signature = _pem(der[:-1] + bytes([der[-1] ^ 0x01]))
    # The key on a curve nobody knows (P-256's OID with its last arc changed).
    p256 = bytes.fromhex("06082a8648ce3d030107")
    assert der.count(p256) == 1
    unknown_curve = _pem(der.replace(p256, bytes.fromhex("06082a8648ce3d030163")))

    for csr in (
        "garbage",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        bad_signature,
        unknown_curve,
        "x" * 20_000,
    ):
        response = await bootstrap(client, pair, csr=csr)
        assert (response.status_code, response.json()) == (400, {"status": 400, "message": message})
    # A lone surrogate, escaped or as raw bytes (which json.loads decodes too), and a NUL.
    lone = (b'{"csr": "\\ud800"}', b'{"csr": "\xed\xa0\x80"}', b'{"csr": "a\\u0000"}')
    for raw in (b"{not json", b"[1]", b'{"csr": 5}', *lone):
        response = await client.post(
            BOOTSTRAP,
            content=raw,
            headers={**basic(pair["accessId"], pair["otp"]), "content-type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.json() == {
            "status": 400,
            "message": 'the body must be {"csr": "<PEM CSR>"} or empty',
        }

    row = await stored_device(runtime, pair["id"])
    assert row.otp_used_at is None and row.bootstrapped_at is None and row.otp_failures == 0
    response = await bootstrap(client, pair)
    assert response.status_code == 200, response.text
    assert "certificate" not in response.json()


async def test_the_bootstrapped_device_has_the_history_and_audit_rows_of_any_device(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    """The bootstrap writes the device through direct statements; what it records must be
    exactly what ``create_device`` records through the ORM."""
    trial = await new_trial(client, caller)
    pair = await trial.register_watch()
    response = await bootstrap(client, pair)
    assert response.status_code == 200, response.text
    params = response.json()
    thing_id = (await stored_device(runtime, pair["id"])).thing_id
    assert thing_id is not None
    async with runtime.db.unit_of_work(write=False) as session:
        device = await session.get(Device, thing_id)
        assert device is not None
        history = await history_of(session, caller.tenant_id, "device", str(thing_id))
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "device", AuditEvent.entity_id == str(thing_id))
                .order_by(AuditEvent.id)
            )
        )
    snapshot = device.snapshot()
    assert device.client_id == params["iotDeviceId"]
    assert device.user_name == params["iotUserName"]
    assert device.secret_kind == passwords.GENERATED and device.secret_hash
    assert params["iotSharedSecret"] not in str(snapshot)
    assert (device.device_name, device.node_id, device.version) == (
        f"active-{WATCH_1}",
        pair["id"],
        1,
    )
    assert [(h.version, h.data, h.lookup_key) for h in history] == [(1, snapshot, None)]
    assert [(e.action, e.actor, e.changes) for e in events] == [
        ("create", f"device:{pair['id']}", {"after": snapshot})
    ]
    assert events[0].request_id == response.headers["x-request-id"]
    claim = [e for e in await mhealth_events(runtime, caller.tenant_id) if e.action == "bootstrap"]
    assert [e.changes for e in claim] == [
        {"after": {"thing_id": thing_id, "client_id": device.client_id, "certificate": False}}
    ]


async def test_a_deleted_kit_product_is_made_again_by_the_next_bootstrap(
    client: httpx.AsyncClient, caller: Caller, runtime: Runtime
) -> None:
    trial = await new_trial(client, caller)
    first = await trial.register_watch()
    assert (await bootstrap(client, first)).status_code == 200
    thing_id = (await stored_device(runtime, first["id"])).thing_id
    assert thing_id is not None
    actor = Actor(caller.tenant_id, "test")
    async with runtime.db.unit_of_work() as session:
        device = await session.get(Device, thing_id)
        assert device is not None
        old_product = device.product_id
        await things.delete_device(session, actor, "mhealth", thing_id)
    async with runtime.db.unit_of_work() as session:
        await things.delete_product(session, actor, "mhealth", old_product)

    second = await trial.register_watch(WATCH_2, OTHER_SUBJECT)
    response = await bootstrap(client, second)

    assert response.status_code == 200, response.text
    new_thing = (await stored_device(runtime, second["id"])).thing_id
    async with runtime.db.unit_of_work(write=False) as session:
        device = await session.get(Device, new_thing)
        assert device is not None and device.product_id != old_product
        product = await session.get(Product, device.product_id)
        assert product is not None and product.name == f"{STUDY}/watch"
