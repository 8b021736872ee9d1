"""Signing keys: published as JWKS, rotated without breaking old signatures, sealed at rest."""

from __future__ import annotations

import base64

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import KeySet, RSAKey
from joserfc.jws import JWSRegistry
from sqlalchemy import select

from fleetkey.keys.models import SigningKey
from fleetkey.runtime import Runtime
from tests.api.helpers import build_fleet
from tests.compat.mosip.world import World
from tests.conftest import Caller

RS256 = JWSRegistry.algorithms["RS256"]


async def _jwks(client: httpx.AsyncClient, tenant: str) -> dict[str, list[dict[str, str]]]:
    response = await client.get("/.well-known/jwks.json", params={"tenant": tenant})
    assert response.status_code == 200
    body: dict[str, list[dict[str, str]]] = response.json()
    return body


async def _register_signed(world: World, serial: str) -> str:
    body = await world.register(serial=serial)
    assert body["errors"] is None, body
    return str(body["response"])


def _verifies(signed: str, key: RSAKey) -> bool:
    header_b64, payload_b64, signature_b64 = signed.split(".")
    signing_input = f"{header_b64}.{payload_b64}".encode()
    return bool(RS256.verify(signing_input, base64.b64decode(signature_b64), key))


async def _keys(runtime: Runtime, tenant_id: str) -> list[SigningKey]:
    async with runtime.db.unit_of_work(write=False) as session:
        return list(
            await session.scalars(
                select(SigningKey)
                .where(SigningKey.tenant_id == tenant_id)
                .order_by(SigningKey.created_at)
            )
        )


async def test_jwks_lists_the_tenant_key_after_a_registration(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    assert await _jwks(client, caller.tenant) == {"keys": []}
    fleet = await build_fleet(client, caller)
    signed = await _register_signed(fleet.world, "K-1")

    jwks = await _jwks(client, caller.tenant)
    [stored] = await _keys(runtime, caller.tenant_id)
    assert jwks == {"keys": [stored.public_jwk]}
    [key] = jwks["keys"]
    assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}
    assert (key["kty"], key["e"], key["alg"], key["use"], key["kid"]) == (
        "RSA",
        "AQAB",
        "RS256",
        "sig",
        stored.kid,
    )
    imported = KeySet.import_key_set(jwks).keys[0]
    assert isinstance(imported, RSAKey)
    assert imported.thumbprint() == stored.kid
    assert _verifies(signed, imported)
    assert stored.retired_at is None and stored.algorithm == "RS256"

    # the unfiltered set includes it too; an unknown tenant has none
    everyone = (await client.get("/.well-known/jwks.json")).json()
    assert key in everyone["keys"]
    assert await _jwks(client, "no-such-tenant") == {"keys": []}


async def test_rotation_signs_with_a_new_key_and_keeps_the_old_one_published(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    fleet = await build_fleet(client, caller)
    old_signed = await _register_signed(fleet.world, "R-1")
    [old] = await _keys(runtime, caller.tenant_id)

    new = await runtime.keys.rotate(caller.tenant_id)
    assert new.kid != old.kid
    new_signed = await _register_signed(fleet.world, "R-2")

    jwks = await _jwks(client, caller.tenant)
    assert [k["kid"] for k in jwks["keys"]] == [old.kid, new.kid]
    keys = {k.kid: k for k in KeySet.import_key_set(jwks).keys}
    old_key, new_key = keys[old.kid], keys[new.kid]
    assert isinstance(old_key, RSAKey) and isinstance(new_key, RSAKey)
    assert _verifies(old_signed, old_key) and not _verifies(old_signed, new_key)
    assert _verifies(new_signed, new_key) and not _verifies(new_signed, old_key)

    stored = await _keys(runtime, caller.tenant_id)
    assert [k.kid for k in stored] == [old.kid, new.kid]
    assert stored[0].retired_at is not None and stored[1].retired_at is None
    signer = await runtime.keys.current_signer(caller.tenant_id)
    assert signer.kid == new.kid


async def test_private_keys_are_sealed_at_rest(
    client: httpx.AsyncClient, runtime: Runtime, caller: Caller
) -> None:
    fleet = await build_fleet(client, caller)
    await _register_signed(fleet.world, "S-1")
    [row] = await _keys(runtime, caller.tenant_id)
    sealed = row.private_sealed

    assert not sealed.startswith("-----BEGIN")
    assert "PRIVATE KEY" not in sealed
    key_id, _, body = sealed.partition(".")
    assert len(key_id) == 12 and body
    raw = base64.urlsafe_b64decode(body)
    for candidate in (sealed.encode(), raw, raw[12:]):
        with pytest.raises(ValueError):
            serialization.load_der_private_key(candidate, password=None)
    der = runtime.vault.open(sealed, f"signing-key:{caller.tenant_id}:{row.kid}")
    assert der not in raw
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert RSAKey.import_key(private.public_key()).thumbprint() == row.kid
    # sealed under its own context: another tenant's context cannot open it
    with pytest.raises(InvalidTag):
        runtime.vault.open(sealed, f"signing-key:other:{row.kid}")
