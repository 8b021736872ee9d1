"""``clock``: the wire's millisecond time, and the once-per-millisecond answer time."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from fleetkey.clock import iso_millis, iso_millis_now, utcnow

WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_iso_millis_is_the_wire_format() -> None:
    assert iso_millis(datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.678Z"
    )
    assert iso_millis(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
    assert iso_millis(None) is None


def test_iso_millis_now_is_now_to_the_millisecond() -> None:
    for _ in range(200):
        before = iso_millis(utcnow())
        text = iso_millis_now()
        after = iso_millis(utcnow())
        assert WIRE_TIME.match(text)
        assert before is not None and after is not None
        assert before <= text <= after  # one format, so text order is time order


def test_iso_millis_now_moves_with_the_clock() -> None:
    first = iso_millis_now()
    time.sleep(0.005)
    later = iso_millis_now()
    assert later > first
