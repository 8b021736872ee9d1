"""Running wrk with the body replayer (bench/lua/bodies.lua) and reading its result."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.procs import Server, cpu_times, cpu_used, database_backends, machine_busy_seconds

LUA = Path(__file__).resolve().parent / "lua" / "bodies.lua"
INSTALL_HINT = (
    "wrk (the HTTP load generator) is not installed. It is a Debian/Ubuntu package:\n"
    "    sudo apt-get install -y wrk\n"
    "(macOS: brew install wrk). Then run `make bench` again."
)


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass
class Load:
    threads: int
    connections: int
    seconds: float
    timeout_s: float = 30.0


@dataclass
class WrkResult:
    url: str
    threads: int
    connections: int
    requests: int
    seconds: float
    ok: int
    bad: int
    wrapped: int
    socket_errors: int
    timeouts: int
    ok_per_s: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    bad_sample: str
    # CPU used while wrk ran, in cores (CPU-seconds per wall second); 2.0 = both cores.
    client_cores: float  # wrk
    server_cores: float  # uvicorn supervisor and workers
    # Each server process that worked, busiest first: an uneven split of the connections
    # over the workers shows here (docs/performance.md, "One listening socket per worker").
    worker_cores: tuple[float, ...]
    db_cores: float  # PostgreSQL for this run (0 on SQLite: it runs inside the workers)
    machine_cores: float  # everything
    foreign_cores: float  # what none of the above used: other work on the machine
    quiet_before: float  # cores busy just before the run (see procs.wait_for_quiet)
    attempt: int = 1  # which attempt this was (a disturbed run is measured again)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _per_process_cores(
    before: dict[int, float], after: dict[int, float], wall: float
) -> tuple[float, ...]:
    used = ((t - before.get(pid, 0.0)) / wall for pid, t in after.items())
    return tuple(sorted((round(c, 2) for c in used if c >= 0.02), reverse=True))


def run(
    server: Server,
    path: str,
    bodies: Path,
    token: str | None,
    load: Load,
    mode: str = "cycle",
    quiet_before: float = 0.0,
) -> WrkResult:
    """POST the bodies in ``bodies`` to ``server`` for ``load.seconds`` and collect results."""
    exe = wrk_path()
    if exe is None:
        raise RuntimeError(INSTALL_HINT)
    url = server.url + path
    argv = [
        exe,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{load.seconds:g}s",
        f"--timeout={load.timeout_s:g}s",
        "-s",
        str(LUA),
        url,
        "--",
        str(bodies),
        token or "-",
        str(load.threads),
        mode,
    ]
    pids = server.pids()
    database = server.database
    began = time.perf_counter()
    server_before = cpu_times(pids)
    db_before = cpu_times(database_backends(database)) if database else {}
    machine_before = machine_busy_seconds()
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_after = machine_busy_seconds()
    server_after = cpu_times(pids)
    db_after = cpu_times(database_backends(database)) if database else {}
    wall = time.perf_counter() - began
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line[len("BENCH ") :])
    # A "single" pass times itself: wrk's own duration is always the -d it was given.
    seconds = (raw.get("pass_us") or raw["duration_us"]) / 1e6
    client_cpu = (client_after.ru_utime - client_before.ru_utime) + (
        client_after.ru_stime - client_before.ru_stime
    )
    server_cpu = cpu_used(server_before, server_after)
    db_cpu = cpu_used(db_before, db_after)
    machine_cpu = machine_after - machine_before
    return WrkResult(
        url=url,
        threads=load.threads,
        connections=load.connections,
        requests=raw["requests"],
        seconds=seconds,
        ok=raw["ok"],
        bad=raw["bad"],
        wrapped=raw["wrapped"],
        socket_errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"],
        timeouts=raw["timeouts"],
        ok_per_s=raw["ok"] / seconds,
        mean_ms=raw["mean_us"] / 1000,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        p999_ms=raw["p999_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        bad_sample=raw["bad_sample"],
        client_cores=client_cpu / wall,
        server_cores=server_cpu / wall,
        worker_cores=_per_process_cores(server_before, server_after, wall),
        db_cores=db_cpu / wall,
        machine_cores=machine_cpu / wall,
        foreign_cores=max(0.0, machine_cpu - client_cpu - server_cpu - db_cpu) / wall,
        quiet_before=quiet_before,
    )
