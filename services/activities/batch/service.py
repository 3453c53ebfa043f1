"""Batch ingest (SPEC §5, issue 4): up to 10,000 records of one kind, all or nothing.

For district data platforms and offline mobile clients. A batch is NDJSON (one record per line)
or a JSON array; each record is exactly the POST body of its resource and is validated by the
same schema. Every problem of every record is reported at once — line number (NDJSON line, or
array index + 1), field and message — and then nothing is written. A valid batch is written in
the request's single transaction, set-based: the rows are COPYed into a temporary staging table,
checked there with SQL where a rule needs the stored data (a volunteer's hours per day), and
moved into the real table with one ``INSERT … SELECT``. One audit row records the batch.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Column, Integer, MetaData, Table, and_, exists, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import ColumnDefault, CreateTable

from services.activities import records
from services.activities.activities.models import Activity
from services.activities.batch.schemas import MAX_RECORDS, BatchKind, BatchResult, RecordError
from services.activities.scope import site_clause
from services.activities.volunteers.models import Volunteer, VolunteerHours
from services.common.auth import Principal
from services.common.errors import AppError, ValidationFailed, define_titles

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
    from services.activities.activities.schemas import ActivityCreate
    from services.activities.activities.service import ACTIVITIES, activity_values

    return _spec(BatchKind.ACTIVITIES, ACTIVITIES, ActivityCreate, lambda body, _r: activity_values(body))


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
        parsed = ParsedBatch([], [], [])
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                parsed.records.append(orjson.loads(line))
                parsed.lines.append(number)
            except orjson.JSONDecodeError:
                parsed.errors.append(RecordError(line=number, field="", message="not valid JSON"))
            if parsed.size > MAX_RECORDS:
                raise _too_large(sum(1 for line in body.split(b"\n") if line.strip()))
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


def _raw_site_id(record: Any) -> uuid.UUID | None:
    if isinstance(record, dict) and isinstance(record.get("site_id"), str):
        try:
            return uuid.UUID(record["site_id"])
        except ValueError:
            return None
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
    site_of = [_raw_site_id(record) for record in parsed.records]
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


def _copy_value(value: Any, is_json: bool) -> Any:
    # The session's asyncpg connection encodes jsonb from JSON text (SQLAlchemy's codec).
    return orjson.dumps(value, default=str).decode() if is_json else value


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


async def _stage(session: AsyncSession, table: Table, rows: list[dict[str, Any]], lines: list[int]) -> Table:
    """COPY the rows into a staging table (dropped at commit) in the request's transaction."""
    staging = _staging_table(table)
    # Created through the session first: that opens the request's transaction on the connection,
    # so the COPY below (on the same asyncpg connection) is part of it.
    await session.execute(CreateTable(staging))
    columns = [column.name for column in table.columns]
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSONB)}
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if isinstance(column.default, ColumnDefault) and column.default.is_scalar
    }
    tuples = [
        (*(_copy_value(row.get(c, defaults.get(c)), c in json_columns) for c in columns), line)
        for row, line in zip(rows, lines, strict=True)
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(staging.name, records=tuples, columns=[*columns, "batch_line"])
    return staging


async def ingest(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    kind: BatchKind,
    content_type: str,
    body: bytes,
) -> BatchResult:
    spec = kind_spec(kind)
    parsed = parse_batch(content_type, body)
    errors = list(parsed.errors)
    validated: list[Any] = []
    try:
        validated = spec.adapter.validate_python(parsed.records)
    except ValidationError as exc:
        errors.extend(_schema_errors(exc, parsed.lines))
    errors.extend(await _scope_errors(request, principal, parsed))
    if errors:
        raise batch_invalid(errors)

    now = dt.datetime.now(dt.UTC)
    rows = []
    for record in validated:
        row = spec.values(record, request)
        row.update(id=uuid.uuid4(), created_by=principal.sub, version=1, created_at=now, updated_at=now)
        rows.append(row)
    table: Table = spec.model.__table__
    staging = await _stage(session, table, rows, parsed.lines)
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
    ids = [row["id"] for row in rows]
    site_ids = (await session.scalars(select(staging.c.site_id).distinct())).all()
    await records.audit(
        session,
        request,
        principal,
        f"{spec.object_type}.batch_create",
        spec.object_type,
        None,
        after={
            "count": len(ids),
            "first_ids": ids[:10],
            "site_ids": sorted(str(site_id) for site_id in site_ids),
        },
        note=f"batch of {len(ids)} {kind} records",
    )
    return BatchResult(kind=kind, count=len(ids), ids=ids)
