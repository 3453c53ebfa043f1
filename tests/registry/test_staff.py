"""`/api/v1/registry/staff` (5.2 运营人员) and trainings through the gateway: roles, site scope,
If-Match, and the 5.2.3 training shortfall (certified staff below 50 hours a year)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.clock import Day, day, resolve, today
from tests.conftest import RunningStack, bearer
from tests.registry.factories import (
    create_contract,
    error_fields,
    integration_token,
    operated_site,
    user_token,
)

STAFF = "/api/v1/registry/staff"


def add_staff(gateway: httpx.Client, token: str, site_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "site_id": site_id,
        "name": f"社工{uuid.uuid4().hex[:4]}",
        "position": "项目社工",
        "full_time": True,
        "certificate": "intermediate",
        "certificate_no": f"ZJ{uuid.uuid4().hex[:10]}",
        "active_from": "2024-03-01",
        **overrides,
    }
    response = gateway.post(STAFF, json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def add_training(gateway: httpx.Client, token: str, staff_id: str, day: str, hours: str) -> dict[str, Any]:
    response = gateway.post(
        f"{STAFF}/{staff_id}/trainings",
        json={"date": day, "topic": "社会工作继续教育", "hours": hours},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    return response.json()


def listed(gateway: httpx.Client, token: str, **params: Any) -> dict[str, dict[str, Any]]:
    response = gateway.get(STAFF, params={"limit": 200, **params}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return {s["id"]: s for s in response.json()["items"]}


def etag_of(gateway: httpx.Client, token: str, staff_id: str) -> str:
    response = gateway.get(f"{STAFF}/{staff_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def assert_hidden_staff(gateway: httpx.Client, token: str, staff_id: str, suffix: str = "") -> None:
    headers = {**bearer(token), "X-Request-ID": "staff-scope-check-0001"}
    hidden = gateway.get(f"{STAFF}/{staff_id}{suffix}", headers=headers)
    missing = gateway.get(f"{STAFF}/{uuid.uuid4()}{suffix}", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == "staff_not_found"
    assert hidden.content == missing.content


@pytest.fixture(scope="module")
def world(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """Org A operates two 西兴 (XX) sites, org B one 长河 (CH) site; one staff member on each."""
    a = operated_site(gateway, district_token, "XX")
    b = operated_site(gateway, district_token, "CH")
    second = operated_site(gateway, district_token, "XX")  # a second XX site, then handed to org A
    create_contract(gateway, district_token, second["site"]["id"], a["organization"]["id"])
    operator_a = user_token(gateway, district_token, "operator", organization_id=a["organization"]["id"])
    return {
        "site_a": a["site"],
        "site_a2": second["site"],
        "site_b": b["site"],
        "operator_a": operator_a,
        "operator_b": b["operator_token"],
        "staff_a": add_staff(gateway, operator_a, a["site"]["id"], name="王晓梅"),
        "staff_b": add_staff(
            gateway, b["operator_token"], b["site"]["id"], name="李建国", certificate="junior"
        ),
        "evaluator": user_token(
            gateway, district_token, "evaluator", organization_id=b["organization"]["id"]
        ),
        "integration": integration_token(gateway, district_token),
    }


# --- POST /staff --------------------------------------------------------------------------------


def test_operator_adds_staff_to_its_site(
    gateway: httpx.Client, world: dict[str, Any], stack: RunningStack
) -> None:
    response = gateway.post(
        STAFF,
        json={
            "site_id": world["site_a"]["id"],
            "name": "陈思远",
            "position": "站点负责人",
            "full_time": False,
            "certificate": "senior",
            "certificate_no": "ZJ2023-0001",
            "active_from": "2025-01-01",
            "active_until": "2030-12-31",
        },
        headers=bearer(world["operator_a"]),
    )
    assert response.status_code == 201, response.text
    staff = response.json()
    assert staff["site_id"] == world["site_a"]["id"]
    assert (staff["name"], staff["position"], staff["full_time"]) == ("陈思远", "站点负责人", False)
    assert (staff["certificate"], staff["certificate_no"]) == ("senior", "ZJ2023-0001")
    assert (staff["active_from"], staff["active_until"]) == ("2025-01-01", "2030-12-31")
    assert staff["active"] is True
    assert staff["training_year"] == today().year
    assert staff["training_hours"] == "0.0" and staff["training_shortfall"] is True
    assert staff["version"] == 1 and response.headers["etag"]
    rows = stack.sql(
        "SELECT actor_role, after->>'name' AS name FROM registry.audit_log "
        "WHERE action = 'staff.create' AND object_id = $1",
        staff["id"],
    )
    assert [(r["actor_role"], r["name"]) for r in rows] == [("operator", "陈思远")]


def test_district_adds_staff_anywhere(
    gateway: httpx.Client, district_token: str, world: dict[str, Any]
) -> None:
    staff = add_staff(gateway, district_token, world["site_b"]["id"], certificate="none", certificate_no=None)
    assert staff["site_id"] == world["site_b"]["id"]
    assert staff["certificate"] == "none" and staff["training_shortfall"] is False


def test_operator_cannot_add_staff_to_a_site_it_does_not_operate(
    gateway: httpx.Client, world: dict[str, Any], stack: RunningStack
) -> None:
    for site_id in (world["site_b"]["id"], str(uuid.uuid4())):
        response = gateway.post(
            STAFF,
            json={"site_id": site_id, "name": "越权", "active_from": "2025-01-01"},
            headers=bearer(world["operator_a"]),
        )
        assert error_fields(response) == {"site_id"}
    assert stack.sql("SELECT 1 FROM registry.staff WHERE name = '越权'") == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"active_from": "2025-06-01", "active_until": "2025-05-31"}, "active_until"),
        ({"certificate": "master"}, "certificate"),
        ({"name": ""}, "name"),
        ({"name": "名" * 51}, "name"),
        ({"active_from": "2025-02-29"}, "active_from"),
        ({"full_time": "sometimes"}, "full_time"),
        ({"salary": "8000"}, "salary"),
    ],
)
def test_create_staff_bad_input(
    gateway: httpx.Client, world: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    body = {"site_id": world["site_a"]["id"], "name": "坏输入", "active_from": "2025-01-01", **overrides}
    assert error_fields(gateway.post(STAFF, json=body, headers=bearer(world["operator_a"]))) == {field}


@pytest.mark.parametrize("who", ["street", "evaluator", "integration"])
def test_create_staff_refused_roles(
    gateway: httpx.Client, street_token: str, world: dict[str, Any], stack: RunningStack, who: str
) -> None:
    token = street_token if who == "street" else world[who]
    name = f"拒{uuid.uuid4().hex[:6]}"
    body = {"site_id": world["site_a"]["id"], "name": name, "active_from": "2025-01-01"}
    assert gateway.post(STAFF, json=body, headers=bearer(token)).status_code == 403
    assert stack.sql("SELECT 1 FROM registry.staff WHERE name = $1", name) == []


# --- GET /staff, GET /staff/{id} ----------------------------------------------------------------


def test_street_sees_only_its_streets_staff(
    gateway: httpx.Client, street_token: str, world: dict[str, Any]
) -> None:
    mine = listed(gateway, street_token)
    assert world["staff_a"]["id"] in mine and world["staff_b"]["id"] not in mine
    assert all(s["site_id"] != world["site_b"]["id"] for s in mine.values())
    assert listed(gateway, street_token, site_id=world["site_b"]["id"]) == {}
    got = gateway.get(f"{STAFF}/{world['staff_a']['id']}", headers=bearer(street_token))
    assert got.status_code == 200 and got.json()["name"] == "王晓梅"
    assert_hidden_staff(gateway, street_token, world["staff_b"]["id"])
    assert_hidden_staff(gateway, street_token, world["staff_b"]["id"], "/trainings")


def test_operator_sees_only_its_sites_staff(gateway: httpx.Client, world: dict[str, Any]) -> None:
    a_sites = {world["site_a"]["id"], world["site_a2"]["id"]}
    mine = listed(gateway, world["operator_a"])
    assert world["staff_a"]["id"] in mine and world["staff_b"]["id"] not in mine
    assert {s["site_id"] for s in mine.values()} <= a_sites
    assert listed(gateway, world["operator_a"], site_id=world["site_b"]["id"]) == {}
    assert set(listed(gateway, world["operator_b"])) >= {world["staff_b"]["id"]}
    assert world["staff_a"]["id"] not in listed(gateway, world["operator_b"])
    assert_hidden_staff(gateway, world["operator_a"], world["staff_b"]["id"])
    assert_hidden_staff(gateway, world["operator_b"], world["staff_a"]["id"])


def test_evaluator_sees_only_the_sites_of_its_claim(gateway: httpx.Client, world: dict[str, Any]) -> None:
    # This evaluator has no assignment, so its `sites` claim is empty: it sees no staff at all.
    assert listed(gateway, world["evaluator"]) == {}
    assert_hidden_staff(gateway, world["evaluator"], world["staff_b"]["id"])


def test_district_and_integration_see_everyone(
    gateway: httpx.Client, district_token: str, world: dict[str, Any]
) -> None:
    for token in (district_token, world["integration"]):
        everyone = listed(gateway, token)
        assert {world["staff_a"]["id"], world["staff_b"]["id"]} <= set(everyone)
        got = gateway.get(f"{STAFF}/{world['staff_b']['id']}", headers=bearer(token))
        assert got.status_code == 200 and got.json()["certificate"] == "junior"


def test_list_filters(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    site = world["site_a2"]["id"]
    senior = add_staff(gateway, district_token, site, certificate="senior")
    none = add_staff(gateway, district_token, site, certificate="none", certificate_no=None)
    left = add_staff(gateway, district_token, site, active_from="2020-01-01", active_until="2021-06-30")
    starts_later = add_staff(gateway, district_token, site, active_from=day(+30))
    assert set(listed(gateway, district_token, site_id=site)) == {
        senior["id"],
        none["id"],
        left["id"],
        starts_later["id"],
    }
    assert set(listed(gateway, district_token, site_id=site, certificate="senior")) == {senior["id"]}
    assert set(listed(gateway, district_token, site_id=site, certificate="none")) == {none["id"]}
    active = listed(gateway, district_token, site_id=site, active="true")
    assert set(active) == {senior["id"], none["id"]} and all(s["active"] for s in active.values())
    inactive = listed(gateway, district_token, site_id=site, active="false")
    assert set(inactive) == {left["id"], starts_later["id"]}
    assert not any(s["active"] for s in inactive.values())


@pytest.mark.parametrize(
    ("params", "field"),
    [({"certificate": "phd"}, "certificate"), ({"year": 1999}, "year"), ({"active": "maybe"}, "active")],
)
def test_list_bad_filters(
    gateway: httpx.Client, district_token: str, params: dict[str, Any], field: str
) -> None:
    assert error_fields(gateway.get(STAFF, params=params, headers=bearer(district_token))) == {field}


def test_staff_need_a_token(gateway: httpx.Client) -> None:
    assert gateway.get(STAFF).status_code == 401


# --- 5.2.3 training hours and shortfall ---------------------------------------------------------


def test_training_shortfall_worked_example(
    gateway: httpx.Client, district_token: str, world: dict[str, Any]
) -> None:
    """Certified with 49.5 h → flagged; certified with 50 h → fine; uncertified with 0 h → fine."""
    this_year = today().year
    last_year = this_year - 1
    token = world["operator_a"]
    site = world["site_a2"]["id"]
    short = add_staff(gateway, token, site, certificate="intermediate")
    enough = add_staff(gateway, token, site, certificate="junior")
    uncertified = add_staff(gateway, token, site, certificate="none", certificate_no=None)
    for on, hours in (
        (f"{last_year}-03-02", "24"),
        (f"{last_year}-06-15", "24"),
        (f"{last_year}-12-31", "1.5"),
    ):
        add_training(gateway, token, short["id"], on, hours)
    for on, hours in (
        (f"{last_year}-01-01", "24"),
        (f"{last_year}-05-20", "24"),
        (f"{last_year}-09-09", "2"),
    ):
        add_training(gateway, token, enough["id"], on, hours)
    # Other years must not count towards the last one.
    add_training(gateway, token, short["id"], f"{last_year - 1}-12-31", "10")
    add_training(gateway, token, short["id"], f"{this_year}-01-01", "3.5")

    def row(staff: dict[str, Any], **params: Any) -> dict[str, Any]:
        return listed(gateway, district_token, site_id=site, **params)[staff["id"]]

    last = {s["id"]: row(s, year=last_year) for s in (short, enough, uncertified)}
    assert (last[short["id"]]["training_hours"], last[short["id"]]["training_shortfall"]) == ("49.5", True)
    assert (last[enough["id"]]["training_hours"], last[enough["id"]]["training_shortfall"]) == ("50.0", False)
    assert (last[uncertified["id"]]["training_hours"], last[uncertified["id"]]["training_shortfall"]) == (
        "0.0",
        False,
    )
    assert all(r["training_year"] == last_year for r in last.values())

    earlier = row(short, year=last_year - 1)
    assert (earlier["training_hours"], earlier["training_shortfall"], earlier["training_year"]) == (
        "10.0",
        True,
        last_year - 1,
    )
    current = row(short)  # no year: the current year
    assert (current["training_hours"], current["training_year"]) == ("3.5", this_year)
    assert row(enough)["training_hours"] == "0.0" and row(enough)["training_shortfall"] is True

    one = gateway.get(f"{STAFF}/{short['id']}", params={"year": last_year}, headers=bearer(token)).json()
    assert (one["training_hours"], one["training_shortfall"]) == ("49.5", True)

    trainings = gateway.get(f"{STAFF}/{short['id']}/trainings", headers=bearer(token)).json()["items"]
    assert [t["date"] for t in trainings] == sorted(t["date"] for t in trainings)
    assert [t["hours"] for t in trainings] == ["10.0", "24.0", "24.0", "1.5", "3.5"]
    in_year = gateway.get(
        f"{STAFF}/{short['id']}/trainings", params={"year": last_year}, headers=bearer(token)
    ).json()["items"]
    assert [t["hours"] for t in in_year] == ["24.0", "24.0", "1.5"]


# --- POST/GET /staff/{id}/trainings -------------------------------------------------------------


def test_record_a_training(gateway: httpx.Client, world: dict[str, Any], stack: RunningStack) -> None:
    staff = add_staff(gateway, world["operator_a"], world["site_a"]["id"])
    on = day(0)
    training = add_training(gateway, world["operator_a"], staff["id"], on, "24")
    assert training["staff_id"] == staff["id"]
    assert (training["date"], training["topic"], training["hours"]) == (
        on,
        "社会工作继续教育",
        "24.0",
    )
    rows = stack.sql(
        "SELECT actor_role, after->>'staff_id' AS staff FROM registry.audit_log "
        "WHERE action = 'staff.training' AND object_id = $1",
        training["id"],
    )
    assert [(r["actor_role"], r["staff"]) for r in rows] == [("operator", staff["id"])]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hours": "0"}, "hours"),
        ({"hours": "25"}, "hours"),
        ({"hours": "-1"}, "hours"),
        ({"hours": "1.25"}, "hours"),
        ({"date": Day(+1)}, "date"),
        ({"date": "2025-02-30"}, "date"),
        ({"topic": ""}, "topic"),
        ({"trainer": "张老师"}, "trainer"),
    ],
)
def test_training_bad_input(
    gateway: httpx.Client, world: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    payload = {"date": day(0), "topic": "消防安全培训", "hours": "2", **resolve(body)}
    response = gateway.post(
        f"{STAFF}/{world['staff_a']['id']}/trainings", json=payload, headers=bearer(world["operator_a"])
    )
    assert error_fields(response) == {field}


@pytest.mark.parametrize("who", ["street", "evaluator", "integration"])
def test_training_refused_roles(
    gateway: httpx.Client, street_token: str, world: dict[str, Any], stack: RunningStack, who: str
) -> None:
    token = street_token if who == "street" else world[who]
    topic = f"拒绝-{uuid.uuid4().hex[:6]}"
    response = gateway.post(
        f"{STAFF}/{world['staff_a']['id']}/trainings",
        json={"date": day(0), "topic": topic, "hours": "2"},
        headers=bearer(token),
    )
    assert response.status_code == 403
    assert stack.sql("SELECT 1 FROM registry.staff_trainings WHERE topic = $1", topic) == []


def test_training_of_another_operators_staff_is_404(gateway: httpx.Client, world: dict[str, Any]) -> None:
    response = gateway.post(
        f"{STAFF}/{world['staff_b']['id']}/trainings",
        json={"date": day(0), "topic": "越权", "hours": "2"},
        headers=bearer(world["operator_a"]),
    )
    assert response.status_code == 404 and response.json()["code"] == "staff_not_found"


def test_street_reads_trainings_of_its_staff(
    gateway: httpx.Client, street_token: str, district_token: str, world: dict[str, Any]
) -> None:
    staff = add_staff(gateway, district_token, world["site_a"]["id"])
    add_training(gateway, district_token, staff["id"], f"{today().year - 1}-04-01", "6")
    response = gateway.get(f"{STAFF}/{staff['id']}/trainings", headers=bearer(street_token))
    assert response.status_code == 200
    assert [t["hours"] for t in response.json()["items"]] == ["6.0"]


# --- PATCH /staff/{id} --------------------------------------------------------------------------


def test_update_staff(gateway: httpx.Client, world: dict[str, Any], stack: RunningStack) -> None:
    token = world["operator_a"]
    staff = add_staff(gateway, token, world["site_a"]["id"], certificate="junior")
    etag = etag_of(gateway, token, staff["id"])
    response = gateway.patch(
        f"{STAFF}/{staff['id']}",
        json={
            "certificate": "intermediate",
            "position": "督导",
            "site_id": world["site_a2"]["id"],  # another site the same operator runs
            "active_until": "2030-06-30",
        },
        headers={**bearer(token), "If-Match": etag},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["certificate"], updated["position"]) == ("intermediate", "督导")
    assert updated["site_id"] == world["site_a2"]["id"]
    assert updated["active_until"] == "2030-06-30" and updated["name"] == staff["name"]
    assert updated["version"] == 2 and response.headers["etag"] != etag
    assert gateway.get(f"{STAFF}/{staff['id']}", headers=bearer(token)).json() == updated
    rows = stack.sql(
        "SELECT before->>'certificate' AS before, after->>'certificate' AS after FROM registry.audit_log "
        "WHERE action = 'staff.update' AND object_id = $1",
        staff["id"],
    )
    assert [(r["before"], r["after"]) for r in rows] == [("junior", "intermediate")]
    # active_until can be cleared again.
    cleared = gateway.patch(
        f"{STAFF}/{staff['id']}",
        json={"active_until": None},
        headers={**bearer(token), "If-Match": response.headers["etag"]},
    )
    assert cleared.status_code == 200 and cleared.json()["active_until"] is None


def test_update_needs_if_match(gateway: httpx.Client, world: dict[str, Any]) -> None:
    token = world["operator_a"]
    staff = add_staff(gateway, token, world["site_a"]["id"])
    path = f"{STAFF}/{staff['id']}"
    missing = gateway.patch(path, json={"position": "一"}, headers=bearer(token))
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    etag = etag_of(gateway, token, staff["id"])
    assert (
        gateway.patch(path, json={"position": "二"}, headers={**bearer(token), "If-Match": etag}).status_code
        == 200
    )
    stale = gateway.patch(path, json={"position": "三"}, headers={**bearer(token), "If-Match": etag})
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert gateway.get(path, headers=bearer(token)).json()["position"] == "二"


def test_operator_cannot_move_staff_to_a_site_it_does_not_operate(
    gateway: httpx.Client, world: dict[str, Any]
) -> None:
    token = world["operator_a"]
    staff = add_staff(gateway, token, world["site_a"]["id"])
    etag = etag_of(gateway, token, staff["id"])
    for site_id in (world["site_b"]["id"], str(uuid.uuid4())):
        response = gateway.patch(
            f"{STAFF}/{staff['id']}", json={"site_id": site_id}, headers={**bearer(token), "If-Match": etag}
        )
        assert error_fields(response) == {"site_id"}
    after = gateway.get(f"{STAFF}/{staff['id']}", headers=bearer(token))
    assert after.json()["site_id"] == world["site_a"]["id"] and after.headers["etag"] == etag


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"active_until": "2024-02-29"}, "active_until"),  # before active_from 2024-03-01
        ({"active_from": "2031-01-01"}, "active_from"),  # after active_until 2030-12-31
        ({"name": None}, "name"),
        ({"certificate": "expert"}, "certificate"),
        ({"training_hours": 60}, "training_hours"),
    ],
)
def test_update_bad_input(
    gateway: httpx.Client, district_token: str, world: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    staff = add_staff(gateway, district_token, world["site_a"]["id"], active_until="2030-12-31")
    etag = etag_of(gateway, district_token, staff["id"])
    response = gateway.patch(
        f"{STAFF}/{staff['id']}", json=body, headers={**bearer(district_token), "If-Match": etag}
    )
    assert error_fields(response) == {field}


@pytest.mark.parametrize("who", ["street", "evaluator", "integration"])
def test_update_refused_roles(
    gateway: httpx.Client, district_token: str, street_token: str, world: dict[str, Any], who: str
) -> None:
    token = street_token if who == "street" else world[who]
    staff_id = world["staff_a"]["id"]
    etag = etag_of(gateway, district_token, staff_id)
    response = gateway.patch(
        f"{STAFF}/{staff_id}", json={"name": "越权"}, headers={**bearer(token), "If-Match": etag}
    )
    assert response.status_code == 403
    assert gateway.get(f"{STAFF}/{staff_id}", headers=bearer(district_token)).json()["name"] == "王晓梅"


def test_update_of_another_operators_staff_is_404(
    gateway: httpx.Client, district_token: str, world: dict[str, Any]
) -> None:
    staff_id = world["staff_b"]["id"]
    etag = etag_of(gateway, district_token, staff_id)
    response = gateway.patch(
        f"{STAFF}/{staff_id}",
        json={"name": "越权"},
        headers={**bearer(world["operator_a"]), "If-Match": etag},
    )
    assert response.status_code == 404 and response.json()["code"] == "staff_not_found"
    assert gateway.get(f"{STAFF}/{staff_id}", headers=bearer(district_token)).json()["name"] == "李建国"
