"""Helpers for the MOSIP rule tests: exact envelopes, stored rows and the audit trail."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from fleetkey.audit.models import AuditEvent, EntityHistory
from fleetkey.devices.models import RegisteredDevice
from fleetkey.runtime import Runtime
from tests.compat.mosip import doc
from tests.compat.mosip.world import BASE, World

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ENVELOPE_KEYS = {"id", "version", "responsetime", "metadata", "response", "errors"}
FORMAT = "KER-MSD-999"
L1_NEEDS_TRUST = (
    "If certification level received is L1 then FoundationalTPId OR FoundationalTrustSignature "
    "OR FoundationalTrustCertificate should not be null or empty"
)
DUPLICATE_SERIAL = ("ADM-DPM-043", "Serial no and DpId already exist")
PROVIDER_MISMATCH = (
    "ADM-DPM-032",
    "Device Provider ID/Name does not exist in the list of Registered Device Providers",
)
VALID_LIVE = [{"status": "Valid", "message": "Device details validated successfully"}]
VALID_HISTORY = [{"status": "Valid", "message": "Device details history validated successfully"}]


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Any MOSIP call: always HTTP 200 with the six-member envelope."""
    response = await client.request(method, BASE + path, headers=headers or {}, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ENVELOPE_KEYS, body
    assert TIME.match(body["responsetime"]), body
    return body


def failed(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The (errorCode, message) pairs of a failure envelope, after checking its shape."""
    assert set(body) == ENVELOPE_KEYS, body
    assert body["response"] is None and body["metadata"] == {}, body
    assert isinstance(body["errors"], list) and body["errors"], body
    return [(e["errorCode"], e["message"]) for e in body["errors"]]


def fmt(message: str) -> list[tuple[str, str]]:
    return [(FORMAT, message)]


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def signed_payload(signed: str) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(signed.split(".")[1])))


def encoded(data: Any, *, urlsafe: bool = False, padded: bool = True) -> str:
    """base64 of ``data``'s JSON, sized so that the padded form ends with ``==``."""
    raw = json.dumps(data).encode()
    raw += b" " * ((1 - len(raw)) % 3)
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padded else text.rstrip("=")


def without(key: str) -> Any:
    """An ``encode`` for doc.registration that drops one member of deviceData."""
    return lambda data: doc.b64({k: v for k, v in data.items() if k != key})


async def counts(runtime: Runtime, tenant_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    async with runtime.db.unit_of_work(write=False) as session:
        for model in (RegisteredDevice, EntityHistory, AuditEvent):
            out[model.__tablename__] = int(
                await session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
                )
                or 0
            )
    return out


async def history_rows(
    runtime: Runtime, tenant_id: str, entity_type: str, entity_id: str
) -> list[EntityHistory]:
    async with runtime.db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(EntityHistory)
            .where(
                EntityHistory.tenant_id == tenant_id,
                EntityHistory.entity_type == entity_type,
                EntityHistory.entity_id == entity_id,
            )
            .order_by(EntityHistory.id)
        )
        return list(rows)


async def audit_rows(
    runtime: Runtime, tenant_id: str, entity_type: str, entity_id: str
) -> list[AuditEvent]:
    async with runtime.db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.tenant_id == tenant_id,
                AuditEvent.entity_type == entity_type,
                AuditEvent.entity_id == entity_id,
            )
            .order_by(AuditEvent.id)
        )
        return list(rows)


async def device_row(runtime: Runtime, code: str) -> RegisteredDevice | None:
    async with runtime.db.unit_of_work(write=False) as session:
        return await session.get(RegisteredDevice, code)


async def whitelist(client: httpx.AsyncClient, headers: dict[str, str], serial: str) -> str:
    response = await client.post(
        "/api/v1/whitelisted-devices", json={"serial_number": serial}, headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_provider(
    w: World, vendor: str = "Other Vendor", address: str = "Other Address"
) -> str:
    body = await w.post(
        "/deviceprovider", doc.with_request(doc.PROVIDER_CREATE, vendorName=vendor, address=address)
    )
    assert body["errors"] == [], body
    return str(body["response"]["id"])


async def set_provider_active(w: World, provider_id: str, active: bool) -> None:
    """PUT the page's provider back with only ``isActive`` changed."""
    body = await w.put(
        "/deviceprovider", doc.with_request(doc.PROVIDER_CREATE, id=provider_id, isActive=active)
    )
    assert body["errors"] == [], body


async def update_software(w: World, **changes: Any) -> dict[str, Any]:
    body = await w.put(
        "/mosipdeviceservice",
        doc.with_request(
            doc.MDS_CREATE, id=w.software_id, deviceProviderId=w.provider_id, **changes
        ),
    )
    assert body["errors"] is None, body
    return dict(body["response"])


async def set_status(w: World, code: str, status: str) -> dict[str, Any]:
    return await w.put(
        "/registereddevices/update/status", params={"deviceCode": code, "statusCode": status}
    )
