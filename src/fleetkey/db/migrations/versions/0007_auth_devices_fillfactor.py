"""room for in-page counter updates in auth_devices (PostgreSQL)

Every accepted one-time code updates its authenticator's row (the used step, the failure
count). Neither column is indexed, so PostgreSQL can write the new row version into the
same page without touching any of the table's indexes (a heap-only tuple, HOT), but
only if the page has room. Pages filled to 100% (the default, and what a bulk import of a
fleet leaves) send most first updates to another page, and every index gets an entry for
it. Measured with two workers, TOTP verification of 144,000 authenticators, each verified
once (docs/performance-device.md): at fillfactor 100, 42% of the updates were HOT and the
database spent 42-49 µs of CPU a verification; at 85, 57%; at 70, 77-78% and 36-39 µs; at
50, all of them and 34 µs, for a table twice the size.

Only pages written from now on keep the room: an existing table gets it for old rows as
they are updated, or at once with ``VACUUM FULL auth_devices`` (which locks the table).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 12:05:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The value at the time of this migration (the model's FILLFACTOR says the current one).
FILLFACTOR = 70


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE auth_devices SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE auth_devices RESET (fillfactor)")
