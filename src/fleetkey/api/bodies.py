"""How much of a request body is read: never more than ``MAX_BODY_READ`` (and one byte).

Every surface refuses a body over its own limit (at most 1 MB) in its own envelope, so
reading stops just past that: a huge or endless upload is never held in memory, and the
handler still sees a body too large to take. Hot paths (api/hot.py) and routed requests
(``fleetkey.app.FleetkeyApp``) read through the same ``capped``.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive

MAX_BODY_READ = 1_000_000
# Set in a request's ``scope["state"]`` when its body went past the limit: the native
# API then answers any refusal with 413 (a cut body fails to parse, or fails a rule).
BODY_CUT = "fleetkey.body_cut"


def capped(receive: Receive, state: dict[str, Any]) -> Receive:
    """``receive`` whose request body ends just past ``MAX_BODY_READ`` bytes."""
    size = 0
    cut = False

    async def receive_capped() -> Message:
        nonlocal size, cut
        message = await receive()
        if cut:
            # The application listens on (for a disconnect): what is left of the body is
            # read and dropped, never kept.
            while message["type"] == "http.request":
                message = await receive()
            return message
        if message["type"] == "http.request":
            body = message.get("body", b"")
            size += len(body)
            if size > MAX_BODY_READ:
                cut = True
                state[BODY_CUT] = True
                keep = len(body) - (size - MAX_BODY_READ - 1)
                return {"type": "http.request", "body": body[:keep], "more_body": False}
        return message

    return receive_capped
