"""Native API request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Short = Field(max_length=256)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderIn(Strict):
    vendor_name: str = Field(max_length=128)
    address: str | None = Field(default=None, max_length=512)
    email: str | None = Field(default=None, max_length=256)
    contact_number: str | None = Field(default=None, max_length=16)
    certificate_alias: str | None = Field(default=None, max_length=36)
    is_active: bool = True
    version: int | None = Field(default=None, description="the version you read (or If-Match)")


class TrustProviderIn(Strict):
    name: str = Field(max_length=128)
    address: str = Field(max_length=512)
    email: str = Field(max_length=256)
    contact_number: str = Field(max_length=16)
    certificate_alias: str = Field(max_length=36)
    is_active: bool = True
    version: int | None = None


class SoftwareIn(Strict):
    sw_version: str = Field(max_length=64)
    provider_id: str = Field(max_length=36)
    type_code: str = Field(max_length=36)
    subtype_code: str = Field(max_length=36)
    make: str = Field(max_length=36)
    model: str = Field(max_length=36)
    binary_hash: str = Field(max_length=256)
    sw_created_at: datetime | None = None
    sw_expires_at: datetime | None = None
    is_active: bool = True
    version: int | None = None


class DeviceTypeIn(Strict):
    name: str = Field(max_length=64)
    subtypes: list[str] = Field(default_factory=list, max_length=100)
    alias_of: str | None = Field(default=None, max_length=36)
    is_active: bool = True


class DeviceTypeOut(BaseModel):
    code: str
    name: str
    alias_of: str | None
    is_active: bool
    subtypes: list[str]


class WhitelistIn(Strict):
    serial_number: str = Field(max_length=64)
    description: str | None = Field(default=None, max_length=256)


class WhitelistOut(BaseModel):
    id: str
    serial_number: str
    description: str | None
    created_at: datetime


class StatusIn(Strict):
    status: str = Field(max_length=32)
    version: int | None = None


class DigitalIdIn(Strict):
    serial_no: str = Field(max_length=64)
    provider_name: str = Field(max_length=128)
    provider_id: str = Field(max_length=36)
    make: str = Field(max_length=36)
    model: str = Field(max_length=36)
    type: str = Field(max_length=36)
    subtype: str = Field(max_length=36)


class ValidateIn(Strict):
    device_code: str = Field(max_length=36)
    sw_version: str = Field(max_length=64)
    purpose: str | None = Field(default=None, max_length=16)
    as_of: datetime | None = None
    digital_id: DigitalIdIn


class ValidateOut(BaseModel):
    valid: bool
    basis: str
    code: str | None = None
    message: str | None = None
    details: list[dict[str, str]] | None = None


class HistoryEntry(BaseModel):
    valid_from: datetime
    version: int
    data: dict[str, Any]


class AuditOut(BaseModel):
    id: int
    occurred_at: str | None
    actor: str
    request_id: str
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any]


class ChangesOut(BaseModel):
    items: list[AuditOut]
    cursor: str
