"""A whole evaluation round through the gateway with every role (SPEC §6, 7.1, Annex A).

The district opens a final round for two fresh sites and assigns a third-party evaluator; the
evaluator's `sites` claim follows; the evaluator computes (explanations name the activities
counted and excluded), judges the manual indicators, overrides with reasons and surveys 60
residents; submission is refused while the survey or an item is incomplete; the district returns,
accepts (which freezes), reopens with a reason and accepts again; the round is closed and published,
and the registry shows each site's tier — one site at exactly 0.90 (demonstration), the other at
exactly 0.80 (standard). Operators and streets see their scorecards only after publication. A
quarterly round publishes no tier.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.common.timeutil import now_shanghai
from services.evaluation.app import create_app
from services.evaluation.rubric.table_c1 import TABLE_C1
from services.evaluation.settings import EvaluationSettings
from tests.conftest import RunningStack, bearer, login
from tests.evaluation.test_rounds import EVAL, assign, create_evaluator, create_round, scorecards_of
from tests.registry.factories import error_fields, operated_site

INDICATORS = {i["code"]: i for i in TABLE_C1["indicators"]}
COMPUTED = [code for code, i in INDICATORS.items() if i["source"] != "manual" and code != "C18"]
FULL_MANUAL = {
    "C01": {"manual.C01.well_located": True},
    "C03": {"manual.C03.zoned": True, "manual.C03.open_plan": True},
    "C04": {"manual.C04.waste_sorting": True, "manual.C04.issues_found": 0},
    "C08": {"manual.C08.rules_exist": True, "manual.C08.implementation": "full"},
    "C09": {"manual.C09.rules_exist": True, "manual.C09.implementation": "full"},
}
ALL_FIVE = {"space": 5, "functions": 5, "service": 5, "pricing": 5, "participation": 5, "belonging": 5}
ONE_THREE = {**ALL_FIVE, "pricing": 3}

ACTIVITIES = "/api/v1/activities/activities"
EVIDENCE = {
    "sign_in_sheet": {"kind": "sign_in_sheet", "uri": "https://files.example.cn/e/sign.jpg"},
    "photo": {"kind": "photo", "uri": "https://files.example.cn/e/photo.jpg"},
}


def respondents(channel: str, count: int, ratings: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"channel": channel, "ratings": ratings, "respondent_phone": f"1390000{n:04d}"} for n in range(count)
    ]


def post_survey(gateway: httpx.Client, token: str, card_id: str, responses: list[dict]) -> httpx.Response:
    response = gateway.post(
        f"{EVAL}/scorecards/{card_id}/survey-responses", json={"responses": responses}, headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    return response


def put_item(gateway: httpx.Client, token: str, card_id: str, code: str, body: dict) -> dict[str, Any]:
    response = gateway.put(f"{EVAL}/scorecards/{card_id}/items/{code}", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def score_items(
    gateway: httpx.Client, token: str, card_id: str, points: dict[str, float], manual: dict[str, dict]
) -> None:
    """Every computed indicator but C18 overridden to `points` (default its maximum), the manual ones
    judged, C10's fire rules set."""
    put_item(gateway, token, card_id, "C10", {"inputs": {"manual.C10.fire_rules": "complete"}})
    for code in COMPUTED:
        value = points.get(code, INDICATORS[code]["max_points"])
        put_item(gateway, token, card_id, code, {"override_points": value, "reason": f"复核现场材料({code})"})
    for code, inputs in manual.items():
        put_item(gateway, token, card_id, code, {"inputs": inputs})


def act(gateway: httpx.Client, token: str, path: str, body: dict | None = None) -> httpx.Response:
    return (
        gateway.post(path, json=body, headers=bearer(token))
        if body is not None
        else gateway.post(path, headers=bearer(token))
    )


def item(card: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in card["items"] if i["code"] == code)


@pytest.fixture(scope="module")
def sites(gateway: httpx.Client, district_token: str) -> list[dict[str, Any]]:
    return [operated_site(gateway, district_token, "XX"), operated_site(gateway, district_token, "CH")]


def log_activities(gateway: httpx.Client, site: dict[str, Any]) -> dict[str, str]:
    """Activities of the last hours at the site: what C15 counts and what it leaves out."""
    now = now_shanghai().replace(microsecond=0)

    def log(title: str, attendance: int, is_theme: bool, evidence: list[str]) -> str:
        body = {
            "site_id": site["site"]["id"],
            "category": "culture",
            "title": title,
            "is_theme": is_theme,
            "starts_at": (now - dt.timedelta(hours=3)).isoformat(),
            "ends_at": (now - dt.timedelta(hours=2)).isoformat(),
            "attendance": attendance,
            "evidence": [EVIDENCE[kind] for kind in evidence],
        }
        response = gateway.post(ACTIVITIES, json=body, headers=bearer(site["operator_token"]))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    return {
        "theme_60": log("邻里文化节", 60, True, ["sign_in_sheet", "photo"]),
        "theme_150": log("社区运动会", 150, True, ["sign_in_sheet", "photo"]),
        "theme_no_photo": log("读书分享会", 55, True, ["sign_in_sheet"]),
        "plain_80": log("健康讲座", 80, False, ["sign_in_sheet", "photo"]),
    }


def test_a_final_round_from_opening_to_tiers(
    gateway: httpx.Client,
    district_token: str,
    street_token: str,
    sites: list[dict[str, Any]],
    stack: RunningStack,
) -> None:
    site_a, site_b = sites
    ids = [site_a["site"]["id"], site_b["site"]["id"]]
    made = create_round(gateway, district_token, ids, kind="final", title="年度终期评估")
    round_url = f"{EVAL}/rounds/{made['id']}"
    cards = {c["site_id"]: c["id"] for c in scorecards_of(gateway, district_token, made["id"])}
    card_a, card_b = cards[ids[0]], cards[ids[1]]

    # -- assignment: conflict of interest, then a third party ----------------------------------------
    insider = create_evaluator(gateway, district_token, organization_id=site_a["organization"]["id"])
    conflict = assign(gateway, district_token, made["id"], insider["user"]["id"], ids)
    assert conflict.status_code == 409 and conflict.json()["code"] == "evaluator_conflict_of_interest"
    evaluator = create_evaluator(gateway, district_token)
    assert assign(gateway, district_token, made["id"], evaluator["user"]["id"], ids).status_code == 201
    token = login(gateway, evaluator["username"])["access_token"]
    assert sorted(gateway.get("/api/v1/auth/me", headers=bearer(token)).json()["sites"]) == sorted(ids)
    # With the claim the evaluator reads the site in the registry.
    assert gateway.get(f"/api/v1/registry/sites/{ids[0]}", headers=bearer(token)).status_code == 200

    # -- compute: explanations name the records ----------------------------------------------------
    logged = log_activities(gateway, site_a)
    computed = act(gateway, token, f"{EVAL}/scorecards/{card_a}/compute")
    assert computed.status_code == 200, computed.text
    c15 = item(computed.json(), "C15")
    shortfall = c15["explanation"]["inputs"]["themes.shortfall"]
    assert sorted(shortfall["counted_ids"]) == sorted([logged["theme_60"], logged["theme_150"]])
    assert [e["id"] for e in shortfall["excluded"]] == [logged["theme_no_photo"]]
    assert logged["plain_80"] not in shortfall["counted_ids"]
    # Three months: 8 and 2 a year pro-rated to ceil(2) and ceil(0.5) = 2 and 1.
    assert "50–100 people: 1 of 2 (short 1)" in shortfall["note"]
    assert "more than 100: 1 of 1 (short 0)" in shortfall["note"]
    # 3 months × 5 theme activities, 2 counted this month: 13 short + 1 → 2 − 0.5 × 14 → 0.
    assert shortfall["value"] == 14 and c15["auto_points"] == "0.00"
    assert item(computed.json(), "C02")["auto_points"] == "2.00"  # the factory's site has a door sign

    # -- scoring A to exactly 90: C05 at 2.5 (−7.5) and C18 at 22.5 (−2.5) -------------------------
    score_items(gateway, token, card_a, {"C05": 2.5}, {k: v for k, v in FULL_MANUAL.items() if k != "C09"})
    without_override_reason = gateway.put(
        f"{EVAL}/scorecards/{card_a}/items/C13", json={"override_points": 3}, headers=bearer(token)
    )
    assert error_fields(without_override_reason) == {"reason"}
    c15 = item(gateway.get(f"{EVAL}/scorecards/{card_a}", headers=bearer(token)).json(), "C15")
    assert (c15["auto_points"], c15["override_points"], c15["final_points"]) == ("0.00", "2.00", "2.00")
    # 29 per channel: not enough. 36 respondents give one "3": 36 of 360 answers unsatisfied in the end.
    first = respondents("onsite_random", 18, ONE_THREE) + respondents("onsite_random", 11, ALL_FIVE)
    first += respondents("phone", 18, ONE_THREE) + respondents("phone", 11, ALL_FIVE)
    post_survey(gateway, token, card_a, first)
    incomplete = act(gateway, token, f"{EVAL}/scorecards/{card_a}/submit")
    assert incomplete.status_code == 409 and incomplete.json()["code"] == "survey_incomplete"
    assert incomplete.json()["by_channel"] == {"onsite_random": 29, "phone": 29}
    last = post_survey(
        gateway, token, card_a, respondents("onsite_random", 1, ALL_FIVE) + respondents("phone", 1, ALL_FIVE)
    ).json()
    assert last["survey"]["satisfaction_rate"] == "0.9000" and last["finding"] is None
    missing = act(gateway, token, f"{EVAL}/scorecards/{card_a}/submit")
    assert missing.status_code == 409 and missing.json()["code"] == "items_missing"
    assert missing.json()["codes"] == ["C09"]
    put_item(gateway, token, card_a, "C09", {"inputs": FULL_MANUAL["C09"]})
    submitted = act(gateway, token, f"{EVAL}/scorecards/{card_a}/submit")
    assert submitted.status_code == 200, submitted.text
    card = submitted.json()
    assert card["state"] == "submitted" and card["findings"] == []
    assert item(card, "C18")["final_points"] == "22.50"
    assert (card["total"], card["max_applicable"], card["ratio"]) == ("90.00", "100.00", "0.9000")
    assert act(gateway, token, f"{EVAL}/scorecards/{card_a}/submit").json()["code"] == "invalid_transition"
    # Submitted: no more scoring until returned.
    locked = gateway.put(
        f"{EVAL}/scorecards/{card_a}/items/C01", json={"inputs": FULL_MANUAL["C01"]}, headers=bearer(token)
    )
    assert locked.status_code == 409 and locked.json()["code"] == "scorecard_not_editable"

    # -- the district returns, the evaluator resubmits, the district accepts ------------------------
    assert error_fields(act(gateway, district_token, f"{EVAL}/scorecards/{card_a}/return", {})) == {"comment"}
    assert act(gateway, token, f"{EVAL}/scorecards/{card_a}/return", {"comment": "x"}).status_code == 403
    returned = act(
        gateway, district_token, f"{EVAL}/scorecards/{card_a}/return", {"comment": "请补充C04现场照片"}
    )
    assert returned.status_code == 200 and returned.json()["state"] == "returned"
    assert returned.json()["history"][-1]["note"] == "请补充C04现场照片"
    assert act(gateway, token, f"{EVAL}/scorecards/{card_a}/submit").json()["state"] == "submitted"
    assert act(gateway, token, f"{EVAL}/scorecards/{card_a}/accept").status_code == 403
    accepted = act(gateway, district_token, f"{EVAL}/scorecards/{card_a}/accept")
    assert (
        accepted.status_code == 200
        and accepted.json()["state"] == "accepted"
        and accepted.json()["accepted_at"]
    )

    # -- accepted: frozen --------------------------------------------------------------------------
    url_a = f"{EVAL}/scorecards/{card_a}"
    finding = {"indicator_code": "C01", "text": "x", "severity": "minor"}
    frozen = [
        act(gateway, token, f"{url_a}/compute"),
        act(gateway, district_token, f"{url_a}/compute"),
        gateway.put(f"{url_a}/items/C01", json={"inputs": FULL_MANUAL["C01"]}, headers=bearer(token)),
        act(gateway, token, f"{url_a}/survey-responses", respondents("phone", 1, ALL_FIVE)[0]),
        act(gateway, token, f"{url_a}/findings", finding),
        act(gateway, token, f"{url_a}/submit"),
    ]
    assert [(r.status_code, r.json()["code"]) for r in frozen] == [(409, "scorecard_frozen")] * len(frozen)

    # -- reopen with a reason (audited), then accept again -----------------------------------------
    assert error_fields(act(gateway, district_token, f"{EVAL}/scorecards/{card_a}/reopen", {})) == {"reason"}
    reopened = act(
        gateway, district_token, f"{EVAL}/scorecards/{card_a}/reopen", {"reason": "街道反映C04有误"}
    )
    assert reopened.status_code == 200 and reopened.json()["state"] == "returned"
    audit = stack.sql(
        "SELECT note, actor_role FROM evaluation.audit_log "
        "WHERE action = 'scorecard.reopen' AND object_id = $1",
        card_a,
    )
    assert [(a["note"], a["actor_role"]) for a in audit] == [("街道反映C04有误", "district")]
    assert act(gateway, token, f"{EVAL}/scorecards/{card_a}/submit").status_code == 200
    assert act(gateway, district_token, f"{EVAL}/scorecards/{card_a}/accept").status_code == 200
    history = gateway.get(f"{EVAL}/scorecards/{card_a}", headers=bearer(district_token)).json()["history"]
    assert [h["action"] for h in history] == [
        "submit",
        "return",
        "submit",
        "accept",
        "reopen",
        "submit",
        "accept",
    ]

    # -- B to exactly 80: C05 0 (−10), C11 2 (−5), survey at 0.80 → C18 20 (−5) and a finding -----
    score_items(gateway, token, card_b, {"C05": 0, "C11": 2}, FULL_MANUAL)
    four_fives = {"space": 5, "functions": 5, "service": 5, "pricing": 5, "participation": 3}
    low = post_survey(
        gateway,
        token,
        card_b,
        respondents("onsite_random", 30, four_fives) + respondents("phone", 30, four_fives),
    ).json()
    assert low["survey"]["satisfaction_rate"] == "0.8000"
    assert low["finding"]["code"] == "satisfaction_below_90" and low["finding"]["indicator_code"] == "C18"
    card = act(gateway, token, f"{EVAL}/scorecards/{card_b}/submit").json()
    assert (card["total"], card["ratio"]) == ("80.00", "0.8000") and item(card, "C18")[
        "final_points"
    ] == "20.00"
    assert act(gateway, district_token, f"{EVAL}/scorecards/{card_b}/accept").status_code == 200

    # -- before publication operators and streets see nothing ----------------------------------------
    changhe = login(gateway, "changhe")["access_token"]
    for viewer, card_id in ((site_a["operator_token"], card_a), (street_token, card_a), (changhe, card_b)):
        assert gateway.get(f"{EVAL}/scorecards/{card_id}", headers=bearer(viewer)).status_code == 404
    # … nor does another evaluator, ever.
    other = login(gateway, create_evaluator(gateway, district_token)["username"])["access_token"]
    assert gateway.get(f"{EVAL}/scorecards/{card_a}", headers=bearer(other)).status_code == 404

    # -- close and publish -------------------------------------------------------------------------
    assert act(gateway, district_token, f"{round_url}/publish").json()["code"] == "invalid_transition"
    assert act(gateway, token, f"{round_url}/close").status_code == 403
    assert act(gateway, district_token, f"{round_url}/close").json()["state"] == "closed"
    late = act(gateway, token, f"{EVAL}/scorecards/{card_a}/compute")
    assert late.status_code == 409
    published = act(gateway, district_token, f"{round_url}/publish")
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["state"] == "published" and body["published_at"]
    tiers = {t["site_id"]: (t["ratio"], t["tier"]) for t in body["tiers"]}
    assert tiers == {ids[0]: ("0.9000", "demonstration"), ids[1]: ("0.8000", "standard")}
    for site_id, tier in ((ids[0], "demonstration"), (ids[1], "standard")):
        registry = gateway.get(f"/api/v1/registry/sites/{site_id}", headers=bearer(district_token)).json()
        assert registry["tier"] == tier and registry["tier_round_id"] == made["id"]
    assert act(gateway, district_token, f"{round_url}/publish").json()["code"] == "invalid_transition"
    reopen_late = act(gateway, district_token, f"{EVAL}/scorecards/{card_a}/reopen", {"reason": "太晚了"})
    assert reopen_late.status_code == 409 and reopen_late.json()["code"] == "round_published"

    # -- after publication: each operator and street its own ------------------------------------------
    seen = gateway.get(f"{EVAL}/scorecards/{card_a}", headers=bearer(site_a["operator_token"]))
    assert seen.status_code == 200 and seen.json()["tier"] == "demonstration"
    assert (
        gateway.get(f"{EVAL}/scorecards/{card_b}", headers=bearer(site_a["operator_token"])).status_code
        == 404
    )
    assert gateway.get(f"{EVAL}/scorecards/{card_a}", headers=bearer(street_token)).status_code == 200
    assert gateway.get(f"{EVAL}/scorecards/{card_b}", headers=bearer(street_token)).status_code == 404
    assert gateway.get(f"{EVAL}/scorecards/{card_b}", headers=bearer(changhe)).status_code == 200
    listed = gateway.get(
        f"{EVAL}/scorecards", params={"round_id": made["id"]}, headers=bearer(site_b["operator_token"])
    )
    assert [c["id"] for c in listed.json()["items"]] == [card_b]
    # Published rounds leave the evaluator's claim.
    relogged = login(gateway, evaluator["username"])["access_token"]
    assert gateway.get("/api/v1/auth/me", headers=bearer(relogged)).json()["sites"] == []
    audit = stack.sql(
        "SELECT action FROM evaluation.audit_log WHERE object_id = $1 ORDER BY occurred_at", made["id"]
    )
    assert [a["action"] for a in audit][-2:] == ["round.close", "round.publish"]


def test_a_quarterly_round_publishes_feedback_without_a_tier(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    site = operated_site(gateway, district_token, "PY")
    site_id = site["site"]["id"]
    made = create_round(gateway, district_token, [site_id], kind="quarterly")
    evaluator = create_evaluator(gateway, district_token)
    assert assign(gateway, district_token, made["id"], evaluator["user"]["id"], [site_id]).status_code == 201
    token = login(gateway, evaluator["username"])["access_token"]
    [card] = scorecards_of(gateway, district_token, made["id"])
    score_items(gateway, token, card["id"], {}, FULL_MANUAL)
    post_survey(
        gateway,
        token,
        card["id"],
        respondents("onsite_random", 30, ALL_FIVE) + respondents("phone", 30, ALL_FIVE),
    )
    feedback_body = {"indicator_code": "C15", "text": "主题活动偏少", "severity": "major"}
    finding = act(gateway, token, f"{EVAL}/scorecards/{card['id']}/findings", feedback_body)
    assert finding.status_code == 201
    submitted = act(gateway, token, f"{EVAL}/scorecards/{card['id']}/submit").json()
    assert submitted["total"] == "100.00"
    assert act(gateway, district_token, f"{EVAL}/scorecards/{card['id']}/accept").status_code == 200
    assert act(gateway, district_token, f"{EVAL}/rounds/{made['id']}/close").status_code == 200
    published = act(gateway, district_token, f"{EVAL}/rounds/{made['id']}/publish")
    assert published.status_code == 200, published.text
    assert [(t["ratio"], t["tier"]) for t in published.json()["tiers"]] == [("1.0000", None)]
    registry = gateway.get(f"/api/v1/registry/sites/{site_id}", headers=bearer(district_token)).json()
    assert registry["tier"] is None and registry["tier_round_id"] is None
    feedback = gateway.get(f"{EVAL}/scorecards/{card['id']}", headers=bearer(site["operator_token"])).json()
    assert feedback["tier"] is None and [f["text"] for f in feedback["findings"]] == ["主题活动偏少"]
    assert Decimal(feedback["total"]) == 100
    assert (
        uuid.UUID(feedback["round"]["id"]) == uuid.UUID(made["id"])
        and feedback["round"]["kind"] == "quarterly"
    )


def _publish_without_registry(stack: RunningStack, token: str, round_id: str) -> httpx.Response:
    """Publish through an evaluation app whose registry does not answer (port 9 refuses)."""
    gateway_url = stack.gateway_url
    settings = EvaluationSettings(
        env="test",
        database_url=stack.database_url,
        jwks_url=f"{gateway_url}/.well-known/jwks.json",
        gateway_url=gateway_url,
        registry_url="http://127.0.0.1:9",
        activities_url=stack.service_url("activities"),
        log_json=False,
        log_level="WARNING",
    )
    app = create_app(settings)

    async def run() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://evaluation") as client:
                return await client.post(f"/rounds/{round_id}/publish", headers=bearer(token))

    return asyncio.run(run())


def test_publication_fails_whole_when_the_registry_does_not_answer(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    site = operated_site(gateway, district_token, "XX")
    site_id = site["site"]["id"]
    made = create_round(gateway, district_token, [site_id], kind="final")
    evaluator = create_evaluator(gateway, district_token)
    assert assign(gateway, district_token, made["id"], evaluator["user"]["id"], [site_id]).status_code == 201
    token = login(gateway, evaluator["username"])["access_token"]
    [card] = scorecards_of(gateway, district_token, made["id"])
    score_items(gateway, token, card["id"], {}, FULL_MANUAL)
    post_survey(
        gateway,
        token,
        card["id"],
        respondents("onsite_random", 30, ALL_FIVE) + respondents("phone", 30, ALL_FIVE),
    )
    assert act(gateway, token, f"{EVAL}/scorecards/{card['id']}/submit").status_code == 200
    assert act(gateway, district_token, f"{EVAL}/scorecards/{card['id']}/accept").status_code == 200
    assert act(gateway, district_token, f"{EVAL}/rounds/{made['id']}/close").status_code == 200

    failed = _publish_without_registry(stack, district_token, made["id"])
    assert failed.status_code == 503 and failed.json()["code"] == "upstream_unavailable"
    assert failed.json()["detail"] == "Another Linju service did not answer."  # the registry, not the token
    still = gateway.get(f"{EVAL}/rounds/{made['id']}", headers=bearer(district_token)).json()
    assert still["state"] == "closed" and still["published_at"] is None
    assert (
        gateway.get(f"{EVAL}/scorecards/{card['id']}", headers=bearer(district_token)).json()["tier"] is None
    )
    registry = gateway.get(f"/api/v1/registry/sites/{site_id}", headers=bearer(district_token)).json()
    assert registry["tier"] is None
    # A retry once the registry answers publishes.
    retried = act(gateway, district_token, f"{EVAL}/rounds/{made['id']}/publish")
    assert retried.status_code == 200, retried.text
    assert [t["tier"] for t in retried.json()["tiers"]] == ["demonstration"]
    registry = gateway.get(f"/api/v1/registry/sites/{site_id}", headers=bearer(district_token)).json()
    assert registry["tier"] == "demonstration" and registry["tier_round_id"] == made["id"]
