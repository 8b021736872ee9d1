"""Domain error codes -> MOSIP error codes. MOSIP's wording lives only here."""

from __future__ import annotations

from fleetkey.errors import DomainError

AUTH_FAILED = ("KER-ATH-401", "Authentication Failed")
FORBIDDEN = ("KER-ATH-403", "Forbidden")
INTERNAL = ("KER-MSD-500", "Internal Server Error")
FORMAT = "KER-MSD-999"
BAD_TIMESTAMP = "KER-MSD-039"

CODES: dict[str, str] = {
    "validation.invalid": FORMAT,
    "validation.format": FORMAT,
    "validation.timestamp": BAD_TIMESTAMP,
    "version.conflict": FORMAT,
    "provider.duplicate": "ADM-DPM-011",
    "provider.not_found": "ADM-DPM-003",
    "trust_provider.duplicate": "ADM-DPM-016",
    "trust_provider.not_found": "ADM-DPM-016",
    "software.duplicate": "ADM-DPM-021",
    "software.not_found": "ADM-DPM-023",
    "software.provider_not_found": "ADM-DPM-039",
    "catalog.type_not_found": "ADM-DPM-040",
    "catalog.subtype_not_found": "ADM-DPM-041",
    "registration.timestamp_out_of_window": "MSD-RDS-001",
    "registration.provider_mismatch": "ADM-DPM-032",
    "registration.duplicate_serial": "ADM-DPM-043",
    "registration.not_whitelisted": "ADM-DPM-042",
    # MOSIP 1.0.10 never looks the trust provider up; its enum's foundational code is used.
    "registration.trust_provider_not_found": "ADM-DPM-030",
    "device.not_found": "ADM-DPM-038",
    "device.status_same": "KER-DPM-039",
    "device.status_invalid": "ADM-DPM-037",
    "device.retired": "KER-DPM-002",
    "device.already_deregistered": "KER-DPM-002",
    "validate.device_not_found": "ADM-DPM-001",
    "validate.device_not_registered": "ADM-DPM-002",
    "validate.provider_missing": "ADM-DPM-003",
    "validate.provider_inactive": "ADM-DPM-004",
    "validate.software_version_unknown": "ADM-DPM-005",
    "validate.software_mismatch": "ADM-DPM-007",
    "validate.digital_id_mismatch": "ADM-DPM-008",
}

# Where one domain rule carries a different MOSIP code (and wording) per operation.
REGISTER_OVERRIDES = {
    "catalog.type_not_found": ("ADM-DPM-026", "{type} Device Type does not exist"),
    "catalog.subtype_not_found": ("ADM-DPM-027", "{subtype} Device Sub-Type does not exist"),
}
DEREGISTER_OVERRIDES = {"device.not_found": ("KER-DPM-001", "No register device found")}
MDS_OVERRIDES = {
    "catalog.type_not_found": (
        "ADM-DPM-040",
        "Reg Device Type Code not found in the list of Reg Device Types",
    ),
    "catalog.subtype_not_found": (
        "ADM-DPM-041",
        "Reg Device Sub Type Code not found in the list of Reg Device Sub Types",
    ),
}


def to_mosip(
    error: DomainError,
    field_names: dict[str, str] | None = None,
    overrides: dict[str, tuple[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """One MOSIP error per problem, in the order the rules found them."""
    if overrides and error.code in overrides:
        code, template = overrides[error.code]
        return [(code, template.format(**error.params))]
    code = CODES.get(error.code, FORMAT)
    if error.code == "validate.digital_id_mismatch":
        return [(code, p.message) for p in error.problems]
    if error.problems:
        names = field_names or {}
        return [(code, _field_message(names, p.field, p.message)) for p in error.problems]
    return [(code, error.message)]


# Rules whose MOSIP message is the bare message, without a field path.
BARE_MESSAGE_FIELDS = {"purpose", "certification", "trust_provider_id"}


def _field_message(names: dict[str, str], field: str, message: str) -> str:
    if field in BARE_MESSAGE_FIELDS:
        return message
    wire = names.get(field, field)
    # Bean validation of the wrapper itself reads "request: must not be null".
    is_request_path = wire == "request" or wire.startswith("request.")
    return f"{wire}: {message}" if is_request_path else f"{wire} {message}"
