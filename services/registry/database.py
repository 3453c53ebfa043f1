"""The registry's schema (``registry``): the declarative base shared by its domains."""

from __future__ import annotations

import datetime as dt

from services.common.app import ServiceTables
from services.common.db import make_base

Base = make_base("registry")
metadata = Base.metadata
tables = ServiceTables(metadata)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
