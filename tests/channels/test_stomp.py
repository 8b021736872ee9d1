"""stomp devices through RabbitMQ's STOMP plugin on a private node the tests start."""

from __future__ import annotations

import json
import secrets

from fleetkey.authenticators.models import STOMP
from tests.channels.support import (
    StompClient,
    StompNode,
    another_code,
    assert_not_stored,
    channel_app,
)
from tests.conftest import Store

SENT = {"status": "sent", "attempts": 1, "last_error": None, "next_attempt_at": None}


async def test_stomp_destination_receives_the_code(store: Store, stomp_node: StompNode) -> None:
    destination = f"/queue/challenges-{secrets.token_hex(6)}"
    async with channel_app(store, stomp_port=stomp_node.stomp_port) as h:
        device, _ = await h.device("C-stomp", STOMP, destination, default=True)
        with StompClient(stomp_node.stomp_port) as subscriber:
            assert subscriber.connect().command == "CONNECTED"
            subscriber.subscribe(destination)

            response = await h.create("C-stomp")
            assert response.status_code == 201, response.text
            body = response.json()
            assert (body["channel"], body["device_id"], body["delivery"]) == (
                "stomp",
                device.id,
                SENT,
            )
            frame = subscriber.read(timeout=10)
        assert frame.command == "MESSAGE"
        assert frame.headers["destination"] == destination
        assert frame.headers["content-type"] == "application/json"
        payload = json.loads(frame.body)
        code = payload["code"]
        assert payload == {
            "challenge_id": body["id"],
            "client_code": "C-stomp",
            "device_uid": device.uid,
            "code": code,
            "nonce": None,
        }
        assert isinstance(code, str) and len(code) == 6 and code.isdigit()
        assert code not in response.text
        assert await h.verify(body["id"], code=another_code(code)) is False
        assert await h.verify(body["id"], code=code) is True
        assert await h.verify(body["id"], code=code) is False
        await assert_not_stored(h, [code])


async def test_stomp_refused_login_is_reported(store: Store, stomp_node: StompNode) -> None:
    port = stomp_node.stomp_port
    async with channel_app(store, stomp_port=port, stomp_passcode="wrong") as h:
        await h.device("C-stomp-login", STOMP, "/queue/never", default=True)
        delivery = (await h.create("C-stomp-login")).json()["delivery"]
        assert {k: delivery[k] for k in ("status", "attempts", "last_error")} == {
            "status": "retrying",
            "attempts": 1,
            "last_error": f"STOMP 127.0.0.1:{port}: refused the login",
        }
