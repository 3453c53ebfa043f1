"""`/api/v1/activities/safety-trainings` and `/safety-patrols` (6.1.4; C10 安全制度)."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from tests.clock import Day, resolve, today
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import error_fields, integration_token, operated_site, user_token

TRAININGS = "/api/v1/activities/safety-trainings"
PATROLS = "/api/v1/activities/safety-patrols"


def days_ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def other(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token, "CH")


def training(site_id: str, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "held_on": days_ago(5),
        "topic": "灭火器使用与疏散演练",
        "attendance": 32,
        "has_record": True,
        **overrides,
    }


def patrol(site_id: str, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "patrolled_on": days_ago(20),
        "inspector": "王安全",
        "has_record": True,
        "hazards": [
            {"description": "二楼疏散通道堆放杂物", "due_on": days_ago(15)},  # open, past due
            {"description": "灭火器压力不足", "due_on": days_ago(-5)},  # open, not yet due
            {"description": "应急灯损坏", "due_on": days_ago(18), "rectified_on": days_ago(10)},  # late
            {
                "description": "插线板私拉乱接",
                "due_on": days_ago(10),
                "rectified_on": days_ago(12),
            },  # on time
        ],
        **overrides,
    }


# ---- trainings -------------------------------------------------------------------------------------


def test_training_crud_with_if_match_and_audit(
    gateway: httpx.Client, site: dict, stack: RunningStack
) -> None:
    token = site["operator_token"]
    created = gateway.post(TRAININGS, json=training(site["site"]["id"]), headers=bearer(token))
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["topic"], item["attendance"], item["has_record"]) == ("灭火器使用与疏散演练", 32, True)
    url = f"{TRAININGS}/{item['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.json() == item
    listed = gateway.get(
        TRAININGS,
        params={"site_id": site["site"]["id"], "from": days_ago(5), "to": days_ago(5)},
        headers=bearer(token),
    ).json()
    assert [t["id"] for t in listed["items"]] == [item["id"]]
    outside = gateway.get(
        TRAININGS, params={"site_id": site["site"]["id"], "to": days_ago(6)}, headers=bearer(token)
    ).json()
    assert outside["items"] == []
    assert gateway.patch(url, json={"has_record": False}, headers=bearer(token)).status_code == 428
    patched = gateway.patch(
        url, json={"has_record": False}, headers={**bearer(token), "If-Match": got.headers["etag"]}
    )
    assert patched.status_code == 200 and patched.json()["has_record"] is False
    without = gateway.get(
        TRAININGS, params={"site_id": site["site"]["id"], "has_record": "false"}, headers=bearer(token)
    ).json()
    assert [t["id"] for t in without["items"]] == [item["id"]]
    stale = gateway.patch(
        url, json={"topic": "x"}, headers={**bearer(token), "If-Match": got.headers["etag"]}
    )
    assert stale.status_code == 412
    deleted = gateway.delete(url, headers={**bearer(token), "If-Match": patched.headers["etag"]})
    assert deleted.status_code == 204
    assert gateway.get(url, headers=bearer(token)).status_code == 404
    audit = stack.sql(
        "SELECT action FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at", item["id"]
    )
    assert [a["action"] for a in audit] == [
        "safety_training.create",
        "safety_training.update",
        "safety_training.delete",
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"held_on": Day(+1)}, "held_on"),
        ({"attendance": -1}, "attendance"),
        ({"topic": ""}, "topic"),
        ({"has_record": "maybe"}, "has_record"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_training_bad_input_names_the_field(
    gateway: httpx.Client, site: dict, overrides: dict, field: str
) -> None:
    response = gateway.post(
        TRAININGS,
        json=training(site["site"]["id"], **resolve(overrides)),
        headers=bearer(site["operator_token"]),
    )
    assert field in error_fields(response)


def test_training_roles_and_scope(
    gateway: httpx.Client, district_token: str, site: dict, other: dict
) -> None:
    item = gateway.post(
        TRAININGS, json=training(site["site"]["id"]), headers=bearer(site["operator_token"])
    ).json()
    url = f"{TRAININGS}/{item['id']}"
    missing = gateway.get(f"{TRAININGS}/{uuid.uuid4()}", headers=bearer(other["operator_token"])).json()
    street_ch = login(gateway, "changhe")["access_token"]
    evaluator = login(gateway, "evaluator")["access_token"]
    for token in (other["operator_token"], street_ch, evaluator):
        response = gateway.get(url, headers=bearer(token))
        assert response.status_code == 404
        assert response.json()["code"] == missing["code"] == "safety_training_not_found"
        assert response.json()["detail"] == missing["detail"]
        listed = gateway.get(TRAININGS, params={"site_id": site["site"]["id"]}, headers=bearer(token))
        assert listed.status_code == 200 and listed.json()["items"] == []
    # The site's street and the integration platform read it; neither writes.
    street_xx = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    platform = integration_token(gateway, district_token)
    for token in (street_xx, platform):
        assert gateway.get(url, headers=bearer(token)).json()["id"] == item["id"]
    for token in (street_xx, platform, evaluator):
        response = gateway.post(TRAININGS, json=training(site["site"]["id"]), headers=bearer(token))
        assert response.status_code == 403
    wrong_site = gateway.post(
        TRAININGS, json=training(site["site"]["id"]), headers=bearer(other["operator_token"])
    )
    assert wrong_site.status_code == 404 and wrong_site.json()["code"] == "site_not_found"
    # The district writes for any site the registry knows.
    assert (
        gateway.post(TRAININGS, json=training(site["site"]["id"]), headers=bearer(district_token)).status_code
        == 201
    )
    unknown = gateway.post(TRAININGS, json=training(str(uuid.uuid4())), headers=bearer(district_token))
    assert unknown.status_code == 404 and unknown.json()["code"] == "site_not_found"


# ---- patrols and hazards ---------------------------------------------------------------------------


def test_patrol_hazards_carry_overdue_flags(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    created = gateway.post(PATROLS, json=patrol(site["site"]["id"]), headers=bearer(token))
    assert created.status_code == 201, created.text
    hazards = created.json()["hazards"]
    assert [(h["index"], h["overdue"]) for h in hazards] == [(0, True), (1, False), (2, True), (3, False)]
    assert hazards[2]["rectified_on"] == days_ago(10) and hazards[0]["rectified_on"] is None
    listed = gateway.get(PATROLS, params={"site_id": site["site"]["id"]}, headers=bearer(token)).json()
    assert created.json() in listed["items"]


def test_rectify_a_hazard(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    token = site["operator_token"]
    item = gateway.post(PATROLS, json=patrol(site["site"]["id"]), headers=bearer(token)).json()
    url = f"{PATROLS}/{item['id']}"
    etag_before = gateway.get(url, headers=bearer(token)).headers["etag"]
    # Not yet due, fixed today without a body: no longer open, not overdue.
    fixed = gateway.post(f"{url}/hazards/1/rectify", headers=bearer(token))
    assert fixed.status_code == 200, fixed.text
    hazard = fixed.json()["hazards"][1]
    assert hazard["rectified_on"] == today().isoformat() and hazard["overdue"] is False
    assert fixed.headers["etag"] != etag_before
    assert gateway.get(url, headers=bearer(token)).headers["etag"] == fixed.headers["etag"]
    # Past due and fixed now: fixed after its due date, so it stays overdue.
    late = gateway.post(f"{url}/hazards/0/rectify", json={"rectified_on": days_ago(1)}, headers=bearer(token))
    assert late.status_code == 200
    assert late.json()["hazards"][0] == {**item["hazards"][0], "rectified_on": days_ago(1), "overdue": True}
    again = gateway.post(f"{url}/hazards/0/rectify", json={}, headers=bearer(token))
    assert again.status_code == 409 and again.json()["code"] == "hazard_already_rectified"
    for index in (4, 99, -1):
        unknown = gateway.post(f"{url}/hazards/{index}/rectify", headers=bearer(token))
        assert unknown.status_code == 404 and unknown.json()["code"] == "hazard_not_found"
    audit = stack.sql(
        "SELECT action, note FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at", item["id"]
    )
    assert [(a["action"], a["note"]) for a in audit] == [
        ("safety_patrol.create", None),
        ("safety_patrol.rectify_hazard", "hazard 1"),
        ("safety_patrol.rectify_hazard", "hazard 0"),
    ]


@pytest.mark.parametrize(
    ("rectified_on", "field"),
    [(Day(+1), "rectified_on"), (Day(-30), "rectified_on"), ("soon", "rectified_on")],
    ids=["tomorrow", "before_the_patrol", "not_a_date"],
)
def test_rectify_date_must_be_between_patrol_and_today(
    gateway: httpx.Client, site: dict, rectified_on: Day | str, field: str
) -> None:
    token = site["operator_token"]
    item = gateway.post(PATROLS, json=patrol(site["site"]["id"]), headers=bearer(token)).json()
    response = gateway.post(
        f"{PATROLS}/{item['id']}/hazards/0/rectify",
        json={"rectified_on": resolve(rectified_on)},
        headers=bearer(token),
    )
    assert field in error_fields(response)
    assert (
        gateway.get(f"{PATROLS}/{item['id']}", headers=bearer(token)).json()["hazards"][0]["rectified_on"]
        is None
    )


def test_rectify_roles_and_scope(gateway: httpx.Client, district_token: str, site: dict, other: dict) -> None:
    item = gateway.post(
        PATROLS, json=patrol(site["site"]["id"]), headers=bearer(site["operator_token"])
    ).json()
    url = f"{PATROLS}/{item['id']}/hazards/0/rectify"
    not_yours = gateway.post(url, headers=bearer(other["operator_token"]))
    assert not_yours.status_code == 404 and not_yours.json()["code"] == "safety_patrol_not_found"
    street_xx = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    assert gateway.post(url, headers=bearer(street_xx)).status_code == 403
    assert gateway.post(url, headers=bearer(district_token)).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"patrolled_on": Day(+1)}, "patrolled_on"),
        ({"inspector": ""}, "inspector"),
        ({"hazards": [{"description": "x", "due_on": Day(-25)}]}, "hazards.0.due_on"),
        (
            {"hazards": [{"description": "x", "due_on": Day(-10), "rectified_on": Day(-21)}]},
            "hazards.0.rectified_on",
        ),
        ({"hazards": [{"description": "", "due_on": Day(-10)}]}, "hazards.0.description"),
        ({"hazards": [{"description": "x"}]}, "hazards.0.due_on"),
        ({"hazards": [{"description": "x", "due_on": Day(-10), "owner": "me"}]}, "hazards.0.owner"),
    ],
)
def test_patrol_bad_input_names_the_field(
    gateway: httpx.Client, site: dict, overrides: dict, field: str
) -> None:
    response = gateway.post(
        PATROLS, json=patrol(site["site"]["id"], **resolve(overrides)), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_patrol_update_replaces_hazards_and_checks_dates(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    item = gateway.post(PATROLS, json=patrol(site["site"]["id"]), headers=bearer(token)).json()
    url = f"{PATROLS}/{item['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    # Moving the patrol after a hazard's due date would make that hazard impossible.
    bad = gateway.patch(url, json={"patrolled_on": days_ago(14)}, headers={**bearer(token), "If-Match": etag})
    assert "hazards.0.due_on" in error_fields(bad)
    replaced = gateway.patch(
        url,
        json={"has_record": False, "hazards": [{"description": "配电箱未上锁", "due_on": days_ago(-3)}]},
        headers={**bearer(token), "If-Match": etag},
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["has_record"] is False
    assert body["hazards"] == [
        {
            "index": 0,
            "description": "配电箱未上锁",
            "due_on": days_ago(-3),
            "rectified_on": None,
            "overdue": False,
        }
    ]
    deleted = gateway.delete(url, headers={**bearer(token), "If-Match": replaced.headers["etag"]})
    assert deleted.status_code == 204
    assert gateway.post(f"{url}/hazards/0/rectify", headers=bearer(token)).status_code == 404
