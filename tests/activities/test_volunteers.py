"""`/api/v1/activities/volunteers` and `/volunteer-hours` (Table C.1 志愿者)."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.clock import Day, day, now_shanghai, resolve
from tests.conftest import RunningStack, bearer
from tests.registry.factories import create_org, error_fields, integration_token, operated_site, user_token

VOLUNTEERS = "/api/v1/activities/volunteers"
HOURS = "/api/v1/activities/volunteer-hours"


def _day(days_ago: int) -> str:
    return day(-days_ago)


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
    other = operated_site(gateway, district_token, "PY")
    return {
        "site": other["site"],
        "operator": other["operator_token"],
        "street": user_token(gateway, district_token, "street", street_id=other["site"]["street_id"]),
        "integration": integration_token(gateway, district_token),
        "evaluator": user_token(
            gateway, district_token, "evaluator", organization_id=create_org(gateway, district_token)["id"]
        ),
    }


def _volunteer(gateway: httpx.Client, token: str, site_id: str, **overrides: object) -> dict[str, Any]:
    body = {
        "site_id": site_id,
        "name": "刘志强",
        "phone": "13500001234",
        "registered_on": _day(60),
        **overrides,
    }
    response = gateway.post(VOLUNTEERS, json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def _hours(
    gateway: httpx.Client, token: str, volunteer_id: str, hours: object, **overrides: object
) -> httpx.Response:
    body = {"volunteer_id": volunteer_id, "date": _day(1), "hours": hours, **overrides}
    return gateway.post(HOURS, json=body, headers=bearer(token))


# ---- volunteers ------------------------------------------------------------------------------------


def test_volunteer_lifecycle(gateway: httpx.Client, site: dict[str, Any], stack: RunningStack) -> None:
    token = site["operator_token"]
    item = _volunteer(gateway, token, site["site"]["id"])
    assert item["name"] == "刘志强" and item["phone"] == "13500001234" and item["registered_on"] == _day(60)
    assert item["hours_total"] == "0.0" and item["personal_data"] == "full"
    url = f"{VOLUNTEERS}/{item['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.json() == item

    listed = gateway.get(
        VOLUNTEERS, params={"site_id": site["site"]["id"], "limit": 200}, headers=bearer(token)
    )
    [row] = [v for v in listed.json()["items"] if v["id"] == item["id"]]
    assert (row["name"], row["phone"], row["personal_data"]) == ("刘**", "135****1234", "masked")
    in_period = gateway.get(
        VOLUNTEERS,
        params={"site_id": site["site"]["id"], "from": _day(60), "to": _day(60)},
        headers=bearer(token),
    )
    assert item["id"] in [v["id"] for v in in_period.json()["items"]]
    assert item["id"] not in [
        v["id"]
        for v in gateway.get(
            VOLUNTEERS, params={"site_id": site["site"]["id"], "from": _day(59)}, headers=bearer(token)
        ).json()["items"]
    ]

    patched = gateway.patch(url, json={"phone": None, "name": "刘志刚"}, headers=_etag(gateway, url, token))
    assert patched.status_code == 200, patched.text
    assert patched.json()["phone"] is None and patched.json()["name"] == "刘志刚"
    assert (
        gateway.patch(
            url, json={"name": "x"}, headers={**bearer(token), "If-Match": got.headers["etag"]}
        ).status_code
        == 412
    )
    assert gateway.delete(url, headers=_etag(gateway, url, token)).status_code == 204
    assert gateway.get(url, headers=bearer(token)).status_code == 404
    actions = {
        a["action"]
        for a in stack.sql("SELECT action FROM activities.audit_log WHERE object_id = $1", item["id"])
    }
    assert actions == {"volunteer.create", "volunteer.read_personal", "volunteer.update", "volunteer.delete"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"registered_on": Day(+1)}, "registered_on"),
        ({"name": ""}, "name"),
        ({"name": "名" * 51}, "name"),
        ({"phone": "phone"}, "phone"),
        ({"hours_total": "100"}, "hours_total"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_volunteer_bad_input_names_the_field(
    gateway: httpx.Client, site: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    body = {"site_id": site["site"]["id"], "name": "刘志强", "registered_on": _day(3), **resolve(overrides)}
    assert field in error_fields(gateway.post(VOLUNTEERS, json=body, headers=bearer(site["operator_token"])))


def test_volunteer_scope(
    gateway: httpx.Client, site: dict[str, Any], others: dict[str, Any], district_token: str
) -> None:
    item = _volunteer(gateway, site["operator_token"], site["site"]["id"])
    url = f"{VOLUNTEERS}/{item['id']}"
    for role in ("operator", "street", "evaluator"):
        hidden = gateway.get(url, headers=bearer(others[role]))
        missing = gateway.get(f"{VOLUNTEERS}/{uuid.uuid4()}", headers=bearer(others[role]))
        assert hidden.status_code == missing.status_code == 404
        assert _without_request_id(hidden) == _without_request_id(missing)
        assert hidden.json()["code"] == "volunteer_not_found"
        assert (
            gateway.get(
                VOLUNTEERS, params={"site_id": site["site"]["id"]}, headers=bearer(others[role])
            ).json()["items"]
            == []
        )
    body = {"site_id": site["site"]["id"], "name": "刘志强", "registered_on": _day(3)}
    for role in ("street", "integration", "evaluator"):
        assert gateway.post(VOLUNTEERS, json=body, headers=bearer(others[role])).status_code == 403
    foreign = gateway.post(VOLUNTEERS, json=body, headers=bearer(others["operator"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "site_not_found"
    got = gateway.get(url, headers=bearer(others["integration"])).json()
    assert (got["name"], got["phone"], got["personal_data"]) == ("刘**", "135****1234", "masked")
    street = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    assert gateway.get(url, headers=bearer(street)).json()["name"] == "刘**"


# ---- hours -----------------------------------------------------------------------------------------


def test_daily_24_hour_rule(gateway: httpx.Client, site: dict[str, Any], stack: RunningStack) -> None:
    token = site["operator_token"]
    volunteer = _volunteer(gateway, token, site["site"]["id"])
    first = _hours(gateway, token, volunteer["id"], 16)
    assert first.status_code == 201, first.text
    assert first.json()["hours"] == "16.0" and first.json()["site_id"] == site["site"]["id"]
    second = _hours(gateway, token, volunteer["id"], "8")
    assert second.status_code == 201 and second.json()["hours"] == "8.0"
    over = _hours(gateway, token, volunteer["id"], 0.5)
    assert over.status_code == 409, over.text
    body = over.json()
    assert body["code"] == "volunteer_day_over_24h"
    assert (body["date"], body["hours_recorded"], body["hours_requested"]) == (_day(1), "24.0", "0.5")
    # Another day is another 24 hours.
    assert _hours(gateway, token, volunteer["id"], 0.5, date=_day(2)).status_code == 201

    # Corrections count the day without the corrected record itself.
    url = f"{HOURS}/{second.json()['id']}"
    more = gateway.patch(url, json={"hours": 8.5}, headers=_etag(gateway, url, token))
    assert more.status_code == 409 and more.json()["code"] == "volunteer_day_over_24h"
    less = gateway.patch(url, json={"hours": 7.5}, headers=_etag(gateway, url, token))
    assert less.status_code == 200 and less.json()["hours"] == "7.5"
    moved = gateway.patch(url, json={"date": _day(2), "hours": 8}, headers=_etag(gateway, url, token))
    assert moved.status_code == 200 and moved.json()["date"] == _day(2)

    [total] = stack.sql(
        "SELECT sum(hours) AS total FROM activities.volunteer_hours WHERE volunteer_id = $1",
        uuid.UUID(volunteer["id"]),
    )
    assert str(total["total"]) == "24.5"
    listed = gateway.get(
        VOLUNTEERS, params={"site_id": site["site"]["id"], "limit": 200}, headers=bearer(token)
    )
    [row] = [v for v in listed.json()["items"] if v["id"] == volunteer["id"]]
    assert row["hours_total"] == "24.5"
    assert (
        gateway.get(f"{VOLUNTEERS}/{volunteer['id']}", headers=bearer(token)).json()["hours_total"] == "24.5"
    )

    by_volunteer = gateway.get(HOURS, params={"volunteer_id": volunteer["id"]}, headers=bearer(token)).json()[
        "items"
    ]
    # Oldest date first (ties in id order).
    assert [h["date"] for h in by_volunteer] == [_day(2), _day(2), _day(1)]
    assert sorted(h["hours"] for h in by_volunteer) == ["0.5", "16.0", "8.0"]
    on_day = gateway.get(
        HOURS, params={"volunteer_id": volunteer["id"], "from": _day(1), "to": _day(1)}, headers=bearer(token)
    )
    assert [h["hours"] for h in on_day.json()["items"]] == ["16.0"]


def test_concurrent_hours_cannot_pass_24(
    gateway: httpx.Client, site: dict[str, Any], stack: RunningStack
) -> None:
    token = site["operator_token"]
    volunteer = _volunteer(gateway, token, site["site"]["id"])

    def post(_: int) -> int:
        with httpx.Client(base_url=str(gateway.base_url), timeout=20.0) as client:
            return _hours(client, token, volunteer["id"], 2.5, date=_day(3)).status_code

    # Twelve writers at once, 30 h in all: exactly nine fit into the day (22.5 h).
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = sorted(pool.map(post, range(12)))
    assert statuses == [201] * 9 + [409] * 3
    [total] = stack.sql(
        "SELECT sum(hours) AS total FROM activities.volunteer_hours WHERE volunteer_id = $1",
        uuid.UUID(volunteer["id"]),
    )
    assert str(total["total"]) == "22.5"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"hours": 0}, "hours"),
        ({"hours": 24.5}, "hours"),
        ({"hours": -1}, "hours"),
        ({"hours": "1.25"}, "hours"),
        ({"date": Day(+1)}, "date"),
        ({"volunteer_id": str(uuid.uuid4())}, "volunteer_id"),
        ({"activity_id": str(uuid.uuid4())}, "activity_id"),
        ({"site_id": str(uuid.uuid4())}, "site_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_hours_bad_input_names_the_field(
    gateway: httpx.Client, site: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    token = site["operator_token"]
    volunteer = _volunteer(gateway, token, site["site"]["id"])
    body = {"volunteer_id": volunteer["id"], "date": _day(1), "hours": 2, **resolve(overrides)}
    assert field in error_fields(gateway.post(HOURS, json=body, headers=bearer(token)))


def test_hours_at_an_activity_of_the_site(
    gateway: httpx.Client, site: dict[str, Any], others: dict[str, Any]
) -> None:
    token = site["operator_token"]
    volunteer = _volunteer(gateway, token, site["site"]["id"])
    start = now_shanghai().replace(microsecond=0) - dt.timedelta(days=1, hours=3)
    activity = {
        "category": "elderly",
        "title": "助老志愿服务日",
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=2)).isoformat(),
        "attendance": 30,
    }
    own = gateway.post(
        "/api/v1/activities/activities",
        json={"site_id": site["site"]["id"], **activity},
        headers=bearer(token),
    )
    assert own.status_code == 201, own.text
    foreign = gateway.post(
        "/api/v1/activities/activities",
        json={"site_id": others["site"]["id"], **activity},
        headers=bearer(others["operator"]),
    )
    assert foreign.status_code == 201, foreign.text
    ok = _hours(gateway, token, volunteer["id"], 2, activity_id=own.json()["id"])
    assert ok.status_code == 201 and ok.json()["activity_id"] == own.json()["id"]
    assert error_fields(_hours(gateway, token, volunteer["id"], 2, activity_id=foreign.json()["id"])) == {
        "activity_id"
    }
    by_activity = gateway.get(HOURS, params={"activity_id": own.json()["id"]}, headers=bearer(token)).json()[
        "items"
    ]
    assert [h["id"] for h in by_activity] == [ok.json()["id"]]


def test_hours_scope_and_volunteer_removal(
    gateway: httpx.Client, site: dict[str, Any], others: dict[str, Any], district_token: str
) -> None:
    token = site["operator_token"]
    volunteer = _volunteer(gateway, token, site["site"]["id"])
    record = _hours(gateway, token, volunteer["id"], 3).json()
    url = f"{HOURS}/{record['id']}"

    # Another operator can neither log hours for this volunteer nor see them.
    assert error_fields(_hours(gateway, others["operator"], volunteer["id"], 1)) == {"volunteer_id"}
    for role in ("operator", "street", "evaluator"):
        hidden = gateway.get(url, headers=bearer(others[role]))
        missing = gateway.get(f"{HOURS}/{uuid.uuid4()}", headers=bearer(others[role]))
        assert hidden.status_code == missing.status_code == 404
        assert _without_request_id(hidden) == _without_request_id(missing)
        assert hidden.json()["code"] == "volunteer_hours_not_found"
    for role in ("street", "integration", "evaluator"):
        assert _hours(gateway, others[role], volunteer["id"], 1).status_code == 403
    patched = gateway.patch(url, json={"hours": 1}, headers={**bearer(others["operator"]), "If-Match": "*"})
    assert patched.status_code == 404
    assert gateway.get(url, headers=bearer(others["integration"])).json()["hours"] == "3.0"
    # The district logs hours for any site's volunteer.
    assert _hours(gateway, district_token, volunteer["id"], 1, date=_day(4)).status_code == 201

    # A volunteer with hours stays until its hours are gone.
    volunteer_url = f"{VOLUNTEERS}/{volunteer['id']}"
    refused = gateway.delete(volunteer_url, headers=_etag(gateway, volunteer_url, token))
    assert refused.status_code == 409 and refused.json()["code"] == "volunteer_has_hours"
    for item in gateway.get(HOURS, params={"volunteer_id": volunteer["id"]}, headers=bearer(token)).json()[
        "items"
    ]:
        hours_url = f"{HOURS}/{item['id']}"
        assert gateway.delete(hours_url, headers=_etag(gateway, hours_url, token)).status_code == 204
    assert gateway.delete(volunteer_url, headers=_etag(gateway, volunteer_url, token)).status_code == 204
