"""The bare RS256 signing rate: what the machine's cores can sign with nothing else to do.

RSA-2048, PKCS#1 v1.5 with SHA-256 (``cryptography``), exactly as fleetkey's Signer
signs, in the same number of processes as fleetkey has workers, all at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.procs import machine_busy_seconds

# About the size of a registration's signing input (b64 header + "." + b64 payload).
MESSAGE = b"e" * 620


@dataclass
class SigningResult:
    processes: int
    seconds: float
    signatures: int
    per_s: float
    per_process: list[float]
    # CPU the rest of the machine used meanwhile, in cores (other work disturbs the figure).
    foreign_cores: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sign_for(pem: bytes, seconds: float, start_at: float) -> tuple[int, float, float]:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    pad, digest = padding.PKCS1v15(), hashes.SHA256()
    for _ in range(20):  # warm up
        key.sign(MESSAGE, pad, digest)
    while time.time() < start_at:
        time.sleep(0.005)
    count = 0
    cpu = time.process_time()
    began = time.perf_counter()
    end = began + seconds
    while True:
        key.sign(MESSAGE, pad, digest)
        count += 1
        if count % 8 == 0 and time.perf_counter() >= end:
            break
    return count, time.perf_counter() - began, time.process_time() - cpu


def bare_signing_rate(processes: int, seconds: float) -> SigningResult:
    """``processes`` processes sign in a loop for ``seconds``; the sum of their rates."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        start_at = time.time() + 3.0  # every process has started and warmed up by then
        futures = [pool.submit(_sign_for, pem, seconds, start_at) for _ in range(processes)]
        time.sleep(max(0.0, start_at - time.time()))
        busy_before = machine_busy_seconds()
        time.sleep(seconds)
        busy = machine_busy_seconds() - busy_before
        results = [f.result() for f in futures]
    rates = [count / took for count, took, _ in results]
    own = sum(cpu for _, _, cpu in results)
    return SigningResult(
        processes=processes,
        seconds=seconds,
        signatures=sum(count for count, _, _ in results),
        per_s=sum(rates),
        per_process=rates,
        foreign_cores=max(0.0, busy - own) / seconds,
    )
