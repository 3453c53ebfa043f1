from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class EvaluationSettings(ServiceSettings):
    """Evaluation settings; env prefix ``LINJU_EVALUATION_``."""

    model_config = SettingsConfigDict(env_prefix="LINJU_EVALUATION_", extra="ignore", populate_by_name=True)

    registry_url: str = "http://127.0.0.1:8001"
    activities_url: str = "http://127.0.0.1:8002"
