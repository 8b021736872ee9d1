"""Device-side benchmarks: broker reconnect storm, Clinical One bootstrap and access-code
recreate, and ABS TOTP verify against a raw-ASGI baseline (bench.baseline, same uvicorn
flags, same workers, same wrk settings), on SQLite and PostgreSQL (a fresh store per
backend, dropped afterwards); TOTP verify also side by side with privacyIDEA's
/validate/check (bench/privacyidea.py; --no-privacyidea leaves it out).

    .venv/bin/python -m bench.device_side [--backends sqlite,postgresql] [--devices 10000]

Devices, tokens and authenticators are made directly through the domain in this process
before the server starts; wrk then replays prepared bodies (bench/lua/bodies.lua counts an
answer as good when its body contains the expected text).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from bench import privacyidea as pimod
from bench import wrk as wrkmod
from bench.backends import Store, analyze_store, create_store, drop_store, postgres_available
from bench.procs import REPO, baseline_server, fleetkey_server, free_port, wait_for_quiet

MATCH_LUA = Path(__file__).resolve().parent / "lua" / "bodies.lua"
AUTH = "/api/v1/auth/device"
VERIFY = "/api/v1/otp/verify"
ALLOW = '"result":"allow"'
VALID = '"valid":true'
BASELINE_BODY = {"username": "u", "password": "p"}  # read, not parsed, by bench.baseline
BASELINE_OK = '"errors":null'  # in every answer of bench.baseline
WORKERS = 2
WARM_DEVICES = 500
# Authenticators of their own warm the TOTP path up (its statements prepared on each pooled
# connection, PostgreSQL's caches of the table) before the measured run, as the storm's do.
WARM_TOTP = 15_000  # more than a 1-s warm run verifies, so none is replayed
CHOSEN = "Chosen-Passw0rd!x"  # meets ROMA's rules; stored with Argon2id
# Clinical One: one study, one device-to-cloud kit type, a subject and a kit per device.
STUDY = "BE0C4B1E5A7D4F0A9C3E2D1F0B9A8C7D"
MODE = "active"
KIT = "bench-watch"
BOOTSTRAP = "/api/deviceBootstrap"
ORS = "/ec-ors-svc/rest/v1.0"
PAIR_OK = '"iotSharedSecret":'  # the bootstrap answer carries the long-term credential
ORS_OK = '"status":"Success"'  # ORSResponse envelope of a recreated pair


def _share(value: float, baseline: float) -> float:
    """``value`` as a share of ``baseline`` (0 when the baseline answered nothing)."""
    return value / baseline if baseline else 0.0


@dataclass
class Row:
    scenario: str
    backend: str
    value: float
    baseline: float
    target: float  # ratio value/baseline that passes
    note: str = ""
    at_most: bool = False  # a latency: passes when value/baseline <= target
    times: bool = False  # the ratio reads as "N x" (fleetkey against privacyIDEA)
    result: str = ""  # instead of pass/FAIL: "skipped", "reference"

    @property
    def ratio(self) -> float:
        return _share(self.value, self.baseline)

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target if self.at_most else self.ratio >= self.target

    @property
    def outcome(self) -> str:
        return self.result or ("pass" if self.passed else "FAIL")


def log(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, flush=True)


def run_wrk(
    server: Any,
    path: str,
    bodies: Path,
    token: str | None,
    load: wrkmod.Load,
    match: str,
    mode: str = "cycle",
) -> wrkmod.WrkResult:
    """bench.wrk.run with the matching replayer (success = body contains ``match``)."""
    os.environ["BENCH_MATCH"] = match
    wrkmod.LUA = MATCH_LUA
    quiet = wait_for_quiet(log, max_wait_s=5)
    return wrkmod.run(server, path, bodies, token, load, mode=mode, quiet_before=quiet)


def cores(res: wrkmod.WrkResult) -> str:
    """Who used the CPU during a run, for its note."""
    return (
        f"server {res.server_cores:.2f} cores "
        f"({' + '.join(f'{c:.2f}' for c in res.worker_cores)}), db {res.db_cores:.2f}, "
        f"other work {res.foreign_cores:.2f} cores"
    )


def write_bodies(path: Path, bodies: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    return path


def _runtime(store: Store) -> Any:
    for key, value in store.env().items():
        if key.startswith("FLEETKEY_"):
            os.environ[key] = value
    from fleetkey.config import Settings
    from fleetkey.runtime import Runtime

    return Runtime.build(Settings())


async def seed_devices(store: Store, count: int) -> tuple[str, str, list[dict[str, str]]]:
    """A tenant, a broker token (device:authenticate), an OTP verifier token and ``count``
    devices with generated passwords: (broker, verifier, [{username,password,client_id}])."""
    from fleetkey.tenants import scopes
    from fleetkey.tenants import service as tenants
    from fleetkey.tenants.context import Actor
    from fleetkey.things import service as things

    runtime = _runtime(store)
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, "bench")
        broker = await tenants.create_token(
            session, runtime.vault, tenant, "broker", [scopes.DEVICE_AUTH]
        )
        verifier = await tenants.create_token(
            session, runtime.vault, tenant, "verifier", [scopes.OTP_VERIFY]
        )
        tenant_id = tenant.id
    actor = Actor(tenant_id, "bench")
    async with runtime.db.unit_of_work() as session:
        await things.create_instance(session, actor, "plant-1")
        product, _ = await things.create_product(
            session,
            runtime.vault,
            actor,
            "plant-1",
            things.ProductInput(name="thermostat", manufacturer_id="acme", model="T1"),
        )
        product_id = product.id

    creds: list[dict[str, str]] = []
    async for batch in _new_devices(runtime, actor, product_id, count, "sensor-{}", "node-{}"):
        creds += batch
    await runtime.db.dispose()
    return broker.token, verifier.token, creds


async def _new_devices(
    runtime: Any, actor: Any, product_id: int, count: int, name: str, node_id: str
) -> AsyncIterator[list[dict[str, str]]]:
    """``count`` devices (``_new_device``; ``name`` and ``node_id`` formatted with each
    one's number), in batches of 500 made at once: a batch's units share commits."""
    for start in range(0, count, 500):
        yield await asyncio.gather(
            *(
                _new_device(runtime, actor, product_id, name.format(i), node_id.format(i))
                for i in range(start, min(count, start + 500))
            )
        )


async def _new_device(
    runtime: Any, actor: Any, product_id: int, name: str, node_id: str
) -> dict[str, str]:
    """A device with a generated credential through the direct twin of ``create_device``
    (the path a bootstrap takes): the rows, history and audit the API writes; the units of
    a few hundred calls at once share a commit. Its {username, password, client_id}."""
    from fleetkey.clock import utcnow
    from fleetkey.things import service as things

    steps, row, issued = things.device_creation_steps(
        runtime.vault,
        actor,
        "plant-1",
        product_id,
        things.DeviceInput(device_name=name, node_id=node_id),
        utcnow(),
    )
    await runtime.db.direct.run(steps)
    return {
        "username": issued.user_name,
        "password": issued.password,
        "client_id": row["client_id"],
    }


async def seed_chosen(store: Store, count: int) -> list[dict[str, str]]:
    """``count`` devices with a person-chosen password, stored with Argon2id.

    Made as the storm's devices are (the direct twin of ``create_device``), then all given
    one Argon2id hash of ``CHOSEN``: hashing each would cost ~25 ms a device, and what the
    scenario measures is verification, which every device still does on its own (the
    server caches a verified password per device). There must be more devices than the
    server verifies in the scenario's run, or the run ends on answers from memory: on a
    fast machine 800 were all verified within 10 s.
    """
    from sqlalchemy import update

    from fleetkey.credentials.passwords import store_chosen
    from fleetkey.tenants import service as tenants
    from fleetkey.tenants.context import Actor
    from fleetkey.things.models import Device, Product

    runtime = _runtime(store)
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, "bench")
        actor = Actor(tenant.id, "bench")
        product_id = await session.scalar(
            select(Product.id).where(Product.tenant_id == tenant.id).limit(1)
        )

    secret = store_chosen(CHOSEN)
    creds: list[dict[str, str]] = []
    async for batch in _new_devices(runtime, actor, product_id, count, "chosen-{}", "chosen-{}"):
        for c in batch:
            c["password"] = CHOSEN
        async with runtime.db.unit_of_work() as session:
            await session.execute(
                update(Device)
                .where(Device.tenant_id == actor.tenant_id)
                .where(Device.client_id.in_([c["client_id"] for c in batch]))
                .values(secret_kind=secret.kind, secret_hash=secret.hash)
            )
        creds += batch
    await runtime.db.dispose()
    return creds


async def probe_healthz(url: str, seconds: float, rate: float) -> list[float]:
    """GET /healthz ``rate`` times a second (one connection); latencies in ms."""
    out: list[float] = []
    async with httpx.AsyncClient(timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.perf_counter()
            response = await client.get(url + "/healthz")
            out.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - began)))
    return out


async def seed_totp(store: Store, count: int) -> list[tuple[int, bytes]]:
    """``count`` ABS totp authenticators (device_type 5): [(id, seed)].

    The first goes through the service (enrolment, QR code, history, audit); the rest are
    rows like it written in bulk, each with its own seed sealed as the service seals it:
    the QR code alone costs milliseconds a device, and verification reads only the row.
    """
    from sqlalchemy import insert

    from fleetkey.authenticators import otp
    from fleetkey.authenticators import service as auth
    from fleetkey.authenticators.models import AuthDevice
    from fleetkey.clock import utcnow
    from fleetkey.tenants import service as tenants
    from fleetkey.tenants.context import Actor

    runtime = _runtime(store)
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, "bench")
        tenant_id = tenant.id
    actor = Actor(tenant_id, "bench")
    async with runtime.db.unit_of_work() as session:
        first, enrolment = await auth.create_device(
            session, runtime.vault, actor, auth.DeviceInput(client_code="C001", device_type=5)
        )
        await session.flush()
        assert enrolment.private_key
        out: list[tuple[int, bytes]] = [(first.id, otp.from_b32(enrolment.private_key))]
        template = {
            c: getattr(first, c)
            for c in ("client_code", "device_type", "device_status", "otp_kind")
            + ("otp_algorithm", "otp_digits", "otp_counter", "failures", "created_by")
        }
    batch = 2000
    for start in range(1, count, batch):
        rows = []
        for _ in range(start, min(count, start + batch)):
            uid, seed = str(uuid.uuid4()), os.urandom(20)
            sealed = runtime.vault.seal(seed, auth.seal_context(tenant_id, uid))
            rows.append(
                template
                | {"uid": uid, "tenant_id": tenant_id, "secret_sealed": sealed}
                | {"created_at": utcnow(), "version": 1, "is_active": True}
            )
            rows[-1]["_seed"] = seed
        seeds = [r.pop("_seed") for r in rows]
        async with runtime.db.unit_of_work() as session:
            ids = (
                await session.scalars(
                    insert(AuthDevice).returning(AuthDevice.id, sort_by_parameter_order=True), rows
                )
            ).all()
        out.extend(zip(ids, seeds, strict=True))
    await runtime.db.dispose()
    return out


def totp_bodies(devices: list[tuple[int, bytes]], step: int) -> list[dict[str, Any]]:
    from fleetkey.authenticators import otp

    return [{"device_id": ident, "code": otp.hotp(seed, step)} for ident, seed in devices]


@dataclass
class Clinical:
    """The Clinical One world: a DeviceActionsPost token, every registered kit's recreate
    path and every kit's unused bootstrap pair."""

    actions: str
    paths: list[str]  # .../devices/{inventoryId}/access-code?mSubjectId=...
    pairs: list[tuple[str, str]]  # (accessId, OTP)


async def seed_clinical(store: Store, count: int) -> Clinical:
    """A study with mHealth settings, one device-to-cloud kit type, and ``count`` subjects
    each with one kit dispensed and registered (Clinical One allows one device-to-cloud kit
    per subject).

    The first kit goes through the services (subject, inventory, dispensing, registration
    with its pair); the rest are rows like it written in bulk, each pair drawn and hashed
    as ``mhealth`` draws it: through the services a kit costs some 40 ms here, and the
    bootstrap and recreate read only these rows.
    """
    from datetime import timedelta

    from sqlalchemy import insert

    from fleetkey.clock import utcnow
    from fleetkey.inventory import mhealth
    from fleetkey.inventory import service as inventory
    from fleetkey.inventory.models import InventoryItem, MhealthDevice, Subject
    from fleetkey.tenants import scopes
    from fleetkey.tenants import service as tenants
    from fleetkey.tenants.context import Actor

    runtime = _runtime(store)
    ttl = timedelta(hours=runtime.settings.bootstrap_otp_ttl_hours)
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, "bench")
        actions = await tenants.create_token(
            session, runtime.vault, tenant, "clinical-one", [scopes.DEVICE_ACTIONS]
        )
        actor = Actor(tenant.id, "bench")
        settings = {"user": "bench-mhealth", "url": "https://mhealth.bench.invalid/active"}
        await inventory.create_study(session, actor, STUDY, "bench study", settings)
        await inventory.create_kit_type(session, actor, STUDY, KIT, "watch", "device_to_cloud")
    out = Clinical(actions.token, [], [])

    def names(i: int) -> tuple[str, str, str]:
        return f"S{i:07d}", f"K{i:07d}", f"M{i:07d}"

    def remember(i: int, access_id: str, otp: str) -> None:
        subject, item, m_subject = names(i)
        out.pairs.append((access_id, otp))
        out.paths.append(
            f"{ORS}/studies/{STUDY}/{MODE}/subjects/{subject}/devices/{item}"
            f"/access-code?mSubjectId={m_subject}"
        )

    subject, item, m_subject = names(0)
    async with runtime.db.unit_of_work() as session:
        await inventory.create_subject(session, actor, STUDY, MODE, subject, "site-0", m_subject)
        await inventory.create_inventory_item(session, actor, STUDY, MODE, item, KIT)
        await inventory.dispense(session, actor, STUDY, MODE, subject, item)
        pair = await mhealth.register_device(
            session,
            runtime.vault,
            actor,
            STUDY,
            MODE,
            subject,
            item,
            m_subject,
            "site-0",
            None,
            ttl,
        )
        assert pair.access_id and pair.otp
        remember(0, pair.access_id, pair.otp)
    taken = {pair.access_id}
    batch = 2000
    for start in range(1, count, batch):
        now = utcnow()
        subjects, items, devices = [], [], []
        for i in range(start, min(count, start + batch)):
            subject, item, m_subject = names(i)
            drawn = mhealth.draw_pair(runtime.vault, ttl)
            while drawn.access_id in taken:  # access IDs are unique among live pairs
                drawn = mhealth.draw_pair(runtime.vault, ttl)
            taken.add(drawn.access_id)
            key = {"tenant_id": tenant.id, "study_id": STUDY, "mode": MODE}
            subjects.append(
                key
                | {"id": subject, "subject_number": f"site-{i}", "m_subject_id": m_subject}
                | {"created_at": now}
            )
            items.append(
                key
                | {"id": item, "kit_type_id": KIT, "dispensed_to": subject}
                | {"dispensed_at": now}
            )
            devices.append(
                key
                | {"id": uuid.uuid4().hex.upper(), "subject_id": subject, "m_subject_id": m_subject}
                | {"inventory_id": item, "connection_type": "device_to_cloud"}
                | {"subject_number": f"site-{i}", "registered_at": now, "otp_failures": 0}
                | {"access_id": drawn.access_id, "otp_hash": drawn.otp_hash}
                | {"otp_expires_at": drawn.expires_at}
            )
            remember(i, drawn.access_id, drawn.otp)
        async with runtime.db.unit_of_work() as session:
            await session.execute(insert(Subject), subjects)
            await session.execute(insert(InventoryItem), items)
            await session.execute(insert(MhealthDevice), devices)
    await runtime.db.dispose()
    return out


def basic(access_id: str, otp: str) -> str:
    return "Basic " + base64.b64encode(f"{access_id}:{otp}".encode()).decode()


def write_requests(path: Path, lines: list[tuple[str, str, str, str]]) -> Path:
    """Whole requests for bodies.lua: METHOD, path, Authorization value ("-": none), body."""
    path.write_text("".join("\t".join(line) + "\n" for line in lines))
    return path


def clinical_scenarios(
    server: Any,
    world: Clinical,
    baseline: PairedBaseline,
    args: argparse.Namespace,
    work: Path,
    backend: str,
    rows: list[Row],
) -> None:
    """3: devices redeem their pairs (each once), then Clinical One recreates pairs; each
    run followed by a baseline run of the same length."""
    load = wrkmod.Load(args.threads, args.connections, args.clinical_seconds)

    def measure(name: str, lines: list[tuple[str, str, str, str]], match: str, what: str) -> None:
        path = write_requests(work / f"{name}-{backend}.tsv", lines)
        res = run_wrk(server, "/", path, None, load, match)
        base = baseline.after(args.clinical_seconds)
        note = (
            f"{res.requests} req, {res.bad} {what}, {len(lines)} lines, wrapped {res.wrapped}, "
            f"p99 {res.p99_ms:.1f} ms, {cores(res)}, then baseline {base:.0f} req/s"
        )
        if res.bad:
            note += f"; first bad: {res.bad_sample[:120]}"  # refusals: no secret in them
        log(f"  {name}: {res.ok_per_s:.0f}/s; {note}")
        rows.append(Row(f"3 Clinical One {name}", backend, res.ok_per_s, base, 0.20, note))

    # The first bootstrap makes the study's mHealth instance and kit product; done here so
    # the measured ones all find them. Answers carry credentials: only their shape is logged.
    first = world.pairs[0]
    sample = httpx.post(
        server.url + BOOTSTRAP, headers={"Authorization": basic(*first)}, timeout=30
    )
    log(f"  sample bootstrap answer: HTTP {sample.status_code}, {shape(sample)}")
    bootstraps = [("POST", BOOTSTRAP, basic(a, o), "") for a, o in world.pairs[1:]]
    # A pair works once: a wrapped run would measure refusals (401).
    measure("bootstrap", bootstraps, PAIR_OK, "without a credential")

    bearer = f"Bearer {world.actions}"
    sample = httpx.put(server.url + world.paths[0], headers={"Authorization": bearer}, timeout=30)
    log(f"  sample recreate answer: HTTP {sample.status_code}, {shape(sample)}")
    measure("recreate", [("PUT", path, bearer, "") for path in world.paths], ORS_OK, "not Success")


def shape(response: httpx.Response) -> str:
    """The member names of a JSON answer (and of its ``result``), never their values."""
    try:
        body = response.json()
    except ValueError:
        return f"{len(response.content)} bytes, not JSON"
    if not isinstance(body, dict):
        return type(body).__name__
    inner = body.get("result")
    nested = f", result: {sorted(inner)}" if isinstance(inner, dict) else ""
    return f"members {sorted(body)}{nested}"


def wait_for_step_room(seconds: float) -> None:
    """Sleep into the next 30-s step when fewer than ``seconds`` + 2 s are left of this one."""
    into = time.time() % 30
    if into > 30 - seconds - 2:
        time.sleep(30 - into + 0.5)


def privacyidea_scenario(
    pi: pimod.PrivacyIdea | None,
    why: str,
    fleetkey_rate: float,
    fleetkey_capped: bool,
    base: float,
    args: argparse.Namespace,
    work: Path,
    backend: str,
    rows: list[Row],
) -> None:
    """5: privacyIDEA's /validate/check for TOTP with wrk's settings of fleetkey's TOTP run,
    right after it; then fleetkey's valid/s against privacyIDEA's (target 100x)."""
    scenario = "5 privacyIDEA /validate/check TOTP"
    versus = "5 fleetkey TOTP verify vs privacyIDEA"
    if pi is None or pi.server is None:
        rows.append(Row(scenario, backend, 0.0, base, 0.0, f"skipped: {why}", result="skipped"))
        rows.append(
            Row(
                versus,
                backend,
                fleetkey_rate,
                0.0,
                100.0,
                "skipped",
                times=True,
                result="skipped",
            )
        )
        return
    from fleetkey.authenticators import otp

    capped = (
        "; fleetkey's figure is a floor: it verified every one of its --totp-devices "
        "(wrk wrapped), so more devices may show more"
        if fleetkey_capped
        else ""
    )
    wait_for_step_room(args.totp_seconds)
    step = otp.totp_step(time.time())
    bodies = write_bodies(work / f"privacyidea-{backend}.jsonl", pi.bodies(step))
    try:
        res = run_wrk(
            pi.server,
            pimod.CHECK,
            bodies,
            None,
            wrkmod.Load(args.threads, args.connections, args.totp_seconds),
            pimod.ACCEPT,
        )
    except RuntimeError as exc:
        log(f"  privacyIDEA run failed: {exc}")
        rows.append(Row(scenario, backend, 0.0, base, 0.0, f"failed: {exc}"[:300], result="FAIL"))
        return
    note = (
        f"privacyIDEA {pimod.version()} on SQLite, gunicorn -w {WORKERS} (sync): "
        f"{res.requests} req, {res.ok} ACCEPT, {res.bad} other, {len(pi.tokens)} tokens "
        f"(wrapped {res.wrapped}; a reused code is refused), p99 {res.p99_ms:.0f} ms, "
        f"{res.socket_errors} socket errors, {res.timeouts} timeouts"
    )
    if res.bad:
        note += f"; first bad: {res.bad_sample[:120]}"
    log(f"  privacyIDEA totp: {res.ok_per_s:.1f} valid/s; {note}")
    rows.append(Row(scenario, backend, res.ok_per_s, base, 0.0, note, result="reference"))
    rows.append(
        Row(
            versus,
            backend,
            fleetkey_rate,
            res.ok_per_s,
            100.0,
            f"fleetkey {fleetkey_rate:.0f} valid/s, privacyIDEA {res.ok_per_s:.1f} valid/s "
            f"(baseline column: privacyIDEA){capped}",
            times=True,
        )
    )


@dataclass
class PairedBaseline:
    """The raw-ASGI baseline, served beside fleetkey's server for a whole backend: every
    measured run is followed at once by a baseline run of the same load and length, and
    its ratio is taken against that run.

    These machines drift within minutes (2-s baseline runs of 14,222-29,517 req/s in one
    scenario), so a baseline measured before the scenarios decided some of them by itself.
    wrk takes whole seconds: a shorter run (a first-connection pass) is paired with 1 s.
    """

    server: Any
    bodies: Path
    load: wrkmod.Load

    @classmethod
    def start(cls, work: Path, env: dict[str, str], load: wrkmod.Load) -> PairedBaseline:
        bodies = write_bodies(work / "baseline.jsonl", [BASELINE_BODY])
        server = baseline_server(env, free_port(), WORKERS, work / "baseline.log")
        server.start()
        paired = cls(server, bodies, load)
        try:
            paired.after(1.0)  # warm-up, not reported
        except BaseException:
            server.stop()
            raise
        return paired

    def after(self, seconds: float) -> float:
        """A baseline run of ``seconds`` (at least 1) at this load: its requests/s."""
        load = dataclasses.replace(self.load, seconds=max(1, round(seconds)))
        return run_wrk(self.server, "/", self.bodies, None, load, BASELINE_OK).ok_per_s

    def stop(self) -> None:
        self.server.stop()


Run = TypeVar("Run")


def median_pair(pairs: list[tuple[float, float, Run]]) -> tuple[float, float, Run]:
    """Of (value, baseline, what was measured) runs, the one with the median ratio."""
    return sorted(pairs, key=lambda pair: _share(pair[0], pair[1]))[len(pairs) // 2]


def listing(pairs: list[tuple[float, float, Run]]) -> str:
    """Each run's value and baseline, for a note: "value/baseline, ..."."""
    return ", ".join(f"{value:.0f}/{base:.0f}" for value, base, _ in pairs)


def log_pair(what: str, value: float, base: float, note: str) -> None:
    """A measured run and the baseline run after it, with their ratio."""
    share = _share(value, base)
    log(f"  {what}: {value:.0f}/s, then baseline {base:.0f} req/s ({share:.1%}); {note}")


def bench_backend(
    backend: str,
    args: argparse.Namespace,
    work: Path,
    rows: list[Row],
    pi: pimod.PrivacyIdea | None = None,
    pi_why: str = "",
) -> None:
    log(f"== {backend}")
    store = create_store(backend, work)
    try:
        t0 = time.monotonic()
        trials = args.storm_trials
        measured = args.devices * trials
        broker, verifier, creds = asyncio.run(seed_devices(store, measured + WARM_DEVICES))
        # Devices of their own warm the server up (connections, prepared statements) so
        # that the measured storm is the first connection of each of the others. Each
        # trial of first connections has devices of its own.
        warm, creds = creds[measured:], creds[:measured]
        storms = [creds[i * args.devices : (i + 1) * args.devices] for i in range(trials)]
        log(f"  seeded {len(creds)} devices in {time.monotonic() - t0:.0f}s")
        t0 = time.monotonic()
        # Each TOTP run verifies authenticators of its own (a code is accepted once).
        per_run = args.totp_devices
        totp_runs = args.totp_runs
        seeded = asyncio.run(seed_totp(store, per_run * totp_runs + WARM_TOTP))
        warm_totp = seeded[per_run * totp_runs :]
        totp = [seeded[i * per_run : (i + 1) * per_run] for i in range(totp_runs)]
        log(f"  seeded {len(seeded)} totp authenticators in {time.monotonic() - t0:.0f}s")
        chosen = asyncio.run(seed_chosen(store, args.chosen_devices)) if args.argon2 else []
        world = None
        if args.clinical and args.bootstrap_pairs > 1:
            t0 = time.monotonic()
            world = asyncio.run(seed_clinical(store, args.bootstrap_pairs))
            log(
                f"  seeded {len(world.pairs)} Clinical One subjects with a registered kit "
                f"in {time.monotonic() - t0:.0f}s"
            )
        analyze_store(store)
        load = wrkmod.Load(args.threads, args.connections, args.seconds)
        baseline = PairedBaseline.start(work, store.env(), load)
        try:
            server = fleetkey_server(
                store.env(),
                free_port(),
                WORKERS,
                work / f"fleetkey-{backend}.log",
                store.pg_database,
            )
            server.start()
            try:
                sample = httpx.post(
                    server.url + AUTH,
                    json=creds[0],
                    headers={"Authorization": f"Bearer {broker}"},
                    timeout=30,
                )
                log(f"  sample auth answer: {sample.status_code} {sample.text}")
                warm_load = wrkmod.Load(args.threads, args.connections, 2)
                run_wrk(
                    server, AUTH, write_bodies(work / "warm.jsonl", warm), broker, warm_load, ALLOW
                )
                storm_scenarios(server, broker, storms, baseline, load, work, backend, rows)

                if args.argon2:
                    argon2_scenario(server, broker, chosen, args, work, backend, rows)
                if args.only_argon2:
                    return
                if world is not None:
                    clinical_scenarios(server, world, baseline, args, work, backend, rows)
                res, base = totp_scenario(
                    server, verifier, totp, warm_totp, args, work, backend, baseline, rows
                )
                if args.privacyidea:
                    privacyidea_scenario(
                        pi, pi_why, res.ok_per_s, res.wrapped > 0, base, args, work, backend, rows
                    )
            finally:
                server.stop()
        finally:
            baseline.stop()
    finally:
        drop_store(store)


def storm_scenarios(
    server: Any,
    broker: str,
    storms: list[list[dict[str, str]]],
    baseline: PairedBaseline,
    load: wrkmod.Load,
    work: Path,
    backend: str,
    rows: list[Row],
) -> None:
    """1: first connections, then the first trial's devices again (remembered answers).

    First connections: one pass over a trial's devices, each thread stopping after its last
    answer (the rate is over the time that took; "wrapped" counts requests sent again while
    the pass's last answers were in flight). A pass lasts about half a second and is
    followed by a 1-s baseline run: the pair with the median ratio is reported.
    """
    passes = []
    for trial, devices in enumerate(storms):
        path = write_bodies(work / f"auth-{backend}-{trial}.jsonl", devices)
        first = run_wrk(server, AUTH, path, broker, load, ALLOW, mode="single")
        base = baseline.after(first.seconds)
        note = (
            f"{first.requests} req, {first.bad} non-allow, wrapped {first.wrapped}, "
            f"p99 {first.p99_ms:.1f} ms"
        )
        log_pair(f"first connections, trial {trial + 1}", first.ok_per_s, base, note)
        passes.append((first.ok_per_s, base, note))
    rate, base, note = median_pair(passes)
    each = listing(passes)
    note = f"median ratio of {len(passes)} trials (req/s / baseline req/s: {each}): {note}"
    rows.append(Row("1 reconnect storm: first", backend, rate, base, 0.30, note))
    bodies = write_bodies(work / f"auth-{backend}.jsonl", storms[0])
    rep = run_wrk(server, AUTH, bodies, broker, load, ALLOW)
    base = baseline.after(load.seconds)
    note = f"{rep.requests} req, {rep.bad} non-allow, p99 {rep.p99_ms:.1f} ms, {cores(rep)}"
    log_pair("repeated connections", rep.ok_per_s, base, note)
    rows.append(Row("1 reconnect storm: repeated", backend, rep.ok_per_s, base, 0.50, note))


def totp_scenario(
    server: Any,
    verifier: str,
    runs: list[list[tuple[int, bytes]]],
    warm: list[tuple[int, bytes]],
    args: argparse.Namespace,
    work: Path,
    backend: str,
    baseline: PairedBaseline,
    rows: list[Row],
) -> tuple[wrkmod.WrkResult, float]:
    """Scenario 4: valid codes only, so every verification writes its used step. A warm-up
    on authenticators of its own, then one run per device set (each starting just after a
    step boundary, so that every code stays in its step), each followed at once by a
    baseline run of the same length and load: the pair with the median ratio is reported
    (its TOTP run and baseline rate are returned).
    """
    from fleetkey.authenticators import otp

    warm_bodies = totp_bodies(warm, otp.totp_step(time.time()))
    warm_path = write_bodies(work / f"totp-warm-{backend}.jsonl", warm_bodies)
    load = wrkmod.Load(args.threads, args.connections, args.totp_seconds)
    os.environ["BENCH_MATCH"] = VALID
    wrkmod.LUA = MATCH_LUA
    wrkmod.run(server, VERIFY, warm_path, verifier, wrkmod.Load(args.threads, args.connections, 1))
    pairs: list[tuple[float, float, wrkmod.WrkResult]] = []
    for trial, devices in enumerate(runs):
        wait_for_step_room(args.totp_seconds)
        step = otp.totp_step(time.time())
        path = write_bodies(work / f"totp-{backend}-{trial}.jsonl", totp_bodies(devices, step))
        # Not run_wrk: its wait for a quiet machine could carry the run into the next step.
        os.environ["BENCH_MATCH"] = VALID
        res = wrkmod.run(server, VERIFY, path, verifier, load)
        base = baseline.after(args.totp_seconds)
        log_pair(f"totp verify (valid), run {trial + 1}", res.ok_per_s, base, _totp_note(res))
        pairs.append((res.ok_per_s, base, res))
    _, base, res = median_pair(pairs)
    each = listing(pairs)
    note = (
        f"median ratio of {len(pairs)} runs, each followed by a baseline run of the same "
        f"{args.totp_seconds:g} s (valid/s / baseline req/s: {each}): {_totp_note(res)}"
    )
    rows.append(Row("4 ABS TOTP verify", backend, res.ok_per_s, base, 0.25, note))
    return res, base


def _totp_note(res: wrkmod.WrkResult) -> str:
    return (
        f"{res.requests} req, {res.ok} valid:true, {res.bad} other "
        f"(wrapped {res.wrapped}; reused codes are refused), p99 {res.p99_ms:.1f} ms, "
        f"{cores(res)}"
    )


def argon2_scenario(
    server: Any,
    broker: str,
    chosen: list[dict[str, str]],
    args: argparse.Namespace,
    work: Path,
    backend: str,
    rows: list[Row],
) -> None:
    """Argon2id verifications as fast as the server does them, while /healthz is probed
    at 20 req/s on its own connection; the figure is /healthz p99 (target < 50 ms)."""
    bodies = write_bodies(work / f"chosen-{backend}.jsonl", chosen)
    os.environ["BENCH_MATCH"] = ALLOW
    wrkmod.LUA = MATCH_LUA
    seconds = args.seconds
    load = wrkmod.Load(1, 4, seconds)

    async def both() -> tuple[wrkmod.WrkResult, list[float]]:
        storm = asyncio.to_thread(wrkmod.run, server, AUTH, bodies, broker, load)
        probe = probe_healthz(server.url, seconds - 1, 20.0)
        return await asyncio.gather(storm, probe)

    res, lat = asyncio.run(both())
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    note = (
        f"{res.ok_per_s:.0f} Argon2id verifications/s (allow), {res.bad} non-allow, "
        f"auth p99 {res.p99_ms:.0f} ms; /healthz p50 {lat[len(lat) // 2]:.1f} ms, "
        f"p99 {p99:.1f} ms over {len(lat)} probes, other work {res.foreign_cores:.2f} cores"
    )
    if res.ok > len(chosen) * WORKERS:
        # Each device is verified at most once per worker; the rest came from memory.
        note += "; NOT all verified: more answers than devices x workers (raise --chosen-devices)"
    log(f"  argon2: {note}")
    # value: /healthz p99 in ms against the 50 ms limit (in the baseline column).
    rows.append(Row("2 Argon2id: /healthz p99 ms", backend, p99, 50.0, 1.0, note, at_most=True))


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | backend | value (req/s) | baseline (req/s) | ratio | target | result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        value, base = f"{r.value:.0f}", f"{r.baseline:.0f}"
        ratio = f"{r.ratio:.1f}x" if r.times else f"{r.ratio:.1%}"
        target = f">= {r.target:g}x" if r.times else f">= {r.target:.0%}"
        if r.at_most:  # a latency in ms against its limit (the baseline column)
            value, base = f"{r.value:.1f} ms", f"limit {r.baseline:g} ms"
            ratio, target = "-", f"<= {r.target * r.baseline:g} ms"
        if r.result == "reference":
            target = "-"
        lines.append(
            f"| {r.scenario} | {r.backend} | {value} | {base} | {ratio} | {target} | {r.outcome} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument(
        "--storm-trials",
        type=int,
        default=3,
        help="first-connection passes, each over --devices devices of its own and followed by "
        "a 1-s baseline run: the pair with the median ratio is reported",
    )
    parser.add_argument(
        "--totp-devices",
        type=int,
        default=50_000,
        help="authenticators per TOTP run, each verified once: keep it above what a run verifies",
    )
    parser.add_argument(
        "--totp-runs",
        type=int,
        default=5,
        help="TOTP runs, each followed by a baseline run of the same length: the pair with "
        "the median ratio is reported",
    )
    parser.add_argument("--totp-seconds", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--argon2", action="store_true", help="also scenario 2 (Argon2id)")
    parser.add_argument(
        "--chosen-devices",
        type=int,
        default=5_000,
        help="devices with chosen passwords: each is verified with Argon2id once per worker "
        "(the server caches a verified password), so keep it above the 10 s verification count",
    )
    parser.add_argument("--only-argon2", action="store_true", help="stop after scenario 2")
    parser.add_argument(
        "--clinical",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scenario 3: Clinical One bootstrap and access-code recreate",
    )
    parser.add_argument(
        "--bootstrap-pairs",
        type=int,
        default=5_000,
        help="registered kits, each with one bootstrap pair (a pair works once: keep it above "
        "what the bootstrap run redeems; the note says whether wrk wrapped)",
    )
    parser.add_argument("--clinical-seconds", type=float, default=5.0)
    parser.add_argument(
        "--privacyidea",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="scenario 5: privacyIDEA's /validate/check side by side with TOTP verify "
        "(installed once into bench/.cache/privacyidea-venv)",
    )
    parser.add_argument(
        "--privacyidea-tokens",
        type=int,
        default=600,
        help="privacyIDEA TOTP tokens, each checked once per step",
    )
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "device.json")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fleetkey-device-") as tmp:
        work = Path(tmp)
        pi: pimod.PrivacyIdea | None = None
        pi_why = ""
        if args.privacyidea:
            try:
                pi, _ = pimod.prepare(work / "privacyidea", WORKERS, args.privacyidea_tokens, log)
            except pimod.Unavailable as exc:
                pi_why = str(exc).splitlines()[0][:200]
                log(f"  privacyIDEA unavailable, its rows are skipped: {exc}")
        try:
            for backend in args.backends.split(","):
                if backend == "postgresql" and (
                    why := postgres_available("postgresql://postgres@127.0.0.1:5432/postgres")
                ):
                    log(f"skipping postgresql: {why}")
                    continue
                bench_backend(backend, args, work, rows, pi, pi_why)
        finally:
            if pi is not None:
                pi.stop()
    log(f"machine: {platform.platform()}, {os.cpu_count()} cores")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps([r.__dict__ | {"ratio": r.ratio, "outcome": r.outcome} for r in rows], indent=1)
    )
    print(table(rows))
    for r in rows:
        print(f"  {r.scenario} / {r.backend}: {r.note}")


if __name__ == "__main__":
    main()
