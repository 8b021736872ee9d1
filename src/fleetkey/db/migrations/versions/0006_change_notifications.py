"""change notifications (PostgreSQL)

Every statement that changes a table a hot-path answer is read from sends a notification on
the channel ``fleetkey_changes`` when its transaction commits. Each API process listens and
drops the answers it remembered (``db.direct.UnchangedCache``). SQLite needs nothing: the
WAL-index header every commit rewrites is the same signal.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The tables behind a broker's allow and a live MOSIP validation.
TABLES = (
    "thing_devices",
    "thing_products",
    "auth_failures",
    "registered_devices",
    "device_providers",
    "device_software",
    "device_types",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION fleetkey_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('fleetkey_changes', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER fleetkey_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION fleetkey_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS fleetkey_changes ON {table}")
    op.execute("DROP FUNCTION IF EXISTS fleetkey_notify_change()")
