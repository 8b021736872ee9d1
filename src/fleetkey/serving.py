"""How an ASGI app is served: one function for ``fleetkey serve`` and the bench's raw-ASGI
baseline, so that both always run under the same server.

uvicorn's own supervisor binds one socket and every worker accepts from it. A worker that
wakes to a new connection accepts every connection waiting (asyncio and uvloop accept until
the queue is empty), so a client's keep-alive connections, opened together, often end up
on one worker while another idles: with 32 connections over two workers, splits from 16/16
to 31/1 and 2/30 between runs of the same load (docs/performance-device.md). On Linux each worker
here binds a listening socket of its own to the same address (``SO_REUSEPORT``), and the
kernel spreads new connections over them by a hash of each connection's addresses. The
supervisor is still uvicorn's (signals, health checks, restarts); it is handed a stand-in
that becomes a worker's own socket when the worker unpickles it.

``SO_REUSEPORT`` lets another process of the same user bind the same port; one of another
user cannot. Elsewhere (macOS and the BSDs do not spread connections over such sockets),
and with one worker, uvicorn serves as it always does.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any, cast

log = logging.getLogger("uvicorn.error")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def own_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` alongside the other workers' (``SO_REUSEPORT``); the
    worker's server makes it listen."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class OwnSocket:
    """Stands for a listening socket in uvicorn's supervisor, which passes the same list to
    every worker it starts or restarts: unpickled in a worker, it is a socket of that
    worker's own (``own_socket``)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return own_socket, (self.host, self.port)


def spreads_connections(workers: int) -> bool:
    return workers > 1 and sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def serve(app: str, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve ``app`` (an import string) until a signal stops it."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "access_log": False,
        "proxy_headers": False,
    }
    if not spreads_connections(workers):
        uvicorn.run(app, **options)
        return
    config = uvicorn.Config(app, **options)
    # Bound here first so that a taken address fails now, once, not in every worker the
    # supervisor would restart. Never listening, it receives no connection; held, it keeps
    # the port for the workers' restarts.
    try:
        held = own_socket(host, port)
    except OSError as exc:
        log.error("cannot bind %s:%d: %s", host, port, exc)
        sys.exit(1)
    with held:
        log.info("fleetkey serving on http://%s:%d with %d workers", host, port, workers)
        Multiprocess(config, sockets=[cast(socket.socket, OwnSocket(host, port))]).run()
