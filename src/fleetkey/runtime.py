"""Everything a process holds once: settings, database, vault, caches, key ring."""

from __future__ import annotations

from dataclasses import dataclass

from fleetkey.config import Settings
from fleetkey.credentials.passwords import PasswordChecker
from fleetkey.credentials.vault import Vault, load_master_key
from fleetkey.db.session import Database
from fleetkey.devices.registration import TimestampWindow
from fleetkey.keys.service import KeyRing
from fleetkey.tenants.service import Principal, TokenVerifier
from fleetkey.things.auth import DeviceAuthenticator, LockoutPolicy


@dataclass
class Runtime:
    settings: Settings
    db: Database
    vault: Vault
    tokens: TokenVerifier
    keys: KeyRing
    register_window: TimestampWindow
    device_auth: DeviceAuthenticator

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        db = Database.from_settings(settings)
        vault = Vault(load_master_key(settings))
        policy = LockoutPolicy(
            settings.device_auth_max_failures,
            settings.device_auth_window_seconds,
            settings.device_auth_lockout_seconds,
        )
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
            device_auth=DeviceAuthenticator(db, PasswordChecker(vault), policy),
        )

    async def principal(self, token: str | None) -> Principal | None:
        if not token:
            return None
        return await self.tokens.verify(self.db, token)
