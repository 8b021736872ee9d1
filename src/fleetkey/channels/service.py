"""Challenges: a one-time code sent to a client's notification device, then verified.

A challenge is committed before anything is delivered, so a delivery failure never loses
it: the failure is recorded on the challenge, retried with exponential backoff by the
delivery worker, and reported (``delivery_status``, ``last_error``). Codes expire, work
once and allow a few attempts. A mobile app is sent a nonce and answers with an Ed25519
signature over ``<challenge id>.<nonce>`` made with its enrolled key.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import emit
from fleetkey.authenticators import service as authenticators
from fleetkey.authenticators.models import (
    ACTIVE,
    EMAIL,
    HTTP,
    MOBILE_APPLICATION,
    PHONE,
    STOMP,
    AuthDevice,
)
from fleetkey.channels import senders
from fleetkey.channels.models import FAILED, PENDING, RETRYING, SENT, Challenge
from fleetkey.clock import utcnow
from fleetkey.config import Settings
from fleetkey.credentials.randomness import random_text
from fleetkey.credentials.vault import Vault
from fleetkey.db.session import Database
from fleetkey.errors import DomainError, not_found
from fleetkey.tenants.context import Actor

log = logging.getLogger("fleetkey.channels")
CODE_DIGITS = 6
CHANNELS = {
    EMAIL: "email",
    HTTP: "http",
    MOBILE_APPLICATION: "mobile_application",
    PHONE: "phone",
    STOMP: "stomp",
}


def sender_for(settings: Settings, channel: str) -> senders.Sender:
    if channel == "email":
        return senders.EmailSender(settings)
    if channel == "phone":
        return senders.SmsSender(settings)
    if channel == "http":
        if not settings.webhook_secret:
            raise senders.DeliveryError("no webhook secret is configured (FLEETKEY_WEBHOOK_SECRET)")
        return senders.WebhookSender(settings, settings.webhook_secret)
    if channel == "stomp":
        return senders.StompSender(settings)
    return senders.PushSender(settings)


def _code_hash(vault: Vault, challenge_id: str, code: str) -> str:
    return vault.keyed_hash(f"challenge:{challenge_id}:{code}")


def _context(challenge_id: str) -> str:
    return f"challenge:{challenge_id}"


async def create_challenge(
    session: AsyncSession,
    vault: Vault,
    settings: Settings,
    actor: Actor,
    client_code: str,
    device_ident: str | int | None,
) -> Challenge:
    """Pick the device (named, or the client's default for notifications) and store the
    challenge; delivery happens after the commit (``deliver``)."""
    device: AuthDevice | None
    if device_ident is not None:
        device = await authenticators.get_device(session, actor.tenant_id, device_ident)
        if device.client_code != client_code:
            raise not_found("auth_device.not_found", "RECORD-NOT-FOUND", id=str(device_ident))
    else:
        device = await session.scalar(
            select(AuthDevice).where(
                AuthDevice.tenant_id == actor.tenant_id,
                AuthDevice.client_code == client_code[:64],
                AuthDevice.default_for_notifications.is_(True),
            )
        )
        if device is None:
            raise not_found(
                "challenge.no_device",
                f"client {client_code[:64]} has no default notification device",
            )
    channel = CHANNELS.get(device.device_type)
    if channel is None:
        raise DomainError(
            "challenge.not_a_channel",
            "a totp authenticator verifies its own codes at /api/v1/otp/verify",
            422,
        )
    if device.device_status != ACTIVE:
        raise DomainError("challenge.device_inactive", "the device is blocked or deactivated", 409)
    challenge_id = str(uuid.uuid4())
    code = random_text("0123456789", CODE_DIGITS)
    nonce = secrets.token_urlsafe(24) if channel == "mobile_application" else None
    message = senders.Message(
        challenge_id,
        device.device_number or "",
        None if nonce else code,
        nonce,
        client_code,
        device.uid,
    )
    now = utcnow()
    row = Challenge(
        id=challenge_id,
        tenant_id=actor.tenant_id,
        client_code=client_code,
        device_id=device.id,
        channel=channel,
        code_hash=_code_hash(vault, challenge_id, code),
        nonce=nonce,
        created_at=now,
        expires_at=now + timedelta(seconds=settings.challenge_ttl_seconds),
        attempts=0,
        max_attempts=settings.challenge_max_attempts,
        delivery_status=PENDING,
        delivery_attempts=0,
        # The request delivers at once; the worker takes over only if that never finished.
        next_delivery_at=now + timedelta(seconds=30),
        message_sealed=vault.seal(
            f"{message.code or ''}|{message.nonce or ''}".encode(), _context(challenge_id)
        ),
    )
    session.add(row)
    await session.flush()
    emit(
        session,
        actor,
        "create",
        "challenge",
        challenge_id,
        {"after": {"client_code": client_code, "device_id": device.id, "channel": channel}},
        now,
    )
    return row


async def deliver(db: Database, vault: Vault, settings: Settings, challenge_id: str) -> None:
    """One delivery attempt; on failure schedule the next one (or give up, reported)."""
    async with db.unit_of_work(write=False) as session:
        row = await session.get(Challenge, challenge_id)
        device = await session.get(AuthDevice, row.device_id) if row is not None else None
    if row is None or device is None or row.delivery_status in (SENT, FAILED):
        return
    # Claim the attempt first, guarded by the count read: of concurrent passes (the request
    # and a worker, or two workers) exactly one sends. Only the first attempt (the request's)
    # or a due one can be claimed; a claimed attempt is not due again for 30 s.
    now = utcnow()
    async with db.unit_of_work() as session:
        claimed = await session.execute(
            update(Challenge)
            .where(
                Challenge.id == row.id,
                Challenge.delivery_attempts == row.delivery_attempts,
                Challenge.delivery_status.in_((PENDING, RETRYING)),
                (Challenge.delivery_attempts == 0) | (Challenge.next_delivery_at <= now),
            )
            .values(
                delivery_attempts=row.delivery_attempts + 1,
                next_delivery_at=now + timedelta(seconds=30),
            )
        )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return
    code, _, nonce = vault.open(row.message_sealed, _context(row.id)).decode().partition("|")
    message = senders.Message(
        row.id, device.device_number or "", code or None, nonce or None, row.client_code, device.uid
    )
    error = None
    values: dict[str, Any]
    try:
        await sender_for(settings, row.channel).send(message)
    except senders.DeliveryError as exc:
        error = str(exc)[:500]
    except Exception as exc:  # a sender bug must not lose the challenge either
        log.exception("delivery of challenge %s failed", row.id)
        error = f"unexpected {type(exc).__name__}"
    attempts = row.delivery_attempts + 1
    if error is None:
        values = {"delivery_status": SENT, "next_delivery_at": None, "last_error": None}
    elif attempts >= settings.delivery_max_attempts:
        values = {"delivery_status": FAILED, "next_delivery_at": None, "last_error": error}
    else:
        backoff = settings.delivery_backoff_seconds * 2 ** (attempts - 1)
        values = {
            "delivery_status": RETRYING,
            "last_error": error,
            "next_delivery_at": utcnow() + timedelta(seconds=backoff),
        }
    async with db.unit_of_work() as session:
        await session.execute(
            update(Challenge)
            .where(Challenge.id == row.id)
            .values(delivery_attempts=attempts, **values)
        )
        actor = Actor(tenant_id=row.tenant_id, name="delivery", request_id=row.id)
        emit(
            session,
            actor,
            "deliver",
            "challenge",
            row.id,
            {"attempt": attempts, "status": values["delivery_status"], "error": error},
            utcnow(),
        )


async def due_challenges(db: Database, limit: int = 50) -> list[str]:
    async with db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(Challenge.id)
            .where(
                Challenge.delivery_status.in_((PENDING, RETRYING)),
                Challenge.next_delivery_at <= utcnow(),
                # A code nobody can use any more is not worth sending.
                Challenge.expires_at > utcnow(),
            )
            .limit(limit)
        )
        return list(rows)


async def delivery_worker(db: Database, vault: Vault, settings: Settings) -> None:
    """Retries due deliveries until cancelled (started by the app's lifespan)."""
    while True:
        try:
            for challenge_id in await due_challenges(db):
                await deliver(db, vault, settings, challenge_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery worker pass failed")
        await asyncio.sleep(1.0)


async def get_challenge(session: AsyncSession, tenant_id: str, challenge_id: str) -> Challenge:
    row = await session.get(Challenge, challenge_id[:36])
    if row is None or row.tenant_id != tenant_id:
        raise not_found("challenge.not_found", "no such challenge", id=challenge_id[:36])
    return row


async def verify(
    session: AsyncSession,
    vault: Vault,
    actor: Actor,
    challenge_id: str,
    code: str | None,
    signature: str | None,
) -> bool:
    """Right code (or app signature), not expired, not used, attempts left: True, once."""
    row = await get_challenge(session, actor.tenant_id, challenge_id)
    now = utcnow()
    if row.used_at is not None or row.expires_at <= now or row.attempts >= row.max_attempts:
        return False
    if row.channel == "mobile_application":
        ok = signature is not None and await _app_signed(session, row, signature)
    else:
        ok = code is not None and hmac.compare_digest(
            _code_hash(vault, row.id, code), row.code_hash
        )
    # Use it, or count the attempt, guarded by what we read (concurrent answers: one wins).
    guard = [
        Challenge.id == row.id,
        Challenge.used_at.is_(None),
        Challenge.attempts == row.attempts,
    ]
    values = {"used_at": now} if ok else {"attempts": row.attempts + 1}
    result = await session.execute(update(Challenge).where(*guard).values(**values))
    won = bool(result.rowcount == 1) and ok  # type: ignore[attr-defined]
    emit(session, actor, "verify", "challenge", row.id, {"valid": won}, now)
    return won


async def _app_signed(session: AsyncSession, row: Challenge, signature: str) -> bool:
    device = await session.get(AuthDevice, row.device_id)
    if device is None or not device.public_key_pem or not row.nonce:
        return False
    try:
        key = serialization.load_pem_public_key(device.public_key_pem.encode())
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(raw, f"{row.id}.{row.nonce}".encode())
    except InvalidSignature:
        return False
    return True
