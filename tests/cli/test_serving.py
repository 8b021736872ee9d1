"""``fleetkey serve --workers N``: every worker listens on a socket of its own (fleetkey.serving).

Which process holds which socket is read from /proc, as the kernel sees it.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from fleetkey.serving import spreads_connections
from tests.cli.conftest import FLEETKEY, MASTER_KEY, clean_env, free_port, stop_server

pytestmark = pytest.mark.skipif(
    not spreads_connections(2), reason="a listening socket per worker is a Linux feature"
)

LISTEN, ESTABLISHED = "0A", "01"


def _serve(data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = clean_env(
        FLEETKEY_DATA_DIR=str(data_dir),
        FLEETKEY_MASTER_KEY=MASTER_KEY,
        FLEETKEY_LOG_LEVEL="warning",
    )
    argv = [str(FLEETKEY), "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_sockets(port: int) -> dict[str, str]:
    """inode -> state of the IPv4 TCP sockets whose local port is ``port``."""
    found = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            found[fields[9]] = fields[3]
    return found


def _workers_ready(process: subprocess.Popen[bytes], port: int, workers: int) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        listening = {i for i, state in _tcp_sockets(port).items() if state == LISTEN}
        # The supervisor's children: the workers (and multiprocessing's resource tracker).
        pids = [p for p in _children(process.pid) if _socket_inodes(p) & listening]
        if len(pids) == workers:
            return pids
        time.sleep(0.2)
    raise AssertionError("the workers did not all listen in time")


def test_each_worker_listens_on_its_own_socket_and_connections_spread(tmp_path: Path) -> None:
    port = free_port()
    process = _serve(tmp_path, port, workers=2)
    clients: list[http.client.HTTPConnection] = []
    try:
        pids = _workers_ready(process, port, workers=2)
        # Keep-alive clients opened together: with one shared socket the first worker to
        # wake could take them all.
        for _ in range(64):
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            client.request("GET", "/healthz")
            answer = client.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"status":"ok"}')
            clients.append(client)
        sockets = _tcp_sockets(port)
        held = {pid: _socket_inodes(pid) for pid in pids}
        listening = {pid: {i for i in held[pid] if sockets.get(i) == LISTEN} for pid in pids}
        open_ = {pid: {i for i in held[pid] if sockets.get(i) == ESTABLISHED} for pid in pids}
        # One listening socket each, not one shared (a shared socket is the same inode).
        assert [len(listening[pid]) for pid in pids] == [1, 1]
        assert listening[pids[0]] != listening[pids[1]]
        # Every connection is held by one worker, and each worker holds some (the kernel
        # spreads by a hash of the addresses: all 64 on one has a chance of 2 in 2**64).
        assert len(open_[pids[0]]) + len(open_[pids[1]]) == 64
        assert min(len(open_[pid]) for pid in pids) > 0
    finally:
        for client in clients:
            client.close()
        stop_server(process)
    assert process.returncode == 0


def test_a_taken_address_stops_serve_at_once(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(tmp_path, port, workers=2)
        try:
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                stop_server(process)
    assert process.returncode == 1
    assert f"cannot bind 127.0.0.1:{port}" in err.decode()
