"""The activities service's schema (``activities``): the declarative base shared by its domains."""

from __future__ import annotations

from services.common.app import ServiceTables
from services.common.db import make_base

Base = make_base("activities")
metadata = Base.metadata
tables = ServiceTables(metadata)
