"""Settings, read from ``NMRX_*`` environment variables (and an optional ``.env``)."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from nmrx.platform.crypto import KeyRing, WeakSecret, check_secret, generate_key

# Was the demo's public signing secret; now only the legacy reader of demo ciphertexts made
# before per-data-directory secrets. Never signs anything.
DEMO_SECRET_KEY = "demo-secret-key-not-for-production"
DEMO_SECRETS_FILE = "demo-secrets.json"

# A demo runs on loopback: every visitor shares one address, and the passwords are public.
DEMO_RATE_LIMITS: dict[str, object] = {
    "rate_limit_login_per_ip": "100/minute",
    "rate_limit_login_per_username": "30/minute",
    "rate_limit_register_per_ip": "100/hour",
    "rate_limit_streams_per_client": 20,
}


class InsecureSettings(RuntimeError):
    """Settings that must not be used outside demo mode."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMRX_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    secret_key: str = Field("", description="signs sessions and links (required outside demo)")
    encryption_keys: str = Field(
        "", description="key ring id:base64key,…: the first encrypts, all decrypt (required)"
    )
    demo: bool = False
    base_url: str = "http://127.0.0.1:8000"
    numerai_api_url: str = "https://api-tournament.numer.ai"
    numerai_timeout_seconds: float = 10.0
    numerai_retries: int = 3
    numerai_backoff_seconds: float = 0.5

    clock: str = Field("system", description="system, or emulator: follow the emulator's clock")
    emulator_admin_token: str = "emulator-admin"
    redis_url: str = Field("", description="empty: the embedded SqliteHuey queue in data_dir")

    non_delivery_penalty_bp: int = Field(
        1_000, description="seller penalty when nothing is uploaded"
    )
    consistency_penalty_bp: int = Field(10_000, description="seller penalty on a failed check")
    upload_margin_minutes: int = Field(10, description="uploads close this long before close(R)")
    download_link_ttl_seconds: int = 300
    delivery_nonce_bytes: int = 16

    ownership_code_ttl_hours: int = 24
    seller_collateral_minimum_units: int = 10 * 100_000_000
    seller_collateral_rate_bp: int = 2_000

    trading_margin_minutes: int = Field(
        20, description="trading on round R closes this long before close(R)"
    )
    books_ahead: int = Field(4, description="books kept open beyond the current round's")
    stake_collateral_rate_bp: int = Field(
        500, description="Stake Mode buyer collateral, bp of allowance"
    )

    performance_sync_minutes: int = Field(
        60, description="the worker re-syncs a listed model's track record after this long"
    )
    performance_sync_batch: int = Field(50, description="models synced per worker tick at most")
    performance_sync_cooldown_seconds: int = Field(
        60, description="an on-demand sync within this long of the last one reuses it"
    )
    trending_rounds: int = Field(5, description="rounds in each trending window")

    webhook_allow_private: bool = Field(
        False,
        description="let seller webhooks reach loopback and private addresses (tests only)",
    )

    faucet_max_units: int = 1_000 * 100_000_000  # 1,000 NMR per faucet request
    platform_fee_rate_bp: int = Field(200, description="fee on seller proceeds, basis points")
    session_max_age_seconds: int = 14 * 24 * 3600
    secure_cookies: bool | None = Field(None, description="empty: Secure outside demo mode")

    # Rate limits ("N/second|minute|hour|day", moving windows; counted in Redis when
    # NMRX_REDIS_URL is set, so every process shares them). In demo mode every visitor comes
    # from the same loopback address: the per-address limits default higher there.
    rate_limit_login_per_ip: str = "10/minute"
    rate_limit_login_per_username: str = "10/minute"
    rate_limit_register_per_ip: str = "5/hour"
    rate_limit_tokens_per_account: str = "10/hour"
    rate_limit_verifications_per_account: str = Field(
        "10/hour", description="model verification codes requested (each asks Numerai)"
    )
    rate_limit_verification_checks_per_account: str = Field(
        "30/hour", description="verification codes checked (each asks Numerai)"
    )
    rate_limit_numerai_keys_per_account: str = Field(
        "10/hour", description="Numerai keys added (each asks Numerai)"
    )
    rate_limit_faucet_per_account: str = "10/hour"
    rate_limit_streams_per_client: int = Field(
        5, ge=1, description="open event streams per account (per address when anonymous)"
    )
    rate_limit_stream_min_poll_seconds: float = Field(
        0.5, gt=0, description="streams asked to poll faster poll this often"
    )
    max_upload_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="largest predictions file an upload may carry"
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="largest request body of any other route (JSON, forms)"
    )

    @model_validator(mode="after")
    def _demo_rate_limits(self) -> Settings:
        if self.demo:
            for name, value in DEMO_RATE_LIMITS.items():
                if name not in self.model_fields_set:
                    setattr(self, name, value)
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        try:
            if self.secret_key:
                if self.secret_key == DEMO_SECRET_KEY:
                    raise WeakSecret("NMRX_SECRET_KEY is the public demo secret")
                check_secret("NMRX_SECRET_KEY", self.secret_key)
            if self.encryption_keys:
                KeyRing.parse(self.encryption_keys)
        except WeakSecret as exc:
            raise InsecureSettings(str(exc)) from exc
        if not self.demo and not self.secret_key:
            raise InsecureSettings(
                "NMRX_SECRET_KEY is not set; set a long random secret "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
                "or run in demo mode (NMRX_DEMO=true)."
            )
        if not self.demo and not self.encryption_keys:
            raise InsecureSettings(
                "NMRX_ENCRYPTION_KEYS is not set; set a key ring such as "
                "`k1:<32 random bytes, base64>` (`nmrx keys generate` prints one)."
            )
        return self

    @cached_property
    def demo_secrets(self) -> dict[str, str]:
        return load_demo_secrets(self.data_dir)

    @cached_property
    def signing_key(self) -> str:
        """Signs sessions and links: NMRX_SECRET_KEY, or the demo data directory's own."""
        return self.secret_key or self.demo_secrets["secret_key"]

    @cached_property
    def encryption_ring(self) -> KeyRing:
        """Encrypts stored secrets and files. Ciphertexts from before the ring decrypt with
        the secret that made them (NMRX_SECRET_KEY; the old public secret in demo mode)."""
        legacy = self.secret_key or DEMO_SECRET_KEY
        return KeyRing.parse(
            self.encryption_keys or self.demo_secrets["encryption_keys"], legacy_secret=legacy
        )

    @property
    def cookie_secure(self) -> bool:
        return (not self.demo) if self.secure_cookies is None else self.secure_cookies

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nmrx.sqlite3').resolve()}"


def load_demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's random signing secret and encryption key, made once per data directory
    (a 0600 file) and reused on restart."""
    path = data_dir / DEMO_SECRETS_FILE
    if path.exists():
        return dict(json.loads(path.read_text()))
    data_dir.mkdir(parents=True, exist_ok=True)
    fresh = {"secret_key": secrets.token_urlsafe(48), "encryption_keys": f"demo1:{generate_key()}"}
    tmp = data_dir / f".{DEMO_SECRETS_FILE}.{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(fresh, f)
    try:
        os.link(tmp, path)  # complete or absent, never half written; the first process wins
    except FileExistsError:
        return dict(json.loads(path.read_text()))
    finally:
        tmp.unlink()
    return fresh


def is_loopback(host: str) -> bool:
    """Whether a host to listen on is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
