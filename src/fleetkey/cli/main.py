"""The ``fleetkey`` command: serve, migrate, tenants, tokens, keys."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Protocol, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit import service as audit
from fleetkey.clock import iso_millis, utcnow
from fleetkey.config import Settings, get_settings
from fleetkey.db.migrate import upgrade
from fleetkey.errors import DomainError
from fleetkey.runtime import Runtime
from fleetkey.tenants import repository as tenant_repo
from fleetkey.tenants import service as tenants
from fleetkey.tenants.context import Actor

app = typer.Typer(help="fleetkey: device identity and credential service", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (one organisation's registry each)", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (callers)", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(token_app, name="token")
app.add_typer(keys_app, name="keys")

console = Console()
T = TypeVar("T")
CLI_ACTOR = "cli"


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one piece of async work against a fresh runtime, reporting domain errors plainly."""

    async def main() -> T:
        rt = Runtime.build(get_settings())
        try:
            return await work(rt)
        finally:
            await rt.db.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


def migrate_store(settings: Settings) -> None:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url_resolved)


async def _tenant_id(session: AsyncSession, name: str | None) -> str | None:
    """The id of the tenant a listing's ``--tenant`` names (None: every tenant)."""
    if not name:
        return None
    row = await tenant_repo.tenant_by_name(session, name)
    if row is None:
        raise DomainError("tenant.not_found", f"no tenant {name}", 404)
    return row.id


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (and the master key, if it is kept on disk)."""
    settings = get_settings()
    migrate_store(settings)
    Runtime.build(settings)  # creates the master key file on first use
    console.print(f"schema is up to date ({settings.database_url_resolved.split('://')[0]})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Serve every surface. A SQLite store is migrated first."""
    from fleetkey.serving import serve as serve_app

    settings = get_settings()
    if settings.is_sqlite:
        migrate_store(settings)
    Runtime.build(settings)  # fail early on a bad master key, before forking workers
    serve_app(
        "fleetkey.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
    )


@tenant_app.command("create")
def tenant_create(name: str) -> None:
    async def work(rt: Runtime) -> str:
        async with rt.db.unit_of_work() as session:
            tenant = await tenants.create_tenant(session, name)
            return tenant.id

    console.print(_run(work))


@tenant_app.command("list")
def tenant_list() -> None:
    async def work(rt: Runtime) -> list[tuple[str, str, str]]:
        async with rt.db.unit_of_work(write=False) as session:
            return [
                (t.name, t.id, iso_millis(t.created_at) or "")
                for t in await tenant_repo.list_tenants(session)
            ]

    table = Table("name", "id", "created")
    for row in _run(work):
        table.add_row(*row)
    console.print(table)


@token_app.command("create")
def token_create(
    tenant: Annotated[str, typer.Option(help="tenant name; created if it does not exist")],
    scope: Annotated[
        list[str] | None, typer.Option(help="a scope or MOSIP role; none means full access")
    ] = None,
    name: Annotated[str | None, typer.Option(help="who this token is for")] = None,
) -> None:
    """Create a token. It is printed once, alone on the last line, and never again."""

    async def work(rt: Runtime) -> tuple[str, str, list[str]]:
        async with rt.db.unit_of_work() as session:
            row = await tenants.ensure_tenant(session, tenant)
            issued = await tenants.create_token(
                session, rt.vault, row, name or f"token@{tenant}", scope or []
            )
            actor = Actor(tenant_id=row.id, name=CLI_ACTOR, request_id="cli")
            audit.emit(
                session,
                actor,
                "create",
                "api_token",
                issued.record.id,
                {"after": {"name": issued.record.name, "scopes": issued.record.scopes}},
                utcnow(),
            )
            return issued.record.id, issued.token, issued.record.scopes

    token_id, token, granted = _run(work)
    typer.echo(f"token {token_id} for tenant {tenant}, scopes: {' '.join(granted)}")
    typer.echo(token)


@token_app.command("list")
def token_list(tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None) -> None:
    async def work(rt: Runtime) -> list[tuple[str, ...]]:
        async with rt.db.unit_of_work(write=False) as session:
            tenant_id = await _tenant_id(session, tenant)
            return [
                (
                    t.id,
                    t.name,
                    " ".join(t.scopes),
                    iso_millis(t.created_at) or "",
                    iso_millis(t.revoked_at) or "",
                )
                for t in await tenant_repo.list_tokens(session, tenant_id)
            ]

    table = Table("id", "name", "scopes", "created", "revoked")
    for row in _run(work):
        table.add_row(*row)
    console.print(table)


class _Revocable(Protocol):
    tenant_id: str


def _revoke(
    entity_type: str, revoke: Callable[[AsyncSession, str], Awaitable[_Revocable]], ident: str
) -> None:
    """Revoke a credential (a token, an app key) and audit it as the CLI's act."""

    async def work(rt: Runtime) -> None:
        async with rt.db.unit_of_work() as session:
            row = await revoke(session, ident)
            actor = Actor(tenant_id=row.tenant_id, name=CLI_ACTOR, request_id="cli")
            audit.emit(session, actor, "revoke", entity_type, ident, {}, utcnow())

    _run(work)
    console.print(f"revoked {ident}")


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    _revoke("api_token", tenants.revoke_token, token_id)


@keys_app.command("rotate")
def keys_rotate(
    tenant: Annotated[str | None, typer.Option(help="only this tenant (default: all)")] = None,
) -> None:
    """Start new signing keys; retired keys stay published so old signatures verify."""

    async def work(rt: Runtime) -> list[tuple[str, str]]:
        async with rt.db.unit_of_work(write=False) as session:
            rows = await tenant_repo.list_tenants(session)
        chosen = [t for t in rows if tenant is None or t.name == tenant]
        if tenant and not chosen:
            raise DomainError("tenant.not_found", f"no tenant {tenant}", 404)
        done = []
        for t in chosen:
            key = await rt.keys.rotate(t.id)
            async with rt.db.unit_of_work() as session:
                actor = Actor(tenant_id=t.id, name=CLI_ACTOR, request_id="cli")
                audit.emit(session, actor, "rotate", "signing_key", key.kid, {}, utcnow())
            done.append((t.name, key.kid))
        return done

    for name, kid in _run(work):
        console.print(f"{name}: new signing key {kid}")


roma_app = typer.Typer(help="ROMA Connect LINK compatibility", no_args_is_help=True)
instance_app = typer.Typer(help="ROMA instances (partitions of a tenant)", no_args_is_help=True)
aksk_app = typer.Typer(help="AK/SK pairs for Huawei-style signed requests", no_args_is_help=True)
roma_app.add_typer(instance_app, name="instance")
app.add_typer(roma_app, name="roma")
app.add_typer(aksk_app, name="aksk")


@instance_app.command("create")
def roma_instance_create(
    tenant: Annotated[str, typer.Option(help="tenant (ROMA project id); created if needed")],
    id: Annotated[str | None, typer.Option("--id", help="instance id (default: a UUID)")] = None,
) -> None:
    """Create a ROMA instance; its id is printed alone on the last line."""
    from fleetkey.things import service as things

    async def work(rt: Runtime) -> str:
        async with rt.db.unit_of_work() as session:
            row = await tenants.ensure_tenant(session, tenant)
            actor = Actor(tenant_id=row.id, name=CLI_ACTOR, request_id="cli")
            instance = await things.create_instance(session, actor, id)
            return instance.id

    typer.echo(_run(work))


@aksk_app.command("create")
def aksk_create(
    tenant: Annotated[str, typer.Option(help="tenant (ROMA project id); created if needed")],
    name: Annotated[str | None, typer.Option(help="who this key pair is for")] = None,
) -> None:
    """Create an AK/SK pair, printed once as "AK SK" on the last line."""
    from fleetkey.compat.roma.caller import new_access_key

    async def work(rt: Runtime) -> tuple[str, str]:
        async with rt.db.unit_of_work() as session:
            row = await tenants.ensure_tenant(session, tenant)
            ak, sk = await new_access_key(session, rt.vault, row.id, name or f"aksk@{tenant}")
            actor = Actor(tenant_id=row.id, name=CLI_ACTOR, request_id="cli")
            audit.emit(session, actor, "create", "access_key", ak, {}, utcnow())
            return ak, sk

    ak, sk = _run(work)
    typer.echo(f"{ak} {sk}")


app_key_app = typer.Typer(
    help="Application keys for ABS X-App-Sig signatures", no_args_is_help=True
)
app.add_typer(app_key_app, name="app")


@app_key_app.command("create")
def app_create(
    tenant: Annotated[str, typer.Option(help="tenant; created if needed")],
    name: Annotated[str | None, typer.Option(help="which application this is")] = None,
) -> None:
    """Create an application key, printed once as "APP_ID APP_SECRET" on the last line."""
    from fleetkey.compat.abs.signature import new_app_key

    async def work(rt: Runtime) -> tuple[str, str]:
        async with rt.db.unit_of_work() as session:
            row = await tenants.ensure_tenant(session, tenant)
            app_id, secret = await new_app_key(session, rt.vault, row.id, name or f"app@{tenant}")
            actor = Actor(tenant_id=row.id, name=CLI_ACTOR, request_id="cli")
            audit.emit(session, actor, "create", "app_key", app_id, {}, utcnow())
            return app_id, secret

    app_id, secret = _run(work)
    typer.echo(f"{app_id} {secret}")


@app_key_app.command("list")
def app_list(tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None) -> None:
    """The application keys (never their secrets)."""
    from fleetkey.compat.abs.signature import list_app_keys

    async def work(rt: Runtime) -> list[tuple[str, ...]]:
        async with rt.db.unit_of_work(write=False) as session:
            names = {t.id: t.name for t in await tenant_repo.list_tenants(session)}
            keys = await list_app_keys(session, await _tenant_id(session, tenant))
            return [
                (
                    k.app_id,
                    k.name,
                    names.get(k.tenant_id, k.tenant_id),
                    iso_millis(k.created_at) or "",
                    iso_millis(k.revoked_at) or "",
                )
                for k in keys
            ]

    table = Table("app id", "name", "tenant", "created", "revoked")
    for row in _run(work):
        table.add_row(*row)
    console.print(table)


@app_key_app.command("revoke")
def app_revoke(app_id: str) -> None:
    """Refuse every signature by this key from now on."""
    from fleetkey.compat.abs.signature import revoke_app_key

    _revoke("app_key", revoke_app_key, app_id)
