"""privacyIDEA 3.x side by side with fleetkey's TOTP verify (bench/device_side.py, scenario 5).

privacyIDEA lives in a virtual environment of its own (bench/.cache/privacyidea-venv, made
once and reused), with a SQLite database, encryption and audit keys in a temporary
directory, made with its own ``pi-manage setup`` commands. TOTP tokens with known seeds are
enrolled in-process by a small script run with privacyIDEA's interpreter, and gunicorn
serves it with the same worker count as fleetkey. Each token is checked once per 30-s step
with ``POST /validate/check {"serial", "pass"}`` (no user, so no realm or resolver).

    .venv/bin/python -m bench.privacyidea [--tokens 200]   # set up, one check, stop
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.procs import REPO, Server, free_port

VENV = REPO / "bench" / ".cache" / "privacyidea-venv"
REQUIREMENT = "privacyidea>=3,<4"
CHECK = "/validate/check"
ACCEPT = '"authentication": "ACCEPT"'  # in the answer's "result" (Flask writes ": ")

# Run with privacyIDEA's interpreter: enrolls one TOTP token per line "serial hexseed".
ENROLL = """\
import sys

from privacyidea.app import create_app
from privacyidea.lib.token import init_token

app = create_app("production", silent=True)
with app.app_context():
    with open(sys.argv[1]) as handle:
        for line in handle:
            serial, seed = line.split()
            init_token({"type": "totp", "serial": serial, "otpkey": seed, "genkey": 0,
                        "otplen": 6, "hashlib": "sha1", "timeStep": 30})
"""
# gunicorn's application module (PRIVACYIDEA_CONFIGFILE names the pi.cfg).
WSGI = """\
from privacyidea.app import create_app

application = create_app("production", silent=True)
"""


class Unavailable(RuntimeError):
    """privacyIDEA could not be installed or set up (the bench goes on without it)."""


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> str:
    try:
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, check=False, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{' '.join(argv[:3])}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise Unavailable(f"{' '.join(argv[:4])} failed ({done.returncode}):\n" + "\n".join(tail))
    return done.stdout


def ensure_venv(log: Callable[[str], None]) -> Path:
    """privacyIDEA's virtual environment, made and installed on first use; its bin/."""
    bin_dir = VENV / "bin"
    marker = VENV / ".installed"
    if marker.exists() and (bin_dir / "pi-manage").exists() and (bin_dir / "gunicorn").exists():
        return bin_dir
    log(f"  installing privacyIDEA into {VENV} (once; a few minutes)")
    VENV.parent.mkdir(parents=True, exist_ok=True)
    if not (bin_dir / "python").exists():
        _run([sys.executable, "-m", "venv", str(VENV)])
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", REQUIREMENT, "gunicorn"])
    version = _run([str(bin_dir / "python"), "-m", "pip", "show", "privacyidea"])
    marker.write_text(version)
    return bin_dir


def version() -> str:
    marker = VENV / ".installed"
    if not marker.exists():
        return "?"
    for line in marker.read_text().splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return "?"


@dataclass
class PrivacyIdea:
    """A set-up privacyIDEA (database, keys, tokens) in ``work``; ``start`` serves it."""

    work: Path
    workers: int
    tokens: list[tuple[str, bytes]] = field(default_factory=list)  # (serial, seed)
    server: Server | None = None

    @property
    def cfg(self) -> Path:
        return self.work / "pi.cfg"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETKEY_")}
        env.pop("PYTHONPATH", None)
        env["PRIVACYIDEA_CONFIGFILE"] = str(self.cfg)
        return env

    def setup(self, bin_dir: Path, count: int) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        w = self.work
        settings = {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{w / 'privacyidea.sqlite'}",
            "SECRET_KEY": secrets.token_hex(24),
            "PI_PEPPER": secrets.token_hex(24),
            "PI_ENCFILE": str(w / "enckey"),
            "PI_AUDIT_KEY_PRIVATE": str(w / "audit-private.pem"),
            "PI_AUDIT_KEY_PUBLIC": str(w / "audit-public.pem"),
            "PI_LOGFILE": str(w / "privacyidea.log"),
            "PI_LOGLEVEL": 30,  # warnings
        }
        self.cfg.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
        manage = str(bin_dir / "pi-manage")
        for command in ("create_enckey", "create_audit_keys", "create_tables"):
            _run([manage, "setup", command], env=self.env())
        self.tokens = [(f"BENCH{i:06d}", secrets.token_bytes(20)) for i in range(count)]
        seeds = w / "tokens.txt"
        seeds.write_text("".join(f"{s} {seed.hex()}\n" for s, seed in self.tokens))
        (w / "bench_pi_enroll.py").write_text(ENROLL)
        (w / "bench_pi_wsgi.py").write_text(WSGI)
        _run([str(bin_dir / "python"), str(w / "bench_pi_enroll.py"), str(seeds)], env=self.env())

    def start(self, bin_dir: Path) -> Server:
        port = free_port()
        argv = [str(bin_dir / "gunicorn"), "-w", str(self.workers), "-b", f"127.0.0.1:{port}"]
        argv += ["--chdir", str(self.work), "--log-level", "warning", "bench_pi_wsgi:application"]
        self.server = Server(
            "privacyidea", argv, self.env(), port, self.work / "gunicorn.log", "/healthz/"
        )
        self.server.start()
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def bodies(self, step: int) -> list[dict[str, str]]:
        from fleetkey.authenticators import otp

        return [{"serial": s, "pass": otp.hotp(seed, step)} for s, seed in self.tokens]


def prepare(
    work: Path, workers: int, count: int, log: Callable[[str], None]
) -> tuple[PrivacyIdea, Path]:
    """Install (if needed), set up and start privacyIDEA; raises Unavailable."""
    t0 = time.monotonic()
    bin_dir = ensure_venv(log)
    pi = PrivacyIdea(work, workers)
    pi.setup(bin_dir, count)
    took = time.monotonic() - t0
    log(f"  privacyIDEA {version()}: set up with {count} TOTP tokens in {took:.0f}s")
    try:
        pi.start(bin_dir)
    except RuntimeError as exc:
        raise Unavailable(str(exc)) from exc
    return pi, bin_dir


def main() -> None:
    import tempfile

    from fleetkey.authenticators import otp

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="privacyidea-") as tmp:
        pi, _ = prepare(Path(tmp), 2, args.tokens, print)
        try:
            assert pi.server is not None
            body = pi.bodies(otp.totp_step(time.time()))[0]
            answer = httpx.post(pi.server.url + CHECK, json=body, timeout=30)
            print(answer.status_code, json.dumps(answer.json().get("result")))
        finally:
            pi.stop()


if __name__ == "__main__":
    main()
