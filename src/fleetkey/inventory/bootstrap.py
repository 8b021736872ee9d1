"""A device redeems its access ID and OTP, once, for its long-term credential.

The long-term credential is a connected device (``things.Device``) with its own generated
password, in the tenant's ``mhealth`` instance under one product per study kit type; it then
authenticates at ``POST /api/v1/auth/device`` like any other device. With a CSR the device
also gets a client certificate from the tenant's device CA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fleetkey.audit.service import emit, emit_step
from fleetkey.clock import utcnow
from fleetkey.credentials.vault import Vault
from fleetkey.db.direct import INTEGRITY_ERRORS, Ref, Statement, Step, UnitRefused
from fleetkey.db.session import Database
from fleetkey.errors import DomainError
from fleetkey.inventory import mhealth
from fleetkey.inventory.models import InventoryItem, KitType, MhealthDevice, Study
from fleetkey.keys import device_ca
from fleetkey.runtime import Runtime
from fleetkey.tenants.context import Actor
from fleetkey.things import service as things
from fleetkey.things.credentials import IssuedCredential
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


# One read finds the pair and everything its answer needs. A kit whose study, inventory
# item or kit type is gone has no usable pair.
_PAIR = Statement(
    select(
        *MhealthDevice.__table__.columns,
        Study.name.label("study_name"),
        Study.mhealth_settings.label("study_settings"),
        KitType.id.label("kit_id"),
        KitType.name.label("kit_name"),
    )
    .join(Study, mhealth.STUDY_OF_REGISTRATION)
    .join(InventoryItem, mhealth.ITEM_OF_REGISTRATION)
    .join(KitType, mhealth.KIT_TYPE_OF_ITEM)
    .where(MhealthDevice.access_id == bindparam("access_id")),
    batch_on=("access_id", MhealthDevice.access_id),
)
_DEVICE_COLUMNS = tuple(c.key for c in MhealthDevice.__table__.columns)
_CLAIM = Statement(mhealth.claim_statement())
# The kit type's product id, per store and (tenant, study, kit type): made once, then only
# read. One that was deleted since is noticed by the device's foreign key (and made again).
_PRODUCTS: WeakKeyDictionary[Database, dict[tuple[str, str, str], int]] = WeakKeyDictionary()


@dataclass(frozen=True)
class _Pair:
    device: MhealthDevice  # not attached to a session: read for the rules in ``mhealth``
    study_name: str
    study_settings: dict[str, Any] | None
    kit_id: str
    kit_name: str


async def _find_pair(db: Database, access_id: str) -> _Pair | None:
    if not access_id or len(access_id) > 16:
        return None
    row = await db.direct.first(_PAIR, access_id=access_id)
    if row is None:
        return None
    device = MhealthDevice(**{key: row[key] for key in _DEVICE_COLUMNS})
    return _Pair(device, row["study_name"], row["study_settings"], row["kit_id"], row["kit_name"])


async def _refuse(rt: Runtime, actor: Actor, device: MhealthDevice, locked: bool) -> None:
    async with rt.db.unit_of_work() as session:
        if not locked:
            await mhealth.count_failure(session, device.id, device.access_id or "")
        emit(
            session,
            actor,
            "bootstrap_denied",
            "mhealth_device",
            device.id,
            {"reason": "locked" if locked else "wrong OTP"},
            utcnow(),
        )


def _bootstrap_changes(client_id: str, certificate: bool) -> Callable[[int], dict[str, Any]]:
    return lambda thing_id: {
        "after": {"thing_id": thing_id, "client_id": client_id, "certificate": certificate}
    }


async def _issue(
    rt: Runtime, actor: Actor, pair: _Pair, with_certificate: bool
) -> tuple[dict[str, Any], IssuedCredential]:
    """Claim the pair and make the device with its credential, history and audit rows: one
    unit, so a pair is never used without a device or a device made for a lost claim."""
    device = pair.device
    products = _PRODUCTS.setdefault(rt.db, {})
    key = (device.tenant_id, device.study_id, pair.kit_id)
    for attempt in range(2):
        product_id = products.get(key)
        if product_id is None:
            product_id = products[key] = await _ensure_product(rt, actor, device)
        now = utcnow()
        creation, row, issued = things.device_creation_steps(
            rt.vault,
            actor,
            INSTANCE_ID,
            product_id,
            things.DeviceInput(
                device_name=f"{device.mode}-{device.inventory_id}"[:64],
                node_id=device.id,
                description=f"subject {device.subject_id}",
            ),
            now,
        )
        unit = [
            *creation,
            # The claim links the device just made: one update of the registration's row.
            # Refused (another redeemed it a moment ago), the whole unit is undone.
            Step(
                _CLAIM,
                {
                    "device": device.id,
                    "access_id": device.access_id,
                    "otp_hash": device.otp_hash,
                    "now": now,
                    "thing_id": Ref("id"),
                },
                rows=1,
            ),
            emit_step(
                actor,
                "bootstrap",
                "mhealth_device",
                device.id,
                Ref("id", _bootstrap_changes(row["client_id"], with_certificate)),
                now,
            ),
        ]
        try:
            await rt.db.direct.run(unit)
        except UnitRefused:
            raise INVALID from None  # redeemed a moment ago, recreated or deregistered
        except INTEGRITY_ERRORS:
            if attempt == 1:
                raise
            products.pop(key, None)  # the product went away; make it again
            continue
        return row, issued
    raise AssertionError("unreachable")


async def redeem(rt: Runtime, claim: Redemption, request_id: str) -> dict[str, Any]:
    policy = rt.settings
    pair = await _find_pair(rt.db, claim.access_id)
    if pair is None:
        raise INVALID
    device = pair.device
    actor = _device_actor(device, request_id)
    locked = device.otp_failures >= policy.bootstrap_max_failures
    if locked or not mhealth.otp_matches(rt.vault, device, claim.access_id, claim.otp):
        await _refuse(rt, actor, device, locked)
        raise INVALID
    # A used, expired or dead pair is "invalid" like a wrong one; a fresh pair for a device
    # that already bootstrapped (recreated afterwards) is the one 400.
    if not mhealth.pair_usable(device, utcnow(), policy.bootstrap_max_failures):
        raise INVALID
    if device.bootstrapped_at is not None:
        raise ALREADY
    csr = device_ca.load_csr(claim.csr_pem) if claim.csr_pem else None
    ca = await device_ca.ca_for(rt.db, rt.vault, device.tenant_id) if csr is not None else None
    row, issued = await _issue(rt, actor, pair, csr is not None)
    settings = pair.study_settings or {}
    params: dict[str, Any] = {
        "deviceModelUrn": [f"urn:fleetkey:kit:{pair.kit_id}"],
        "hardwareId": device.inventory_id,
        "iotBaseUrl": settings.get("iot_base_url") or f"mqtt://{rt.settings.mqtt_address}",
        "iotDeviceId": row["client_id"],
        "iotUserName": issued.user_name,
        "iotSharedSecret": issued.password,
        "profile": {"mode": device.mode, "connectionType": device.connection_type},
        "studyname": pair.study_name,
        "studyId": device.study_id,
        "subjectId": device.m_subject_id,
    }
    if csr is not None and ca is not None:
        params["certificate"] = device_ca.issue_certificate(rt.vault, ca, csr, row["client_id"])
        params["caCertificate"] = ca.cert_pem
    return params
