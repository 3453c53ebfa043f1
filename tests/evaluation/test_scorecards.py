"""Scorecards: the registry's evaluation facts, compute with explanations, the evaluator's values and
overrides, findings, and who sees which scorecard."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack, bearer, login
from tests.evaluation.test_rounds import (
    EVAL,
    assign,
    create_evaluator,
    create_round,
    recent_period,
    scorecards_of,
)
from tests.registry.factories import (
    create_contract,
    create_org,
    create_site,
    error_fields,
    integration_token,
    operated_site,
    user_token,
)
from tests.registry.test_directory import service_token

HOURS = {day: {"open": "08:00", "close": "20:30"} for day in ("mon", "tue", "wed", "thu", "fri", "sat")}
AREAS = [
    {"kind": "elderly_center", "slip_rating": "r10", "warm_walls": True},
    {"kind": "children_room", "soft_floor": True},
    {"kind": "public_activity_room"},
    {"kind": "deliberation_hall", "wall_wood_or_marble": False, "floor_material": "wood"},
    {"kind": "one_stop_office", "tricolor_sign": True, "decoration_colors": 5, "floor_material": "tile"},
]


def _post(gateway: httpx.Client, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = gateway.post(path, json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def rich_site(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """A site with known registry facts: areas, hours, staff with trainings, linked organisations."""
    start, end = recent_period()
    org = create_org(gateway, district_token)
    site = create_site(gateway, district_token, "XX", opening_hours=HOURS, function_areas=AREAS)
    create_contract(gateway, district_token, site["id"], org["id"])
    operator = user_token(gateway, district_token, "operator", organization_id=org["id"])
    t = district_token

    def add_staff(name: str, certificate: str = "none", **dates: str) -> dict[str, Any]:
        body = {"site_id": site["id"], "name": name, "certificate": certificate, "active_from": "2020-01-01"}
        return _post(gateway, t, "/api/v1/registry/staff", {**body, **dates})

    def train(member: dict[str, Any], day: dt.date, hours: str) -> dict[str, Any]:
        body = {"date": day.isoformat(), "topic": "继续教育", "hours": hours}
        return _post(gateway, t, f"/api/v1/registry/staff/{member['id']}/trainings", body)

    staff = {
        "senior": add_staff("王社工", "intermediate"),
        "junior": add_staff("李助理", "junior"),
        "none": add_staff("赵干事"),
        # Left before the period began: not counted.
        "gone": add_staff("钱离职", "senior", active_until=(start - dt.timedelta(days=1)).isoformat()),
    }
    trainings = [
        train(staff["senior"], end, "20"),
        train(staff["junior"], end, "10"),
        train(staff["none"], start - dt.timedelta(days=3), "8"),  # before the period: not counted
    ]
    introduced = create_org(gateway, t)
    ended = create_org(gateway, t)
    incubated = create_org(gateway, t, kind="community_social_org", registration="filed")
    not_community = create_org(gateway, t, kind="social_org")
    links = [
        (introduced, "introduced", None),
        (ended, "introduced", (start - dt.timedelta(days=1)).isoformat()),
        (incubated, "incubated", None),
        (not_community, "incubated", None),
    ]
    for linked, relation, until in links:
        body = {"organization_id": linked["id"], "relation": relation, "since": "2020-01-01", "until": until}
        _post(gateway, t, f"/api/v1/registry/sites/{site['id']}/organizations", body)
    return {
        "site": site,
        "organization": org,
        "operator_token": operator,
        "staff": staff,
        "trainings": trainings,
        "orgs": {
            "introduced": introduced,
            "ended": ended,
            "incubated": incubated,
            "not_community": not_community,
        },
    }


@pytest.fixture(scope="module")
def setting(gateway: httpx.Client, district_token: str, rich_site: dict[str, Any]) -> dict[str, Any]:
    """A round over the rich site and a plain one, an evaluator assigned to both, another to none."""
    plain = operated_site(gateway, district_token, "CH")
    made = create_round(gateway, district_token, [rich_site["site"]["id"], plain["site"]["id"]])
    evaluator = create_evaluator(gateway, district_token)
    response = assign(
        gateway,
        district_token,
        made["id"],
        evaluator["user"]["id"],
        [rich_site["site"]["id"], plain["site"]["id"]],
    )
    assert response.status_code == 201, response.text
    cards = {c["site_id"]: c for c in scorecards_of(gateway, district_token, made["id"])}
    other = create_evaluator(gateway, district_token)
    return {
        "round": made,
        "plain": plain,
        "rich_card": cards[rich_site["site"]["id"]],
        "plain_card": cards[plain["site"]["id"]],
        "evaluator": login(gateway, evaluator["username"])["access_token"],
        "other_evaluator": login(gateway, other["username"])["access_token"],
    }


# ---- the registry's evaluation facts -------------------------------------------------------------


def test_registry_evaluation_inputs(
    gateway: httpx.Client, rich_site: dict[str, Any], stack: RunningStack
) -> None:
    start, end = recent_period()
    url = f"{stack.service_url('registry')}/internal/sites/{rich_site['site']['id']}/evaluation-inputs"
    params = {"from": start.isoformat(), "to": end.isoformat()}
    response = httpx.get(url, params=params, headers=bearer(service_token(gateway)))
    assert response.status_code == 200, response.text
    facts = response.json()
    assert facts["door_sign"] is True and facts["from"] == start.isoformat()
    assert facts["hours_per_day"] == "12.5" and facts["days_per_week"] == 6
    assert facts["areas"]["elderly_center"] == {"present": True, "slip_above_r9": True, "warm_walls": True}
    assert facts["areas"]["children_room"] == {"present": True, "soft_floor": True, "science_art": False}
    assert facts["areas"]["reading_room"] == {"present": False}
    assert facts["areas"]["deliberation_hall"] == {
        "present": True,
        "walls_not_wood_or_marble": True,
        "tile_floor": False,
    }
    assert facts["areas"]["one_stop_office"]["few_colors"] is False
    staff, s = facts["staff"], rich_site["staff"]
    assert sorted(staff["active_ids"]) == sorted([s["senior"]["id"], s["junior"]["id"], s["none"]["id"]])
    assert staff["intermediate_or_senior_ids"] == [s["senior"]["id"]]
    assert staff["junior_ids"] == [s["junior"]["id"]] and staff["uncertified_ids"] == [s["none"]["id"]]
    assert sorted(staff["training_ids"]) == sorted(t["id"] for t in rich_site["trainings"][:2])
    assert Decimal(staff["training_hours"]) == 30 and Decimal(staff["avg_training_hours"]) == Decimal("10")
    orgs, o = facts["organizations"], rich_site["orgs"]
    assert orgs["introduced_ids"] == [o["introduced"]["id"]]
    assert orgs["incubated_ids"] == [o["incubated"]["id"]]
    assert [e["id"] for e in orgs["incubated_excluded"]] == [o["not_community"]["id"]]
    # Service tokens only; never through the gateway; a period ending before it starts → 422 `to`.
    assert (
        httpx.get(url, params=params, headers=bearer(login(gateway, "district")["access_token"])).status_code
        == 403
    )
    via_gateway = gateway.get(
        f"/api/v1/registry/internal/sites/{rich_site['site']['id']}/evaluation-inputs",
        params=params,
        headers=bearer(login(gateway, "district")["access_token"]),
    )
    assert via_gateway.status_code == 404
    backwards = httpx.get(
        url, params={"from": end.isoformat(), "to": start.isoformat()}, headers=bearer(service_token(gateway))
    )
    assert error_fields(backwards) == {"to"}
    unknown = httpx.get(
        f"{stack.service_url('registry')}/internal/sites/{uuid.uuid4()}/evaluation-inputs",
        params=params,
        headers=bearer(service_token(gateway)),
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "site_not_found"


# ---- compute -------------------------------------------------------------------------------------


def _item(card: dict[str, Any], code: str) -> dict[str, Any]:
    return next(i for i in card["items"] if i["code"] == code)


def test_compute_fills_auto_and_hybrid_items_with_explanations(
    gateway: httpx.Client, rich_site: dict[str, Any], setting: dict[str, Any], stack: RunningStack
) -> None:
    url = f"{EVAL}/scorecards/{setting['rich_card']['id']}"
    response = gateway.post(f"{url}/compute", headers=bearer(setting["evaluator"]))
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["computed_at"] and response.headers["etag"]
    # C02 door sign; C05 elderly 2+0.5+0.5, children 2+0.5, activity room 2; C06 2 + 0.5 (walls), wood floor
    # 0; C07 sign 0.5 + tile 0.5 (5 colours, desk unknown).
    expected = {"C02": "2.00", "C05": "7.50", "C06": "2.50", "C07": "1.00"}
    assert {code: _item(card, code)["auto_points"] for code in expected} == expected
    # C11: 1 intermediate + 0.5 junior; 30 h over 3 active staff = 10 h → 2 − 0.5 × 1 = 1.5.
    c11 = _item(card, "C11")
    assert c11["auto_points"] == "3.00" and c11["final_points"] == "3.00"
    staff = rich_site["staff"]
    assert c11["explanation"]["counted"]["staff.intermediate_or_senior"] == [staff["senior"]["id"]]
    assert c11["explanation"]["counted"]["staff.junior"] == [staff["junior"]["id"]]
    assert c11["explanation"]["excluded"] == [
        {
            "input": "staff.intermediate_or_senior",
            "id": staff["none"]["id"],
            "why": "no social-work certificate",
        }
    ]
    assert c11["explanation"]["rule"][0].startswith("staff.intermediate_or_senior = 1")
    # C12: one introduced organisation + one incubated community organisation; the other excluded.
    c12 = _item(card, "C12")
    assert c12["auto_points"] == "2.00"
    assert c12["explanation"]["counted"]["orgs.introduced"] == [rich_site["orgs"]["introduced"]["id"]]
    assert c12["explanation"]["excluded"][0]["id"] == rich_site["orgs"]["not_community"]["id"]
    # C14: 12.5 h on 6 days → 1; no monthly plans published on time → 0.
    assert _item(card, "C14")["auto_points"] == "1.00"
    # C18 without survey responses and C10 before the evaluator's judgement: empty, and they say why.
    c18 = _item(card, "C18")
    assert c18["auto_points"] is None and "no survey responses" in c18["explanation"]["message"]
    assert _item(card, "C10")["auto_points"] is None
    assert "manual.C10.fire_rules" in _item(card, "C10")["explanation"]["message"]
    # Manual indicators stay empty.
    assert all(i["final_points"] is None for i in card["items"] if i["source"] == "manual")
    computed = sum(Decimal(i["final_points"]) for i in card["items"] if i["final_points"] is not None)
    assert Decimal(card["total"]) == computed and Decimal(card["max_applicable"]) == 100
    audit = stack.sql(
        "SELECT actor_role FROM evaluation.audit_log WHERE action = 'scorecard.compute' AND object_id = $1",
        card["id"],
    )
    assert [a["actor_role"] for a in audit] == ["evaluator"]


def test_who_may_compute(
    gateway: httpx.Client, district_token: str, street_token: str, rich_site: dict, setting: dict
) -> None:
    url = f"{EVAL}/scorecards/{setting['plain_card']['id']}/compute"
    assert gateway.post(url, headers=bearer(district_token)).status_code == 200
    for token in (street_token, setting["plain"]["operator_token"]):
        assert gateway.post(url, headers=bearer(token)).status_code == 403
    missing = gateway.post(
        f"{EVAL}/scorecards/{uuid.uuid4()}/compute", headers=bearer(setting["other_evaluator"])
    )
    other = gateway.post(url, headers=bearer(setting["other_evaluator"]))
    assert other.status_code == 404 and other.json() == {
        **missing.json(),
        "request_id": other.json()["request_id"],
    }


# ---- items ---------------------------------------------------------------------------------------


def _put(gateway: httpx.Client, token: str, card_id: str, code: str, body: dict[str, Any]) -> httpx.Response:
    return gateway.put(f"{EVAL}/scorecards/{card_id}/items/{code}", json=body, headers=bearer(token))


def test_manual_values_are_checked_and_scored(gateway: httpx.Client, setting: dict[str, Any]) -> None:
    card_id, token = setting["plain_card"]["id"], setting["evaluator"]
    done = _put(
        gateway,
        token,
        card_id,
        "C04",
        {"inputs": {"manual.C04.waste_sorting": True, "manual.C04.issues_found": 3}},
    )
    assert done.status_code == 200, done.text
    c04 = _item(done.json(), "C04")
    assert c04["manual_points"] == "2.50" and c04["final_points"] == "2.50"
    assert c04["manual_inputs"] == {"manual.C04.waste_sorting": True, "manual.C04.issues_found": 3}
    assert "2 − 0.5 × manual.C04.issues_found (3) = 0.5 → 0.5" in c04["explanation"]["rule"]
    bad = [
        (
            {"manual.C04.waste_sorting": True, "manual.C04.issues_found": -1},
            {"inputs.manual.C04.issues_found"},
        ),
        (
            {"manual.C04.waste_sorting": "yes", "manual.C04.issues_found": 1},
            {"inputs.manual.C04.waste_sorting"},
        ),
        ({"manual.C04.waste_sorting": True}, {"inputs.manual.C04.issues_found"}),
        (
            {"manual.C04.waste_sorting": True, "manual.C04.issues_found": 1, "manual.C04.shiny": True},
            {"inputs.manual.C04.shiny"},
        ),
    ]
    for inputs, fields in bad:
        assert error_fields(_put(gateway, token, card_id, "C04", {"inputs": inputs})) == fields
    level = _put(
        gateway,
        token,
        card_id,
        "C08",
        {"inputs": {"manual.C08.rules_exist": True, "manual.C08.implementation": "some"}},
    )
    assert error_fields(level) == {"inputs.manual.C08.implementation"}
    partly = _put(
        gateway,
        token,
        card_id,
        "C08",
        {"inputs": {"manual.C08.rules_exist": True, "manual.C08.implementation": "partly"}},
    )
    assert _item(partly.json(), "C08")["final_points"] == "1.00"  # Table C.1's oddity, literally
    # A manual indicator takes no override; an auto one no inputs.
    assert error_fields(_put(gateway, token, card_id, "C04", {"override_points": 1, "reason": "x"})) == {
        "override_points"
    }
    assert error_fields(_put(gateway, token, card_id, "C02", {"inputs": {}})) == {"inputs"}
    assert error_fields(_put(gateway, token, card_id, "C02", {})) == {"body"}
    missing = _put(gateway, token, card_id, "C99", {"inputs": {}})
    assert missing.status_code == 404 and missing.json()["code"] == "item_not_found"
    assert error_fields(_put(gateway, token, card_id, "X1", {"inputs": {}})) == {"code"}


def test_override_needs_a_reason_and_keeps_both_values(
    gateway: httpx.Client, district_token: str, setting: dict[str, Any], stack: RunningStack
) -> None:
    card_id, token = setting["rich_card"]["id"], setting["evaluator"]
    no_reason = _put(gateway, token, card_id, "C02", {"override_points": 1})
    assert error_fields(no_reason) == {"reason"}
    blank = _put(gateway, token, card_id, "C02", {"override_points": 1, "reason": "   "})
    assert error_fields(blank) == {"reason"}
    for points in ("0.75", "2.5", "-0.5"):
        assert error_fields(
            _put(gateway, token, card_id, "C02", {"override_points": points, "reason": "x"})
        ) == {"override_points"}
    done = _put(gateway, token, card_id, "C02", {"override_points": "1.5", "reason": "门头标识被树木遮挡"})
    assert done.status_code == 200, done.text
    c02 = _item(done.json(), "C02")
    assert (c02["auto_points"], c02["override_points"], c02["final_points"]) == ("2.00", "1.50", "1.50")
    assert c02["override_reason"] == "门头标识被树木遮挡"
    audit = stack.sql(
        "SELECT note, after FROM evaluation.audit_log WHERE action = 'scorecard.item' AND object_id = $1 "
        "ORDER BY occurred_at DESC LIMIT 1",
        card_id,
    )
    assert audit[0]["note"] == "门头标识被树木遮挡"
    cleared = _put(gateway, token, card_id, "C02", {"override_points": None})
    c02 = _item(cleared.json(), "C02")
    assert (c02["override_points"], c02["final_points"], c02["override_reason"]) == (None, "2.00", None)
    # The hybrid C10 takes the evaluator's fire-rules level and computes the rest.
    c10 = _put(gateway, token, card_id, "C10", {"inputs": {"manual.C10.fire_rules": "fairly"}})
    item = _item(c10.json(), "C10")
    assert item["auto_points"] == "1.00"  # 0.5 + no training 0 + patrols not regular 0.5
    assert item["explanation"]["inputs"]["manual.C10.fire_rules"]["source"] == "evaluator"
    # Only the assigned evaluator writes items.
    assert (
        _put(gateway, district_token, card_id, "C02", {"override_points": 1, "reason": "x"}).status_code
        == 403
    )
    other = _put(gateway, setting["other_evaluator"], card_id, "C02", {"override_points": 1, "reason": "x"})
    assert other.status_code == 404 and other.json()["code"] == "scorecard_not_found"


# ---- findings ------------------------------------------------------------------------------------


def test_findings(gateway: httpx.Client, district_token: str, setting: dict[str, Any]) -> None:
    card_id, token = setting["plain_card"]["id"], setting["evaluator"]
    url = f"{EVAL}/scorecards/{card_id}/findings"
    body = {"indicator_code": "C04", "text": "活动室角落有积灰", "severity": "minor"}
    created = gateway.post(url, json=body, headers=bearer(token))
    assert created.status_code == 201, created.text
    finding = created.json()
    assert (
        finding["indicator_code"] == "C04"
        and finding["code"] is None
        and finding["site_id"] == setting["plain"]["site"]["id"]
    )
    card = gateway.get(f"{EVAL}/scorecards/{card_id}", headers=bearer(token)).json()
    assert finding["id"] in [f["id"] for f in card["findings"]]
    assert error_fields(gateway.post(url, json={**body, "indicator_code": "C22"}, headers=bearer(token))) == {
        "indicator_code"
    }
    assert error_fields(gateway.post(url, json={**body, "severity": "awful"}, headers=bearer(token))) == {
        "severity"
    }
    assert error_fields(gateway.post(url, json={**body, "text": ""}, headers=bearer(token))) == {"text"}
    assert gateway.post(url, json=body, headers=bearer(district_token)).status_code == 403
    assert gateway.post(url, json=body, headers=bearer(setting["other_evaluator"])).status_code == 404


# ---- visibility ----------------------------------------------------------------------------------


def test_operators_and_streets_wait_for_publication(
    gateway: httpx.Client, district_token: str, street_token: str, rich_site: dict[str, Any], setting: dict
) -> None:
    url = f"{EVAL}/scorecards/{setting['rich_card']['id']}"
    missing = gateway.get(f"{EVAL}/scorecards/{uuid.uuid4()}", headers=bearer(street_token))
    for token in (rich_site["operator_token"], street_token, setting["other_evaluator"]):
        response = gateway.get(url, headers=bearer(token))
        assert response.status_code == 404
        assert (
            response.json()["detail"] == missing.json()["detail"]
            and response.json()["code"] == "scorecard_not_found"
        )
        listed = gateway.get(
            f"{EVAL}/scorecards", params={"round_id": setting["round"]["id"]}, headers=bearer(token)
        )
        assert listed.status_code == 200 and listed.json()["items"] == []
    for token in (district_token, integration_token(gateway, district_token), setting["evaluator"]):
        assert gateway.get(url, headers=bearer(token)).status_code == 200
    filtered = gateway.get(
        f"{EVAL}/scorecards",
        params={"site_id": rich_site["site"]["id"], "state": "draft"},
        headers=bearer(setting["evaluator"]),
    ).json()
    assert [c["id"] for c in filtered["items"]] == [setting["rich_card"]["id"]]
    assert error_fields(
        gateway.get(f"{EVAL}/scorecards", params={"state": "lost"}, headers=bearer(district_token))
    ) == {"state"}


def test_an_indicator_that_does_not_apply_leaves_the_maximum(
    gateway: httpx.Client, setting: dict[str, Any], stack: RunningStack
) -> None:
    """Annex A: ratio = total / max of the applicable indicators."""
    card_id, token = setting["rich_card"]["id"], setting["evaluator"]
    before = gateway.get(f"/api/v1/evaluation/scorecards/{card_id}", headers=bearer(token)).json()
    assert error_fields(_put(gateway, token, card_id, "C21", {"applicable": False})) == {"reason"}
    assert error_fields(
        _put(gateway, token, card_id, "C21", {"applicable": False, "override_points": 1, "reason": "x"})
    ) == {"body"}
    skipped = _put(
        gateway, token, card_id, "C21", {"applicable": False, "reason": "新建站点,尚无表彰评选周期"}
    )
    assert skipped.status_code == 200, skipped.text
    card = skipped.json()
    assert _item(card, "C21")["applicable"] is False
    assert Decimal(card["max_applicable"]) == Decimal(before["max_applicable"] or 100) - 3
    note = stack.sql(
        "SELECT note FROM evaluation.audit_log WHERE action = 'scorecard.item' AND object_id = $1 "
        "ORDER BY occurred_at DESC LIMIT 1",
        card_id,
    )
    assert note[0]["note"] == "新建站点,尚无表彰评选周期"
    back = _put(gateway, token, card_id, "C21", {"applicable": True})
    assert _item(back.json(), "C21")["applicable"] is True
    assert Decimal(back.json()["max_applicable"]) == Decimal(before["max_applicable"] or 100)
