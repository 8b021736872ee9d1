"""Phone (SMS gateway), http (signed webhook) and mobile_application (push gateway plus an
Ed25519 answer) through real local HTTP receivers."""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleetkey.authenticators.models import HTTP, MOBILE_APPLICATION, PHONE
from fleetkey.channels.models import Challenge
from fleetkey.channels.senders import webhook_signature
from tests.channels.support import SMS_TEXT, HttpReceiver, another_code, channel_app
from tests.conftest import Store

SENT = {"status": "sent", "attempts": 1, "last_error": None, "next_attempt_at": None}


def retrying(error: str) -> dict[str, object]:
    return {"status": "retrying", "attempts": 1, "last_error": error}


async def test_sms_gateway_gets_the_number_and_the_code(
    store: Store, receiver: HttpReceiver
) -> None:
    async with channel_app(
        store, sms_gateway_url=f"{receiver.url}/sms/send", sms_gateway_token="gw-token"
    ) as h:
        device, _ = await h.device("C-sms", PHONE, "+41 79 555 01 02", default=True)
        response = await h.create("C-sms")
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["channel"], body["device_id"], body["delivery"]) == ("phone", device.id, SENT)

        [request] = receiver.requests
        assert request.path == "/sms/send"
        assert request.headers["authorization"] == "Bearer gw-token"
        assert request.headers["content-type"] == "application/json"
        sms = request.json()
        assert set(sms) == {"to", "text"}
        assert sms["to"] == "+41 79 555 01 02"
        match = SMS_TEXT.fullmatch(sms["text"])
        assert match is not None, sms["text"]
        code = match.group(1)
        assert code not in response.text

        assert await h.verify(body["id"], code=code) is True
        assert await h.verify(body["id"], code=code) is False


async def test_sms_gateway_failures_are_reported(store: Store, receiver: HttpReceiver) -> None:
    receiver.status = 500
    async with channel_app(store, sms_gateway_url=f"{receiver.url}/sms") as h:
        await h.device("C-sms-down", PHONE, "+41795550103", default=True)
        body = (await h.create("C-sms-down")).json()
        assert {k: body["delivery"][k] for k in ("status", "attempts", "last_error")} == retrying(
            "SMS gateway: HTTP 500"
        )
        assert body["delivery"]["next_attempt_at"] is not None
        [request] = receiver.requests
        assert "authorization" not in request.headers  # no token configured, none sent
    async with channel_app(store) as h:  # no gateway at all
        await h.device("C-sms-none", PHONE, "+41795550104", default=True)
        body = (await h.create("C-sms-none")).json()
        assert {k: body["delivery"][k] for k in ("status", "attempts", "last_error")} == retrying(
            "no SMS gateway is configured (FLEETKEY_SMS_GATEWAY_URL)"
        )


async def test_webhook_is_signed_and_carries_the_code(store: Store, receiver: HttpReceiver) -> None:
    secret = "webhook-secret-for-tests"
    async with channel_app(store, webhook_secret=secret) as h:
        device, _ = await h.device("C-hook", HTTP, f"{receiver.url}/hooks/otp?x=1", default=True)
        before = int(time.time())
        body = (await h.create("C-hook")).json()
        assert (body["channel"], body["delivery"]) == ("http", SENT)

        [request] = receiver.requests
        assert request.path == "/hooks/otp?x=1"
        assert request.headers["content-type"] == "application/json"
        stamp = request.headers["x-fleetkey-timestamp"]
        assert before <= int(stamp) <= int(time.time())
        assert request.headers["x-fleetkey-signature"] == webhook_signature(
            secret, stamp, request.body
        )
        assert request.headers["x-fleetkey-signature"] != webhook_signature(
            "another-secret", stamp, request.body
        )
        payload = request.json()
        code = payload["code"]
        assert payload == {
            "challenge_id": body["id"],
            "client_code": "C-hook",
            "device_uid": device.uid,
            "code": code,
            "nonce": None,
        }
        assert isinstance(code, str) and len(code) == 6 and code.isdigit()
        assert await h.verify(body["id"], code=another_code(code)) is False
        assert await h.verify(body["id"], code=code) is True


async def test_webhook_without_a_secret_is_not_sent(store: Store, receiver: HttpReceiver) -> None:
    async with channel_app(store, webhook_secret="") as h:
        await h.device("C-hook-nosecret", HTTP, f"{receiver.url}/hook", default=True)
        body = (await h.create("C-hook-nosecret")).json()
        delivery = body["delivery"]
        assert {k: delivery[k] for k in ("status", "attempts", "last_error")} == retrying(
            "no webhook secret is configured (FLEETKEY_WEBHOOK_SECRET)"
        )
        assert receiver.requests == []
        assert (await h.get(body["id"]))["delivery"] == delivery


async def test_webhook_receiver_errors_are_reported(store: Store, receiver: HttpReceiver) -> None:
    receiver.status = 403
    async with channel_app(store, webhook_secret="s") as h:
        await h.device("C-hook-403", HTTP, f"{receiver.url}/hook", default=True)
        delivery = (await h.create("C-hook-403")).json()["delivery"]
        assert {k: delivery[k] for k in ("status", "attempts", "last_error")} == retrying(
            "webhook: HTTP 403"
        )


def sign(private_pem: str, challenge_id: str, nonce: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return base64.b64encode(key.sign(f"{challenge_id}.{nonce}".encode())).decode()


async def test_mobile_app_signs_the_pushed_nonce(store: Store, receiver: HttpReceiver) -> None:
    async with channel_app(
        store, push_gateway_url=f"{receiver.url}/push", push_gateway_token="push-token"
    ) as h:
        device, enrolment = await h.device("C-app", MOBILE_APPLICATION, default=True)
        assert enrolment.private_key is not None
        assert enrolment.private_key.startswith("-----BEGIN PRIVATE KEY-----")
        body = (await h.create("C-app")).json()
        assert (body["channel"], body["device_id"], body["delivery"]) == (
            "mobile_application",
            device.id,
            SENT,
        )
        [request] = receiver.requests
        assert request.path == "/push"
        assert request.headers["authorization"] == "Bearer push-token"
        push = request.json()
        nonce = push["nonce"]
        assert push == {
            "challenge_id": body["id"],
            "client_code": "C-app",
            "device_uid": device.uid,
            "code": None,
            "nonce": nonce,
        }
        async with h.rt.db.unit_of_work(write=False) as session:
            row = await session.get(Challenge, body["id"])
            assert row is not None and row.nonce == nonce

        other = (
            Ed25519PrivateKey.generate()
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode()
        )
        # Another key, the wrong message, not base64, a code: all refused (and counted).
        assert await h.verify(body["id"], signature=sign(other, body["id"], nonce)) is False
        assert (
            await h.verify(body["id"], signature=sign(enrolment.private_key, "x", nonce)) is False
        )
        assert await h.verify(body["id"], signature="not base64!") is False
        signature = sign(enrolment.private_key, body["id"], nonce)
        assert await h.verify(body["id"], code="123456") is False
        assert await h.verify(body["id"], signature=signature) is True
        assert await h.verify(body["id"], signature=signature) is False

        # A second challenge has a nonce of its own: the first signature does not answer it.
        second = (await h.create("C-app")).json()
        nonce2 = receiver.requests[-1].json()["nonce"]
        assert nonce2 != nonce
        assert await h.verify(second["id"], signature=signature) is False
        assert (
            await h.verify(
                second["id"], signature=sign(enrolment.private_key, second["id"], nonce2)
            )
            is True
        )


async def test_mobile_app_without_a_push_gateway(store: Store) -> None:
    async with channel_app(store) as h:
        await h.device("C-app-nogw", MOBILE_APPLICATION, default=True)
        delivery = (await h.create("C-app-nogw")).json()["delivery"]
        assert {k: delivery[k] for k in ("status", "attempts", "last_error")} == retrying(
            "no push gateway is configured (FLEETKEY_PUSH_GATEWAY_URL)"
        )
