"""Settings, read once from ``FLEETKEY_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEETKEY_", extra="ignore")

    data_dir: Path = Path(".fleetkey")
    # Empty means "a SQLite file in data_dir"; see ``database_url_resolved``.
    database_url: str = ""
    # base64 (standard or URL-safe) of 32 random bytes; empty means "use <data_dir>/master.key".
    master_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # MOSIP ``masterdata.registerdevice.timestamp.validate``: sign + minutes.
    mosip_register_timestamp_window: str = "+5"
    # MOSIP hard-codes a 2-minute tolerance into the past; here it is a setting.
    mosip_register_timestamp_past_minutes: int = 2
    # Value of ``env`` in the signed registration payload.
    mosip_env: str = "local"
    # How long (seconds) a verified API token stays in the per-process cache.
    token_cache_seconds: float = 2.0
    log_level: str = "info"
    # Device connect checks: failures per device within the window before a cool-down.
    device_auth_max_failures: int = 5
    device_auth_window_seconds: int = 300
    device_auth_lockout_seconds: int = 300
    # Where devices connect (shown in ROMA device answers).
    mqtt_address: str = "127.0.0.1:1883"
    mqtt_ssl_address: str = "127.0.0.1:8883"
    # Clinical One bootstrap pairs: OTP lifetime and wrong tries before the pair locks.
    bootstrap_otp_ttl_hours: float = 24.0
    bootstrap_max_failures: int = 5
    # ABS: the vendor's "X-App-Sig: DEV-SKIP" is honoured only when this is on (never in
    # production), for the tenant named by abs_dev_tenant.
    abs_dev_skip: bool = False
    abs_dev_tenant: str = "default"
    # One-time codes: wrong codes before a device is blocked, and an optional automatic
    # unblock (seconds; 0 means a blocked device stays blocked until an operator acts).
    otp_max_failures: int = 10
    otp_unblock_after_seconds: int = 0
    # Challenges sent to notification devices.
    challenge_ttl_seconds: int = 300
    challenge_max_attempts: int = 5
    delivery_max_attempts: int = 6
    delivery_backoff_seconds: float = 2.0  # doubles after every failed attempt
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "fleetkey@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    webhook_secret: str = ""
    push_gateway_url: str = ""
    push_gateway_token: str = ""
    stomp_host: str = "127.0.0.1"
    stomp_port: int = 61613
    stomp_vhost: str = "/"
    stomp_login: str = "guest"
    stomp_passcode: str = "guest"
    # How far an AK/SK signature's X-Sdk-Date may be from now.
    signature_max_skew_seconds: int = 900

    @property
    def database_url_resolved(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'fleetkey.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url_resolved.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
