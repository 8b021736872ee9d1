"""Which device a challenge goes to, and which devices cannot take one."""

from __future__ import annotations

from typing import Any

from fleetkey.authenticators.models import (
    ACTIVE,
    BLOCKED,
    DEACTIVATED,
    EMAIL,
    PHONE,
    STOMP,
    TOTP,
)
from fleetkey.tenants import scopes
from tests.channels.support import SMS_TEXT, HttpReceiver, channel_app
from tests.conftest import Store, new_caller

SENT = {"status": "sent", "attempts": 1, "last_error": None, "next_attempt_at": None}


def error(status: int, code: str, message: str, details: Any = None) -> tuple[int, Any]:
    return status, {"error": {"code": code, "message": message, "details": details}}


async def test_default_or_named_device(store: Store, receiver: HttpReceiver) -> None:
    async with channel_app(store, sms_gateway_url=f"{receiver.url}/sms") as h:
        mail, _ = await h.device("C-pick", EMAIL, "ivy@example.test")
        phone, _ = await h.device("C-pick", PHONE, "+41795550201", default=True)
        older_phone, _ = await h.device("C-pick", PHONE, "+41795550202")

        # No device named: the client's default for notifications.
        body = (await h.create("C-pick")).json()
        assert (body["client_code"], body["device_id"], body["channel"]) == (
            "C-pick",
            phone.id,
            "phone",
        )
        assert body["delivery"] == SENT
        assert receiver.requests[-1].json()["to"] == "+41795550201"

        # Named by id, and by uid (the named device need not be the default).
        body = (await h.create("C-pick", older_phone.id)).json()
        assert (body["device_id"], body["delivery"]) == (older_phone.id, SENT)
        assert receiver.requests[-1].json()["to"] == "+41795550202"
        body = (await h.create("C-pick", older_phone.uid)).json()
        assert body["device_id"] == older_phone.id
        assert receiver.requests[-1].json()["to"] == "+41795550202"
        assert len(receiver.requests) == 3

        # A new default replaces the old one.
        newest, _ = await h.device("C-pick", PHONE, "+41795550203", default=True)
        body = (await h.create("C-pick")).json()
        assert body["device_id"] == newest.id
        code = SMS_TEXT.fullmatch(receiver.requests[-1].json()["text"])
        assert code is not None
        assert await h.verify(body["id"], code=code.group(1)) is True
        assert mail.id not in {phone.id, older_phone.id, newest.id}


async def test_devices_that_cannot_take_a_challenge(store: Store) -> None:
    async with channel_app(store) as h:
        mine, _ = await h.device("C-own", STOMP, "/queue/own", default=True)
        theirs, _ = await h.device("C-other", STOMP, "/queue/other", default=True)
        totp, _ = await h.device("C-own", TOTP)
        blocked, _ = await h.device("C-own", STOMP, "/queue/b", status=BLOCKED)
        deactivated, _ = await h.device("C-own", STOMP, "/queue/d", status=DEACTIVATED)
        assert (mine.device_status, blocked.device_status) == (ACTIVE, BLOCKED)

        async def outcome(client_code: str, device_id: Any = None, **kw: Any) -> tuple[int, Any]:
            response = await h.create(client_code, device_id, **kw)
            return response.status_code, response.json()

        not_found = error(404, "auth_device.not_found", "RECORD-NOT-FOUND", {"id": str(theirs.id)})
        assert await outcome("C-own", theirs.id) == not_found
        assert await outcome("C-own", theirs.uid) == error(
            404, "auth_device.not_found", "RECORD-NOT-FOUND", {"id": theirs.uid}
        )
        assert await outcome("C-own", 987654321) == error(
            404, "auth_device.not_found", "RECORD-NOT-FOUND", {"id": "987654321"}
        )
        assert await outcome("C-own", totp.id) == error(
            422,
            "challenge.not_a_channel",
            "a totp authenticator verifies its own codes at /api/v1/otp/verify",
        )
        inactive = error(409, "challenge.device_inactive", "the device is blocked or deactivated")
        assert await outcome("C-own", blocked.id) == inactive
        assert await outcome("C-own", deactivated.uid) == inactive
        assert await outcome("C-nobody") == error(
            404, "challenge.no_device", "client C-nobody has no default notification device"
        )
        # A client whose only devices are not defaults has no default either.
        await h.device("C-nodefault", EMAIL, "jo@example.test")
        assert await outcome("C-nodefault") == error(
            404, "challenge.no_device", "client C-nodefault has no default notification device"
        )

        # Another tenant sees none of these devices.
        stranger = await new_caller(h.rt)
        assert await outcome("C-own", mine.id, caller=stranger) == error(
            404, "auth_device.not_found", "RECORD-NOT-FOUND", {"id": str(mine.id)}
        )
        assert await outcome("C-own", caller=stranger) == error(
            404, "challenge.no_device", "client C-own has no default notification device"
        )

        # otp:verify is required (a token with another scope is refused).
        reader = await new_caller(h.rt, [scopes.REGISTRY_READ], tenant=h.caller.tenant)
        response = await h.create("C-own", caller=reader)
        assert response.status_code == 403, response.text
