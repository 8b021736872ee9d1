"""``make bench``: fleetkey against a raw-ASGI baseline and the bare RS256 signing rate.

    python -m bench.run                          # everything, default scale (~10 minutes)
    python -m bench.run --scale-devices 1000000 --backends postgresql --scenarios asof

Scenarios (docs/performance.md explains each):
  A  validate  live MOSIP validate, req/s vs. the raw-ASGI baseline (target >= 30%)
  B  register  MOSIP registration, req/s vs. bare RS256 signing (target >= 50%)
  C  asof      as-of validate p99 at --scale-devices vs. at --base-devices (target <= 1.5x)

Prints a table and writes every figure to bench/results/<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import backends, mosip, scenarios, seed, signing, wrk
from bench.procs import (
    REPO,
    Server,
    baseline_server,
    fleetkey_server,
    free_port,
    wait_for_quiet,
)

RESULTS = REPO / "bench" / "results"
TENANT = "bench"
SCENARIOS = ("validate", "register", "asof")
BACKENDS = ("sqlite", "postgresql")

TARGET_VALIDATE = 0.30  # of the baseline's req/s
TARGET_REGISTER = 0.50  # of the bare signing rate
TARGET_ASOF = 1.5  # p99 at scale / p99 at the base size


@dataclass
class Row:
    scenario: str
    backend: str
    value: str
    reference: str
    ratio: float | None
    target: str
    status: str  # PASS | FAIL | ERROR | SKIP | info


@dataclass
class Report:
    started: str
    config: dict[str, Any]
    machine: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def log(message: str) -> None:
    print(message, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgresql")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="validate,register,asof")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server workers")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (-c)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of discarded warm-up")
    p.add_argument("--seed-devices", type=int, default=300, help="devices for scenario A")
    p.add_argument("--sign-seconds", type=float, default=5.0)
    p.add_argument("--base-devices", type=int, default=10_000, help="scenario C reference")
    p.add_argument("--scale-devices", type=int, default=100_000, help="scenario C scale")
    p.add_argument("--history-per-device", type=int, default=5)
    p.add_argument("--asof-threads", type=int, default=1)
    p.add_argument("--asof-connections", type=int, default=8)
    p.add_argument("--asof-runs", type=int, default=3, help="p99 is the median of the runs")
    p.add_argument("--asof-samples", type=int, default=10_000, help="distinct as-of requests")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait for other work to leave the machine before each measurement",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure a run again (up to this many times) when other work disturbed it",
    )
    p.add_argument("--pg-dsn", default=backends.DEFAULT_PG_DSN, help="PostgreSQL admin DSN")
    p.add_argument("--keep", action="store_true", help="keep the stores (for inspection)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--label", default="", help="a word for the results file name")
    args = p.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for b in args.backends:
        if b not in BACKENDS:
            p.error(f"unknown backend {b}")
    for s in args.scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s}")
    if args.scale_devices <= args.base_devices:
        p.error("--scale-devices must be larger than --base-devices")
    return args


def machine_info(pg_dsn: str, use_pg: bool) -> dict[str, Any]:
    cpuinfo: dict[str, str] = {}
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if not line.strip():
                break  # the first processor is enough
            key, _, value = line.partition(":")
            cpuinfo[key.strip()] = value.strip()
    cpu = cpuinfo.get("model name", "")
    if "cpu family" in cpuinfo:
        cpu += f" (family {cpuinfo['cpu family']} model {cpuinfo.get('model', '?')})"
    if "hypervisor" in cpuinfo.get("flags", "").split():
        cpu += ", virtual machine"
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    versions = {}
    for name in (
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "sqlalchemy",
        "asyncpg",
        "aiosqlite",
        "cryptography",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    exe = wrk.wrk_path() or "wrk"
    wrk_version = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    head = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    info: dict[str, Any] = {
        "cpu": cpu,
        "fleetkey_commit": head.stdout.strip() or "unknown",
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0].strip(),
        "packages": versions,
    }
    if use_pg:
        try:
            info["postgresql"] = backends.postgres_version(pg_dsn)
        except Exception as exc:  # noqa: BLE001 - only informative
            info["postgresql"] = f"unavailable: {exc}"
    return info


@contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def fresh_store(backend: str, work_dir: Path, args: argparse.Namespace) -> Iterator[backends.Store]:
    store = backends.create_store(backend, work_dir, args.pg_dsn)
    try:
        yield store
    finally:
        backends.drop_store(store, keep=args.keep)
        if args.keep:
            log(f"  kept {backend} store: {store.sqlalchemy_url}")


def fmt_rate(value: float) -> str:
    return f"{value:,.0f} req/s"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


class Bench:
    def __init__(self, args: argparse.Namespace, work_dir: Path, logs: Path) -> None:
        self.args = args
        self.work_dir = work_dir
        self.logs = logs
        self.load = wrk.Load(args.threads, args.connections, args.duration)
        self.report = Report(
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            config={k: v for k, v in vars(args).items()},
            machine={},
        )
        self.baseline_rps: float | None = None
        self.sign_rate: float | None = None

    def guarded(self, what: str, backend: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - one failed scenario must not stop the rest
            log(f"  {what} ({backend}) failed: {exc}")
            traceback.print_exc()
            self.report.errors.append(f"{what} ({backend}): {exc}")
            self.report.rows.append(Row(what, backend, "-", "-", None, "-", "ERROR"))

    # ---------------------------------------------------------------- references

    def baseline(self) -> None:
        log(f"baseline: raw ASGI app on uvicorn, {self.args.workers} workers")
        env = backends.Store("none", self.work_dir, "", "").env()
        server = baseline_server(env, free_port(), self.args.workers, self.logs / "baseline.log")
        with running(server):
            bodies = scenarios.baseline_bodies(self.work_dir)
            result = scenarios.measured(
                server, "/", bodies, None, self.load, self.args.warmup, log, "baseline"
            )
        self.baseline_rps = result.ok_per_s
        self.report.raw["baseline"] = result.as_dict()
        self.report.rows.append(
            Row("baseline (raw ASGI)", "-", fmt_rate(result.ok_per_s), "-", None, "-", "info")
        )

    def signing(self) -> None:
        n = self.args.workers
        log(f"bare RS256 signing: {n} processes for {self.args.sign_seconds:g}s")
        best: signing.SigningResult | None = None
        for _ in range(self.args.retries + 1):
            quiet = wait_for_quiet(log, max_wait_s=self.args.quiet_wait)
            result = signing.bare_signing_rate(n, self.args.sign_seconds)
            each = ", ".join(f"{r:,.0f}" for r in result.per_process)
            note = ""
            if result.foreign_cores > scenarios.FOREIGN_WARN_CORES:
                note = " (WARNING: other work on the machine disturbed this run)"
            log(
                f"  {result.per_s:,.0f} signatures/s (per process: {each}); "
                f"other {result.foreign_cores:.2f} cores{note}"
            )
            if best is None or result.foreign_cores < best.foreign_cores:
                best = result
            if result.foreign_cores <= scenarios.FOREIGN_WARN_CORES:
                break
        assert best is not None
        self.sign_rate = best.per_s
        self.report.raw["signing"] = best.as_dict() | {"quiet_before": quiet}
        self.report.rows.append(
            Row("bare RS256 signing", "-", f"{best.per_s:,.0f} sig/s", "-", None, "-", "info")
        )

    # ---------------------------------------------------------------- fleetkey

    def server_for(self, store: backends.Store, name: str) -> Server:
        log_path = self.logs / f"fleetkey-{store.backend}-{name}.log"
        return fleetkey_server(
            store.env(), free_port(), self.args.workers, log_path, store.pg_database
        )

    def live(self, backend: str) -> None:
        """Scenarios A and B on one fresh store."""
        args = self.args
        with fresh_store(backend, self.work_dir, args) as store:
            token = store.create_token(TENANT, "bench")
            with running(self.server_for(store, "live")) as server:
                world = asyncio.run(
                    seed.seed_world(server.url, token, args.seed_devices, serial_prefix="SEED")
                )
                log(f"  seeded a provider, an MDS and {len(world.devices)} devices")
                backends.analyze_store(store)
                if "validate" in args.scenarios:
                    self.guarded(
                        "A validate (live)",
                        backend,
                        lambda: self.validate(backend, server, token, world),
                    )
                if "register" in args.scenarios:
                    self.guarded(
                        "B register",
                        backend,
                        lambda: self.register(server, store, token, world),
                    )

    def validate(self, backend: str, server: Server, token: str, world: seed.World) -> None:
        result = scenarios.validate_live(
            server, token, world, self.work_dir, self.load, self.args.warmup, log
        )
        self.report.raw[f"validate/{backend}"] = result.as_dict()
        if result.bad:
            raise RuntimeError(f"{result.bad} validations failed: {result.bad_sample}")
        assert self.baseline_rps
        ratio = result.ok_per_s / self.baseline_rps
        self.report.rows.append(
            Row(
                "A validate (live)",
                backend,
                fmt_rate(result.ok_per_s),
                f"baseline {fmt_rate(self.baseline_rps)}",
                ratio,
                f">= {TARGET_VALIDATE:.2f}",
                verdict(ratio >= TARGET_VALIDATE),
            )
        )

    def register(
        self, server: Server, store: backends.Store, token: str, world: seed.World
    ) -> None:
        assert self.sign_rate
        result = scenarios.register(
            server,
            store,
            token,
            world,
            self.work_dir,
            self.load,
            self.args.warmup,
            self.sign_rate,
            log,
        )
        raw = result.wrk.as_dict() | {
            "pool": result.pool,
            "devices_stored": result.stored,
        }
        self.report.raw[f"register/{store.backend}"] = raw
        if result.wrk.bad or result.wrk.wrapped:
            raise RuntimeError(
                f"{result.wrk.bad} registrations failed, {result.wrk.wrapped} pool wraps: "
                f"{result.wrk.bad_sample}"
            )
        # Every success must be a stored device (in-flight ones at the end may add a few).
        if not result.wrk.ok <= result.stored <= result.wrk.ok + self.load.connections:
            raise RuntimeError(f"{result.wrk.ok} successes but {result.stored} devices stored")
        ratio = result.wrk.ok_per_s / self.sign_rate
        self.report.rows.append(
            Row(
                "B register",
                store.backend,
                fmt_rate(result.wrk.ok_per_s),
                f"signing {self.sign_rate:,.0f} sig/s",
                ratio,
                f">= {TARGET_REGISTER:.2f}",
                verdict(ratio >= TARGET_REGISTER),
            )
        )

    def asof(self, backend: str) -> None:
        args = self.args
        log(
            f"  scenario C: {args.base_devices:,} then {args.scale_devices:,} devices, "
            f"{args.history_per_device} history rows each on average"
        )
        with fresh_store(backend, self.work_dir, args) as store:
            token = store.create_token(TENANT, "bench")
            with running(self.server_for(store, "asof")) as server:
                world = asyncio.run(seed.seed_world(server.url, token, 5, serial_prefix="API"))
                seeded_at = mosip.now_millis()
                load = wrk.Load(args.asof_threads, args.asof_connections, args.duration)
                base, scale = scenarios.as_of(
                    server,
                    store,
                    token,
                    world,
                    seeded_at,
                    TENANT,
                    self.work_dir,
                    load,
                    args.warmup,
                    args.asof_runs,
                    args.base_devices,
                    args.scale_devices,
                    args.history_per_device,
                    args.asof_samples,
                    log,
                )
        self.report.raw[f"asof/{backend}"] = {"base": asdict(base), "scale": asdict(scale)}
        for point in (base, scale):
            for run in point.runs:
                if run.bad:
                    raise RuntimeError(f"{run.bad} as-of validations failed: {run.bad_sample}")
        ratio = scale.p99_ms / base.p99_ms
        self.report.rows.append(
            Row(
                f"C as-of p99 @{scale.devices:,}",
                backend,
                f"{scale.p99_ms:.2f} ms",
                f"@{base.devices:,}: {base.p99_ms:.2f} ms",
                ratio,
                f"<= {TARGET_ASOF:.2f}",
                verdict(ratio <= TARGET_ASOF),
            )
        )

    # ---------------------------------------------------------------- all

    def run(self) -> None:
        args = self.args
        use_pg = "postgresql" in args.backends
        self.report.machine = machine_info(args.pg_dsn, use_pg)
        m = self.report.machine
        log(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}")
        log(
            f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
            f"(as-of: -t{args.asof_threads} -c{args.asof_connections}); "
            f"server: uvicorn, {args.workers} workers; wrk and the server share the machine"
        )
        live = any(s in args.scenarios for s in ("validate", "register"))
        if "validate" in args.scenarios:
            self.guarded("baseline (raw ASGI)", "-", self.baseline)
        if "register" in args.scenarios:
            self.guarded("bare RS256 signing", "-", self.signing)
        for backend in args.backends:
            if backend == "postgresql":
                why = backends.postgres_available(args.pg_dsn)
                if why:
                    log(f"postgresql: skipped, not reachable at {args.pg_dsn} ({why})")
                    self.report.rows.append(Row("all", backend, "-", "-", None, "-", "SKIP"))
                    self.report.errors.append(f"postgresql skipped: {why}")
                    continue
            log(f"{backend}:")
            if live:
                self.guarded("A/B setup", backend, partial(self.live, backend))
            if "asof" in args.scenarios:
                self.guarded("C as-of", backend, partial(self.asof, backend))


def table(rows: list[Row]) -> str:
    header = ("scenario", "backend", "result", "reference", "ratio", "target", "status")
    body = [
        (
            r.scenario,
            r.backend,
            r.value,
            r.reference,
            "-" if r.ratio is None else f"{r.ratio:.3f}",
            r.target,
            r.status,
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so servers stop and stores drop.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    scenarios.CONDITIONS.quiet_wait_s = args.quiet_wait
    scenarios.CONDITIONS.retries = args.retries
    if wrk.wrk_path() is None:
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{args.label}" if args.label else stamp
    logs = RESULTS / "logs" / name
    logs.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="fleetkey-bench-"))
    bench = Bench(args, work_dir, logs)
    try:
        bench.run()
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    report = bench.report
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(asdict(report), indent=2, default=str))
    print()
    print(table(report.rows))
    print(f"\nresults: {out.relative_to(REPO)} (server logs: {logs.relative_to(REPO)})")
    if report.errors:
        print("errors:\n  " + "\n  ".join(report.errors))
        return 1
    if args.strict and any(r.status == "FAIL" for r in report.rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
