"""Driving a whole evaluation round through the gateway, for the tests that need a published one
(improvement plans, projection, reports): open, assign, compute, score, survey, record findings,
submit, accept, close, publish — with the totals chosen by the test.

Totals: every computed indicator but C18 is overridden to its maximum unless `points` says otherwise,
the manual ones are judged with :data:`FULL_MANUAL` (10 points) unless `manual` says otherwise, and
C18 is 25 × the satisfaction rate of 30 + 30 respondents all giving `ratings`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.timeutil import now_shanghai
from services.evaluation.rubric.table_c1 import TABLE_C1
from tests.conftest import bearer, login
from tests.evaluation.test_rounds import EVAL, assign, create_evaluator, create_round, scorecards_of

INDICATORS = {i["code"]: i for i in TABLE_C1["indicators"]}
COMPUTED = [code for code, i in INDICATORS.items() if i["source"] != "manual" and code != "C18"]
FULL_MANUAL: dict[str, dict[str, Any]] = {
    "C01": {"manual.C01.well_located": True},
    "C03": {"manual.C03.zoned": True, "manual.C03.open_plan": True},
    "C04": {"manual.C04.waste_sorting": True, "manual.C04.issues_found": 0},
    "C08": {"manual.C08.rules_exist": True, "manual.C08.implementation": "full"},
    "C09": {"manual.C09.rules_exist": True, "manual.C09.implementation": "full"},
}
ALL_FIVE = {"space": 5, "functions": 5, "service": 5, "pricing": 5, "participation": 5, "belonging": 5}
# Four of five answers satisfied: a satisfaction rate of exactly 0.80.
FOUR_OF_FIVE = {"space": 5, "functions": 5, "service": 5, "pricing": 5, "participation": 3}


@dataclass
class SiteScoring:
    """How one site of the round is scored."""

    points: dict[str, float] = field(default_factory=dict)
    manual: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(FULL_MANUAL))
    ratings: dict[str, int] = field(default_factory=lambda: dict(ALL_FIVE))
    findings: list[dict[str, Any]] = field(default_factory=list)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def year_period(year: int) -> dict[str, Any]:
    return {"year": year, "period_start": f"{year}-01-01", "period_end": f"{year}-12-31"}


def score_card(gateway: httpx.Client, token: str, card_id: str, scoring: SiteScoring) -> list[dict[str, Any]]:
    """Compute, judge, override, survey and record findings on one scorecard; returns the findings."""
    url = f"{EVAL}/scorecards/{card_id}"
    ok(gateway.post(f"{url}/compute", headers=bearer(token)))
    ok(
        gateway.put(
            f"{url}/items/C10", json={"inputs": {"manual.C10.fire_rules": "complete"}}, headers=bearer(token)
        )
    )
    for code in COMPUTED:
        value = scoring.points.get(code, INDICATORS[code]["max_points"])
        body = {"override_points": value, "reason": f"现场核查材料({code})"}
        ok(gateway.put(f"{url}/items/{code}", json=body, headers=bearer(token)))
    for code, inputs in scoring.manual.items():
        ok(gateway.put(f"{url}/items/{code}", json={"inputs": inputs}, headers=bearer(token)))
    responses = [
        {"channel": channel, "ratings": scoring.ratings, "respondent_phone": f"1390000{n:04d}"}
        for channel in ("onsite_random", "phone")
        for n in range(30)
    ]
    ok(gateway.post(f"{url}/survey-responses", json={"responses": responses}, headers=bearer(token)), 201)
    return [
        ok(gateway.post(f"{url}/findings", json=finding, headers=bearer(token)), 201)
        for finding in scoring.findings
    ]


def open_round(
    gateway: httpx.Client, district_token: str, site_ids: list[str], **overrides: Any
) -> dict[str, Any]:
    """An open round of the sites with one third-party evaluator assigned to all of them:
    {"round", "cards": {site_id: card_id}, "evaluator_token", "evaluator"}."""
    made = create_round(gateway, district_token, site_ids, **overrides)
    evaluator = create_evaluator(gateway, district_token)
    ok(assign(gateway, district_token, made["id"], evaluator["user"]["id"], site_ids), 201)
    token = login(gateway, evaluator["username"])["access_token"]
    cards = {c["site_id"]: c["id"] for c in scorecards_of(gateway, district_token, made["id"])}
    return {"round": made, "cards": cards, "evaluator_token": token, "evaluator": evaluator}


def published_round(
    gateway: httpx.Client,
    district_token: str,
    scoring: dict[str, SiteScoring],
    *,
    publish: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """A round of the sites in `scoring` taken through its whole life cycle: every scorecard scored,
    submitted and accepted, the round closed and (unless `publish` is false) published.

    Returns {"round", "cards": {site_id: card_id}, "findings": {site_id: [finding]},
    "evaluator_token", "evaluator", "published"}."""
    opened = open_round(gateway, district_token, list(scoring), **overrides)
    token = opened["evaluator_token"]
    findings: dict[str, list[dict[str, Any]]] = {}
    for site_id, plan in scoring.items():
        card_id = opened["cards"][site_id]
        findings[site_id] = score_card(gateway, token, card_id, plan)
        ok(gateway.post(f"{EVAL}/scorecards/{card_id}/submit", headers=bearer(token)))
        ok(gateway.post(f"{EVAL}/scorecards/{card_id}/accept", headers=bearer(district_token)))
    round_url = f"{EVAL}/rounds/{opened['round']['id']}"
    ok(gateway.post(f"{round_url}/close", headers=bearer(district_token)))
    published = ok(gateway.post(f"{round_url}/publish", headers=bearer(district_token))) if publish else None
    return {**opened, "findings": findings, "published": published}


def hours_ago(hours: int) -> dt.datetime:
    return now_shanghai().replace(microsecond=0) - dt.timedelta(hours=hours)
