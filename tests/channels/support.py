"""Real local peers for challenge delivery tests, and a small app harness.

* ``MailBox``: an aiosmtpd SMTP server collecting the mails it is given.
* ``HttpReceiver``: an ``http.server`` in a thread recording every POST (SMS gateway,
  webhook receiver, push gateway) and answering with a settable status.
* ``StompNode``: the private RabbitMQ node of ``tests.broker.rabbit`` with only the
  STOMP plugin on a port of its own and the internal user database (guest/guest, which
  RabbitMQ allows from loopback); ``StompClient``: a raw STOMP 1.2 subscriber.
* ``channel_app``: ``create_app(make_settings(store, ...))`` with a runtime of its own and
  an httpx ASGI client, the lifespan (delivery worker) optionally running.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import select

from fleetkey.app import create_app
from fleetkey.audit.models import AuditEvent, EntityHistory
from fleetkey.authenticators.models import AuthDevice
from fleetkey.authenticators.service import DeviceInput, Enrolment, create_device
from fleetkey.channels.models import Challenge
from fleetkey.runtime import Runtime
from fleetkey.tenants.context import Actor
from tests.broker.rabbit import RabbitNode, free_port, scripts_dir
from tests.conftest import Caller, Store, make_settings, new_caller

API = "/api/v1"
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
SMS_TEXT = re.compile(r"Your verification code is (\d{6})\. It expires soon; never share it\.")


def the_code(text: str) -> str:
    """The one 6-digit code in ``text`` (fails if there is none or more than one)."""
    found = CODE.findall(text)
    assert len(found) == 1, f"expected exactly one 6-digit code in {text!r}"
    return str(found[0])


def another_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# ------------------------------------------------------------------ SMTP


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def body(self) -> str:
        return str(self.message.get_content())


class _Collector:
    def __init__(self, box: MailBox) -> None:
        self._box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self._box.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


class MailBox:
    """An SMTP server on 127.0.0.1:``port`` (a free one unless given), not yet started."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.mails: list[Mail] = []
        self._controller = Controller(_Collector(self), hostname="127.0.0.1", port=self.port)
        self._running = False

    def start(self) -> None:
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> MailBox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ HTTP


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """Records every POST it is sent and answers ``status`` (settable while running)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Received("POST", self.path, headers, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> HttpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------ STOMP


@dataclass
class Frame:
    command: str
    headers: dict[str, str]
    body: bytes


def _unescape(value: str) -> str:
    out, i = [], 0
    table = {"n": "\n", "r": "\r", "c": ":", "\\": "\\"}
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            out.append(table.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


class StompClient:
    """A blocking STOMP 1.2 client over a plain socket (no heart-beats)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._buffer = b""

    def send(self, command: str, headers: dict[str, str], body: bytes = b"") -> None:
        head = "\n".join([command, *(f"{k}:{v}" for k, v in headers.items())])
        self.sock.sendall(head.encode() + b"\n\n" + body + b"\x00")

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the STOMP server closed the connection")
        self._buffer += chunk

    def read(self, timeout: float = 10) -> Frame:
        self.sock.settimeout(timeout)
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n")  # heart-beats between frames
            if b"\n\n" in self._buffer:
                break
            self._fill()
        head, _, rest = self._buffer.partition(b"\n\n")
        lines = head.decode().replace("\r\n", "\n").split("\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(_unescape(name), _unescape(value))  # the first one counts
        if "content-length" in headers:
            size = int(headers["content-length"])
            while len(rest) < size + 1:
                self._fill()
                rest = self._buffer.partition(b"\n\n")[2]
            body, remainder = rest[:size], rest[size + 1 :]
        else:
            while b"\x00" not in rest:
                self._fill()
                rest = self._buffer.partition(b"\n\n")[2]
            body, _, remainder = rest.partition(b"\x00")
        self._buffer = remainder
        return Frame(lines[0], headers, body)

    def connect(self, login: str = "guest", passcode: str = "guest") -> Frame:
        self.send(
            "CONNECT",
            {"accept-version": "1.2", "host": "/", "login": login, "passcode": passcode},
        )
        return self.read()

    def subscribe(self, destination: str) -> None:
        """Subscribe and wait for the broker's receipt (the queue exists afterwards)."""
        self.send(
            "SUBSCRIBE",
            {"id": "0", "destination": destination, "ack": "auto", "receipt": "subscribed"},
        )
        frame = self.read()
        assert (frame.command, frame.headers.get("receipt-id")) == ("RECEIPT", "subscribed"), frame

    def close(self) -> None:
        try:
            self.send("DISCONNECT", {})
        except OSError:
            pass
        self.sock.close()

    def __enter__(self) -> StompClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class StompNode(RabbitNode):
    """A private node with only ``rabbitmq_stomp`` (own STOMP port) and internal users."""

    stomp_port: int = field(default_factory=free_port)

    def write_files(self, base_url: str = "", token: str = "", method: str = "post") -> None:
        super().write_files(base_url or "http://127.0.0.1:9", token or "unused", method)
        (self.base / "enabled_plugins").write_text("[rabbitmq_stomp].\n")
        lines = [
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
            f"stomp.listeners.tcp.default = 127.0.0.1:{self.stomp_port}",
            "auth_backends.1 = internal",
            "log.file.level = info",
            "log.console = true",
            "log.console.level = warning",
        ]
        (self.base / "rabbitmq.conf").write_text("\n".join(lines) + "\n")

    def _answers_mqtt(self) -> bool:
        # The readiness probe of RabbitNode.start: here, a STOMP login that succeeds.
        try:
            with StompClient(self.stomp_port, timeout=2) as client:
                return client.connect().command == "CONNECTED"
        except (OSError, ConnectionError):
            return False


def start_stomp_node(base: Path) -> StompNode:
    node = StompNode(base, scripts_dir())
    node.write_files()
    try:
        node.start()
    except BaseException:
        node.stop()
        raise
    return node


# ------------------------------------------------------------------ the app


@dataclass
class Harness:
    app: FastAPI
    rt: Runtime
    http: httpx.AsyncClient
    caller: Caller

    async def device(
        self,
        client_code: str,
        device_type: int,
        number: str | None = None,
        *,
        default: bool = False,
        status: int | None = None,
        caller: Caller | None = None,
    ) -> tuple[AuthDevice, Enrolment]:
        who = caller or self.caller
        async with self.rt.db.unit_of_work() as session:
            row, enrolment = await create_device(
                session,
                self.rt.vault,
                Actor(tenant_id=who.tenant_id, name="tester"),
                DeviceInput(
                    client_code=client_code,
                    device_type=device_type,
                    device_number=number,
                    default_for_notifications=default,
                    device_status=status,
                ),
            )
        return row, enrolment

    async def create(
        self, client_code: str, device_id: int | str | None = None, caller: Caller | None = None
    ) -> httpx.Response:
        body = {} if device_id is None else {"device_id": device_id}
        return await self.http.post(
            f"{API}/clients/{client_code}/challenges",
            json=body,
            headers=(caller or self.caller).headers,
        )

    async def get(self, challenge_id: str) -> dict[str, Any]:
        response = await self.http.get(
            f"{API}/challenges/{challenge_id}", headers=self.caller.headers
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def verify(self, challenge_id: str, **answer: str) -> bool:
        response = await self.http.post(
            f"{API}/challenges/{challenge_id}/verify", json=answer, headers=self.caller.headers
        )
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"valid"}
        return bool(response.json()["valid"])


@asynccontextmanager
async def channel_app(
    store: Store, *, lifespan: bool = False, **overrides: Any
) -> AsyncIterator[Harness]:
    """An app on ``store`` with these settings, and a fresh tenant with a full token."""
    settings = make_settings(store, **overrides)
    rt = Runtime.build(settings)
    app = create_app(settings, rt)
    try:
        async with AsyncExitStack() as stack:
            caller = await new_caller(rt)
            if lifespan:
                await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://fleetkey.test"
                )
            )
            yield Harness(app, rt, http, caller)
    finally:
        await rt.db.dispose()


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll an async predicate until it is true."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------ secrets at rest


def _mentions(text: str, secret: str) -> bool:
    """``secret`` in ``text``; a digits-only secret only where no digit touches it (so a
    6-digit code is not "found" inside a longer number such as a phone number)."""
    if secret.isdigit():
        return re.search(rf"(?<!\d){re.escape(secret)}(?!\d)", text) is not None
    return secret in text


async def assert_not_stored(h: Harness, codes: list[str], others: Sequence[str] = ()) -> int:
    """No code (nor any of ``others``) in the tenant's audit events, entity history or
    challenge rows; codes only sealed and as keyed hashes. Returns the rows checked."""
    tenant = h.caller.tenant_id
    async with h.rt.db.unit_of_work(write=False) as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant))
        ).all()
        history = (
            await session.scalars(select(EntityHistory).where(EntityHistory.tenant_id == tenant))
        ).all()
        challenges = (
            await session.scalars(select(Challenge).where(Challenge.tenant_id == tenant))
        ).all()
    assert events and history and challenges
    texts = [
        json.dumps([e.actor, e.request_id, e.action, e.entity_type, e.entity_id, e.changes])
        for e in events
    ] + [json.dumps([r.entity_type, r.entity_id, r.lookup_key, r.data]) for r in history]
    for secret in [*codes, *others]:
        for text in texts:
            assert not _mentions(text, secret), f"a secret is stored in clear: {text}"
    for row in challenges:
        row_text = json.dumps(
            [row.id, row.client_code, row.code_hash, row.nonce, row.last_error, row.message_sealed]
        )
        for secret in codes:
            assert not _mentions(row_text, secret)
        assert re.fullmatch(r"[0-9a-f]{64}", row.code_hash)
        opened = h.rt.vault.open(row.message_sealed, f"challenge:{row.id}").decode()
        code, _, nonce = opened.partition("|")
        assert nonce == (row.nonce or "")
        if code:  # a code was sent: its hash is keyed, not a plain digest of it
            for plain in (code, f"challenge:{row.id}:{code}"):
                assert row.code_hash != hashlib.sha256(plain.encode()).hexdigest()
            assert row.code_hash == h.rt.vault.keyed_hash(f"challenge:{row.id}:{code}")
    return len(texts) + len(challenges)
