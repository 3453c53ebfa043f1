from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ActivitiesSettings(ServiceSettings):
    """Activities settings; env prefix ``LINJU_ACTIVITIES_``."""

    model_config = SettingsConfigDict(env_prefix="LINJU_ACTIVITIES_", extra="ignore", populate_by_name=True)
