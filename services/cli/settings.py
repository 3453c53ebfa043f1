from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

_REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def _default_migrations_dir() -> Path:
    # A source checkout (or editable install) has them beside services/; an image installed with
    # `pip install .` runs from a folder that holds migrations/ (see the Dockerfile).
    return _REPO_MIGRATIONS if _REPO_MIGRATIONS.is_dir() else Path.cwd() / "migrations"


class CliSettings(BaseSettings):
    """What the `linju` command reads from the environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str | None = Field(None, validation_alias=AliasChoices("DATABASE_URL"))
    migrations_dir: Path = Field(
        default_factory=_default_migrations_dir, validation_alias=AliasChoices("LINJU_MIGRATIONS_DIR")
    )
