"""The ``fleetkey`` command, run for real in a subprocess."""

from __future__ import annotations

import asyncio
import base64
import re
import stat
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from sqlalchemy import select

from fleetkey.audit.models import AuditEvent
from fleetkey.compat.abs.signature import sign
from fleetkey.db.session import Database
from tests.api.helpers import PROVIDER, error, validate_body
from tests.cli.conftest import FLEETKEY, MASTER_KEY, Cli, clean_env, free_port, stop_server
from tests.compat.abs.support import PUT, error_answer
from tests.compat.mosip.world import World

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RS256 = JWSRegistry.algorithms["RS256"]
SCHEME = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def table_rows(lines: list[str]) -> list[list[str]]:
    """The body rows of a Rich table, cell by cell."""
    rows = [line.strip("│") for line in lines if line.startswith("│")]
    return [[cell.strip() for cell in row.split("│")] for row in rows]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_token(cli: Cli, *args: str) -> tuple[str, str]:
    """``token create``; returns (token id, token) after checking the output's shape."""
    lines = await cli.ok("token", "create", *args)
    assert len(lines) == 2, lines
    match = re.fullmatch(r"token (\S+) for tenant (\S+), scopes: (.+)", lines[0])
    assert match, lines
    token = lines[-1]
    assert re.fullmatch(r"fk_[A-Za-z0-9_-]{43}", token), token
    return match.group(1), token


async def test_migrate_is_idempotent_and_creates_the_master_key(cli: Cli, tmp_path: Path) -> None:
    assert await cli.ok("migrate") == [f"schema is up to date ({SCHEME[cli.backend]})"]
    # without FLEETKEY_MASTER_KEY the key is kept in <data_dir>/master.key, mode 0600
    data_dir = tmp_path / "keyed"
    env = {k: v for k, v in cli.env.items() if k != "FLEETKEY_MASTER_KEY"}
    env["FLEETKEY_DATA_DIR"] = str(data_dir)
    done = await cli.run("migrate", env=env)
    assert done.returncode == 0, done.stderr
    key_file = data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text()
    assert (await cli.run("migrate", env=env)).returncode == 0
    assert key_file.read_text() == first
    if cli.backend == "sqlite":
        assert (data_dir / "fleetkey.db").exists()


async def test_tenant_create_and_list(cli: Cli) -> None:
    name = unique("acme")
    [tenant_id] = await cli.ok("tenant", "create", name)
    assert UUID.match(tenant_id)

    duplicate = await cli.run("tenant", "create", name)
    assert duplicate.returncode == 1
    assert duplicate.stdout == f"error: tenant {name} already exists\n"

    rows = table_rows(await cli.ok("tenant", "list"))
    [mine] = [r for r in rows if r[0] == name]
    assert mine[1] == tenant_id and TIME.match(mine[2])
    if cli.backend == "sqlite":
        assert rows == [mine]


async def test_a_created_token_works_against_the_app(cli: Cli) -> None:
    name = unique("fleet")
    token_id, token = await create_token(cli, "--tenant", name)
    lines = await cli.ok("token", "create", "--tenant", name)
    assert lines[0].endswith(f"for tenant {name}, scopes: *")

    async with cli.client() as client:
        created = await client.post(
            "/api/v1/device-providers", json=PROVIDER, headers=bearer(token)
        )
        assert created.status_code == 201, created.text
        assert created.json()["created_by"] == f"token@{name}"
        listing = await client.get("/api/v1/device-providers", headers=bearer(token))
        assert [p["id"] for p in listing.json()["items"]] == [created.json()["id"]]
        audit = (await client.get("/api/v1/audit", headers=bearer(token))).json()
        assert [(e["action"], e["entity_type"], e["actor"]) for e in audit] == [
            ("create", "device_provider", f"token@{name}"),
            ("create", "api_token", "cli"),
            ("create", "api_token", "cli"),
        ]
        assert audit[-1]["entity_id"] == token_id
        assert audit[-1]["request_id"] == "cli"
        assert audit[-1]["changes"] == {"after": {"name": f"token@{name}", "scopes": ["*"]}}
        assert token not in str(audit)


async def test_a_token_revoked_by_the_cli_is_refused(cli: Cli) -> None:
    name = unique("revoking")
    token_id, token = await create_token(cli, "--tenant", name)
    async with cli.client() as client:
        assert (await client.get("/api/v1/devices", headers=bearer(token))).status_code == 200

    assert await cli.ok("token", "revoke", token_id) == [f"revoked {token_id}"]
    [row] = table_rows(await cli.ok("token", "list", "--tenant", name))
    assert (row[0], row[1]) == (token_id, f"token@{name}") and TIME.match(row[4])
    assert await cli.ok("token", "revoke", token_id) == [f"revoked {token_id}"]
    assert table_rows(await cli.ok("token", "list", "--tenant", name)) == [row]

    unknown = await cli.run("token", "revoke", "no-such-token")
    assert (unknown.returncode, unknown.stdout) == (1, "error: no token no-such-token\n")
    async with cli.client() as client:
        refused = await client.get("/api/v1/devices", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.json() == error("auth.unauthenticated", "a valid bearer token is required")
        _, other = await create_token(cli, "--tenant", name)
        audit = (await client.get("/api/v1/audit", headers=bearer(other))).json()
    assert [(e["action"], e["entity_type"], e["entity_id"]) for e in audit][1:] == [
        ("revoke", "api_token", token_id),
        ("revoke", "api_token", token_id),
        ("create", "api_token", token_id),
    ]


async def test_app_keys_sign_abs_calls_until_revoked(cli: Cli) -> None:
    name = unique("bank")
    [line] = await cli.ok("app", "create", "--tenant", name)
    match = re.fullmatch(r"(app_[a-z0-9]{16}) ([A-Za-z0-9_-]{43})", line)
    assert match, line
    app_id, secret = match.groups()
    [other] = await cli.ok("app", "create", "--tenant", name, "--name", "core banking")
    other_id = other.split(" ")[0]
    assert other_id != app_id

    listed = table_rows(await cli.ok("app", "list", "--tenant", name))
    assert sorted((r[0], r[1], r[2], r[4]) for r in listed) == sorted(
        [(app_id, f"app@{name}", name, ""), (other_id, "core banking", name, "")]
    )
    assert all(TIME.match(r[3]) for r in listed)
    everyone = await cli.ok("app", "list")
    assert app_id in "\n".join(everyone) and secret not in "\n".join(everyone)

    body = b'{"client_code": "C001", "device_type": "totp"}'
    refused = error_answer("[ERROR-AUTHENTICATION : X-App-Sig is missing or invalid]")

    async def put() -> object:
        headers = {"X-App-Sig": sign(app_id, secret, "POST", PUT, body)}
        async with cli.client() as client:
            answer = await client.post(PUT, content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    created = await put()
    assert isinstance(created, dict) and created["status"] == "success", created
    assert created["data"]["create_user"] == f"app:{app_id}"

    assert await cli.ok("app", "revoke", app_id) == [f"revoked {app_id}"]
    assert await put() == refused
    [revoked] = [
        r for r in table_rows(await cli.ok("app", "list", "--tenant", name)) if r[0] == app_id
    ]
    assert TIME.match(revoked[4])
    # Revoking again changes nothing; the other key still works.
    assert await cli.ok("app", "revoke", app_id) == [f"revoked {app_id}"]
    again = [r for r in table_rows(await cli.ok("app", "list", "--tenant", name)) if r[0] == app_id]
    assert again == [revoked]

    unknown = await cli.run("app", "revoke", "app_unknown")
    assert (unknown.returncode, unknown.stdout) == (1, "error: no app key app_unknown\n")
    no_tenant = await cli.run("app", "list", "--tenant", unique("nobody"))
    assert no_tenant.returncode == 1 and no_tenant.stdout.startswith("error: no tenant nobody-")

    async with cli.client() as client:
        token_id, token = await create_token(cli, "--tenant", name)
        audit = (await client.get("/api/v1/audit", headers=bearer(token))).json()
    assert [(e["action"], e["entity_type"], e["entity_id"], e["actor"]) for e in audit] == [
        ("create", "api_token", token_id, "cli"),
        ("revoke", "app_key", app_id, "cli"),
        ("revoke", "app_key", app_id, "cli"),
        ("create", "auth_device", str(created["data"]["id"]), f"app:{app_id}"),
        ("create", "app_key", other_id, "cli"),
        ("create", "app_key", app_id, "cli"),
    ]
    assert secret not in str(audit)


async def test_a_scoped_token_is_limited(cli: Cli) -> None:
    name = unique("scoped")
    _, token = await create_token(cli, "--tenant", name, "--scope", "RESIDENT", "--name", "kiosk")
    listed = table_rows(await cli.ok("token", "list", "--tenant", name))
    assert [(r[1], r[2], r[4]) for r in listed] == [("kiosk", "RESIDENT", "")]

    async with cli.client() as client:
        read = await client.get("/api/v1/devices", headers=bearer(token))
        assert read.status_code == 403
        assert read.json() == error("auth.forbidden", "the token lacks the registry:read scope")
        write = await client.post("/api/v1/device-providers", json=PROVIDER, headers=bearer(token))
        assert write.status_code == 403
        validate = await client.post(
            "/api/v1/devices/validate", json=validate_body("x", "y"), headers=bearer(token)
        )
        assert validate.status_code == 200
        assert validate.json()["code"] == "validate.device_not_found"

    unknown = await cli.run("token", "create", "--tenant", name, "--scope", "registry:rule")
    assert unknown.returncode == 1
    assert unknown.stdout.startswith("error: unknown scope(s) registry:rule; known: ")
    assert len(table_rows(await cli.ok("token", "list", "--tenant", name))) == 1


async def test_token_list(cli: Cli) -> None:
    first, second = unique("one"), unique("two")
    id_a, _ = await create_token(cli, "--tenant", first)
    id_b, _ = await create_token(
        cli,
        "--tenant",
        first,
        "--scope",
        "registry:read",
        "--scope",
        "audit:read",
        "--name",
        "auditor",
    )
    id_c, _ = await create_token(cli, "--tenant", second)

    rows = table_rows(await cli.ok("token", "list", "--tenant", first))
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        (id_a, f"token@{first}", "*", ""),
        (id_b, "auditor", "audit:read registry:read", ""),
    ]
    assert all(TIME.match(r[3]) for r in rows)
    everyone = [r[0] for r in table_rows(await cli.ok("token", "list"))]
    assert {id_a, id_b, id_c} <= set(everyone)
    if cli.backend == "sqlite":
        assert everyone == [id_a, id_b, id_c]

    missing = await cli.run("token", "list", "--tenant", unique("nobody"))
    assert missing.returncode == 1
    assert missing.stdout.startswith("error: no tenant nobody-")


async def test_token_revoke(cli: Cli) -> None:
    name = unique("revoke")
    token_id, token = await create_token(cli, "--tenant", name)
    _, other = await create_token(cli, "--tenant", name)
    async with cli.client() as client:
        ok = await client.get("/api/v1/devices", headers=bearer(token))
        assert ok.status_code == 200

        assert await cli.ok("token", "revoke", token_id) == [f"revoked {token_id}"]

        refused = await client.get("/api/v1/devices", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.json() == error("auth.unauthenticated", "a valid bearer token is required")
        # the tenant's other token is unaffected
        assert (await client.get("/api/v1/devices", headers=bearer(other))).status_code == 200
        audit = (await client.get("/api/v1/audit", headers=bearer(other))).json()
        assert (audit[0]["action"], audit[0]["entity_type"], audit[0]["entity_id"]) == (
            "revoke",
            "api_token",
            token_id,
        )

    [row] = [
        r for r in table_rows(await cli.ok("token", "list", "--tenant", name)) if r[0] == token_id
    ]
    assert TIME.match(row[4])
    # revoking again keeps the first revocation time
    assert await cli.ok("token", "revoke", token_id) == [f"revoked {token_id}"]
    [again] = [
        r for r in table_rows(await cli.ok("token", "list", "--tenant", name)) if r[0] == token_id
    ]
    assert again[4] == row[4]

    missing = await cli.run("token", "revoke", "no-such-token")
    assert missing.returncode == 1
    assert missing.stdout == "error: no token no-such-token\n"


async def test_keys_rotate(cli: Cli) -> None:
    name = unique("keys")
    _, token = await create_token(cli, "--tenant", name)
    [first] = await cli.ok("keys", "rotate", "--tenant", name)
    match = re.fullmatch(rf"{name}: new signing key (\S+)", first)
    assert match, first
    kid_1 = match.group(1)
    [second] = await cli.ok("keys", "rotate", "--tenant", name)
    kid_2 = second.removeprefix(f"{name}: new signing key ")
    assert kid_2 != kid_1

    async with cli.client() as client:
        jwks = (await client.get("/.well-known/jwks.json", params={"tenant": name})).json()
        assert [k["kid"] for k in jwks["keys"]] == [kid_1, kid_2]
        # a registration now is signed with the newest key only
        provider = await client.post(
            "/api/v1/device-providers", json=PROVIDER, headers=bearer(token)
        )
        world = World(client, bearer(token), provider_id=provider.json()["id"])
        signed = (await world.register())["response"]
        keys = {k.kid: k for k in KeySet.import_key_set(jwks).keys}
        header_b64, payload_b64, signature_b64 = signed.split(".")
        signing_input = f"{header_b64}.{payload_b64}".encode()
        signature = base64.b64decode(signature_b64)
        assert RS256.verify(signing_input, signature, keys[kid_2])
        assert not RS256.verify(signing_input, signature, keys[kid_1])
        audit = (await client.get("/api/v1/audit", headers=bearer(token))).json()
        assert [(e["action"], e["entity_type"], e["entity_id"], e["actor"]) for e in audit] == [
            ("register", "registered_device", audit[0]["entity_id"], f"token@{name}"),
            ("create", "device_provider", provider.json()["id"], f"token@{name}"),
            ("rotate", "signing_key", kid_2, "cli"),
            ("rotate", "signing_key", kid_1, "cli"),
            ("create", "api_token", audit[-1]["entity_id"], "cli"),
        ]

    missing = await cli.run("keys", "rotate", "--tenant", unique("nobody"))
    assert missing.returncode == 1
    assert missing.stdout.startswith("error: no tenant nobody-")


async def test_cli_audit_rows_hold_no_token(cli: Cli) -> None:
    name = unique("quiet")
    token_id, token = await create_token(cli, "--tenant", name)
    await cli.ok("token", "revoke", token_id)
    db = Database(cli.settings.database_url_resolved)
    try:
        async with db.unit_of_work(write=False) as session:
            events = list(
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.entity_id == token_id)
                    .order_by(AuditEvent.id)
                )
            )
    finally:
        await db.dispose()
    assert [(e.action, e.actor, e.request_id) for e in events] == [
        ("create", "cli", "cli"),
        ("revoke", "cli", "cli"),
    ]
    assert token not in repr([e.changes for e in events])


# ------------------------------------------------------------------ serve


async def test_serve_answers_health_checks(tmp_path: Path) -> None:
    """``serve`` on SQLite migrates the store itself, then serves every surface."""
    port = free_port()
    env = clean_env(
        FLEETKEY_DATA_DIR=str(tmp_path),
        FLEETKEY_MASTER_KEY=MASTER_KEY,
        FLEETKEY_LOG_LEVEL="warning",
    )
    process = subprocess.Popen(
        [str(FLEETKEY), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=2) as client:
            deadline = time.monotonic() + 30
            health = None
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    health = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            assert health is not None, process.poll()
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            ready = await client.get("/readyz")
            assert (ready.status_code, ready.json()) == (
                200,
                {"status": "ready", "store": "sqlite"},
            )
            anonymous = await client.get("/api/v1/devices")
            assert anonymous.status_code == 401
        assert (tmp_path / "fleetkey.db").exists()
    finally:
        stop_server(process)
    assert process.returncode is not None
