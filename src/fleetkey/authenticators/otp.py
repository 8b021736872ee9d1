"""HOTP (RFC 4226) and TOTP (RFC 6238), and the otpauth Key URI authenticator apps read."""

from __future__ import annotations

import base64
import hmac
import struct
from collections.abc import Iterable
from urllib.parse import quote, urlencode

from fleetkey.credentials.hmacs import PrekeyedHmac

# The algorithms an authenticator may use, by their otpauth name: hashlib's name for each.
ALGORITHMS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
DIGITS = (6, 8)
PERIOD = 30


def _code(keyed: PrekeyedHmac, counter: int, digits: int) -> str:
    """RFC 4226 section 5.3: HMAC, dynamic truncation, modulo 10^digits."""
    mac = keyed.digest(struct.pack(">Q", counter))
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def hotp(secret: bytes, counter: int, digits: int = 6, algorithm: str = "SHA1") -> str:
    return _code(PrekeyedHmac(secret, ALGORITHMS[algorithm]), counter, digits)


def totp_step(unix_time: float, period: int = PERIOD) -> int:
    return int(unix_time // period)


def matching_step(
    secret: bytes, code: str, steps: Iterable[int], digits: int, algorithm: str
) -> int | None:
    """The first step (or HOTP counter) of ``steps``, in their order, whose code is ``code``.

    Each comparison is constant-time. The search stops at a match: a caller who sent a right
    code may learn from the timing which candidate it was, which is only the step (the
    time, or how far ahead the counter ran), nothing secret; a wrong code is compared with
    every candidate. Callers give the likeliest step first (TOTP: now), so a right code
    costs one HMAC instead of three.
    """
    # Keyed once for every candidate (up to three TOTP steps, eleven HOTP counters).
    keyed = PrekeyedHmac(secret, ALGORITHMS[algorithm])
    for step in steps:
        if hmac.compare_digest(_code(keyed, step, digits), code):
            return step
    return None


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
