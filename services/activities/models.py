"""Every table of the activities schema (imported by migrations for autogenerate)."""

from services.activities.database import metadata

__all__ = ["metadata"]
