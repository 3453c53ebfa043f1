"""Batch ingest (SPEC §5, issue 4): up to 10,000 records of one kind, all or nothing.

For district data platforms and offline mobile clients. A batch is NDJSON (one record per line)
or a JSON array; each record is exactly the POST body of its resource and is validated by the
same schema. Every problem of every record is reported at once — line number (NDJSON line, or
array index + 1), field and message — and then nothing is written. A valid batch is written in
the request's single transaction, set-based: the rows are COPYed into a temporary staging table,
checked there with SQL where a rule needs the stored data (a volunteer's hours per day), and
moved into the real table with one ``INSERT … SELECT``; kinds without such rules are COPYed
straight into their table. One audit row records the batch, and each record publishes its
``<kind>.created`` event (built in Python while the COPY runs, where the kind allows).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import ColumnDefault, CreateTable
from starlette.responses import Response

from services.activities import records, redaction
from services.activities.activities.models import Activity
from services.activities.batch.schemas import MAX_RECORDS, BatchKind, RecordError
from services.activities.database import tables
from services.activities.scope import site_clause
from services.activities.volunteers.models import Volunteer, VolunteerHours
from services.common.audit import json_ready, record_audit
from services.common.auth import Principal
from services.common.errors import AppError, ValidationFailed, define_titles
from services.common.outbox import emit, emit_from_select, emit_records
from services.common.timeutil import utc_now

define_titles(
    {
        "batch_invalid": ("Some records of the batch are invalid", "批量数据中有记录无效"),
        "batch_too_large": ("Too many records in one batch", "单批记录数过多"),
        "batch_content_type": ("Unsupported batch format", "不支持的批量数据格式"),
    }
)

NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl"})
JSON_TYPE = "application/json"
# A batch with thousands of bad records would answer with megabytes of errors; the first ones suffice.
MAX_REPORTED_ERRORS = 1000
# A rule checked with SQL on the staged rows (it may complete them, e.g. a site taken from the
# volunteer); it returns the records that break it.
StagedCheck = Callable[[AsyncSession, Principal, Table], Awaitable[list[RecordError]]]


@dataclass(frozen=True)
class KindSpec:
    kind: BatchKind
    model: Any  # the ORM model the records become
    object_type: str  # as in the resource's own audit rows: "activity", "visit" …
    adapter: TypeAdapter[list[Any]]  # the resource's Create schema, over the whole list
    # Column values of one validated record (what the resource's own create would store).
    values: Callable[[Any, Request], dict[str, Any]]
    checks: tuple[StagedCheck, ...] = ()
    # A faster check of plainly valid records giving their stored values directly (or None, and
    # the schema decides); the columns its tuples hold.
    plain_rows: Callable[[list[Any], dt.datetime], list[tuple[Any, ...]] | None] | None = None
    plain_columns: tuple[str, ...] = ()


def _dump(body: BaseModel, _request: Request) -> dict[str, Any]:
    return body.model_dump()


def _spec(
    kind: BatchKind,
    record_kind: records.RecordKind[Any],
    schema: type[BaseModel],
    values: Callable[[Any, Request], dict[str, Any]] = _dump,
    checks: tuple[StagedCheck, ...] = (),
) -> KindSpec:
    adapter: TypeAdapter[list[Any]] = TypeAdapter(list[schema])  # type: ignore[valid-type]
    return KindSpec(kind, record_kind.model, record_kind.object_type, adapter, values, checks)


# Each kind's schemas belong to its own domain and are imported only when a batch of that kind
# arrives, so this module never depends on the import order of the domains.


def _activities() -> KindSpec:
    from services.activities.activities import ingest as fast
    from services.activities.activities.schemas import ActivityCreate
    from services.activities.activities.service import ACTIVITIES, activity_values

    spec = _spec(BatchKind.ACTIVITIES, ACTIVITIES, ActivityCreate, lambda body, _r: activity_values(body))
    return dataclasses.replace(spec, plain_rows=fast.plain_rows, plain_columns=fast.COLUMNS)


def _deliberations() -> KindSpec:
    from services.activities.deliberations.schemas import DeliberationCreate
    from services.activities.deliberations.service import DELIBERATIONS

    return _spec(BatchKind.DELIBERATIONS, DELIBERATIONS, DeliberationCreate)


def _safety_trainings() -> KindSpec:
    from services.activities.safety.schemas import SafetyTrainingCreate
    from services.activities.safety.service import SAFETY_TRAININGS

    return _spec(BatchKind.SAFETY_TRAININGS, SAFETY_TRAININGS, SafetyTrainingCreate)


def _visits() -> KindSpec:
    from services.activities.visits.schemas import VisitCreate
    from services.activities.visits.service import VISITS
    from services.activities.visits.service import stored_values as stored_visit  # ID number → masked form

    return _spec(BatchKind.VISITS, VISITS, VisitCreate, lambda body, _r: stored_visit(body.model_dump()))


def _volunteer_hours() -> KindSpec:
    from services.activities.volunteers.schemas import VolunteerHoursCreate
    from services.activities.volunteers.service import VOLUNTEER_HOURS

    # The record names no site: like a single POST, it takes the volunteer's.
    return _spec(
        BatchKind.VOLUNTEER_HOURS,
        VOLUNTEER_HOURS,
        VolunteerHoursCreate,
        checks=(_site_of_the_volunteer, _activity_of_the_site, _volunteer_day_within_24h),
    )


_BUILDERS: dict[BatchKind, Callable[[], KindSpec]] = {
    BatchKind.ACTIVITIES: _activities,
    BatchKind.VISITS: _visits,
    BatchKind.VOLUNTEER_HOURS: _volunteer_hours,
    BatchKind.DELIBERATIONS: _deliberations,
    BatchKind.SAFETY_TRAININGS: _safety_trainings,
}


@functools.cache
def kind_spec(kind: BatchKind) -> KindSpec:
    try:
        return _BUILDERS[kind]()
    except ImportError as exc:  # a domain not deployed yet
        raise AppError(
            f"Batches of kind '{kind}' are not available yet.",
            detail_zh=f"暂不支持批量导入“{kind}”。",
            code="batch_kind_unavailable",
            status=501,
        ) from exc


# ---- volunteer hours: rules that need the stored rows -------------------------------------------


async def _site_of_the_volunteer(
    session: AsyncSession, principal: Principal, staging: Table
) -> list[RecordError]:
    """Each volunteer must be on the roster of a site the caller may write for (for the writing
    roles the readable sites are the writable ones); the record takes that site."""
    roster = Volunteer.__table__
    await session.execute(
        update(staging)
        .where(roster.c.id == staging.c.volunteer_id, site_clause(principal, roster.c.site_id))
        .values(site_id=roster.c.site_id)
    )
    result = await session.execute(
        select(staging.c.batch_line).where(staging.c.site_id.is_(None)).order_by(staging.c.batch_line)
    )
    return [
        RecordError(
            line=line, field="volunteer_id", message="no volunteer with this id at a site you may write for"
        )
        for line in result.scalars()
    ]


async def _activity_of_the_site(
    session: AsyncSession, _principal: Principal, staging: Table
) -> list[RecordError]:
    """An activity served at must be one of the volunteer's site."""
    activities = Activity.__table__
    same_site = exists().where(
        activities.c.id == staging.c.activity_id, activities.c.site_id == staging.c.site_id
    )
    result = await session.execute(
        select(staging.c.batch_line)
        .where(staging.c.activity_id.is_not(None), staging.c.site_id.is_not(None), ~same_site)
        .order_by(staging.c.batch_line)
    )
    return [
        RecordError(
            line=line, field="activity_id", message="no activity with this id at the volunteer's site"
        )
        for line in result.scalars()
    ]


async def _volunteer_day_within_24h(
    session: AsyncSession, _principal: Principal, staging: Table
) -> list[RecordError]:
    """A volunteer serves at most 24 h a day, counting the hours already stored (issue 4).

    The running total per volunteer and day (stored hours first, then the batch in line order)
    names every line that takes the day past 24 h. The volunteers are locked first, so a
    concurrent single write for the same volunteer waits for this batch."""
    roster = Volunteer.__table__
    hours = VolunteerHours.__table__
    await session.execute(
        select(roster.c.id)
        .where(roster.c.id.in_(select(staging.c.volunteer_id)))
        .order_by(roster.c.id)
        .with_for_update()
    )
    stored = (
        select(hours.c.volunteer_id, hours.c.date, func.sum(hours.c.hours).label("hours"))
        .where(tuple_(hours.c.volunteer_id, hours.c.date).in_(select(staging.c.volunteer_id, staging.c.date)))
        .group_by(hours.c.volunteer_id, hours.c.date)
        .cte("stored")
    )
    day_total = func.coalesce(stored.c.hours, 0) + func.sum(staging.c.hours).over(
        partition_by=(staging.c.volunteer_id, staging.c.date), order_by=staging.c.batch_line
    )
    running = (
        select(staging.c.batch_line, staging.c.date, day_total.label("total"))
        .select_from(
            staging.outerjoin(
                stored, and_(stored.c.volunteer_id == staging.c.volunteer_id, stored.c.date == staging.c.date)
            )
        )
        .where(staging.c.site_id.is_not(None))  # unknown volunteers are reported already
        .cte("running")
    )
    result = await session.execute(
        select(running.c.batch_line, running.c.date, running.c.total)
        .where(running.c.total > 24)
        .order_by(running.c.batch_line)
    )
    return [
        RecordError(
            line=line,
            field="hours",
            message=f"takes the volunteer's hours on {day.isoformat()} to {total} (at most 24 a day)",
        )
        for line, day, total in result
    ]


# ---- parsing --------------------------------------------------------------------------------------


@dataclass
class ParsedBatch:
    lines: list[int]  # line number of each parsed record
    records: list[Any]
    errors: list[RecordError]

    @property
    def size(self) -> int:
        return len(self.records) + len(self.errors)


def _too_large(count: int) -> AppError:
    return AppError(
        f"A batch holds at most {MAX_RECORDS} records; this one has {count}. Split it.",
        detail_zh=f"单批最多 {MAX_RECORDS} 条记录,本批 {count} 条,请拆分后提交。",
        code="batch_too_large",
        status=413,
        max_records=MAX_RECORDS,
    )


def parse_batch(content_type: str, body: bytes) -> ParsedBatch:
    """NDJSON (blank lines skipped, line numbers kept) or a JSON array."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in NDJSON_TYPES:
        numbered = [(number, line) for number, line in enumerate(body.split(b"\n"), start=1) if line.strip()]
        if len(numbered) > MAX_RECORDS:
            raise _too_large(len(numbered))
        parsed = ParsedBatch([], [], [])
        loads, records, lines = orjson.loads, parsed.records, parsed.lines
        for number, line in numbered:
            try:
                records.append(loads(line))
                lines.append(number)
            except orjson.JSONDecodeError:
                parsed.errors.append(RecordError(line=number, field="", message="not valid JSON"))
    elif media_type == JSON_TYPE:
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ValidationFailed("body", "not valid JSON", message_zh="JSON 格式错误") from None
        if not isinstance(items, list):
            raise ValidationFailed(
                "body", "must be a JSON array of records", message_zh="须为记录组成的 JSON 数组"
            )
        if len(items) > MAX_RECORDS:
            raise _too_large(len(items))
        parsed = ParsedBatch(list(range(1, len(items) + 1)), items, [])
    else:
        raise AppError(
            "Send the batch as NDJSON (Content-Type: application/x-ndjson) or a JSON array "
            "(Content-Type: application/json).",
            detail_zh="批量数据须为 NDJSON(application/x-ndjson)或 JSON 数组(application/json)。",
            code="batch_content_type",
            status=415,
        )
    if parsed.size == 0:
        raise ValidationFailed("body", "the batch holds no records", message_zh="批量数据中没有记录")
    return parsed


# ---- validation and scope -------------------------------------------------------------------------


def _schema_errors(exc: ValidationError, lines: Sequence[int]) -> list[RecordError]:
    errors = []
    for error in exc.errors(include_url=False):
        index, *path = error["loc"]
        errors.append(
            RecordError(line=lines[int(index)], field=".".join(str(p) for p in path), message=error["msg"])
        )
    return errors


def _raw_site_id(record: Any, known: dict[str, uuid.UUID | None]) -> uuid.UUID | None:
    if isinstance(record, dict) and isinstance(record.get("site_id"), str):
        text = record["site_id"]
        if text not in known:  # a batch names a few sites thousands of times
            try:
                known[text] = uuid.UUID(text)
            except ValueError:
                known[text] = None
        return known[text]
    return None


async def writable_sites(
    request: Request, principal: Principal, site_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """The given sites the caller may write for (operators: their claim; district: known sites)."""
    wanted = set(site_ids)
    if principal.role == "operator":
        return wanted & set(principal.sites or ())
    if principal.role != "district":
        return set()
    existing: set[uuid.UUID] = await request.app.state.sites.existing(wanted)
    return existing


async def _scope_errors(request: Request, principal: Principal, parsed: ParsedBatch) -> list[RecordError]:
    """A record for a site the caller may not write for is refused like a bad value: the message
    is the same whether the site exists elsewhere or not at all."""
    known: dict[str, uuid.UUID | None] = {}
    site_of = [_raw_site_id(record, known) for record in parsed.records]
    allowed = await writable_sites(request, principal, {s for s in site_of if s is not None})
    return [
        RecordError(line=line, field="site_id", message="no site with this id in your scope")
        for line, site_id in zip(parsed.lines, site_of, strict=True)
        if site_id is not None and site_id not in allowed
    ]


def batch_invalid(errors: list[RecordError]) -> AppError:
    errors = sorted(errors, key=lambda e: (e.line, e.field))
    lines = sorted({e.line for e in errors})
    shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
    return AppError(
        f"{len(lines)} record(s) are invalid (lines {shown}); nothing was written.",
        detail_zh=f"{len(lines)} 条记录无效(第 {shown} 行),未写入任何数据。",
        code="batch_invalid",
        status=422,
        errors=[e.model_dump() for e in errors[:MAX_REPORTED_ERRORS]],
        error_count=len(errors),
    )


# ---- writing --------------------------------------------------------------------------------------

# Filled in for every new record, whatever its kind (as the resource's own create does).
BOOKKEEPING = ("id", "created_by", "version", "created_at", "updated_at")


@dataclass
class Rows:
    """The records' stored values: ``columns`` (no bookkeeping column) and one tuple per record
    in that order, JSON columns as JSON text (the session's asyncpg codec encodes jsonb from text)."""

    columns: tuple[str, ...]
    values: list[tuple[Any, ...]]


def _copy_value(value: Any, is_json: bool) -> Any:
    return orjson.dumps(value, default=str).decode() if is_json else value


def _schema_rows(spec: KindSpec, validated: list[Any], request: Request) -> Rows:
    """The stored values of records validated by the resource's schema (``spec.values``)."""
    table: Table = spec.model.__table__
    columns = tuple(column.name for column in table.columns if column.name not in BOOKKEEPING)
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSONB)}
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if isinstance(column.default, ColumnDefault) and column.default.is_scalar
    }
    values = []
    for record in validated:
        row = spec.values(record, request)
        values.append(tuple(_copy_value(row.get(c, defaults.get(c)), c in json_columns) for c in columns))
    return Rows(columns, values)


def new_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs, as text, from one read of the system's random source
    (``uuid.uuid4()`` reads it once per id and builds each UUID object in Python)."""
    digits = os.urandom(16 * count).hex()
    ids = []
    for n in range(0, 32 * count, 32):
        h = digits[n : n + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids


# RFC 4122 variant: the first hex digit of the fourth group is 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _staging_table(table: Table) -> Table:
    """A temporary table with the target's columns (no constraints) and each row's line number."""
    return Table(
        f"batch_staging_{uuid.uuid4().hex}",
        MetaData(),
        *(Column(column.name, column.type) for column in table.columns),
        Column("batch_line", Integer, nullable=False),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


async def _copy(
    session: AsyncSession,
    table: Table,
    records: Iterable[tuple[Any, ...]] | AsyncIterable[tuple[Any, ...]],
    columns: list[str],
) -> None:
    """COPY into ``table`` on the session's connection, inside the request's transaction (the
    caller has already run a statement through the session, which opened it)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, schema_name=table.schema, records=records, columns=columns)


# Records handed to the driver between two slices of events built alongside the COPY. The driver
# sends ~512 KB at a time (~2,000 activities); the last slice's events are built before its last
# message goes, so slices are kept shorter than that.
_SLICE = 1000


async def _copy_and_build_events(
    session: AsyncSession,
    table: Table,
    copied: list[tuple[Any, ...]],
    columns: list[str],
    build: EventBuilder,
) -> list[tuple[Any, ...]]:
    """COPY ``copied`` and build their events meanwhile: each slice's events are built after the
    slice went to the driver, which sends the rows as its buffer fills, so the database stores
    one part while Python builds the events of the part before (rather than one waiting for the
    other: each takes ~0.1 s for 10,000 activities)."""
    events: list[tuple[Any, ...]] = []

    async def feed() -> AsyncIterator[tuple[Any, ...]]:
        for start in range(0, len(copied), _SLICE):
            for record in copied[start : start + _SLICE]:
                yield record
            events.extend(build(start, start + _SLICE))

    await _copy(session, table, feed(), columns)
    return events


async def _stage(
    session: AsyncSession,
    table: Table,
    rows: Rows,
    ids: list[str],
    lines: list[int],
    created_by: str,
    now: dt.datetime,
) -> Table:
    """COPY the rows into a staging table (dropped at commit) in the request's transaction."""
    staging = _staging_table(table)
    await session.execute(CreateTable(staging))  # through the session: opens the transaction
    records = [
        (record_id, created_by, 1, now, now, *values, line)
        for record_id, values, line in zip(ids, rows.values, lines, strict=True)
    ]
    await _copy(session, staging, records, [*BOOKKEEPING, *rows.columns, "batch_line"])
    return staging


def _has_personal_data(object_type: str, columns: Sequence[str]) -> bool:
    """Whether the change feed masks or withholds any of these columns for this kind."""
    probe = {name: "0123456789abcdefghij" for name in columns}
    return redaction.redact(object_type, probe) != probe


def _timestamptz_json(value: dt.datetime) -> dt.datetime | str:
    """A ``timestamptz`` as PostgreSQL's ``to_jsonb`` writes it in a UTC session: ISO 8601 in UTC,
    the fraction without trailing zeros (``…T01:00:00.12+00:00``). orjson writes a UTC datetime
    so, but for a fraction ending in zeros (it writes six digits)."""
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    if value.microsecond % 10 or not value.microsecond:
        return value
    text = value.isoformat()
    return text[:26].rstrip("0") + text[26:]


def _uuid_json(value: Any) -> Any:
    # Canonical text; the fast path keeps the client's hyphenated form, in either case (orjson
    # writes a UUID object canonically).
    return value.lower() if type(value) is str else value


def _as_is(value: Any) -> Any:
    return value


def _json_form(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How ``to_jsonb`` renders a non-null value of this column, from its COPY value (``_as_is``:
    orjson writes it so already), or None for a type not handled here."""
    kind = column.type
    if isinstance(kind, Uuid):
        return _uuid_json
    if isinstance(kind, DateTime) and kind.timezone:
        return _timestamptz_json
    if isinstance(kind, Date) and not isinstance(kind, DateTime):
        return dt.date.isoformat
    if isinstance(kind, JSONB):
        return orjson.Fragment  # the COPY value is the JSON text already
    if isinstance(kind, ARRAY) and isinstance(kind.item_type, Uuid):
        return lambda items: [_uuid_json(item) for item in items]
    if isinstance(kind, ARRAY) and isinstance(kind.item_type, String | Text):
        return _as_is
    if isinstance(kind, String | Text | Integer | Boolean):  # Integer covers BigInteger
        return _as_is
    return None  # numeric (its scale), floats …: the database renders those


EventBuilder = Callable[[int, int], list[tuple[Any, ...]]]


def _created_events(
    spec: KindSpec, table: Table, rows: Rows, ids: list[str], created_by: str, now: dt.datetime
) -> EventBuilder | None:
    """Builds the `<object_type>.created` events of the records ``start:stop`` COPYed straight
    into ``table``, in Python: in the outbox's column order, ``data`` the JSON text of exactly
    what ``to_jsonb`` makes of the stored row (the change feed publishes that). None for a kind
    with personal data (masked record by record), a column type :func:`_json_form` does not
    know, or a column left to the database's default: :func:`_emit_created` then."""
    if _has_personal_data(spec.object_type, rows.columns):
        return None
    if {column.name for column in table.columns} != {*BOOKKEEPING, *rows.columns}:
        return None
    forms = []
    for position, name in enumerate(rows.columns):
        form = _json_form(table.c[name])
        if form is None:
            return None
        if form is not _as_is:
            forms.append((position, form))
    when = _timestamptz_json(now)
    common = {"created_by": created_by, "version": 1, "created_at": when, "updated_at": when}
    event_type, object_type = f"{spec.object_type}.created", spec.object_type
    site = rows.columns.index("site_id")
    dumps, names = orjson.dumps, rows.columns

    def build(start: int, stop: int) -> list[tuple[Any, ...]]:
        events = []
        some_ids, some_values = ids[start:stop], rows.values[start:stop]
        for event_id, record_id, values in zip(new_ids(len(some_ids)), some_ids, some_values, strict=True):
            data = dict(zip(names, values, strict=True))
            for position, form in forms:
                value = values[position]
                if value is not None:
                    data[names[position]] = form(value)
            data["id"] = record_id
            data.update(common)
            event = (event_id, event_type, now, object_type, record_id, values[site], dumps(data).decode())
            events.append(event)
        return events

    return build


def _emit_created(
    session: AsyncSession, spec: KindSpec, written: Table, rows: Rows, ids: list[str], *, staged: bool
) -> None:
    """One `<object_type>.created` change-feed event per new record, committed with the batch,
    where :func:`_created_events` does not build them.

    Records without personal data (staged kinds such as volunteer hours, or a column type it
    does not know) become events in one ``INSERT … SELECT`` at commit over the rows written
    (``written``: the staging table when ``staged``, else the resource's table, by id); the data
    is the stored row, as a single create publishes it. A kind with personal data (visits) is
    masked record by record in Python, as its single create is
    (:mod:`services.activities.redaction`)."""
    event_type = f"{spec.object_type}.created"
    if not _has_personal_data(spec.object_type, rows.columns):
        state = func.to_jsonb(written.table_valued())
        source = select(
            literal(event_type).label("type"),
            literal(spec.object_type).label("object_type"),
            cast(written.c.id, String).label("object_id"),
            written.c.site_id,
            type_coerce(state.op("-")(literal("batch_line")) if staged else state, JSONB).label("data"),
            written.c.created_at.label("occurred_at"),
        )
        if staged:
            source = source.order_by(written.c.batch_line)
        else:
            # In the batch's order: the ids with their position (unnest … WITH ORDINALITY).
            batch = (
                func.unnest(bindparam("batch_ids", ids, type_=ARRAY(Uuid)))
                .table_valued("id", with_ordinality="line")
                .render_derived(name="batch")
            )
            source = source.join_from(written, batch, batch.c.id == written.c.id).order_by(batch.c.line)
        emit_from_select(session, tables.outbox, source)
        return
    json_columns = {c.name for c in spec.model.__table__.columns if isinstance(c.type, JSONB)}
    for record_id, values in zip(ids, rows.values, strict=True):
        state_of: dict[str, Any] = {"id": record_id, **dict(zip(rows.columns, values, strict=True))}
        for name in json_columns & state_of.keys():
            if state_of[name] is not None:
                state_of[name] = orjson.loads(state_of[name])
        emit(
            session,
            tables.outbox,
            type=event_type,
            object_type=spec.object_type,
            object_id=record_id,
            site_id=state_of.get("site_id"),
            data=redaction.redact(spec.object_type, json_ready(state_of)),
        )


async def _audit_batch(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    spec: KindSpec,
    ids: list[str],
    site_ids: set[Any],
) -> None:
    """The batch's audit row. Written directly, not through the audit writer: the writer would
    also publish it as a change of one object, while the batch publishes one event per record."""
    await record_audit(
        session,
        tables.audit,
        actor=principal,
        action=f"{spec.object_type}.batch_create",
        object_type=spec.object_type,
        object_id=None,
        after={
            "count": len(ids),
            "first_ids": ids[:10],
            "site_ids": sorted(str(site_id) for site_id in site_ids),
        },
        request=request,
        note=f"batch of {len(ids)} {spec.kind} records",
    )


async def ingest(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    kind: BatchKind,
    content_type: str,
    body: bytes,
) -> Response:
    spec = kind_spec(kind)
    parsed = parse_batch(content_type, body)
    errors = list(parsed.errors)
    now = utc_now()
    rows: Rows | None = None
    if not errors and spec.plain_rows is not None:
        plain = spec.plain_rows(parsed.records, now)
        if plain is not None:
            rows = Rows(spec.plain_columns, plain)
    if rows is None:  # the resource's schema decides (and names every problem)
        try:
            rows = _schema_rows(spec, spec.adapter.validate_python(parsed.records), request)
        except ValidationError as exc:
            errors.extend(_schema_errors(exc, parsed.lines))
    errors.extend(await _scope_errors(request, principal, parsed))
    if errors or rows is None:
        raise batch_invalid(errors)

    table: Table = spec.model.__table__
    ids = new_ids(len(rows.values))
    position = rows.columns.index("site_id")
    site_ids = {values[position] for values in rows.values}
    if not spec.checks:
        # Nothing to check against stored rows: COPY straight into the table. The audit row goes
        # first, through the session, which opens the transaction the COPY then joins.
        copied = [
            (record_id, principal.sub, 1, now, now, *values)
            for record_id, values in zip(ids, rows.values, strict=True)
        ]
        build = _created_events(spec, table, rows, ids, principal.sub, now)
        await _audit_batch(session, request, principal, spec, ids, site_ids)
        columns = [*BOOKKEEPING, *rows.columns]
        if build is not None:  # committed with the batch, in its order, like every event
            emit_records(
                session, tables.outbox, await _copy_and_build_events(session, table, copied, columns, build)
            )
        else:
            await _copy(session, table, copied, columns)
            _emit_created(session, spec, table, rows, ids, staged=False)
    else:
        staging = await _stage(session, table, rows, ids, parsed.lines, principal.sub, now)
        for check in spec.checks:
            errors.extend(await check(session, principal, staging))
        if errors:
            raise batch_invalid(errors)
        columns = [column.name for column in table.columns]
        await session.execute(
            insert(table).from_select(
                columns, select(*(staging.c[name] for name in columns)).order_by(staging.c.batch_line)
            )
        )
        _emit_created(session, spec, staging, rows, ids, staged=True)
        if None in site_ids:  # taken from the stored data by a check (volunteer hours)
            site_ids = set((await session.scalars(select(staging.c.site_id).distinct())).all())
        await _audit_batch(session, request, principal, spec, ids, site_ids)
    # BatchResult, serialised once (10,000 ids through a generic encoder would cost ~50 ms).
    return Response(
        orjson.dumps({"kind": kind.value, "count": len(ids), "ids": ids}),
        status_code=201,
        media_type="application/json",
    )
