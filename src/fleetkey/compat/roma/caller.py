"""Who is calling the ROMA surface: an ``X-Auth-Token`` / bearer token, or an AK/SK signature."""

from __future__ import annotations

import secrets
import string
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from fleetkey.api.auth import bearer_token
from fleetkey.compat.roma import signing
from fleetkey.credentials.randomness import random_text
from fleetkey.credentials.replay import first_use
from fleetkey.credentials.vault import Vault
from fleetkey.runtime import Runtime
from fleetkey.tenants import scopes as scope_rules
from fleetkey.tenants.models import AccessKey
from fleetkey.tenants.service import Principal


def sk_context(ak: str) -> str:
    return f"access-key:{ak}"


async def principal_for(rt: Runtime, request: Request, body: bytes) -> Principal | None:
    token = request.headers.get("x-auth-token") or bearer_token(request)
    if token:
        return await rt.principal(token)
    authorization = request.headers.get("authorization", "")
    if authorization.startswith(signing.ALGORITHM):
        return await _signed_principal(rt, request, authorization, body)
    return None


async def _signed_principal(
    rt: Runtime, request: Request, authorization: str, body: bytes
) -> Principal | None:
    signed = signing.parse_authorization(authorization)
    sdk_date = request.headers.get("x-sdk-date", "")
    stamp = signing.parse_sdk_date(sdk_date)
    if signed is None or stamp is None:
        return None
    skew = abs(time.time() - stamp.timestamp())
    if skew > rt.settings.signature_max_skew_seconds:
        return None
    async with rt.db.unit_of_work(write=False) as session:
        key = await session.get(AccessKey, signed.access_key[:64])
    if key is None or key.revoked_at is not None:
        return None
    headers = {name.lower(): value for name, value in request.headers.items()}
    text = signing.string_to_sign(
        request.method, request.url.path, request.url.query, headers, signed, body, sdk_date
    )
    secret = rt.vault.open(key.sk_sealed, sk_context(key.ak)).decode()
    if text is None or not signing.signature_matches(secret, text, signed.signature):
        return None
    if not await first_use(rt.db, signed.signature, 2 * rt.settings.signature_max_skew_seconds):
        return None
    return Principal(f"ak:{key.ak}", key.tenant_id, f"ak:{key.ak}", scope_rules.expand(key.scopes))


async def tenant_name(rt: Runtime, tenant_id: str) -> str | None:
    from fleetkey.tenants.models import Tenant

    async with rt.db.unit_of_work(write=False) as session:
        return await session.scalar(select(Tenant.name).where(Tenant.id == tenant_id))


async def new_access_key(
    session: AsyncSession, vault: Vault, tenant_id: str, name: str
) -> tuple[str, str]:
    """A new AK/SK pair (full access to the tenant). The SK is returned once, stored sealed."""
    ak = random_text(string.ascii_uppercase + string.digits, 20)
    sk = secrets.token_urlsafe(30)
    session.add(
        AccessKey(
            ak=ak,
            tenant_id=tenant_id,
            name=name,
            scopes=[scope_rules.FULL_ACCESS],
            sk_sealed=vault.seal(sk.encode(), sk_context(ak)),
        )
    )
    await session.flush()
    return ak, sk
