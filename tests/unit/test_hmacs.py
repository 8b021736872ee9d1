"""``PrekeyedHmac`` is the standard HMAC, and the vault's keyed hashes are HMAC-SHA256."""

from __future__ import annotations

import hmac
import os

import pytest

from fleetkey.credentials.hmacs import PrekeyedHmac
from fleetkey.credentials.vault import Vault


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("length", [0, 1, 20, 32, 63, 64, 65, 127, 128, 129, 300])
def test_the_same_digest_as_the_standard_library(digest: str, length: int) -> None:
    """Keys shorter than, as long as and longer than each hash's block (64 or 128 bytes)."""
    key = os.urandom(length)
    keyed = PrekeyedHmac(key, digest)
    for message in (b"", b"x", os.urandom(64), os.urandom(1000)):
        assert keyed.digest(message) == hmac.digest(key, message, digest)


def test_one_keyed_state_serves_many_messages() -> None:
    keyed = PrekeyedHmac(b"k" * 32, "sha256")
    first = keyed.digest(b"one")
    assert keyed.digest(b"two") == hmac.digest(b"k" * 32, b"two", "sha256")
    assert keyed.digest(b"one") == first


def test_rfc4231_case_2() -> None:
    """RFC 4231 section 4.3: a key shorter than the output."""
    assert PrekeyedHmac(b"Jefe", "sha256").digest(b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_vault_keyed_hashes_are_hmac_sha256_under_the_pepper() -> None:
    vault = Vault(os.urandom(32))
    assert vault.keyed_digest(b"token") == hmac.digest(vault.pepper, b"token", "sha256")
    assert vault.keyed_hash("token") == hmac.digest(vault.pepper, b"token", "sha256").hex()
