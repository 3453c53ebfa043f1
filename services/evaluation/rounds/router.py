"""Evaluation rounds (7.1.2 midterm and final, 7.2.1 quarterly) and evaluator assignments."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.common.auth import AnyUser, DistrictOnly, Principal, require_roles
from services.common.db import DbSession
from services.common.enums import RoundKind, RoundState
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.evaluation.rounds import service
from services.evaluation.rounds.schemas import (
    AssignmentCreate,
    AssignmentList,
    AssignmentRead,
    RoundComputed,
    RoundCreate,
    RoundPublished,
    RoundRead,
)

router = APIRouter(tags=["rounds"])

# Who may use which endpoint (object scope: service.visible_rounds).
AssignmentReader = Annotated[Principal, Depends(require_roles("district", "integration"))]
RoundComputer = Annotated[Principal, Depends(require_roles("district", "evaluator"))]


@router.get("/rounds", response_model=Page[RoundRead], summary="List evaluation rounds")
async def list_rounds(
    session: DbSession,
    principal: AnyUser,
    page: Pagination,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    kind: RoundKind | None = None,
    state: RoundState | None = None,
) -> Page[RoundRead]:
    """Evaluation rounds, oldest first. District and integration see all; an evaluator the rounds
    it is assigned in; a street or an operator the rounds holding one of its sites."""
    rows, cursor = await service.list_rounds(session, principal, page, year=year, kind=kind, state=state)
    return Page(items=await service.read_rounds(session, rows), next_cursor=cursor)


@router.post("/rounds", response_model=RoundRead, status_code=201, summary="Open an evaluation round")
async def create_round(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    body: RoundCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District only. Opens a round (state `open`): `kind` `midterm` or `final` (7.1.2, yearly) or
    `quarterly` (7.2.1, monitoring and feedback); only records dated from `period_start` to
    `period_end` count (at most a year; `period_end` before `period_start` → 422 `period_end`).
    `rubric_version` must exist (422). `site_ids` defaults to every `operating` site of the registry
    (unknown ids → 422 `site_ids`). One `draft` scorecard per site is created at once, with one
    empty item per indicator. Send `Idempotency-Key` to make a retry safe."""

    async def create() -> RoundRead:
        return await service.read_round(
            session, await service.create_round(session, request, principal, body)
        )

    return await idempotency.run(create)


@router.get("/rounds/{round_id}", response_model=RoundRead, summary="Get an evaluation round")
async def get_round(session: DbSession, principal: AnyUser, round_id: uuid.UUID) -> RoundRead:
    """One round with its number of sites and scorecards per state. Out of scope → 404
    `round_not_found`, like a missing round."""
    return await service.read_round(session, await service.get_round(session, principal, round_id))


@router.post("/rounds/{round_id}/close", response_model=RoundRead, summary="Close an evaluation round")
async def close_round(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    round_id: uuid.UUID,
) -> Response:
    """District only. `open` → `closed`: no more scoring, surveys or findings; the district can still
    return, accept or reopen scorecards. Otherwise 409 `invalid_transition`."""

    async def move() -> RoundRead:
        return await service.read_round(
            session, await service.close_round(session, request, principal, round_id)
        )

    return await idempotency.run(move, status_code=200)


@router.post(
    "/rounds/{round_id}/compute",
    response_model=RoundComputed,
    summary="Compute every scorecard of a round",
)
async def compute_round(
    request: Request,
    session: DbSession,
    principal: RoundComputer,
    idempotency: IdempotencyGuard,
    round_id: uuid.UUID,
) -> Response:
    """`POST /scorecards/{id}/compute` for every scorecard of the round at once, while the round is
    `open` (otherwise 409 `round_not_open`): the district computes all of them, an evaluator the
    scorecards of its assignments. Only scorecards with the evaluator (`draft`, `returned`) are
    computed; `submitted` and `accepted` ones are listed under `skipped` and left as they are.
    Each computed scorecard ends exactly as its own compute would leave it — every automatic
    indicator with its explanation, totals, an audit entry — but the facts of all sites are
    gathered at once (a whole district's round takes about as long as one aggregate query over
    its activities). Answers the totals of each scorecard."""

    async def run() -> Response:
        result = await service.compute_round(session, request, principal, round_id)
        return Response(result.model_dump_json(), media_type="application/json")

    return await idempotency.run(run, status_code=200)


@router.post(
    "/rounds/{round_id}/publish", response_model=RoundPublished, summary="Publish an evaluation round"
)
async def publish_round(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    round_id: uuid.UUID,
) -> Response:
    """District only. `closed` → `published`, once every scorecard is accepted (otherwise 409
    `scorecards_not_accepted` listing them). Publishing a **final** round writes each site's hub
    type to the registry (Annex A) from ratio = total / maximum of the applicable indicators:
    ≥ 0.9 `demonstration`, ≥ 0.8 `standard`, else `basic` (thresholds of the round's rubric, exact
    decimals). Midterm and quarterly rounds set no tier. If the registry does not answer, nothing is
    published (503) and the round stays closed: retry. Operators and streets see their scorecards
    from now on."""

    async def move() -> RoundPublished:
        found, results = await service.publish_round(session, request, principal, round_id)
        return await service.publication(session, found, results)

    return await idempotency.run(move, status_code=200)


@router.get(
    "/rounds/{round_id}/assignments",
    response_model=Page[AssignmentRead],
    summary="List a round's assignments",
)
async def list_assignments(
    session: DbSession,
    principal: AssignmentReader,
    round_id: uuid.UUID,
    page: Pagination,
    evaluator_id: uuid.UUID | None = None,
) -> Page[AssignmentRead]:
    """District (and integration, read-only): which evaluator scores which site in the round."""
    rows, cursor = await service.list_assignments(session, principal, round_id, page, evaluator_id)
    return Page(items=[AssignmentRead.model_validate(a) for a in rows], next_cursor=cursor)


@router.post(
    "/rounds/{round_id}/assignments",
    response_model=AssignmentList,
    status_code=201,
    summary="Assign an evaluator to sites",
)
async def assign_evaluator(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    round_id: uuid.UUID,
    body: AssignmentCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """District only, while the round is open (409 `round_not_open`). `evaluator_id` must be an
    active user with role `evaluator` belonging to an organisation (422 `evaluator_id`); `site_ids`
    must be sites of the round (422 `site_ids`). Third-party evaluation: if the evaluator's
    organisation operates one of the sites (active contract), 409 `evaluator_conflict_of_interest`
    naming the site(s), and nothing is assigned. Existing assignments are kept (duplicates ignored).
    Answers every assignment of that evaluator in the round. The evaluator's `sites` claim includes
    these sites from its next login or token refresh."""

    async def create() -> AssignmentList:
        rows = await service.assign(session, request, principal, round_id, body)
        return AssignmentList(items=[AssignmentRead.model_validate(a) for a in rows])

    return await idempotency.run(create)
