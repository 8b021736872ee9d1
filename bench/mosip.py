"""MOSIP request bodies the benchmarks send, built the way tests/compat/mosip/doc.py does.

One place for the device a benchmark registers, so seeded devices (through the API),
pre-built registration bodies and the bulk generator (bench/generate.py) all agree.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

BASE = "/v1/masterdata"
REGISTER_PATH = f"{BASE}/registereddevices"
VALIDATE_PATH = f"{BASE}/deviceprovidermanagement/validate"

VENDOR = "Test Vendor"
SW_VERSION = "TestSwVersion1"
MAKE, MODEL = "MC01A", "TVSFD"
# What a device sends (MOSIP's page spells the type "Fingerprint", an alias of "Finger").
DEVICE_TYPE, DEVICE_SUBTYPE = "Fingerprint", "Single"
PURPOSE = "AUTH"
FIRMWARE = "firmware"
CERTIFICATION = "L0"
DEVICE_SUB_ID = "1"

PROVIDER_CREATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.deviceprovider.create",
    "metadata": {},
    "request": {
        "address": "Address of Test Vendor",
        "certificateAlias": "Test",
        "contactNumber": "9663175928",
        "email": "test@mosip.io",
        "isActive": True,
        "vendorName": VENDOR,
    },
    "requesttime": "2020-02-06T09:13:59.522Z",
    "version": "1.0",
}


def mds_create(provider_id: str) -> dict[str, Any]:
    return {
        "id": "io.mosip.masterdata.mds.create",
        "metadata": {},
        "request": {
            "deviceProviderId": provider_id,
            "isActive": True,
            "make": MAKE,
            "model": MODEL,
            "regDeviceSubCode": DEVICE_SUBTYPE,
            "regDeviceTypeCode": "Finger",
            "swBinaryHash": "Test Hash",
            "swCreateDateTime": "2020-02-10T06:12:52.994Z",
            "swExpiryDateTime": "2021-02-10T06:12:52.994Z",
            "swVersion": SW_VERSION,
        },
        "requesttime": "2020-02-10T06:12:52.994Z",
        "version": "1.0",
    }


def iso_millis(value: datetime) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSS'Z'``, as fleetkey.clock writes it."""
    v = value.astimezone(UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"


def now_millis() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _b64(obj: Any) -> str:
    return base64.b64encode(json.dumps(obj).encode()).decode()


def digital_id(provider_id: str, serial: str, at: datetime) -> dict[str, Any]:
    """The digital id a device presents (and fleetkey keeps verbatim as ``digital_id``)."""
    return {
        "serialNo": serial,
        "deviceProvider": VENDOR,
        "deviceProviderId": provider_id,
        "make": MAKE,
        "model": MODEL,
        "dateTime": iso_millis(at),
        "type": DEVICE_TYPE,
        "deviceSubType": DEVICE_SUBTYPE,
    }


def registration(
    provider_id: str, serial: str, stamp: datetime, device_id: str | None = None
) -> dict[str, Any]:
    """A registration request for ``serial`` stamped ``stamp`` (must be inside the window)."""
    device_data = {
        "deviceId": device_id or str(uuid.uuid4()),
        "purpose": PURPOSE,
        "deviceInfo": {
            "deviceSubId": DEVICE_SUB_ID,
            "certification": CERTIFICATION,
            "digitalId": _b64(digital_id(provider_id, serial, stamp)),
            "firmware": FIRMWARE,
            "deviceExpiry": iso_millis(stamp + timedelta(days=365)),
            "timeStamp": iso_millis(stamp),
        },
        "foundationalTrustProviderId": "",
    }
    return {
        "id": "io.mosip.masterdata.device.create",
        "metadata": {},
        "request": {"deviceData": _b64(device_data)},
        "requesttime": iso_millis(stamp),
        "version": "v1",
    }


def validation(
    code: str, provider_id: str, serial: str, at: datetime | None = None
) -> dict[str, Any]:
    """A validate request; with ``at`` it is the as-of form (``timeStamp``)."""
    request: dict[str, Any] = {
        "deviceCode": code,
        "deviceServiceVersion": SW_VERSION,
        "purpose": PURPOSE,
        "digitalId": {
            "serialNo": serial,
            "make": MAKE,
            "model": MODEL,
            "type": DEVICE_TYPE,
            "deviceSubType": DEVICE_SUBTYPE,
            "dp": VENDOR,
            "dpId": provider_id,
            "dateTime": "2020-02-16T07:20:42.195Z",
        },
    }
    if at is not None:
        request["timeStamp"] = iso_millis(at)
    return {
        "id": "io.mosip.masterdata.device.validate",
        "metadata": None,
        "request": request,
        "version": "1.0",
        "requesttime": "2020-02-16T16:34:22.890Z",
    }


def dumps(body: dict[str, Any]) -> str:
    """One request body on one line (the Lua replayer reads a body per line)."""
    return json.dumps(body, separators=(",", ":"))
