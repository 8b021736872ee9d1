"""A clinical-trial world for the Clinical One device-action tests, and exact envelopes.

The world is built through the native API (``/api/v1/studies``); the device actions go
through the Clinical One surface (``/ec-ors-svc/rest/v1.0``) and the device side through
``POST /api/deviceBootstrap``. Every test uses a fresh tenant, so the page's example study
ID can be reused everywhere.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from fleetkey.audit.models import AuditEvent
from fleetkey.inventory.models import MhealthDevice
from fleetkey.runtime import Runtime
from tests.conftest import Caller

ORS = "/ec-ors-svc/rest/v1.0"
BOOTSTRAP = "/api/deviceBootstrap"
AUTH = "/api/v1/auth/device"

# The page's examples: studyId (32 upper-case hex) and mSubjectId.
STUDY = "B1B8327AFAA6412287106192AB5984EF"
M_SUBJECT = "MSUBJECT-001"
SUBJECT = "3F2A9C1D7E5B4A6C8D0E1F2A3B4C5D6E"  # register-device types subjectId as a uuid
SUBJECT_NUMBER = "siteA-1"
OTHER_SUBJECT = "9C8B7A6F5E4D4C3B2A1F0E9D8C7B6A5F"
OTHER_M_SUBJECT = "MSUBJECT-002"
VENDOR_CODE = "XYZ123"  # the register-device page's example

# Kit types, one per connection type, and one whose design never chose a connection type.
WATCH, SCALE, PATCH, LEGACY = "watch", "scale", "patch", "legacy"
KIT_TYPES = {
    WATCH: "device_to_cloud",
    SCALE: "cloud_to_cloud",
    PATCH: "none",
    LEGACY: None,
}
# Inventory items (32 upper-case hex, like the page's inventoryId example).
WATCH_1 = "A1000000000040008000000000000001"
WATCH_2 = "A1000000000040008000000000000002"
SCALE_1 = "B2000000000040008000000000000001"
PATCH_1 = "C3000000000040008000000000000001"
LEGACY_1 = "D4000000000040008000000000000001"
KIT_OF = {WATCH_1: WATCH, WATCH_2: WATCH, SCALE_1: SCALE, PATCH_1: PATCH, LEGACY_1: LEGACY}

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ACCESS_ID = re.compile(f"^[{ALPHABET}]{{6}}$")
OTP = re.compile(f"^[{ALPHABET}]{{8}}$")
DEVICE_ID = re.compile(r"^[0-9A-F]{32}$")
SETTINGS = {"user": "c1-mhealth", "url": "https://mhealth.example.test/active"}

# errorCode and errorMessage of every rule.
INVALID_SUBJECT = ("C1-DEV-001", "Invalid subject ID")
NOT_DISPENSED = ("C1-DEV-002", "Device is not dispensed to the subject")
DISPENSED_TO_OTHER = ("C1-DEV-003", "Device is dispensed to different subject")
INVALID_DEVICE = ("C1-DEV-004", "Invalid device Id")
NOT_REGISTERED = ("C1-DEV-005", "mHealth device is not registered")
NO_CONNECTION_TYPE = ("C1-DEV-006", "Device does not have any connection type")
VENDOR_CODE_MISSING = (
    "C1-DEV-007",
    "Vendor code is missing for cloud to cloud connection type of devices",
)
NO_CONNECTION = ("C1-DEV-008", "Device is of no-connection connection type")
C2C_ALREADY_REGISTERED = (
    "C1-DEV-009",
    "Cloud to cloud connection type device is already registered",
)
VENDOR_CODE_NOT_ALLOWED = (
    "C1-DEV-010",
    "Vendor code has been specified for device to cloud connection type of devices",
)
SUBJECT_NUMBER_MISSING = (
    "C1-DEV-011",
    "Subject number is missing for device to cloud connection type of devices",
)
D2C_ALREADY_REGISTERED = (
    "C1-DEV-012",
    "mHealth device is already registered; recreate its access code",
)
STUDY_NOT_FOUND = ("C1-STUDY-404", "Invalid study ID or version")
SETTINGS_MISSING = ("C1-MHEALTH-500", "mHealth settings are not found")
UNAUTHORIZED = ("C1-AUTH-401", "Unauthorized: a valid bearer token is required")
FORBIDDEN = ("C1-AUTH-403", "Forbidden: the user does not have the DeviceActionsPost right")

INVALID_PAIR = {"status": 401, "message": "Invalid accessId or OTP"}
ALREADY_BOOTSTRAPPED = {"status": 400, "message": "The device is already bootstrapped"}


def ors_ok(result: Any) -> dict[str, Any]:
    return {"status": "Success", "version": 1, "result": result, "errorData": None}


def ors_error(error: tuple[str, str]) -> dict[str, Any]:
    return {
        "status": "Failure",
        "version": 1,
        "result": None,
        "errorData": {"errorCode": error[0], "errorMessage": error[1], "details": None},
    }


def assert_ors_error(response: httpx.Response, status: int, error: tuple[str, str]) -> None:
    assert response.status_code == status, response.text
    assert response.json() == ors_error(error)


def assert_pair(response: httpx.Response) -> dict[str, str]:
    """A 200 ``BootStrapCredResponseDto`` in a Success envelope; returns the pair."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"status", "version", "result", "errorData"}
    assert body["status"] == "Success" and body["version"] == 1 and body["errorData"] is None
    pair: dict[str, str] = body["result"]
    assert set(pair) == {"accessId", "id", "otp"}
    assert ACCESS_ID.match(pair["accessId"]), pair
    assert DEVICE_ID.match(pair["id"]), pair
    assert OTP.match(pair["otp"]), pair
    return pair


def wrong_otp(pair: dict[str, str]) -> dict[str, str]:
    """The pair with a wrong OTP (still 8 characters of the alphabet)."""
    otp = pair["otp"]
    return {**pair, "otp": otp[:-1] + ("A" if otp[-1] != "A" else "B")}


def basic(access_id: str, otp: str) -> dict[str, str]:
    token = base64.b64encode(f"{access_id}:{otp}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def bootstrap(
    client: httpx.AsyncClient, pair: dict[str, str], csr: str | None = None
) -> httpx.Response:
    body = None if csr is None else {"csr": csr}
    return await client.post(BOOTSTRAP, headers=basic(pair["accessId"], pair["otp"]), json=body)


@dataclass
class Trial:
    """One tenant's study; native calls assert success, device actions return the response."""

    client: httpx.AsyncClient
    caller: Caller
    study: str = STUDY
    mode: str = "active"

    async def native(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/studies{path}", json=body, headers=self.caller.headers
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    async def subject(
        self,
        subject_id: str,
        m_subject_id: str | None,
        subject_number: str | None = None,
        mode: str | None = None,
    ) -> dict[str, Any]:
        return await self.native(
            f"/{self.study}/{mode or self.mode}/subjects",
            {"id": subject_id, "subject_number": subject_number, "m_subject_id": m_subject_id},
        )

    async def item(self, item_id: str, kit_type: str, mode: str | None = None) -> dict[str, Any]:
        return await self.native(
            f"/{self.study}/{mode or self.mode}/inventory", {"id": item_id, "kit_type_id": kit_type}
        )

    async def dispense(
        self, subject_id: str, item_id: str, mode: str | None = None
    ) -> dict[str, Any]:
        return await self.native(
            f"/{self.study}/{mode or self.mode}/subjects/{subject_id}/dispensations",
            {"inventory_id": item_id},
        )

    async def dispensed(self, item_id: str, subject_id: str = SUBJECT) -> None:
        """The item, in inventory and dispensed to the subject."""
        await self.item(item_id, KIT_OF[item_id])
        await self.dispense(subject_id, item_id)

    def subject_path(self, subject_id: str = SUBJECT, mode: str | None = None) -> str:
        return f"{ORS}/studies/{self.study}/{mode or self.mode}/subjects/{subject_id}"

    async def register(
        self,
        body: dict[str, Any],
        subject_id: str = SUBJECT,
        mode: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.client.post(
            self.subject_path(subject_id, mode) + "/register-device",
            json=body,
            headers=self.caller.headers if headers is None else headers,
        )

    async def register_watch(
        self, item_id: str = WATCH_1, subject_id: str = SUBJECT
    ) -> dict[str, str]:
        """A device-to-cloud kit dispensed to the subject and registered: its first pair."""
        await self.dispensed(item_id, subject_id)
        m_subject, number = (
            (M_SUBJECT, SUBJECT_NUMBER) if subject_id == SUBJECT else (OTHER_M_SUBJECT, "siteA-2")
        )
        body = {"inventoryId": item_id, "mSubjectId": m_subject, "subjectNumber": number}
        return assert_pair(await self.register(body, subject_id))

    async def recreate(
        self,
        item_id: str = WATCH_1,
        m_subject_id: str | None = M_SUBJECT,
        subject_id: str = SUBJECT,
        mode: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        params = {} if m_subject_id is None else {"mSubjectId": m_subject_id}
        return await self.client.put(
            self.subject_path(subject_id, mode) + f"/devices/{item_id}/access-code",
            params=params,
            headers=self.caller.headers if headers is None else headers,
        )

    async def deregister(
        self,
        item_id: str = WATCH_1,
        m_subject_id: str | None = M_SUBJECT,
        subject_id: str = SUBJECT,
        mode: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        params = {} if m_subject_id is None else {"mSubjectId": m_subject_id}
        return await self.client.delete(
            self.subject_path(subject_id, mode) + f"/devices/{item_id}",
            params=params,
            headers=self.caller.headers if headers is None else headers,
        )


async def new_trial(
    client: httpx.AsyncClient,
    caller: Caller,
    settings: dict[str, Any] | None = SETTINGS,
    mode: str = "active",
) -> Trial:
    """The page's study (with mHealth settings unless ``settings=None``), the four kit
    types, and two subjects in ``mode``; no inventory yet."""
    trial = Trial(client, caller, STUDY, mode)
    body: dict[str, Any] = {"id": STUDY, "name": "Study 1"}
    if settings is not None:
        body["mhealth_settings"] = settings
    await trial.native("", body)
    for kit_id, connection_type in KIT_TYPES.items():
        kit: dict[str, Any] = {"id": kit_id, "name": kit_id.title()}
        if connection_type is not None:
            kit["connection_type"] = connection_type
        await trial.native(f"/{STUDY}/kit-types", kit)
    await trial.subject(SUBJECT, M_SUBJECT, SUBJECT_NUMBER)
    await trial.subject(OTHER_SUBJECT, OTHER_M_SUBJECT, "siteA-2")
    return trial


async def stored_device(runtime: Runtime, device_id: str) -> MhealthDevice:
    async with runtime.db.unit_of_work(write=False) as session:
        row = await session.get(MhealthDevice, device_id)
    assert row is not None
    return row


async def mhealth_events(runtime: Runtime, tenant_id: str) -> list[AuditEvent]:
    async with runtime.db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant_id, AuditEvent.entity_type == "mhealth_device")
            .order_by(AuditEvent.id)
        )
        return list(rows)


async def all_events(runtime: Runtime, tenant_id: str) -> list[AuditEvent]:
    async with runtime.db.unit_of_work(write=False) as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
        )
        return list(rows)


def dumped(events: list[AuditEvent]) -> str:
    """Every stored column of the events as one text, to search for leaked secrets."""
    return json.dumps(
        [[e.actor, e.request_id, e.action, e.entity_type, e.entity_id, e.changes] for e in events]
    )
