"""A create as one statement: the row, its audit row and its change event (issue 7, P4).

Through the session a create costs seven round trips — the checkout's pre-ping, ``BEGIN``, the
INSERT, the audit INSERT, the outbox's commit-order lock, the event INSERT, ``COMMIT`` — and more
Python in SQLAlchemy than in the rest of the request. Here the three rows are one statement::

    WITH created AS (INSERT INTO <table> (…) VALUES (…) RETURNING 1),
         audited AS (INSERT INTO <schema>.audit_log (…) VALUES (…) RETURNING 1),
         lock AS (SELECT pg_advisory_xact_lock($k) FROM created, audited)
    INSERT INTO <schema>.outbox (id, type, …) SELECT $…, … FROM lock

* **All or nothing.** Data-modifying CTEs run to completion whether the main query reads them
  or not, and one statement is one transaction: the row exists exactly when its audit row and
  its event do.
* **Commit order kept.** The event's INSERT reads its one row from ``lock``, so its position
  (an identity) is drawn after the outbox's advisory lock is held, and the lock is held until the
  statement's transaction commits — the guarantee :mod:`services.common.outbox` gives every
  other write (a reader's ``position > cursor`` never skips). ``lock`` reads from the two
  inserts, so they run before it is taken: concurrent creates are serialised only for the event
  INSERT and the commit (whose WAL flush, ~0.3–1 ms on a VM disk, caps creates per second at
  about one per flush; bench/README.md, P4).
* **Where it runs.** Alone it runs on the service's direct pool in autocommit
  (:mod:`services.common.directpool`): one round trip. When the request's session already holds
  a transaction — an ``Idempotency-Key``, whose stored answer must commit with the row — it runs
  as one statement inside that transaction.

Values are sent as typed parameters (``$n::<column type>``); JSON columns as text cast to JSON, so
the driver's codecs play no part and both paths store the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import AuditWriter, audit_values
from services.common.auth import Principal
from services.common.directpool import direct_pool
from services.common.outbox import EVENT_COLUMNS, event_row, lock_key

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _plain(value: Any) -> Any:
    """A parameter asyncpg encodes as the column's type: enums by value, lists element-wise."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


@dataclass(frozen=True)
class _Columns:
    """An INSERT's column list, its typed placeholders and the converter of each value."""

    names: tuple[str, ...]
    placeholders: str
    converters: tuple[Callable[[Any], Any], ...]

    @classmethod
    def of(cls, table: Table, names: Sequence[str], first: int) -> _Columns:
        placeholders, converters = [], []
        for offset, name in enumerate(names):
            column = table.c[name]
            n = first + offset
            if isinstance(column.type, JSON):  # JSONB is a JSON
                placeholders.append(f"${n}::text::{column.type.compile(dialect=_DIALECT)}")
                converters.append(_json_text)
            else:
                placeholders.append(f"${n}::{column.type.compile(dialect=_DIALECT)}")
                converters.append(_plain)
        return cls(tuple(names), ", ".join(placeholders), tuple(converters))

    def values(self, row: dict[str, Any]) -> list[Any]:
        return [convert(row[name]) for name, convert in zip(self.names, self.converters, strict=True)]


_LOCK = "lock AS (SELECT pg_advisory_xact_lock($1::bigint) FROM created, audited)"


def _insert(table: Table, columns: _Columns, source: str) -> str:
    """``INSERT INTO table (…) VALUES (…)`` or ``… SELECT …``: identifiers from our own table
    definitions, every value a parameter."""
    names = ", ".join(columns.names)
    if source == "VALUES":
        return f"INSERT INTO {table.fullname} ({names}) VALUES ({columns.placeholders}) RETURNING 1"  # noqa: S608
    return f"INSERT INTO {table.fullname} ({names}) SELECT {columns.placeholders}"


class CreateStatement:
    """The one statement that creates a row of ``target`` with its audit row and event."""

    def __init__(self, target: Table, writer: AuditWriter) -> None:
        if writer.outbox is None:
            raise ValueError("a one-statement create needs the writer's outbox")
        self.writer = writer
        self.lock_key = lock_key(writer.outbox)
        # $1 is the lock key, then the row's columns, the audit row's and the event's.
        self.target = _Columns.of(target, [c.key for c in target.columns], 2)
        first = 2 + len(self.target.names)
        self.audit = _Columns.of(writer.table, [c.key for c in writer.table.columns], first)
        self.event = _Columns.of(writer.outbox, EVENT_COLUMNS, first + len(self.audit.names))
        self.sql = " ".join(
            (
                f"WITH created AS ({_insert(target, self.target, 'VALUES')})",
                f", audited AS ({_insert(writer.table, self.audit, 'VALUES')})",
                f", {_LOCK}",
                _insert(writer.outbox, self.event, "SELECT"),
                "FROM lock",
            )
        )

    def arguments(
        self,
        request: Request,
        actor: Principal,
        object_type: str,
        row: dict[str, Any],
        snapshot: dict[str, Any],
    ) -> list[Any]:
        """``row``: the complete new row (every column); ``snapshot``: the same, JSON-ready."""
        action = f"{object_type}.create"
        audit = audit_values(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=row["id"],
            after=snapshot,
            request=request,
        )
        change = self.writer.change(action, object_type, row["id"], None, snapshot)
        assert change is not None  # a create always publishes
        event = event_row(**change)
        return [
            self.lock_key,
            *self.target.values(row),
            *self.audit.values(audit),
            *self.event.values(event),
        ]

    async def execute(self, session: AsyncSession, request: Request, arguments: list[Any]) -> None:
        """Alone on the direct pool, or inside the session's transaction if it has begun one."""
        if _in_database_transaction(session):
            connection = await session.connection()
            await connection.exec_driver_sql(self.sql, tuple(arguments))
            return
        async with direct_pool(request.app).connection() as connection:
            await connection.execute(self.sql, *arguments)


def _in_database_transaction(session: AsyncSession) -> bool:
    """Whether the session's transaction has begun on the database (the request's session begins
    with its first statement; an Idempotency-Key's lock is one)."""
    transaction = session.sync_session.get_transaction()
    if transaction is None:
        return False
    # SQLAlchemy keeps a transaction's connections in a private mapping; were it ever renamed,
    # run inside the session (always correct, only slower).
    connections = getattr(transaction, "_connections", None)
    return connections is None or bool(connections)
