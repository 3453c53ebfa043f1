"""Scorecards: who sees them, computing them, the evaluator's values and overrides, findings, the
survey, and the life cycle of :mod:`services.evaluation.scorecards.state`.

Scope of a scorecard (out of scope = not found, exactly like a missing one):

* ``district``, ``integration`` (and service tokens): every scorecard;
* ``evaluator``: the scorecards of its assignments (round and site);
* ``operator``: the scorecards of the sites in its claim, once the round is published;
* ``street``: the scorecards of its street's sites, once the round is published.

The assigned evaluator scores while the scorecard is ``draft`` or ``returned`` and the round is
open; the district may also (re)compute. An accepted scorecard is frozen (409 ``scorecard_frozen``)
until the district reopens it with a reason. Every write is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import repeat
from types import SimpleNamespace
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    exists,
    false,
    inspect,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import audit_values, json_ready
from services.common.auth import Principal
from services.common.db import one_in_scope
from services.common.enums import IndicatorSource, RoundState, ScorecardState
from services.common.errors import AppError, Conflict, NotFound, ValidationFailed, define_titles
from services.common.outbox import EVENT_COLUMNS, emit_records, event_row
from services.common.pagination import PageParams, keyset_page
from services.common.stored import reads_stored
from services.evaluation.audit import audit
from services.evaluation.clients import DirectoryEntry, Upstream
from services.evaluation.database import tables, utcnow
from services.evaluation.improvement.service import open_plans_of_site
from services.evaluation.rounds.models import Assignment, Round
from services.evaluation.rubric.engine import inputs_of
from services.evaluation.rubrics.models import Rubric
from services.evaluation.scorecards import compute, survey
from services.evaluation.scorecards.inputs import (
    InputRecord,
    activity_inputs,
    engine_values,
    registry_inputs,
    survey_inputs,
)
from services.evaluation.scorecards.models import Finding, Scorecard, ScorecardItem
from services.evaluation.scorecards.schemas import (
    FindingCreate,
    FindingRead,
    ItemRead,
    ItemUpdate,
    ManualInputSpec,
    RoundBrief,
    ScorecardRead,
    ScorecardSummary,
    SurveyResponseCreate,
    SurveyWriteResult,
    TransitionRead,
)
from services.evaluation.scorecards.state import (
    DISTRICT_ACTIONS,
    EDITABLE_STATES,
    ScorecardAction,
    allowed_actions,
    next_state,
)

UNRESTRICTED = frozenset({"district", "integration", "service"})
HALF = Decimal("0.5")
CENT = Decimal("0.01")

define_titles(
    {
        "scorecard_not_found": ("Scorecard not found", "评分表不存在"),
        "item_not_found": ("No such indicator on this scorecard", "评分表中无此指标"),
        "scorecard_frozen": ("The scorecard is accepted and frozen", "评分表已验收,不可修改"),
        "scorecard_not_editable": ("The scorecard is not with the evaluator", "评分表当前不可修改"),
        "round_published": ("The evaluation round is published", "评估轮次已发布"),
        "round_not_open": ("The evaluation round is not open", "评估轮次未处于进行中"),
        "survey_incomplete": ("Too few survey respondents", "满意度调查样本不足"),
        "items_missing": ("Some indicators have no score yet", "尚有指标未评分"),
    }
)


# ---- errors ----------------------------------------------------------------------------------------


class ScorecardNotFound(NotFound):
    code = "scorecard_not_found"

    def __init__(self) -> None:
        super().__init__("No scorecard with this id.", detail_zh="评分表不存在。")


class ItemNotFound(NotFound):
    code = "item_not_found"

    def __init__(self, code: str) -> None:
        super().__init__(
            f"The rubric of this scorecard has no indicator {code}.", detail_zh=f"评分表中无指标 {code}。"
        )


class ScorecardFrozen(Conflict):
    code = "scorecard_frozen"

    def __init__(self) -> None:
        super().__init__(
            "The scorecard is accepted: its scores, findings and survey are frozen. "
            "The district may reopen it with a reason.",
            detail_zh="评分表已验收,分数、问题与满意度调查均已冻结;如需修改,须由区民政局说明理由后重新开启。",
        )


class ScorecardNotEditable(Conflict):
    code = "scorecard_not_editable"

    def __init__(self, state: str) -> None:
        super().__init__(
            f"The scorecard is {state}: it can change only while draft or returned.",
            detail_zh=f"评分表当前为“{state}”状态,仅在草稿或退回状态下可修改。",
            state=state,
        )


class RoundNotOpen(Conflict):
    code = "round_not_open"

    def __init__(self, state: str) -> None:
        super().__init__(
            f"The round is {state}: assignments and scoring happen only while it is open.",
            detail_zh=f"评估轮次当前为“{state}”状态,仅在进行中时可分配评估人员与评分。",
            state=state,
        )


class RoundPublished(Conflict):
    code = "round_published"

    def __init__(self) -> None:
        super().__init__(
            "The round is published: its scorecards can no longer change.",
            detail_zh="评估轮次已发布,评分表不可再变更。",
        )


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, state: str, action: ScorecardAction) -> None:
        super().__init__(
            f"A scorecard in state '{state}' cannot take the action '{action.value}'.",
            detail_zh=f"处于“{state}”状态的评分表不能执行“{action.value}”操作。",
            state=state,
            allowed_actions=[a.value for a in allowed_actions(state)],
        )


class SurveyIncomplete(Conflict):
    code = "survey_incomplete"

    def __init__(self, by_channel: Mapping[str, int], minimum: int) -> None:
        counts = ", ".join(f"{k} {v}" for k, v in by_channel.items())
        super().__init__(
            f"The survey needs at least {minimum} respondents per channel before submitting; "
            f"it has {counts}.",
            detail_zh=f"每种调查方式至少需要 {minimum} 名受访居民方可提交,目前为:{counts}。",
            by_channel=dict(by_channel),
            min_per_channel=minimum,
        )


class ItemsMissing(Conflict):
    code = "items_missing"

    def __init__(self, codes: list[str]) -> None:
        super().__init__(
            f"These indicators have no score yet: {', '.join(codes)}.",
            detail_zh=f"以下指标尚未评分:{', '.join(codes)}。",
            codes=codes,
        )


class FieldsInvalid(AppError):
    """422 naming every bad field at once."""

    status = 422
    code = "validation_failed"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        super().__init__(f"Invalid fields: {fields}", detail_zh=f"以下字段无效:{fields}", errors=errors)


# ---- scope -----------------------------------------------------------------------------------------


def _published_rounds() -> Any:
    return select(Round.id).where(Round.state == RoundState.PUBLISHED.value)


def visible_scorecards(principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on :class:`Scorecard` selecting the scorecards ``principal`` may see."""
    if principal.role in UNRESTRICTED:
        return true()
    if principal.role == "evaluator":
        if principal.user_id is None:
            return false()
        return exists().where(
            Assignment.evaluator_id == principal.user_id,
            Assignment.round_id == Scorecard.round_id,
            Assignment.site_id == Scorecard.site_id,
        )
    if principal.role == "operator":
        if not principal.sites:
            return false()
        return and_(
            Scorecard.site_id.in_(sorted(principal.sites)), Scorecard.round_id.in_(_published_rounds())
        )
    if principal.role == "street":
        if principal.street_id is None:
            return false()
        return and_(Scorecard.street_id == principal.street_id, Scorecard.round_id.in_(_published_rounds()))
    return false()


async def get_scorecard(
    session: AsyncSession, principal: Principal, scorecard_id: uuid.UUID, *, for_update: bool = False
) -> Scorecard:
    return await one_in_scope(
        session,
        Scorecard,
        scorecard_id,
        visible_scorecards(principal),
        ScorecardNotFound(),
        for_update=for_update,
    )


async def list_scorecards(
    session: AsyncSession,
    principal: Principal,
    page: PageParams,
    *,
    round_id: uuid.UUID | None,
    site_id: uuid.UUID | None,
    state: ScorecardState | None,
) -> tuple[list[Scorecard], str | None]:
    stmt = select(Scorecard).where(visible_scorecards(principal))
    if round_id is not None:
        stmt = stmt.where(Scorecard.round_id == round_id)
    if site_id is not None:
        stmt = stmt.where(Scorecard.site_id == site_id)
    if state is not None:
        stmt = stmt.where(Scorecard.state == state.value)
    return await keyset_page(session, stmt, [Scorecard.created_at, Scorecard.id], page)


# ---- creation (with the round) ---------------------------------------------------------------------


async def create_scorecards(
    session: AsyncSession, found: Round, sites: Sequence[DirectoryEntry], document: Mapping[str, Any]
) -> None:
    """One scorecard per site, each with one empty item per indicator of the round's rubric."""
    now = utcnow()
    cards = [
        {
            "id": uuid.uuid4(),
            "round_id": found.id,
            "site_id": site.id,
            "street_id": site.street_id,
            "site_name": site.name[:100],
            "state": ScorecardState.DRAFT.value,
            "inputs": {},
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for site in sites
    ]
    await session.execute(insert(Scorecard), cards)
    items = [
        {
            "scorecard_id": card["id"],
            "code": indicator["code"],
            "source": indicator["source"],
            "max_points": Decimal(str(indicator["max_points"])),
            "applicable": True,
            "explanation": {},
            "manual_inputs": {},
            "updated_at": now,
        }
        for card in cards
        for indicator in document["indicators"]
    ]
    await session.execute(insert(ScorecardItem), items)


# ---- reading ---------------------------------------------------------------------------------------


async def _context(session: AsyncSession, card: Scorecard) -> tuple[Round, Rubric]:
    found = await session.get(Round, card.round_id)
    assert found is not None
    rubric = await session.get(Rubric, found.rubric_version)
    assert rubric is not None
    return found, rubric


def _indicators(rubric: Rubric) -> dict[str, dict[str, Any]]:
    return {i["code"]: i for i in rubric.document["indicators"]}


async def _items(session: AsyncSession, card: Scorecard) -> dict[str, ScorecardItem]:
    rows = await session.scalars(select(ScorecardItem).where(ScorecardItem.scorecard_id == card.id))
    return {item.code: item for item in rows}


def _explanation(item: ScorecardItem, card_inputs: Mapping[str, InputRecord]) -> Mapping[str, Any]:
    computed = inspect(item).info.get(_COMPUTED_EXPLANATION)
    if computed is not None:
        return computed  # type: ignore[no-any-return]
    return compute.explanation_in_full(item.explanation or {}, card_inputs, item.manual_inputs or {})


@reads_stored("evaluation.scorecard_items")
def _item_read(
    item: ScorecardItem, indicator: Mapping[str, Any], card_inputs: Mapping[str, InputRecord]
) -> ItemRead:
    return ItemRead(
        code=item.code,
        seq=indicator["seq"],
        dimension=indicator["dimension"],
        sub_dimension=indicator["sub_dimension"],
        name=indicator["name"],
        rule_text=indicator["rule_text"],
        source=item.source,  # type: ignore[arg-type]
        max_points=item.max_points,
        applicable=item.applicable,
        auto_points=item.auto_points,
        manual_inputs=item.manual_inputs or {},
        manual_points=item.manual_points,
        override_points=item.override_points,
        override_reason=item.override_reason,
        final_points=item.final_points,
        explanation=_explanation(item, card_inputs),
        manual_input_spec=[ManualInputSpec.model_validate(m) for m in indicator.get("manual_inputs", [])],
        updated_by=item.updated_by,
        updated_at=item.updated_at,
    )


_TRANSITION_ACTIONS = [f"scorecard.{a.value}" for a in ScorecardAction]


async def _history(session: AsyncSession, card: Scorecard) -> list[TransitionRead]:
    audit = tables.audit
    rows = await session.execute(
        select(
            audit.c.action,
            audit.c.actor,
            audit.c.actor_role,
            audit.c.occurred_at,
            audit.c.note,
            audit.c.before,
            audit.c.after,
        )
        .where(
            audit.c.object_type == "scorecard",
            audit.c.object_id == str(card.id),
            audit.c.action.in_(_TRANSITION_ACTIONS),
        )
        .order_by(audit.c.occurred_at, audit.c.id)
    )
    return [
        TransitionRead(
            action=row.action.removeprefix("scorecard."),
            actor=row.actor,
            actor_role=row.actor_role,
            at=row.occurred_at,
            note=row.note,
            before=(row.before or {}).get("state"),
            after=(row.after or {}).get("state"),
        )
        for row in rows
    ]


async def read_scorecard(session: AsyncSession, card: Scorecard) -> ScorecardRead:
    found, rubric = await _context(session, card)
    indicators = _indicators(rubric)
    items = await _items(session, card)
    inputs = card.inputs or {}
    ordered = [
        _item_read(items[code], indicator, inputs) for code, indicator in indicators.items() if code in items
    ]
    findings = await session.scalars(
        select(Finding).where(Finding.scorecard_id == card.id).order_by(Finding.created_at, Finding.id)
    )
    summary = await survey.summarise(session, card.id, survey.survey_rules(rubric.document))
    return ScorecardRead(
        **ScorecardSummary.model_validate(card).model_dump(),
        round=RoundBrief(
            id=found.id,
            year=found.year,
            kind=found.kind,  # type: ignore[arg-type]
            title=found.title,
            state=found.state,  # type: ignore[arg-type]
            period_start=found.period_start,
            period_end=found.period_end,
            rubric_version=found.rubric_version,
        ),
        items=ordered,
        findings=[FindingRead.model_validate(f) for f in findings],
        survey=summary,
        history=await _history(session, card),
        open_improvement_plans=[
            plan for plan in await open_plans_of_site(session, card.site_id) if plan.round_id != card.round_id
        ],
    )


# ---- writing: shared checks ------------------------------------------------------------------------


async def _writable(
    session: AsyncSession, principal: Principal, scorecard_id: uuid.UUID
) -> tuple[Scorecard, Round, Rubric]:
    """The scorecard locked for a scoring write: visible, with the evaluator, its round open."""
    card = await get_scorecard(session, principal, scorecard_id, for_update=True)
    if card.state == ScorecardState.ACCEPTED:
        raise ScorecardFrozen()
    if card.state not in EDITABLE_STATES:
        raise ScorecardNotEditable(card.state)
    found, rubric = await _context(session, card)
    if found.state != RoundState.OPEN:
        raise RoundNotOpen(found.state)
    return card, found, rubric


def _touch(card: Scorecard, items: Mapping[str, ScorecardItem] | None = None) -> None:
    if items is not None:
        result = compute.totals(items.values())
        card.total, card.max_applicable, card.ratio = result.total, result.max_applicable, result.ratio
    card.version += 1
    card.updated_at = utcnow()


async def _audit(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    action: str,
    card: Scorecard,
    *,
    before: Any = None,
    after: Any = None,
    note: str | None = None,
) -> None:
    await audit(
        session, request, principal, action, "scorecard", card.id, before=before, after=after, note=note
    )


def _item_snapshot(item: ScorecardItem) -> dict[str, Any]:
    return {
        "code": item.code,
        "auto_points": item.auto_points,
        "manual_inputs": item.manual_inputs,
        "manual_points": item.manual_points,
        "override_points": item.override_points,
        "override_reason": item.override_reason,
        "final_points": item.final_points,
    }


# An item's explanation as computed in this request (the answer shows it so), by item.
_COMPUTED_EXPLANATION = "linju.evaluation.computed_explanation"


def _apply(item: ScorecardItem, scored: compute.Scored, principal: Principal | None) -> None:
    """Store a computed value on an auto or hybrid item and refresh what counts. The explanation
    is stored by reference (one built so already, ``referenced``, is kept as it is); a full one is
    also kept for this request's answer."""
    item.auto_points = scored.points
    if "read" in scored.explanation:
        item.explanation = scored.explanation
    else:
        item.explanation = compute.by_reference(scored.explanation)
        inspect(item).info[_COMPUTED_EXPLANATION] = scored.explanation
    item.final_points = compute.final_points(
        item.source, item.auto_points, item.manual_points, item.override_points
    )
    item.updated_at = utcnow()
    if principal is not None:
        item.updated_by = principal.sub


def _reevaluate(
    items: Mapping[str, ScorecardItem],
    indicators: Mapping[str, Mapping[str, Any]],
    records: Mapping[str, InputRecord],
    principal: Principal | None,
    only_reading: str | None = None,
) -> None:
    """Evaluate the auto and hybrid indicators (those reading ``only_reading``.* when given).
    A whole round scores its scorecards with :class:`_RoundScoring` instead."""
    values = engine_values(records)  # once for all the indicators of the scorecard
    for code, indicator in indicators.items():
        item = items.get(code)
        if item is None or item.source == IndicatorSource.MANUAL:
            continue
        read = sorted(inputs_of(indicator["rule"]))
        if only_reading and not any(n.startswith(only_reading) for n in read):
            continue
        _apply(
            item,
            compute.evaluate_indicator(indicator, records, item.manual_inputs, values=values, read=read),
            principal,
        )


# ---- compute ---------------------------------------------------------------------------------------


async def compute_scorecard(
    session: AsyncSession, request: Request, principal: Principal, scorecard_id: uuid.UUID
) -> Scorecard:
    """Pull the registry facts and the activities metrics of the round's period, then evaluate
    every auto and hybrid indicator with its explanation."""
    card, found, rubric = await _writable(session, principal, scorecard_id)
    upstream = Upstream.of(request)
    facts = await upstream.evaluation_inputs(card.site_id, found.period_start, found.period_end)
    metrics = await upstream.activity_metrics(card.site_id, found.period_start, found.period_end)
    rules = survey.survey_rules(rubric.document)
    summary = await survey.summarise(session, card.id, rules)
    records = {
        **registry_inputs(facts),
        **activity_inputs(metrics),
        **survey_inputs(survey.summary_for_inputs(summary, rules)),
    }
    items = await _items(session, card)
    before = {code: item.final_points for code, item in items.items()}
    _reevaluate(items, _indicators(rubric), records, principal)
    card.inputs = records
    card.satisfaction_rate = summary.satisfaction_rate
    card.computed_at = utcnow()
    _touch(card, items)
    await session.flush()
    await _audit(
        session,
        request,
        principal,
        "scorecard.compute",
        card,
        before={"final_points": before},
        after={
            "final_points": {code: item.final_points for code, item in items.items()},
            "total": card.total,
        },
    )
    return card


async def compute_round(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    found: Round,
    rubric: Rubric,
    *,
    only_sites: frozenset[uuid.UUID] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """:func:`compute_scorecard` for every scorecard of an open round at once (issue 7, P6): the
    registry facts and the activities metrics of all its sites in one call each (grouped SQL on
    their side), the survey summaries in one grouped query, the engine in memory, and the
    scorecards and items written with one set-based UPDATE each. Each scorecard ends exactly as
    its own compute would leave it, with the same audit row. Scorecards not with the evaluator
    (submitted, accepted) are skipped; ``only_sites`` limits the round to those sites (an
    evaluator's assignments). Returns (computed, skipped) as JSON-ready rows."""
    cards_table = _CARDS_TABLE
    stmt = select(cards_table.c.id, cards_table.c.site_id, cards_table.c.state, cards_table.c.total).where(
        cards_table.c.round_id == found.id
    )
    if only_sites is not None:
        stmt = stmt.where(cards_table.c.site_id.in_(sorted(only_sites)))
    # Locked in one order, like a single compute locks its scorecard.
    cards = (await session.execute(stmt.order_by(cards_table.c.site_id).with_for_update())).all()
    editable = [card for card in cards if card.state in EDITABLE_STATES]
    skipped = [
        {"scorecard_id": card.id, "site_id": card.site_id, "state": card.state}
        for card in cards
        if card.state not in EDITABLE_STATES
    ]
    if not editable:
        return [], skipped
    site_ids = [card.site_id for card in editable]
    upstream = Upstream.of(request)
    # The other services gather their facts while this one reads its own.
    gathering = asyncio.gather(
        upstream.evaluation_inputs_of(site_ids, found.period_start, found.period_end),
        upstream.activity_metrics_of(site_ids, found.period_start, found.period_end),
    )
    try:
        rules, summaries, items_of = await _scoring_state(session, rubric, editable)
    except BaseException:
        gathering.cancel()
        raise
    facts, metrics = await gathering
    missing = next((card.site_id for card in editable if card.site_id not in facts), None)
    if missing is not None:  # the site left the registry: the round cannot be computed
        raise _unavailable_site(missing)
    scoring = _RoundScoring(rubric, rules, principal)
    now = utcnow()
    computed: list[dict[str, Any]] = []
    audits: list[tuple[uuid.UUID, dict[str, Any], dict[str, Any]]] = []
    # Scoring and writing overlap: while PostgreSQL stores one chunk of scorecards (parsing their
    # JSONB on its own CPU), the next chunk is scored here.
    writing: asyncio.Future[None] | None = None
    try:
        for start in range(0, len(editable), _WRITE_CHUNK):
            cards_set = _Columns("id", "inputs", "rate", "total", "max", "ratio")
            items_set = _Columns("card", "code", "auto", "explanation", "final", "at")
            for card in editable[start : start + _WRITE_CHUNK]:
                entry, audited = scoring.score(
                    card, facts[card.site_id], metrics.get(card.site_id, {}), summaries[card.id],
                    items_of[card.id], cards_set, items_set,
                )  # fmt: skip
                computed.append(entry)
                audits.append(audited)
                await asyncio.sleep(0)  # let the previous chunk's statements flow to PostgreSQL
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(_write_scores(session, cards_set, items_set, now, principal))
            await asyncio.sleep(0)  # sent before scoring goes on
        if writing is not None:
            await writing
    except BaseException:
        if writing is not None:  # the session is free again before the transaction rolls back
            with contextlib.suppress(BaseException):
                await writing
        raise
    await _audit_computes(session, request, principal, audits)
    return computed, skipped


class _RoundScoring:
    """Scores the scorecards of a round one by one, sharing what does not change between them:
    the rubric's indicators, the inputs each rule reads, the rules' results and, for an indicator,
    what its evaluation gives for the same values read (points and stored explanation)."""

    def __init__(self, rubric: Rubric, rules: Mapping[str, Any], principal: Principal) -> None:
        self.indicators = _indicators(rubric)
        self.reads = {code: sorted(inputs_of(i["rule"])) for code, i in self.indicators.items()}
        self.results = compute.RuleResults()
        self.rules = rules
        self.principal = principal
        self._outcomes: dict[tuple[Any, ...], _Outcome] = {}

    def score(
        self,
        card: Any,
        facts: Mapping[str, Any],
        metrics: Mapping[str, Any],
        summary: Any,
        items: Any,
        cards_set: _Columns,
        items_set: _Columns,
    ) -> tuple[dict[str, Any], tuple[uuid.UUID, dict[str, Any], dict[str, Any]]]:
        """Score one scorecard: its row and its items' rows go to the sets to write; returns its
        entry of the answer and its audit entry (id, before, after). Each auto or hybrid item ends
        as :func:`_reevaluate` would leave it (explanation by reference)."""
        records = {
            **registry_inputs(facts),
            **activity_inputs(metrics),
            **survey_inputs(survey.summary_for_inputs(summary, self.rules)),
        }
        before = {code: item.final_points for code, item in items.items()}
        values = engine_values(records)  # once for all the indicators of the scorecard
        explanations: dict[str, str] = {}
        actor = self.principal.sub
        for code, indicator in self.indicators.items():
            item = items.get(code)
            if item is None or item.source == IndicatorSource.MANUAL:
                continue
            points, explanation, explanation_json = self._evaluate(
                code, indicator, records, values, item.manual_inputs
            )
            item.auto_points = points
            item.explanation = explanation
            item.final_points = compute.final_points(
                item.source, points, item.manual_points, item.override_points
            )
            item.updated_at = utcnow()
            item.updated_by = actor
            explanations[code] = explanation_json
        result = compute.totals(items.values())
        cards_set.add(
            card.id,
            orjson.dumps(records).decode(),
            summary.satisfaction_rate,
            result.total,
            result.max_applicable,
            result.ratio,
        )
        for code, item in items.items():
            if code in explanations:
                items_set.add(
                    card.id,
                    code,
                    _text(item.auto_points),
                    explanations[code],
                    _text(item.final_points),
                    item.updated_at.isoformat(),
                )
        entry = {
            "scorecard_id": card.id,
            "site_id": card.site_id,
            "state": card.state,
            # As the columns keep them (numeric(6, 2)), so the answer reads like the scorecard.
            "total": result.total.quantize(CENT),
            "max_applicable": result.max_applicable.quantize(CENT),
            "ratio": result.ratio,
            "satisfaction_rate": summary.satisfaction_rate,
        }
        after = {
            "final_points": {code: item.final_points for code, item in items.items()},
            "total": result.total,
        }
        return entry, (card.id, {"final_points": before}, after)

    def _evaluate(
        self,
        code: str,
        indicator: Mapping[str, Any],
        records: Mapping[str, InputRecord],
        values: Mapping[str, Any],
        manual: Mapping[str, Any] | None,
    ) -> _Outcome:
        """:func:`compute.evaluate_indicator` (explanation by reference) and the explanation as
        JSON. An evaluation that scored depends only on the indicator, the values it read (each
        present or not) and the evaluator's values, so it is remembered under them; one that did
        not (its message may quote a record's note) is made again each time."""
        read = self.reads[code]
        key: tuple[Any, ...] | None
        # The type is part of the key: True == 1 and 1 == 1.0 must not share an outcome.
        key = (code, *[(type(v), v) for v in map(values.get, read, repeat(_ABSENT))])
        if manual:
            key += (_ABSENT, *[(name, type(v), v) for name, v in sorted(manual.items())])
        try:
            known = self._outcomes.get(key)
        except TypeError:  # an unhashable value: nothing to share
            key, known = None, None
        if known is not None:
            return known
        scored = compute.evaluate_indicator(
            indicator, records, manual, values=values, read=read, results=self.results, referenced=True
        )
        outcome = (scored.points, scored.explanation, orjson.dumps(scored.explanation).decode())
        if (
            key is not None
            and scored.explanation["missing"] is None
            and scored.explanation["message"] is None
        ):
            self._outcomes[key] = outcome
        return outcome


# An indicator's evaluation: auto points, the explanation stored by reference, and it as JSON.
_Outcome = tuple[Decimal | None, dict[str, Any], str]
_ABSENT = object()


# Scorecards scored and written at a time by a round's compute (~1.5 MB of JSONB for 50).
_WRITE_CHUNK = 50


async def _write_scores(
    session: AsyncSession, cards_set: _Columns, items_set: _Columns, now: dt.datetime, principal: Principal
) -> None:
    """Set-based: one UPDATE … FROM unnest(…) for a chunk of scorecards, one for their items."""
    await session.execute(_UPDATE_CARDS, {**cards_set.params(), "now": now})
    if items_set:
        params = items_set.params()
        await session.execute(
            _UPDATE_ITEMS, {**params, "cards": list(dict.fromkeys(params["card"])), "actor": principal.sub}
        )


def _text(value: Decimal | None) -> str | None:
    """A decimal as text, read back into ``numeric`` exactly: the items' values go as ``text[]``,
    which the driver encodes several times faster than ``numeric[]`` (and timestamps likewise)."""
    return None if value is None else str(value)


async def _scoring_state(
    session: AsyncSession, rubric: Rubric, editable: Sequence[Any]
) -> tuple[dict[str, Any], dict[uuid.UUID, Any], dict[uuid.UUID, dict[str, Any]]]:
    """The survey rules and summaries, and what scoring reads of each item, of these scorecards."""
    rules = survey.survey_rules(rubric.document)
    summaries = await survey.summarise_many(session, [card.id for card in editable], rules)
    items_of: dict[uuid.UUID, dict[str, Any]] = {card.id: {} for card in editable}
    # What scoring reads of each item (an auto or hybrid item's value and explanation are replaced),
    # read by the driver itself within the session's transaction: a round's 6,300 rows through
    # SQLAlchemy's result processing cost more than the query. The columns come back as the session
    # would give them (numeric as Decimal, jsonb through the engine's JSON decoder); the empty
    # manual inputs of most items come back as NULL, not decoded one by one.
    driver = await _driver(session)
    for (
        card_id,
        code,
        source,
        max_points,
        applicable,
        manual_inputs,
        manual_points,
        override,
        final,
    ) in await driver.fetch(_SCORING_ITEMS, list(items_of)):
        items_of[card_id][code] = SimpleNamespace(
            code=code,
            source=source,
            max_points=max_points,
            applicable=applicable,
            manual_inputs={} if manual_inputs is None else manual_inputs,
            manual_points=manual_points,
            override_points=override,
            final_points=final,
        )
    return rules, summaries, items_of


_CARDS_TABLE: Table = Scorecard.__table__  # type: ignore[assignment]
_ITEMS_TABLE: Table = ScorecardItem.__table__  # type: ignore[assignment]
_SCORING_ITEMS = (
    "SELECT scorecard_id, code, source, max_points, applicable, NULLIF(manual_inputs, '{}'::jsonb), "  # noqa: S608
    f"manual_points, override_points, final_points FROM {_ITEMS_TABLE.fullname} "
    "WHERE scorecard_id = ANY($1::uuid[])"
)
_UPDATE_CARDS = text(
    f"UPDATE {_CARDS_TABLE.fullname} AS card SET inputs = CAST(v.inputs AS jsonb), "  # noqa: S608
    "satisfaction_rate = v.rate, total = v.total, max_applicable = v.max, ratio = v.ratio, "
    "computed_at = :now, version = card.version + 1, updated_at = :now "
    "FROM unnest(CAST(:id AS uuid[]), CAST(:inputs AS text[]), CAST(:rate AS numeric[]), "
    "CAST(:total AS numeric[]), CAST(:max AS numeric[]), CAST(:ratio AS numeric[])) "
    "AS v(id, inputs, rate, total, max, ratio) WHERE card.id = v.id"
)
_UPDATE_ITEMS = text(
    f"UPDATE {_ITEMS_TABLE.fullname} AS item SET auto_points = CAST(v.auto AS numeric), "  # noqa: S608
    "explanation = CAST(v.explanation AS jsonb), final_points = CAST(v.final AS numeric), "
    "updated_at = CAST(v.at AS timestamptz), updated_by = :actor "
    "FROM unnest(CAST(:card AS uuid[]), CAST(:code AS text[]), CAST(:auto AS text[]), "
    "CAST(:explanation AS text[]), CAST(:final AS text[]), CAST(:at AS text[])) "
    "AS v(card, code, auto, explanation, final, at) WHERE item.scorecard_id = v.card AND item.code = v.code "
    # Only these scorecards' items are joined (through the primary key), not every round's.
    "AND item.scorecard_id = ANY(CAST(:cards AS uuid[]))"
)


class _Columns:
    """Rows collected column by column: the arrays of an ``UPDATE … FROM unnest(…)``."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self.columns: list[list[Any]] = [[] for _ in names]

    def add(self, *values: Any) -> None:
        for column, value in zip(self.columns, values, strict=True):
            column.append(value)

    def __bool__(self) -> bool:
        return bool(self.columns[0])

    def params(self) -> dict[str, list[Any]]:
        return dict(zip(self.names, self.columns, strict=True))


async def _audit_computes(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    entries: list[tuple[uuid.UUID, dict[str, Any], dict[str, Any]]],
) -> None:
    """The audit rows and change-feed events of many scorecard computes, as the audit writer
    (:mod:`services.evaluation.audit`) writes them one by one — its rows (``audit_values``) and
    its events (``audit.change``) — but the audit rows COPYed on the transaction's own
    connection and the events COPYed at commit (:func:`emit_records`): JSON serialised once
    each, not through the ORM's bulk insert."""
    if not entries:
        return
    action, object_type = "scorecard.compute", "scorecard"
    audit_columns = [column.key for column in tables.audit.columns]
    rows = []
    events = []
    for card_id, before, after in entries:
        previous, state = json_ready(before), json_ready(after)
        values = audit_values(
            actor=principal, action=action, object_type=object_type, object_id=card_id, request=request
        )
        values["before"], values["after"] = orjson.dumps(previous).decode(), orjson.dumps(state).decode()
        rows.append(tuple(values[key] for key in audit_columns))
        change = audit.change(action, object_type, card_id, previous, state)
        if change is not None:
            event = event_row(**{**change, "data": orjson.dumps(change["data"]).decode()})
            events.append(tuple(event[key] for key in EVENT_COLUMNS))
    await (await _driver(session)).copy_records_to_table(
        tables.audit.name, schema_name=tables.audit.schema, records=rows, columns=audit_columns
    )
    if events:
        emit_records(session, tables.outbox, events)


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, in its transaction: for what SQLAlchemy's
    statement and result processing would cost more than the work (bulk reads, COPY). Used only
    while no statement of the session is running."""
    driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver is not None
    return driver


def _unavailable_site(site_id: uuid.UUID) -> AppError:
    return Conflict(
        f"Site {site_id} of this round is no longer in the registry; its scorecard cannot be computed.",
        detail_zh=f"本轮站点 {site_id} 已不在登记库中,无法计算其评分表。",
        code="site_not_in_registry",
        site_id=str(site_id),
    )


# ---- items -----------------------------------------------------------------------------------------


def check_manual_inputs(indicator: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluator's values against the indicator's declaration; every problem at once (422)."""
    spec = {m["name"]: m for m in indicator.get("manual_inputs", [])}
    errors: list[dict[str, str]] = []
    for name in values:
        if name not in spec:
            errors.append({"field": f"inputs.{name}", "message": f"not an input of {indicator['code']}"})
    for name, declared in spec.items():
        field = f"inputs.{name}"
        if name not in values or values[name] is None:
            errors.append({"field": field, "message": "required"})
            continue
        value = values[name]
        kind = declared["type"]
        if kind == "bool" and not isinstance(value, bool):
            errors.append({"field": field, "message": "must be true or false"})
        elif kind == "level" and value not in declared.get("levels", []):
            errors.append(
                {"field": field, "message": f"must be one of {', '.join(declared.get('levels', []))}"}
            )
        elif kind == "count" and (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value <= int(declared.get("max", 0))
        ):
            errors.append(
                {"field": field, "message": f"must be a whole number from 0 to {declared.get('max', 0)}"}
            )
    if errors:
        raise FieldsInvalid(errors)
    return {name: values[name] for name in spec}


def _check_override(points: Decimal, maximum: Decimal) -> None:
    if points < 0 or points > maximum:
        raise ValidationFailed(
            "override_points",
            f"must be between 0 and {maximum.normalize():f}",
            message_zh=f"须在 0 至 {maximum.normalize():f} 之间",
        )
    if points % HALF != 0:
        raise ValidationFailed("override_points", "must be a multiple of 0.5", message_zh="须为 0.5 的整数倍")


async def update_item(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    scorecard_id: uuid.UUID,
    code: str,
    body: ItemUpdate,
) -> Scorecard:
    card, _, rubric = await _writable(session, principal, scorecard_id)
    indicators = _indicators(rubric)
    indicator = indicators.get(code)
    items = await _items(session, card)
    if indicator is None or code not in items:
        raise ItemNotFound(code)
    item = items[code]
    before = _item_snapshot(item)
    declares_inputs = bool(indicator.get("manual_inputs"))
    if body.applicable is not None:
        if not body.applicable and not (body.reason or "").strip():
            raise ValidationFailed(
                "reason", "say why the indicator does not apply", message_zh="请说明该指标不适用的理由"
            )
        item.applicable = body.applicable
        item.updated_at = utcnow()
        item.updated_by = principal.sub
    elif body.inputs is not None:
        if not declares_inputs:
            raise ValidationFailed(
                "inputs",
                f"{code} takes no manual inputs: override its computed value with override_points and reason",
                message_zh=f"{code} 无需人工录入,如需调整请填写 override_points 与 reason",
            )
        values = check_manual_inputs(indicator, body.inputs)
        item.manual_inputs = values
        if item.source == IndicatorSource.MANUAL:
            scored = compute.evaluate_manual(indicator, values)
            item.manual_points = scored.points
            item.explanation = scored.explanation
            item.final_points = scored.points
            item.updated_at = utcnow()
            item.updated_by = principal.sub
        else:  # a hybrid with manual parts (C10): re-evaluate on the last computed inputs
            _apply(item, compute.evaluate_indicator(indicator, card.inputs or {}, values), principal)
    else:
        if item.source == IndicatorSource.MANUAL:
            raise ValidationFailed(
                "override_points",
                f"{code} is a manual indicator: send its inputs instead",
                message_zh=f"{code} 为人工评分指标,请录入其评分要素",
            )
        points = body.override_points
        if points is None:
            item.override_points, item.override_reason = None, None
        else:
            if not (body.reason or "").strip():
                raise ValidationFailed(
                    "reason", "an override needs a reason", message_zh="调整自动得分须说明理由"
                )
            _check_override(points, Decimal(item.max_points))
            item.override_points, item.override_reason = points, body.reason
        item.final_points = compute.final_points(
            item.source, item.auto_points, item.manual_points, item.override_points
        )
        item.updated_at = utcnow()
        item.updated_by = principal.sub
    _touch(card, items)
    await session.flush()
    await _audit(
        session, request, principal, "scorecard.item", card, before=before, after=_item_snapshot(item),
        note=body.reason if body.override_points is not None or body.applicable is False else None,
    )  # fmt: skip
    return card


# ---- findings --------------------------------------------------------------------------------------


async def add_finding(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    scorecard_id: uuid.UUID,
    body: FindingCreate,
) -> Finding:
    card, _, rubric = await _writable(session, principal, scorecard_id)
    if body.indicator_code not in _indicators(rubric):
        raise ValidationFailed(
            "indicator_code",
            f"rubric {rubric.version} has no indicator {body.indicator_code}",
            message_zh=f"评估细则 {rubric.version} 中无指标 {body.indicator_code}",
        )
    finding = Finding(
        scorecard_id=card.id,
        round_id=card.round_id,
        site_id=card.site_id,
        indicator_code=body.indicator_code,
        code=None,
        text=body.text,
        severity=body.severity.value,
        created_by=principal.sub,
        created_at=utcnow(),
    )
    session.add(finding)
    _touch(card)
    await session.flush()
    await audit(
        session,
        request,
        principal,
        "finding.create",
        "finding",
        finding.id,
        after=FindingRead.model_validate(finding).model_dump(mode="json"),
    )
    return finding


# ---- survey ----------------------------------------------------------------------------------------


async def add_survey_responses(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    scorecard_id: uuid.UUID,
    responses: Sequence[SurveyResponseCreate],
) -> SurveyWriteResult:
    """Store the responses, then refresh the satisfaction rate, C18 and the automatic finding."""
    card, _, rubric = await _writable(session, principal, scorecard_id)
    ids = await survey.add_responses(session, card, responses, principal)
    rules = survey.survey_rules(rubric.document)
    summary = await survey.summarise(session, card.id, rules)
    records = dict(card.inputs or {})
    records.update(survey_inputs(survey.summary_for_inputs(summary, rules)))
    card.inputs = records
    card.satisfaction_rate = summary.satisfaction_rate
    items = await _items(session, card)
    _reevaluate(items, _indicators(rubric), records, principal, only_reading="survey.")
    finding = await survey.sync_satisfaction_finding(session, card, summary, rules)
    _touch(card, items)
    await session.flush()
    await _audit(
        session,
        request,
        principal,
        "scorecard.survey",
        card,
        after={
            "created": len(ids),
            "response_ids": [str(i) for i in ids],
            "satisfaction_rate": summary.satisfaction_rate,
            "finding": finding.code if finding else None,
        },
    )
    return SurveyWriteResult(
        created=len(ids), survey=summary, finding=FindingRead.model_validate(finding) if finding else None
    )


# ---- life cycle ------------------------------------------------------------------------------------


async def transition(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    scorecard_id: uuid.UUID,
    action: ScorecardAction,
    note: str | None = None,
) -> Scorecard:
    card = await get_scorecard(session, principal, scorecard_id, for_update=True)
    target = next_state(card.state, action)
    if target is None:
        if action == ScorecardAction.SUBMIT and card.state == ScorecardState.ACCEPTED:
            raise ScorecardFrozen()
        raise InvalidTransition(card.state, action)
    found, rubric = await _context(session, card)
    if action in DISTRICT_ACTIONS:
        if found.state == RoundState.PUBLISHED:
            raise RoundPublished()
    elif found.state != RoundState.OPEN:
        raise RoundNotOpen(found.state)
    items = await _items(session, card)
    if action == ScorecardAction.SUBMIT:
        await _check_complete(session, card, rubric, items)
    before = card.state
    now = utcnow()
    card.state = target.value
    if action == ScorecardAction.SUBMIT:
        card.submitted_at = now
    elif action == ScorecardAction.ACCEPT:
        card.accepted_at = now
    elif action == ScorecardAction.REOPEN:
        card.accepted_at = None
    _touch(card, items)
    await session.flush()
    await _audit(
        session,
        request,
        principal,
        f"scorecard.{action.value}",
        card,
        before={"state": before},
        after={"state": card.state, "total": card.total, "ratio": card.ratio},
        note=note,
    )
    return card


async def _check_complete(
    session: AsyncSession, card: Scorecard, rubric: Rubric, items: Mapping[str, ScorecardItem]
) -> None:
    rules = survey.survey_rules(rubric.document)
    summary = await survey.summarise(session, card.id, rules)
    if not summary.complete:
        raise SurveyIncomplete({k.value: v for k, v in summary.by_channel.items()}, summary.min_per_channel)
    missing = [
        code
        for code in _indicators(rubric)
        if code in items
        and items[code].applicable
        and (
            items[code].manual_points is None
            if items[code].source == IndicatorSource.MANUAL
            else items[code].final_points is None
        )
    ]
    if missing:
        raise ItemsMissing(missing)
