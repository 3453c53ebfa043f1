"""`/api/v1/activities/activity-plans`: monthly plans, published before their month (C14 常态开放 2)."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from services.common.timeutil import today_shanghai, utc_now
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import create_org, error_fields, operated_site, user_token

URL = "/api/v1/activities/activity-plans"


def _month(offset: int) -> dt.date:
    """The first day of the month `offset` months from the current one (Asia/Shanghai)."""
    today = today_shanghai()
    index = today.year * 12 + today.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


def _code(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def _body(site_id: str, first_day: dt.date, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "month": _code(first_day),
        "items": [
            {"date": first_day.replace(day=5).isoformat(), "title": "老年健康讲座", "category": "elderly"},
            {
                "date": first_day.replace(day=20).isoformat(),
                "title": "亲子绘本共读",
                "category": "youth",
                "location": "二楼阅览室",
            },
        ],
        **overrides,
    }


@pytest.fixture
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


def _create(gateway: httpx.Client, token: str, body: dict) -> dict:
    response = gateway.post(URL, json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def test_plan_for_next_month_published_now_is_on_time(
    gateway: httpx.Client, site: dict, stack: RunningStack
) -> None:
    token = site["operator_token"]
    next_month = _month(1)
    plan = _create(gateway, token, _body(site["site"]["id"], next_month))
    assert plan["month"] == _code(next_month) and plan["published_at"] is None
    assert plan["published_late"] is False
    assert plan["items"][1] == {
        "date": next_month.replace(day=20).isoformat(),
        "title": "亲子绘本共读",
        "category": "youth",
        "location": "二楼阅览室",
    }
    stored = stack.sql("SELECT month FROM activities.activity_plans WHERE id = $1", plan["id"])
    assert stored[0]["month"] == next_month

    published = gateway.post(f"{URL}/{plan['id']}/publish", headers=bearer(token))
    assert published.status_code == 200, published.text
    assert published.json()["published_late"] is False
    published_at = dt.datetime.fromisoformat(published.json()["published_at"])
    assert abs(published_at - utc_now()) < dt.timedelta(minutes=1)
    got = gateway.get(f"{URL}/{plan['id']}", headers=bearer(token))
    assert got.json() == published.json() and got.headers["etag"] == published.headers["etag"]

    twice = gateway.post(f"{URL}/{plan['id']}/publish", headers=bearer(token))
    assert twice.status_code == 409 and twice.json()["code"] == "plan_already_published"
    audit = stack.sql(
        "SELECT action FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at", plan["id"]
    )
    assert [a["action"] for a in audit] == ["activity_plan.create", "activity_plan.publish"]


def test_plan_for_the_current_month_is_late(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    plan = _create(gateway, token, _body(site["site"]["id"], _month(0)))
    published = gateway.post(f"{URL}/{plan['id']}/publish", headers=bearer(token))
    assert published.status_code == 200 and published.json()["published_late"] is True
    past = _create(gateway, token, _body(site["site"]["id"], _month(-2)))
    late = gateway.post(f"{URL}/{past['id']}/publish", headers=bearer(token)).json()
    assert late["published_late"] is True


def test_one_plan_per_site_and_month(gateway: httpx.Client, site: dict, district_token: str) -> None:
    token = site["operator_token"]
    first = _create(gateway, token, _body(site["site"]["id"], _month(1)))
    again = gateway.post(URL, json=_body(site["site"]["id"], _month(1), items=[]), headers=bearer(token))
    assert again.status_code == 409 and again.json()["code"] == "plan_exists"
    assert again.json()["existing_id"] == first["id"]
    by_district = gateway.post(URL, json=_body(site["site"]["id"], _month(1)), headers=bearer(district_token))
    assert by_district.status_code == 409
    # Another month, or the same month at another site, is fine.
    _create(gateway, token, _body(site["site"]["id"], _month(2)))
    other = operated_site(gateway, district_token)
    _create(gateway, other["operator_token"], _body(other["site"]["id"], _month(1)))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "2026-3"}, "month"),
        ({"month": "2026-03-01"}, "month"),
        ({"items": [{"date": "2026-01-01", "title": "x", "category": "sports"}]}, "items.0.category"),
        ({"items": [{"date": "2026-01-01", "title": "", "category": "youth"}]}, "items.0.title"),
        ({"items": [{"date": "2026-01-01", "title": "x", "category": "youth", "x": 1}]}, "items.0.x"),
        ({"published_at": "2026-01-01T00:00:00+08:00"}, "published_at"),
    ],
)
def test_bad_input_names_the_field(gateway: httpx.Client, site: dict, overrides: dict, field: str) -> None:
    response = gateway.post(
        URL, json=_body(site["site"]["id"], _month(1), **overrides), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_item_dates_must_fall_within_the_month(gateway: httpx.Client, site: dict) -> None:
    month = _month(1)
    items = [
        {"date": month.replace(day=1).isoformat(), "title": "月初", "category": "culture"},
        {"date": (month - dt.timedelta(days=1)).isoformat(), "title": "上月", "category": "culture"},
        {"date": _month(2).isoformat(), "title": "下月", "category": "culture"},
    ]
    response = gateway.post(
        URL, json=_body(site["site"]["id"], month, items=items), headers=bearer(site["operator_token"])
    )
    assert error_fields(response) == {"items.1.date", "items.2.date"}


def test_patch_items_and_delete_only_unpublished(
    gateway: httpx.Client, site: dict, stack: RunningStack
) -> None:
    token = site["operator_token"]
    month = _month(1)
    plan = _create(gateway, token, _body(site["site"]["id"], month))
    url = f"{URL}/{plan['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    new_items = [{"date": month.replace(day=9).isoformat(), "title": "义诊", "category": "elderly"}]
    assert gateway.patch(url, json={"items": new_items}, headers=bearer(token)).status_code == 428
    outside = [{"date": _month(0).isoformat(), "title": "义诊", "category": "elderly"}]
    bad = gateway.patch(url, json={"items": outside}, headers={**bearer(token), "If-Match": etag})
    assert error_fields(bad) == {"items.0.date"}
    fixed_month = gateway.patch(
        url, json={"month": _code(_month(3))}, headers={**bearer(token), "If-Match": etag}
    )
    assert "month" in error_fields(fixed_month)
    changed = gateway.patch(url, json={"items": new_items}, headers={**bearer(token), "If-Match": etag})
    assert changed.status_code == 200 and changed.json()["items"] == [{**new_items[0], "location": None}]

    # Published: still correctable (audited), no longer deletable.
    published = gateway.post(f"{url}/publish", headers={**bearer(token), "If-Match": changed.headers["etag"]})
    assert published.status_code == 200
    corrected = gateway.patch(
        url, json={"items": []}, headers={**bearer(token), "If-Match": published.headers["etag"]}
    )
    assert corrected.status_code == 200 and corrected.json()["items"] == []
    assert corrected.json()["published_at"] == published.json()["published_at"]
    refused = gateway.delete(url, headers={**bearer(token), "If-Match": corrected.headers["etag"]})
    assert refused.status_code == 409 and refused.json()["code"] == "plan_published"
    audit = stack.sql(
        "SELECT action, before->>'published_at' AS was_published FROM activities.audit_log "
        "WHERE object_id = $1 ORDER BY occurred_at",
        plan["id"],
    )
    assert [a["action"] for a in audit] == [
        "activity_plan.create",
        "activity_plan.update",
        "activity_plan.publish",
        "activity_plan.update",
    ]
    assert audit[-1]["was_published"] is not None

    draft = _create(gateway, token, _body(site["site"]["id"], _month(2)))
    draft_url = f"{URL}/{draft['id']}"
    draft_etag = gateway.get(draft_url, headers=bearer(token)).headers["etag"]
    assert gateway.delete(draft_url, headers={**bearer(token), "If-Match": draft_etag}).status_code == 204
    assert gateway.get(draft_url, headers=bearer(token)).status_code == 404


def test_stale_if_match_on_publish(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    plan = _create(gateway, token, _body(site["site"]["id"], _month(1)))
    url = f"{URL}/{plan['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    gateway.patch(url, json={"items": []}, headers={**bearer(token), "If-Match": etag})
    stale = gateway.post(f"{url}/publish", headers={**bearer(token), "If-Match": etag})
    assert stale.status_code == 412
    assert gateway.get(url, headers=bearer(token)).json()["published_at"] is None


def test_list_by_month(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    plans = {
        offset: _create(gateway, token, _body(site["site"]["id"], _month(offset))) for offset in (-1, 0, 1)
    }
    gateway.post(f"{URL}/{plans[0]['id']}/publish", headers=bearer(token))

    def ids(**params: object) -> list[str]:
        response = gateway.get(URL, params={"site_id": site["site"]["id"], **params}, headers=bearer(token))
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert ids() == [plans[-1]["id"], plans[0]["id"], plans[1]["id"]]
    assert ids(**{"from": _code(_month(0))}) == [plans[0]["id"], plans[1]["id"]]
    assert ids(**{"from": _code(_month(0)), "to": _code(_month(0))}) == [plans[0]["id"]]
    assert ids(published="true") == [plans[0]["id"]]
    assert ids(published="false") == [plans[-1]["id"], plans[1]["id"]]
    bad = gateway.get(URL, params={"from": "2026-03-01"}, headers=bearer(token))
    assert "from" in error_fields(bad)


def test_scope_and_roles(gateway: httpx.Client, district_token: str, site: dict) -> None:
    plan = _create(gateway, site["operator_token"], _body(site["site"]["id"], _month(1)))
    url = f"{URL}/{plan['id']}"
    other = operated_site(gateway, district_token, "CH")
    street_ch = login(gateway, "changhe")["access_token"]
    firm = create_org(gateway, district_token)
    evaluator = user_token(gateway, district_token, "evaluator", organization_id=firm["id"])
    missing = gateway.get(f"{URL}/{uuid.uuid4()}", headers=bearer(other["operator_token"]))
    assert missing.status_code == 404 and missing.json()["code"] == "activity_plan_not_found"
    for token in (other["operator_token"], street_ch, evaluator):
        response = gateway.get(url, headers=bearer(token))
        assert response.status_code == 404 and response.json()["detail"] == missing.json()["detail"]
        listed = gateway.get(URL, params={"site_id": site["site"]["id"]}, headers=bearer(token))
        assert listed.status_code == 200 and listed.json()["items"] == []
    foreign = gateway.post(f"{url}/publish", headers=bearer(other["operator_token"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "activity_plan_not_found"
    create_foreign = gateway.post(
        URL, json=_body(site["site"]["id"], _month(2)), headers=bearer(other["operator_token"])
    )
    assert create_foreign.status_code == 404 and create_foreign.json()["code"] == "site_not_found"

    street_xx = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    assert gateway.get(url, headers=bearer(street_xx)).status_code == 200
    for token in (street_xx, evaluator):
        assert gateway.post(f"{url}/publish", headers=bearer(token)).status_code == 403
        assert (
            gateway.post(URL, json=_body(site["site"]["id"], _month(3)), headers=bearer(token)).status_code
            == 403
        )
    # The district may publish on the operator's behalf.
    by_district = gateway.post(f"{url}/publish", headers=bearer(district_token))
    assert by_district.status_code == 200 and by_district.json()["published_late"] is False
