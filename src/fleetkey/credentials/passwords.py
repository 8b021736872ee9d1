"""Device passwords: how they are made, stored and checked.

Two kinds, because their threats differ (see docs/security.md):

- a password fleetkey generated has >= 128 bits of entropy, so a keyed hash (HMAC-SHA256
  under the server pepper) is enough: fast to check, useless without the pepper;
- a password a person chose may be guessable, so it gets Argon2id (OWASP parameters),
  checked on threads of lower priority (``hashing_pool``) so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import string
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fleetkey.credentials.randomness import random_text
from fleetkey.credentials.vault import Vault

GENERATED = "keyed"  # HMAC-SHA256 under the pepper
CHOSEN = "argon2id"

# The special characters ROMA's reset-authentication page allows.
SPECIALS = "~!@#$%^&*()-_=+|[{}];:<>/?"
GENERATED_LENGTH = 24  # ~150 bits over this alphabet

# OWASP: Argon2id, m=19 MiB, t=2, p=1.
_argon2 = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Argon2id runs on threads of their own, niced: a storm of chosen-password devices must not
# starve the event loop (health checks, every other request) of the CPU. The hash still
# gets every cycle the loop leaves idle. Only Linux applies a nice value to one thread (by
# its thread id); elsewhere that id could name another process, so nothing is changed.
HASHING_NICENESS = 10
_hashing: ThreadPoolExecutor | None = None
_T = TypeVar("_T")


def _yield_to_the_loop() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):  # a process already nicer keeps its own
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


def hashing_pool() -> ThreadPoolExecutor:
    """The process's Argon2id threads (one per core: more would only queue for it)."""
    global _hashing
    if _hashing is None:
        _hashing = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2,
            thread_name_prefix="argon2id",
            initializer=_yield_to_the_loop,
        )
    return _hashing


async def _hashed(work: Callable[..., _T], *args: str) -> _T:
    return await asyncio.get_running_loop().run_in_executor(hashing_pool(), work, *args)


def generate_password(length: int = GENERATED_LENGTH) -> str:
    """A random password with at least one digit, upper, lower and special character."""
    alphabet = string.ascii_letters + string.digits + SPECIALS
    while True:
        candidate = random_text(alphabet, length)
        if (
            any(c.isdigit() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.islower() for c in candidate)
            and any(c in SPECIALS for c in candidate)
        ):
            return candidate


@dataclass(frozen=True)
class StoredSecret:
    kind: str  # GENERATED or CHOSEN
    hash: str


def store_generated(vault: Vault, password: str) -> StoredSecret:
    return StoredSecret(GENERATED, vault.keyed_hash(password))


def store_chosen(password: str) -> StoredSecret:
    return StoredSecret(CHOSEN, _argon2.hash(password))


async def store_chosen_async(password: str) -> StoredSecret:
    return await _hashed(store_chosen, password)


def _argon2_matches(stored: str, password: str) -> bool:
    try:
        return _argon2.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordChecker:
    """Checks a presented password against a stored secret.

    Argon2id results are remembered in a bounded LRU keyed by (subject, secret hash,
    SHA-256 of the password). The stored hash is part of the key, so a reset makes old
    entries unreachable on every node at once: the caller always reads the current secret
    from the database, and only the expensive comparison is cached.
    """

    def __init__(self, vault: Vault, max_entries: int = 100_000) -> None:
        self._vault = vault
        self._max = max_entries
        self._verified: OrderedDict[bytes, None] = OrderedDict()

    def _key(self, subject: str, stored: StoredSecret, password: str) -> bytes:
        digest = hashlib.sha256()
        for part in (subject, stored.hash, password):
            digest.update(part.encode())
            digest.update(b"\x00")
        return digest.digest()

    def fingerprint(self, password: str) -> str:
        """A peppered digest of a presented password, to remember an answer by."""
        return self._vault.keyed_hash(password)

    async def matches(
        self, subject: str, stored: StoredSecret, password: str, fingerprint: str | None = None
    ) -> bool:
        """``fingerprint``: the password's ``fingerprint`` if the caller has it already."""
        if stored.kind == GENERATED:
            digest = fingerprint or self._vault.keyed_hash(password)
            return hmac.compare_digest(digest, stored.hash)
        key = self._key(subject, stored, password)
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        ok = await _hashed(_argon2_matches, stored.hash, password)
        if ok:
            self._verified[key] = None
            if len(self._verified) > self._max:
                self._verified.popitem(last=False)
        return ok
