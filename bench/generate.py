"""Bulk data for the as-of benchmark: registered devices and their history, written straight
into the tables (COPY on PostgreSQL through asyncpg's ``copy_records_to_table``,
``executemany`` in large transactions on SQLite).

The tenant, its device provider and its MDS must exist already, created through the API
(bench/seed.py does that); every generated row then looks like one fleetkey itself writes:

* ``registered_devices``: the device as ``devices.registration.register`` stores it
  (resolved type code, the provider's name, the digital id verbatim, version, created_by
  and created_at, updated_by and updated_at once it changed);
* ``entity_history``: one row per version, as ``audit.service.record_change`` writes it
  (entity_type ``registered_device``, entity_id the code, lookup_key the serial, the
  version, valid_from, and the device's snapshot at that version as ``data``, with the
  keys in the model's column order, as ``VersionedMixin.snapshot`` makes it).

Each device has an odd number of versions (1, 3, 5, 7 or 9 for the default average of
5): version 1 is the registration, then the status alternates Revoked / Registered as
``PUT /registereddevices/update/status`` leaves it, so every device ends Registered. The
audit log is not generated (no read path the benchmarks measure touches it).

Times: an as-of read needs the provider and MDS to have existed at the instant asked
about, so all generated history falls between the tenant's latest provider/MDS history
row and now. Devices are laid out in time order in chunks; a device's versions fall on
distinct milliseconds inside its chunk's slice of that window.

It also returns a uniform sample of (device, an instant when it was Registered) for
as-of validate requests. Rows are built in a helper process while the database ingests
the previous chunk.

    python -m bench.generate --database-url sqlite+aiosqlite:////tmp/x/fleetkey.db \\
        --tenant bench --devices 100000 --samples-out /tmp/samples.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import asyncpg

from bench import mosip
from fleetkey.devices.models import REGISTERED, REVOKED, RegisteredDevice

ENTITY_TYPE = RegisteredDevice.ENTITY_TYPE
DEVICE_COLUMNS = [c.key for c in RegisteredDevice.__table__.columns]
HISTORY_COLUMNS = [
    "tenant_id",
    "entity_type",
    "entity_id",
    "lookup_key",
    "version",
    "valid_from",
    "data",
]
DT_COLUMNS = ("expires_at", "created_at", "updated_at")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK_DEVICES = 10_000
SQLITE_COMMIT_ROWS = 250_000
# Milliseconds each chunk needs per version of its busiest device (distinct instants).
MS_PER_VERSION = 4
# Types written before any device; the generated history starts after their latest row.
WORLD_TYPES = ("device_provider", "device_software", "trust_provider")
YEAR_MS = 365 * 86_400_000

Row = tuple[Any, ...]


@dataclass(frozen=True)
class TenantWorld:
    """What the API created: the generated devices belong to this provider and MDS."""

    tenant_id: str
    actor: str
    provider_id: str
    provider_name: str
    type_code: str
    subtype_code: str
    make: str
    model: str
    latest_ms: int  # the tenant's latest provider/MDS history instant (ms since the epoch)


@dataclass
class Sample:
    code: str
    serial: str
    at: datetime


@dataclass
class GenerateResult:
    devices: int
    history_rows: int
    seconds: float
    window: tuple[datetime, datetime]
    samples: list[Sample] = field(default_factory=list)


@dataclass(frozen=True)
class ChunkSpec:
    world: TenantWorld
    backend: str  # "sqlite" | "postgresql": how values are encoded
    first: int  # global index (serial number) of the chunk's first device
    count: int
    lo_ms: int
    hi_ms: int
    per_device: int
    serial_prefix: str
    seed: int
    sampled: frozenset[int]  # global indices of the devices to sample


@dataclass
class Chunk:
    devices: list[Row]
    history: list[Row]
    samples: list[Sample]


def _ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def _at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


class _Times:
    """Fast spellings of an instant, cached per second (a chunk spans few seconds)."""

    def __init__(self) -> None:
        self._iso: dict[int, str] = {}
        self._sql: dict[int, str] = {}
        self._dt: dict[int, datetime] = {}

    def iso(self, ms: int) -> str:
        """``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`` (fleetkey.clock.iso_millis)."""
        sec, milli = divmod(ms, 1000)
        head = self._iso.get(sec)
        if head is None:
            head = self._iso[sec] = _at(sec * 1000).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{head}.{milli:03d}Z"

    def sqlite(self, ms: int) -> str:
        """SQLAlchemy's SQLite spelling of a UTC instant (naive, microseconds)."""
        sec, milli = divmod(ms, 1000)
        head = self._sql.get(sec)
        if head is None:
            head = self._sql[sec] = _at(sec * 1000).strftime("%Y-%m-%d %H:%M:%S")
        return f"{head}.{milli:03d}000"

    def dt(self, ms: int) -> datetime:
        sec, milli = divmod(ms, 1000)
        base = self._dt.get(sec)
        if base is None:
            base = self._dt[sec] = _at(sec * 1000)
        return base.replace(microsecond=milli * 1000)


def _uuid4(rng: random.Random) -> str:
    """A random (version 4) UUID from ``rng``: reproducible and fast."""
    n = (rng.getrandbits(128) & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC << 60) | (0x8 << 60)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_MARK = {"status": "@@S@@", "version": "@@V@@", "updated_by": "@@B@@", "updated_at": "@@A@@"}


def _snapshot_template(snap: dict[str, Any]) -> str:
    """The snapshot's JSON (as json.dumps writes it) with %s where versions differ."""
    text = json.dumps(snap).replace("%", "%%")
    for mark in _MARK.values():
        text = text.replace(f'"{mark}"', "%s", 1)
    return text


def build_chunk(spec: ChunkSpec) -> Chunk:
    """Rows for one chunk of devices, encoded for ``spec.backend``; runs in a helper process."""
    w = spec.world
    rng = random.Random(spec.seed * 1_000_003 + spec.first)
    times_of = _Times()
    sqlite = spec.backend == "sqlite"
    actor_json = json.dumps(w.actor)
    devices: list[Row] = []
    history: list[tuple[int, Row]] = []
    samples: list[Sample] = []
    for index in range(spec.first, spec.first + spec.count):
        n = 1 + 2 * (index % spec.per_device)
        step = (spec.hi_ms - spec.lo_ms) // n
        times = [spec.lo_ms + k * step + rng.randrange(step) for k in range(n)]
        code = _uuid4(rng)
        serial = f"{spec.serial_prefix}{index:09d}"
        created = times[0]
        digital = mosip.digital_id(w.provider_id, serial, _at(created))
        fixed: dict[str, Any] = {
            "code": code,
            "tenant_id": w.tenant_id,
            "status": _MARK["status"],
            "purpose": mosip.PURPOSE,
            "device_id": _uuid4(rng),
            "device_sub_id": mosip.DEVICE_SUB_ID,
            "serial_number": serial,
            "provider_id": w.provider_id,
            "provider_name": w.provider_name,
            "type_code": w.type_code,
            "subtype_code": w.subtype_code,
            "make": w.make,
            "model": w.model,
            "firmware": mosip.FIRMWARE,
            "certification": mosip.CERTIFICATION,
            "trust_provider_id": None,
            "expires_at": times_of.iso(created + YEAR_MS),
            "digital_id": digital,
            "is_active": True,
            "version": _MARK["version"],
            "created_by": w.actor,
            "created_at": times_of.iso(created),
            "updated_by": _MARK["updated_by"],
            "updated_at": _MARK["updated_at"],
        }
        template = _snapshot_template(fixed)
        for version, stamp in enumerate(times, start=1):
            if version == 1:
                data = template % ('"Registered"', "1", "null", "null")
            else:
                status = '"Registered"' if version % 2 else '"Revoked"'
                data = template % (status, version, actor_json, f'"{times_of.iso(stamp)}"')
            when: Any = times_of.sqlite(stamp) if sqlite else times_of.dt(stamp)
            history.append((stamp, (w.tenant_id, ENTITY_TYPE, code, serial, version, when, data)))
        last = times[-1]
        final = {
            **fixed,
            "status": REGISTERED if n % 2 else REVOKED,
            "version": n,
            "updated_by": w.actor if n > 1 else None,
            "digital_id": json.dumps(digital),
        }
        if sqlite:
            final["is_active"] = 1
            final["expires_at"] = times_of.sqlite(created + YEAR_MS)
            final["created_at"] = times_of.sqlite(created)
            final["updated_at"] = times_of.sqlite(last) if n > 1 else None
        else:
            final["expires_at"] = times_of.dt(created + YEAR_MS)
            final["created_at"] = times_of.dt(created)
            final["updated_at"] = times_of.dt(last) if n > 1 else None
        devices.append(tuple(final[c] for c in DEVICE_COLUMNS))
        if index in spec.sampled:
            version = rng.randrange(0, n, 2)  # 0-based even index: an odd (Registered) version
            until = times[version + 1] if version + 1 < n else spec.hi_ms
            middle = times[version] + (until - times[version]) // 2
            samples.append(Sample(code, serial, _at(middle)))
    history.sort(key=lambda item: item[0])  # ids in time order, as the app would assign them
    return Chunk(devices, [row for _, row in history], samples)


@dataclass
class Plan:
    specs: list[ChunkSpec]
    start_ms: int
    end_ms: int

    @property
    def devices(self) -> int:
        return sum(s.count for s in self.specs)


def _plan(
    world: TenantWorld,
    backend: str,
    *,
    devices: int,
    offset: int,
    per_device: int,
    serial_prefix: str,
    sample_size: int,
    seed: int,
    after: datetime | None,
) -> Plan:
    start = max(world.latest_ms, _ms(after) if after else 0) + 1
    n_chunks = max(1, -(-devices // CHUNK_DEVICES))
    need = n_chunks * MS_PER_VERSION * max(1, 2 * per_device - 1)
    end = _ms(datetime.now(UTC))
    if end - start < need:  # (only right after seeding, for a moment)
        time.sleep((need - (end - start)) / 1000)
        end = _ms(datetime.now(UTC))
    rng = random.Random(seed + offset)
    sampled = set(rng.sample(range(offset, offset + devices), min(sample_size, devices)))
    span = (end - start) / n_chunks
    specs = []
    for chunk in range(n_chunks):
        first = offset + chunk * CHUNK_DEVICES
        count = min(CHUNK_DEVICES, offset + devices - first)
        specs.append(
            ChunkSpec(
                world,
                backend,
                first,
                count,
                start + int(chunk * span),
                start + int((chunk + 1) * span),
                per_device,
                serial_prefix,
                seed,
                frozenset(i for i in sampled if first <= i < first + count),
            )
        )
    return Plan(specs, start, end)


def _chunks_ahead(pool: ProcessPoolExecutor, specs: list[ChunkSpec]) -> Iterator[Future[Chunk]]:
    """Futures of the chunks in order, the next one always being built meanwhile."""
    pending: deque[Future[Chunk]] = deque()
    upcoming = iter(specs)
    for spec in upcoming:
        pending.append(pool.submit(build_chunk, spec))
        if len(pending) == 2:
            break
    while pending:
        current = pending.popleft()
        nxt = next(upcoming, None)
        if nxt is not None:
            pending.append(pool.submit(build_chunk, nxt))
        yield current


def _pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=get_context("spawn"))


# ---------------------------------------------------------------------------- SQLite


def _sqlite_path(url: str) -> Path:
    parts = url.split(":///", 1)
    if len(parts) != 2 or not url.startswith("sqlite"):
        raise ValueError(f"not a SQLite URL: {url}")
    return Path(parts[1])


def _sqlite_world(conn: sqlite3.Connection, tenant: str) -> TenantWorld:
    rows = conn.execute(
        "SELECT t.id, p.id, p.vendor_name, p.created_by, s.type_code, s.subtype_code, s.make,"
        " s.model FROM tenants t JOIN device_providers p ON p.tenant_id = t.id"
        " JOIN device_software s ON s.provider_id = p.id AND s.is_active"
        " WHERE t.name = ? AND p.is_active ORDER BY p.created_at LIMIT 1",
        (tenant,),
    ).fetchall()
    if not rows:
        raise SystemExit(f"tenant {tenant!r} has no active provider with an MDS; seed it first")
    tid, pid, pname, actor, type_code, subtype, make, model = rows[0]
    latest = max(
        conn.execute(
            "SELECT max(valid_from) FROM entity_history WHERE entity_type = ? AND tenant_id = ?",
            (kind, tid),
        ).fetchone()[0]
        or ""
        for kind in WORLD_TYPES
    )
    latest_ms = _ms(datetime.fromisoformat(latest).replace(tzinfo=UTC))
    sample = conn.execute(
        "SELECT data FROM entity_history WHERE tenant_id = ? AND entity_type = ? LIMIT 1",
        (tid, ENTITY_TYPE),
    ).fetchone()
    _check_shape(json.loads(sample[0]) if sample else None)
    return TenantWorld(tid, actor, pid, pname, type_code, subtype, make, model, latest_ms)


def _generate_sqlite(url: str, tenant: str, plan_args: dict[str, Any]) -> GenerateResult:
    conn = sqlite3.connect(_sqlite_path(url), isolation_level=None, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-1000000")  # 1 GB: random-key index inserts
        plan = _plan(_sqlite_world(conn, tenant), "sqlite", **plan_args)
        began = time.perf_counter()
        dev_sql = (
            f"INSERT INTO registered_devices ({', '.join(DEVICE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(DEVICE_COLUMNS))})"
        )
        hist_sql = (
            f"INSERT INTO entity_history ({', '.join(HISTORY_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
        )
        rows, pending, samples = 0, 0, []
        with _pool() as pool:
            conn.execute("BEGIN IMMEDIATE")
            for future in _chunks_ahead(pool, plan.specs):
                chunk = future.result()
                conn.executemany(dev_sql, chunk.devices)
                conn.executemany(hist_sql, chunk.history)
                samples += chunk.samples
                rows += len(chunk.history)
                pending += len(chunk.history)
                if pending >= SQLITE_COMMIT_ROWS:  # large transactions, a bounded WAL
                    conn.execute("COMMIT")
                    conn.execute("BEGIN IMMEDIATE")
                    pending = 0
            conn.execute("COMMIT")
        # Leave no long WAL behind: readers would search its index on every page read.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        took = time.perf_counter() - began
        return GenerateResult(
            plan.devices, rows, took, (_at(plan.start_ms), _at(plan.end_ms)), samples
        )
    finally:
        conn.close()


# ---------------------------------------------------------------------------- PostgreSQL


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_world(conn: asyncpg.Connection, tenant: str) -> TenantWorld:
    row = await conn.fetchrow(
        "SELECT t.id AS tid, p.id AS pid, p.vendor_name, p.created_by, s.type_code,"
        " s.subtype_code, s.make, s.model FROM tenants t"
        " JOIN device_providers p ON p.tenant_id = t.id"
        " JOIN device_software s ON s.provider_id = p.id AND s.is_active"
        " WHERE t.name = $1 AND p.is_active ORDER BY p.created_at LIMIT 1",
        tenant,
    )
    if row is None:
        raise SystemExit(f"tenant {tenant!r} has no active provider with an MDS; seed it first")
    latest = await conn.fetchval(
        "SELECT max(valid_from) FROM entity_history"
        " WHERE entity_type = ANY($1::text[]) AND tenant_id = $2",
        list(WORLD_TYPES),
        row["tid"],
    )
    sample = await conn.fetchval(
        "SELECT data::text FROM entity_history WHERE tenant_id = $1 AND entity_type = $2 LIMIT 1",
        row["tid"],
        ENTITY_TYPE,
    )
    _check_shape(json.loads(sample) if sample else None)
    return TenantWorld(
        row["tid"],
        row["created_by"],
        row["pid"],
        row["vendor_name"],
        row["type_code"],
        row["subtype_code"],
        row["make"],
        row["model"],
        _ms(latest),
    )


async def _generate_pg_async(url: str, tenant: str, plan_args: dict[str, Any]) -> GenerateResult:
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=30)
    try:
        plan = _plan(await _pg_world(conn, tenant), "postgresql", **plan_args)
        began = time.perf_counter()
        rows, samples = 0, []
        with _pool() as pool:
            for future in _chunks_ahead(pool, plan.specs):
                chunk = await asyncio.wrap_future(future)
                async with conn.transaction():
                    await conn.copy_records_to_table(
                        "registered_devices", records=chunk.devices, columns=DEVICE_COLUMNS
                    )
                    await conn.copy_records_to_table(
                        "entity_history", records=chunk.history, columns=HISTORY_COLUMNS
                    )
                samples += chunk.samples
                rows += len(chunk.history)
        # What autovacuum soon does after a bulk load: the planner needs the statistics.
        await conn.execute("ANALYZE registered_devices")
        await conn.execute("ANALYZE entity_history")
        took = time.perf_counter() - began
        return GenerateResult(
            plan.devices, rows, took, (_at(plan.start_ms), _at(plan.end_ms)), samples
        )
    finally:
        await conn.close()


# ---------------------------------------------------------------------------- common


def _check_shape(api_written: dict[str, Any] | None) -> None:
    """Generated snapshots must have the keys of one the API wrote (when there is one)."""
    if api_written is None:
        return
    if sorted(api_written) != sorted(DEVICE_COLUMNS):
        raise SystemExit(
            f"history snapshot keys differ from the app's: {sorted(api_written)} "
            f"vs {sorted(DEVICE_COLUMNS)}"
        )
    digital = api_written.get("digital_id") or {}
    expected = mosip.digital_id("p", "s", EPOCH)
    if sorted(digital) != sorted(expected):
        raise SystemExit(f"digital id keys differ: {sorted(digital)} vs {sorted(expected)}")


def generate(
    url: str,
    tenant: str,
    devices: int,
    *,
    offset: int = 0,
    per_device: int = 5,
    serial_prefix: str = "GEN",
    sample_size: int = 10_000,
    seed: int = 1,
    after: datetime | None = None,
) -> GenerateResult:
    """Generate ``devices`` devices (serials numbered from ``offset``) for ``tenant``.

    ``per_device`` is the average number of history rows per device (odd counts from 1
    to ``2 * per_device - 1``). ``url`` is a fleetkey database URL (SQLite or PostgreSQL).
    """
    plan_args: dict[str, Any] = dict(
        devices=devices,
        offset=offset,
        per_device=per_device,
        serial_prefix=serial_prefix,
        sample_size=sample_size,
        seed=seed,
        after=after,
    )
    if url.startswith("sqlite"):
        return _generate_sqlite(url, tenant, plan_args)
    if url.startswith("postgresql"):
        return asyncio.run(_generate_pg_async(url, tenant, plan_args))
    raise SystemExit(f"unsupported database URL: {url}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="fleetkey database URL (default: from the FLEETKEY_* settings, as fleetkey reads it)",
    )
    parser.add_argument("--tenant", required=True, help="tenant name (seeded through the API)")
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--offset", type=int, default=0, help="first serial number index")
    parser.add_argument("--history-per-device", type=int, default=5)
    parser.add_argument("--serial-prefix", default="GEN")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--samples-out", type=Path, help="write the as-of samples here (JSON)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url = args.database_url
    if not url:
        from fleetkey.config import get_settings

        url = get_settings().database_url_resolved
    result = generate(
        url,
        args.tenant,
        args.devices,
        offset=args.offset,
        per_device=args.history_per_device,
        serial_prefix=args.serial_prefix,
        sample_size=args.samples,
        seed=args.seed,
    )
    print(
        f"{result.devices} devices, {result.history_rows} history rows in "
        f"{result.seconds:.1f}s (valid_from {result.window[0]} .. {result.window[1]})"
    )
    if args.samples_out:
        samples = [
            {"code": s.code, "serial": s.serial, "at": mosip.iso_millis(s.at)}
            for s in result.samples
        ]
        args.samples_out.write_text(json.dumps(samples))


if __name__ == "__main__":
    main()
