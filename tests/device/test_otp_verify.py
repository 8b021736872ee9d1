"""``POST /api/v1/otp/verify``: one-time codes of ABS totp devices (TOTP and HOTP).

Devices are made through the signed ABS surface; codes are computed here from the seed the
create answer shows once. TOTP codes are computed from the current time, never within 3 s of
a step boundary (``fresh_step``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from fleetkey.audit.models import AuditEvent, EntityHistory
from fleetkey.authenticators import otp
from fleetkey.authenticators.models import FILLFACTOR
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes
from tests.compat.abs.support import (
    VERIFY,
    Bank,
    assert_error,
    code_for,
    distinct_seed,
    fresh_step,
    new_bank,
    qr_shows,
    wrong_code,
)
from tests.conftest import Caller, Store, new_caller
from tests.device.support import node

RFC_SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}


@dataclass
class Otp:
    """A bank with its ABS app key and a token that may only verify codes."""

    bank: Bank
    verifier: Caller

    async def verify(self, device: object, code: str, via: httpx.AsyncClient | None = None) -> bool:
        response = await self.post({"device_id": device, "code": code}, via)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"valid"} and isinstance(body["valid"], bool), body
        return bool(body["valid"])

    async def post(
        self, body: dict[str, Any], via: httpx.AsyncClient | None = None
    ) -> httpx.Response:
        return await (via or self.bank.client).post(
            VERIFY, json=body, headers=self.verifier.headers
        )

    async def totp(self, seed: str | None = None, **fields: Any) -> dict[str, Any]:
        """A totp device; its answer carries the base32 seed as ``private_key``."""
        body: dict[str, Any] = {"client_code": "C001", "device_type": "totp", **fields}
        if seed is not None:
            body["private_key"] = seed
        return await self.bank.create(**body)

    async def status(self, device: dict[str, Any]) -> str:
        return str((await self.bank.record(device["id"]))["device_status"])


async def new_otp(client: httpx.AsyncClient, runtime: Runtime) -> Otp:
    bank = await new_bank(client, runtime)
    verifier = await new_caller(runtime, [scopes.OTP_VERIFY], tenant=bank.tenant)
    return Otp(bank, verifier)


@pytest.fixture
async def world(client: httpx.AsyncClient, runtime: Runtime) -> Otp:
    return await new_otp(client, runtime)


@asynccontextmanager
async def policy(store: Store, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An API node with other OTP settings (its own runtime on the same store)."""
    async with node(store, **overrides) as c:
        yield c


# ------------------------------------------------------------------ TOTP


async def test_a_valid_code_once(world: Otp) -> None:
    device = await world.totp()
    seed = device["private_key"]
    step = await fresh_step()
    code = code_for(seed, step)
    assert await world.verify(device["uid"], code) is True
    # A used step is never accepted again: by uid, by id, as a number or a string.
    assert await world.verify(device["uid"], code) is False
    assert await world.verify(device["id"], code) is False
    assert await world.verify(str(device["id"]), code) is False
    assert await world.status(device) == "active"


async def test_by_numeric_id(world: Otp) -> None:
    device = await world.totp()
    step = await fresh_step()
    assert await world.verify(device["id"], code_for(device["private_key"], step)) is True


async def test_window_is_one_step_each_side(world: Otp) -> None:
    step = await fresh_step()
    seed = distinct_seed(range(step - 3, step + 4))
    # Two steps away, behind or ahead: refused.
    far = await world.totp(seed)
    assert await world.verify(far["id"], code_for(seed, step - 2)) is False
    assert await world.verify(far["id"], code_for(seed, step + 2)) is False
    assert await world.verify(far["id"], code_for(seed, step + 3)) is False
    assert await world.verify(far["id"], code_for(seed, step)) is True

    # The previous step, then the next one: both accepted.
    edges = await world.totp(seed)
    assert await world.verify(edges["id"], code_for(seed, step - 1)) is True
    assert await world.verify(edges["id"], code_for(seed, step + 1)) is True
    # Once the next step is used, nothing at or before it is accepted.
    assert await world.verify(edges["id"], code_for(seed, step)) is False
    assert await world.verify(edges["id"], code_for(seed, step - 1)) is False
    assert await world.verify(edges["id"], code_for(seed, step + 1)) is False

    # The current step, then the previous one: the older step is refused.
    ordered = await world.totp(seed)
    assert await world.verify(ordered["id"], code_for(seed, step)) is True
    assert await world.verify(ordered["id"], code_for(seed, step - 1)) is False
    assert await world.verify(ordered["id"], code_for(seed, step + 1)) is True
    assert otp.totp_step(time.time()) == step, "the test crossed a step boundary"


@pytest.mark.parametrize(
    ("algorithm", "digits"),
    [("SHA256", 8), ("SHA512", 8), ("SHA1", 8), ("SHA256", 6), ("SHA512", 6)],
)
async def test_algorithms_and_digits(world: Otp, algorithm: str, digits: int) -> None:
    seed = otp.b32(RFC_SEEDS[algorithm])
    device = await world.totp(
        seed, otp_algorithm=algorithm.lower(), otp_digits=digits, device_number="alice"
    )
    assert device["private_key"] == seed
    png = base64.b64decode(device["Base64QrCodePng"])
    assert qr_shows(
        png,
        f"otpauth://totp/fleetkey:alice?secret={seed}&issuer=fleetkey"
        f"&algorithm={algorithm}&digits={digits}&period=30",
    )
    step = await fresh_step()
    right = code_for(seed, step, digits, algorithm)
    # Wrong shape or wrong algorithm: refused.
    other_digits = 6 if digits == 8 else 8
    assert await world.verify(device["id"], code_for(seed, step, other_digits, algorithm)) is False
    other = "SHA1" if algorithm != "SHA1" else "SHA256"
    assert await world.verify(device["id"], code_for(seed, step, digits, other)) is False
    assert await world.verify(device["id"], right) is True
    assert await world.verify(device["id"], right) is False


async def test_a_code_against_the_rfc_6238_vectors(world: Otp) -> None:
    """The verifier's codes are the reference ones: 8-digit SHA512 with the 64-byte seed."""
    seed = otp.b32(RFC_SEEDS["SHA512"])
    device = await world.totp(seed, otp_algorithm="SHA512", otp_digits="8")
    assert otp.hotp(RFC_SEEDS["SHA512"], otp.totp_step(1111111111), 8, "SHA512") == "99943326"
    step = await fresh_step()
    assert await world.verify(device["uid"], otp.hotp(RFC_SEEDS["SHA512"], step, 8, "SHA512"))


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12345a", " 123456", "１２３４５６"])
async def test_malformed_codes_are_false(world: Otp, code: str) -> None:
    device = await world.totp()
    assert await world.verify(device["id"], code) is False


# ------------------------------------------------------------------ HOTP


async def test_hotp_look_ahead_of_ten(world: Otp) -> None:
    seed = distinct_seed(range(0, 30))
    device = await world.totp(seed, otp_type="hotp")
    png = base64.b64decode(device["Base64QrCodePng"])
    assert qr_shows(
        png,
        f"otpauth://hotp/fleetkey:C001?secret={seed}&issuer=fleetkey"
        "&algorithm=SHA1&digits=6&counter=0",
    )
    ident = device["uid"]
    # Eleven ahead of the expected counter (0): too far.
    assert await world.verify(ident, code_for(seed, 11)) is False
    # Ten ahead: accepted; from then on nothing at or before it.
    assert await world.verify(ident, code_for(seed, 10)) is True
    for counter in (0, 5, 9, 10):
        assert await world.verify(ident, code_for(seed, counter)) is False, counter
    assert await world.verify(ident, code_for(seed, 22)) is False
    assert await world.verify(ident, code_for(seed, 11)) is True
    assert await world.verify(ident, code_for(seed, 11)) is False
    assert await world.verify(ident, code_for(seed, 22)) is True
    assert await world.verify(ident, code_for(seed, 23)) is True
    assert await world.status(device) == "active"


async def test_hotp_in_order(world: Otp) -> None:
    seed = otp.b32(RFC_SEEDS["SHA1"])
    device = await world.totp(seed, otp_type="hotp")
    # RFC 4226 Appendix D, in order.
    for code in ("755224", "287082", "359152", "969429", "338314"):
        assert await world.verify(device["id"], code) is True, code
    assert await world.verify(device["id"], "755224") is False
    # 8 digits, HOTP: the last 8 of the 31-bit value.
    eight = await world.totp(seed, otp_type="hotp", otp_digits=8)
    assert await world.verify(eight["id"], "84755224") is True
    assert await world.verify(eight["id"], "94287082") is True


# ------------------------------------------------------------------ failures and blocking


async def test_failures_block_the_device(world: Otp, store: Store) -> None:
    async with policy(store, otp_max_failures=3) as strict:
        step = await fresh_step()
        seed = distinct_seed(range(step - 1, step + 2))
        device = await world.totp(seed)
        bystander = await world.totp(seed)
        wrong = wrong_code(seed, range(step - 1, step + 4))
        assert await world.verify(device["id"], wrong, strict) is False
        assert await world.verify(device["id"], wrong, strict) is False
        assert await world.status(device) == "active"
        assert await world.verify(device["id"], wrong, strict) is False
        record = await world.bank.record(device["id"])
        assert record["device_status"] == "blocked"
        assert record["version"] == 2
        # Blocked: even the right code is refused (and does not use up its step).
        assert await world.verify(device["id"], code_for(seed, step), strict) is False
        assert await world.verify(device["id"], code_for(seed, step)) is False
        # Only that device.
        assert await world.status(bystander) == "active"
        assert await world.verify(bystander["id"], code_for(seed, step), strict) is True

        # An operator unblocks it through putDb: the right code works again.
        answer = await world.bank.put({"id": device["id"], "version": 2, "device_status": 0})
        assert answer["data"]["device_status"] == "active"
        step = await fresh_step()
        assert await world.verify(device["id"], code_for(seed, step), strict) is True
        # And the count started again from zero.
        wrong = wrong_code(seed, range(step - 1, step + 4))
        assert await world.verify(device["id"], wrong, strict) is False
        assert await world.verify(device["id"], wrong, strict) is False
        assert await world.status(device) == "active"


async def test_a_right_code_resets_the_count(world: Otp, store: Store) -> None:
    async with policy(store, otp_max_failures=3) as strict:
        step = await fresh_step(margin=5)
        seed = distinct_seed(range(step - 1, step + 3))
        device = await world.totp(seed)
        wrong = wrong_code(seed, range(step - 1, step + 3))
        for _ in range(2):
            assert await world.verify(device["id"], wrong, strict) is False
        assert await world.verify(device["id"], code_for(seed, step), strict) is True
        for _ in range(2):
            assert await world.verify(device["id"], wrong, strict) is False
        assert await world.status(device) == "active"
        # A replayed code is a failure like any wrong one.
        assert await world.verify(device["id"], code_for(seed, step), strict) is False
        assert await world.status(device) == "blocked"


async def test_failures_are_counted_on_every_node(world: Otp, store: Store) -> None:
    async with (
        policy(store, otp_max_failures=3) as a,
        policy(store, otp_max_failures=3) as b,
    ):
        step = await fresh_step()
        seed = distinct_seed(range(step - 1, step + 2))
        device = await world.totp(seed)
        wrong = wrong_code(seed, range(step - 1, step + 4))
        assert await world.verify(device["id"], wrong, a) is False
        assert await world.verify(device["id"], wrong, b) is False
        assert await world.verify(device["id"], wrong, a) is False
        assert await world.status(device) == "blocked"
        assert await world.verify(device["id"], code_for(seed, step), b) is False


async def test_blocked_clears_after_the_timeout(world: Otp, store: Store) -> None:
    async with policy(store, otp_max_failures=3, otp_unblock_after_seconds=1) as lenient:
        step = await fresh_step(margin=6)
        seed = distinct_seed(range(step - 1, step + 3))
        device = await world.totp(seed)
        wrong = wrong_code(seed, range(step - 1, step + 3))
        for _ in range(3):
            assert await world.verify(device["id"], wrong, lenient) is False
        assert await world.status(device) == "blocked"
        assert await world.verify(device["id"], code_for(seed, step), lenient) is False
        # The default node keeps a blocked device blocked (no timeout there).
        await asyncio.sleep(1.2)
        assert await world.verify(device["id"], code_for(seed, step)) is False
        assert await world.status(device) == "blocked"

        step = await fresh_step()
        assert await world.verify(device["id"], code_for(seed, step), lenient) is True
        record = await world.bank.record(device["id"])
        assert record["device_status"] == "active"
        assert record["version"] == 3  # blocked (2), unblocked (3)
        # The count starts again.
        wrong = wrong_code(seed, range(step - 1, step + 4))
        for _ in range(2):
            assert await world.verify(device["id"], wrong, lenient) is False
        assert await world.status(device) == "active"

        # A wrong code after the timeout unblocks and counts one failure, no more.
        assert await world.verify(device["id"], wrong, lenient) is False
        assert await world.status(device) == "blocked"
        await asyncio.sleep(1.2)
        assert await world.verify(device["id"], wrong, lenient) is False
        assert await world.status(device) == "active"


async def test_an_operator_block_does_not_time_out(world: Otp, store: Store) -> None:
    async with policy(store, otp_unblock_after_seconds=1) as lenient:
        device = await world.totp()
        answer = await world.bank.put({"id": device["id"], "version": 1, "device_status": 1})
        assert answer["data"]["device_status"] == "blocked"
        await asyncio.sleep(1.2)
        step = await fresh_step()
        assert await world.verify(device["id"], code_for(device["private_key"], step), lenient) is (
            False
        )
        assert await world.status(device) == "blocked"


async def test_a_device_created_blocked_refuses_codes(world: Otp) -> None:
    device = await world.totp(device_status="blocked")
    step = await fresh_step()
    assert await world.verify(device["id"], code_for(device["private_key"], step)) is False


async def test_deactivated_is_final(world: Otp) -> None:
    device = await world.totp()
    seed = device["private_key"]
    answer = await world.bank.put({"id": device["id"], "version": 1, "device_status": 2})
    assert answer["data"]["device_status"] == "deactivated"
    step = await fresh_step()
    assert await world.verify(device["id"], code_for(seed, step)) is False
    for status in ("active", 0, "blocked", 1):
        answer = await world.bank.put({"id": device["id"], "version": 2, "device_status": status})
        assert_error(answer, "[ERROR-DEVICE-DEACTIVATED : ")
    assert await world.status(device) == "deactivated"
    assert await world.verify(device["id"], code_for(seed, step)) is False
    # Wrong codes against a deactivated device change nothing.
    record = await world.bank.record(device["id"])
    assert await world.verify(device["id"], wrong_code(seed, range(step - 1, step + 4))) is False
    assert await world.bank.record(device["id"]) == record


# ------------------------------------------------------------------ refusals


async def test_only_totp_devices_verify(world: Otp) -> None:
    for kind, number in (
        ("email", "a@example.com"),
        ("http", "https://hooks.example.com/x"),
        ("mobile_application", None),
        ("phone", "+15550001111"),
        ("stomp", "/queue/x"),
    ):
        device = await world.bank.create(client_code="C001", device_type=kind, device_number=number)
        response = await world.post({"device_id": device["id"], "code": "123456"})
        assert response.status_code == 422, (kind, response.text)
        assert response.json()["error"]["code"] == "auth_device.not_an_authenticator"


async def test_unknown_devices(world: Otp, client: httpx.AsyncClient, runtime: Runtime) -> None:
    other = await new_otp(client, runtime)
    theirs = await other.totp()
    # "²" and "１２" are digits to str.isdigit, but no id: they are looked up as uids.
    for ident in (
        987654321,
        "987654321",
        "no-such-device",
        "²",
        "１２",
        theirs["id"],
        theirs["uid"],
    ):
        response = await world.post({"device_id": ident, "code": "123456"})
        assert response.status_code == 404, (ident, response.text)
        assert response.json()["error"]["code"] == "auth_device.not_found"
    # Their device is untouched by the attempts, even with its right code: that code is
    # still theirs to use once.
    code = code_for(theirs["private_key"], await fresh_step())
    for ident in (theirs["id"], theirs["uid"]):
        response = await world.post({"device_id": ident, "code": code})
        assert response.status_code == 404, (ident, response.text)
    assert (await other.bank.record(theirs["id"]))["version"] == 1
    assert await other.verify(theirs["uid"], code) is True
    assert await other.verify(theirs["uid"], code) is False


async def test_deleted_device(world: Otp) -> None:
    device = await world.totp()
    assert (await world.bank.delete(device["id"]))["status"] == "success"
    step = await fresh_step()
    response = await world.post(
        {"device_id": device["uid"], "code": code_for(device["private_key"], step)}
    )
    assert response.status_code == 404


async def test_who_may_verify(world: Otp, client: httpx.AsyncClient, runtime: Runtime) -> None:
    device = await world.totp()
    body = {"device_id": device["id"], "code": "123456"}
    assert (await client.post(VERIFY, json=body)).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert (await client.post(VERIFY, json=body, headers=bad)).status_code == 401
    reader = await new_caller(runtime, [scopes.AUTHENTICATORS_WRITE], tenant=world.bank.tenant)
    response = await client.post(VERIFY, json=body, headers=reader.headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "auth.forbidden"
    full = await new_caller(runtime, tenant=world.bank.tenant)
    step = await fresh_step()
    body["code"] = code_for(device["private_key"], step)
    response = await client.post(VERIFY, json=body, headers=full.headers)
    assert response.status_code == 200 and response.json() == {"valid": True}


@pytest.mark.parametrize(
    "body",
    [
        {"code": "123456"},
        {"device_id": 1},
        {"device_id": 1, "code": "1" * 17},
        {"device_id": 1, "code": "123456", "extra": True},
        {"device_id": None, "code": "123456"},
    ],
)
async def test_malformed_requests(world: Otp, body: dict[str, Any]) -> None:
    response = await world.post(body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation.invalid"


# ------------------------------------------------------------------ secrets at rest


async def test_seeds_are_sealed_and_never_recorded(
    world: Otp, store: Store, runtime: Runtime
) -> None:
    async with policy(store, otp_max_failures=2, otp_unblock_after_seconds=1) as lenient:
        totp = await world.totp(description="app")
        hotp = await world.totp(otp_type="hotp", otp_algorithm="SHA256", otp_digits=8)
        imported = await world.totp(otp.b32(RFC_SEEDS["SHA512"]), otp_algorithm="SHA512")
        app = await world.bank.create(client_code="C001", device_type="mobile_application")
        step = await fresh_step()
        seed = totp["private_key"]
        # Use, fail, block, unblock, update, delete: every kind of change is recorded.
        assert await world.verify(totp["id"], code_for(seed, step), lenient) is True
        wrong = wrong_code(seed, range(step - 1, step + 4))
        assert await world.verify(totp["id"], wrong, lenient) is False
        assert await world.verify(totp["id"], wrong, lenient) is False
        assert await world.status(totp) == "blocked"
        await asyncio.sleep(1.2)
        assert await world.verify(totp["id"], wrong, lenient) is False
        assert await world.verify(
            hotp["id"], code_for(hotp["private_key"], 0, 8, "SHA256"), lenient
        )
        await world.bank.put({"id": hotp["id"], "version": 1, "description": "edited"})
        assert (await world.bank.delete(imported["id"]))["status"] == "success"

    secrets: list[str] = []
    for device in (totp, hotp, imported):
        b32 = device["private_key"]
        raw = otp.from_b32(b32)
        secrets += [b32, b32.lower(), raw.hex(), base64.b64encode(raw).decode()]
        secrets.append(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    pem_body = "".join(app["private_key"].splitlines()[1:-1])
    secrets += [pem_body, pem_body[:40], "PRIVATE KEY"]

    async with runtime.db.unit_of_work(write=False) as session:
        sealed = dict(
            (
                await session.execute(
                    text("SELECT id, secret_sealed FROM auth_devices WHERE tenant_id = :t"),
                    {"t": world.bank.tenant_id},
                )
            ).all()
        )
        history = list(
            await session.scalars(
                select(EntityHistory).where(EntityHistory.tenant_id == world.bank.tenant_id)
            )
        )
        audit = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == world.bank.tenant_id)
            )
        )
    # The seeds are in the table, sealed; the app has no secret there at all.
    assert set(sealed) == {totp["id"], hotp["id"], app["id"]}
    assert sealed[app["id"]] is None
    for ident in (totp["id"], hotp["id"]):
        assert sealed[ident]
        for secret in secrets:
            assert secret not in sealed[ident]
    assert runtime.vault.open(
        sealed[totp["id"]], f"auth-device:{world.bank.tenant_id}:{totp['uid']}"
    ) == otp.from_b32(seed)

    # History and audit saw every change, and no secret.
    device_ids = {str(d["id"]) for d in (totp, hotp, imported, app)}
    assert {h.entity_id for h in history if h.entity_type == "auth_device"} == device_ids
    actions = [(e.entity_id, e.action) for e in audit if e.entity_type == "auth_device"]
    assert (str(totp["id"]), "block") in actions
    assert (str(totp["id"]), "unblock") in actions
    assert (str(imported["id"]), "delete") in actions
    dumped = json.dumps(
        [h.data for h in history]
        + [[e.actor, e.request_id, e.action, e.entity_id, e.changes] for e in audit]
    )
    for secret in secrets:
        assert secret not in dumped, secret
    for row in history:
        assert "secret_sealed" not in row.data
        assert "private_key" not in row.data


# ------------------------------------------------------------------ concurrency


async def test_sixteen_concurrent_uses_of_one_code(world: Otp) -> None:
    device = await world.totp()
    step = await fresh_step(margin=10)
    code = code_for(device["private_key"], step)
    results = await asyncio.gather(*(world.verify(device["id"], code) for _ in range(16)))
    assert sorted(results) == [False] * 15 + [True]
    assert await world.verify(device["id"], code) is False
    # (A replay counts as a failure once the winner has committed, so whether this burst
    # blocks the device depends on timing: not asserted.)


async def test_concurrent_uses_on_two_nodes(world: Otp, store: Store) -> None:
    async with policy(store) as a, policy(store) as b:
        device = await world.totp()
        step = await fresh_step(margin=10)
        code = code_for(device["private_key"], step)
        results = await asyncio.gather(
            *(world.verify(device["uid"], code, a if i % 2 else b) for i in range(16))
        )
        assert results.count(True) == 1
        assert results.count(False) == 15


async def test_concurrent_uses_of_one_hotp_code(world: Otp, store: Store) -> None:
    # Enough failures allowed that the losers' replays cannot block the device.
    async with policy(store, otp_max_failures=100) as tolerant:
        seed = distinct_seed(range(0, 12))
        device = await world.totp(seed, otp_type="hotp")
        results = await asyncio.gather(
            *(world.verify(device["id"], code_for(seed, 3), tolerant) for _ in range(16))
        )
        assert results.count(True) == 1
        # The counter moved past 3, exactly once.
        assert await world.verify(device["id"], code_for(seed, 3), tolerant) is False
        assert await world.verify(device["id"], code_for(seed, 4), tolerant) is True


async def test_after_a_valid_code_every_change_still_counts(world: Otp) -> None:
    """A block, a deactivation or a deletion after a valid code refuses the next one."""
    step = await fresh_step()
    blocked, deactivated, deleted = [await world.totp() for _ in range(3)]
    for device in (blocked, deactivated, deleted):
        assert await world.verify(device["id"], code_for(device["private_key"], step - 1)) is True
    await world.bank.put({"id": blocked["id"], "version": 1, "device_status": 1})
    await world.bank.put({"id": deactivated["id"], "version": 1, "device_status": 2})
    assert (await world.bank.delete(deleted["id"]))["status"] == "success"

    for device in (blocked, deactivated):
        assert await world.verify(device["id"], code_for(device["private_key"], step)) is False
    response = await world.post(
        {"device_id": deleted["id"], "code": code_for(deleted["private_key"], step)}
    )
    assert response.status_code == 404
    assert await world.status(blocked) == "blocked"
    assert await world.status(deactivated) == "deactivated"


async def test_postgresql_writes_used_steps_in_the_rows_own_page(
    world: Otp, store: Store, runtime: Runtime
) -> None:
    """auth_devices keeps room in its pages (migration 0007), so the update of an accepted
    code stays in its row's page (HOT: no index touched). With full pages (fillfactor 100)
    the first update of each row on a full page moves it to another page."""
    if store.backend != "postgresql":
        pytest.skip("a PostgreSQL storage parameter")
    devices = [await world.totp() for _ in range(40)]
    ids = [d["id"] for d in devices]
    pages = text(
        "SELECT id, (ctid::text::point)[0]::bigint AS page FROM auth_devices "
        "WHERE id = ANY(CAST(:ids AS bigint[]))"
    )

    async def page_of_each() -> dict[int, int]:
        async with runtime.db.unit_of_work(write=False) as session:
            return {row.id: row.page for row in await session.execute(pages, {"ids": ids})}

    async with runtime.db.unit_of_work(write=False) as session:
        options = await session.scalar(
            text("SELECT reloptions FROM pg_class WHERE relname = 'auth_devices'")
        )
    assert options == [f"fillfactor={FILLFACTOR}"]
    before = await page_of_each()
    step = await fresh_step()
    for device in devices:
        assert await world.verify(device["id"], code_for(device["private_key"], step)) is True
    assert await page_of_each() == before
