"""Scopes, and how each vendor's roles map onto them. The one place for that rule."""

from __future__ import annotations

FULL_ACCESS = "*"

REGISTRY_READ = "registry:read"
REGISTRY_WRITE = "registry:write"
REGISTRY_VALIDATE = "registry:validate"
AUDIT_READ = "audit:read"
KEYS_ADMIN = "keys:admin"
THINGS_READ = "things:read"
THINGS_WRITE = "things:write"
DEVICE_AUTH = "device:authenticate"  # what a message broker's token may do
STUDIES_READ = "studies:read"
STUDIES_WRITE = "studies:write"
DEVICE_ACTIONS = "DeviceActionsPost"  # Clinical One's right for device actions
AUTHENTICATORS_READ = "authenticators:read"
AUTHENTICATORS_WRITE = "authenticators:write"
OTP_VERIFY = "otp:verify"

KNOWN_SCOPES = {
    FULL_ACCESS,
    REGISTRY_READ,
    REGISTRY_WRITE,
    REGISTRY_VALIDATE,
    AUDIT_READ,
    KEYS_ADMIN,
    THINGS_READ,
    THINGS_WRITE,
    DEVICE_AUTH,
    STUDIES_READ,
    STUDIES_WRITE,
    DEVICE_ACTIONS,
    AUTHENTICATORS_READ,
    AUTHENTICATORS_WRITE,
    OTP_VERIFY,
}

# MOSIP roles (kernel-masterdata-service @PreAuthorize) as bundles of scopes.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "ZONAL_ADMIN": frozenset({REGISTRY_READ, REGISTRY_WRITE, REGISTRY_VALIDATE}),
    "ID_AUTHENTICATION": frozenset({REGISTRY_VALIDATE}),
    "REGISTRATION_PROCESSOR": frozenset({REGISTRY_VALIDATE}),
    "RESIDENT": frozenset({REGISTRY_VALIDATE}),
}


def normalise(requested: list[str]) -> list[str]:
    """Validate requested scopes; no scope at all means full access to the tenant."""
    if not requested:
        return [FULL_ACCESS]
    unknown = [s for s in requested if s not in KNOWN_SCOPES and s not in ROLE_SCOPES]
    if unknown:
        allowed = ", ".join(sorted(KNOWN_SCOPES | set(ROLE_SCOPES)))
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {allowed}")
    return sorted(set(requested))


def expand(granted: list[str]) -> frozenset[str]:
    out: set[str] = set()
    for scope in granted:
        out |= ROLE_SCOPES.get(scope, {scope})
    return frozenset(out)


def allows(granted: frozenset[str], needed: str) -> bool:
    return FULL_ACCESS in granted or needed in granted
