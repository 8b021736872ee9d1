"""HOTP (RFC 4226) and TOTP (RFC 6238), and the otpauth Key URI authenticator apps read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from typing import Any
from urllib.parse import quote, urlencode

# The algorithms an authenticator may use, by their otpauth name: hashlib's name for each.
ALGORITHMS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
DIGITS = (6, 8)
PERIOD = 30


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class _Keyed:
    """HMAC (RFC 2104) under one secret, for codes at several counters.

    The inner and outer hash states are keyed once and copied for each counter. A
    verification tries up to three TOTP steps (or eleven HOTP counters): measured with the
    CPU caches cold, as in a busy server, three of OpenSSL's one-shot HMACs
    (``hmac.digest``) cost about twice these copies, because OpenSSL 3 looks the algorithm
    up again on every call. The RFC 4226 and 6238 vectors and a comparison with
    ``hmac.digest`` for every algorithm and key length are tests.
    """

    def __init__(self, secret: bytes, algorithm: str) -> None:
        new: Any = getattr(hashlib, ALGORITHMS[algorithm])
        block = new().block_size
        key = (new(secret).digest() if len(secret) > block else secret).ljust(block, b"\0")
        self._inner, self._outer = new(key.translate(_IPAD)), new(key.translate(_OPAD))

    def mac(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        digest: bytes = outer.digest()
        return digest


def _code(keyed: _Keyed, counter: int, digits: int) -> str:
    """RFC 4226 section 5.3: HMAC, dynamic truncation, modulo 10^digits."""
    mac = keyed.mac(struct.pack(">Q", counter))
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def hotp(secret: bytes, counter: int, digits: int = 6, algorithm: str = "SHA1") -> str:
    return _code(_Keyed(secret, algorithm), counter, digits)


def totp_step(unix_time: float, period: int = PERIOD) -> int:
    return int(unix_time // period)


def matching_step(
    secret: bytes, code: str, steps: range, digits: int, algorithm: str
) -> int | None:
    """The step (or HOTP counter) in ``steps`` whose code is ``code``; every candidate is
    compared in constant time, so timing tells nothing about which one matched."""
    keyed = _Keyed(secret, algorithm)
    found = None
    for step in steps:
        if hmac.compare_digest(_code(keyed, step, digits), code):
            found = step if found is None else found
    return found


def b32(secret: bytes) -> str:
    return base64.b32encode(secret).decode().rstrip("=")


def from_b32(text: str) -> bytes:
    cleaned = text.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def key_uri(
    kind: str,
    issuer: str,
    account: str,
    secret: bytes,
    digits: int,
    algorithm: str,
    period: int = PERIOD,
    counter: int = 0,
) -> str:
    """``otpauth://TYPE/ISSUER:ACCOUNT?secret=...&issuer=...`` (Google Authenticator's format)."""
    params = {"secret": b32(secret), "issuer": issuer, "algorithm": algorithm, "digits": digits}
    if kind == "totp":
        params["period"] = period
    else:
        params["counter"] = counter
    label = quote(f"{issuer}:{account}", safe=":@")
    return f"otpauth://{kind}/{label}?{urlencode(params, quote_via=quote)}"
