"""`GET /api/v1/evaluation/sites/{id}/projection` (self-assessment) through the gateway.

A site logs two theme activities (150 and 60 people, with sign-in sheet and photo), 8 volunteers and
one complete deliberation (and one without rules) through the activities API; it was evaluated last
year (C04 one hygiene issue, satisfaction 0.80). Its projection computes the auto indicators year to
date (C15's yearly 2 and 8 pro-rated to the months covered), takes C04 and C18 from that scorecard,
and says what is missing — "1 more activity of more than 100 people", "12 more registered
volunteers", "5 more complete deliberations". A site never evaluated gets its manual indicators and
C18 counted as 0, flagged `assumed_zero`.
"""

from __future__ import annotations

import math
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx
import pytest

from services.common.timeutil import today_shanghai
from tests.conftest import bearer, login
from tests.evaluation.helpers import (
    FOUR_OF_FIVE,
    FULL_MANUAL,
    SiteScoring,
    hours_ago,
    ok,
    open_round,
    published_round,
    year_period,
)
from tests.evaluation.test_rounds import EVAL
from tests.registry.factories import error_fields, integration_token, operated_site

EVIDENCE = [
    {"kind": "sign_in_sheet", "uri": "https://files.example.cn/e/sign.jpg"},
    {"kind": "photo", "uri": "https://files.example.cn/e/photo.jpg"},
]


def last_year() -> int:
    """Shanghai's last year, when the test runs (not when pytest collects)."""
    return today_shanghai().year - 1


def projection(gateway: httpx.Client, token: str, site_id: str, **params: Any) -> httpx.Response:
    params.setdefault("year", today_shanghai().year)
    return gateway.get(f"{EVAL}/sites/{site_id}/projection", params=params, headers=bearer(token))


def indicator(body: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in body["indicators"] if i["code"] == code)


def need(item: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for m in item["missing"] for n in m["needs"] if n["input"] == name)


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


def log(gateway: httpx.Client, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(gateway.post(f"/api/v1/activities/{path}", json=body, headers=bearer(token)), 201)


@pytest.fixture(scope="module")
def logged(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    made = operated_site(gateway, district_token, "XX")
    site_id, token = made["site"]["id"], made["operator_token"]
    for title, attendance in (("社区邻里节", 150), ("亲子运动会", 60)):
        log(
            gateway,
            token,
            "activities",
            {
                "site_id": site_id,
                "category": "culture",
                "title": title,
                "is_theme": True,
                "starts_at": hours_ago(3).isoformat(),
                "ends_at": hours_ago(2).isoformat(),
                "attendance": attendance,
                "evidence": EVIDENCE,
            },
        )
    today = today_shanghai().isoformat()
    for n in range(8):
        log(gateway, token, "volunteers", {"site_id": site_id, "name": f"志愿者{n}", "registered_on": today})
    deliberation = {"site_id": site_id, "held_on": today, "topic": "加装电梯", "form": "residents_council"}
    log(
        gateway,
        token,
        "deliberations",
        {**deliberation, "rules": "一户一票", "resolution": "同意加装", "execution_status": "done"},
    )
    log(gateway, token, "deliberations", {**deliberation, "topic": "停车管理"})  # no rules: not counted
    # Evaluated last year: one hygiene issue (C04 3.5), satisfaction 0.80 (C18 20).
    manual = {**FULL_MANUAL, "C04": {"manual.C04.waste_sorting": True, "manual.C04.issues_found": 1}}
    made["published"] = published_round(
        gateway,
        district_token,
        {site_id: SiteScoring(manual=manual, ratings=FOUR_OF_FIVE)},
        **year_period(last_year()),
    )
    return made


@pytest.fixture(scope="module")
def bare(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """A site with no logs and no evaluation."""
    return operated_site(gateway, district_token, "XX")


def test_projection_of_a_logged_site(gateway: httpx.Client, logged: dict[str, Any]) -> None:
    site_id = logged["site"]["id"]
    today = today_shanghai()
    body = ok(projection(gateway, logged["operator_token"], site_id))
    assert (body["site_id"], body["site_name"], body["street_id"]) == (
        site_id,
        logged["site"]["name"],
        logged["site"]["street_id"],
    )
    assert body["period_start"] == f"{today.year}-01-01" and body["period_end"] == today.isoformat()
    assert body["months_covered"] == today.month and body["rubric_version"] == "2023-draft"
    card_id = logged["published"]["cards"][site_id]
    assert body["last_scorecard"]["scorecard_id"] == card_id
    assert body["last_scorecard"]["round_year"] == last_year()
    assert body["last_scorecard"]["satisfaction_rate"] == "0.8000"
    assert [i["code"] for i in body["indicators"]] == [f"C{n:02d}" for n in range(1, 22)]

    # C15: 1 activity of more than 100 people and 1 of 50–100 against 2 and 8 a year, pro-rated.
    c15 = indicator(body, "C15")
    over_100, fifty_100 = math.ceil(2 * today.month / 12), math.ceil(8 * today.month / 12)
    assert c15["basis"] == "computed" and c15["points"] == "0.00" and c15["missing_points"] == "2.00"
    [gap] = c15["missing"]
    if over_100 > 1:
        more = over_100 - 1
        assert (
            f"{more} more {'activity' if more == 1 else 'activities'} of more than 100 people"
            in gap["text_en"]
        )
        assert f"还需 {more} 场百人以上活动" in gap["text_zh"]
        assert need(c15, "themes.attendance_over_100") == {
            "input": "themes.attendance_over_100",
            "current": 1,
            "target": over_100,
            "more": more,
            "next_target": None,
            "more_for_next": None,
        }
    else:
        assert "more than 100 people" not in gap["text_en"]
    assert f"还需 {fifty_100 - 1} 场50-100人活动" in gap["text_zh"]
    assert need(c15, f"themes.per_month.{today.isoformat()[:7]}")["current"] == 2
    assert c15["inputs"]["themes.shortfall"]["value"] > 0

    # C13: 8 volunteers; the next 0.5 at 20, full points at 120.
    c13 = indicator(body, "C13")
    volunteers = need(c13, "volunteers.registered")
    assert (volunteers["current"], volunteers["next_target"], volunteers["more_for_next"]) == (8, 20, 12)
    assert (volunteers["target"], volunteers["more"]) == (120, 112)
    assert c13["missing"][0]["text_en"].startswith("12 more registered volunteers for the next 0.5")
    assert "还需 12 名在册志愿者可再得 0.5 分" in c13["missing"][0]["text_zh"]

    # C17: one complete deliberation of six; the one without rules does not count.
    c17 = indicator(body, "C17")
    assert c17["points"] == "0.50" and c17["missing_points"] == "2.50"
    [gap] = c17["missing"]
    assert gap["text_en"].startswith("5 more complete deliberations") and gap["points"] == "2.50"
    assert gap["text_zh"].startswith("还需 5 次完整的民主协商")
    assert len(c17["inputs"]["deliberations.complete"]["counted_ids"]) == 1

    # Manual indicators and C18 from last year's accepted scorecard.
    c04 = indicator(body, "C04")
    assert (c04["basis"], c04["points"], c04["assumed_zero"]) == ("last_scorecard", "3.50", False)
    assert c04["missing"][0]["text_en"].startswith("hygiene issues found: 1")
    assert indicator(body, "C01")["summary_en"] == "full points"
    assert indicator(body, "C01")["summary_zh"] == "已得满分"
    c18 = indicator(body, "C18")
    assert (c18["basis"], c18["points"], c18["missing_points"]) == ("last_scorecard", "20.00", "5.00")
    assert "80 %" in c18["summary_en"] and "80%" in c18["summary_zh"]
    c10 = indicator(body, "C10")
    assert c10["assumed_zero"] is False and c10["inputs"]["manual.C10.fire_rules"]["value"] == "complete"
    # The factory's site has a door sign.
    assert indicator(body, "C02")["points"] == "2.00" and indicator(body, "C02")["missing"] == []

    total = sum((Decimal(i["points"]) for i in body["indicators"]), Decimal(0))
    assert Decimal(body["total"]) == total and body["max_points"] == "100.00"
    assert Decimal(body["missing_points"]) == 100 - total
    assert Decimal(body["ratio"]) == (total / 100).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    assert body["tier"] == ("demonstration" if total >= 90 else "standard" if total >= 80 else "basic")
    for item in body["indicators"]:
        gaps = sum(Decimal(m["points"]) for m in item["missing"])
        assert gaps >= Decimal(item["missing_points"]), item["code"]


def test_a_past_year_covers_the_whole_year(gateway: httpx.Client, logged: dict[str, Any]) -> None:
    body = ok(projection(gateway, logged["operator_token"], logged["site"]["id"], year=last_year()))
    assert body["period_end"] == f"{last_year()}-12-31" and body["months_covered"] == 12
    c15 = indicator(body, "C15")
    assert "2 more activities of more than 100 people" in c15["summary_en"]
    assert "还需 2 场百人以上活动" in c15["summary_zh"]
    assert "还需 8 场50-100人活动" in c15["summary_zh"]


def test_a_site_never_evaluated_counts_its_judgements_as_zero(
    gateway: httpx.Client, district_token: str, bare: dict[str, Any]
) -> None:
    body = ok(projection(gateway, district_token, bare["site"]["id"]))
    assert body["last_scorecard"] is None
    for code in ("C01", "C03", "C04", "C08", "C09", "C18"):
        item = indicator(body, code)
        assert (item["basis"], item["points"], item["assumed_zero"]) == ("assumed_zero", "0.00", True), code
        assert item["missing_points"] == item["max_points"]
    assert "no accepted scorecard yet" in indicator(body, "C01")["summary_en"]
    assert "尚无已确认的满意度调查" in indicator(body, "C18")["summary_zh"]
    c10 = indicator(body, "C10")
    assert c10["basis"] == "computed" and c10["assumed_zero"] is True
    assert c10["assumed_inputs"] == ["manual.C10.fire_rules"]
    assert "fire-safety rules: not judged yet" in c10["summary_en"]
    c13 = indicator(body, "C13")
    assert "20 more registered volunteers" in c13["summary_en"]
    assert body["tier"] == "basic"


def test_who_may_project(
    gateway: httpx.Client,
    district_token: str,
    street_token: str,
    logged: dict[str, Any],
    bare: dict[str, Any],
) -> None:
    site_id = logged["site"]["id"]
    for token in (street_token, district_token, integration_token(gateway, district_token)):
        assert projection(gateway, token, site_id).status_code == 200
    random = projection(gateway, district_token, str(uuid.uuid4()))
    assert random.status_code == 404 and random.json()["code"] == "site_not_found"
    changhe = login(gateway, "changhe")["access_token"]
    for token in (changhe, bare["operator_token"], logged["published"]["evaluator_token"]):
        hidden = projection(gateway, token, site_id)
        assert hidden.status_code == 404, token
        assert without_request_id(hidden) == without_request_id(random)
    # An evaluator assigned to the site in an open round may look.
    opened = open_round(gateway, district_token, [bare["site"]["id"]], kind="quarterly")
    assert projection(gateway, opened["evaluator_token"], bare["site"]["id"]).status_code == 200
    assert projection(gateway, opened["evaluator_token"], site_id).status_code == 404


# Shanghai's next year, worked out when the test runs: a parametrize list is built at collection.
NEXT_YEAR = object()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"year": None}, "year"),
        ({"year": 1999}, "year"),
        ({"year": NEXT_YEAR}, "year"),
        ({"rubric_version": "no-such-rubric"}, "rubric_version"),
    ],
)
def test_bad_projection_input_names_the_field(
    gateway: httpx.Client, district_token: str, bare: dict[str, Any], params: dict[str, Any], field: str
) -> None:
    query = {"year": today_shanghai().year, **params}
    if query["year"] is NEXT_YEAR:
        query["year"] = today_shanghai().year + 1
    query = {k: v for k, v in query.items() if v is not None}
    response = gateway.get(
        f"{EVAL}/sites/{bare['site']['id']}/projection", params=query, headers=bearer(district_token)
    )
    assert field in error_fields(response)
    assert error_fields(
        gateway.get(f"{EVAL}/sites/x/projection", params={"year": 2026}, headers=bearer(district_token))
    ) == {"site_id"}
