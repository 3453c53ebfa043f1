"""The change feed and full exports of a domain service, built on its outbox (issue 8).

* ``GET /changes?after=&limit=`` — events in commit order, scoped to the caller's sites
  (district and integration see everything); ``next_cursor`` is where to poll from next.
* ``GET /internal/changes`` — the same for service tokens (the webhook dispatcher), unscoped,
  plus ``remaining``: events after ``next_cursor`` (the dispatcher's backlog).
* ``GET /export/{resource}.ndjson`` — every row in scope, streamed from a server-side cursor in
  one REPEATABLE READ transaction, one JSON object per line; the response header
  ``Linju-Feed-Cursor`` is the feed position the export is consistent with: it reflects every
  event up to that cursor and none after, so a platform exports once and then polls
  ``/changes?after=<that cursor>`` without gaps or doubles.

A cursor never skips an event because positions are assigned in commit order (see
:mod:`services.common.outbox`). ``next_cursor`` moves past events the caller may not see only as
far as the same statement proves there is nothing else visible before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, FromClause, Table, and_, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import StreamingResponse

from services.common.auth import Principal, ServiceOnly, require_roles
from services.common.db import DbSession
from services.common.errors import Forbidden, problem_body, wants_chinese
from services.common.outbox import MAX_FEED_LIMIT, Redactor, event_json, parse_cursor
from services.common.responses import json_response
from services.common.stored import (
    RENDERING_ERRORS,
    StoredRecordInvalid,
    first_failing,
    stored_record_invalid,
)

FEED_CURSOR_HEADER = "Linju-Feed-Cursor"
UNRESTRICTED = frozenset({"district", "integration", "service"})
EXPORT_BATCH = 1000

FeedReader = Annotated[
    Principal, Depends(require_roles("district", "street", "operator", "evaluator", "integration"))
]
EventScope = Callable[[Principal, Table], ColumnElement[bool]]


def site_scope(principal: Principal, outbox: Table) -> ColumnElement[bool]:
    """District and integration see every event; others the events of the sites in their claim
    (events not tied to a site — an organisation, a rubric — only the unrestricted roles)."""
    if principal.role in UNRESTRICTED:
        return true()
    if not principal.sites:
        return false()
    return outbox.c.site_id.in_(sorted(principal.sites))


class ChangeEvent(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "7c0c7f44-2f0e-4a4e-9a77-3f7d7d1b9d0e",
                "cursor": "1842",
                "type": "site.tier_changed",
                "occurred_at": "2026-11-27T03:12:45.120Z",
                "object_type": "site",
                "object_id": "0b6b7c1e-6a5e-5d0f-9a57-0b1b7c9d2e11",
                "site_id": "0b6b7c1e-6a5e-5d0f-9a57-0b1b7c9d2e11",
                "data": {"tier": "demonstration"},
            }
        }
    )

    id: str = Field(description="Event id (stable; the `webhook-id` of its deliveries).")
    cursor: str = Field(description="Opaque; pass as `after` to continue after this event.")
    type: str = Field(description="`<object_type>.<verb>`, e.g. `site.updated`, `round.published`.")
    occurred_at: str
    object_type: str
    object_id: str | None
    site_id: str | None
    data: dict[str, Any] | None = Field(
        description="The object's state after the change (personal data masked); null after a delete."
    )


class ChangesPage(BaseModel):
    items: list[ChangeEvent]
    next_cursor: str = Field(description="Poll again with `after=` this value (it equals `after` when idle).")


class InternalChangesPage(ChangesPage):
    remaining: int = Field(description="Events after `next_cursor` (the caller's backlog).")


@dataclass(frozen=True)
class ExportResource:
    """One table a platform can export: rows in ``scope`` ordered by ``order``, redacted like events."""

    name: str  # URL segment: /export/{name}.ndjson
    table: FromClause
    object_type: str  # the redactor's key (which personal fields to mask)
    scope: Callable[[Principal], ColumnElement[bool]]
    summary: str
    # The roles the resource's list admits (an export never shows more than the list); None = all
    # feed readers.
    readers: frozenset[str] | None = None


async def _read_changes(
    session: Any, outbox: Table, after: int, limit: int, clause: ColumnElement[bool]
) -> tuple[list[dict[str, Any]], int]:
    # One statement, one snapshot: the page and the highest position visible in that snapshot.
    head = select(func.max(outbox.c.position)).scalar_subquery()
    stmt = (
        select(outbox, head.label("head"))
        .where(outbox.c.position > after, clause)
        .order_by(outbox.c.position)
        .limit(limit)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:
        return [], after
    items = [event_json(row) for row in rows]
    last = int(rows[-1].position)
    # A short page reached the end of what this snapshot holds: nothing visible lies between the
    # last item and the head, so the cursor may skip the events the caller cannot see.
    next_cursor = max(last, int(rows[-1].head or last)) if len(rows) < limit else last
    return items, next_cursor


def changes_router(
    outbox: Table, *, tag: str, scope: EventScope = site_scope, description: str = ""
) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/changes",
        tags=[tag],
        summary="Change feed (events in commit order)",
        response_model=ChangesPage,
        description=(
            "Every create, update and delete of this service as an event, in commit order. Start "
            "without `after`, then pass the last `next_cursor`; a cursor never skips an event. "
            "District and integration see every event, other roles the events of their sites. " + description
        ),
    )
    async def list_changes(
        session: DbSession,
        principal: FeedReader,
        after: Annotated[
            str | None, Query(max_length=20, description="`next_cursor` of the last page.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED_LIMIT)] = 100,
    ) -> Any:
        position = parse_cursor(after)
        items, next_cursor = await _read_changes(session, outbox, position, limit, scope(principal, outbox))
        return _feed_page(outbox, {"items": items, "next_cursor": str(next_cursor)})

    @router.get("/internal/changes", include_in_schema=False)
    async def internal_changes(
        session: DbSession,
        _: ServiceOnly,
        after: Annotated[str | None, Query(max_length=20)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_FEED_LIMIT)] = 500,
    ) -> Any:
        position = parse_cursor(after)
        items, next_cursor = await _read_changes(session, outbox, position, limit, true())
        remaining = await session.scalar(select(func.count()).where(outbox.c.position > next_cursor))
        return _feed_page(
            outbox, {"items": items, "next_cursor": str(next_cursor), "remaining": remaining or 0}
        )

    return router


def _feed_page(outbox: Table, page: dict[str, Any]) -> Any:
    """The page as JSON. An event JSON cannot carry (written by SQL: a number beyond 64 bits) stops
    the page with stored_record_invalid naming it — skipping it would lose a change for good, as
    the next cursor would pass it."""
    try:
        return json_response(page)
    except RENDERING_ERRORS as error:
        bad = first_failing(page["items"], orjson.dumps)
        raise stored_record_invalid(bad, error, table=outbox.fullname) from error


def _json_default(value: Any) -> Any:
    return str(value)


def export_router(
    outbox: Table, resources: Sequence[ExportResource], *, tag: str, redact: Redactor
) -> APIRouter:
    router = APIRouter()
    for resource in resources:
        _add_export_route(router, outbox, resource, tag=tag, redact=redact)
    return router


def _add_export_route(
    router: APIRouter, outbox: Table, resource: ExportResource, *, tag: str, redact: Redactor
) -> None:
    async def export(request: Request, principal: FeedReader) -> StreamingResponse:
        if resource.readers is not None and principal.role not in resource.readers:
            raise Forbidden(
                f"This operation is not available to role '{principal.role}'.",
                detail_zh=f"角色“{principal.role}”无权执行此操作。",
            )
        engine: AsyncEngine = request.app.state.engine
        conn = await engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            await conn.begin()
            # The first statement fixes the snapshot: the cursor and the rows come from the same one.
            cursor = await conn.scalar(select(func.coalesce(func.max(outbox.c.position), 0)))
            table = resource.table
            stmt = (
                select(table)
                .where(and_(true(), resource.scope(principal)))
                .order_by(*table.primary_key)
                .execution_options(yield_per=EXPORT_BATCH)
            )
            result = await conn.stream(stmt)
        except BaseException:
            await conn.close()
            raise

        def line(row: Any) -> bytes:
            return orjson.dumps(redact(resource.object_type, dict(row)), default=_json_default) + b"\n"

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for batch in result.mappings().partitions(EXPORT_BATCH):
                    try:
                        # line() inlined: a call per row costs the 300,000-row export ~3 %.
                        chunk = b"".join(
                            orjson.dumps(redact(resource.object_type, dict(row)), default=_json_default)
                            + b"\n"
                            for row in batch
                        )
                    except RENDERING_ERRORS as error:
                        # A row JSON cannot carry (written by SQL): never skip it, the platform's copy
                        # would silently lack it. The last line says why, then the stream is cut
                        # (no final chunk), so no client can take the export for a whole one.
                        failure = stored_record_invalid(
                            first_failing(batch, line), error, table=getattr(resource.table, "fullname", None)
                        )
                        yield orjson.dumps({"error": _problem(failure, request)}) + b"\n"
                        raise failure from error
                    yield chunk
            finally:
                await result.close()
                await conn.close()

        return StreamingResponse(
            lines(),
            media_type="application/x-ndjson",
            headers={FEED_CURSOR_HEADER: str(cursor), "Cache-Control": "no-store"},
        )

    router.add_api_route(
        f"/export/{resource.name}.ndjson",
        export,
        methods=["GET"],
        tags=[tag],
        name=f"export_{resource.name}_ndjson",
        summary=f"Export {resource.summary} (NDJSON)",
        description=(
            f"Every {resource.summary} row in your scope, one JSON object per line (personal data "
            "masked), streamed. The `Linju-Feed-Cursor` response header is the change-feed cursor "
            "this export is consistent with: follow with `GET …/changes?after=<it>`."
        ),
        response_class=StreamingResponse,
        responses={
            200: {
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                "headers": {FEED_CURSOR_HEADER: {"schema": {"type": "string"}}},
            }
        },
    )


def _problem(error: StoredRecordInvalid, request: Request) -> dict[str, Any]:
    return problem_body(
        status=error.status,
        code=error.code,
        detail=error.detail,
        detail_zh=error.detail_zh,
        chinese=wants_chinese(request.headers.get("accept-language")),
    )


def redactor(policies: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> Redactor:
    """A service's redactor from per-object-type functions (types without one pass unchanged)."""

    def redact(object_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(data)
        policy = policies.get(object_type)
        return policy(out) if policy else out

    return redact


def outbox_collector(outbox: Table, service: str) -> Callable[[Any], Awaitable[list[str]]]:
    """A ``/metrics`` collector: the head of this service's change feed (the last position
    handed out). The gateway's ``linju_outbox_backlog`` says how far the dispatcher is behind it."""

    async def collect(app: Any) -> list[str]:
        async with app.state.engine.connect() as conn:
            head = await conn.scalar(select(func.coalesce(func.max(outbox.c.position), 0)))
        return [
            "# HELP linju_outbox_head_position Last change-feed position committed by the service.",
            "# TYPE linju_outbox_head_position gauge",
            f'linju_outbox_head_position{{service="{service}"}} {int(head or 0)}',
        ]

    return collect
