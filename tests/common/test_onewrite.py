"""The one-statement create (services/common/onewrite.py, issue 7 P4): row, audit row and event
together or not at all, and the choice between running alone and inside the request's session.

The end-to-end behaviour (the answer, the audit row, the event, commit order under 20 concurrent
writers, Idempotency-Key replays) is tested through the gateway in tests/activities and
tests/changes; these tests pin what those cannot reach."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
from sqlalchemy import text
from starlette.requests import Request

from services.activities.activities.models import Activity
from services.activities.records import audit, row_values
from services.common.auth import Principal
from services.common.db import create_engine, make_sessionmaker
from services.common.onewrite import CreateStatement, _in_database_transaction
from services.common.settings import ServiceSettings
from services.common.timeutil import utc_now
from tests.conftest import RunningStack


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/activities", "headers": [], "client": None})


def _principal() -> Principal:
    return Principal(sub=str(uuid.uuid4()), role="district", street_id=None, organization_id=None, sites=None)


def _row(**changes: Any) -> dict[str, Any]:
    now = utc_now()
    values = {
        "site_id": uuid.uuid4(),
        "category": "elderly",
        "title": "一条测试活动",
        "starts_at": now - dt.timedelta(hours=2),
        "ends_at": now - dt.timedelta(hours=1),
        **changes,
    }
    return row_values(Activity.__table__, values, "tester")  # type: ignore[arg-type]


async def _counts(dsn: str, object_id: uuid.UUID) -> tuple[int, int, int]:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT count(*) FROM activities.activities WHERE id = $1) AS rows, "
            "(SELECT count(*) FROM activities.audit_log WHERE object_id = $1::text) AS audits, "
            "(SELECT count(*) FROM activities.outbox WHERE object_id = $1::text) AS events",
            object_id,
        )
        assert row is not None
        return row["rows"], row["audits"], row["events"]
    finally:
        await connection.close()


def _dsn(stack: RunningStack) -> str:
    return ServiceSettings(database_url=stack.database_url).asyncpg_dsn


def test_the_statement_writes_row_audit_and_event_or_nothing(stack: RunningStack) -> None:
    statement = CreateStatement(Activity.__table__, audit)  # type: ignore[arg-type]
    dsn = _dsn(stack)

    async def run(row: dict[str, Any]) -> None:
        snapshot = {key: (str(v) if isinstance(v, uuid.UUID | dt.datetime) else v) for key, v in row.items()}
        arguments = statement.arguments(_request(), _principal(), "activity", row, snapshot)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement.sql, *arguments)
        finally:
            await connection.close()

    good = _row(attendance=12)
    asyncio.run(run(good))
    assert asyncio.run(_counts(dsn, good["id"])) == (1, 1, 1)

    # The row breaks a CHECK constraint: its audit row and event, written by the same statement
    # (the event first, under the outbox lock), must not survive it.
    bad = _row(attendance=-1)
    try:
        asyncio.run(run(bad))
    except asyncpg.CheckViolationError:
        pass
    else:
        raise AssertionError("a negative attendance was stored")
    assert asyncio.run(_counts(dsn, bad["id"])) == (0, 0, 0)


def test_an_unused_session_runs_alone_and_a_used_one_inside(stack: RunningStack) -> None:
    """The request's session begins with its first statement: before it the create runs alone on
    the direct pool; after it (an Idempotency-Key's lock) inside that transaction. An explicitly
    begun session counts as begun only once it has run a statement. This pins the SQLAlchemy
    internals the choice reads, so an upgrade that changes them fails here."""

    async def scenario() -> list[bool]:
        engine = create_engine(ServiceSettings(database_url=stack.database_url).async_database_url)
        seen = []
        try:
            async with make_sessionmaker(engine)() as session:
                seen.append(_in_database_transaction(session))
                await session.execute(text("SELECT 1"))
                seen.append(_in_database_transaction(session))
            async with make_sessionmaker(engine)() as session, session.begin():
                seen.append(_in_database_transaction(session))
                await session.execute(text("SELECT 1"))
                seen.append(_in_database_transaction(session))
            return seen
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == [False, True, False, True]
