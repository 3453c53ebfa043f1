"""What every service's migration environment does; each `<service>/env.py` calls :func:`run`.

Each lineage lives in its own schema with its own ``alembic_version`` table, so
the four services migrate independently.
"""

from __future__ import annotations

import asyncio
import importlib
import os

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def _url() -> str:
    url = context.config.attributes.get("database_url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def _configure(connection: Connection, schema: str) -> None:
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    metadata = importlib.import_module(f"services.{schema}.models").metadata
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, parent: type_ != "schema" or name == schema,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(schema: str) -> None:
    engine = create_async_engine(_url())
    try:
        # One transaction for the whole upgrade of the lineage: Alembic sees it already open and
        # opens none per migration, so a migration that raises (migrations/checks.py) leaves
        # nothing of the run behind.
        async with engine.begin() as connection:
            await connection.run_sync(_configure, schema)
    finally:
        await engine.dispose()


def run(schema: str) -> None:
    if context.is_offline_mode():
        context.configure(url=_url(), version_table_schema=schema, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection, schema)
    else:
        asyncio.run(_run_async(schema))
