"""The raw-ASGI baseline: the least work an HTTP request can cost on this server stack.

Served exactly as ``fleetkey serve`` serves fleetkey, through ``fleetkey.serving.serve``
(uvicorn with httptools and uvloop when installed, access log off, no proxy headers, a
listening socket per worker on Linux, same log level, same worker count). It reads the
request body, as fleetkey does, and answers a small JSON envelope in which the replayer's
success check (``"errors":null``) holds.

    python -m bench.baseline --port 8090 --workers 2
"""

from __future__ import annotations

import argparse
from typing import Any

BODY = b'{"id":"baseline","response":{"status":"Valid"},"errors":null}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    from fleetkey.serving import serve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    # The same call as fleetkey.cli.main.serve, with only the application swapped.
    serve("bench.baseline:app", args.host, args.port, args.workers, args.log_level)


if __name__ == "__main__":
    main()
