"""`POST /scorecards/{id}/survey-responses` (C18, 7.1.1): single and batch, masking, the satisfaction rate,
C18 and the automatic `satisfaction_below_90` finding."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack, bearer, login
from tests.evaluation.test_rounds import EVAL, assign, create_evaluator, create_round, scorecards_of
from tests.registry.factories import error_fields, operated_site

ALL_FIVE = {"space": 5, "functions": 5, "service": 5, "pricing": 5, "participation": 5, "belonging": 5}


def response(channel: str = "onsite_random", ratings: dict[str, int] | None = None, **extra: Any) -> dict:
    return {"channel": channel, "ratings": ratings or ALL_FIVE, **extra}


@pytest.fixture(scope="module")
def setting(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    site = operated_site(gateway, district_token)
    made = create_round(gateway, district_token, [site["site"]["id"]], kind="quarterly")
    evaluator = create_evaluator(gateway, district_token)
    assert (
        assign(gateway, district_token, made["id"], evaluator["user"]["id"], [site["site"]["id"]]).status_code
        == 201
    )
    [card] = scorecards_of(gateway, district_token, made["id"])
    return {
        "site": site,
        "card": card,
        "url": f"{EVAL}/scorecards/{card['id']}/survey-responses",
        "token": login(gateway, evaluator["username"])["access_token"],
    }


def _c18(gateway: httpx.Client, token: str, card_id: str) -> dict[str, Any]:
    card = gateway.get(f"{EVAL}/scorecards/{card_id}", headers=bearer(token)).json()
    return next(i for i in card["items"] if i["code"] == "C18")


def test_single_and_batch_responses_refresh_the_rate_c18_and_the_finding(
    gateway: httpx.Client, setting: dict[str, Any], stack: RunningStack
) -> None:
    url, token, card_id = setting["url"], setting["token"], setting["card"]["id"]
    # One respondent, all 5s, phone stored masked only.
    one = gateway.post(url, json=response("phone", respondent_phone="13812345678"), headers=bearer(token))
    assert one.status_code == 201, one.text
    body = one.json()
    assert body["created"] == 1 and body["finding"] is None
    assert body["survey"]["by_channel"] == {"onsite_random": 0, "phone": 1}
    assert body["survey"]["satisfaction_rate"] == "1.0000" and body["survey"]["complete"] is False
    stored = stack.sql(
        "SELECT respondent_phone_masked, ratings FROM evaluation.survey_responses WHERE scorecard_id = $1",
        card_id,
    )
    assert [r["respondent_phone_masked"] for r in stored] == ["138****5678"]
    assert "13812345678" not in str(
        stack.sql("SELECT * FROM evaluation.survey_responses WHERE scorecard_id = $1", card_id)
    )
    assert _c18(gateway, token, card_id)["auto_points"] == "25.00"
    # A batch: one respondent skips dimensions, two are unhappy. 7 rated answers, 3 satisfied so far of 13 …
    batch = {
        "responses": [
            response("onsite_random", {"space": 4}),
            response("onsite_random", {"space": 2, "functions": 3, "service": 1}),
            response("phone", {"pricing": 3, "belonging": 2, "participation": 5}),
        ]
    }
    many = gateway.post(url, json=batch, headers=bearer(token))
    assert many.status_code == 201, many.text
    survey = many.json()["survey"]
    # 6 + 1 + 3 + 3 = 13 answers; satisfied: 6 + 1 + 0 + 1 = 8.
    assert (survey["answers"], survey["satisfied_answers"], survey["respondents"]) == (13, 8, 4)
    assert survey["satisfaction_rate"] == "0.6153"
    finding = many.json()["finding"]
    assert finding["code"] == "satisfaction_below_90" and finding["indicator_code"] == "C18"
    assert finding["severity"] == "major" and "61.53 %" in finding["text"]
    c18 = _c18(gateway, token, card_id)
    assert c18["auto_points"] == "15.38"  # 25 × 8/13
    assert (
        "8 of 13 answers rated 4 or more" in c18["explanation"]["inputs"]["survey.satisfaction_rate"]["note"]
    )
    # Still below: one finding, not two. Then enough 5s bring the rate to ≥ 0.9 and the finding goes.
    gateway.post(url, json={"responses": [response()]}, headers=bearer(token))
    card = gateway.get(f"{EVAL}/scorecards/{card_id}", headers=bearer(token)).json()
    assert [f["code"] for f in card["findings"]] == ["satisfaction_below_90"]
    recovered = gateway.post(url, json={"responses": [response() for _ in range(6)]}, headers=bearer(token))
    # 13 + 6 + 36 = 55 answers, 8 + 6 + 36 = 50 satisfied: 0.909 ≥ 0.9.
    assert recovered.json()["finding"] is None and recovered.json()["survey"]["satisfaction_rate"] == "0.9090"
    card = gateway.get(f"{EVAL}/scorecards/{card_id}", headers=bearer(token)).json()
    assert card["findings"] == [] and card["satisfaction_rate"] == "0.9090"
    audit = stack.sql(
        "SELECT count(*) AS n FROM evaluation.audit_log WHERE action = 'scorecard.survey' AND object_id = $1",
        card_id,
    )
    assert audit[0]["n"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (response(ratings={"space": 5, "beauty": 4}), "ratings.beauty"),
        (response(ratings={"space": 6}), "ratings.space"),
        (response(ratings={"space": 0}), "ratings.space"),
        ({"channel": "onsite_random", "ratings": {}}, "ratings"),
        (response(channel="email"), "channel"),
        (response(respondent_phone="call me"), "respondent_phone"),
        ({"ratings": ALL_FIVE}, "channel"),
        ({"responses": [response(), response(ratings={"beauty": 3})]}, "responses.1.ratings.beauty"),
        ({"responses": []}, "responses"),
        ({"responses": [response()] * 501}, "responses"),
    ],
)
def test_bad_responses_name_the_field(
    gateway: httpx.Client, setting: dict[str, Any], body: Any, field: str
) -> None:
    result = gateway.post(setting["url"], json=body, headers=bearer(setting["token"]))
    assert field in error_fields(result), result.text


def test_only_the_assigned_evaluator_records_responses(
    gateway: httpx.Client, district_token: str, street_token: str, setting: dict[str, Any]
) -> None:
    for token in (district_token, street_token, setting["site"]["operator_token"]):
        assert gateway.post(setting["url"], json=response(), headers=bearer(token)).status_code == 403
    stranger = login(gateway, create_evaluator(gateway, district_token)["username"])["access_token"]
    denied = gateway.post(setting["url"], json=response(), headers=bearer(stranger))
    missing = gateway.post(
        f"{EVAL}/scorecards/{uuid.uuid4()}/survey-responses", json=response(), headers=bearer(stranger)
    )
    assert denied.status_code == missing.status_code == 404
    assert denied.json()["detail"] == missing.json()["detail"]


def test_a_batch_is_all_or_nothing_and_idempotent(
    gateway: httpx.Client, setting: dict[str, Any], stack: RunningStack
) -> None:
    def count() -> int:
        rows = stack.sql(
            "SELECT count(*) AS n FROM evaluation.survey_responses WHERE scorecard_id = $1",
            setting["card"]["id"],
        )
        return int(rows[0]["n"])

    before = count()
    bad = {"responses": [response(), response(), response(ratings={"space": 9})]}
    assert gateway.post(setting["url"], json=bad, headers=bearer(setting["token"])).status_code == 422
    assert count() == before
    key = {"Idempotency-Key": f"survey-{uuid.uuid4()}", **bearer(setting["token"])}
    body = {"responses": [response("phone"), response("phone")]}
    first = gateway.post(setting["url"], json=body, headers=key)
    again = gateway.post(setting["url"], json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
    assert count() == before + 2
