"""Reading MOSIP request bodies: lenient about types the way Jackson is, strict about shape."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime
from typing import Any

from fleetkey.clock import parse_instant
from fleetkey.errors import DomainError, FieldProblem, ValidationFailed
from fleetkey.validation import unstorable

MAX_BODY_BYTES = 1_000_000


class FormatError(DomainError):
    """Input that cannot be read at all: MOSIP's ``Invalid Format in field``."""

    def __init__(self, field: str) -> None:
        super().__init__("validation.format", f"Invalid Format in field : {field}", 422)


def parse_json(raw: bytes) -> Any:
    if len(raw) > MAX_BODY_BYTES:
        raise FormatError("request (body larger than 1 MB)")
    try:
        body = _loads(raw)
    except (ValueError, RecursionError) as exc:
        raise FormatError("request (body is not JSON)") from exc
    if not _plainly_storable(raw):
        check_json(body, ())
    return body


def _plainly_storable(raw: bytes) -> bool:
    """Whether ``check_json`` can only pass, told from the bytes alone (validate is a hot
    path). JSON in UTF-8 has no NUL byte (UTF-16 and UTF-32 text always has), so NUL comes
    in only through a ``\\u`` escape; an unpaired surrogate through an escape or as the
    bytes ED A0-BF xx, which ``json.loads`` decodes ("surrogatepass") although they are not
    UTF-8 (so any ED byte, Hangul included, takes the full check); and a document with no
    more brackets than ``MAX_DEPTH`` cannot nest deeper than that."""
    return (
        b"\\u" not in raw
        and b"\x00" not in raw
        and b"\xed" not in raw
        and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH
    )


MAX_DEPTH = 32  # MOSIP's bodies nest 4 deep; a digitalId is stored and signed as sent


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


# Made once: ``json.loads`` with hooks builds a decoder per call (validate is a hot path).
_DECODER = json.JSONDecoder(parse_constant=_not_a_number, parse_float=_finite)


def _loads(raw: bytes) -> Any:
    """``json.loads`` refusing NaN, Infinity and numbers beyond a double (``1e400``).

    Neither PostgreSQL's jsonb nor a JSON response can carry them. The bytes are read as
    ``json.loads`` reads them (UTF-8, -16 or -32; a lone surrogate passes).
    """
    return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def check_json(value: Any, path: tuple[str, ...]) -> None:
    """Refuse text no store can keep (see ``unstorable``) and nesting beyond ``MAX_DEPTH``.

    Iterative, so the deepest nesting ``json.loads`` accepts is walked without recursion.
    """
    stack: list[tuple[tuple[str, ...], Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if unstorable(item):
                raise FormatError(_text_problem(where))
            continue
        if isinstance(item, dict | list) and len(where) - len(path) >= MAX_DEPTH:
            raise FormatError(f"{'.'.join(where)} (nested deeper than {MAX_DEPTH} levels)")
        if isinstance(item, dict):
            for key, child in item.items():
                if unstorable(key):
                    raise FormatError(_text_problem(where, "a key"))
                stack.append(((*where, key[:64]), child))
        elif isinstance(item, list):
            stack.extend(((*where, f"[{i}]"), child) for i, child in enumerate(item))


def _text_problem(where: tuple[str, ...], what: str = "text") -> str:
    field = ".".join(where) or "request"
    return f"{field} ({what} with a NUL character or an unpaired surrogate)"


def request_object(body: Any) -> dict[str, Any]:
    """The ``request`` member, which MOSIP requires (``@NotNull @Valid request``)."""
    if not isinstance(body, dict):
        raise FormatError("request")
    inner = body.get("request")
    if inner is None:
        raise ValidationFailed([FieldProblem("request", "must not be null")])
    if not isinstance(inner, dict):
        raise FormatError("request")
    return inner


def text(obj: dict[str, Any], key: str, *fallbacks: str) -> str | None:
    """A string member; numbers are taken as their text (Jackson does the same)."""
    for name in (key, *fallbacks):
        value = obj.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise FormatError(name)
    return None


def flag(obj: dict[str, Any], key: str, *fallbacks: str) -> bool | None:
    for name in (key, *fallbacks):
        value = obj.get(name)
        if value is None:
            continue
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise FormatError(name)
    return None


def instant(obj: dict[str, Any], key: str) -> datetime | None:
    value = text(obj, key)
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise FormatError(key) from exc


def decode_b64_json(value: Any, field: str) -> dict[str, Any]:
    """Standard or URL-safe base64, padded or not; a JWS's middle part when dot-separated."""
    if not isinstance(value, str) or not value.strip():
        raise FormatError(field)
    part = value.strip()
    if "." in part:
        pieces = part.split(".")
        if len(pieces) < 2:
            raise FormatError(field)
        part = pieces[1]
    part = "".join(part.split()).replace("-", "+").replace("_", "/")
    part += "=" * (-len(part) % 4)
    try:
        raw = base64.b64decode(part, validate=True)
        decoded = _loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise FormatError(field) from exc
    if not isinstance(decoded, dict):
        raise FormatError(field)
    if not _plainly_storable(raw):
        check_json(decoded, (field,))
    return decoded


def strip_quotes(value: str | None) -> str | None:
    """The doc's own example quotes query values (``?status='REVOKED'``)."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
