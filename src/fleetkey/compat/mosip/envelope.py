"""MOSIP's response wrapper: ``{id, version, responsetime, metadata, response, errors}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleetkey.api.hot import HotResponse
from fleetkey.clock import iso_millis_now


@dataclass(frozen=True)
class Operation:
    """One MOSIP operation: its default id and how its success envelope looks in the doc."""

    id: str
    success_metadata: Any = None
    success_errors: Any = None


DEVICE_PROVIDER_CREATE = Operation("io.mosip.masterdata.deviceprovider.create", None, [])
DEVICE_PROVIDER_UPDATE = Operation("io.mosip.masterdata.deviceprovider.update", None, [])
FTP_CREATE = Operation("io.mosip.masterdata.foundationaltrustprovider.create")
FTP_UPDATE = Operation("io.mosip.masterdata.foundationaltrustprovider.update")
DEVICE_REGISTER = Operation("io.mosip.masterdata.device.create")
DEVICE_DEREGISTER = Operation("io.mosip.masterdata.device.delete", {})
DEVICE_STATUS = Operation("io.mosip.masterdata.device.update", {})
DEVICE_VALIDATE = Operation("io.mosip.masterdata.device.validate", {})
MDS_CREATE = Operation("io.mosip.masterdata.mds.create")
MDS_UPDATE = Operation("io.mosip.masterdata.mds.update")


@dataclass(frozen=True)
class Echo:
    """``id`` and ``version`` as the caller sent them (or the operation's defaults)."""

    id: str
    version: str


def _body(echo: Echo, metadata: Any, response: Any, errors: Any) -> dict[str, Any]:
    return {
        "id": echo.id,
        "version": echo.version,
        "responsetime": iso_millis_now(),
        "metadata": metadata,
        "response": response,
        "errors": errors,
    }


def success(op: Operation, echo: Echo, response: Any) -> HotResponse:
    return HotResponse.json(200, _body(echo, op.success_metadata, response, op.success_errors))


def failure(echo: Echo, errors: list[tuple[str, str]]) -> HotResponse:
    """MOSIP reports every failure with HTTP 200 and the reasons in ``errors``."""
    listed = [{"errorCode": code, "message": message} for code, message in errors]
    return HotResponse.json(200, _body(echo, {}, None, listed))
