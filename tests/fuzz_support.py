"""Shared pieces of the robustness suites: junk strategies and the async bridge.

How hypothesis meets the async fixtures
---------------------------------------
The ``client`` fixture lives on pytest-asyncio's session event loop, and hypothesis's
``@given`` drives a *synchronous* function. ``run_property`` joins the two: the async test
hands its ``@given`` function to a worker thread (``asyncio.to_thread``), and every example
sends its requests back to the test's own event loop with
``asyncio.run_coroutine_threadsafe`` (``Bridge.__call__``). The loop is free while it awaits
the worker thread, so it serves those requests; the database engine never leaves its loop.

This keeps hypothesis fully in charge: examples are generated, a failure is shrunk to a
minimal request and reported with hypothesis's usual ``Failing test case`` and the seed to
reproduce it (``--hypothesis-seed``), and the example database is off (``database=None``)
so a run never depends on files left by an earlier one. (Drawing inputs with
``strategy.example()`` would be neither reproducible nor shrinkable; an async ``@given``
test does not run reliably under pytest-asyncio's session loop.)

Other pieces
------------
* ``bodies(template)``: raw request bodies, mostly a valid template mutated (a field
  replaced by a random JSON value or a nasty string, deleted, junk keys added), plus
  non-JSON bytes, truncated JSON, JSON lists/numbers, nesting up to 5000 deep and a body
  over 1 MB.
* ``regressions(template)``: deterministic variants run as ``@example`` every time (NUL,
  unpaired surrogates, 5000 characters in each text field; date-times with no UTC instant;
  NaN, Infinity, numbers beyond 64 bits) -- the inputs that once reached the database.
* ``Ledger``: a tenant's row counts before and after a batch, so a test can assert that
  only successful requests left rows (and history/audit rows) behind.
* ``FLEETKEY_FUZZ_SCALE=10`` multiplies every test's ``max_examples`` for a deeper hunt.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import os
import string
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fleetkey.audit.models import AuditEvent, EntityHistory
from fleetkey.devices.models import RegisteredDevice, WhitelistedDevice
from fleetkey.providers.models import (
    DeviceProvider,
    DeviceSoftware,
    DeviceSubType,
    DeviceType,
    TrustProvider,
)
from fleetkey.runtime import Runtime

T = TypeVar("T")

HUGE = "x" * 100_000


# FLEETKEY_FUZZ_SCALE=10 runs ten times the examples (a deeper, slower hunt).
SCALE = float(os.environ.get("FLEETKEY_FUZZ_SCALE", "1"))


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max(1, int(max_examples * SCALE)),
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )


class Bridge:
    """Run a coroutine on the test's event loop from hypothesis's worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)


async def run_property(build: Callable[[Bridge], Callable[[], None]]) -> None:
    """``build(bridge)`` returns the ``@given`` function; it runs in a worker thread."""
    test = build(Bridge(asyncio.get_running_loop()))
    await asyncio.to_thread(test)


# ---------------------------------------------------------------- what junk leaves behind

TABLES: dict[str, Any] = {
    "device_providers": DeviceProvider,
    "trust_providers": TrustProvider,
    "device_software": DeviceSoftware,
    "device_types": DeviceType,
    "device_subtypes": DeviceSubType,
    "registered_devices": RegisteredDevice,
    "whitelisted_devices": WhitelistedDevice,
    "entity_history": EntityHistory,
    "audit_events": AuditEvent,
}


async def row_counts(runtime: Runtime, tenant_id: str) -> dict[str, int]:
    async with runtime.db.unit_of_work(write=False) as session:
        return {
            name: int(
                await session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                or 0
            )
            for name, model in TABLES.items()
        }


class Ledger:
    """Counts a tenant's rows around a batch of requests and what the successes wrote."""

    def __init__(self, runtime: Runtime, tenant_id: str) -> None:
        self.runtime, self.tenant_id = runtime, tenant_id
        self.before: dict[str, int] = {}
        self.sent = 0
        self.succeeded: set[Any] = set()

    async def open(self) -> None:
        self.before = await row_counts(self.runtime, self.tenant_id)

    def record(self, ok: bool, key: Any = None) -> None:
        """One request sent; ``key`` names what a success wrote (one row per distinct key)."""
        self.sent += 1
        if ok:
            self.succeeded.add(self.sent if key is None else key)

    async def assert_growth(self, per_success: dict[str, int], loose: tuple[str, ...] = ()) -> None:
        """Rows grew by ``per_success`` for each success, and nothing else grew.

        ``loose`` tables may grow by any amount, but only when something succeeded.
        """
        after = await row_counts(self.runtime, self.tenant_id)
        growth = {k: after[k] - self.before[k] for k in after if after[k] != self.before[k]}
        n = len(self.succeeded)
        expected = {k: v * n for k, v in per_success.items() if v * n}
        for name in loose:
            if n and growth.get(name, 0) >= 0:
                expected[name] = growth.get(name, 0)
            if not expected.get(name):
                expected.pop(name, None)
        keys = sorted(repr(k)[:60] for k in self.succeeded)[:20]
        assert growth == expected, f"{growth=} {expected=} sent={self.sent} successes={keys}"
        assert self.sent > 0


# ---------------------------------------------------------------- leaf values

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ufeff",
    "\u202e",
    "\U0001f642" * 40,
    "null",
    "true",
    "NaN",
    "-1",
    "0",
    "1e309",
    "9" * 30,
    "'; DROP TABLE registered_devices; --",
    "%00",
    "../../etc/passwd",
    "\\",
    '"',
    "{}",
    "[]",
    "REVOKED",
    "'Revoked'",
    "2020-02-30T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "2020-01-01T00:00:00+23:59",
    "T",
    "x" * 37,
    "x" * 257,
    "x" * 5000,
    HUGE,
]

offsets = st.builds(
    timezone,
    st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23)),
)
iso_datetimes = st.builds(
    lambda d, sep: d.isoformat(sep=sep),
    st.datetimes(min_value=datetime(1, 1, 1), timezones=st.none() | offsets),
    st.sampled_from(["T", " "]),
)

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY_STRINGS),
    iso_datetimes,
    st.text(alphabet=st.characters(codec="utf-8"), min_size=30, max_size=300),
)
big_ints = st.one_of(
    st.integers(),
    st.sampled_from([2**31, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**100, -(10**300)]),
)
leaves = st.one_of(st.none(), st.booleans(), big_ints, st.floats(), texts)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(max_size=10) | st.sampled_from(NASTY_STRINGS[:8]), inner, max_size=4
        )
    ),
    max_leaves=12,
)


def encode_json(value: Any, ascii_only: bool = True) -> bytes:
    """JSON as a careless client writes it: NaN allowed, lone surrogates passed through."""
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode(
        "utf-8", "surrogatepass"
    )


# ---------------------------------------------------------------- mutating a valid body

Path = tuple[str | int, ...]


def paths_of(value: Any, prefix: Path = ()) -> list[Path]:
    """Every key path inside a template (objects and lists), shallowest first."""
    out: list[Path] = []
    items: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        out.append((*prefix, key))
        out.extend(paths_of(child, (*prefix, key)))
    return out


def _parent(doc: Any, path: Path) -> Any:
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def set_path(doc: Any, path: Path, value: Any) -> None:
    parent, key = _parent(doc, path), path[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        parent[key] = value


def delete_path(doc: Any, path: Path) -> None:
    parent, key = _parent(doc, path), path[-1]
    if isinstance(parent, dict):
        parent.pop(key, None)
    elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
        del parent[key]


@st.composite
def mutated(draw: st.DrawFn, template: Any, values: st.SearchStrategy[Any] = json_values) -> Any:
    """``template`` with 1-3 fields replaced by junk (or a nasty string), deleted, or junk
    keys added."""
    doc = copy.deepcopy(template)
    paths = paths_of(template)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "replace", "nasty", "delete", "insert", "huge"]))
        if kind == "replace":
            set_path(doc, path, draw(values))
        elif kind == "nasty":
            set_path(doc, path, draw(st.sampled_from(NASTY_STRINGS) | iso_datetimes))
        elif kind == "delete":
            delete_path(doc, path)
        elif kind == "huge":
            set_path(doc, path, HUGE)
        else:
            parent = _parent(doc, path)
            if isinstance(parent, dict):
                parent[draw(st.text(max_size=12) | st.sampled_from(NASTY_STRINGS[:8]))] = draw(
                    values
                )
    return doc


def regressions(template: Any) -> list[Any]:
    """Deterministic variants of ``template`` that once broke a store or a response.

    Every text field gets a NUL (PostgreSQL text refuses it), an unpaired surrogate (not
    UTF-8) and 5000 characters (past any column); every date-like field a date-time with
    no UTC instant; the first field NaN, Infinity and a number beyond 64 bits.
    """
    out: list[Any] = []
    leaves = [p for p in paths_of(template) if not isinstance(_get(template, p), dict | list)]
    for n, path in enumerate(leaves):
        value = _get(template, path)
        name = str(path[-1]).lower()
        junk: list[Any] = []
        if isinstance(value, str):
            junk += ["a\x00b", "x\udfffy", "x" * 5000]
        if any(word in name for word in ("date", "time", "expir", "as_of", "_at")):
            junk += ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
        if n == 0:
            junk += [float("nan"), float("inf"), 2**64, -(10**30)]
        for item in junk:
            doc = copy.deepcopy(template)
            set_path(doc, path, item)
            out.append(doc)
    return out


def _get(doc: Any, path: Path) -> Any:
    parent = _parent(doc, path)
    return parent[path[-1]] if parent is not None else None


# ---------------------------------------------------------------- whole request bodies


def deep_nesting() -> st.SearchStrategy[bytes]:
    return st.builds(
        lambda depth, opener, wrap: (
            (b'{"request":' if wrap else b"")
            + (b"[" if opener else b'{"a":') * depth
            + b"1"
            + (b"]" if opener else b"}") * depth
            + (b"}" if wrap else b"")
        ),
        st.integers(1, 5000),
        st.booleans(),
        st.booleans(),
    )


def bodies(template: Any) -> st.SearchStrategy[bytes]:
    """Raw request bodies: mostly mutated templates, plus every kind of non-object junk."""
    variants = mutated(template)
    as_json = st.builds(encode_json, variants, st.booleans())
    text = json.dumps(template)
    return st.one_of(
        as_json,
        as_json,
        as_json,
        st.builds(encode_json, json_values),  # lists, numbers, strings, null
        st.binary(max_size=80),
        st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.integers(0, len(text) - 1).map(lambda n: text[:n].encode()),  # truncated JSON
        deep_nesting(),
        st.just(b'{"request": "' + b"y" * 1_100_000 + b'"}'),  # over the 1 MB limit
        st.just(b"\xff\xfe{}"),
    )


# ---------------------------------------------------------------- path and query values

B64_ALPHABET = string.ascii_letters + string.digits + "+/=-_ \n."


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else encode_json(value)
    return base64.b64encode(raw).decode()


path_ids = st.one_of(
    st.text(min_size=1, max_size=60),
    st.sampled_from([s for s in NASTY_STRINGS if s and len(s) <= 5000]),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=20).map(lambda s: s * 200),
    st.uuids().map(str),
).filter(lambda s: s.strip(".") != "" and "\ud800" not in s and "\udfff" not in s)

query_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [s for s in NASTY_STRINGS if "\ud800" not in s and "\udfff" not in s and len(s) <= 5000]
    ),
    big_ints.map(str),
    st.floats().map(str),
    iso_datetimes,
)

latin1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
header_values = st.one_of(
    st.text(alphabet=latin1, max_size=40),
    st.sampled_from(
        ['"3"', 'W/"1"', "*", "1", "9" * 5000, "\xb2", "\xb9\xb2", '"-1"', '""', "0x10"]
    ),
)
