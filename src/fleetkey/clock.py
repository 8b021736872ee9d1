"""Time in one place: always timezone-aware UTC, millisecond precision.

Milliseconds, because MOSIP's wire format carries three fractional digits and an as-of
read at a time printed on the wire must see the row written at that printed time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes (SQLite returns those) are UTC by convention here."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso_millis(value: datetime | None) -> str | None:
    """``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'``."""
    return None if value is None else _iso(value)


def _iso(value: datetime) -> str:
    # isoformat: a fraction of strftime's cost (this runs for every stored snapshot), and
    # a four-digit year before 1000 too.
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# The last millisecond formatted and its text, as one value: replaced whole, never torn.
_last: tuple[int, str] = (-1, "")


def iso_millis_now() -> str:
    """``iso_millis(utcnow())``, formatted once per millisecond: every MOSIP answer carries
    its time, and at connection rate many answers share a millisecond (formatting was a
    tenth of a cached validation's CPU)."""
    global _last
    ms = time.time_ns() // 1_000_000
    if ms != _last[0]:
        second = datetime.fromtimestamp(ms // 1000, UTC)
        _last = (ms, _iso(second.replace(microsecond=ms % 1000 * 1000)))
    return _last[1]


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a missing zone means UTC. Raises ``ValueError``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty date-time")
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    try:
        return as_utc(value)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is before the first UTC instant
        raise ValueError("date-time out of range") from exc
