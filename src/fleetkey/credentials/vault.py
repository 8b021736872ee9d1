"""Envelope encryption for secrets fleetkey must use again later (signing keys, seeds).

AES-256-GCM under the master key. Every ciphertext names the key that sealed it
(``<key id>.<base64url(nonce || ciphertext)>``) so a later master-key rotation can
open old values while sealing new ones under the new key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fleetkey.config import Settings
from fleetkey.credentials.hmacs import PrekeyedHmac

KEY_FILE_NAME = "master.key"


def _b64decode_any(text: str) -> bytes:
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))


def load_master_key(settings: Settings, create: bool = True) -> bytes:
    """The 32-byte master key from ``FLEETKEY_MASTER_KEY`` or ``<data_dir>/master.key``."""
    if settings.master_key:
        key = _b64decode_any(settings.master_key)
    else:
        path = settings.data_dir / KEY_FILE_NAME
        if not path.exists():
            if not create:
                raise RuntimeError(f"no master key: set FLEETKEY_MASTER_KEY or create {path}")
            _create_key_file(path)
        key = _b64decode_any(path.read_text())
    if len(key) != 32:
        raise RuntimeError("the master key must be 32 bytes (base64-encoded)")
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = base64.urlsafe_b64encode(os.urandom(32)).decode()
    # O_EXCL: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(encoded + "\n")


def derive_key(master: bytes, purpose: str) -> bytes:
    """An independent 32-byte key per purpose, so no two uses share key material."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        master
    )


class Vault:
    def __init__(self, master_key: bytes) -> None:
        self._current = self._key_id(master_key)
        # One cipher per key, made once: building one runs the key schedule every time.
        self._ciphers = {self._current: AESGCM(master_key)}
        self.pepper = derive_key(master_key, "fleetkey/keyed-hash/v1")
        self._keyed = PrekeyedHmac(self.pepper, "sha256")
        self._memo = derive_key(master_key, "fleetkey/memo-key/v1")

    @staticmethod
    def _key_id(key: bytes) -> str:
        return hashlib.sha256(b"fleetkey-key-id" + key).hexdigest()[:12]

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext, context.encode())
        return f"{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, context: str) -> bytes:
        key_id, _, body = token.partition(".")
        raw = base64.urlsafe_b64decode(body)
        return self._ciphers[key_id].decrypt(raw[:12], raw[12:], context.encode())

    def keyed_hash(self, secret: str) -> str:
        """HMAC-SHA256 under the server pepper: for generated secrets and one-time codes."""
        return self.keyed_digest(secret.encode()).hex()

    def keyed_digest(self, data: bytes) -> bytes:
        """The raw HMAC-SHA256 of ``data`` under the server pepper (credentials/hmacs.py:
        keyed once, a third of OpenSSL's HMAC per call in a busy server)."""
        return self._keyed.digest(data)

    def memo_key(self, data: bytes) -> bytes:
        """A keyed digest of ``data`` for this process's memory only: the key of a cached
        answer, never stored and never compared with anything stored.

        BLAKE2b (CPython's own, keyed with a key of its own) rather than ``keyed_digest``:
        under load in the server an OpenSSL HMAC cost about 7 µs of worker CPU a call
        (a tenth of a remembered broker request), BLAKE2b a fraction of that.
        """
        return hashlib.blake2b(data, key=self._memo, digest_size=32).digest()
