"""Everything a process holds once: settings, database, vault, caches, key ring."""

from __future__ import annotations

from dataclasses import dataclass

from fleetkey.config import Settings
from fleetkey.credentials.vault import Vault, load_master_key
from fleetkey.db.session import Database
from fleetkey.devices.registration import TimestampWindow
from fleetkey.keys.service import KeyRing
from fleetkey.tenants.service import Principal, TokenVerifier


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: Vault
    tokens: TokenVerifier
    keys: KeyRing
    register_window: TimestampWindow

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        db = Database.from_settings(settings)
        vault = Vault(load_master_key(settings))
        return cls(
            settings=settings,
            db=db,
            vault=vault,
            tokens=TokenVerifier(vault, settings.token_cache_seconds),
            keys=KeyRing(vault, db),
            register_window=TimestampWindow.parse(
                settings.mosip_register_timestamp_window,
                settings.mosip_register_timestamp_past_minutes,
            ),
        )

    async def principal(self, token: str | None) -> Principal | None:
        if not token:
            return None
        return await self.tokens.verify(lambda: self.db.unit_of_work(write=False), token)
