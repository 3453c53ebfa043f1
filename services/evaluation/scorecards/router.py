"""Scorecards (SPEC §6): one per site and round, scored against Table C.1 with explanations."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from services.common.auth import AnyUser, DistrictOnly, Principal, require_roles
from services.common.db import DbSession
from services.common.enums import ScorecardState
from services.common.etag import make_etag, set_etag
from services.common.idempotency import IdempotencyGuard
from services.common.pagination import Page, Pagination
from services.evaluation.scorecards import service, survey
from services.evaluation.scorecards.schemas import (
    CommentBody,
    FindingCreate,
    FindingRead,
    ItemUpdate,
    ReasonBody,
    ScorecardRead,
    ScorecardSummary,
    SurveyWriteResult,
)
from services.evaluation.scorecards.state import ScorecardAction

router = APIRouter(tags=["scorecards"])

# Who may use which endpoint (object scope: service.visible_scorecards).
EvaluatorOnly = Annotated[Principal, Depends(require_roles("evaluator"))]
Scorer = Annotated[Principal, Depends(require_roles("district", "evaluator"))]
CodePath = Annotated[str, Path(pattern=r"^C\d{2}$", examples=["C04"])]


def _etag_of(card: ScorecardRead) -> dict[str, str]:
    return {"ETag": make_etag(card.id, card.version)}


@router.get("/scorecards", response_model=Page[ScorecardSummary], summary="List scorecards")
async def list_scorecards(
    session: DbSession,
    principal: AnyUser,
    page: Pagination,
    round_id: uuid.UUID | None = None,
    site_id: uuid.UUID | None = None,
    state: ScorecardState | None = None,
) -> Page[ScorecardSummary]:
    """Scorecards, oldest first, without their items. District and integration see all; an
    evaluator the scorecards of its assignments; an operator (its sites) and a street (its street's
    sites) only once the round is published. Filters combine with that scope."""
    rows, cursor = await service.list_scorecards(
        session, principal, page, round_id=round_id, site_id=site_id, state=state
    )
    return Page(items=[ScorecardSummary.model_validate(c) for c in rows], next_cursor=cursor)


@router.get("/scorecards/{scorecard_id}", response_model=ScorecardRead, summary="Get a scorecard")
async def get_scorecard(
    session: DbSession, principal: AnyUser, scorecard_id: uuid.UUID, response: Response
) -> ScorecardRead:
    """One scorecard with its 21 `items` in Table C.1 order — computed, manual and override values,
    what counts (`final_points`) and each item's `explanation` (the inputs read with their source,
    the ids of the records counted and those excluded with why, and the rule's lines) — its
    `findings`, the `survey` summary (respondents per channel, satisfaction rate) and its `history`.
    Out of scope (see the list) answers 404 `scorecard_not_found` like a missing one."""
    card = await service.get_scorecard(session, principal, scorecard_id)
    set_etag(response, card.id, card.version)
    return await service.read_scorecard(session, card)


@router.post(
    "/scorecards/{scorecard_id}/compute", response_model=ScorecardRead, summary="Compute a scorecard"
)
async def compute_scorecard(
    request: Request,
    session: DbSession,
    principal: Scorer,
    scorecard_id: uuid.UUID,
    idempotency: IdempotencyGuard,
) -> Response:
    """The district or the assigned evaluator, while the scorecard is `draft` or `returned` and the
    round open. Pulls the site's registry facts and activity metrics for the round's period and
    evaluates every `auto` and `hybrid` indicator, each with its explanation. C15's yearly counts
    (8 of 50–100 people, 2 of more than 100) are pro-rated to the months the period covers, rounded
    up. An indicator whose inputs are not available (e.g. C18 without survey responses, C10 before
    the evaluator's fire-rules judgement) stays empty and its explanation says why. Manual
    indicators are left to the evaluator. 409 `scorecard_frozen` once accepted; 503 when the
    registry or the activities service does not answer."""

    async def run() -> ScorecardRead:
        card = await service.compute_scorecard(session, request, principal, scorecard_id)
        return await service.read_scorecard(session, card)

    return await idempotency.run(run, status_code=200, headers=_etag_of)


@router.put(
    "/scorecards/{scorecard_id}/items/{code}", response_model=ScorecardRead, summary="Score one indicator"
)
async def update_item(
    request: Request,
    session: DbSession,
    principal: EvaluatorOnly,
    scorecard_id: uuid.UUID,
    code: CodePath,
    body: ItemUpdate,
    response: Response,
) -> ScorecardRead:
    """The assigned evaluator, while `draft` or `returned`. Two forms:

    * `{"inputs": {...}}` for an indicator with `manual_input_spec` (every `manual` one, and hybrid
      C10): every declared input by its full name — `bool` true/false, `level` one of its `levels`,
      `count` 0…`max` (otherwise 422 naming `inputs.<name>`); the rule is evaluated at once.
    * `{"override_points": 1.5, "reason": "…"}` for an `auto` or `hybrid` indicator: 0…max_points
      in steps of 0.5 (422 `override_points`), `reason` required (422 `reason`). The computed value
      is kept beside it; `{"override_points": null}` removes the override.

    Returns the whole scorecard with new totals. 404 `item_not_found` for a code not in the rubric."""
    card = await service.update_item(session, request, principal, scorecard_id, code, body)
    set_etag(response, card.id, card.version)
    return await service.read_scorecard(session, card)


@router.post(
    "/scorecards/{scorecard_id}/findings",
    response_model=FindingRead,
    status_code=201,
    summary="Record a finding",
)
async def add_finding(
    request: Request,
    session: DbSession,
    principal: EvaluatorOnly,
    scorecard_id: uuid.UUID,
    body: FindingCreate,
    idempotency: IdempotencyGuard,
) -> Response:
    """The assigned evaluator records a finding (7.2.2) on an indicator of the round's rubric
    (422 `indicator_code` otherwise), with `severity` `minor`, `major` or `critical`. After
    publication the site's operator answers each finding with an improvement plan."""

    async def create() -> FindingRead:
        return FindingRead.model_validate(
            await service.add_finding(session, request, principal, scorecard_id, body)
        )

    return await idempotency.run(create)


@router.post(
    "/scorecards/{scorecard_id}/survey-responses",
    response_model=SurveyWriteResult,
    status_code=201,
    summary="Record survey responses",
)
async def add_survey_responses(
    request: Request,
    session: DbSession,
    principal: EvaluatorOnly,
    scorecard_id: uuid.UUID,
    idempotency: IdempotencyGuard,
    payload: Annotated[
        dict[str, Any],
        Body(
            description='One response, or {"responses": [...]} with at most 500',
            examples=[
                {
                    "channel": "onsite_random",
                    "ratings": {
                        "space": 5,
                        "functions": 4,
                        "service": 5,
                        "pricing": 4,
                        "participation": 3,
                        "belonging": 5,
                    },
                    "respondent_phone": "13812345678",
                }
            ],
        ),
    ],
) -> Response:
    """The assigned evaluator records residents' answers (C18, 7.1.1): one response object or
    `{"responses": [...]}` (≤ 500). Each: `channel` `onsite_random` | `phone`; `ratings` 1–5 for
    any of the six dimensions `space`, `functions`, `service`, `pricing`, `participation`,
    `belonging` (at least one; another name → 422 naming it); optional `respondent_phone`, stored
    masked only (`138****5678`). The satisfaction rate (answers rated 4 or 5 / all answers) and C18
    are refreshed at once; a rate below 90 % keeps one finding `satisfaction_below_90` on C18,
    removed when the rate recovers."""
    responses = survey.parse_responses(payload)

    async def create() -> SurveyWriteResult:
        return await service.add_survey_responses(session, request, principal, scorecard_id, responses)

    return await idempotency.run(create)


async def _transition(
    request: Request,
    session: DbSession,
    principal: Principal,
    idempotency: IdempotencyGuard,
    scorecard_id: uuid.UUID,
    action: ScorecardAction,
    note: str | None = None,
) -> Response:
    async def move() -> ScorecardRead:
        card = await service.transition(session, request, principal, scorecard_id, action, note)
        return await service.read_scorecard(session, card)

    return await idempotency.run(move, status_code=200, headers=_etag_of)


@router.post("/scorecards/{scorecard_id}/submit", response_model=ScorecardRead, summary="Submit a scorecard")
async def submit_scorecard(
    request: Request,
    session: DbSession,
    principal: EvaluatorOnly,
    idempotency: IdempotencyGuard,
    scorecard_id: uuid.UUID,
) -> Response:
    """The assigned evaluator hands a `draft` or `returned` scorecard to the district
    (→ `submitted`). Refused with 409 `survey_incomplete` while a channel has fewer respondents than
    the rubric asks (30, 7.1.1), and 409 `items_missing` (listing `codes`) while a manual indicator
    has no value or an auto one could not be computed and is not overridden."""
    return await _transition(request, session, principal, idempotency, scorecard_id, ScorecardAction.SUBMIT)


@router.post("/scorecards/{scorecard_id}/return", response_model=ScorecardRead, summary="Return a scorecard")
async def return_scorecard(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    scorecard_id: uuid.UUID,
    body: CommentBody,
) -> Response:
    """District only. Sends a `submitted` scorecard back to its evaluator (→ `returned`) with a
    `comment` saying what to change; the comment appears in the scorecard's `history`."""
    return await _transition(
        request, session, principal, idempotency, scorecard_id, ScorecardAction.RETURN, body.comment
    )


@router.post("/scorecards/{scorecard_id}/accept", response_model=ScorecardRead, summary="Accept a scorecard")
async def accept_scorecard(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    scorecard_id: uuid.UUID,
) -> Response:
    """District only. Accepts a `submitted` scorecard (→ `accepted`): its scores, findings and survey
    are frozen (writes answer 409 `scorecard_frozen`). A round publishes once all are accepted."""
    return await _transition(request, session, principal, idempotency, scorecard_id, ScorecardAction.ACCEPT)


@router.post("/scorecards/{scorecard_id}/reopen", response_model=ScorecardRead, summary="Reopen a scorecard")
async def reopen_scorecard(
    request: Request,
    session: DbSession,
    principal: DistrictOnly,
    idempotency: IdempotencyGuard,
    scorecard_id: uuid.UUID,
    body: ReasonBody,
) -> Response:
    """District only. Reopens an `accepted` scorecard for a change (→ `returned`) with a `reason`,
    which is audited and shown in the `history`. Not once the round is published (409
    `round_published`)."""
    return await _transition(
        request, session, principal, idempotency, scorecard_id, ScorecardAction.REOPEN, body.reason
    )
