"""Evaluation rounds: creation with their scorecards, assignments, closing and publication.

Round life cycle: ``open → closed → published`` (:data:`TRANSITIONS`). Publishing needs every
scorecard accepted; a **final** round then writes each site's tier to the registry (Annex A) —
all registry calls happen before the state changes, so if one fails the request fails (503), the
round stays closed, and a retry is safe (the registry's tier write is idempotent). Midterm and
quarterly rounds (7.1.2, 7.2.1) publish feedback and findings only.

Scope of a round (out of scope = not found): district and integration see every round; an
evaluator the rounds it is assigned in; a street the rounds holding a site of its street; an
operator the rounds holding a site of its claim.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.db import one_in_scope
from services.common.enums import RoundKind, RoundState, ScorecardState, SiteStatus
from services.common.errors import Conflict, NotFound, ValidationFailed, define_titles
from services.common.memory import paused_gc
from services.common.pagination import PageParams, keyset_page
from services.evaluation.audit import audit
from services.evaluation.clients import Upstream
from services.evaluation.database import utcnow
from services.evaluation.rounds.models import Assignment, Round
from services.evaluation.rounds.schemas import (
    AssignmentCreate,
    RoundComputed,
    RoundCreate,
    RoundPublished,
    RoundRead,
    TierResult,
)
from services.evaluation.rubrics import service as rubrics
from services.evaluation.scorecards import service as scorecards
from services.evaluation.scorecards.compute import tier_for
from services.evaluation.scorecards.models import Scorecard
from services.evaluation.scorecards.service import RoundNotOpen

UNRESTRICTED = frozenset({"district", "integration", "service"})

TRANSITIONS: dict[tuple[RoundState, str], RoundState] = {
    (RoundState.OPEN, "close"): RoundState.CLOSED,
    (RoundState.CLOSED, "publish"): RoundState.PUBLISHED,
}

define_titles(
    {
        "round_not_found": ("Evaluation round not found", "评估轮次不存在"),
        "scorecards_not_accepted": ("Not every scorecard is accepted", "尚有评分表未验收"),
        "evaluator_conflict_of_interest": (
            "The evaluator's organisation operates this site",
            "评估人员所在机构为该站点运营方(利益冲突)",
        ),
    }
)


class RoundNotFound(NotFound):
    code = "round_not_found"

    def __init__(self) -> None:
        super().__init__("No evaluation round with this id.", detail_zh="评估轮次不存在。")


class RoundInvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, state: str, action: str) -> None:
        allowed = [a for (s, a) in TRANSITIONS if s == state]
        super().__init__(
            f"A round in state '{state}' cannot {action}.",
            detail_zh=f"处于“{state}”状态的评估轮次不能执行“{action}”操作。",
            state=state,
            allowed_actions=allowed,
        )


class ScorecardsNotAccepted(Conflict):
    code = "scorecards_not_accepted"

    def __init__(self, pending: list[dict[str, Any]]) -> None:
        super().__init__(
            f"{len(pending)} scorecard(s) are not accepted yet; accept every scorecard before publishing.",
            detail_zh=f"尚有 {len(pending)} 份评分表未验收,全部验收后方可发布。",
            scorecards=pending,
        )


class EvaluatorConflictOfInterest(Conflict):
    code = "evaluator_conflict_of_interest"

    def __init__(self, sites: list[dict[str, Any]]) -> None:
        names = ", ".join(f"{s['name']} ({s['site_id']})" for s in sites)
        super().__init__(
            f"The evaluator's organisation operates {names}: it may not evaluate its own site.",
            detail_zh=f"评估人员所在机构为以下站点的运营方,不得评估:{names}。",
            sites=sites,
        )


# ---- scope -----------------------------------------------------------------------------------------


def visible_rounds(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Round` selecting the rounds ``principal`` may see."""
    if principal.role in UNRESTRICTED:
        return true()
    if principal.role == "evaluator":
        if principal.user_id is None:
            return false()
        return Round.id.in_(select(Assignment.round_id).where(Assignment.evaluator_id == principal.user_id))
    if principal.role == "street":
        if principal.street_id is None:
            return false()
        return Round.id.in_(select(Scorecard.round_id).where(Scorecard.street_id == principal.street_id))
    if principal.role == "operator":
        if not principal.sites:
            return false()
        return Round.id.in_(select(Scorecard.round_id).where(Scorecard.site_id.in_(sorted(principal.sites))))
    return false()


async def get_round(
    session: AsyncSession, principal: Principal, round_id: uuid.UUID, *, for_update: bool = False
) -> Round:
    return await one_in_scope(
        session, Round, round_id, visible_rounds(principal), RoundNotFound(), for_update=for_update
    )


async def read_rounds(session: AsyncSession, rounds: list[Round]) -> list[RoundRead]:
    """Rounds with their scorecard counts per state (one grouped query for the whole page)."""
    counts: dict[uuid.UUID, dict[str, int]] = {r.id: {} for r in rounds}
    if rounds:
        rows = await session.execute(
            select(Scorecard.round_id, Scorecard.state, func.count())
            .where(Scorecard.round_id.in_(list(counts)))
            .group_by(Scorecard.round_id, Scorecard.state)
        )
        for round_id, state, n in rows:
            counts[round_id][state] = int(n)
    return [
        RoundRead.model_validate(r).model_copy(
            update={
                "site_count": sum(counts[r.id].values()),
                "scorecards_by_state": {state: counts[r.id].get(state.value, 0) for state in ScorecardState},
            }
        )
        for r in rounds
    ]


async def read_round(session: AsyncSession, found: Round) -> RoundRead:
    [read] = await read_rounds(session, [found])
    return read


async def list_rounds(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    year: int | None,
    kind: RoundKind | None,
    state: RoundState | None,
) -> tuple[list[Round], str | None]:
    stmt = select(Round).where(visible_rounds(principal))
    if year is not None:
        stmt = stmt.where(Round.year == year)
    if kind is not None:
        stmt = stmt.where(Round.kind == kind.value)
    if state is not None:
        stmt = stmt.where(Round.state == state.value)
    return await keyset_page(session, stmt, [Round.created_at, Round.id], page)


async def _audit(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    action: str,
    object_id: Any,
    *,
    before: Any = None,
    after: Any = None,
    note: str | None = None,
    object_type: str = "round",
) -> None:
    await audit(
        session, request, principal, action, object_type, object_id, before=before, after=after, note=note
    )


# ---- creating a round ------------------------------------------------------------------------------


async def create_round(
    session: AsyncSession, request: Request, principal: Principal, body: RoundCreate
) -> Round:
    rubric = await rubrics.find_rubric(session, body.rubric_version)
    if rubric is None:
        raise ValidationFailed(
            "rubric_version",
            f"no rubric version {body.rubric_version!r}",
            message_zh=f"评估细则版本“{body.rubric_version}”不存在",
        )
    upstream = Upstream.of(request)
    if body.site_ids is None:
        sites = await upstream.site_directory(status=SiteStatus.OPERATING.value)
        if not sites:
            raise ValidationFailed(
                "site_ids", "no site is operating: name the sites", message_zh="暂无运营中的站点"
            )
    else:
        wanted = list(dict.fromkeys(body.site_ids))
        sites = await upstream.site_directory(ids=wanted)
        unknown = sorted(set(wanted) - {s.id for s in sites}, key=str)
        if unknown:
            raise ValidationFailed(
                "site_ids",
                f"unknown site(s): {', '.join(map(str, unknown))}",
                message_zh=f"站点不存在:{', '.join(map(str, unknown))}",
            )
    now = utcnow()
    found = Round(
        year=body.year,
        kind=body.kind.value,
        title=body.title,
        period_start=body.period_start,
        period_end=body.period_end,
        rubric_version=rubric.version,
        state=RoundState.OPEN.value,
        created_by=principal.sub,
        created_at=now,
        updated_at=now,
    )
    session.add(found)
    await session.flush()
    await scorecards.create_scorecards(session, found, sites, rubric.document)
    await _audit(
        session,
        request,
        principal,
        "round.create",
        found.id,
        after={**body.model_dump(mode="json", exclude={"site_ids"}), "site_ids": [str(s.id) for s in sites]},
    )
    return found


# ---- assignments -----------------------------------------------------------------------------------


async def list_assignments(
    session: AsyncSession,
    principal: Principal,
    round_id: uuid.UUID,
    page: PageParams,
    evaluator_id: uuid.UUID | None,
) -> tuple[list[Assignment], str | None]:
    await get_round(session, principal, round_id)
    stmt = select(Assignment).where(Assignment.round_id == round_id)
    if evaluator_id is not None:
        stmt = stmt.where(Assignment.evaluator_id == evaluator_id)
    return await keyset_page(session, stmt, [Assignment.created_at, Assignment.id], page)


async def assign(
    session: AsyncSession, request: Request, principal: Principal, round_id: uuid.UUID, body: AssignmentCreate
) -> list[Assignment]:
    found = await get_round(session, principal, round_id, for_update=True)
    if found.state != RoundState.OPEN:
        raise RoundNotOpen(found.state)
    upstream = Upstream.of(request)
    user = await upstream.user(body.evaluator_id)
    if user is None:
        raise ValidationFailed("evaluator_id", "no such user", message_zh="用户不存在")
    if user.role != "evaluator":
        raise ValidationFailed(
            "evaluator_id",
            f"user has role '{user.role}', not evaluator",
            message_zh=f"该用户角色为“{user.role}”,不是评估人员",
        )
    if not user.active:
        raise ValidationFailed(
            "evaluator_id", "the evaluator's account is deactivated", message_zh="该评估人员账号已停用"
        )
    organization_id = user.organization_id
    if organization_id is None:
        raise ValidationFailed(
            "evaluator_id", "the evaluator belongs to no organisation", message_zh="该评估人员未关联评估机构"
        )
    site_ids = list(dict.fromkeys(body.site_ids))
    in_round = set(
        await session.scalars(
            select(Scorecard.site_id).where(Scorecard.round_id == found.id, Scorecard.site_id.in_(site_ids))
        )
    )
    outside = [s for s in site_ids if s not in in_round]
    if outside:
        raise ValidationFailed(
            "site_ids",
            f"not in this round: {', '.join(map(str, outside))}",
            message_zh=f"以下站点不在本轮评估范围内:{', '.join(map(str, outside))}",
        )
    # Conflict of interest (7.1.2: third-party evaluation): the evaluator's organisation must not
    # operate a site it evaluates. Operators as of today, from the registry's contracts.
    directory = await upstream.site_directory(ids=site_ids)
    conflicts = [
        {"site_id": str(entry.id), "name": entry.name}
        for entry in directory
        if organization_id in entry.operator_organization_ids
    ]
    if conflicts:
        raise EvaluatorConflictOfInterest(conflicts)
    now = utcnow()
    inserted = list(
        await session.scalars(
            insert(Assignment)
            .values(
                [
                    {
                        "id": uuid.uuid4(),
                        "round_id": found.id,
                        "evaluator_id": user.id,
                        "evaluator_organization_id": organization_id,
                        "site_id": site_id,
                        "created_by": principal.sub,
                        "created_at": now,
                    }
                    for site_id in site_ids
                ]
            )
            .on_conflict_do_nothing(constraint="uq_assignments_round_evaluator_site")
            .returning(Assignment.site_id)
        )
    )
    if inserted:
        await _audit(
            session,
            request,
            principal,
            "assignment.create",
            found.id,
            after={"evaluator_id": str(user.id), "site_ids": [str(s) for s in inserted]},
        )
    rows = await session.scalars(
        select(Assignment)
        .where(Assignment.round_id == found.id, Assignment.evaluator_id == user.id)
        .order_by(Assignment.created_at, Assignment.id)
    )
    return list(rows)


async def evaluator_site_scope(session: AsyncSession, evaluator_id: uuid.UUID) -> list[uuid.UUID]:
    """Sites of the evaluator's assignments in rounds still open or closed (its `sites` claim)."""
    rows = await session.scalars(
        select(Assignment.site_id)
        .join(Round, Round.id == Assignment.round_id)
        .where(
            Assignment.evaluator_id == evaluator_id,
            Round.state.in_([RoundState.OPEN.value, RoundState.CLOSED.value]),
        )
        .distinct()
        .order_by(Assignment.site_id)
    )
    return list(rows)


# ---- computing every scorecard ---------------------------------------------------------------------


async def compute_round(
    session: AsyncSession, request: Request, principal: Principal, round_id: uuid.UUID
) -> RoundComputed:
    """Compute every scorecard of an open round that is with the evaluator (draft or returned):
    the district all of them, an evaluator those of its assignments. The round is locked while it
    runs, so it cannot be closed halfway."""
    found = await get_round(session, principal, round_id, for_update=True)
    if found.state != RoundState.OPEN:
        raise RoundNotOpen(found.state)
    rubric = await rubrics.get_rubric(session, found.rubric_version)
    only_sites = None
    if principal.role == "evaluator":
        only_sites = frozenset(
            await session.scalars(
                select(Assignment.site_id).where(
                    Assignment.round_id == found.id, Assignment.evaluator_id == principal.user_id
                )
            )
        )
    computed_at = utcnow()
    with paused_gc():  # hundreds of thousands of short-lived objects: see services.common.memory
        computed, skipped = await scorecards.compute_round(
            session, request, principal, found, rubric, only_sites=only_sites
        )
        return RoundComputed.model_validate(
            {"round_id": found.id, "computed_at": computed_at, "computed": computed, "skipped": skipped}
        )


# ---- closing and publishing ------------------------------------------------------------------------


async def _move(
    session: AsyncSession, principal: Principal, round_id: uuid.UUID, action: str
) -> tuple[Round, RoundState]:
    found = await get_round(session, principal, round_id, for_update=True)
    target = TRANSITIONS.get((RoundState(found.state), action))
    if target is None:
        raise RoundInvalidTransition(found.state, action)
    return found, target


async def close_round(
    session: AsyncSession, request: Request, principal: Principal, round_id: uuid.UUID
) -> Round:
    found, target = await _move(session, principal, round_id, "close")
    now = utcnow()
    found.state, found.closed_at, found.updated_at = target.value, now, now
    found.version += 1
    await session.flush()
    await _audit(
        session,
        request,
        principal,
        "round.close",
        found.id,
        before={"state": "open"},
        after={"state": target},
    )
    return found


async def publish_round(
    session: AsyncSession, request: Request, principal: Principal, round_id: uuid.UUID
) -> tuple[Round, list[TierResult]]:
    found, target = await _move(session, principal, round_id, "publish")
    cards = list(
        await session.scalars(
            select(Scorecard)
            .where(Scorecard.round_id == found.id)
            .order_by(Scorecard.site_id)
            .with_for_update()
        )
    )
    pending = [
        {"scorecard_id": str(c.id), "site_id": str(c.site_id), "state": c.state}
        for c in cards
        if c.state != ScorecardState.ACCEPTED
    ]
    if pending:
        raise ScorecardsNotAccepted(pending)
    rubric = await rubrics.get_rubric(session, found.rubric_version)
    thresholds = rubric.document["thresholds"]
    final = found.kind == RoundKind.FINAL
    results: list[TierResult] = []
    upstream = Upstream.of(request)
    for card in cards:
        tier = tier_for(card.total, card.max_applicable, thresholds) if final else None
        if final:
            # Before any state changes here: a registry failure fails the whole publication.
            await upstream.set_site_tier(card.site_id, tier.value if tier else None, found.id)
        results.append(
            TierResult(
                scorecard_id=card.id,
                site_id=card.site_id,
                total=card.total,
                max_applicable=card.max_applicable,
                ratio=card.ratio,
                tier=tier,
            )
        )
    now = utcnow()
    for card, result in zip(cards, results, strict=True):
        if final:
            card.tier = result.tier.value if result.tier else None
            card.updated_at = now
            card.version += 1
    found.state, found.published_at, found.updated_at = target.value, now, now
    found.version += 1
    await session.flush()
    await _audit(
        session,
        request,
        principal,
        "round.publish",
        found.id,
        before={"state": "closed"},
        after={"state": target, "tiers": [r.model_dump(mode="json") for r in results] if final else None},
        note=None if final else f"{found.kind} round: feedback and findings only, no tier",
    )
    return found, results


async def publication(session: AsyncSession, found: Round, results: list[TierResult]) -> RoundPublished:
    base = await read_round(session, found)
    return RoundPublished(**base.model_dump(), tiers=results)
