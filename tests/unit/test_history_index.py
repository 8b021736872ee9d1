"""The as-of search by natural key reads one index (migration 0008)."""

from __future__ import annotations

from sqlalchemy import text

from fleetkey.devices.repository import _SOFTWARE_AS_OF
from fleetkey.runtime import Runtime
from tests.conftest import Store


async def test_the_candidates_of_a_natural_key_come_from_its_covering_index(
    runtime: Runtime, store: Store
) -> None:
    async with runtime.db.unit_of_work(write=False) as session:
        if store.backend == "postgresql":
            definition = await session.scalar(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_entity_history_key'")
            )
            assert definition is not None
            assert definition.endswith("(tenant_id, entity_type, lookup_key, entity_id)")
            return
        c = _SOFTWARE_AS_OF.compiled(runtime.db.engine.dialect)
        conn = await session.connection()
        plan = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + c.sql, (None,) * len(c.order))
        steps = [row[3] for row in plan]
    # Which entities ever carried the key: the index alone. Each one's row as it was: one
    # descent of the history index.
    assert (
        "SEARCH entity_history USING COVERING INDEX ix_entity_history_key "
        "(tenant_id=? AND entity_type=? AND lookup_key=?)"
    ) in steps
    assert not any(step.startswith("SCAN entity_history") for step in steps)
