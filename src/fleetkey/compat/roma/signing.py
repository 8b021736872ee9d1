"""Checking Huawei Cloud ``SDK-HMAC-SHA256`` request signatures as huaweicloudsdkcore makes them.

CanonicalRequest = METHOD "\\n" CanonicalURI "\\n" CanonicalQuery "\\n" CanonicalHeaders "\\n"
                   SignedHeaders "\\n" hex(sha256(body))
StringToSign     = "SDK-HMAC-SHA256\\n" X-Sdk-Date "\\n" hex(sha256(CanonicalRequest))
Signature        = hex(HMAC-SHA256(SK, StringToSign))

CanonicalURI: each path segment percent-decoded then encoded (only ``~`` kept), joined with
``/``, always ending in ``/``. CanonicalQuery: ``k=v`` pairs sorted, both encoded the same
way, joined with ``&``. CanonicalHeaders: ``name:value`` (lower-case name, trimmed value) of
each signed header, one per line, with a final newline.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_AUTH = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-fA-F]{64})$"
)


@dataclass(frozen=True)
class SignedRequest:
    access_key: str
    signed_headers: list[str]
    signature: str


def parse_authorization(value: str) -> SignedRequest | None:
    match = _AUTH.match(value.strip())
    if match is None:
        return None
    return SignedRequest(match.group(1), match.group(2).split(";"), match.group(3).lower())


def parse_sdk_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    uri = "/".join(_encode(part) for part in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(raw_query: str) -> str:
    pairs = sorted(parse_qsl(raw_query, keep_blank_values=True))
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def string_to_sign(
    method: str,
    path: str,
    raw_query: str,
    headers: dict[str, str],
    signed: SignedRequest,
    body: bytes,
    sdk_date: str,
) -> str | None:
    """None when a signed header is missing from the request."""
    lines = []
    for name in signed.signed_headers:
        if name not in headers:
            return None
        lines.append(f"{name}:{headers[name].strip()}")
    payload_hash = headers.get("x-sdk-content-sha256") or (
        hashlib.sha256(body).hexdigest() if body else EMPTY_HASH
    )
    canonical = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(raw_query),
            "\n".join(lines) + "\n",
            ";".join(signed.signed_headers),
            payload_hash,
        ]
    )
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signature_matches(secret_key: str, text: str, presented: str) -> bool:
    expected = hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, presented)
