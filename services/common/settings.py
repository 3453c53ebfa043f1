"""Settings shared by every service.

Each service subclasses :class:`ServiceSettings` with its own env prefix
(``LINJU_GATEWAY_``, ``LINJU_REGISTRY_`` …). The handful of values that every
process must agree on (database, token issuer/audience, where the JWKS lives)
are read from un-prefixed or ``LINJU_`` variables so one environment serves the
whole stack. Nobody else reads ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.timeutil import use_test_clock

DEFAULT_SERVICE_SECRET = "dev-only-service-secret-change-me"  # noqa: S105 - refused outside development


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    env: Literal["development", "test", "production"] = Field(
        "development", validation_alias=AliasChoices("LINJU_ENV")
    )
    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    db_pool_size: int = Field(10, validation_alias=AliasChoices("LINJU_DB_POOL_SIZE"))
    jwt_issuer: str = Field("linju", validation_alias=AliasChoices("LINJU_JWT_ISSUER"))
    jwt_audience: str = Field("linju-api", validation_alias=AliasChoices("LINJU_JWT_AUDIENCE"))
    # Where services fetch the gateway's public keys (gateway's loopback/internal address).
    jwks_url: str = Field(
        "http://127.0.0.1:8000/.well-known/jwks.json", validation_alias=AliasChoices("LINJU_JWKS_URL")
    )
    # An unknown kid triggers at most one JWKS refetch per this many seconds.
    jwks_refetch_interval_s: float = Field(60.0, validation_alias=AliasChoices("LINJU_JWKS_REFETCH_INTERVAL"))
    # Where services ask the gateway for service tokens (client_credentials as `service:<name>`).
    gateway_url: str = Field("http://127.0.0.1:8000", validation_alias=AliasChoices("LINJU_GATEWAY_URL"))
    # Shared by the gateway and the services inside the trust boundary; refused at its default
    # outside development.
    service_secret: str = Field(DEFAULT_SERVICE_SECRET, validation_alias=AliasChoices("LINJU_SERVICE_SECRET"))
    log_json: bool = Field(True, validation_alias=AliasChoices("LINJU_LOG_JSON"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("LINJU_LOG_LEVEL"))
    # Bearer token a scraper presents to GET /metrics (gateway) and GET /internal/prometheus (services).
    # Unset: the gateway answers loopback clients only, the (private) services anyone reaching them.
    metrics_token: str | None = Field(None, validation_alias=AliasChoices("LINJU_METRICS_TOKEN"))
    # Test stacks only: every "now" of this process is the instant written in this file
    # (services.common.timeutil). Refused unless LINJU_ENV=test.
    test_clock_file: Path | None = Field(None, validation_alias=AliasChoices("LINJU_TEST_CLOCK_FILE"))

    @model_validator(mode="after")
    def _no_default_secret_in_production(self) -> ServiceSettings:
        if self.env == "production" and self.service_secret == DEFAULT_SERVICE_SECRET:
            raise ValueError("LINJU_SERVICE_SECRET must be set outside development")
        return self

    @model_validator(mode="after")
    def _test_clock_in_tests_only(self) -> ServiceSettings:
        if self.test_clock_file is not None and self.env != "test":
            raise ValueError(
                f"LINJU_TEST_CLOCK_FILE sets the clock of test stacks only; it is refused with "
                f"LINJU_ENV={self.env}"
            )
        return self

    def install_clock(self) -> None:
        """Use the test clock when this is a test stack that names one (read once, at start-up)."""
        use_test_clock(self.test_clock_file)

    @model_validator(mode="after")
    def _require_database(self) -> ServiceSettings:
        if not self.database_url:
            raise ValueError(
                "DATABASE_URL is not set: start the stack with `linju up` (embedded PostgreSQL) "
                "or point DATABASE_URL at a PostgreSQL server"
            )
        return self

    @property
    def asyncpg_dsn(self) -> str:
        """The URL as plain asyncpg wants it (for LISTEN connections and COPY)."""
        return self.async_database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    @property
    def async_database_url(self) -> str:
        """The URL with the asyncpg driver, whatever scheme the operator wrote."""
        url = self.database_url or ""
        for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url
