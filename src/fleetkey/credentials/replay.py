"""Remembering accepted request signatures, so none is accepted twice."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from fleetkey.clock import utcnow
from fleetkey.db.session import Database
from fleetkey.tenants.models import UsedSignature


async def first_use(db: Database, signature: str, keep_seconds: float) -> bool:
    """True the first time ``signature`` is seen. It is kept for ``keep_seconds`` (long
    enough that it would be refused as too old afterwards) and then forgotten."""
    now = utcnow()
    try:
        async with db.unit_of_work() as session:
            session.add(
                UsedSignature(
                    signature=signature[:128], expires_at=now + timedelta(seconds=keep_seconds)
                )
            )
            await session.flush()
            # Housekeeping in passing: forget signatures that can no longer be replayed.
            await session.execute(delete(UsedSignature).where(UsedSignature.expires_at < now))
    except IntegrityError:
        return False
    return True
