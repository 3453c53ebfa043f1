"""The residents' survey of a scorecard (C18, 7.1.1).

Respondents are chosen `onsite_random` or by `phone`; each rates up to six dimensions 1–5. The
satisfaction rate is the share of answers rated 4 or 5 (the rubric's ``survey.satisfied_at_least``)
among all answers given. A rate below the rubric's ``survey.finding_below`` (0.90, 7.1.1) keeps one
automatic finding ``satisfaction_below_90`` on C18, removed when the rate recovers. Counts are SQL
aggregates; a batch is one INSERT.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import Integer, Uuid, any_, bindparam, cast, delete, func, insert, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.enums import FindingSeverity, SurveyChannel
from services.common.masking import mask_phone
from services.evaluation.database import utcnow
from services.evaluation.scorecards.models import Finding, Scorecard, SurveyResponse
from services.evaluation.scorecards.schemas import SurveyBatchCreate, SurveyResponseCreate, SurveySummary

SATISFACTION_FINDING = "satisfaction_below_90"
SATISFACTION_INDICATOR = "C18"
RATE_PLACES = Decimal("0.0001")


def survey_rules(document: Mapping[str, Any]) -> dict[str, Any]:
    rules = {"min_per_channel": 30, "satisfied_at_least": 4, "finding_below": 0.9}
    rules.update(document.get("survey", {}))
    return rules


async def add_responses(
    session: AsyncSession, card: Scorecard, responses: Sequence[SurveyResponseCreate], principal: Principal
) -> list[uuid.UUID]:
    now = utcnow()
    ids = [uuid.uuid4() for _ in responses]
    rows: list[dict[str, Any]] = [
        {
            "id": response_id,
            "scorecard_id": card.id,
            "channel": r.channel.value,
            "ratings": r.ratings.given(),
            "respondent_phone_masked": mask_phone(r.respondent_phone),
            "created_by": principal.sub,
            "created_at": now,
        }
        for response_id, r in zip(ids, responses, strict=True)
    ]
    await session.execute(insert(SurveyResponse), rows)
    return ids


async def summarise(
    session: AsyncSession, scorecard_id: uuid.UUID, rules: Mapping[str, Any]
) -> SurveySummary:
    return (await summarise_many(session, [scorecard_id], rules))[scorecard_id]


async def summarise_many(
    session: AsyncSession, scorecard_ids: Sequence[uuid.UUID], rules: Mapping[str, Any]
) -> dict[uuid.UUID, SurveySummary]:
    """The survey summary of each scorecard (two grouped queries, however many scorecards)."""
    per_channel: dict[uuid.UUID, dict[str, int]] = {card_id: {} for card_id in scorecard_ids}
    # One array parameter (a round's 300 ids), not one parameter per scorecard.
    cards = bindparam("cards", list(scorecard_ids), type_=ARRAY(Uuid))
    for card_id, channel, count in await session.execute(
        select(SurveyResponse.scorecard_id, SurveyResponse.channel, func.count())
        .where(SurveyResponse.scorecard_id == any_(cards))
        .group_by(SurveyResponse.scorecard_id, SurveyResponse.channel)
    ):
        per_channel[card_id][channel] = int(count)
    ratings = func.jsonb_each_text(SurveyResponse.ratings).table_valued("key", "value").lateral("rating")
    satisfied_at_least = int(rules["satisfied_at_least"])
    counted = {
        card_id: (int(answers), int(satisfied))
        for card_id, answers, satisfied in await session.execute(
            select(
                SurveyResponse.scorecard_id,
                func.count(),
                func.count().filter(cast(ratings.c.value, Integer) >= satisfied_at_least),
            )
            .select_from(SurveyResponse)
            .join(ratings, true())
            .where(SurveyResponse.scorecard_id == any_(cards))
            .group_by(SurveyResponse.scorecard_id)
        )
    }
    minimum = int(rules["min_per_channel"])
    summaries = {}
    for card_id in scorecard_ids:
        by_channel = {channel: per_channel[card_id].get(channel.value, 0) for channel in SurveyChannel}
        answers, satisfied = counted.get(card_id, (0, 0))
        summaries[card_id] = SurveySummary(
            respondents=sum(by_channel.values()),
            by_channel=by_channel,
            min_per_channel=minimum,
            complete=all(n >= minimum for n in by_channel.values()),
            answers=answers,
            satisfied_answers=satisfied,
            satisfaction_rate=(
                (Decimal(satisfied) / Decimal(answers)).quantize(RATE_PLACES, rounding=ROUND_DOWN)
                if answers
                else None
            ),
        )
    return summaries


def summary_for_inputs(summary: SurveySummary, rules: Mapping[str, Any]) -> dict[str, Any]:
    """What :func:`services.evaluation.scorecards.inputs.survey_inputs` reads."""
    return {
        "respondents": summary.respondents,
        "answers": summary.answers,
        "satisfied_answers": summary.satisfied_answers,
        "satisfied_at_least": rules["satisfied_at_least"],
        "by_channel": {k.value: v for k, v in summary.by_channel.items()},
    }


def below_threshold(summary: SurveySummary, rules: Mapping[str, Any]) -> bool:
    """Exact comparison (satisfied / answers < threshold), never on a rounded rate."""
    if not summary.answers:
        return False
    threshold = Decimal(str(rules["finding_below"]))
    return Decimal(summary.satisfied_answers) < threshold * Decimal(summary.answers)


async def sync_satisfaction_finding(
    session: AsyncSession, card: Scorecard, summary: SurveySummary, rules: Mapping[str, Any]
) -> Finding | None:
    """Keep exactly one automatic finding while the rate is below the threshold; none otherwise."""
    existing = await session.scalar(
        select(Finding).where(Finding.scorecard_id == card.id, Finding.code == SATISFACTION_FINDING)
    )
    if not below_threshold(summary, rules):
        if existing is not None:
            await session.execute(delete(Finding).where(Finding.id == existing.id))
        return None
    threshold = Decimal(str(rules["finding_below"])) * 100
    rate = (summary.satisfaction_rate or Decimal(0)) * 100
    text = (
        f"Residents' satisfaction rate is {rate.normalize():f} % ({summary.satisfied_answers} of "
        f"{summary.answers} answers), below the {threshold.normalize():f} % the standard requires (7.1.1). "
        f"居民满意率为 {rate.normalize():f}%,低于标准要求的 {threshold.normalize():f}%(7.1.1)。"
    )
    if existing is not None:
        existing.text = text
        return existing
    finding = Finding(
        scorecard_id=card.id,
        round_id=card.round_id,
        site_id=card.site_id,
        indicator_code=SATISFACTION_INDICATOR,
        code=SATISFACTION_FINDING,
        text=text,
        severity=FindingSeverity.MAJOR.value,
        created_by="system",
        created_at=utcnow(),
    )
    session.add(finding)
    await session.flush()
    return finding


def parse_responses(payload: Any) -> list[SurveyResponseCreate]:
    """One response object, or ``{"responses": [...]}`` (at most 500). Errors name the field as
    sent: ``ratings.space`` for a single response, ``responses.3.ratings.space`` in a batch."""
    try:
        if isinstance(payload, dict) and "responses" in payload:
            return SurveyBatchCreate.model_validate(payload).responses
        return [SurveyResponseCreate.model_validate(payload)]
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from exc
