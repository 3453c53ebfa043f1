"""The evaluation service's schema (``evaluation``): the declarative base shared by its domains."""

from __future__ import annotations

from services.common.app import ServiceTables
from services.common.db import make_base

Base = make_base("evaluation")
metadata = Base.metadata
tables = ServiceTables(metadata)
