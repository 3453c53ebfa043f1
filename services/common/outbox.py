"""The transactional outbox: every write leaves an event, numbered in commit order.

Each domain service owns ``<schema>.outbox``. A write buffers its events on the session
(:func:`emit`; audited writes emit through the audit writer, so CRUD code needs nothing), and
the events are inserted when the transaction commits, by a ``before_commit`` hook that first
takes a transaction-scoped advisory lock. The lock is held until the commit is visible, so

* positions (an identity column) are handed out in **commit order**: a transaction that
  commits later always gets larger positions than one that committed before it;
* a reader that saw position *p* has seen every position below *p* that will ever exist, so
  ``WHERE position > :cursor`` never skips an event, whatever order transactions started in.

A sequence number taken at insert time would not do: a long transaction that inserted early and
committed late would appear *behind* a cursor that had already moved past it. The price is that
the final step of concurrent writing transactions (insert the events, commit) is serialised;
that step is one INSERT (or, for events built in bulk with :func:`emit_records`, one COPY).

Gaps in positions are normal (a commit that failed after taking its numbers); a cursor is the
last position a reader has seen, never an event count.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    Select,
    String,
    Table,
    Uuid,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

from services.common.errors import ValidationFailed
from services.common.timeutil import utc_now

EVENT_COLUMNS = ("id", "type", "occurred_at", "object_type", "object_id", "site_id", "data")
_PENDING = "linju.outbox.pending"


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
        "outbox",
        metadata,
        Column("position", BigInteger, Identity(always=True), primary_key=True),
        Column("id", Uuid, nullable=False, unique=True),
        Column("type", String(64), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("object_type", String(64), nullable=False),
        Column("object_id", String(64), nullable=True),
        Column("site_id", Uuid, nullable=True),
        Column("data", JSONB, nullable=True),
    )
    Index("ix_outbox_site_id_position", table.c.site_id, table.c.position)
    return table


# ---- writing -----------------------------------------------------------------------------------------


@dataclass
class _Pending:
    rows: list[dict[str, Any]] = field(default_factory=list)
    selects: list[Select[Any]] = field(default_factory=list)
    records: list[tuple[Any, ...]] = field(default_factory=list)


def _pending(session: AsyncSession | Session, table: Table) -> _Pending:
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    buffers: dict[Table, _Pending] = sync.info.setdefault(_PENDING, {})
    return buffers.setdefault(table, _Pending())


def emit(
    session: AsyncSession | Session,
    table: Table,
    *,
    type: str,
    object_type: str,
    object_id: Any,
    site_id: uuid.UUID | str | None,
    data: Any,
) -> None:
    """Buffer one event; it is written, numbered, when ``session``'s transaction commits."""
    _pending(session, table).rows.append(
        event_row(type=type, object_type=object_type, object_id=object_id, site_id=site_id, data=data)
    )


def event_row(
    *, type: str, object_type: str, object_id: Any, site_id: uuid.UUID | str | None, data: Any
) -> dict[str, Any]:
    """One outbox row (every column but its position, which the database assigns)."""
    return {
        "id": uuid.uuid4(),
        "type": type,
        "occurred_at": utc_now(),
        "object_type": object_type,
        "object_id": str(object_id) if object_id is not None else None,
        "site_id": uuid.UUID(str(site_id)) if site_id else None,
        "data": data,
    }


def emit_from_select(session: AsyncSession | Session, table: Table, stmt: Select[Any]) -> None:
    """Buffer the events a SELECT produces (bulk writes): its columns are ``type, object_type,
    object_id, site_id, data, occurred_at`` in that order; ids are generated. Run at commit as
    ``INSERT INTO outbox … SELECT``, so it may read rows the transaction wrote (a staging table)."""
    _pending(session, table).selects.append(stmt)


def emit_records(session: AsyncSession | Session, table: Table, records: Sequence[tuple[Any, ...]]) -> None:
    """Buffer events built in bulk: tuples in :data:`EVENT_COLUMNS` order, ids included, ``data``
    as JSON text. Written at commit with one COPY (asyncpg), in this order."""
    _pending(session, table).records.extend(records)


def lock_key(table: Table) -> int:
    # A stable signed 32-bit key per outbox table (PostgreSQL advisory lock keys are bigint).
    return zlib.crc32(f"linju.outbox.{table.fullname}".encode()) - 2**31


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """Insert the buffered events under the commit-order lock (runs inside ``commit``)."""
    buffers: dict[Table, _Pending] | None = session.info.pop(_PENDING, None)
    if not buffers:
        return
    connection = session.connection()
    for table, pending in buffers.items():
        if not pending.rows and not pending.selects and not pending.records:
            continue
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(table)})
        if pending.rows:
            connection.execute(insert(table), pending.rows)
        if pending.records:
            _copy_records(connection, table, pending.records)
        for stmt in pending.selects:
            sub = stmt.subquery()
            columns = list(sub.c)
            connection.execute(
                insert(table).from_select(
                    ["id", "type", "object_type", "object_id", "site_id", "data", "occurred_at"],
                    select(func.gen_random_uuid(), *columns),
                )
            )


def _copy_records(connection: Connection, table: Table, records: list[tuple[Any, ...]]) -> None:
    """COPY the events on the transaction's own (asyncpg) connection. For 10,000 activity events
    PostgreSQL spends ~150 ms on this against ~270 ms on an ``INSERT … SELECT to_jsonb(…)``
    building them from the stored rows (bench/README.md, P5), and the commit lock is held as
    much shorter."""
    driver: Any = connection.connection.driver_connection
    # The before_commit hook runs inside AsyncSession.commit's greenlet: wait for the driver there.
    await_(
        driver.copy_records_to_table(
            table.name, schema_name=table.schema, records=records, columns=EVENT_COLUMNS
        )
    )


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


# ---- event types -------------------------------------------------------------------------------------

# Audit action verb → event verb (past tense). An action not listed is an update of the object.
_PAST = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "publish": "published",
    "close": "closed",
    "submit": "submitted",
    "return": "returned",
    "approve": "approved",
    "reject": "rejected",
    "accept": "accepted",
    "reopen": "reopened",
    "link": "linked",
    "unlink": "unlinked",
    "compute": "computed",
    "progress": "progressed",
    "complete": "completed",
    "verify": "verified",
    "set": "set",
    "tier": "tier_changed",
    "training": "created",
    "rectify_hazard": "hazard_rectified",
}


def event_type(action: str, object_type: str) -> str | None:
    """The event an audited action publishes (``site.tier`` → ``site.tier_changed``), or None for
    actions that change nothing (an unmasked read, ``…read_personal``)."""
    verb = action.split(".", 1)[1] if "." in action else action
    if verb.startswith("read"):
        return None
    return f"{object_type}.{_PAST.get(verb, 'updated')}"


Redactor = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def no_redaction(object_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)


# ---- reading -----------------------------------------------------------------------------------------

MAX_FEED_LIMIT = 1000


def parse_cursor(after: str | None) -> int:
    """A feed cursor is the last position seen, as a decimal string; absent = the beginning."""
    if after is None or after == "":
        return 0
    if not after.isdigit() or len(after) > 19:
        raise ValidationFailed("after", "not a cursor returned by this feed", message_zh="无效的变更游标")
    return int(after)


def event_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "cursor": str(row.position),
        "type": row.type,
        "occurred_at": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "object_type": row.object_type,
        "object_id": row.object_id,
        "site_id": str(row.site_id) if row.site_id else None,
        "data": row.data,
    }
