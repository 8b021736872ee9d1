"""Servers the benchmarks start (and always stop), and where the CPU time went."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(p) for p in handle.read().split())
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's workers are children of its supervisor)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(_children(current))
    return out


def cpu_times(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each (still running) process has used so far."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two ``cpu_times`` (a process that appeared counts from zero)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def database_backends(database: str) -> list[int]:
    """PostgreSQL processes working for ``database``: its backends (their title names it)
    and the server's own background processes (WAL writer, checkpointer, autovacuum...);
    not the backends of other databases, which belong to other work on the machine."""
    found = []
    needle = f" {database} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                title = handle.read()
            with open(f"/proc/{entry}/comm", "rb") as handle:
                comm = handle.read().strip()
        except OSError:
            continue
        if comm != b"postgres":
            continue
        backend = b"(" in title or b"[local]" in title
        if needle in title or not backend:
            found.append(int(entry))
    return found


def machine_busy_seconds() -> float:
    """CPU-seconds every core of the machine has spent not idle (from /proc/stat)."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def busy_cores(seconds: float = 1.0) -> float:
    """How many cores the machine keeps busy right now (averaged over ``seconds``)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - before) / seconds


def wait_for_quiet(
    log: Callable[[str], None], limit_cores: float = 0.3, max_wait_s: float = 120.0
) -> float:
    """Wait (up to ``max_wait_s``) until other work leaves the machine; the last reading."""
    deadline = time.monotonic() + max_wait_s
    busy = busy_cores()
    warned = False
    while busy > limit_cores and time.monotonic() < deadline:
        if not warned:
            log(f"  the machine is busy ({busy:.2f} cores used by other processes); waiting")
            warned = True
        busy = busy_cores(2.0)
    if busy > limit_cores:
        log(f"  still busy ({busy:.2f} cores) after {max_wait_s:g}s; measuring anyway")
    return busy


@dataclass
class Server:
    """One uvicorn server (fleetkey or the baseline) in a process group of its own."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str = "/healthz"
    database: str = ""  # the PostgreSQL database it uses, for CPU accounting
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"{self.name} did not become ready; see {self.log_path}")
        # Every worker binds the shared socket; give the last ones a moment to start.
        time.sleep(1.5)

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        tree = process_tree(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group start_new_session made
                proc.wait(timeout=10)
        # A worker the supervisor left behind: only processes of this server's own group.
        for pid in tree[1:]:
            try:
                if os.getpgid(pid) == proc.pid:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None


def fleetkey_server(
    env: dict[str, str], port: int, workers: int, log_path: Path, database: str = ""
) -> Server:
    argv = [str(BIN / "fleetkey"), "serve", "--workers", str(workers), "--port", str(port)]
    return Server("fleetkey", argv, env, port, log_path, database=database)


def baseline_server(env: dict[str, str], port: int, workers: int, log_path: Path) -> Server:
    """The baseline, with fleetkey's log level (``FLEETKEY_LOG_LEVEL`` in ``env``)."""
    argv = [sys.executable, "-m", "bench.baseline", "--workers", str(workers), "--port", str(port)]
    argv += ["--log-level", env.get("FLEETKEY_LOG_LEVEL", "info")]
    return Server("baseline", argv, env, port, log_path, ready_path="/")
