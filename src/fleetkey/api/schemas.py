"""Native API request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from fleetkey.clock import as_utc, iso_millis
from fleetkey.validation import holds_unstorable_text

T = TypeVar("T")

Short = Field(max_length=256)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def _utc_instant(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is before the first UTC instant
        raise ValueError("date-time is outside the range of UTC instants") from exc


# A date-time that has a UTC instant (naive means UTC, as everywhere in fleetkey).
Instant = Annotated[datetime, AfterValidator(_utc_instant)]
# Every time the API writes has one shape: yyyy-MM-ddTHH:mm:ss.SSSZ.
Written = Annotated[datetime, PlainSerializer(iso_millis, return_type=str)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        # PostgreSQL refuses NUL in text; an unpaired surrogate is not UTF-8 at all.
        if holds_unstorable_text(data):
            raise ValueError("text must not hold a NUL character or an unpaired surrogate")
        return data


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
    sw_created_at: Instant | None = None
    sw_expires_at: Instant | None = None
    is_active: bool = True
    version: int | None = None


class DeviceTypeIn(Strict):
    name: str = Field(max_length=64)
    subtypes: list[Annotated[str, Field(max_length=36)]] = Field(
        default_factory=list, max_length=100
    )
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
    created_at: Written


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
    as_of: Instant | None = None
    digital_id: DigitalIdIn


class ValidateOut(BaseModel):
    valid: bool
    basis: str
    code: str | None = None
    message: str | None = None
    details: list[dict[str, str]] | None = None


class HistoryEntry(BaseModel):
    valid_from: Written
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
