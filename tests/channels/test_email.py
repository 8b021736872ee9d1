"""Email challenges through a real SMTP server (aiosmtpd): delivered, verified once,
wrong answers counted, expiry honoured."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fleetkey.authenticators.models import EMAIL, AuthDevice
from fleetkey.channels.models import Challenge
from fleetkey.clock import parse_instant, utcnow
from tests.channels.support import MailBox, another_code, channel_app, the_code
from tests.conftest import Store

SENT = {"status": "sent", "attempts": 1, "last_error": None, "next_attempt_at": None}


def assert_sent_view(body: dict[str, Any], device: AuthDevice, channel: str, ttl: int) -> None:
    assert body == {
        "id": body["id"],
        "client_code": device.client_code,
        "device_id": device.id,
        "channel": channel,
        "expires_at": body["expires_at"],
        "delivery": SENT,
    }
    left = (parse_instant(body["expires_at"]) - utcnow()).total_seconds()
    assert ttl - 15 < left <= ttl


async def test_email_code_is_delivered_and_verifies_exactly_once(
    store: Store, mailbox: MailBox
) -> None:
    async with channel_app(store, smtp_port=mailbox.port, smtp_from="otp@fleetkey.test") as h:
        device, _ = await h.device("C-mail", EMAIL, "alice@example.test", default=True)
        response = await h.create("C-mail")
        assert response.status_code == 201, response.text
        body = response.json()
        assert_sent_view(body, device, "email", 300)

        [mail] = mailbox.mails
        assert mail.mail_from == "otp@fleetkey.test"
        assert mail.rcpt_tos == ["alice@example.test"]
        assert mail.message["To"] == "alice@example.test"
        assert mail.message["From"] == "otp@fleetkey.test"
        assert mail.message["Subject"] == "Your verification code"
        code = the_code(mail.body)
        assert mail.body.strip() == (
            f"Your verification code is {code}. It expires soon; never share it."
        )
        assert code not in response.text
        assert await h.get(body["id"]) == body

        assert await h.verify(body["id"], code=code) is True
        assert await h.verify(body["id"], code=code) is False


async def test_wrong_codes_count_and_exhaust_the_challenge(store: Store, mailbox: MailBox) -> None:
    async with channel_app(store, smtp_port=mailbox.port, challenge_max_attempts=3) as h:
        await h.device("C-tries", EMAIL, "carol@example.test", default=True)

        # Two wrong answers leave one attempt: the right code still works.
        first = (await h.create("C-tries")).json()
        code = the_code(mailbox.mails[-1].body)
        assert await h.verify(first["id"], code=another_code(code)) is False
        assert await h.verify(first["id"], code="abcdef") is False
        assert await h.verify(first["id"], code=code) is True

        # Three wrong answers (max_attempts) and even the right code is refused.
        second = (await h.create("C-tries")).json()
        code = the_code(mailbox.mails[-1].body)
        for wrong in (another_code(code), "", another_code(another_code(code))):
            assert await h.verify(second["id"], code=wrong) is False
        assert await h.verify(second["id"], code=code) is False
        assert len(mailbox.mails) == 2


async def test_an_expired_code_is_refused(store: Store, mailbox: MailBox) -> None:
    async with channel_app(store, smtp_port=mailbox.port, challenge_ttl_seconds=1) as h:
        device, _ = await h.device("C-ttl", EMAIL, "dave@example.test", default=True)
        created = utcnow()
        body = (await h.create("C-ttl")).json()
        assert body["delivery"] == SENT
        expires = parse_instant(body["expires_at"])
        assert created + timedelta(seconds=1) <= expires <= utcnow() + timedelta(seconds=1)
        code = the_code(mailbox.mails[-1].body)
        await asyncio.sleep((expires - utcnow()).total_seconds() + 0.05)
        assert await h.verify(body["id"], code=code) is False
        # Not counted as a wrong answer, not used: it simply expired.
        async with h.rt.db.unit_of_work(write=False) as session:
            row = await session.get(Challenge, body["id"])
            assert row is not None
            assert (row.attempts, row.used_at, row.device_id) == (0, None, device.id)
