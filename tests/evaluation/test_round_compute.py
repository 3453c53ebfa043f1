"""`POST /api/v1/evaluation/rounds/{id}/compute`: every scorecard of a round at once, from the
many-site variants of the registry facts and the activities metrics — and it must end exactly where
computing each scorecard on its own ends."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

import httpx
import pytest

from services.evaluation.scorecards.compute import explanation_in_full
from tests.activities.test_metrics import NOTICE, PHOTO, SIGN_IN, at, day, insert
from tests.conftest import RunningStack, bearer, login
from tests.evaluation.test_rounds import EVAL, assign, create_evaluator, create_round, scorecards_of
from tests.evaluation.test_scorecards import AREAS, HOURS
from tests.registry.factories import create_org, create_site, integration_token, operated_site, user_token
from tests.registry.test_directory import service_token

PERIOD = {"period_start": "2026-01-01", "period_end": "2026-06-30"}
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]


def log_half_year(stack: RunningStack, site_id: str, seed: int) -> None:
    """Half a year of varied logs for one site (and a few records just outside the period): theme
    activities with and without their evidence at every size, casework, deliberations, volunteers,
    safety records with hazards, plans published on time or not, brand projects, recognitions."""
    rng = random.Random(seed)
    evidence_kinds = [[SIGN_IN, PHOTO], [SIGN_IN, PHOTO], [SIGN_IN], [PHOTO, NOTICE], []]
    for n in range(rng.randrange(20, 45)):
        starts = at(f"2026-0{rng.randrange(1, 7)}-{rng.randrange(1, 29):02d} {rng.randrange(7, 22):02d}:00")
        if n % 9 == 0:  # outside the period
            starts = at(rng.choice(["2025-12-31 23:59", "2026-07-01 00:00"]))
        evidence = rng.choice(evidence_kinds)
        kinds = {e["kind"] for e in evidence}
        insert(
            stack,
            "activities",
            site_id,
            category=rng.choice(["culture", "elderly", "youth"]),
            title=f"活动{n}",
            is_theme=rng.random() < 0.7,
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=2),
            location="活动室",
            attendance=rng.choice([10, 49, 50, 75, 100, 101, 140]),
            target_groups=[],
            partner_org_ids=[],
            evidence=evidence,
            has_sign_in_sheet="sign_in_sheet" in kinds,
            has_photo="photo" in kinds,
        )
    person = {"client_name": "张三", "client_phone": None, "client_id_number_masked": None}
    for n in range(rng.randrange(0, 4)):
        insert(
            stack,
            "cases",
            site_id,
            target_group="elderly",
            opened_on=day(f"2026-0{rng.randrange(1, 8)}-0{n + 1}"),
            closed_on=None,
            stage="intake",
            sessions=1,
            summary="",
            client_id_number_hash=None,
            **person,
        )
    for n in range(rng.randrange(0, 3)):
        insert(
            stack,
            "groups",
            site_id,
            name=f"小组{n}",
            target_group="elderly",
            opened_on=day(f"2026-0{rng.randrange(1, 7)}-1{n}"),
            closed_on=None,
            stage="plan",
            sessions=1,
            members=6,
            summary="",
        )
    for n in range(rng.randrange(1, 6)):
        insert(
            stack,
            "deliberations",
            site_id,
            held_on=day(f"2026-0{rng.randrange(1, 8)}-0{n + 1}"),
            topic=f"议题{n}",
            form="residents_council",
            participants=10,
            rules=rng.choice(["一人一票", " "]),
            resolution="增设车位",
            execution_status=rng.choice(["done", "done", "in_progress"]),
        )
    volunteers = [
        insert(
            stack,
            "volunteers",
            site_id,
            name="志愿者",
            phone=None,
            registered_on=day(rng.choice(["2025-05-01", "2026-03-01", "2026-07-05"])),
        )
        for _ in range(rng.randrange(15, 45))
    ]
    for n in range(rng.randrange(5, 20)):
        insert(
            stack,
            "volunteer_hours",
            site_id,
            volunteer_id=uuid.UUID(rng.choice(volunteers)),
            activity_id=None,
            date=day(f"2026-0{rng.randrange(1, 8)}-{n + 1:02d}"),
            hours=str(rng.choice([1, 2.5, 4, 8])),
        )
    for n in range(rng.randrange(0, 4)):
        insert(
            stack,
            "safety_trainings",
            site_id,
            held_on=day(f"2026-0{rng.randrange(1, 7)}-1{n}"),
            topic="消防培训",
            attendance=20,
            has_record=rng.random() < 0.7,
        )
    for month in range(1, 7):
        if rng.random() < 0.8:
            insert(
                stack,
                "safety_patrols",
                site_id,
                patrolled_on=day(f"2026-0{month}-15"),
                inspector="王安全",
                has_record=rng.random() < 0.8,
                hazards=[
                    {"description": "疏散通道堆物", "due_on": f"2026-0{month}-20", "rectified_on": None},
                    {
                        "description": "灭火器过期",
                        "due_on": f"2026-0{month}-25",
                        "rectified_on": f"2026-0{month}-27",
                    },
                ][: rng.randrange(0, 3)],
            )
        if rng.random() < 0.85:
            published = rng.choice([f"2026-0{month}-02 10:00", None] + [f"2025-12-{20 + month} 10:00"] * 3)
            first = day(f"2026-0{month}-01")
            insert(
                stack,
                "activity_plans",
                site_id,
                month=first,
                items=[],
                published_at=at(published) if published else None,
                published_late=published is not None and at(published).date() >= first,
            )
    for n in range(rng.randrange(0, 4)):
        insert(
            stack,
            "brand_projects",
            site_id,
            kind=rng.choice(["overall_brand", "service_project", "service_project"]),
            title=f"品牌{n}",
            started_on=day(f"2026-0{rng.randrange(1, 7)}-0{n + 1}"),
            implemented=rng.random() < 0.6,
            description="",
        )
    for n in range(rng.randrange(0, 5)):
        insert(
            stack,
            "recognitions",
            site_id,
            kind=rng.choice(["exchange", "media", "honour"]),
            level=rng.choice(["district", "city", "province", "national"]),
            date=day(f"2026-0{rng.randrange(1, 7)}-0{n + 1}"),
            title=f"表彰{n}",
            evidence=[],
        )


@pytest.fixture(scope="module")
def rich_round(gateway: httpx.Client, district_token: str, stack: RunningStack) -> dict[str, Any]:
    """A round of four sites with varied facts and logs, an evaluator assigned to two of them, a
    survey on one scorecard and an evaluator's C10 judgement, an override and an indicator that
    does not apply on another."""
    t = district_token
    sites = []
    for n in range(3):
        org = create_org(gateway, t, kind="community_social_org", registration="filed")
        site = create_site(gateway, t, "XX", opening_hours=HOURS, function_areas=AREAS[n:])
        staff = gateway.post(
            "/api/v1/registry/staff",
            json={
                "site_id": site["id"],
                "name": "王社工",
                "certificate": "intermediate",
                "active_from": "2020-01-01",
            },
            headers=bearer(t),
        ).json()
        gateway.post(
            f"/api/v1/registry/staff/{staff['id']}/trainings",
            json={"date": "2026-03-01", "topic": "继续教育", "hours": str(5 + 10 * n)},
            headers=bearer(t),
        )
        link = {"organization_id": org["id"], "relation": "incubated", "since": "2020-01-01"}
        gateway.post(f"/api/v1/registry/sites/{site['id']}/organizations", json=link, headers=bearer(t))
        log_half_year(stack, site["id"], seed=n)
        sites.append(site["id"])
    sites.append(operated_site(gateway, t, "CH")["site"]["id"])  # nothing logged at all
    made = create_round(gateway, t, sites, year=2026, **PERIOD)
    evaluator = create_evaluator(gateway, t)
    response = assign(gateway, t, made["id"], evaluator["user"]["id"], sites[:2])
    assert response.status_code == 201, response.text
    evaluator_token = login(gateway, evaluator["username"])["access_token"]
    cards = {c["site_id"]: c["id"] for c in scorecards_of(gateway, t, made["id"])}
    first, second = cards[sites[0]], cards[sites[1]]
    responses = [
        {"channel": channel, "ratings": {"space": 5, "functions": 4, "service": 3}}
        for channel in ("onsite_random", "phone")
        for _ in range(5)
    ]
    url = f"{EVAL}/scorecards"
    e = bearer(evaluator_token)
    for response in (
        gateway.post(f"{url}/{first}/survey-responses", json={"responses": responses}, headers=e),
        gateway.put(
            f"{url}/{first}/items/C10", json={"inputs": {"manual.C10.fire_rules": "fairly"}}, headers=e
        ),
        gateway.put(
            f"{url}/{second}/items/C16", json={"override_points": 1.5, "reason": "现场核查"}, headers=e
        ),
        gateway.put(
            f"{url}/{second}/items/C05", json={"applicable": False, "reason": "无儿童活动室"}, headers=e
        ),
    ):
        assert response.status_code in (200, 201), response.text
    return {"round": made, "sites": sites, "cards": cards, "evaluator_token": evaluator_token}


def snapshot(stack: RunningStack, round_id: str) -> dict[str, Any]:
    """Everything a compute writes, per scorecard (JSON decoded), and each card's version."""
    cards = stack.sql(
        "SELECT id, inputs, total, max_applicable, ratio, satisfaction_rate, version, computed_at "
        "FROM evaluation.scorecards WHERE round_id = $1",
        uuid.UUID(round_id),
    )
    items = stack.sql(
        "SELECT i.scorecard_id, i.code, i.auto_points, i.final_points, i.explanation, i.manual_inputs, "
        "i.updated_by FROM evaluation.scorecard_items i JOIN evaluation.scorecards c "
        "ON c.id = i.scorecard_id WHERE c.round_id = $1",
        uuid.UUID(round_id),
    )
    state: dict[str, Any] = {}
    for card in cards:
        state[str(card["id"])] = {
            "inputs": json.loads(card["inputs"]),
            "totals": (card["total"], card["max_applicable"], card["ratio"], card["satisfaction_rate"]),
            "version": card["version"],
            "computed": card["computed_at"] is not None,
            "items": {},
        }
    for item in items:
        card = state[str(item["scorecard_id"])]
        stored = json.loads(item["explanation"])
        card["items"][item["code"]] = (
            item["auto_points"],
            item["final_points"],
            stored,
            # As read: the records an explanation stored by reference names, from the card's inputs.
            explanation_in_full(stored, card["inputs"], json.loads(item["manual_inputs"])),
            item["updated_by"],
        )
    return state


def explanations(gateway: httpx.Client, token: str, card_id: str) -> dict[str, Any]:
    response = gateway.get(f"{EVAL}/scorecards/{card_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {item["code"]: item["explanation"] for item in response.json()["items"]}


def test_a_round_computed_at_once_equals_each_scorecard_computed_alone(
    gateway: httpx.Client, district_token: str, stack: RunningStack, rich_round: dict[str, Any]
) -> None:
    round_id = rich_round["round"]["id"]
    response = gateway.post(f"{EVAL}/rounds/{round_id}/compute", headers=bearer(district_token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["round_id"] == round_id and body["skipped"] == []
    assert {c["scorecard_id"] for c in body["computed"]} == set(rich_round["cards"].values())
    at_once = snapshot(stack, round_id)
    assert all(card["computed"] for card in at_once.values())
    # The totals answered are the ones stored.
    for entry in body["computed"]:
        stored = at_once[entry["scorecard_id"]]["totals"]
        assert (entry["total"], entry["max_applicable"], entry["ratio"]) == tuple(
            None if v is None else str(v) for v in stored[:3]
        )

    # Read back, every explanation names its records in full; computing a scorecard alone answers
    # with the same explanations.
    shown = {card_id: explanations(gateway, district_token, card_id) for card_id in at_once}
    for card_id in rich_round["cards"].values():
        alone = gateway.post(f"{EVAL}/scorecards/{card_id}/compute", headers=bearer(district_token))
        assert alone.status_code == 200, alone.text
        assert {item["code"]: item["explanation"] for item in alone.json()["items"]} == shown[card_id]
        assert explanations(gateway, district_token, card_id) == shown[card_id]
    one_by_one = snapshot(stack, round_id)

    for card_id, card in at_once.items():
        other = one_by_one[card_id]
        assert other["version"] == card["version"] + 1
        assert card["inputs"] == other["inputs"]
        assert card["totals"] == other["totals"]
        assert card["items"] == other["items"]
    # The data is varied enough for the comparison to mean something.
    totals = {card["totals"][0] for card in at_once.values()}
    assert len(totals) >= 3
    assert any(card["totals"][3] is not None for card in at_once.values())  # a survey rate
    explained = at_once[rich_round["cards"][rich_round["sites"][0]]]["items"]["C15"][3]
    assert explained["counted"] and explained["excluded"]  # theme activities counted and left out
    assert shown[rich_round["cards"][rich_round["sites"][0]]]["C15"] == explained

    # Each compute left its audit row and change-feed event, the round's like the single ones.
    for card_id in rich_round["cards"].values():
        audits = stack.sql(
            "SELECT before, after FROM evaluation.audit_log WHERE object_id = $1 AND action = "
            "'scorecard.compute' ORDER BY occurred_at",
            card_id,
        )
        assert len(audits) == 2
        assert json.loads(audits[0]["after"]) == json.loads(audits[1]["after"])
        assert (
            json.loads(audits[1]["before"])["final_points"] == json.loads(audits[0]["after"])["final_points"]
        )
        events = stack.sql(
            "SELECT data FROM evaluation.outbox WHERE object_id = $1 AND type = 'scorecard.computed'",
            card_id,
        )
        assert len(events) == 2 and events[0]["data"] == events[1]["data"]


def test_explanations_read_exactly_as_if_stored_in_full(
    gateway: httpx.Client, district_token: str, stack: RunningStack, rich_round: dict[str, Any]
) -> None:
    """Items store their explanation by reference; read back, it is the full explanation as the
    database would give it back (JSONB orders keys by length, then bytewise), byte for byte."""
    round_id = rich_round["round"]["id"]
    response = gateway.post(f"{EVAL}/rounds/{round_id}/compute", headers=bearer(district_token))
    assert response.status_code == 200, response.text
    for card_id in rich_round["cards"].values():
        stored = {
            row["code"]: json.loads(row["explanation"])
            for row in stack.sql(
                "SELECT code, explanation FROM evaluation.scorecard_items WHERE scorecard_id = $1",
                uuid.UUID(card_id),
            )
        }
        for code, shown in explanations(gateway, district_token, card_id).items():
            if "read" in stored[code]:  # auto and hybrid items
                assert list(shown) and sorted(stored[code]["read"]) == sorted(shown["inputs"])
            round_trip = stack.sql("SELECT CAST($1 AS jsonb)::text AS e", json.dumps(shown))[0]["e"]
            assert json.dumps(shown) == json.dumps(json.loads(round_trip))


def test_many_site_facts_and_metrics_equal_the_single_site_ones(
    gateway: httpx.Client, stack: RunningStack, rich_round: dict[str, Any]
) -> None:
    token = service_token(gateway)
    headers = bearer(token)
    query = {"site_ids": rich_round["sites"], "from": "2026-01-01", "to": "2026-06-30"}
    registry = stack.service_url("registry")
    activities = stack.service_url("activities")
    facts = httpx.post(f"{registry}/internal/evaluation-inputs", json=query, headers=headers)
    metrics = httpx.post(f"{activities}/internal/metrics", json=query, headers=headers)
    assert facts.status_code == 200 and metrics.status_code == 200, (facts.text, metrics.text)
    assert [f["site_id"] for f in facts.json()["items"]] == rich_round["sites"]
    assert [m["site_id"] for m in metrics.json()["items"]] == rich_round["sites"]
    period = {"from": "2026-01-01", "to": "2026-06-30"}
    for site_id, many_facts, many_metrics in zip(
        rich_round["sites"], facts.json()["items"], metrics.json()["items"], strict=True
    ):
        single_facts = httpx.get(
            f"{registry}/internal/sites/{site_id}/evaluation-inputs", params=period, headers=headers
        )
        assert many_facts == single_facts.json()
        single = httpx.get(f"{activities}/metrics", params={"site_id": site_id, **period}, headers=headers)
        expected = single.json()
        del expected["activities"]  # not read by the rubric: left out of the many-site document
        assert many_metrics == expected
        assert many_metrics["months"] == MONTHS
    # Unknown sites: no registry facts; metrics with nothing counted.
    stranger = str(uuid.uuid4())
    alone = {**query, "site_ids": [stranger]}
    assert httpx.post(f"{registry}/internal/evaluation-inputs", json=alone, headers=headers).json() == {
        "items": []
    }
    empty = httpx.post(f"{activities}/internal/metrics", json=alone, headers=headers).json()["items"][0]
    assert empty["site_id"] == stranger and empty["themes"]["with_evidence"] == {"count": 0, "ids": []}


def test_only_service_tokens_reach_the_many_site_endpoints(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    query = {"site_ids": [str(uuid.uuid4())], "from": "2026-01-01", "to": "2026-06-30"}
    for service, path in (("registry", "/internal/evaluation-inputs"), ("activities", "/internal/metrics")):
        url = stack.service_url(service) + path
        assert httpx.post(url, json=query).status_code == 401
        assert httpx.post(url, json=query, headers=bearer(district_token)).status_code == 403
        bad = {**query, "to": "2025-12-31"}
        refused = httpx.post(url, json=bad, headers=bearer(service_token(gateway)))
        assert refused.status_code == 422 and refused.json()["code"] == "validation_failed"
        # Never routed by the gateway.
        assert (
            gateway.post(f"/api/v1/{service}{path}", json=query, headers=bearer(district_token)).status_code
            == 404
        )


def test_states_roles_and_scope(
    gateway: httpx.Client, district_token: str, stack: RunningStack, rich_round: dict[str, Any]
) -> None:
    round_id = rich_round["round"]["id"]
    url = f"{EVAL}/rounds/{round_id}/compute"
    cards = rich_round["cards"]
    sites = rich_round["sites"]
    evaluator = rich_round["evaluator_token"]
    # The evaluator computes the scorecards of its assignments only.
    versions = {
        str(r["id"]): r["version"]
        for r in stack.sql(
            "SELECT id, version FROM evaluation.scorecards WHERE round_id = $1", uuid.UUID(round_id)
        )
    }
    response = gateway.post(url, headers=bearer(evaluator))
    assert response.status_code == 200, response.text
    assert {c["site_id"] for c in response.json()["computed"]} == set(sites[:2])
    after = {
        str(r["id"]): r["version"]
        for r in stack.sql(
            "SELECT id, version FROM evaluation.scorecards WHERE round_id = $1", uuid.UUID(round_id)
        )
    }
    assert {c for c in after if after[c] != versions[c]} == {cards[sites[0]], cards[sites[1]]}
    # A submitted scorecard is left as it is and listed (submitted as the API submits: dated).
    submitted = cards[sites[3]]
    stack.sql(
        "UPDATE evaluation.scorecards SET state = 'submitted', submitted_at = now() WHERE id = $1",
        uuid.UUID(submitted),
    )
    try:
        response = gateway.post(url, headers=bearer(district_token))
        assert response.status_code == 200, response.text
        assert response.json()["skipped"] == [
            {"scorecard_id": submitted, "site_id": sites[3], "state": "submitted"}
        ]
        assert submitted not in {c["scorecard_id"] for c in response.json()["computed"]}
    finally:
        stack.sql(
            "UPDATE evaluation.scorecards SET state = 'draft', submitted_at = NULL WHERE id = $1",
            uuid.UUID(submitted),
        )
    # Other roles, another evaluator, unknown rounds.
    operator = user_token(
        gateway, district_token, "operator", organization_id=create_org(gateway, district_token)["id"]
    )
    assert gateway.post(url, headers=bearer(operator)).status_code == 403
    assert gateway.post(url, headers=bearer(integration_token(gateway, district_token))).status_code == 403
    stranger = create_evaluator(gateway, district_token)
    stranger_token = login(gateway, stranger["username"])["access_token"]
    missing = gateway.post(url, headers=bearer(stranger_token))
    assert missing.status_code == 404 and missing.json()["code"] == "round_not_found"
    assert (
        gateway.post(f"{EVAL}/rounds/{uuid.uuid4()}/compute", headers=bearer(district_token)).status_code
        == 404
    )


def test_only_an_open_round_is_computed(gateway: httpx.Client, district_token: str) -> None:
    site = operated_site(gateway, district_token)["site"]["id"]
    made = create_round(gateway, district_token, [site], year=2026, **PERIOD)
    closed = gateway.post(f"{EVAL}/rounds/{made['id']}/close", headers=bearer(district_token))
    assert closed.status_code == 200, closed.text
    response = gateway.post(f"{EVAL}/rounds/{made['id']}/compute", headers=bearer(district_token))
    assert response.status_code == 409 and response.json()["code"] == "round_not_open"
