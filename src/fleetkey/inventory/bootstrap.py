"""A device redeems its access ID and OTP, once, for its long-term credential.

The long-term credential is a connected device (``things.Device``) with its own generated
password, in the tenant's ``mhealth`` instance under one product per study kit type; it then
authenticates at ``POST /api/v1/auth/device`` like any other device. With a CSR the device
also gets a client certificate from the tenant's device CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import emit
from fleetkey.clock import utcnow
from fleetkey.credentials.vault import Vault
from fleetkey.errors import DomainError
from fleetkey.inventory import mhealth
from fleetkey.inventory.models import InventoryItem, KitType, MhealthDevice, Study
from fleetkey.keys import device_ca
from fleetkey.runtime import Runtime
from fleetkey.tenants.context import Actor
from fleetkey.things import service as things
from fleetkey.things.models import Instance, Product

INSTANCE_ID = "mhealth"
INVALID = DomainError("bootstrap.invalid", "Invalid accessId or OTP", 401)
ALREADY = DomainError("bootstrap.already", "The device is already bootstrapped", 400)


@dataclass(frozen=True)
class Redemption:
    access_id: str
    otp: str
    csr_pem: str | None = None


def _device_actor(device: MhealthDevice, request_id: str) -> Actor:
    return Actor(tenant_id=device.tenant_id, name=f"device:{device.id}", request_id=request_id)


async def _product_for(
    session: AsyncSession, vault: Vault, actor: Actor, study: Study, kit: KitType
) -> Product:
    if await session.get(Instance, (actor.tenant_id, INSTANCE_ID)) is None:
        await things.create_instance(session, actor, INSTANCE_ID, "mHealth devices")
    name = f"{study.id}/{kit.id}"[:64]
    product = await session.scalar(
        select(Product).where(
            Product.tenant_id == actor.tenant_id,
            Product.instance_id == INSTANCE_ID,
            Product.name == name,
        )
    )
    if product is None:
        # The product's own generated credential is never shown: kit devices use their own.
        product, _ = await things.create_product(
            session,
            vault,
            actor,
            INSTANCE_ID,
            things.ProductInput(name=name, model=kit.id[:64], description=kit.name[:200]),
        )
    return product


# Another first bootstrap made the instance or the product a moment ago.
_MADE_MEANWHILE = frozenset({"instance.exists", "product.duplicate"})


async def _ensure_product(rt: Runtime, actor: Actor, device: MhealthDevice) -> int:
    """The kit type's product in the mHealth instance, made on first use, in a transaction
    of its own: two first bootstraps of a new kit type at once both try to make it, and the
    one that loses finds the other's on its next try instead of failing."""
    for attempt in range(3):
        try:
            async with rt.db.unit_of_work() as session:
                study = await session.get(Study, (device.tenant_id, device.study_id))
                item = await session.get(
                    InventoryItem,
                    (device.tenant_id, device.study_id, device.mode, device.inventory_id),
                )
                assert study is not None and item is not None
                kit = await session.get(
                    KitType, (device.tenant_id, device.study_id, item.kit_type_id)
                )
                assert kit is not None
                return (await _product_for(session, rt.vault, actor, study, kit)).id
        except IntegrityError:
            if attempt == 2:
                raise
        except DomainError as exc:
            if exc.code not in _MADE_MEANWHILE or attempt == 2:
                raise
    raise AssertionError("unreachable")


async def redeem(rt: Runtime, claim: Redemption, request_id: str) -> dict[str, Any]:
    now = utcnow()
    policy = rt.settings
    async with rt.db.unit_of_work(write=False) as session:
        device = await mhealth.find_pair(session, claim.access_id)
    if device is None:
        raise INVALID
    actor = _device_actor(device, request_id)
    locked = device.otp_failures >= policy.bootstrap_max_failures
    if locked or not mhealth.otp_matches(rt.vault, device, claim.access_id, claim.otp):
        async with rt.db.unit_of_work() as session:
            if not locked:
                await mhealth.count_failure(session, device.id, claim.access_id)
            emit(
                session,
                actor,
                "bootstrap_denied",
                "mhealth_device",
                device.id,
                {"reason": "locked" if locked else "wrong OTP"},
                now,
            )
        raise INVALID
    # A used, expired or dead pair is "invalid" like a wrong one; a fresh pair for a device
    # that already bootstrapped (recreated afterwards) is the one 400.
    if not mhealth.pair_usable(device, now, policy.bootstrap_max_failures):
        raise INVALID
    if device.bootstrapped_at is not None:
        raise ALREADY
    csr = device_ca.load_csr(claim.csr_pem) if claim.csr_pem else None
    ca = await device_ca.ca_for(rt.db, rt.vault, device.tenant_id) if csr is not None else None
    product_id = await _ensure_product(rt, actor, device)

    async with rt.db.unit_of_work() as session:
        if not await mhealth.claim(session, device.id, claim.access_id, device.otp_hash or ""):
            raise INVALID  # someone else redeemed it a moment ago, or it was recreated
        study = await session.get(Study, (device.tenant_id, device.study_id))
        item = await session.get(
            InventoryItem, (device.tenant_id, device.study_id, device.mode, device.inventory_id)
        )
        assert study is not None and item is not None
        kit = await session.get(KitType, (device.tenant_id, device.study_id, item.kit_type_id))
        assert kit is not None
        thing, issued = await things.create_device(
            session,
            rt.vault,
            actor,
            INSTANCE_ID,
            things.ProductRef(product_id=product_id),
            things.DeviceInput(
                device_name=f"{device.mode}-{device.inventory_id}"[:64],
                node_id=device.id,
                description=f"subject {device.subject_id}",
            ),
        )
        assert issued is not None
        await session.execute(
            update(MhealthDevice).where(MhealthDevice.id == device.id).values(thing_id=thing.id)
        )
        emit(
            session,
            actor,
            "bootstrap",
            "mhealth_device",
            device.id,
            {
                "after": {
                    "thing_id": thing.id,
                    "client_id": thing.client_id,
                    "certificate": csr is not None,
                }
            },
            now,
        )
        settings = study.mhealth_settings or {}
        params: dict[str, Any] = {
            "deviceModelUrn": [f"urn:fleetkey:kit:{kit.id}"],
            "hardwareId": device.inventory_id,
            "iotBaseUrl": settings.get("iot_base_url") or f"mqtt://{rt.settings.mqtt_address}",
            "iotDeviceId": thing.client_id,
            "iotUserName": issued.user_name,
            "iotSharedSecret": issued.password,
            "profile": {"mode": device.mode, "connectionType": device.connection_type},
            "studyname": study.name,
            "studyId": study.id,
            "subjectId": device.m_subject_id,
        }
    if csr is not None and ca is not None:
        params["certificate"] = device_ca.issue_certificate(rt.vault, ca, csr, thing.client_id)
        params["caCertificate"] = ca.cert_pem
    return params
