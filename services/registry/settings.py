from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    """Registry settings; env prefix ``LINJU_REGISTRY_``."""

    model_config = SettingsConfigDict(env_prefix="LINJU_REGISTRY_", extra="ignore", populate_by_name=True)
