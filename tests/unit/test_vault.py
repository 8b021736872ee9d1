"""The vault: sealing, keyed hashes, the master key file."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from fleetkey.config import Settings
from fleetkey.credentials.vault import KEY_FILE_NAME, Vault, derive_key, load_master_key

KEY_A = b"a" * 32
KEY_B = b"b" * 32


def test_seal_open_round_trip() -> None:
    vault = Vault(KEY_A)
    sealed = vault.seal(b"secret bytes", "ctx:1")
    assert vault.open(sealed, "ctx:1") == b"secret bytes"
    key_id, _, body = sealed.partition(".")
    assert len(key_id) == 12
    raw = base64.urlsafe_b64decode(body)
    assert len(raw) == 12 + len(b"secret bytes") + 16  # nonce, ciphertext, GCM tag
    assert b"secret bytes" not in raw


def test_sealing_twice_gives_different_ciphertexts() -> None:
    vault = Vault(KEY_A)
    first, second = vault.seal(b"x", "c"), vault.seal(b"x", "c")
    assert first != second
    assert vault.open(first, "c") == vault.open(second, "c") == b"x"


def test_the_wrong_context_fails() -> None:
    vault = Vault(KEY_A)
    sealed = vault.seal(b"secret", "signing-key:t1:k1")
    with pytest.raises(InvalidTag):
        vault.open(sealed, "signing-key:t2:k1")


def test_a_tampered_ciphertext_fails() -> None:
    vault = Vault(KEY_A)
    key_id, _, body = vault.seal(b"secret", "c").partition(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        vault.open(f"{key_id}.{base64.urlsafe_b64encode(bytes(raw)).decode()}", "c")


def test_another_master_key_cannot_open() -> None:
    sealed = Vault(KEY_A).seal(b"secret", "c")
    with pytest.raises(KeyError):
        Vault(KEY_B).open(sealed, "c")


def test_keyed_hash_is_deterministic_and_depends_on_the_master_key() -> None:
    a1, a2, b = Vault(KEY_A), Vault(KEY_A), Vault(KEY_B)
    digest = a1.keyed_hash("fk_token")
    assert digest == a2.keyed_hash("fk_token")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest != b.keyed_hash("fk_token")
    assert digest != a1.keyed_hash("fk_token2")
    assert "fk_token" not in digest


def test_derived_keys_are_independent_per_purpose() -> None:
    assert derive_key(KEY_A, "one") != derive_key(KEY_A, "two")
    assert derive_key(KEY_A, "one") == derive_key(KEY_A, "one")
    assert len(derive_key(KEY_A, "one")) == 32


def test_master_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", master_key="")
    key = load_master_key(settings)
    path = tmp_path / "data" / KEY_FILE_NAME
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert base64.urlsafe_b64decode(path.read_text().strip()) == key
    assert load_master_key(settings) == key  # the second start reads the same key
    assert load_master_key(Settings(data_dir=tmp_path / "data", master_key="")) == key


def test_missing_master_key_file_without_create(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, master_key="")
    with pytest.raises(RuntimeError) as raised:
        load_master_key(settings, create=False)
    assert str(raised.value) == (
        f"no master key: set FLEETKEY_MASTER_KEY or create {tmp_path / KEY_FILE_NAME}"
    )
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_master_key_from_settings_in_either_base64(tmp_path: Path) -> None:
    raw = bytes(range(200, 232))
    standard = base64.b64encode(raw).decode()
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "+" in standard or "/" in standard
    for text in (standard, urlsafe):
        assert load_master_key(Settings(data_dir=tmp_path, master_key=text)) == raw
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_a_master_key_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    short = base64.b64encode(b"k" * 16).decode()
    with pytest.raises(RuntimeError) as raised:
        load_master_key(Settings(data_dir=tmp_path, master_key=short))
    assert str(raised.value) == "the master key must be 32 bytes (base64-encoded)"
