"""entity_history's natural-key index also holds entity_id

An as-of search by natural key first asks which entities ever carried the key (``SELECT
DISTINCT entity_id ... WHERE tenant_id, entity_type, lookup_key``): MOSIP's as-of validate
does it for every request, for the software version. With ``entity_id`` in the index that
is one descent of it and nothing else read; without it SQLite planned the search through
``ix_entity_history_lookup`` by entity type alone, reading every history row of that type
(EXPLAIN QUERY PLAN; docs/performance.md, "As-of validate on the driver").

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 15:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME, TABLE = "ix_entity_history_key", "entity_history"


def upgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, ["tenant_id", "entity_type", "lookup_key", "entity_id"])


def downgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, ["tenant_id", "entity_type", "lookup_key"])
