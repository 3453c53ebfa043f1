from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ActivitiesSettings(ServiceSettings):
    """Activities settings; env prefix ``LINJU_ACTIVITIES_``."""

    model_config = SettingsConfigDict(env_prefix="LINJU_ACTIVITIES_", extra="ignore", populate_by_name=True)

    registry_url: str = "http://127.0.0.1:8001"
    # Keys the hash that recognises a returning client's ID number without storing it.
    personal_data_key: str = "dev-only-personal-data-key"
