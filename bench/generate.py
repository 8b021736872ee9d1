"""Bulk data for the as-of benchmark: registered devices and their history, written straight
into the tables (COPY on PostgreSQL, ``executemany`` in large transactions on SQLite).

The tenant, its device provider and its MDS must exist already, created through the API
(bench/seed.py does that); every generated row then looks like one fleetkey itself writes:

* ``registered_devices``: the device as ``devices.registration.register`` stores it
  (resolved type code, the provider's name, the digital id verbatim, version, created_by
  and created_at, updated_by and updated_at once it changed);
* ``entity_history``: one row per version, as ``audit.service.record_change`` writes it
  (entity_type ``registered_device``, entity_id the code, lookup_key the serial, the
  version, valid_from, and the snapshot of the device at that version as ``data``).

Each device has an odd number of versions (1, 3, 5, 7 or 9 for the default average of
5): version 1 is the registration, then the status alternates Revoked / Registered as
``PUT /registereddevices/update/status`` would leave it, so every device ends Registered.
The audit log is not generated (no read path the benchmarks measure touches it).

Times: an as-of read needs the provider and MDS to have existed at the instant asked
about, so all generated history falls between the tenant's latest history row and now;
devices are laid out in time order in chunks, each version on a distinct millisecond.

It also returns a uniform sample of (device, instant when it was Registered) for as-of
validate requests.

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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK_DEVICES = 10_000
# Milliseconds each chunk needs per version of its busiest device (distinct instants).
MS_PER_VERSION = 4
# Types written before any device; the generated history starts after their latest row.
WORLD_TYPES = ("device_provider", "device_software", "trust_provider")


@dataclass
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
    latest_ms: int  # the tenant's latest history instant (ms since the epoch)


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


def _ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def _at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _iso(ms: int) -> str:
    return mosip.iso_millis(_at(ms))


@dataclass
class Plan:
    """Which devices to generate and when; rows come out in time order, chunk by chunk."""

    world: TenantWorld
    devices: int
    offset: int
    per_device: int
    start_ms: int
    end_ms: int
    serial_prefix: str
    sample_size: int
    rng: random.Random
    samples: list[Sample] = field(default_factory=list)
    seen: int = 0

    def versions(self, index: int) -> int:
        return 1 + 2 * (index % self.per_device)

    def chunks(self) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(device rows, history rows) per chunk, values in Python types (see _encode)."""
        n_chunks = max(1, -(-self.devices // CHUNK_DEVICES))
        span = (self.end_ms - self.start_ms) / n_chunks
        for chunk in range(n_chunks):
            first = chunk * CHUNK_DEVICES
            count = min(CHUNK_DEVICES, self.devices - first)
            lo = self.start_ms + int(chunk * span)
            hi = self.start_ms + int((chunk + 1) * span)
            yield self._chunk(first, count, lo, hi)

    def _chunk(
        self, first: int, count: int, lo: int, hi: int
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        w = self.world
        devices: list[tuple[Any, ...]] = []
        history: list[tuple[int, tuple[Any, ...]]] = []
        population = range(lo, hi)
        for k in range(first, first + count):
            index = self.offset + k
            n = self.versions(index)
            times = sorted(self.rng.sample(population, n))
            code = str(uuid.uuid4())
            serial = f"{self.serial_prefix}{index:09d}"
            created = times[0]
            digital = mosip.digital_id(w.provider_id, serial, _at(created))
            snap: dict[str, Any] = {
                "code": code,
                "tenant_id": w.tenant_id,
                "status": REGISTERED,
                "purpose": mosip.PURPOSE,
                "device_id": str(uuid.uuid4()),
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
                "expires_at": _iso(created + 365 * 86_400_000),
                "digital_id": digital,
                "is_active": True,
                "version": 1,
                "created_by": w.actor,
                "created_at": _iso(created),
                "updated_by": None,
                "updated_at": None,
            }
            for version, stamp in enumerate(times, start=1):
                if version > 1:
                    snap["status"] = REGISTERED if version % 2 else REVOKED
                    snap["version"] = version
                    snap["updated_by"] = w.actor
                    snap["updated_at"] = _iso(stamp)
                row = (w.tenant_id, ENTITY_TYPE, code, serial, version, stamp, dict(snap))
                history.append((stamp, row))
            devices.append(tuple(snap[c] for c in DEVICE_COLUMNS))
            self._sample(code, serial, times, hi)
        history.sort(key=lambda item: item[0])
        return devices, [row for _, row in history]

    def _sample(self, code: str, serial: str, times: list[int], hi: int) -> None:
        """Reservoir sampling: a uniform sample of devices, each at a Registered instant."""
        self.seen += 1
        if len(self.samples) < self.sample_size:
            slot = len(self.samples)
        else:
            slot = self.rng.randrange(self.seen)
            if slot >= self.sample_size:
                return
        version = self.rng.randrange(0, len(times), 2)  # 0-based even = odd version: Registered
        until = times[version + 1] if version + 1 < len(times) else hi
        sample = Sample(code, serial, _at(times[version] + (until - times[version]) // 2))
        if slot == len(self.samples):
            self.samples.append(sample)
        else:
            self.samples[slot] = sample


# ---------------------------------------------------------------------------- SQLite


def _sqlite_dt(ms: int | str | None) -> str | None:
    """SQLAlchemy's SQLite spelling of a UTC instant (naive, microseconds)."""
    if ms is None:
        return None
    value = _at(ms) if isinstance(ms, int) else datetime.fromisoformat(ms.replace("Z", "+00:00"))
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


DT_COLUMNS = {"expires_at", "created_at", "updated_at"}


def _sqlite_device(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for column, value in zip(DEVICE_COLUMNS, row, strict=True):
        if column in DT_COLUMNS:
            out.append(_sqlite_dt(value))
        elif column == "digital_id":
            out.append(json.dumps(value))
        elif column == "is_active":
            out.append(1 if value else 0)
        else:
            out.append(value)
    return tuple(out)


def _sqlite_history(row: tuple[Any, ...]) -> tuple[Any, ...]:
    *head, stamp, data = row
    return (*head, _sqlite_dt(stamp), json.dumps(data))


def _sqlite_path(url: str) -> Path:
    prefix = url.split(":///", 1)
    if len(prefix) != 2:
        raise ValueError(f"not a SQLite URL: {url}")
    return Path(prefix[1])


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


def _generate_sqlite(url: str, plan_args: dict[str, Any]) -> GenerateResult:
    conn = sqlite3.connect(_sqlite_path(url), isolation_level=None, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-1000000")  # 1 GB: random-key index inserts
        world = _sqlite_world(conn, plan_args.pop("tenant"))
        plan = _plan(world, **plan_args)
        began = time.perf_counter()
        dev_sql = (
            f"INSERT INTO registered_devices ({', '.join(DEVICE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(DEVICE_COLUMNS))})"
        )
        hist_sql = (
            f"INSERT INTO entity_history ({', '.join(HISTORY_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
        )
        rows = 0
        pending = 0
        conn.execute("BEGIN IMMEDIATE")
        for devices, history in plan.chunks():
            conn.executemany(dev_sql, [_sqlite_device(r) for r in devices])
            conn.executemany(hist_sql, [_sqlite_history(r) for r in history])
            rows += len(history)
            pending += len(history)
            if pending >= 250_000:  # large transactions, but a bounded WAL
                conn.execute("COMMIT")
                conn.execute("BEGIN IMMEDIATE")
                pending = 0
        conn.execute("COMMIT")
        # Leave no long WAL behind: readers would search its index on every page read.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return GenerateResult(
            plan.devices,
            rows,
            time.perf_counter() - began,
            (_at(plan.start_ms), _at(plan.end_ms)),
            plan.samples,
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


def _pg_device(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for column, value in zip(DEVICE_COLUMNS, row, strict=True):
        if column in DT_COLUMNS and value is not None:
            out.append(datetime.fromisoformat(value.replace("Z", "+00:00")))
        elif column == "digital_id":
            out.append(json.dumps(value))
        else:
            out.append(value)
    return tuple(out)


def _pg_history(row: tuple[Any, ...]) -> tuple[Any, ...]:
    *head, stamp, data = row
    return (*head, _at(stamp), json.dumps(data))


async def _generate_pg_async(url: str, plan_args: dict[str, Any]) -> GenerateResult:
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=30)
    try:
        world = await _pg_world(conn, plan_args.pop("tenant"))
        plan = _plan(world, **plan_args)
        began = time.perf_counter()
        rows = 0
        for devices, history in plan.chunks():
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "registered_devices",
                    records=[_pg_device(r) for r in devices],
                    columns=DEVICE_COLUMNS,
                )
                await conn.copy_records_to_table(
                    "entity_history",
                    records=[_pg_history(r) for r in history],
                    columns=HISTORY_COLUMNS,
                )
            rows += len(history)
        # What autovacuum would soon do after a bulk load; the planner needs the statistics.
        await conn.execute("ANALYZE registered_devices")
        await conn.execute("ANALYZE entity_history")
        return GenerateResult(
            plan.devices,
            rows,
            time.perf_counter() - began,
            (_at(plan.start_ms), _at(plan.end_ms)),
            plan.samples,
        )
    finally:
        await conn.close()


# ---------------------------------------------------------------------------- common


def _check_shape(api_written: dict[str, Any] | None) -> None:
    """Generated snapshots must have the keys of one the API wrote (when there is one)."""
    if api_written is None:
        return
    if list(api_written) != DEVICE_COLUMNS and sorted(api_written) != sorted(DEVICE_COLUMNS):
        raise SystemExit(
            f"history snapshot keys differ from the app's: {sorted(api_written)} "
            f"vs {sorted(DEVICE_COLUMNS)}"
        )
    digital = api_written.get("digital_id") or {}
    expected = mosip.digital_id("p", "s", EPOCH)
    if sorted(digital) != sorted(expected):
        raise SystemExit(f"digital id keys differ: {sorted(digital)} vs {sorted(expected)}")


def _plan(
    world: TenantWorld,
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
    if end - start < need:  # (only right after seeding, for a few milliseconds)
        time.sleep((need - (end - start)) / 1000)
        end = _ms(datetime.now(UTC))
    return Plan(
        world,
        devices,
        offset,
        per_device,
        start,
        end,
        serial_prefix,
        sample_size,
        random.Random(seed + offset),
    )


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
        tenant=tenant,
        devices=devices,
        offset=offset,
        per_device=per_device,
        serial_prefix=serial_prefix,
        sample_size=sample_size,
        seed=seed,
        after=after,
    )
    if url.startswith("sqlite"):
        return _generate_sqlite(url, plan_args)
    if url.startswith("postgresql"):
        return asyncio.run(_generate_pg_async(url, plan_args))
    raise SystemExit(f"unsupported database URL: {url}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        help="fleetkey database URL (default: from FLEETKEY_* settings, as fleetkey reads it)",
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
        args.samples_out.write_text(
            json.dumps(
                [
                    {"code": s.code, "serial": s.serial, "at": mosip.iso_millis(s.at)}
                    for s in result.samples
                ]
            )
        )


if __name__ == "__main__":
    main()
