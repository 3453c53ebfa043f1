"""`/api/v1/evaluation/improvement-plans` (7.2.2) through the gateway.

After a round is published the operator answers each finding of its site with a plan (actions,
owner, due date), reports progress and completes it; the street of the site (or the district)
verifies it. Out of scope answers 404 like a missing plan; wrong states 409 `invalid_transition`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from services.common.timeutil import today_shanghai
from tests.conftest import RunningStack, bearer, login
from tests.evaluation.helpers import SiteScoring, ok, open_round, published_round, year_period
from tests.evaluation.test_rounds import EVAL
from tests.registry.factories import error_fields, integration_token, operated_site

PLANS = f"{EVAL}/improvement-plans"
FINDINGS = [
    {"indicator_code": "C15", "text": "主题活动场次不足,百人以上活动仅1场", "severity": "major"},
    {"indicator_code": "C05", "text": "儿童活动室未铺设软质地胶", "severity": "minor"},
]


def plan_body(finding: str, **overrides: Any) -> dict[str, Any]:
    return {
        "finding_id": finding,
        "actions": "每月增开2场主题活动,联合辖区学校开展百人以上活动",
        "owner": "王站长",
        "due_on": (today_shanghai() + dt.timedelta(days=60)).isoformat(),
        **overrides,
    }


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    return operated_site(gateway, district_token, "XX")


@pytest.fixture(scope="module")
def stranger(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """An operator of another site (of another street)."""
    return operated_site(gateway, district_token, "CH")


@pytest.fixture(scope="module")
def published(gateway: httpx.Client, district_token: str, site: dict[str, Any]) -> dict[str, Any]:
    site_id = site["site"]["id"]
    return published_round(
        gateway,
        district_token,
        {site_id: SiteScoring(points={"C15": 0.5, "C05": 9}, findings=FINDINGS)},
        title="2025年度终期评估",
        **year_period(2025),
    )


@pytest.fixture(scope="module")
def findings(published: dict[str, Any], site: dict[str, Any]) -> list[dict[str, Any]]:
    return list(published["findings"][site["site"]["id"]])


def test_operator_answers_a_finding_of_a_published_round(
    gateway: httpx.Client,
    district_token: str,
    street_token: str,
    site: dict[str, Any],
    stranger: dict[str, Any],
    published: dict[str, Any],
    findings: list[dict[str, Any]],
    stack: RunningStack,
) -> None:
    operator = site["operator_token"]
    finding = findings[0]
    response = gateway.post(PLANS, json=plan_body(finding["id"]), headers=bearer(operator))
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["ETag"]
    assert plan["state"] == "open" and plan["progress"] == [] and plan["overdue"] is False
    assert plan["finding"]["id"] == finding["id"] and plan["finding"]["indicator_code"] == "C15"
    assert plan["finding"]["text"] == FINDINGS[0]["text"] and plan["finding"]["severity"] == "major"
    assert (plan["site_id"], plan["street_id"], plan["round_id"]) == (
        site["site"]["id"],
        site["site"]["street_id"],
        published["round"]["id"],
    )
    assert plan["owner"] == "王站长" and plan["verified_by"] is None

    # One plan per finding.
    again = gateway.post(PLANS, json=plan_body(finding["id"]), headers=bearer(operator))
    assert again.status_code == 409 and again.json()["code"] == "plan_exists"
    assert again.json()["plan_id"] == plan["id"]

    # A finding of another site is not found, exactly like a random id.
    random = gateway.post(PLANS, json=plan_body(str(uuid.uuid4())), headers=bearer(operator))
    foreign = gateway.post(
        PLANS, json=plan_body(findings[1]["id"]), headers=bearer(stranger["operator_token"])
    )
    assert random.status_code == foreign.status_code == 404
    assert without_request_id(random) == without_request_id(foreign)
    assert random.json()["code"] == "finding_not_found"

    # Only operators answer findings.
    evaluator = published["evaluator_token"]
    for token in (district_token, street_token, evaluator, integration_token(gateway, district_token)):
        refused = gateway.post(PLANS, json=plan_body(findings[1]["id"]), headers=bearer(token))
        assert refused.status_code == 403, refused.text

    audit = stack.sql(
        "SELECT action, actor_role, after FROM evaluation.audit_log WHERE object_id = $1", plan["id"]
    )
    assert [(a["action"], a["actor_role"]) for a in audit] == [("improvement_plan.create", "operator")]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"due_on": "2020-01-01"}, "due_on"),
        ({"actions": ""}, "actions"),
        ({"owner": "x" * 101}, "owner"),
        ({"finding_id": "not-a-uuid"}, "finding_id"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_plan_input_names_the_field(
    gateway: httpx.Client, site: dict[str, Any], findings: list[dict[str, Any]], overrides: dict, field: str
) -> None:
    response = gateway.post(
        PLANS, json=plan_body(findings[1]["id"], **overrides), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_a_finding_of_an_unpublished_round_cannot_be_answered_yet(
    gateway: httpx.Client, district_token: str, site: dict[str, Any]
) -> None:
    site_id = site["site"]["id"]
    opened = open_round(gateway, district_token, [site_id], kind="quarterly")
    finding = ok(
        gateway.post(
            f"{EVAL}/scorecards/{opened['cards'][site_id]}/findings",
            json={"indicator_code": "C13", "text": "志愿者人数偏少", "severity": "minor"},
            headers=bearer(opened["evaluator_token"]),
        ),
        201,
    )
    early = gateway.post(PLANS, json=plan_body(finding["id"]), headers=bearer(site["operator_token"]))
    assert early.status_code == 409 and early.json()["code"] == "round_not_published"
    assert early.json()["state"] == "open"


def test_the_life_cycle_progress_complete_verify(
    gateway: httpx.Client,
    district_token: str,
    street_token: str,
    site: dict[str, Any],
    stranger: dict[str, Any],
    findings: list[dict[str, Any]],
    stack: RunningStack,
) -> None:
    operator = site["operator_token"]
    plan = ok(gateway.post(PLANS, json=plan_body(findings[1]["id"]), headers=bearer(operator)), 201)
    url = f"{PLANS}/{plan['id']}"

    # Verifying or reporting on someone else's plan: 403 for the wrong role, 404 out of scope.
    assert (
        gateway.post(f"{url}/progress", json={"text": "x"}, headers=bearer(street_token)).status_code == 403
    )
    assert gateway.post(f"{url}/complete", headers=bearer(district_token)).status_code == 403
    foreign = gateway.post(f"{url}/progress", json={"text": "x"}, headers=bearer(stranger["operator_token"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "improvement_plan_not_found"
    assert error_fields(gateway.post(f"{url}/progress", json={"text": ""}, headers=bearer(operator))) == {
        "text"
    }
    early = gateway.post(f"{url}/verify", headers=bearer(street_token))
    assert early.status_code == 409 and early.json()["code"] == "invalid_transition"
    assert early.json()["allowed_actions"] == ["progress", "complete"]

    first = ok(gateway.post(f"{url}/progress", json={"text": "已采购软质地胶"}, headers=bearer(operator)))
    assert first["state"] == "in_progress" and [p["text"] for p in first["progress"]] == ["已采购软质地胶"]
    second = ok(gateway.post(f"{url}/progress", json={"text": "铺设完成一半"}, headers=bearer(operator)))
    assert [p["text"] for p in second["progress"]] == ["已采购软质地胶", "铺设完成一半"]
    assert second["progress"][0]["by"] and second["progress"][0]["at"] <= second["progress"][1]["at"]

    done = ok(gateway.post(f"{url}/complete", headers=bearer(operator)))
    assert done["state"] == "done" and done["verified_at"] is None
    late = gateway.post(f"{url}/progress", json={"text": "补充"}, headers=bearer(operator))
    assert late.status_code == 409 and late.json()["code"] == "invalid_transition"

    # The operator cannot verify its own work; another street does not see the plan.
    assert gateway.post(f"{url}/verify", headers=bearer(operator)).status_code == 403
    changhe = login(gateway, "changhe")["access_token"]
    other_street = gateway.post(f"{url}/verify", headers=bearer(changhe))
    random = gateway.post(f"{PLANS}/{uuid.uuid4()}/verify", headers=bearer(changhe))
    assert other_street.status_code == random.status_code == 404
    assert without_request_id(other_street) == without_request_id(random)

    verified = ok(gateway.post(f"{url}/verify", headers=bearer(street_token)))
    assert verified["state"] == "verified" and verified["verified_at"]
    xixing = gateway.get("/api/v1/auth/me", headers=bearer(street_token)).json()
    assert verified["verified_by"] == xixing["sub"]
    again = gateway.post(f"{url}/verify", headers=bearer(district_token))
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    assert again.json()["allowed_actions"] == []

    audit = stack.sql(
        "SELECT action, actor_role FROM evaluation.audit_log WHERE object_id = $1 ORDER BY occurred_at",
        plan["id"],
    )
    assert [(a["action"], a["actor_role"]) for a in audit] == [
        ("improvement_plan.create", "operator"),
        ("improvement_plan.progress", "operator"),
        ("improvement_plan.progress", "operator"),
        ("improvement_plan.complete", "operator"),
        ("improvement_plan.verify", "street"),
    ]


def test_the_district_verifies_too(
    gateway: httpx.Client, district_token: str, site: dict[str, Any], published: dict[str, Any]
) -> None:
    site_id = site["site"]["id"]
    # The automatic satisfaction finding can be answered like any other.
    extra = published_round(
        gateway,
        district_token,
        {
            site_id: SiteScoring(
                ratings={"space": 5, "functions": 5, "service": 5, "pricing": 5, "participation": 3}
            )
        },
        kind="quarterly",
    )
    [auto] = [
        f
        for f in ok(
            gateway.get(f"{EVAL}/scorecards/{extra['cards'][site_id]}", headers=bearer(district_token))
        )["findings"]
    ]
    assert auto["code"] == "satisfaction_below_90"
    plan = ok(gateway.post(PLANS, json=plan_body(auto["id"]), headers=bearer(site["operator_token"])), 201)
    ok(gateway.post(f"{PLANS}/{plan['id']}/complete", headers=bearer(site["operator_token"])))
    verified = ok(gateway.post(f"{PLANS}/{plan['id']}/verify", headers=bearer(district_token)))
    assert verified["state"] == "verified" and verified["finding"]["code"] == "satisfaction_below_90"


def test_who_sees_which_plans(
    gateway: httpx.Client,
    district_token: str,
    street_token: str,
    site: dict[str, Any],
    stranger: dict[str, Any],
    published: dict[str, Any],
    findings: list[dict[str, Any]],
) -> None:
    site_id = site["site"]["id"]
    mine = ok(gateway.get(PLANS, params={"site_id": site_id}, headers=bearer(district_token)))["items"]
    assert len(mine) >= 2 and {p["site_id"] for p in mine} == {site_id}
    ids = {p["id"] for p in mine}
    plan_id = next(p["id"] for p in mine if p["finding"]["id"] == findings[0]["id"])

    for token in (site["operator_token"], street_token, integration_token(gateway, district_token)):
        listed = ok(gateway.get(PLANS, params={"limit": 200}, headers=bearer(token)))["items"]
        assert ids <= {p["id"] for p in listed}
        assert ok(gateway.get(f"{PLANS}/{plan_id}", headers=bearer(token)))["id"] == plan_id
    changhe = login(gateway, "changhe")["access_token"]
    for token in (stranger["operator_token"], changhe):
        listed = ok(gateway.get(PLANS, params={"limit": 200}, headers=bearer(token)))["items"]
        assert not ids & {p["id"] for p in listed}
        hidden = gateway.get(f"{PLANS}/{plan_id}", headers=bearer(token))
        random = gateway.get(f"{PLANS}/{uuid.uuid4()}", headers=bearer(token))
        assert hidden.status_code == random.status_code == 404
        assert without_request_id(hidden) == without_request_id(random)
    # Evaluators never see plans.
    evaluator = published["evaluator_token"]
    assert gateway.get(PLANS, headers=bearer(evaluator)).status_code == 403
    assert gateway.get(f"{PLANS}/{plan_id}", headers=bearer(evaluator)).status_code == 403

    # Filters: state and round.
    verified = ok(
        gateway.get(PLANS, params={"site_id": site_id, "state": "verified"}, headers=bearer(district_token))
    )["items"]
    assert verified and {p["state"] for p in verified} == {"verified"}
    in_round = ok(
        gateway.get(PLANS, params={"round_id": published["round"]["id"]}, headers=bearer(district_token))
    )["items"]
    assert {p["finding"]["id"] for p in in_round} == {f["id"] for f in findings}
    assert error_fields(gateway.get(PLANS, params={"state": "closed"}, headers=bearer(district_token))) == {
        "state"
    }
    assert error_fields(gateway.get(PLANS, params={"limit": 500}, headers=bearer(district_token))) == {
        "limit"
    }


def test_a_sites_plans_for_its_next_scorecard(
    gateway: httpx.Client,
    district_token: str,
    street_token: str,
    site: dict[str, Any],
    stranger: dict[str, Any],
    published: dict[str, Any],
    findings: list[dict[str, Any]],
) -> None:
    site_id = site["site"]["id"]
    url = f"{EVAL}/sites/{site_id}/improvement-plans"
    open_plans = ok(gateway.get(url, params={"state": "open"}, headers=bearer(site["operator_token"])))[
        "items"
    ]
    assert [p["finding"]["id"] for p in open_plans] == [findings[0]["id"]]
    everything = ok(gateway.get(url, headers=bearer(street_token)))["items"]
    assert {p["state"] for p in everything} >= {"open", "verified"}
    assert ok(gateway.get(url, headers=bearer(district_token)))["items"] == everything

    changhe = login(gateway, "changhe")["access_token"]
    for token in (stranger["operator_token"], changhe):
        hidden = gateway.get(url, headers=bearer(token))
        assert hidden.status_code == 404 and hidden.json()["code"] == "site_not_found"
    unknown = gateway.get(f"{EVAL}/sites/{uuid.uuid4()}/improvement-plans", headers=bearer(district_token))
    assert unknown.status_code == 404 and unknown.json()["code"] == "site_not_found"
    assert gateway.get(url, headers=bearer(published["evaluator_token"])).status_code == 403
    assert error_fields(
        gateway.get(f"{EVAL}/sites/nope/improvement-plans", headers=bearer(district_token))
    ) == {"site_id"}


def test_the_next_rounds_scorecard_shows_the_open_plans(
    gateway: httpx.Client,
    district_token: str,
    site: dict[str, Any],
    published: dict[str, Any],
    findings: list[dict[str, Any]],
) -> None:
    """7.2.2: the plans answering last round's findings stand beside the site's next scorecard."""
    from tests.evaluation.helpers import open_round

    site_id = site["site"]["id"]
    unverified = [
        p
        for p in ok(gateway.get(f"{EVAL}/sites/{site_id}/improvement-plans", headers=bearer(district_token)))[
            "items"
        ]
        if p["state"] != "verified"
    ]
    assert unverified, "the module's fixtures leave at least one plan open"
    later = open_round(gateway, district_token, [site_id], kind="quarterly")
    card = ok(gateway.get(f"{EVAL}/scorecards/{later['cards'][site_id]}", headers=bearer(district_token)))
    assert sorted(p["id"] for p in card["open_improvement_plans"]) == sorted(p["id"] for p in unverified)
    # The published round's own scorecard does not list its own plans as "earlier".
    own = ok(gateway.get(f"{EVAL}/scorecards/{published['cards'][site_id]}", headers=bearer(district_token)))
    assert own["open_improvement_plans"] == []
