"""A verification's read searches the key's own index, statistics or not: never the
tenant's index, which would walk all of the tenant's devices (``_verify_columns``)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from fleetkey.authenticators.service import _VERIFY_BY_ID, _VERIFY_BY_UID
from fleetkey.db.direct import Compiled, Statement, _args
from fleetkey.runtime import Runtime
from tests.conftest import Store

TENANT = "tenant-plan"
# A table the planner knows nothing of: a temporary copy (autovacuum never analyses one)
# that hides the real table within this transaction, filled with one tenant's devices.
COPY = (
    "CREATE TEMP TABLE auth_devices (LIKE public.auth_devices INCLUDING ALL) ON COMMIT DROP",
    "INSERT INTO auth_devices (id, uid, tenant_id, client_code, device_type, device_status,"
    " default_for_notifications, use_device_as_login, state, otp_counter, failures,"
    " is_active, version, created_by, created_at)"
    f" SELECT g, 'uid-' || g, '{TENANT}', 'C' || (g % 50), 5, 0, false, false, 0, 0, 0,"
    " true, 1, 'test', now() FROM generate_series(1, 5000) AS g",
)
KEYS = {"id": list(range(100, 109)), "uid": [f"uid-{n}" for n in range(100, 109)]}
READS = ((_VERIFY_BY_ID, "id"), (_VERIFY_BY_UID, "uid"))


def _params(param: str, value: Any) -> dict[str, Any]:
    # The tenant too, for a statement that would filter by it (it does not).
    return {"tenant_id": TENANT, param: value}


def _compiled(statement: Statement, runtime: Runtime) -> Compiled:
    assert statement.batched is not None
    return statement.batched.compiled(runtime.db.engine.dialect)


async def test_postgresql_reads_a_batch_through_the_keys_index(
    runtime: Runtime, store: Store
) -> None:
    if store.backend != "postgresql":
        return
    async with runtime.db.unit_of_work(write=False) as session:
        conn = await session.connection()
        for sql in COPY:
            await conn.execute(text(sql))
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        for statement, param in READS:
            c = _compiled(statement, runtime)
            rows = await driver.fetch(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + c.sql,
                *_args(c, _params(param, KEYS[param])),
            )
            plan = [row[0].strip() for row in rows]
            assert "(actual rows=9 loops=1)" in plan[0], plan
            by_key = re.compile(rf"Index Cond: \(\(?{param}\)?(::text)? = ANY ")
            assert any(by_key.match(line) for line in plan), plan
            assert not any(line.startswith(("Filter:", "Rows Removed")) for line in plan), plan


async def test_sqlite_reads_by_the_keys_index(runtime: Runtime, store: Store) -> None:
    if store.backend != "sqlite":
        return
    expected = {
        "id": "SEARCH auth_devices USING INTEGER PRIMARY KEY (rowid=?)",
        "uid": "SEARCH auth_devices USING INDEX sqlite_autoindex_auth_devices_1 (uid=?)",
    }
    async with runtime.db.unit_of_work(write=False) as session:
        conn = await session.connection()
        for statement, param in READS:
            # What SQLite runs (one key a statement), and the batch should it ever batch.
            single = statement.compiled(runtime.db.engine.dialect)
            for c in (single, _compiled(statement, runtime)):
                plan = await conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + c.sql, tuple(_args(c, _params(param, None)))
                )
                assert [row[3] for row in plan][0] == expected[param], c.sql
