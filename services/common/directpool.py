"""A service's small asyncpg pool for its hot paths (issue 7): one statement, no transaction.

The SQLAlchemy session costs, per request, a pool checkout with its pre-ping, a ``BEGIN`` and a
``COMMIT``: three round trips around the one that does the work, and more Python than the work
itself. Where a request is a single statement — a page read (the registry's site list), a create
whose row, audit row and change event are written by one statement
(:mod:`services.common.onewrite`) — it runs here instead, in autocommit: the statement is its own
transaction.

The pool has no pre-ping: a connection that died with a PostgreSQL restart fails its statement,
which :mod:`services.common.errors` answers with 503 (nothing was written), and asyncpg replaces
it on the next checkout. Connections are not reset on release: they never hold a transaction,
session settings or prepared state beyond asyncpg's statement cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from services.common.errors import database_unavailable

POOL_SIZE = 8


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Nothing to reset: the pool's connections run single statements in autocommit."""


def _clean_sql_error(exc: BaseException) -> bool:
    """An error the server reported for the statement itself (a constraint, bad data): the
    connection is fine. Not one of :func:`~services.common.errors.database_unavailable`'s."""
    return isinstance(exc, asyncpg.PostgresError) and not database_unavailable(exc)


class DirectPool:
    """An asyncpg pool opened on first use."""

    def __init__(self, dsn: str, *, name: str, size: int = POOL_SIZE) -> None:
        self._dsn = dsn
        self._name = name
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        self._dsn,
                        min_size=1,
                        max_size=self._size,
                        reset=_no_reset,
                        server_settings={"timezone": "UTC", "application_name": f"linju-{self._name}"},
                    )
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one statement. One that failed other than by a plain SQL error (its
        exchange broken or cut short: a restart, a cancelled request) is closed, not handed to the
        next request, which would find it mid-protocol (asyncpg's InternalClientError)."""
        pool = await self.pool()
        async with pool.acquire() as connection:
            try:
                yield connection
            except BaseException as exc:
                if not _clean_sql_error(exc):
                    connection.terminate()
                raise

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def direct_pool(app: FastAPI) -> DirectPool:
    """The service's direct pool (closed with the app: :func:`services.common.app.create_service_app`)."""
    pool: DirectPool | None = getattr(app.state, "direct_pool", None)
    if pool is None:
        pool = app.state.direct_pool = DirectPool(app.state.settings.asyncpg_dsn, name=app.state.service_name)
    return pool


async def close_direct_pool(app: FastAPI) -> None:
    pool: DirectPool | None = getattr(app.state, "direct_pool", None)
    if pool is not None:
        await pool.close()
