"""Construction filings (6.2.2 建设报备): filing windows, filings and their life cycle, the conflict
report, and the district's published build lists (建设名单)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from services.common.auth import AnyUser, DistrictOnly, Principal, require_roles
from services.common.db import DbSession
from services.common.enums import FilingKind, FilingState
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.registry.filings import service
from services.registry.filings.schemas import (
    BuildListRead,
    ConflictReport,
    FilingCreate,
    FilingRead,
    FilingTransitionRead,
    FilingUpdate,
    FilingWindowRead,
    FilingWindowSet,
    TransitionRequest,
)
from services.registry.filings.state import FilingAction

router = APIRouter(tags=["filings"])

# Who may use which endpoint (object scope is service.visible_filings). Evaluators never see
# filings; integration reads everything; only the district coordinates.
FilingReader = Annotated[Principal, Depends(require_roles("district", "street", "operator", "integration"))]
FilingWriter = Annotated[Principal, Depends(require_roles("district", "street", "operator"))]
ConflictReader = Annotated[Principal, Depends(require_roles("district", "street", "integration"))]

YearPath = Annotated[int, Path(ge=2000, le=2100, description="Filing year, e.g. 2027.")]
OptionalComment = Annotated[TransitionRequest | None, Body()]


def _etag_of(filing: FilingRead) -> dict[str, str]:
    return {"ETag": make_etag(filing.id, filing.version)}


# ---- filing windows -------------------------------------------------------------------------------


@router.get("/filing-windows/{year}", response_model=FilingWindowRead, summary="Get a year's filing window")
async def get_filing_window(session: DbSession, _: AnyUser, year: YearPath) -> FilingWindowRead:
    """When filings of `year` may be submitted (6.2.2: units and streets file "at the beginning of
    each year"). Without a window set by the district the default 1 January – 31 March applies and
    `default` is true. `open_today` tells whether today (Asia/Shanghai) is inside it."""
    return await service.get_window(session, year)


@router.put("/filing-windows/{year}", response_model=FilingWindowRead, summary="Set a year's filing window")
async def set_filing_window(
    request: Request, session: DbSession, principal: DistrictOnly, year: YearPath, body: FilingWindowSet
) -> FilingWindowRead:
    """District only. Sets (or replaces) the window in which filings of `year` may be submitted.
    Both dates must lie in `year` and `closes_on` ≥ `opens_on` (otherwise 422 naming the field)."""
    return await service.set_window(session, request, principal, year, body)


# ---- filings --------------------------------------------------------------------------------------


@router.get("/filings", response_model=Page[FilingRead], summary="List construction filings")
async def list_filings(
    session: DbSession,
    principal: FilingReader,
    page: Pagination,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    kind: FilingKind | None = None,
    state: FilingState | None = None,
    street_id: uuid.UUID | None = None,
    community_id: uuid.UUID | None = None,
) -> Page[FilingRead]:
    """Construction filings (6.2.2), oldest first. District and integration see all; a street the
    filings of its street; an operator the facility filings its organisation made. Evaluators are
    refused (403). Filters combine with the caller's scope (another street's id gives an empty list)."""
    rows, cursor = await service.list_filings(
        session,
        principal,
        page,
        year=year,
        kind=kind,
        state=state,
        street_id=street_id,
        community_id=community_id,
    )
    return Page(items=[FilingRead.model_validate(f) for f in rows], next_cursor=cursor)


@router.post("/filings", response_model=FilingRead, status_code=201, summary="Create a construction filing")
async def create_filing(
    request: Request,
    session: DbSession,
    principal: FilingWriter,
    body: FilingCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """Creates a filing in `draft` (6.2.2). A street files `hub_plan` (街道共同体建设计划) or
    `facility` filings for its own street only (another `street_id` → 422). An operator files
    `facility` filings (单位设施报备) as a unit: `hub_plan` → 403, and the filing is always its own
    organisation's. `community_id` must belong to `street_id` (422); `planned_finish` ≥
    `planned_start` (422); `budget` and `planned_area_m2` are decimal strings ≥ 0.
    `late_allowed` and `filer_organization_id` are the district's to set (403 `field_not_writable`).
    Send `Idempotency-Key` to make a retry safe."""

    async def create() -> FilingRead:
        filing = await service.create_filing(session, request, principal, body)
        return FilingRead.model_validate(filing)

    return await idempotency.run(create, headers=_etag_of)


# Registered before /filings/{filing_id} so "conflicts" is never taken for an id.
@router.get("/filings/conflicts", response_model=ConflictReport, summary="Conflicting filings of a year")
async def list_filing_conflicts(
    session: DbSession,
    principal: ConflictReader,
    year: Annotated[int, Query(ge=2000, le=2100, description="Filing year.")],
) -> ConflictReport:
    """Groups of two or more live filings (submitted, returned or approved) for the same community
    and `facility_type` in `year`, for the district's coordination (6.2.2 统筹安排). District and
    integration see all; a street its own street's groups; operators and evaluators are refused."""
    groups = await service.conflicts(session, principal, year)
    return ConflictReport(year=year, items=groups)


@router.get("/filings/{filing_id}", response_model=FilingRead, summary="Get a construction filing")
async def get_filing(
    session: DbSession, principal: FilingReader, filing_id: uuid.UUID, response: Response
) -> FilingRead:
    """One filing with its `ETag` (send it back as `If-Match` to change it). A filing outside the
    caller's scope answers 404 like a missing one."""
    filing = await service.get_filing(session, principal, filing_id)
    set_etag(response, filing.id, filing.version)
    return FilingRead.model_validate(filing)


@router.patch("/filings/{filing_id}", response_model=FilingRead, summary="Change a construction filing")
async def update_filing(
    request: Request,
    session: DbSession,
    principal: FilingWriter,
    filing_id: uuid.UUID,
    body: FilingUpdate,
    response: Response,
) -> FilingRead:
    """The filer (the filing's street, or the organisation that filed it) or the district changes a
    filing while it is `draft` or `returned` (otherwise 409 `filing_not_editable`). Needs `If-Match`
    (428 without, 412 if stale). Only the district may set `late_allowed` (403 `field_not_writable`)."""
    filing = await service.update_filing(session, request, principal, filing_id, body)
    set_etag(response, filing.id, filing.version)
    return FilingRead.model_validate(filing)


@router.get(
    "/filings/{filing_id}/history",
    response_model=Page[FilingTransitionRead],
    summary="History of a construction filing",
)
async def list_filing_history(
    session: DbSession, principal: FilingReader, filing_id: uuid.UUID, page: Pagination
) -> Page[FilingTransitionRead]:
    """Every step of the filing in order, from its creation (`null` → `draft`): who (user id and
    role), when, the comment, and the states before and after."""
    rows, cursor = await service.list_history(session, principal, filing_id, page)
    return Page(items=rows, next_cursor=cursor)


async def _transition(
    request: Request,
    session: DbSession,
    principal: Principal,
    idempotency: IdempotencyGuard,
    filing_id: uuid.UUID,
    action: FilingAction,
    body: TransitionRequest | None,
) -> Response:
    comment = body.comment if body is not None else None

    async def move() -> FilingRead:
        filing = await service.transition_filing(session, request, principal, filing_id, action, comment)
        return FilingRead.model_validate(filing)

    return await idempotency.run(move, status_code=200, headers=_etag_of)


@router.post("/filings/{filing_id}/submit", response_model=FilingRead, summary="Submit a filing")
async def submit_filing(
    request: Request,
    session: DbSession,
    principal: FilingWriter,
    idempotency: IdempotencyGuard,
    filing_id: uuid.UUID,
    body: OptionalComment = None,
) -> Response:
    """The filer or the district files a `draft` or `returned` filing with the district office
    (→ `submitted`). Only inside the year's filing window (see `GET /filing-windows/{year}`),
    otherwise 409 `filing_window_closed` — unless the district set `late_allowed` on the filing.
    From any other state: 409 `invalid_transition`. Optional body `{"comment": "…"}`."""
    return await _transition(request, session, principal, idempotency, filing_id, FilingAction.SUBMIT, body)


@router.post("/filings/{filing_id}/return", response_model=FilingRead, summary="Return a filing")
async def return_filing(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    filing_id: uuid.UUID,
    body: OptionalComment = None,
) -> Response:
    """District only. Sends a `submitted` filing back to its filer for changes (→ `returned`);
    say what to change in `comment`. From any other state: 409 `invalid_transition`."""
    return await _transition(request, session, principal, idempotency, filing_id, FilingAction.RETURN, body)


@router.post("/filings/{filing_id}/approve", response_model=FilingRead, summary="Approve a filing")
async def approve_filing(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    filing_id: uuid.UUID,
    body: OptionalComment = None,
) -> Response:
    """District only. Approves a `submitted` filing (→ `approved`); it will appear in the next
    published build list. Approving a `hub_plan` creates a site with status `planned` in the
    filing's community (code `HP-<year>-<hex>`), whose id is returned as `site_id`.
    From any other state: 409 `invalid_transition`."""
    return await _transition(request, session, principal, idempotency, filing_id, FilingAction.APPROVE, body)


@router.post("/filings/{filing_id}/reject", response_model=FilingRead, summary="Reject a filing")
async def reject_filing(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    filing_id: uuid.UUID,
    body: OptionalComment = None,
) -> Response:
    """District only. Turns down a `submitted` filing for good (→ `rejected`). From any other
    state: 409 `invalid_transition`."""
    return await _transition(request, session, principal, idempotency, filing_id, FilingAction.REJECT, body)


# ---- build lists ----------------------------------------------------------------------------------


@router.post(
    "/build-lists/{year}/publish",
    response_model=BuildListRead,
    status_code=201,
    summary="Publish the year's build list",
)
async def publish_build_list(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    year: YearPath,
) -> Response:
    """District only. Freezes every filing of `year` approved so far as the next numbered version
    of the year's build list (6.2.2 公布建设名单): version 1, then 2, … Each version keeps copies of
    the filings as they were and never changes. 409 `nothing_to_publish` without approved filings."""

    async def publish() -> BuildListRead:
        build_list = await service.publish_build_list(session, request, principal, year)
        return BuildListRead.from_row(build_list)

    return await idempotency.run(publish)


@router.get("/build-lists/{year}", response_model=BuildListRead, summary="The latest build list of a year")
async def get_latest_build_list(session: DbSession, _: AnyUser, year: YearPath) -> BuildListRead:
    """The most recently published version of the year's build list; 404 `build_list_not_found`
    before the first publication. Every role may read it."""
    return BuildListRead.from_row(await service.get_build_list(session, year))


@router.get(
    "/build-lists/{year}/versions/{version}",
    response_model=BuildListRead,
    summary="One version of a year's build list",
)
async def get_build_list_version(
    session: DbSession,
    _: AnyUser,
    year: YearPath,
    version: Annotated[int, Path(ge=1, description="Version number, from 1.")],
) -> BuildListRead:
    """A published version exactly as it was published; 404 `build_list_not_found` if there is no
    such version. Every role may read it."""
    return BuildListRead.from_row(await service.get_build_list(session, year, version))
