from __future__ import annotations

from pydantic import Field
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

    def upstreams(self) -> dict[str, str]:
        return {
            "registry": self.registry_url,
            "activities": self.activities_url,
            "evaluation": self.evaluation_url,
        }
