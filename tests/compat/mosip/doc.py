"""The example requests of the MOSIP API page (seed 002), with ids and times made current.

Values are copied from the page; only generated ids (the page shows ids MOSIP generated)
and timestamps (the page's are from 2020, outside any validity window) are substituted.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetkey.clock import iso_millis

PROVIDER_CREATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.deviceprovider.create",
    "metadata": {},
    "request": {
        "address": "Address of Test Vendor",
        "certificateAlias": "Test",
        "contactNumber": "9663175928",
        "email": "test@mosip.io",
        "isActive": True,
        "vendorName": "Test Vendor",
    },
    "requesttime": "2020-02-06T09:13:59.522Z",
    "version": "1.0",
}

PROVIDER_UPDATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.deviceprovider.update",
    "metadata": {},
    "request": {
        "address": "New Address of Test Vendor",
        "certificateAlias": "changed",
        "contactNumber": "9000000000",
        "email": "test@mosip.io",
        "id": "0e90bb45-cc9b-4521-9644-72755f6aa1e9",
        "isActive": True,
        "vendorName": "Test Vendor",
    },
    "requesttime": "2020-02-10T09:13:59.522Z",
    "version": "1.0",
}

FTP_CREATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.foundationaltrustprovider.create",
    "metadata": {},
    "request": {
        "name": "FTP 1",
        "address": "Address of FTP 1",
        "email": "FTP1@mosip.io",
        "contactNo": "9876543210",
        "certAlias": "Test",
        "isActive": True,
    },
    "requesttime": "2020-02-06T09:13:59.522Z",
    "version": "1.0",
}

FTP_UPDATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.foundationaltrustprovider.update",
    "metadata": {},
    "request": {
        "active": True,
        "id": "83cdb6ea-6e62-11ea-bc55-0242ac130003",
        "name": "FTP 1",
        "address": "Address of FTP 1",
        "email": "FTP1test@mosip.io",
        "contactNo": "9876543210",
        "certAlias": "Change",
        "isActive": True,
    },
    "requesttime": "2020-02-10T09:13:59.522Z",
    "version": "1.0",
}

MDS_CREATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.mds.create",
    "metadata": {},
    "request": {
        "deviceProviderId": "0e90bb45-cc9b-4521-9644-72755f6aa1e9",
        "isActive": True,
        "make": "MC01A",
        "model": "TVSFD",
        "regDeviceSubCode": "Single",
        "regDeviceTypeCode": "Finger",
        "swBinaryHash": "Test Hash",
        "swCreateDateTime": "2020-02-10T06:12:52.994Z",
        "swExpiryDateTime": "2021-02-10T06:12:52.994Z",
        "swVersion": "TestSwVersion1",
    },
    "requesttime": "2020-02-10T06:12:52.994Z",
    "version": "1.0",
}

MDS_UPDATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.mds.update",
    "metadata": {},
    "request": {
        "active": True,
        "deviceProviderId": "0e90bb45-cc9b-4521-9644-72755f6aa1e9",
        "id": "0f343b65-aba2-44d2-b836-e7511270b1ab",
        "make": "MC01A",
        "model": "TVSFD",
        "regDeviceSubCode": "Single",
        "regDeviceTypeCode": "Finger",
        "swBinaryHash": "Test Hash",
        "swCreateDateTime": "2020-02-10T06:12:52.994Z",
        "swExpiryDateTime": "2022-02-10T06:12:52.994Z",
        "swVersion": "TestSwVersion1",
    },
    "requesttime": "2020-02-10T06:12:52.994Z",
    "version": "1.0",
}

# The decoded deviceData and digitalId the page shows.
DEVICE_DATA: dict[str, Any] = {
    "deviceId": "70959dd5-e45f-438a-9ff8-9b263908e572",
    "purpose": "AUTH",
    "deviceInfo": {
        "deviceSubId": "1",
        "certification": "L0",
        "digitalId": "",
        "firmware": "firmware",
        "deviceExpiry": "2021-02-16T12:50:42.196Z",
        "timeStamp": "2020-02-16T12:50:42.208Z",
    },
    "foundationalTrustProviderId": "83cdb6ea-6e62-11ea-bc55-0242ac130003",
}

DIGITAL_ID: dict[str, Any] = {
    "serialNo": "1801160992",
    "deviceProvider": "Test Vendor",
    "deviceProviderId": "0e90bb45-cc9b-4521-9644-72755f6aa1e9",
    "make": "MC01A",
    "model": "TVSFD",
    "dateTime": "2020-02-16T07:20:42.195Z",
    "type": "Fingerprint",
    "deviceSubType": "Single",
}

VALIDATE: dict[str, Any] = {
    "id": "io.mosip.masterdata.device.validate",
    "metadata": None,
    "request": {
        "deviceCode": "70959dd5-e45f-438a-9ff8-9b263908e572",
        "deviceServiceVersion": "TestSwVersion1",
        "timestamp": "2020-02-16T07:20:42.195Z",
        "purpose": "AUTH",
        "digitalId": {
            "serialNo": "1801160992",
            "make": "MC01A",
            "model": "TVSFD",
            "type": "Fingerprint",
            "deviceSubType": "Single",
            "dp": "Test Vendor",
            "dpId": "0e90bb45-cc9b-4521-9644-72755f6aa1e9",
            "dateTime": "2020-02-16T07:20:42.195Z",
        },
    },
    "version": "1.0",
    "requesttime": "2020-02-16T16:34:22.890Z",
}


def now_text(offset_seconds: float = 0) -> str:
    return iso_millis(datetime.now(UTC) + timedelta(seconds=offset_seconds)) or ""


def b64(obj: Any, urlsafe: bool = False, padded: bool = True) -> str:
    raw = json.dumps(obj).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text if padded else text.rstrip("=")


def with_request(template: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(template))
    body["request"].update(changes)
    return body


def registration(
    provider_id: str,
    *,
    serial: str = "1801160992",
    purpose: str = "AUTH",
    digital: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    encode: Any = None,
) -> dict[str, Any]:
    """The page's registration request for ``provider_id``, stamped now."""
    digital_id = {
        **DIGITAL_ID,
        "deviceProviderId": provider_id,
        "serialNo": serial,
        "dateTime": now_text(),
        **(digital or {}),
    }
    device_data = json.loads(json.dumps(DEVICE_DATA))
    device_data["purpose"] = purpose
    device_data["deviceInfo"].update(
        digitalId=b64(digital_id), timeStamp=now_text(), deviceExpiry=now_text(86400 * 365)
    )
    device_data["deviceInfo"].update(info or {})
    device_data.update(data or {})
    encoded = (encode or b64)(device_data)
    return {
        "id": "io.mosip.masterdata.device.create",
        "metadata": {},
        "request": {"deviceData": encoded},
        "requesttime": now_text(),
        "version": "v1",
    }


def validation(
    code: str, provider_id: str, *, at: str | None = None, **digital: Any
) -> dict[str, Any]:
    body = json.loads(json.dumps(VALIDATE))
    request = body["request"]
    request["deviceCode"] = code
    request["digitalId"]["dpId"] = provider_id
    request["digitalId"].update(digital)
    if at is None:
        del request["timestamp"]
    else:
        request["timestamp"] = at
    return body
