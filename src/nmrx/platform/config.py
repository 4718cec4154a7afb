"""Settings, read from ``NMRX_*`` environment variables (and an optional ``.env``)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET_KEY = "demo-secret-key-not-for-production"


class InsecureSettings(RuntimeError):
    """Settings that must not be used outside demo mode."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NMRX_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str = ""  # empty: a SQLite file in data_dir
    secret_key: str = DEMO_SECRET_KEY
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

    faucet_max_units: int = 1_000 * 100_000_000  # 1,000 NMR per faucet request
    platform_fee_rate_bp: int = Field(200, description="fee on seller proceeds, basis points")
    session_max_age_seconds: int = 14 * 24 * 3600
    secure_cookies: bool = False
    max_upload_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="largest predictions file an upload may carry"
    )
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="largest request body of any other route (JSON, forms)"
    )

    @model_validator(mode="after")
    def _refuse_default_secret_outside_demo(self) -> Settings:
        if not self.demo and self.secret_key == DEMO_SECRET_KEY:
            raise InsecureSettings(
                "NMRX_SECRET_KEY is left at its demo default; set a long random secret "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`) "
                "or run in demo mode (NMRX_DEMO=true)."
            )
        if not self.demo and len(self.secret_key) < 32:
            raise InsecureSettings("NMRX_SECRET_KEY must be at least 32 characters long.")
        return self

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'nmrx.sqlite3').resolve()}"
