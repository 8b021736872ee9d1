"""A delivery failure is reported, retried with backoff and never loses the challenge."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from fleetkey.audit.models import AuditEvent
from fleetkey.authenticators.models import EMAIL
from fleetkey.channels.models import Challenge
from fleetkey.channels.service import deliver
from fleetkey.clock import parse_instant, utcnow
from tests.broker.rabbit import free_port
from tests.channels.support import Harness, MailBox, another_code, channel_app, the_code, wait_for
from tests.conftest import Store


def refused(port: int) -> str:
    return f"SMTP 127.0.0.1:{port}: ConnectionRefusedError"


async def deliver_once(h: Harness, challenge_id: str) -> None:
    """What a pass of the delivery worker does for this challenge."""
    await deliver(h.rt.db, h.rt.vault, h.rt.settings, challenge_id)


async def backoff_elapses(h: Harness, challenge_id: str) -> None:
    """Bring the next attempt forward to now, as if the backoff had passed. The challenge is
    then due for any delivery worker on its database: a test that makes it due and drives
    the passes itself runs on a ``private_store``, where no other app's worker (a live
    server's from other tests) can take the attempt between its steps."""
    async with h.rt.db.unit_of_work() as session:
        await session.execute(
            update(Challenge)
            .where(Challenge.id == challenge_id, Challenge.next_delivery_at.is_not(None))
            .values(next_delivery_at=utcnow())
        )


async def test_failed_delivery_is_reported_and_redelivered(private_store: Store) -> None:
    port = free_port()  # nothing listens there yet
    async with channel_app(private_store, smtp_port=port, delivery_backoff_seconds=60) as h:
        await h.device("C-retry", EMAIL, "erin@example.test", default=True)
        before = utcnow()
        response = await h.create("C-retry")
        assert response.status_code == 201, response.text
        body = response.json()
        delivery = body["delivery"]
        assert delivery == {
            "status": "retrying",
            "attempts": 1,
            "last_error": refused(port),
            "next_attempt_at": delivery["next_attempt_at"],
        }
        next_at = parse_instant(delivery["next_attempt_at"])
        assert before + timedelta(seconds=60) <= next_at <= utcnow() + timedelta(seconds=60)
        # The challenge exists and answers (a wrong guess is just a wrong guess).
        assert await h.get(body["id"]) == body

        with MailBox(port) as box:
            # Not due yet: a pass now neither sends nor counts.
            await deliver_once(h, body["id"])
            assert box.mails == []
            assert await h.get(body["id"]) == body
            await backoff_elapses(h, body["id"])
            await deliver_once(h, body["id"])
            [mail] = box.mails
            assert mail.rcpt_tos == ["erin@example.test"]
            code = the_code(mail.body)
            assert await h.verify(body["id"], code=another_code(code)) is False
            assert (await h.get(body["id"]))["delivery"] == {
                "status": "sent",
                "attempts": 2,
                "last_error": None,
                "next_attempt_at": None,
            }
            # Sent is final: another pass sends nothing and counts nothing.
            await backoff_elapses(h, body["id"])
            await deliver_once(h, body["id"])
            assert len(box.mails) == 1
            assert (await h.get(body["id"]))["delivery"]["attempts"] == 2
        assert await h.verify(body["id"], code=code) is True
        assert await h.verify(body["id"], code=code) is False


async def test_concurrent_delivery_passes_send_once(private_store: Store) -> None:
    """Two workers (or the request and a worker) on one due challenge: one mail."""
    port = free_port()
    async with channel_app(private_store, smtp_port=port, delivery_backoff_seconds=60) as h:
        await h.device("C-race", EMAIL, "fred@example.test", default=True)
        body = (await h.create("C-race")).json()
        assert body["delivery"]["status"] == "retrying"
        await backoff_elapses(h, body["id"])
        with MailBox(port) as box:
            await asyncio.gather(*(deliver_once(h, body["id"]) for _ in range(3)))
            assert len(box.mails) == 1
        assert (await h.get(body["id"]))["delivery"] == {
            "status": "sent",
            "attempts": 2,
            "last_error": None,
            "next_attempt_at": None,
        }
        assert await h.verify(body["id"], code=the_code(box.mails[0].body)) is True


async def test_backoff_doubles_then_delivery_fails_but_the_challenge_stays(
    private_store: Store,
) -> None:
    port = free_port()
    async with channel_app(
        private_store, smtp_port=port, delivery_backoff_seconds=60, delivery_max_attempts=3
    ) as h:
        await h.device("C-give-up", EMAIL, "gina@example.test", default=True)
        body = (await h.create("C-give-up")).json()
        delays = []
        for attempt in (1, 2):
            delivery = (await h.get(body["id"]))["delivery"]
            assert delivery["status"] == "retrying"
            assert delivery["attempts"] == attempt
            assert delivery["last_error"] == refused(port)
            delays.append(parse_instant(delivery["next_attempt_at"]) - utcnow())
            await backoff_elapses(h, body["id"])
            await deliver_once(h, body["id"])
        assert timedelta(seconds=55) < delays[0] <= timedelta(seconds=60)
        assert timedelta(seconds=115) < delays[1] <= timedelta(seconds=120)
        failed = {"status": "failed", "attempts": 3, "last_error": refused(port)}
        assert (await h.get(body["id"]))["delivery"] == {**failed, "next_attempt_at": None}
        # Failed is final: no further attempt, nothing changes.
        await backoff_elapses(h, body["id"])
        await deliver_once(h, body["id"])
        assert (await h.get(body["id"]))["delivery"] == {**failed, "next_attempt_at": None}

        async with h.rt.db.unit_of_work(write=False) as session:
            events = (
                await session.scalars(
                    select(AuditEvent)
                    .where(
                        AuditEvent.tenant_id == h.caller.tenant_id,
                        AuditEvent.entity_id == body["id"],
                        AuditEvent.action == "deliver",
                    )
                    .order_by(AuditEvent.id)
                )
            ).all()
            row = await session.get(Challenge, body["id"])
        assert [(e.actor, e.changes) for e in events] == [
            ("delivery", {"attempt": n, "status": status, "error": refused(port)})
            for n, status in ((1, "retrying"), (2, "retrying"), (3, "failed"))
        ]
        # Never lost: the code it would have sent (kept sealed for redelivery) still works.
        assert row is not None
        code = h.rt.vault.open(row.message_sealed, f"challenge:{row.id}").decode()
        assert code.endswith("|")
        assert await h.verify(body["id"], code=code[:-1]) is True


async def test_the_app_delivery_worker_retries(private_store: Store) -> None:
    port = free_port()
    async with channel_app(
        private_store, lifespan=True, smtp_port=port, delivery_backoff_seconds=2
    ) as h:
        await h.device("C-worker", EMAIL, "hank@example.test", default=True)
        body = (await h.create("C-worker")).json()
        assert body["delivery"]["status"] == "retrying"
        assert body["delivery"]["attempts"] == 1
        assert body["delivery"]["last_error"] == refused(port)
        with MailBox(port) as box:

            async def sent() -> bool:
                return (await h.get(body["id"]))["delivery"]["status"] == "sent"

            await wait_for(sent, 15, "the worker's redelivery")
            assert (await h.get(body["id"]))["delivery"] == {
                "status": "sent",
                "attempts": 2,
                "last_error": None,
                "next_attempt_at": None,
            }
            [mail] = box.mails
        assert await h.verify(body["id"], code=the_code(mail.body)) is True
