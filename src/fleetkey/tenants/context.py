"""Who is acting: passed from a surface into every domain service."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetkey.tenants.scopes import allows


@dataclass(frozen=True)
class Actor:
    tenant_id: str
    name: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    request_id: str = ""
    token_id: str | None = None

    def can(self, scope: str) -> bool:
        return allows(self.scopes, scope)
