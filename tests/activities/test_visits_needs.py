"""`/api/v1/activities/visits` (6.1.3), `/needs` (6.1.2) and `/referrals` (5.3)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from tests.clock import SHANGHAI, Day, Moment, day, moment, resolve
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import create_org, error_fields, integration_token, operated_site, user_token

VISITS = "/api/v1/activities/visits"
NEEDS = "/api/v1/activities/needs"
REFERRALS = "/api/v1/activities/referrals"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


VISITOR_ID = id_number("33010819881111222")


def _day(days_ago: int) -> str:
    return day(-days_ago)


def _at(hours_ago: float) -> str:
    return moment(hours=-hours_ago)


def _visit(site_id: str, **overrides: object) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "visited_at": _at(3),
        "headcount": 3,
        "purpose": "咨询居家养老服务",
        "needs": "希望上门助浴",
        "visitor_name": "陈阿姨",
        "visitor_phone": "13755556666",
        "visitor_id_number": VISITOR_ID,
        **overrides,
    }


def _need(site_id: str, **overrides: object) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "recorded_on": _day(10),
        "category": "elderly",
        "description": "独居老人需要助餐服务",
        "resident_name": "周建国",
        "resident_phone": "13811112222",
        **overrides,
    }


def _without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


def _etag(gateway: httpx.Client, url: str, token: str) -> dict[str, str]:
    return {**bearer(token), "If-Match": gateway.get(url, headers=bearer(token)).headers["etag"]}


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def others(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    other = operated_site(gateway, district_token, "CH")
    return {
        "site": other["site"],
        "operator": other["operator_token"],
        "street": login(gateway, "changhe")["access_token"],
        "integration": integration_token(gateway, district_token),
        "evaluator": user_token(
            gateway, district_token, "evaluator", organization_id=create_org(gateway, district_token)["id"]
        ),
    }


# ---- visits ----------------------------------------------------------------------------------------


def test_visit_lifecycle(gateway: httpx.Client, site: dict[str, Any], stack: RunningStack) -> None:
    token = site["operator_token"]
    created = gateway.post(VISITS, json=_visit(site["site"]["id"]), headers=bearer(token))
    assert created.status_code == 201, created.text
    item = created.json()
    assert (
        item["headcount"] == 3 and item["purpose"] == "咨询居家养老服务" and item["needs"] == "希望上门助浴"
    )
    assert (
        item["visitor_name"] == "陈阿姨"
        and item["visitor_id_number_masked"] == "3301**********" + VISITOR_ID[-4:]
    )
    assert VISITOR_ID not in created.text
    url = f"{VISITS}/{item['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.json() == item

    # `from`/`to` are business dates of `visited_at` (Asia/Shanghai).
    visited_day = dt.datetime.fromisoformat(item["visited_at"]).astimezone(SHANGHAI).date()
    same_day = gateway.get(
        VISITS,
        params={
            "site_id": site["site"]["id"],
            "from": visited_day.isoformat(),
            "to": visited_day.isoformat(),
        },
        headers=bearer(token),
    )
    assert item["id"] in [v["id"] for v in same_day.json()["items"]]
    later = (visited_day + dt.timedelta(days=1)).isoformat()
    assert (
        gateway.get(
            VISITS, params={"site_id": site["site"]["id"], "from": later}, headers=bearer(token)
        ).json()["items"]
        == []
    )

    patched = gateway.patch(
        url, json={"headcount": 5, "visitor_name": None}, headers=_etag(gateway, url, token)
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["headcount"] == 5 and patched.json()["visitor_name"] is None
    assert patched.json()["visitor_phone"] == "13755556666"
    assert (
        gateway.patch(
            url, json={"headcount": 6}, headers={**bearer(token), "If-Match": got.headers["etag"]}
        ).status_code
        == 412
    )
    assert gateway.delete(url, headers=_etag(gateway, url, token)).status_code == 204
    assert gateway.get(url, headers=bearer(token)).status_code == 404
    actions = [
        a["action"]
        for a in stack.sql(
            "SELECT action FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at", item["id"]
        )
    ]
    assert actions.count("visit.read_personal") == 3 and actions[0] == "visit.create"
    assert actions[-2:] == ["visit.read_personal", "visit.delete"]


def test_visit_without_visitor_identity(
    gateway: httpx.Client, site: dict[str, Any], stack: RunningStack
) -> None:
    token = site["operator_token"]
    body = {"site_id": site["site"]["id"], "visited_at": _at(1), "headcount": 12, "purpose": "参观"}
    item = gateway.post(VISITS, json=body, headers=bearer(token)).json()
    assert (item["visitor_name"], item["visitor_phone"], item["visitor_id_number_masked"]) == (
        None,
        None,
        None,
    )
    assert gateway.get(f"{VISITS}/{item['id']}", headers=bearer(token)).status_code == 200
    # Nothing personal was revealed, so nothing is audited as such.
    assert (
        stack.sql(
            "SELECT id FROM activities.audit_log WHERE object_id = $1 AND action = 'visit.read_personal'",
            item["id"],
        )
        == []
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"headcount": 0}, "headcount"),
        ({"visited_at": Moment(days=1)}, "visited_at"),
        ({"visited_at": "2026-01-05T10:00:00"}, "visited_at"),
        ({"purpose": "x" * 201}, "purpose"),
        ({"visitor_phone": "13x"}, "visitor_phone"),
        ({"visitor_id_number": VISITOR_ID[:-1]}, "visitor_id_number"),
        ({"visited_at": None}, "visited_at"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_visit_bad_input_names_the_field(
    gateway: httpx.Client, site: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    response = gateway.post(
        VISITS, json=_visit(site["site"]["id"], **resolve(overrides)), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_visit_update_refuses_bad_values(gateway: httpx.Client, site: dict[str, Any]) -> None:
    token = site["operator_token"]
    item = gateway.post(VISITS, json=_visit(site["site"]["id"]), headers=bearer(token)).json()
    url = f"{VISITS}/{item['id']}"
    headers = _etag(gateway, url, token)
    assert error_fields(gateway.patch(url, json={"headcount": 0}, headers=headers)) == {"headcount"}
    assert error_fields(gateway.patch(url, json={"headcount": None}, headers=headers)) == {"headcount"}
    future = moment(hours=2)
    assert error_fields(gateway.patch(url, json={"visited_at": future}, headers=headers)) == {"visited_at"}


def test_visit_scope(
    gateway: httpx.Client, district_token: str, site: dict[str, Any], others: dict[str, Any]
) -> None:
    item = gateway.post(
        VISITS, json=_visit(site["site"]["id"]), headers=bearer(site["operator_token"])
    ).json()
    url = f"{VISITS}/{item['id']}"
    for role in ("operator", "street", "evaluator"):
        hidden = gateway.get(url, headers=bearer(others[role]))
        missing = gateway.get(f"{VISITS}/{uuid.uuid4()}", headers=bearer(others[role]))
        assert hidden.status_code == missing.status_code == 404
        assert _without_request_id(hidden) == _without_request_id(missing)
        assert hidden.json()["code"] == "visit_not_found"
        listed = gateway.get(VISITS, params={"site_id": site["site"]["id"]}, headers=bearer(others[role]))
        assert listed.json()["items"] == []
    for role in ("street", "integration", "evaluator"):
        assert (
            gateway.post(VISITS, json=_visit(site["site"]["id"]), headers=bearer(others[role])).status_code
            == 403
        )
        assert gateway.patch(url, json={"headcount": 2}, headers=bearer(others[role])).status_code == 403
    foreign = gateway.post(VISITS, json=_visit(site["site"]["id"]), headers=bearer(others["operator"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "site_not_found"
    deleted = gateway.delete(url, headers={**bearer(others["operator"]), "If-Match": "*"})
    assert deleted.status_code == 404 and deleted.json()["code"] == "visit_not_found"
    # The site's street reads it, masked.
    street = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    got = gateway.get(url, headers=bearer(street)).json()
    assert got["visitor_name"] == "陈**" and got["visitor_phone"] == "137****6666"


# ---- needs -----------------------------------------------------------------------------------------


def test_need_lifecycle(gateway: httpx.Client, site: dict[str, Any], stack: RunningStack) -> None:
    token = site["operator_token"]
    created = gateway.post(NEEDS, json=_need(site["site"]["id"]), headers=bearer(token))
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["category"] == "elderly" and item["recorded_on"] == _day(10)
    assert item["resident_name"] == "周建国" and item["resident_id_number_masked"] is None
    url = f"{NEEDS}/{item['id']}"
    by_category = gateway.get(
        NEEDS, params={"site_id": site["site"]["id"], "category": "elderly"}, headers=bearer(token)
    )
    assert item["id"] in [n["id"] for n in by_category.json()["items"]]
    assert all(n["resident_name"] in ("周**", None) for n in by_category.json()["items"])
    other_category = gateway.get(
        NEEDS, params={"site_id": site["site"]["id"], "category": "youth"}, headers=bearer(token)
    )
    assert item["id"] not in [n["id"] for n in other_category.json()["items"]]
    patched = gateway.patch(
        url, json={"category": None, "description": "助餐+助浴"}, headers=_etag(gateway, url, token)
    )
    assert patched.status_code == 200 and patched.json()["category"] is None
    assert patched.json()["description"] == "助餐+助浴"
    assert gateway.delete(url, headers=_etag(gateway, url, token)).status_code == 204
    actions = {
        a["action"]
        for a in stack.sql("SELECT action FROM activities.audit_log WHERE object_id = $1", item["id"])
    }
    assert actions == {"need.create", "need.read_personal", "need.update", "need.delete"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"recorded_on": Day(+1)}, "recorded_on"),
        ({"category": "pets"}, "category"),
        ({"description": ""}, "description"),
        ({"resident_id_number": "330108198811112229X"}, "resident_id_number"),
        ({"resident_id_number_masked": "3301**********1234"}, "resident_id_number_masked"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_need_bad_input_names_the_field(
    gateway: httpx.Client, site: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    response = gateway.post(
        NEEDS, json=_need(site["site"]["id"], **resolve(overrides)), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_need_scope(gateway: httpx.Client, site: dict[str, Any], others: dict[str, Any]) -> None:
    item = gateway.post(NEEDS, json=_need(site["site"]["id"]), headers=bearer(site["operator_token"])).json()
    url = f"{NEEDS}/{item['id']}"
    for role in ("operator", "street", "evaluator"):
        hidden = gateway.get(url, headers=bearer(others[role]))
        missing = gateway.get(f"{NEEDS}/{uuid.uuid4()}", headers=bearer(others[role]))
        assert hidden.status_code == missing.status_code == 404
        assert _without_request_id(hidden) == _without_request_id(missing)
    for role in ("street", "integration", "evaluator"):
        assert (
            gateway.post(NEEDS, json=_need(site["site"]["id"]), headers=bearer(others[role])).status_code
            == 403
        )
    got = gateway.get(url, headers=bearer(others["integration"])).json()
    assert got["resident_name"] == "周**" and got["resident_phone"] == "138****2222"


# ---- referrals -------------------------------------------------------------------------------------


@pytest.fixture
def need(gateway: httpx.Client, site: dict[str, Any]) -> dict[str, Any]:
    response = gateway.post(NEEDS, json=_need(site["site"]["id"]), headers=bearer(site["operator_token"]))
    assert response.status_code == 201
    return response.json()


def _refer(gateway: httpx.Client, token: str, need_id: str, **overrides: object) -> httpx.Response:
    body = {"need_id": need_id, "referred_on": _day(2), "to_name": "浦沿街道社区卫生服务中心", **overrides}
    return gateway.post(REFERRALS, json=body, headers=bearer(token))


def test_referral_accept_then_close(
    gateway: httpx.Client, site: dict[str, Any], need: dict[str, Any], stack: RunningStack
) -> None:
    token = site["operator_token"]
    org = str(uuid.uuid4())
    created = _refer(gateway, token, need["id"], to_organization_id=org)
    assert created.status_code == 201, created.text
    referral = created.json()
    assert referral["site_id"] == site["site"]["id"] and referral["need_id"] == need["id"]
    assert referral["status"] == "open" and referral["to_organization_id"] == org
    assert (referral["accepted_on"], referral["closed_on"], referral["outcome"]) == (None, None, "")
    url = f"{REFERRALS}/{referral['id']}"
    today = _day(0)

    accepted = gateway.post(f"{url}/accept", headers=bearer(token))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["accepted_on"] == today
    assert accepted.headers["etag"] == gateway.get(url, headers=bearer(token)).headers["etag"]
    again = gateway.post(f"{url}/accept", headers=bearer(token))
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    assert again.json()["current_status"] == "accepted"

    closed = gateway.post(f"{url}/close", json={"outcome": "已安排家庭医生上门"}, headers=bearer(token))
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["closed_on"] == today
    assert closed.json()["outcome"] == "已安排家庭医生上门" and closed.json()["accepted_on"] == today
    closed_again = gateway.post(f"{url}/close", json={"outcome": "再次"}, headers=bearer(token))
    assert closed_again.status_code == 409 and closed_again.json()["code"] == "invalid_transition"
    late_accept = gateway.post(f"{url}/accept", headers=bearer(token))
    assert late_accept.status_code == 409

    by_status = gateway.get(
        REFERRALS, params={"need_id": need["id"], "status": "closed"}, headers=bearer(token)
    )
    assert [r["id"] for r in by_status.json()["items"]] == [referral["id"]]
    assert (
        gateway.get(
            REFERRALS, params={"need_id": need["id"], "status": "open"}, headers=bearer(token)
        ).json()["items"]
        == []
    )
    actions = [
        a["action"]
        for a in stack.sql(
            "SELECT action FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at",
            referral["id"],
        )
    ]
    assert actions == ["referral.create", "referral.accept", "referral.close"]


def test_referral_closes_straight_from_open(
    gateway: httpx.Client, site: dict[str, Any], need: dict[str, Any]
) -> None:
    token = site["operator_token"]
    referral = _refer(gateway, token, need["id"]).json()
    url = f"{REFERRALS}/{referral['id']}"
    assert error_fields(gateway.post(f"{url}/close", json={}, headers=bearer(token))) == {"outcome"}
    closed = gateway.post(f"{url}/close", json={"outcome": "对方无法承接,已告知居民"}, headers=bearer(token))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["accepted_on"] is None
    assert gateway.post(f"{url}/accept", headers=bearer(token)).json()["code"] == "invalid_transition"


def test_referral_needs_a_writable_need(
    gateway: httpx.Client, site: dict[str, Any], need: dict[str, Any], others: dict[str, Any]
) -> None:
    token = site["operator_token"]
    assert error_fields(_refer(gateway, token, str(uuid.uuid4()))) == {"need_id"}
    # A need of another operator's site is not one this operator may refer.
    foreign_need = gateway.post(
        NEEDS, json=_need(others["site"]["id"]), headers=bearer(others["operator"])
    ).json()
    assert error_fields(_refer(gateway, token, foreign_need["id"])) == {"need_id"}
    assert error_fields(_refer(gateway, others["operator"], need["id"])) == {"need_id"}
    # Not before the need was recorded, not in the future; the site comes from the need.
    assert error_fields(_refer(gateway, token, need["id"], referred_on=_day(11))) == {"referred_on"}
    future = day(+1)
    assert error_fields(_refer(gateway, token, need["id"], referred_on=future)) == {"referred_on"}
    assert "site_id" in error_fields(_refer(gateway, token, need["id"], site_id=site["site"]["id"]))
    assert error_fields(_refer(gateway, token, need["id"], to_name="")) == {"to_name"}
    for role in ("street", "integration", "evaluator"):
        assert _refer(gateway, others[role], need["id"]).status_code == 403


def test_referral_corrections_and_need_deletion(
    gateway: httpx.Client,
    site: dict[str, Any],
    need: dict[str, Any],
    others: dict[str, Any],
    district_token: str,
) -> None:
    token = site["operator_token"]
    referral = _refer(gateway, token, need["id"]).json()
    url = f"{REFERRALS}/{referral['id']}"
    headers = _etag(gateway, url, token)
    assert error_fields(gateway.patch(url, json={"referred_on": _day(11)}, headers=headers)) == {
        "referred_on"
    }
    assert error_fields(gateway.patch(url, json={"status": "closed"}, headers=headers)) == {"status"}
    fixed = gateway.patch(url, json={"to_name": "滨江区残联", "referred_on": _day(3)}, headers=headers)
    assert (
        fixed.status_code == 200
        and fixed.json()["to_name"] == "滨江区残联"
        and fixed.json()["status"] == "open"
    )

    # The need cannot be recorded after its referral, nor deleted while referred.
    need_url = f"{NEEDS}/{need['id']}"
    moved = gateway.patch(need_url, json={"recorded_on": _day(1)}, headers=_etag(gateway, need_url, token))
    assert error_fields(moved) == {"recorded_on"}
    refused = gateway.delete(need_url, headers=_etag(gateway, need_url, token))
    assert refused.status_code == 409 and refused.json()["code"] == "need_has_referrals"

    # Out of scope: 404 like a random id, for reads and actions alike.
    hidden = gateway.get(url, headers=bearer(others["operator"]))
    missing = gateway.get(f"{REFERRALS}/{uuid.uuid4()}", headers=bearer(others["operator"]))
    assert hidden.status_code == missing.status_code == 404
    assert _without_request_id(hidden) == _without_request_id(missing)
    accept = gateway.post(f"{url}/accept", headers=bearer(others["operator"]))
    assert accept.status_code == 404 and accept.json()["code"] == "referral_not_found"
    for role in ("street", "integration", "evaluator"):
        assert gateway.post(f"{url}/accept", headers=bearer(others[role])).status_code == 403
    # The district may act on any site's referral.
    assert gateway.post(f"{url}/accept", headers=bearer(district_token)).json()["status"] == "accepted"

    assert gateway.delete(url, headers=_etag(gateway, url, token)).status_code == 204
    assert gateway.delete(need_url, headers=_etag(gateway, need_url, token)).status_code == 204
