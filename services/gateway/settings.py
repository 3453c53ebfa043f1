from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Gateway settings; env prefix ``LINJU_GATEWAY_`` (e.g. ``LINJU_GATEWAY_REGISTRY_URL``)."""

    model_config = SettingsConfigDict(env_prefix="LINJU_GATEWAY_", extra="ignore", populate_by_name=True)

    registry_url: str = "http://127.0.0.1:8001"
    activities_url: str = "http://127.0.0.1:8002"
    evaluation_url: str = "http://127.0.0.1:8003"
    access_token_ttl_s: int = Field(600, le=900)
    refresh_token_ttl_s: int = 14 * 24 * 3600
    # A client that retries the same refresh (lost response) within this window gets a fresh pair
    # from the same family instead of tripping reuse detection.
    refresh_reuse_grace_s: int = 10
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 20
    login_window_s: int = 15 * 60
    max_body_bytes: int = 1024 * 1024
    max_batch_body_bytes: int = 16 * 1024 * 1024
    upstream_timeout_s: float = 10.0
    upstream_slow_timeout_s: float = 60.0
    # Request headers (all name/value lines) over this many bytes → 431.
    max_header_bytes: int = Field(16 * 1024, ge=1024)
    # Per-principal budgets of the expensive routes (proxy/policy.py `rate_limit`), requests per
    # minute with a burst of the same size; 0 turns a budget off. Counted per gateway process.
    rate_limit_exports_per_min: int = Field(30, ge=0)
    rate_limit_score_writes_per_min: int = Field(60, ge=0)
    rate_limit_batches_per_min: int = Field(30, ge=0)

    # Webhooks (services/gateway/webhooks). Comma-separated hosts and CIDRs a webhook may point at
    # although they are private/loopback/link-local (e.g. "127.0.0.1/32,hooks.internal"); empty
    # means only public addresses.
    webhook_allowed_hosts: str = Field("", validation_alias=AliasChoices("LINJU_WEBHOOK_ALLOWED_HOSTS"))
    # A failed delivery is retried after base, 2×base, 4×base … (capped, jittered) until this many
    # seconds after its first attempt; then it is marked failed.
    webhook_backoff_base_s: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("LINJU_WEBHOOK_BACKOFF_BASE_S")
    )
    webhook_backoff_max_s: float = Field(
        3600.0, gt=0, validation_alias=AliasChoices("LINJU_WEBHOOK_BACKOFF_MAX_S")
    )
    webhook_retry_window_s: float = Field(
        24 * 3600.0, gt=0, validation_alias=AliasChoices("LINJU_WEBHOOK_RETRY_WINDOW_S")
    )
    webhook_timeout_s: float = Field(10.0, gt=0, validation_alias=AliasChoices("LINJU_WEBHOOK_TIMEOUT_S"))
    # How often the dispatcher polls each service's change feed when it is idle.
    webhook_poll_interval_s: float = Field(
        1.0, gt=0, validation_alias=AliasChoices("LINJU_WEBHOOK_POLL_INTERVAL_S")
    )
    # Deliveries attempted at the same time by one dispatcher process.
    webhook_concurrency: int = Field(
        8, ge=1, le=100, validation_alias=AliasChoices("LINJU_WEBHOOK_CONCURRENCY")
    )

    def upstreams(self) -> dict[str, str]:
        return {
            "registry": self.registry_url,
            "activities": self.activities_url,
            "evaluation": self.evaluation_url,
        }

    def rate_limits(self) -> dict[str, int]:
        return {
            "exports": self.rate_limit_exports_per_min,
            "score_writes": self.rate_limit_score_writes_per_min,
            "batches": self.rate_limit_batches_per_min,
        }
