"""How MOSIP shows fleetkey records (field names and shapes from the API page)."""

from __future__ import annotations

from typing import Any

from fleetkey.clock import iso_millis
from fleetkey.providers.models import DeviceProvider, DeviceSoftware, TrustProvider


def _base(row: Any) -> dict[str, Any]:
    return {
        "isActive": row.is_active,
        "createdBy": row.created_by,
        "createdDateTime": iso_millis(row.created_at),
        "updatedBy": row.updated_by,
        "updatedDateTime": iso_millis(row.updated_at),
        "isDeleted": None,
        "deletedDateTime": None,
    }


def device_provider(row: DeviceProvider) -> dict[str, Any]:
    return {
        "id": row.id,
        "vendorName": row.vendor_name,
        "address": row.address,
        "email": row.email,
        "contactNumber": row.contact_number,
        "certificateAlias": row.certificate_alias,
        **_base(row),
    }


def trust_provider(row: TrustProvider) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "address": row.address,
        "email": row.email,
        "contactNo": row.contact_number,
        "certAlias": row.certificate_alias,
        **_base(row),
    }


def device_software(row: DeviceSoftware) -> dict[str, Any]:
    return {
        **_base(row),
        "id": row.id,
        "swVersion": row.sw_version,
        "deviceProviderId": row.provider_id,
        "regDeviceTypeCode": row.type_code,
        "regDeviceSubCode": row.subtype_code,
        "make": row.make,
        "model": row.model,
        "swCreateDateTime": iso_millis(row.sw_created_at),
        "swExpiryDateTime": iso_millis(row.sw_expires_at),
        "swBinaryHash": row.binary_hash,
    }


# Domain field -> MOSIP wire path, for KER-MSD-999 messages.
PROVIDER_FIELDS = {
    "vendor_name": "request.vendorName",
    "address": "request.address",
    "email": "request.email",
    "contact_number": "request.contactNumber",
    "certificate_alias": "request.certificateAlias",
    "is_active": "request.isActive",
    "id": "request.id",
}
TRUST_PROVIDER_FIELDS = {
    "name": "request.name",
    "address": "request.address",
    "email": "request.email",
    "contact_number": "request.contactNo",
    "certificate_alias": "request.certAlias",
    "id": "request.id",
}
SOFTWARE_FIELDS = {
    "sw_version": "request.swVersion",
    "provider_id": "request.deviceProviderId",
    "type_code": "request.regDeviceTypeCode",
    "subtype_code": "request.regDeviceSubCode",
    "make": "request.make",
    "model": "request.model",
    "binary_hash": "request.swBinaryHash",
    "sw_expires_at": "request.swExpiryDateTime",
    "is_active": "request.isActive",
    "id": "request.id",
}
REGISTRATION_FIELDS = {
    "device_id": "deviceId",
    "timestamp": "deviceInfo.timeStamp",
    "firmware": "deviceInfo.firmware",
    "device_sub_id": "deviceInfo.deviceSubId",
    "digital_id": "deviceInfo.digitalId",
    "digital_id.serial_no": "digitalId.serialNo",
    "digital_id.provider_name": "digitalId.deviceProvider",
    "digital_id.provider_id": "digitalId.deviceProviderId",
    "digital_id.make": "digitalId.make",
    "digital_id.model": "digitalId.model",
    "digital_id.type": "digitalId.type",
    "digital_id.subtype": "digitalId.deviceSubType",
}
VALIDATE_FIELDS = {
    "device_code": "request.deviceCode",
    "sw_version": "request.deviceServiceVersion",
    "digital_id": "request.digitalId",
    "serial_no": "request.digitalId.serialNo",
    "provider_name": "request.digitalId.dp",
    "provider_id": "request.digitalId.dpId",
    "make": "request.digitalId.make",
    "model": "request.digitalId.model",
    "type": "request.digitalId.type",
    "subtype": "request.digitalId.deviceSubType",
}
