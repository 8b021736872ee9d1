"""Delivering a message to a notification device, one sender per device type.

Each sender raises ``DeliveryError`` with a short, secret-free reason when delivery fails;
the caller records it and retries with backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import socket
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from fleetkey.config import Settings


class DeliveryError(Exception):
    """Why a delivery failed; safe to store and show (never contains the code)."""


@dataclass(frozen=True)
class Message:
    challenge_id: str
    destination: str  # the device number: an address, a number, a URL, a STOMP destination
    code: str | None  # None for mobile apps, which sign a nonce instead
    nonce: str | None
    client_code: str
    device_uid: str

    def text(self) -> str:
        return f"Your verification code is {self.code}. It expires soon; never share it."

    def payload(self) -> dict[str, Any]:
        return {
            "challenge_id": self.challenge_id,
            "client_code": self.client_code,
            "device_uid": self.device_uid,
            "code": self.code,
            "nonce": self.nonce,
        }


class Sender(Protocol):
    async def send(self, message: Message) -> None: ...


class EmailSender:
    def __init__(self, settings: Settings) -> None:
        self._s = settings

    def _send(self, message: Message) -> None:
        email = EmailMessage()
        email["From"] = self._s.smtp_from
        email["To"] = message.destination
        email["Subject"] = "Your verification code"
        email.set_content(message.text())
        try:
            with smtplib.SMTP(self._s.smtp_host, self._s.smtp_port, timeout=10) as smtp:
                if self._s.smtp_starttls:
                    smtp.starttls()
                if self._s.smtp_user:
                    smtp.login(self._s.smtp_user, self._s.smtp_password)
                smtp.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(
                f"SMTP {self._s.smtp_host}:{self._s.smtp_port}: {type(exc).__name__}"
            ) from exc

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, message)


async def _post(url: str, body: bytes, headers: dict[str, str], what: str) -> None:
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{what}: {type(exc).__name__}") from exc
    if response.status_code >= 300:
        raise DeliveryError(f"{what}: HTTP {response.status_code}")


class SmsSender:
    """POSTs ``{"to", "text"}`` as JSON to the configured SMS gateway."""

    def __init__(self, settings: Settings) -> None:
        self._s = settings

    async def send(self, message: Message) -> None:
        if not self._s.sms_gateway_url:
            raise DeliveryError("no SMS gateway is configured (FLEETKEY_SMS_GATEWAY_URL)")
        headers = {"Content-Type": "application/json"}
        if self._s.sms_gateway_token:
            headers["Authorization"] = f"Bearer {self._s.sms_gateway_token}"
        body = json.dumps({"to": message.destination, "text": message.text()}).encode()
        await _post(self._s.sms_gateway_url, body, headers, "SMS gateway")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``hex(HMAC-SHA256(secret, timestamp "." body))``: what a receiver recomputes."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs the challenge as JSON to the device's URL, signed with an HMAC header."""

    def __init__(self, settings: Settings, secret: str) -> None:
        self._secret = secret

    async def send(self, message: Message) -> None:
        import time

        body = json.dumps(message.payload()).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Fleetkey-Timestamp": stamp,
            "X-Fleetkey-Signature": webhook_signature(self._secret, stamp, body),
        }
        await _post(message.destination, body, headers, "webhook")


class PushSender:
    """Hands the challenge to the configured push gateway; the app answers with a signature."""

    def __init__(self, settings: Settings) -> None:
        self._s = settings

    async def send(self, message: Message) -> None:
        if not self._s.push_gateway_url:
            raise DeliveryError("no push gateway is configured (FLEETKEY_PUSH_GATEWAY_URL)")
        body = json.dumps({**message.payload(), "code": None}).encode()
        headers = {"Content-Type": "application/json"}
        if self._s.push_gateway_token:
            headers["Authorization"] = f"Bearer {self._s.push_gateway_token}"
        await _post(self._s.push_gateway_url, body, headers, "push gateway")


class StompSender:
    """Sends a STOMP 1.2 SEND frame to the device's destination on the configured broker."""

    def __init__(self, settings: Settings) -> None:
        self._s = settings

    def _frame(self, command: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        lines = [command] + [f"{k}:{v}" for k, v in headers.items()]
        return ("\n".join(lines) + "\n\n").encode() + body + b"\x00"

    def _read_frame(self, sock: socket.socket) -> str:
        data = b""
        while b"\x00" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").lstrip("\n").split("\n", 1)[0]

    def _send(self, message: Message) -> None:
        s = self._s
        try:
            with socket.create_connection((s.stomp_host, s.stomp_port), timeout=10) as sock:
                sock.sendall(
                    self._frame(
                        "CONNECT",
                        {
                            "accept-version": "1.2",
                            "host": s.stomp_vhost,
                            "login": s.stomp_login,
                            "passcode": s.stomp_passcode,
                        },
                    )
                )
                if self._read_frame(sock) != "CONNECTED":
                    raise DeliveryError(f"STOMP {s.stomp_host}:{s.stomp_port}: refused the login")
                body = json.dumps(message.payload()).encode()
                sock.sendall(
                    self._frame(
                        "SEND",
                        {
                            "destination": message.destination,
                            "content-type": "application/json",
                            "content-length": str(len(body)),
                            "receipt": message.challenge_id,
                        },
                        body,
                    )
                )
                if self._read_frame(sock) != "RECEIPT":
                    raise DeliveryError(f"STOMP {s.stomp_host}:{s.stomp_port}: no receipt")
                sock.sendall(self._frame("DISCONNECT", {}))
        except OSError as exc:
            raise DeliveryError(
                f"STOMP {s.stomp_host}:{s.stomp_port}: {type(exc).__name__}"
            ) from exc

    async def send(self, message: Message) -> None:
        await asyncio.to_thread(self._send, message)
