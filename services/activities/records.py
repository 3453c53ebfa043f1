"""The rules every site-bound log record shares, written once.

Each resource (activities, cases, visits …) is a :class:`RecordKind`; these
functions list, read, create, update and delete its rows with the same scope
policy (:mod:`services.activities.scope`), optimistic concurrency (ETag /
If-Match), and audit trail. Domains add only their own rules and schemas.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import ColumnDefault

from services.activities import redaction
from services.activities.database import tables
from services.activities.scope import ensure_can_write_site, site_clause
from services.common.audit import audit_writer, json_ready
from services.common.auth import Principal
from services.common.db import one_in_scope
from services.common.errors import NotFound, define_titles
from services.common.etag import require_if_match
from services.common.onewrite import CreateStatement
from services.common.pagination import PageParams, keyset_page
from services.common.timeutil import IsoDate, shanghai_midnight, utc_now

M = TypeVar("M")


@dataclass(frozen=True)
class RecordKind(Generic[M]):
    model: type[M]
    object_type: str  # "activity", "case" … (audit log, error codes)
    label_en: str
    label_zh: str
    # The column `from`/`to` filters and list order use (a date or a timestamp).
    date_column: str

    def __post_init__(self) -> None:
        title = (f"{self.label_en.capitalize()} not found", f"{self.label_zh}不存在")
        define_titles({self.not_found_code: title}, default=True)

    @property
    def not_found_code(self) -> str:
        return f"{self.object_type}_not_found"

    def not_found(self) -> NotFound:
        return NotFound(
            f"No {self.label_en} with this id.",
            detail_zh=f"{self.label_zh}不存在。",
            code=self.not_found_code,
        )

    def column(self, name: str) -> Any:
        return getattr(self.model, name)


def snapshot(row: Any) -> dict[str, Any]:
    """The row's columns as JSON-ready data (for audit before/after)."""
    table = row.__table__
    return jsonable_encoder({c.key: getattr(row, c.key) for c in table.columns})


audit = audit_writer(tables.audit, outbox=tables.outbox, redact=redaction.redact)


# The `from`/`to` list filters every log resource takes (inclusive business dates, Asia/Shanghai).
DateFrom = Annotated[IsoDate | None, Query(alias="from", description="Inclusive start date")]
DateTo = Annotated[IsoDate | None, Query(alias="to", description="Inclusive end date")]


def period_filters(kind: RecordKind[Any], date_from: dt.date | None, date_to: dt.date | None) -> list[Any]:
    """``from``/``to`` (inclusive business dates) on the kind's date column."""
    column = kind.column(kind.date_column)
    filters: list[Any] = []
    is_timestamp = getattr(column.type, "timezone", False)
    # The first and last representable days bound nothing (and 0001-01-01 00:00 in Shanghai is
    # before year 1 in UTC, 9999-12-31 has no next day): they mean "no bound", not a 500.
    if date_from is not None and date_from > dt.date.min:
        filters.append(column >= (shanghai_midnight(date_from) if is_timestamp else date_from))
    if date_to is not None and date_to < dt.date.max:
        filters.append(
            column < shanghai_midnight(date_to + dt.timedelta(days=1)) if is_timestamp else column <= date_to
        )
    return filters


async def list_records(
    session: AsyncSession,
    principal: Principal,
    kind: RecordKind[M],
    page: PageParams,
    filters: Sequence[ColumnElement[bool] | Any] = (),
) -> tuple[list[M], str | None]:
    model: Any = kind.model
    stmt = select(model).where(site_clause(principal, model.site_id), *filters)
    order = [kind.column(kind.date_column), model.id]
    return await keyset_page(session, stmt, order, page)


async def get_record(
    session: AsyncSession,
    principal: Principal,
    kind: RecordKind[M],
    record_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> M:
    model: Any = kind.model
    row: M = await one_in_scope(
        session,
        model,
        record_id,
        site_clause(principal, model.site_id),
        kind.not_found(),
        for_update=for_update,
    )
    return row


async def create_record(
    session: AsyncSession, request: Request, principal: Principal, kind: RecordKind[M], values: dict[str, Any]
) -> M:
    await ensure_can_write_site(request, principal, values["site_id"])
    model: Any = kind.model
    row = model(**values, created_by=principal.sub)
    session.add(row)
    await session.flush()
    await audit(
        session,
        request,
        principal,
        f"{kind.object_type}.create",
        kind.object_type,
        row.id,
        after=snapshot(row),
    )
    return row  # type: ignore[no-any-return]


def row_values(table: Table, values: dict[str, Any], created_by: str) -> dict[str, Any]:
    """A complete new row: ``values``, the bookkeeping columns, and every other column's default
    (what the ORM would fill in at flush), in the table's column order."""
    now = utc_now()
    given = {**values, "created_by": created_by}
    given.setdefault("id", uuid.uuid4())
    given.setdefault("version", 1)
    given.setdefault("created_at", now)
    given.setdefault("updated_at", now)
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.key in given:
            row[column.key] = given[column.key]
        elif isinstance(column.default, ColumnDefault):
            default = column.default
            row[column.key] = default.arg if default.is_scalar else default.arg(None)  # type: ignore[operator]
        else:
            row[column.key] = None
    return row


_CREATE_STATEMENTS: dict[Table, CreateStatement] = {}


async def insert_record(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    kind: RecordKind[Any],
    values: dict[str, Any],
) -> dict[str, Any]:
    """:func:`create_record` without the ORM, for the hot create paths (issue 7, P4): the complete
    row (defaults filled in here, so nothing needs reading back), its audit row and its change
    event written by one statement (:mod:`services.common.onewrite`). Returns the stored row as a
    dict (the columns the resource's read model validates from)."""
    await ensure_can_write_site(request, principal, values["site_id"])
    table: Table = kind.model.__table__  # type: ignore[attr-defined]
    statement = _CREATE_STATEMENTS.get(table)
    if statement is None:
        statement = _CREATE_STATEMENTS[table] = CreateStatement(table, audit)
    row = row_values(table, values, principal.sub)
    snapshot = {key: json_ready(value) for key, value in row.items()}
    await statement.execute(
        session, request, statement.arguments(request, principal, kind.object_type, row, snapshot)
    )
    return row


async def load_for_write(
    session: AsyncSession, request: Request, principal: Principal, kind: RecordKind[M], record_id: uuid.UUID
) -> M:
    """The row, locked, after the caller proved it may write for its site and sent a current If-Match."""
    row: Any = await get_record(session, principal, kind, record_id, for_update=True)
    await ensure_can_write_site(request, principal, row.site_id)
    require_if_match(request, row.id, row.version)
    return row  # type: ignore[no-any-return]


async def update_record(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    kind: RecordKind[M],
    record_id: uuid.UUID,
    changes: dict[str, Any],
) -> M:
    row: Any = await load_for_write(session, request, principal, kind, record_id)
    before = snapshot(row)
    for key, value in changes.items():
        setattr(row, key, value)
    row.version += 1
    row.updated_at = utc_now()
    await session.flush()
    await audit(
        session,
        request,
        principal,
        f"{kind.object_type}.update",
        kind.object_type,
        row.id,
        before=before,
        after=snapshot(row),
    )
    return row  # type: ignore[no-any-return]


async def delete_record(
    session: AsyncSession, request: Request, principal: Principal, kind: RecordKind[M], record_id: uuid.UUID
) -> None:
    row: Any = await load_for_write(session, request, principal, kind, record_id)
    before = snapshot(row)
    await session.delete(row)
    await session.flush()
    await audit(
        session, request, principal, f"{kind.object_type}.delete", kind.object_type, record_id, before=before
    )
