"""`/api/v1/evaluation/rounds` and `/rounds/{id}/assignments`, and the evaluator scope they feed.

The helpers at the top are shared by the other evaluation tests.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from services.common.timeutil import today_shanghai
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import (
    create_org,
    create_site,
    create_user,
    error_fields,
    integration_token,
    operated_site,
    street,
    user_token,
)
from tests.registry.test_directory import service_token

EVAL = "/api/v1/evaluation"


# ---- helpers shared by the evaluation tests ------------------------------------------------------


def recent_period(months_back: int = 2) -> tuple[dt.date, dt.date]:
    """From the first day of the month `months_back` months ago to today: 3 calendar months."""
    today = today_shanghai()
    year, month = today.year, today.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    return dt.date(year, month, 1), today


def create_round(
    gateway: httpx.Client, district_token: str, site_ids: list[str] | None, **overrides: Any
) -> dict[str, Any]:
    start, end = recent_period()
    body: dict[str, Any] = {
        "year": end.year,
        "kind": "final",
        "title": "测试评估轮次",
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "rubric_version": "2023-draft",
        **overrides,
    }
    if site_ids is not None:
        body["site_ids"] = site_ids
    response = gateway.post(f"{EVAL}/rounds", json=body, headers=bearer(district_token))
    assert response.status_code == 201, response.text
    return response.json()


def create_evaluator(gateway: httpx.Client, district_token: str, organization_id: str | None = None) -> dict:
    """An evaluator user of a (new) third-party organisation: {"user", "organization_id", "username"}."""
    if organization_id is None:
        organization_id = create_org(gateway, district_token, name=f"第三方评估所{uuid.uuid4().hex[:6]}")[
            "id"
        ]
    user = create_user(gateway, district_token, "evaluator", organization_id=organization_id)
    return {"user": user, "organization_id": organization_id, "username": user["username"]}


def assign(gateway: httpx.Client, district_token: str, round_id: str, evaluator_id: str, site_ids: list[str]):
    return gateway.post(
        f"{EVAL}/rounds/{round_id}/assignments",
        json={"evaluator_id": evaluator_id, "site_ids": site_ids},
        headers=bearer(district_token),
    )


def scorecards_of(gateway: httpx.Client, token: str, round_id: str) -> list[dict[str, Any]]:
    response = gateway.get(
        f"{EVAL}/scorecards", params={"round_id": round_id, "limit": 200}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sites(gateway: httpx.Client, district_token: str) -> list[dict[str, Any]]:
    return [operated_site(gateway, district_token, "XX"), operated_site(gateway, district_token, "CH")]


@pytest.fixture(scope="module")
def a_round(gateway: httpx.Client, district_token: str, sites: list[dict[str, Any]]) -> dict[str, Any]:
    return create_round(gateway, district_token, [s["site"]["id"] for s in sites])


# ---- rounds --------------------------------------------------------------------------------------


def test_district_opens_a_round_with_one_scorecard_per_site(
    gateway: httpx.Client,
    district_token: str,
    sites: list[dict[str, Any]],
    a_round: dict,
    stack: RunningStack,
) -> None:
    assert a_round["state"] == "open" and a_round["kind"] == "final" and a_round["site_count"] == 2
    assert a_round["scorecards_by_state"] == {"draft": 2, "submitted": 0, "returned": 0, "accepted": 0}
    cards = scorecards_of(gateway, district_token, a_round["id"])
    by_site = {c["site_id"]: c for c in cards}
    for made in sites:
        card = by_site[made["site"]["id"]]
        assert card["state"] == "draft" and card["street_id"] == made["site"]["street_id"]
        assert card["site_name"] == made["site"]["name"] and card["total"] is None
        full = gateway.get(f"{EVAL}/scorecards/{card['id']}", headers=bearer(district_token)).json()
        assert [i["code"] for i in full["items"]] == [f"C{n:02d}" for n in range(1, 22)]
        c18 = next(i for i in full["items"] if i["code"] == "C18")
        assert c18["source"] == "auto" and c18["max_points"] == "25.00" and c18["final_points"] is None
        assert next(i for i in full["items"] if i["code"] == "C01")["source"] == "manual"
    got = gateway.get(f"{EVAL}/rounds/{a_round['id']}", headers=bearer(district_token))
    assert got.status_code == 200 and got.json()["id"] == a_round["id"]
    listed = gateway.get(
        f"{EVAL}/rounds", params={"kind": "final", "limit": 200}, headers=bearer(district_token)
    )
    assert a_round["id"] in [r["id"] for r in listed.json()["items"]]
    audit = stack.sql("SELECT action FROM evaluation.audit_log WHERE object_id = $1", a_round["id"])
    assert [a["action"] for a in audit] == ["round.create"]


def test_default_scope_is_every_operating_site(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    create_site(gateway, district_token, status="building")
    made = create_round(gateway, district_token, None, kind="quarterly")
    operating = {str(r["id"]) for r in stack.sql("SELECT id FROM registry.sites WHERE status = 'operating'")}
    cards = {c["site_id"] for c in scorecards_of(gateway, district_token, made["id"])}
    assert made["site_count"] == len(operating) == len(cards) and cards == operating


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"period_end": "2020-01-01", "period_start": "2020-02-01"}, "period_end"),
        ({"period_start": "2024-01-01", "period_end": "2025-06-30"}, "period_end"),
        ({"rubric_version": "no-such-rubric"}, "rubric_version"),
        ({"site_ids": [str(uuid.uuid4())]}, "site_ids"),
        ({"site_ids": []}, "site_ids"),
        ({"kind": "annual"}, "kind"),
        ({"year": 1990}, "year"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_round_input_names_the_field(
    gateway: httpx.Client, district_token: str, sites: list[dict[str, Any]], overrides: dict, field: str
) -> None:
    body = {
        "year": 2026,
        "kind": "midterm",
        "period_start": "2026-01-01",
        "period_end": "2026-06-30",
        "rubric_version": "2023-draft",
        "site_ids": [sites[0]["site"]["id"]],
        **overrides,
    }
    response = gateway.post(f"{EVAL}/rounds", json=body, headers=bearer(district_token))
    assert field in error_fields(response), response.text


def test_only_the_district_opens_closes_and_publishes(
    gateway: httpx.Client, district_token: str, street_token: str, sites: list[dict[str, Any]], a_round: dict
) -> None:
    evaluator = login(gateway, "evaluator")["access_token"]
    integration = integration_token(gateway, district_token)
    body = {
        "year": 2026,
        "kind": "final",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "rubric_version": "2023-draft",
        "site_ids": [sites[0]["site"]["id"]],
    }
    for token in (street_token, evaluator, sites[0]["operator_token"], integration):
        assert gateway.post(f"{EVAL}/rounds", json=body, headers=bearer(token)).status_code == 403
        for action in ("close", "publish"):
            assert (
                gateway.post(f"{EVAL}/rounds/{a_round['id']}/{action}", headers=bearer(token)).status_code
                == 403
            )


def test_round_scope(
    gateway: httpx.Client, district_token: str, street_token: str, sites: list[dict[str, Any]], a_round: dict
) -> None:
    url = f"{EVAL}/rounds/{a_round['id']}"
    missing = gateway.get(f"{EVAL}/rounds/{uuid.uuid4()}", headers=bearer(district_token))
    assert missing.status_code == 404 and missing.json()["code"] == "round_not_found"
    # The operators and street (XX) of the round's sites see it; others do not.
    assert gateway.get(url, headers=bearer(sites[0]["operator_token"])).status_code == 200
    assert gateway.get(url, headers=bearer(street_token)).status_code == 200
    stranger = operated_site(gateway, district_token, "PY")["operator_token"]
    outsider_evaluator = login(gateway, "evaluator")["access_token"]
    py_street = user_token(gateway, district_token, "street", street_id=street("PY").id)
    for token in (stranger, outsider_evaluator, py_street):
        response = gateway.get(url, headers=bearer(token))
        assert response.status_code == 404 and response.json()["detail"] == missing.json()["detail"]
        listed = gateway.get(f"{EVAL}/rounds", params={"limit": 200}, headers=bearer(token)).json()
        assert a_round["id"] not in [r["id"] for r in listed["items"]]


def test_transitions_follow_the_state_machine(
    gateway: httpx.Client, district_token: str, sites: list[dict[str, Any]]
) -> None:
    made = create_round(gateway, district_token, [sites[0]["site"]["id"]], kind="midterm")
    url = f"{EVAL}/rounds/{made['id']}"
    early = gateway.post(f"{url}/publish", headers=bearer(district_token))
    assert early.status_code == 409 and early.json()["code"] == "invalid_transition"
    closed = gateway.post(f"{url}/close", headers=bearer(district_token))
    assert closed.status_code == 200 and closed.json()["state"] == "closed" and closed.json()["closed_at"]
    again = gateway.post(f"{url}/close", headers=bearer(district_token))
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    pending = gateway.post(f"{url}/publish", headers=bearer(district_token))
    assert pending.status_code == 409 and pending.json()["code"] == "scorecards_not_accepted"
    assert [s["state"] for s in pending.json()["scorecards"]] == ["draft"]
    assert gateway.get(url, headers=bearer(district_token)).json()["state"] == "closed"
    # No more assignments once closed.
    evaluator = create_evaluator(gateway, district_token)
    late = assign(gateway, district_token, made["id"], evaluator["user"]["id"], [sites[0]["site"]["id"]])
    assert late.status_code == 409 and late.json()["code"] == "round_not_open"


# ---- assignments ---------------------------------------------------------------------------------


def test_assignments_feed_the_evaluator_claim(
    gateway: httpx.Client,
    district_token: str,
    sites: list[dict[str, Any]],
    a_round: dict,
    stack: RunningStack,
) -> None:
    evaluator = create_evaluator(gateway, district_token)
    site_ids = [s["site"]["id"] for s in sites]
    first = assign(gateway, district_token, a_round["id"], evaluator["user"]["id"], site_ids[:1])
    assert first.status_code == 201, first.text
    assert [a["site_id"] for a in first.json()["items"]] == site_ids[:1]
    # Duplicates are ignored; the answer lists all of the evaluator's assignments in the round.
    both = assign(gateway, district_token, a_round["id"], evaluator["user"]["id"], site_ids)
    assert both.status_code == 201
    assert sorted(a["site_id"] for a in both.json()["items"]) == sorted(site_ids)
    assert all(a["evaluator_organization_id"] == evaluator["organization_id"] for a in both.json()["items"])
    listed = gateway.get(
        f"{EVAL}/rounds/{a_round['id']}/assignments",
        params={"evaluator_id": evaluator["user"]["id"]},
        headers=bearer(district_token),
    ).json()
    assert len(listed["items"]) == 2
    # The gateway asks the evaluation service for the claim at login.
    token = login(gateway, evaluator["username"])["access_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(token)).json()
    assert sorted(me["sites"]) == sorted(site_ids)
    internal = httpx.get(
        f"{stack.service_url('evaluation')}/internal/scopes",
        params={"evaluator_id": evaluator["user"]["id"]},
        headers=bearer(service_token(gateway)),
    )
    assert sorted(internal.json()["site_ids"]) == sorted(site_ids)
    assert (
        httpx.get(
            f"{stack.service_url('evaluation')}/internal/scopes",
            params={"evaluator_id": evaluator["user"]["id"]},
            headers=bearer(district_token),
        ).status_code
        == 403
    )
    # The evaluator now sees the round and its scorecards, and nothing of other evaluators.
    assert gateway.get(f"{EVAL}/rounds/{a_round['id']}", headers=bearer(token)).status_code == 200
    assert {c["site_id"] for c in scorecards_of(gateway, token, a_round["id"])} == set(site_ids)
    audit = stack.sql(
        "SELECT count(*) AS n FROM evaluation.audit_log "
        "WHERE action = 'assignment.create' AND object_id = $1",
        a_round["id"],
    )
    assert audit[0]["n"] >= 2


def test_conflict_of_interest(
    gateway: httpx.Client, district_token: str, sites: list[dict[str, Any]], a_round: dict
) -> None:
    # An evaluator of the organisation that operates the first site.
    operator_org = sites[0]["organization"]["id"]
    insider = create_evaluator(gateway, district_token, organization_id=operator_org)
    response = assign(
        gateway, district_token, a_round["id"], insider["user"]["id"], [s["site"]["id"] for s in sites]
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "evaluator_conflict_of_interest"
    assert [s["site_id"] for s in body["sites"]] == [sites[0]["site"]["id"]]
    assert sites[0]["site"]["name"] in body["detail"]
    # Nothing was assigned, not even the other site.
    listed = gateway.get(
        f"{EVAL}/rounds/{a_round['id']}/assignments",
        params={"evaluator_id": insider["user"]["id"]},
        headers=bearer(district_token),
    ).json()
    assert listed["items"] == []
    # The other site is fine for that evaluator.
    ok = assign(gateway, district_token, a_round["id"], insider["user"]["id"], [sites[1]["site"]["id"]])
    assert ok.status_code == 201


def test_bad_assignments(
    gateway: httpx.Client, district_token: str, street_token: str, sites: list[dict[str, Any]], a_round: dict
) -> None:
    evaluator = create_evaluator(gateway, district_token)
    operator_user = create_user(
        gateway, district_token, "operator", organization_id=sites[0]["organization"]["id"]
    )
    in_round = [sites[0]["site"]["id"]]
    for evaluator_id in (str(uuid.uuid4()), operator_user["id"]):
        assert error_fields(assign(gateway, district_token, a_round["id"], evaluator_id, in_round)) == {
            "evaluator_id"
        }
    outside = create_site(gateway, district_token)["id"]
    response = assign(gateway, district_token, a_round["id"], evaluator["user"]["id"], [outside])
    assert error_fields(response) == {"site_ids"} and outside in response.json()["detail"]
    response = gateway.post(
        f"{EVAL}/rounds/{a_round['id']}/assignments",
        json={"evaluator_id": evaluator["user"]["id"], "site_ids": []},
        headers=bearer(district_token),
    )
    assert error_fields(response) == {"site_ids"}
    # Roles: only the district assigns; only district and integration list.
    for token in (street_token, sites[0]["operator_token"], login(gateway, "evaluator")["access_token"]):
        assert assign(gateway, token, a_round["id"], evaluator["user"]["id"], in_round).status_code == 403
        assert (
            gateway.get(f"{EVAL}/rounds/{a_round['id']}/assignments", headers=bearer(token)).status_code
            == 403
        )
    integration = integration_token(gateway, district_token)
    assert (
        gateway.get(f"{EVAL}/rounds/{a_round['id']}/assignments", headers=bearer(integration)).status_code
        == 200
    )
    missing = assign(gateway, district_token, str(uuid.uuid4()), evaluator["user"]["id"], in_round)
    assert missing.status_code == 404 and missing.json()["code"] == "round_not_found"
