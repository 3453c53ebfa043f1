"""Every table of the evaluation schema (imported by migrations for autogenerate)."""

from services.evaluation.database import metadata

__all__ = ["metadata"]
