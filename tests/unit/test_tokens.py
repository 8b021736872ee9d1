"""API tokens are kept only as a keyed hash; scopes are checked when issued."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from fleetkey.errors import DomainError
from fleetkey.runtime import Runtime
from fleetkey.tenants import repository as tenant_repo
from fleetkey.tenants import service as tenants
from fleetkey.tenants.service import TOKEN_PREFIX
from tests.conftest import new_caller


async def test_a_token_is_stored_only_as_its_keyed_hash(runtime: Runtime) -> None:
    caller = await new_caller(runtime, scopes=["registry:read", "audit:read"])
    assert caller.token.startswith(TOKEN_PREFIX) and len(caller.token) == 3 + 43
    async with runtime.db.unit_of_work(write=False) as session:
        rows = (
            (
                await session.execute(
                    text("SELECT * FROM api_tokens WHERE tenant_id = :t"), {"t": caller.tenant_id}
                )
            )
            .mappings()
            .all()
        )
    [row] = [dict(r) for r in rows]
    assert row["token_hash"] == runtime.vault.keyed_hash(caller.token)
    assert row["token_hash"] != caller.token
    assert row["name"] == f"tester@{caller.tenant}"
    scopes = row["scopes"] if isinstance(row["scopes"], list) else json.loads(row["scopes"])
    assert scopes == ["audit:read", "registry:read"]
    assert row["revoked_at"] is None
    dumped = json.dumps(row, default=str)
    assert caller.token not in dumped
    assert caller.token.removeprefix(TOKEN_PREFIX) not in dumped


async def test_verification_finds_the_principal_by_hash(runtime: Runtime) -> None:
    caller = await new_caller(runtime, scopes=["ZONAL_ADMIN"])
    principal = await runtime.principal(caller.token)
    assert principal is not None
    assert (principal.tenant_id, principal.name) == (caller.tenant_id, f"tester@{caller.tenant}")
    assert principal.scopes == frozenset({"registry:read", "registry:write", "registry:validate"})
    assert await runtime.principal(caller.token + "x") is None
    assert await runtime.principal("") is None
    assert await runtime.principal(None) is None
    assert await runtime.principal(caller.token.removeprefix(TOKEN_PREFIX)) is None


async def test_no_scope_means_full_access_and_unknown_scopes_are_refused(
    runtime: Runtime,
) -> None:
    caller = await new_caller(runtime)
    principal = await runtime.principal(caller.token)
    assert principal is not None and principal.scopes == frozenset({"*"})
    async with runtime.db.unit_of_work() as session:
        tenant = await tenant_repo.tenant_by_name(session, caller.tenant)
        assert tenant is not None
        with pytest.raises(DomainError) as raised:
            await tenants.create_token(session, runtime.vault, tenant, "x", ["registry:rule"])
    assert (raised.value.code, raised.value.status) == ("token.invalid_scope", 422)
    assert raised.value.message.startswith("unknown scope(s) registry:rule; known: ")


async def test_tenant_names_are_unique(runtime: Runtime) -> None:
    caller = await new_caller(runtime)
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(DomainError) as raised:
            await tenants.create_tenant(session, f"  {caller.tenant} ")
    assert (raised.value.code, raised.value.message, raised.value.status) == (
        "tenant.exists",
        f"tenant {caller.tenant} already exists",
        409,
    )
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(DomainError) as blank:
            await tenants.create_tenant(session, "   ")
    assert (blank.value.code, blank.value.status) == ("tenant.invalid_name", 422)
