"""Every table of the registry schema (imported by migrations for autogenerate)."""

from services.registry.database import metadata
from services.registry.reference.models import Community, Street

__all__ = ["Community", "Street", "metadata"]
