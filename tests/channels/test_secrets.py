"""No code or OTP is kept in clear: not in audit events, not in entity history, not in
the challenge rows (sealed message, keyed hash), whatever the delivery did."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleetkey.authenticators.models import EMAIL, HTTP, MOBILE_APPLICATION, PHONE, TOTP
from tests.channels.support import (
    API,
    SMS_TEXT,
    HttpReceiver,
    MailBox,
    another_code,
    assert_not_stored,
    channel_app,
    the_code,
)
from tests.conftest import Store, new_caller


async def test_codes_are_never_stored_in_clear(
    store: Store, mailbox: MailBox, receiver: HttpReceiver
) -> None:
    async with channel_app(
        store,
        smtp_port=mailbox.port,
        sms_gateway_url=f"{receiver.url}/sms",
        push_gateway_url=f"{receiver.url}/push",
        webhook_secret="hook-secret",
    ) as h:
        await h.device("C-mail", EMAIL, "kim@example.test", default=True)
        await h.device("C-sms", PHONE, "+41795550301", default=True)
        await h.device("C-hook", HTTP, f"{receiver.url}/hook", default=True)
        _, app_key = await h.device("C-app", MOBILE_APPLICATION, default=True)
        _, totp = await h.device("C-totp", TOTP)
        assert app_key.private_key and totp.private_key
        codes: list[str] = []

        async def answer(challenge_id: str, code: str) -> None:
            codes.append(code)
            assert await h.verify(challenge_id, code=another_code(code)) is False
            assert await h.verify(challenge_id, code=code) is True

        mail = (await h.create("C-mail")).json()
        await answer(mail["id"], the_code(mailbox.mails[-1].body))

        sms = (await h.create("C-sms")).json()
        text = SMS_TEXT.fullmatch(receiver.requests[-1].json()["text"])
        assert text is not None
        await answer(sms["id"], text.group(1))

        hook = (await h.create("C-hook")).json()
        await answer(hook["id"], receiver.requests[-1].json()["code"])

        # A delivery that failed after the gateway saw the code: the error keeps no code.
        receiver.status = 502
        failed = (await h.create("C-sms")).json()
        receiver.status = 200
        assert failed["delivery"]["last_error"] == "SMS gateway: HTTP 502"
        text = SMS_TEXT.fullmatch(receiver.requests[-1].json()["text"])
        assert text is not None
        codes.append(text.group(1))

        app = (await h.create("C-app")).json()
        nonce = receiver.requests[-1].json()["nonce"]
        key = serialization.load_pem_private_key(app_key.private_key.encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        signature = base64.b64encode(key.sign(f"{app['id']}.{nonce}".encode())).decode()
        assert await h.verify(app["id"], signature=signature) is True

        # Another tenant cannot see or answer these challenges.
        stranger = await new_caller(h.rt)
        response = await h.http.get(f"{API}/challenges/{mail['id']}", headers=stranger.headers)
        assert (response.status_code, response.json()["error"]["code"]) == (
            404,
            "challenge.not_found",
        )
        response = await h.http.post(
            f"{API}/challenges/{hook['id']}/verify",
            json={"code": codes[2]},
            headers=stranger.headers,
        )
        assert (response.status_code, response.json()["error"]["code"]) == (
            404,
            "challenge.not_found",
        )

        checked = await assert_not_stored(
            h,
            codes,
            others=[
                signature,
                app_key.private_key.split("\n")[1],
                totp.private_key,
                "hook-secret",
            ],
        )
        assert checked > 15
        assert len(codes) == 4
