"""Device passwords: generation rules, how each kind is stored, the verified-credential cache."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import string
import sys
import threading
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from fleetkey.credentials import passwords
from fleetkey.credentials.passwords import PasswordChecker, StoredSecret
from fleetkey.credentials.vault import Vault
from fleetkey.things import credentials

VAULT = Vault(b"v" * 32)
ALPHABET = set(string.ascii_letters + string.digits + passwords.SPECIALS)
CHOSEN = "Chosen-Passw0rd!x"


@pytest.fixture(scope="module")
def chosen() -> StoredSecret:
    return passwords.store_chosen(CHOSEN)


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The real Argon2 comparison, counted, with the thread it ran on."""
    calls: list[int] = []
    real: Callable[[str, str], bool] = passwords._argon2_matches

    def counted(stored: str, password: str) -> bool:
        calls.append(threading.get_ident())
        return real(stored, password)

    monkeypatch.setattr(passwords, "_argon2_matches", counted)
    return calls


# ---------------------------------------------------------------- generation


def test_generated_passwords_meet_the_rules() -> None:
    samples = [passwords.generate_password() for _ in range(1000)]
    for pw in samples:
        assert len(pw) == passwords.GENERATED_LENGTH == 24
        assert set(pw) <= ALPHABET
        assert any(c.isdigit() for c in pw)
        assert any(c in string.ascii_uppercase for c in pw)
        assert any(c in string.ascii_lowercase for c in pw)
        assert any(c in passwords.SPECIALS for c in pw)
        credentials.check_password(pw)  # what ROMA accepts as a chosen password too
    assert len(set(samples)) == 1000


@pytest.mark.parametrize("length", [16, 32])
def test_generated_passwords_of_other_lengths(length: int) -> None:
    for _ in range(200):
        pw = passwords.generate_password(length)
        assert len(pw) == length
        credentials.check_password(pw)


# ---------------------------------------------------------------- storage


def test_store_generated_is_an_hmac_under_the_pepper() -> None:
    stored = passwords.store_generated(VAULT, "Generated-Passw0rd!")
    expected = hmac.new(VAULT.pepper, b"Generated-Passw0rd!", hashlib.sha256).hexdigest()
    assert stored == StoredSecret("keyed", expected)
    assert not stored.hash.startswith("$argon2")
    assert len(stored.hash) == 64 and set(stored.hash) <= set(string.hexdigits.lower())
    # Deterministic under one pepper, different under another.
    assert passwords.store_generated(VAULT, "Generated-Passw0rd!") == stored
    assert passwords.store_generated(Vault(b"w" * 32), "Generated-Passw0rd!") != stored


def test_store_chosen_is_argon2id_with_owasp_parameters(chosen: StoredSecret) -> None:
    assert chosen.kind == "argon2id"
    assert chosen.hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert CHOSEN not in chosen.hash
    assert PasswordHasher().verify(chosen.hash, CHOSEN)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(chosen.hash, CHOSEN + "x")
    # A fresh salt every time.
    assert passwords.store_chosen(CHOSEN).hash != chosen.hash


async def test_store_chosen_async_is_the_same_scheme() -> None:
    stored = await passwords.store_chosen_async(CHOSEN)
    assert stored.kind == "argon2id"
    assert stored.hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PasswordHasher().verify(stored.hash, CHOSEN)


# ---------------------------------------------------------------- checking


async def test_generated_passwords_are_checked_without_argon2(argon2_calls: list[int]) -> None:
    checker = PasswordChecker(VAULT)
    stored = passwords.store_generated(VAULT, "Generated-Passw0rd!")
    assert await checker.matches("device:1", stored, "Generated-Passw0rd!")
    assert not await checker.matches("device:1", stored, "Generated-Passw0rd?")
    assert not await checker.matches("device:1", stored, "")
    assert argon2_calls == []


async def test_chosen_passwords_are_checked_in_a_worker_thread(
    chosen: StoredSecret, argon2_calls: list[int]
) -> None:
    checker = PasswordChecker(VAULT)
    assert await checker.matches("device:1", chosen, CHOSEN)
    assert not await checker.matches("device:1", chosen, "x" + CHOSEN)
    assert len(argon2_calls) == 2
    assert threading.get_ident() not in argon2_calls


async def test_four_checks_at_once_leave_the_loop_free(chosen: StoredSecret) -> None:
    """While four comparisons are in flight, another coroutine on the loop gets turns.

    Were the comparison done on the loop itself, each check would finish within the single
    loop step that started it, and no other coroutine could ever see one pending.
    """
    checker = PasswordChecker(VAULT)
    checks = [asyncio.create_task(checker.matches(f"device:{i}", chosen, CHOSEN)) for i in range(4)]
    turns_while_pending = 0

    async def ticker() -> None:
        nonlocal turns_while_pending
        while not all(c.done() for c in checks):
            turns_while_pending += 1
            await asyncio.sleep(0.001)

    await ticker()
    assert await asyncio.gather(*checks) == [True] * 4
    assert turns_while_pending >= 2


async def test_a_bad_stored_hash_does_not_match(argon2_calls: list[int]) -> None:
    checker = PasswordChecker(VAULT)
    for bad in ("", "garbage", "$argon2id$v=19$m=19456,t=2,p=1$broken"):
        assert not await checker.matches("device:1", StoredSecret("argon2id", bad), CHOSEN)


# ---------------------------------------------------------------- the cache


async def test_a_verified_password_is_cached(chosen: StoredSecret, argon2_calls: list[int]) -> None:
    checker = PasswordChecker(VAULT)
    for _ in range(3):
        assert await checker.matches("device:1", chosen, CHOSEN)
    assert len(argon2_calls) == 1


async def test_failures_are_not_cached(chosen: StoredSecret, argon2_calls: list[int]) -> None:
    checker = PasswordChecker(VAULT)
    for _ in range(3):
        assert not await checker.matches("device:1", chosen, "Wrong-Passw0rd!!")
    assert len(argon2_calls) == 3


async def test_the_subject_is_part_of_the_key(
    chosen: StoredSecret, argon2_calls: list[int]
) -> None:
    checker = PasswordChecker(VAULT)
    assert await checker.matches("device:1", chosen, CHOSEN)
    assert await checker.matches("device:2", chosen, CHOSEN)
    assert len(argon2_calls) == 2


async def test_a_changed_stored_hash_misses_the_cache(
    chosen: StoredSecret, argon2_calls: list[int]
) -> None:
    checker = PasswordChecker(VAULT)
    assert await checker.matches("device:1", chosen, CHOSEN)
    assert len(argon2_calls) == 1

    # Reset to another password: the old one is compared (and refused), not remembered.
    other = passwords.store_chosen("0ther-Passw0rd#yz")
    assert not await checker.matches("device:1", other, CHOSEN)
    assert len(argon2_calls) == 2
    assert await checker.matches("device:1", other, "0ther-Passw0rd#yz")
    assert len(argon2_calls) == 3

    # Reset to the same password: a new salt, so a new hash, so a fresh comparison.
    same = passwords.store_chosen(CHOSEN)
    assert await checker.matches("device:1", same, CHOSEN)
    assert len(argon2_calls) == 4

    # Reset to a generated password: keyed, never the cache.
    generated = passwords.store_generated(VAULT, "Generated-Passw0rd!")
    assert not await checker.matches("device:1", generated, CHOSEN)
    assert len(argon2_calls) == 4


async def test_the_cache_is_bounded_and_least_recently_used(
    chosen: StoredSecret, argon2_calls: list[int]
) -> None:
    checker = PasswordChecker(VAULT, max_entries=2)

    async def check(subject: str) -> None:
        assert await checker.matches(subject, chosen, CHOSEN)

    await check("a")
    await check("b")
    assert len(argon2_calls) == 2
    await check("a")  # a hit; "a" becomes the most recent
    assert len(argon2_calls) == 2
    await check("c")  # evicts "b", the least recently used
    assert len(argon2_calls) == 3
    assert len(checker._verified) == 2
    await check("a")
    await check("c")
    assert len(argon2_calls) == 3
    await check("b")  # was evicted: compared again, and now "a" is evicted
    assert len(argon2_calls) == 4
    await check("c")
    assert len(argon2_calls) == 4
    await check("a")
    assert len(argon2_calls) == 5
    assert len(checker._verified) == 2


async def test_many_subjects_never_grow_the_cache_past_its_bound(
    chosen: StoredSecret, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "_argon2_matches", lambda stored, password: True)
    checker = PasswordChecker(VAULT, max_entries=50)
    for i in range(500):
        assert await checker.matches(f"device:{i}", chosen, CHOSEN)
        assert len(checker._verified) <= 50
    assert len(checker._verified) == 50


async def test_argon2id_runs_on_threads_that_yield_to_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hashing and checking run on the hashing threads, which carry a higher nice value
    than the loop's thread (Linux applies it per thread), so an Argon2id storm cannot
    starve the loop of the CPU."""
    if sys.platform != "linux":
        pytest.skip("per-thread nice values are Linux's")

    def own_niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_niceness = own_niceness()
    pool = passwords.hashing_pool()
    hashing_niceness = await asyncio.get_running_loop().run_in_executor(pool, own_niceness)
    # An absolute value: a process already nicer than that keeps its own (raising priority
    # back would need privileges).
    assert hashing_niceness == max(loop_niceness, passwords.HASHING_NICENESS)
    assert own_niceness() == loop_niceness  # the loop's own thread is untouched

    ran_on: list[str] = []

    def where(work: Callable[..., object]) -> Callable[..., object]:
        def recorded(*args: str) -> object:
            ran_on.append(threading.current_thread().name)
            return work(*args)

        return recorded

    monkeypatch.setattr(passwords, "store_chosen", where(passwords.store_chosen))
    monkeypatch.setattr(passwords, "_argon2_matches", where(passwords._argon2_matches))
    stored = await passwords.store_chosen_async(CHOSEN)
    assert await PasswordChecker(VAULT).matches("device:1", stored, CHOSEN)
    assert len(ran_on) == 2 and all(name.startswith("argon2id") for name in ran_on), ran_on
