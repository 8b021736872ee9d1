"""How ROMA Connect LINK shows products and devices (ids, enums and times are integers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleetkey.things.credentials import MASK
from fleetkey.things.models import Device, Product

PERMISSIONS = ["read", "access", "delete", "modify"]


def millis(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _user(name: str | None) -> dict[str, Any] | None:
    return None if name is None else {"user_id": name, "user_name": name}


def authentication(user_name: str | None, password: str = MASK) -> dict[str, Any] | None:
    return None if user_name is None else {"user_name": user_name, "password": password}


def product(row: Product, shown_password: str | None = None) -> dict[str, Any]:
    return {
        "permissions": PERMISSIONS,
        "id": row.id,
        "product_serial": f"P{row.id}",
        "app_id": row.app_id,
        "app_name": row.app_id,
        "name": row.name,
        "manufacturer_id": row.manufacturer_id,
        "manufacturer_name": row.manufacturer_name,
        "model": row.model,
        "product_type": row.product_type,
        "description": row.description,
        "protocol_type": row.protocol_type,
        "device_type": row.device_type,
        "version": row.product_version,
        "data_format": row.data_format,
        "authentication": authentication(row.user_name, shown_password or MASK),
        "created_user": _user(row.created_by),
        "last_updated_user": _user(row.updated_by or row.created_by),
        "created_datetime": millis(row.created_at),
        "last_updated_datetime": millis(row.updated_at or row.created_at),
    }


def product_referer(row: Product) -> dict[str, Any]:
    return {
        "product_id": row.id,
        "product_name": row.name,
        "manufacturer_id": row.manufacturer_id,
        "model": row.model,
        "protocol_type": row.protocol_type,
        "product_type": row.product_type,
    }


def device(
    row: Device,
    product_row: Product,
    addresses: dict[str, str | None],
    shown_password: str | None = None,
) -> dict[str, Any]:
    return {
        "permissions": PERMISSIONS,
        "id": row.id,
        "device_id": row.id,
        "product": product_referer(product_row),
        "device_name": row.device_name,
        "instance_id": row.instance_id,
        "client_id": row.client_id,
        "node_id": row.node_id,
        "app_id": row.app_id,
        "app_name": row.app_id,
        "status": row.status,
        "online_status": row.online_status,
        "description": row.description,
        "authentication": authentication(row.user_name, shown_password or MASK),
        "created_user": _user(row.created_by),
        "last_updated_user": _user(row.updated_by or row.created_by),
        "tags": list(row.tags or []),
        "created_datetime": millis(row.created_at),
        "last_updated_datetime": millis(row.updated_at or row.created_at),
        "last_login_datetime": millis(row.last_login_at),
        "node_type": 0,
        "device_type": 0,
        **addresses,
    }
