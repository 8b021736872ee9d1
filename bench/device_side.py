"""Device-side benchmarks: broker reconnect storm and ABS TOTP verify against a raw-ASGI
baseline (bench.baseline, same uvicorn flags, same workers, same wrk settings), on SQLite
and PostgreSQL (a fresh store per backend, dropped afterwards).

    .venv/bin/python -m bench.device_side [--backends sqlite,postgresql] [--devices 10000]

Devices, tokens and authenticators are made directly through the domain in this process
before the server starts; wrk then replays prepared bodies (bench/lua/bodies.lua counts an
answer as good when its body contains the expected text).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bench import wrk as wrkmod
from bench.backends import Store, create_store, drop_store, postgres_available
from bench.procs import REPO, baseline_server, fleetkey_server, free_port, wait_for_quiet

MATCH_LUA = Path(__file__).resolve().parent / "lua" / "bodies.lua"
AUTH = "/api/v1/auth/device"
VERIFY = "/api/v1/otp/verify"
ALLOW = '"result":"allow"'
VALID = '"valid":true'
WORKERS = 2
CHOSEN = "Chosen-Passw0rd!x"  # meets ROMA's rules; stored with Argon2id


@dataclass
class Row:
    scenario: str
    backend: str
    value: float
    baseline: float
    target: float  # ratio value/baseline that passes
    note: str = ""
    at_most: bool = False  # a latency: passes when value/baseline <= target

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else 0.0

    @property
    def passed(self) -> bool:
        return self.ratio <= self.target if self.at_most else self.ratio >= self.target


def log(text: str) -> None:
    print(time.strftime("%H:%M:%S"), text, flush=True)


def run_wrk(
    server: Any, path: str, bodies: Path, token: str | None, load: wrkmod.Load, match: str
) -> wrkmod.WrkResult:
    """bench.wrk.run with the matching replayer (success = body contains ``match``)."""
    os.environ["BENCH_MATCH"] = match
    wrkmod.LUA = MATCH_LUA
    quiet = wait_for_quiet(log, max_wait_s=5)
    return wrkmod.run(server, path, bodies, token, load, mode="cycle", quiet_before=quiet)


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
    batch = 500
    for start in range(0, count, batch):
        async with runtime.db.unit_of_work() as session:
            for i in range(start, min(count, start + batch)):
                row, issued = await things.create_device(
                    session,
                    runtime.vault,
                    actor,
                    "plant-1",
                    things.ProductRef(product_id=product_id),
                    things.DeviceInput(device_name=f"sensor-{i}", node_id=f"node-{i}"),
                )
                assert issued is not None
                creds.append(
                    {
                        "username": issued.user_name,
                        "password": issued.password,
                        "client_id": row.client_id,
                    }
                )
    await runtime.db.dispose()
    return broker.token, verifier.token, creds


async def seed_chosen(store: Store, count: int) -> list[dict[str, str]]:
    """``count`` devices with person-chosen passwords (stored with Argon2id)."""
    from fleetkey.tenants import service as tenants
    from fleetkey.tenants.context import Actor
    from fleetkey.things import service as things
    from fleetkey.things.models import Product

    runtime = _runtime(store)
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, "bench")
        actor = Actor(tenant.id, "bench")
        product_id = await session.scalar(
            select(Product.id).where(Product.tenant_id == tenant.id).limit(1)
        )
    creds: list[dict[str, str]] = []
    async with runtime.db.unit_of_work() as session:
        for i in range(count):
            row, _ = await things.create_device(
                session,
                runtime.vault,
                actor,
                "plant-1",
                things.ProductRef(product_id=product_id),
                things.DeviceInput(device_name=f"chosen-{i}", node_id=f"chosen-{i}"),
                user_name=f"chosen-user-{i}",
                password=CHOSEN,
            )
            creds.append(
                {"username": f"chosen-user-{i}", "password": CHOSEN, "client_id": row.client_id}
            )
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
    """``count`` ABS totp authenticators (device_type 5): [(id, seed)]."""
    from fleetkey.authenticators import otp
    from fleetkey.authenticators import service as auth
    from fleetkey.tenants import service as tenants
    from fleetkey.tenants.context import Actor

    runtime = _runtime(store)
    async with runtime.db.unit_of_work() as session:
        tenant = await tenants.ensure_tenant(session, "bench")
        tenant_id = tenant.id
    actor = Actor(tenant_id, "bench")
    out: list[tuple[int, bytes]] = []
    batch = 500
    for start in range(0, count, batch):
        async with runtime.db.unit_of_work() as session:
            for _ in range(start, min(count, start + batch)):
                row, enrolment = await auth.create_device(
                    session,
                    runtime.vault,
                    actor,
                    auth.DeviceInput(client_code="C001", device_type=5),
                )
                await session.flush()
                assert enrolment.private_key
                out.append((row.id, otp.from_b32(enrolment.private_key)))
    await runtime.db.dispose()
    return out


def totp_bodies(devices: list[tuple[int, bytes]], step: int) -> list[dict[str, Any]]:
    from fleetkey.authenticators import otp

    return [{"device_id": ident, "code": otp.hotp(seed, step)} for ident, seed in devices]


def baseline_rate(work: Path, load: wrkmod.Load, env: dict[str, str]) -> float:
    bodies = write_bodies(work / "baseline.jsonl", [{"username": "u", "password": "p"}])
    server = baseline_server(env, free_port(), WORKERS, work / "baseline.log")
    server.start()
    try:
        result = run_wrk(server, "/", bodies, None, load, '"errors":null')
    finally:
        server.stop()
    log(f"  baseline: {result.ok_per_s:.0f} req/s (p99 {result.p99_ms:.1f} ms)")
    return result.ok_per_s


def bench_backend(backend: str, args: argparse.Namespace, work: Path, rows: list[Row]) -> None:
    log(f"== {backend}")
    store = create_store(backend, work)
    try:
        t0 = time.monotonic()
        broker, verifier, creds = asyncio.run(seed_devices(store, args.devices))
        log(f"  seeded {len(creds)} devices in {time.monotonic() - t0:.0f}s")
        t0 = time.monotonic()
        totp = asyncio.run(seed_totp(store, args.totp_devices))
        log(f"  seeded {len(totp)} totp authenticators in {time.monotonic() - t0:.0f}s")
        chosen = asyncio.run(seed_chosen(store, args.chosen_devices)) if args.argon2 else []
        load = wrkmod.Load(args.threads, args.connections, args.seconds)
        base = baseline_rate(work, load, store.env())
        server = fleetkey_server(
            store.env(), free_port(), WORKERS, work / f"fleetkey-{backend}.log", store.pg_database
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
            bodies = write_bodies(work / f"auth-{backend}.jsonl", creds)
            # First connections: the first pass over all devices ("wrapped" says whether
            # wrk started over within the run).
            first = run_wrk(server, AUTH, bodies, broker, load, ALLOW)
            note = (
                f"{first.requests} req, {first.bad} non-allow, wrapped {first.wrapped}, "
                f"p99 {first.p99_ms:.1f} ms, other work {first.foreign_cores:.2f} cores"
            )
            log(f"  first connections: {first.ok_per_s:.0f}/s p99 {first.p99_ms:.1f} ms; {note}")
            rows.append(Row("1 reconnect storm: first", backend, first.ok_per_s, base, 0.30, note))
            rep = run_wrk(server, AUTH, bodies, broker, load, ALLOW)
            note = (
                f"{rep.requests} req, {rep.bad} non-allow, p99 {rep.p99_ms:.1f} ms, "
                f"other work {rep.foreign_cores:.2f} cores"
            )
            log(f"  repeated connections: {rep.ok_per_s:.0f}/s; {note}")
            rows.append(Row("1 reconnect storm: repeated", backend, rep.ok_per_s, base, 0.50, note))

            if args.argon2:
                argon2_scenario(server, broker, chosen, args, work, backend, rows)
            if args.only_argon2:
                return
            # TOTP: start just after a step boundary so every code stays in its step.
            from fleetkey.authenticators import otp

            now = time.time()
            into = now % 30
            if into > 30 - args.totp_seconds - 2:
                time.sleep(30 - into + 0.5)
            step = otp.totp_step(time.time())
            tbodies = write_bodies(work / f"totp-{backend}.jsonl", totp_bodies(totp, step))
            os.environ["BENCH_MATCH"] = VALID
            wrkmod.LUA = MATCH_LUA
            res = wrkmod.run(
                server,
                VERIFY,
                tbodies,
                verifier,
                wrkmod.Load(args.threads, args.connections, args.totp_seconds),
            )
            valid = res.ok
            note = (
                f"{res.requests} req, {valid} valid:true, {res.bad} other "
                f"(wrapped {res.wrapped}; reused codes are refused), p99 {res.p99_ms:.1f} ms"
            )
            log(f"  totp verify: {res.ok_per_s:.0f} valid/s; {note}")
            rows.append(Row("4 ABS TOTP verify", backend, res.ok_per_s, base, 0.25, note))
        finally:
            server.stop()
    finally:
        drop_store(store)


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
    log(f"  argon2: {note}")
    # value: /healthz p99 in ms against the 50 ms limit (in the baseline column).
    rows.append(Row("2 Argon2id: /healthz p99 ms", backend, p99, 50.0, 1.0, note, at_most=True))


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | backend | value (req/s) | baseline (req/s) | ratio | target | result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.backend} | {r.value:.0f} | {r.baseline:.0f} | "
            f"{r.ratio:.1%} | {'<=' if r.at_most else '>='} {r.target:.0%} | "
            f"{'pass' if r.passed else 'FAIL'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--totp-devices", type=int, default=4_000)
    parser.add_argument("--totp-seconds", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--argon2", action="store_true", help="also scenario 2 (Argon2id)")
    parser.add_argument(
        "--chosen-devices",
        type=int,
        default=800,
        help="devices with chosen passwords: each is verified with Argon2id once per worker "
        "(the server caches a verified password), so keep it above the 10 s verification count",
    )
    parser.add_argument("--only-argon2", action="store_true", help="stop after scenario 2")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "device.json")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fleetkey-device-") as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "postgresql" and (
                why := postgres_available("postgresql://postgres@127.0.0.1:5432/postgres")
            ):
                log(f"skipping postgresql: {why}")
                continue
            bench_backend(backend, args, work, rows)
    log(f"machine: {platform.platform()}, {os.cpu_count()} cores")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([r.__dict__ | {"ratio": r.ratio} for r in rows], indent=1))
    print(table(rows))
    for r in rows:
        print(f"  {r.scenario} / {r.backend}: {r.note}")


if __name__ == "__main__":
    main()
