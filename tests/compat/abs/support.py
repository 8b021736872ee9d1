"""Builders for the ABS oAuthDevice surface: a bank (tenant) with an app key, signed calls,
TOTP timing, and a small PNG reader for the enrolment QR code."""

from __future__ import annotations

import asyncio
import json
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from fleetkey.authenticators import otp
from fleetkey.compat.abs.signature import new_app_key, sign
from fleetkey.runtime import Runtime
from fleetkey.tenants import service as tenants

PUT = "/model/oAuthDevice/putDb"
SEARCH = "/api/oAuthDevice/getData/oAuthDeviceSearchRequest"
VERIFY = "/api/v1/otp/verify"

# Every field of the oAuthDevice schema (seed page), request and answer alike.
SCHEMA_FIELDS = {
    "action",
    "Base64QrCodePng",
    "client_code",
    "create_date",
    "create_user",
    "default_for_notifications",
    "description",
    "device_number",
    "device_number_masked",
    "device_status",
    "device_type",
    "form_title",
    "id",
    "modify_date",
    "modify_user",
    "operation_system",
    "private_key",
    "state",
    "uid",
    "use_device_as_login",
    "version",
}
ENVELOPE_FIELDS = {"status", "error_description", "error", "data_type", "total_records", "data"}


@dataclass
class Bank:
    """A fresh tenant with an ABS app key; every call is signed with it."""

    client: httpx.AsyncClient
    tenant: str
    tenant_id: str
    app_id: str
    secret: str
    # The second each (path, body) was last signed at: a signature is accepted once, and the
    # same request signed in the same second is the same signature, so wait for the next.
    signed: dict[tuple[str, bytes], int] = field(default_factory=dict)

    async def signature(self, path: str, content: bytes) -> str:
        last = self.signed.get((path, content))
        while last is not None and int(time.time()) <= last:
            await asyncio.sleep(1.02 - time.time() % 1)
        now = time.time()
        self.signed[(path, content)] = int(now)
        return sign(self.app_id, self.secret, "POST", path, content, now)

    async def call(
        self, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> dict[str, Any]:
        content = raw if raw is not None else json.dumps(body or {}).encode()
        headers = {
            "X-App-Sig": await self.signature(path, content),
            "Content-Type": "application/json",
        }
        response = await self.client.post(path, content=content, headers=headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert set(answer) == ENVELOPE_FIELDS, answer
        return answer

    async def put(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.call(PUT, body)

    async def create(self, **fields: Any) -> dict[str, Any]:
        """putDb that must succeed; the created record."""
        answer = await self.put(fields)
        assert answer["status"] == "success", answer
        data: dict[str, Any] = answer["data"]
        return data

    async def get(self, ident: object, surface: str = "model") -> dict[str, Any]:
        return await self.call(f"/{surface}/oAuthDevice/getDb/{ident}", {})

    async def record(self, ident: object) -> dict[str, Any]:
        answer = await self.get(ident)
        assert answer["status"] == "success", answer
        data: dict[str, Any] = answer["data"]
        return data

    async def search(self, **filters: Any) -> dict[str, Any]:
        return await self.call(SEARCH, filters)

    async def delete(self, ident: object) -> dict[str, Any]:
        return await self.call(f"/api/oAuthDevice/deleteItem/{ident}", {})


async def new_bank(client: httpx.AsyncClient, runtime: Runtime, tenant: str | None = None) -> Bank:
    name = tenant or f"bank-{uuid.uuid4().hex[:12]}"
    async with runtime.db.unit_of_work() as session:
        row = await tenants.ensure_tenant(session, name)
        app_id, secret = await new_app_key(session, runtime.vault, row.id, "core banking")
    return Bank(client, name, row.id, app_id, secret)


def error_answer(description: str) -> dict[str, Any]:
    """ABS's negative response: HTTP 200, status error, total_records -2, empty data."""
    return {
        "status": "error",
        "error_description": description,
        "error": {},
        "data_type": "",
        "total_records": -2,
        "data": {},
    }


def assert_error(answer: dict[str, Any], prefix: str) -> None:
    """An error envelope whose description starts with ``prefix`` (e.g. ``[ERROR-VERSION``)."""
    assert answer["status"] == "error", answer
    assert answer["error_description"].startswith(prefix), answer
    assert answer["error_description"].endswith("]"), answer
    assert answer == error_answer(answer["error_description"])


# ------------------------------------------------------------------ TOTP timing


async def fresh_step(margin: float = 3.0, period: int = otp.PERIOD) -> int:
    """The current TOTP step, with at least ``margin`` seconds left in it: closer to the
    boundary than that, wait for the next step to begin."""
    left = period - time.time() % period
    if left < margin:
        await asyncio.sleep(left + 0.05)
    return otp.totp_step(time.time(), period)


def code_for(seed_b32: str, step: int, digits: int = 6, algorithm: str = "SHA1") -> str:
    return otp.hotp(otp.from_b32(seed_b32), step, digits, algorithm)


def wrong_code(seed_b32: str, steps: range, digits: int = 6, algorithm: str = "SHA1") -> str:
    """A well-formed code that matches none of ``steps``."""
    taken = {code_for(seed_b32, s, digits, algorithm) for s in steps}
    for n in range(10**digits):
        candidate = str(n).zfill(digits)
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


def distinct_seed(steps: range, digits: int = 6, algorithm: str = "SHA1") -> str:
    """A random base32 seed whose codes for ``steps`` are pairwise different, so that a
    code names exactly one step (no chance collisions in window tests)."""
    while True:
        seed = otp.b32(uuid.uuid4().bytes + uuid.uuid4().bytes[:4])
        codes = {code_for(seed, s, digits, algorithm) for s in steps}
        if len(codes) == len(steps):
            return seed


# ------------------------------------------------------------------ PNG


def png_pixels(data: bytes) -> list[list[bool]]:
    """Decode a non-interlaced PNG into rows of pixels, ``True`` for dark."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, palette = 8, b"", b""
    width = height = depth = colour = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert interlace == 0
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    bits_per_pixel = channels * depth
    stride = (width * bits_per_pixel + 7) // 8
    bpp = max(1, bits_per_pixel // 8)
    raw = zlib.decompress(idat)
    assert len(raw) == height * (stride + 1)
    rows: list[list[bool]] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        previous = line
        row = []
        for x in range(width):
            if depth < 8:
                bit = x * bits_per_pixel
                sample = (line[bit // 8] >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
                samples = [sample]
            else:
                first = x * channels
                samples = list(line[first : first + channels])
            if colour == 3:
                samples = list(palette[samples[0] * 3 : samples[0] * 3 + 3])
            elif depth < 8:
                samples = [samples[0] * 255 // ((1 << depth) - 1)]
            grey = sum(samples[:3]) / len(samples[:3])
            row.append(grey < 128)
        rows.append(row)
    return rows


def qr_modules(pixels: list[list[bool]]) -> list[list[bool]]:
    """The module matrix of a QR image: the quiet zone and the module size are read from the
    top-left finder pattern (7 dark modules wide)."""
    top = next(y for y, row in enumerate(pixels) if any(row))
    left = pixels[top].index(True)
    run = 0
    while pixels[top][left + run]:
        run += 1
    assert run % 7 == 0, "no finder pattern"
    scale = run // 7
    size = (len(pixels[0]) - 2 * left) // scale
    assert (len(pixels) - 2 * top) // scale == size
    return [
        [pixels[top + r * scale + scale // 2][left + c * scale + scale // 2] for c in range(size)]
        for r in range(size)
    ]


def qr_shows(png: bytes, text: str) -> bool:
    """Whether the QR image's modules are those of ``text`` encoded as a QR code (segno is
    deterministic: the same text, error level and mask give the same matrix)."""
    import segno

    modules = qr_modules(png_pixels(png))
    for error in "lmqh":
        for boost in (True, False):
            expected = segno.make(text, error=error, boost_error=boost, micro=False).matrix
            if [[bool(v) for v in row] for row in expected] == modules:
                return True
    return False
