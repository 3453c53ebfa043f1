"""Database plumbing: one async engine per process, one transaction per request.

The request's session (:data:`DbSession`) is opened per request; its transaction begins with
its first statement, commits when the handler returned normally and rolls back on any
exception. The dependency uses
FastAPI's ``scope="function"`` so the commit happens *before* the response is
sent: a failed commit becomes an error response, never a 201 for lost data.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def create_engine(url: str, *, pool_size: int = 10, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Pre-ping costs round trips on every checkout (bench/README.md, P4), but without it the
        # first request on each connection that died with a PostgreSQL restart fails.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"server_settings": {"timezone": "UTC", "application_name": "linju"}},
        **kwargs,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


# Fault injection for the resilience tests only (LINJU_ENV=test): ``X-Linju-Fault: exit-after-commit``
# makes the process die right after the request's transaction committed, before it answers.
_FAULTS = os.environ.get("LINJU_ENV") == "test"


async def _session_dependency(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    # The transaction begins with the first statement (SQLAlchemy's autobegin), so a request that
    # never touches the session (a one-statement create, services.common.onewrite) pays nothing
    # for it. An exception from the handler leaves the block: the session closes and rolls back.
    async with sessionmaker() as session:
        request.state.db = session
        yield session
        if session.in_transaction():
            await session.commit()
    if _FAULTS and request.headers.get("x-linju-fault") == "exit-after-commit":
        os._exit(137)


async def one_in_scope(
    session: AsyncSession,
    model: type[T],
    object_id: Any,
    scope: ColumnElement[bool],
    not_found: Exception,
    *,
    for_update: bool = False,
) -> T:
    """The object with this id if ``scope`` (a policy's WHERE clause) admits it, else ``not_found``:
    a missing object and one outside the caller's scope look exactly alike (404, never 403)."""
    model_: Any = model
    stmt = select(model_).where(model_.id == object_id, scope)
    if for_update:
        stmt = stmt.with_for_update()
    row = await session.scalar(stmt)
    if row is None:
        raise not_found
    return row  # type: ignore[no-any-return]


DbSession = Annotated[AsyncSession, Depends(_session_dependency, scope="function")]
