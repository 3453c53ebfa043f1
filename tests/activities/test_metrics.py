"""`/api/v1/activities/metrics` — the Table C.1 inputs, counted on hand-built data with their record ids."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest

from services.common.settings import DEFAULT_SERVICE_SECRET
from tests.clock import SHANGHAI, utc_now
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import error_fields, integration_token, operated_site, user_token

METRICS = "/api/v1/activities/metrics"
PERIOD = {"from": "2026-01-01", "to": "2026-06-30"}
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
JSONB_COLUMNS = {"evidence", "items", "hazards"}
SIGN_IN = {"kind": "sign_in_sheet", "uri": "s3://evidence/sign-in.jpg", "sha256": "0" * 64}
PHOTO = {"kind": "photo", "uri": "s3://evidence/photo.jpg", "sha256": "1" * 64}
NOTICE = {"kind": "notice", "uri": "s3://evidence/notice.pdf", "sha256": "2" * 64}


def insert(stack: RunningStack, table: str, site_id: str, **values: Any) -> str:
    """One row written straight into the activities schema (the data the metrics read)."""
    now = utc_now()
    row_id = uuid.uuid4()
    columns = {
        "id": row_id,
        "site_id": uuid.UUID(site_id),
        "created_by": "test",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        **{k: json.dumps(v) if k in JSONB_COLUMNS else v for k, v in values.items()},
    }
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    # Table and column names come from this test module, never from input.
    query = f"INSERT INTO activities.{table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
    stack.sql(query, *columns.values())
    return str(row_id)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def ids(*names: str, of: dict[str, str]) -> dict[str, Any]:
    return {"count": len(names), "ids": [of[n] for n in names]}


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def data(stack: RunningStack, site: dict, gateway: httpx.Client, district_token: str) -> dict[str, str]:
    """Half a year of one site's logs, with records just outside the period and at another site."""
    sid = site["site"]["id"]
    elsewhere = operated_site(gateway, district_token)["site"]["id"]
    r: dict[str, str] = {}

    def activity(
        name: str,
        starts: str,
        attendance: int,
        *,
        theme: bool = True,
        evidence: Any = None,
        at_site: str = sid,
    ) -> None:
        starts_at = at(starts)
        kinds = {e["kind"] for e in (evidence if evidence is not None else [SIGN_IN, PHOTO])}
        r[name] = insert(
            stack,
            "activities",
            at_site,
            category="culture",
            title=name,
            is_theme=theme,
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(hours=2),
            location="共享大厅",
            attendance=attendance,
            target_groups=[],
            partner_org_ids=[],
            evidence=evidence if evidence is not None else [SIGN_IN, PHOTO],
            has_sign_in_sheet="sign_in_sheet" in kinds,
            has_photo="photo" in kinds,
        )

    # January: five counted theme activities (49/50/100/101 at the size boundaries), one theme activity
    # without a photo, one large activity that is not a theme activity.
    activity("jan_49", "2026-01-03 09:00", 49)
    activity("jan_50", "2026-01-05 09:00", 50)
    activity("jan_no_photo", "2026-01-06 09:00", 60, evidence=[SIGN_IN, NOTICE])
    activity("jan_100", "2026-01-10 09:00", 100)
    activity("jan_101", "2026-01-12 09:00", 101)
    activity("jan_not_theme", "2026-01-15 09:00", 150, theme=False)
    activity("jan_20", "2026-01-31 23:30", 20)
    # February: only four theme activities.
    for n in range(4):
        activity(f"feb_{n}", f"2026-02-{n + 2:02d} 19:00", 10)
    activity("jun_last_minutes", "2026-06-30 23:30", 30)
    activity("before", "2025-12-31 23:59", 120)
    activity("after", "2026-07-01 00:00", 120)
    activity("other_site", "2026-01-20 09:00", 80, at_site=elsewhere)

    client = {
        "client_name": "张三",
        "client_phone": None,
        "client_id_number_masked": None,
        "client_id_number_hash": None,
    }
    r["case_in"] = insert(
        stack,
        "cases",
        sid,
        target_group="elderly",
        opened_on=day("2026-03-01"),
        closed_on=None,
        stage="intervention",
        sessions=3,
        summary="",
        **client,
    )
    r["case_before"] = insert(
        stack,
        "cases",
        sid,
        target_group="elderly",
        opened_on=day("2025-12-31"),
        closed_on=None,
        stage="intake",
        sessions=0,
        summary="",
        **client,
    )
    r["group_in"] = insert(
        stack,
        "groups",
        sid,
        name="亲子阅读小组",
        target_group="children_youth",
        opened_on=day("2026-06-30"),
        closed_on=None,
        stage="plan",
        sessions=1,
        members=8,
        summary="",
    )

    def deliberation(name: str, held_on: str, rules: str, resolution: str, status: str) -> None:
        r[name] = insert(
            stack,
            "deliberations",
            sid,
            held_on=day(held_on),
            topic=name,
            form="residents_council",
            participants=12,
            rules=rules,
            resolution=resolution,
            execution_status=status,
        )

    deliberation("delib_complete", "2026-02-01", "一人一票", "增设车位", "done")
    deliberation("delib_not_executed", "2026-03-01", "一人一票", "增设车位", "in_progress")
    deliberation("delib_no_rules", "2026-04-01", "  ", "加装电梯", "done")
    deliberation("delib_after", "2026-07-01", "一人一票", "增设车位", "done")

    for name, registered in [
        ("vol_old", "2025-06-01"),
        ("vol_last_day", "2026-06-30"),
        ("vol_after", "2026-07-01"),
    ]:
        r[name] = insert(stack, "volunteers", sid, name="志愿者", phone=None, registered_on=day(registered))
    for name, date, hours in [
        ("hours_jan", "2026-01-15", "3.5"),
        ("hours_jun", "2026-06-30", "2"),
        ("hours_jul", "2026-07-01", "5"),
    ]:
        r[name] = insert(
            stack,
            "volunteer_hours",
            sid,
            volunteer_id=uuid.UUID(r["vol_old"]),
            activity_id=None,
            date=day(date),
            hours=hours,
        )

    for name, held_on, has_record in [
        ("training_ok", "2026-01-10", True),
        ("training_no_record", "2026-02-10", False),
        ("training_before", "2025-12-10", True),
    ]:
        r[name] = insert(
            stack,
            "safety_trainings",
            sid,
            held_on=day(held_on),
            topic="消防培训",
            attendance=20,
            has_record=has_record,
        )
    r["patrol_jan"] = insert(
        stack,
        "safety_patrols",
        sid,
        patrolled_on=day("2026-01-15"),
        inspector="王安全",
        has_record=True,
        hazards=[
            {"description": "疏散通道堆物", "due_on": "2026-01-20", "rectified_on": None},
            {"description": "灭火器过期", "due_on": "2026-01-25", "rectified_on": "2026-01-22"},
        ],
    )
    r["patrol_mar"] = insert(
        stack,
        "safety_patrols",
        sid,
        patrolled_on=day("2026-03-03"),
        inspector="王安全",
        has_record=False,
        hazards=[{"description": "应急灯损坏", "due_on": "2026-03-10", "rectified_on": "2026-03-12"}],
    )
    r["patrol_after"] = insert(
        stack,
        "safety_patrols",
        sid,
        patrolled_on=day("2026-07-02"),
        inspector="王安全",
        has_record=True,
        hazards=[{"description": "x", "due_on": "2026-07-03", "rectified_on": None}],
    )

    def plan(name: str, month: str, published: str | None) -> None:
        first = day(f"{month}-01")
        r[name] = insert(
            stack,
            "activity_plans",
            sid,
            month=first,
            items=[],
            published_at=at(published) if published else None,
            # As publishing sets it: on or after the first day of the month (Asia/Shanghai).
            published_late=published is not None and at(published).date() >= first,
        )

    plan("plan_jan", "2026-01", "2025-12-20 10:00")
    plan("plan_feb", "2026-02", "2026-02-01 00:00")  # the month had begun: late
    plan("plan_mar", "2026-03", "2026-02-28 23:59")
    plan("plan_apr", "2026-04", None)
    plan("plan_jun", "2026-06", "2026-06-15 10:00")
    plan("plan_jul", "2026-07", "2026-06-20 10:00")

    def brand(name: str, kind: str, started: str, implemented: bool) -> None:
        r[name] = insert(
            stack,
            "brand_projects",
            sid,
            kind=kind,
            title=name,
            started_on=day(started),
            implemented=implemented,
            description="",
        )

    brand("overall", "overall_brand", "2026-01-05", False)
    brand("project_done", "service_project", "2026-02-01", True)
    brand("project_planned", "service_project", "2026-03-01", False)
    brand("project_before", "service_project", "2025-05-01", True)

    def recognition(name: str, kind: str, level: str, date: str) -> None:
        r[name] = insert(
            stack, "recognitions", sid, kind=kind, level=level, date=day(date), title=name, evidence=[]
        )

    recognition("exchange_city", "exchange", "city", "2026-02-01")
    recognition("exchange_province", "exchange", "province", "2026-03-01")
    recognition("exchange_province_2", "exchange", "province", "2026-05-01")
    recognition("media_district", "media", "district", "2026-01-01")
    recognition("honour_before", "honour", "national", "2025-12-01")
    return r


@pytest.fixture(scope="module")
def metrics(gateway: httpx.Client, district_token: str, site: dict, data: dict[str, str]) -> dict[str, Any]:
    response = gateway.get(
        METRICS, params={"site_id": site["site"]["id"], **PERIOD}, headers=bearer(district_token)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_period_and_months(metrics: dict, site: dict) -> None:
    assert (metrics["site_id"], metrics["from"], metrics["to"]) == (
        site["site"]["id"],
        "2026-01-01",
        "2026-06-30",
    )
    assert metrics["months"] == MONTHS


def test_theme_activities_per_month_with_and_without_evidence(metrics: dict, data: dict[str, str]) -> None:
    themes = metrics["themes"]
    per_month = {m["month"]: m for m in themes["per_month"]}
    assert list(per_month) == MONTHS
    assert per_month["2026-01"]["with_evidence"] == ids(
        "jan_49", "jan_50", "jan_100", "jan_101", "jan_20", of=data
    )
    assert per_month["2026-01"]["without_evidence"] == ids("jan_no_photo", of=data)
    assert per_month["2026-02"]["with_evidence"] == ids("feb_0", "feb_1", "feb_2", "feb_3", of=data)
    assert per_month["2026-03"]["with_evidence"] == {"count": 0, "ids": []}
    assert per_month["2026-06"]["with_evidence"] == ids("jun_last_minutes", of=data)
    assert themes["with_evidence"]["count"] == 10
    assert themes["without_evidence"] == ids("jan_no_photo", of=data)
    # Sizes among the counted theme activities: 49 is too small, 101 is "more than 100".
    assert themes["attendance_50_100"] == ids("jan_50", "jan_100", of=data)
    assert themes["attendance_over_100"] == ids("jan_101", of=data)


def test_all_activities_by_size(metrics: dict, data: dict[str, str]) -> None:
    activities = metrics["activities"]
    assert activities["total"] == 12
    assert activities["attendance_50_100"] == ids("jan_50", "jan_no_photo", "jan_100", of=data)
    assert activities["attendance_over_100"] == ids("jan_101", "jan_not_theme", of=data)


def test_casework_deliberations_volunteers(metrics: dict, data: dict[str, str]) -> None:
    assert metrics["casework"] == {
        "cases": ids("case_in", of=data),
        "groups": ids("group_in", of=data),
        "cases_and_groups": 2,
    }
    assert metrics["deliberations"] == {
        "complete": ids("delib_complete", of=data),
        "incomplete": ids("delib_not_executed", "delib_no_rules", of=data),
    }
    assert metrics["volunteers"] == {
        "registered": ids("vol_old", "vol_last_day", of=data),
        "hours": "5.5",
        "hour_entries": ids("hours_jan", "hours_jun", of=data),
    }


def test_safety(metrics: dict, data: dict[str, str]) -> None:
    safety = metrics["safety"]
    assert safety["trainings"] == {
        "with_record": ids("training_ok", of=data),
        "without_record": ids("training_no_record", of=data),
    }
    patrols = safety["patrols"]
    assert [(m["month"], m["patrols"]["ids"]) for m in patrols["per_month"]] == [
        ("2026-01", [data["patrol_jan"]]),
        ("2026-02", []),
        ("2026-03", [data["patrol_mar"]]),
        ("2026-04", []),
        ("2026-05", []),
        ("2026-06", []),
    ]
    assert patrols["months_without_patrol"] == ["2026-02", "2026-04", "2026-05", "2026-06"]
    assert patrols["with_record"] == ids("patrol_jan", of=data)
    assert patrols["without_record"] == ids("patrol_mar", of=data)
    # Still open after its due date, and fixed two days late; the one fixed in time is not counted.
    assert safety["hazards"] == {
        "total": 3,
        "overdue_count": 2,
        "overdue": [
            {
                "patrol_id": data["patrol_jan"],
                "index": 0,
                "description": "疏散通道堆物",
                "due_on": "2026-01-20",
                "rectified_on": None,
            },
            {
                "patrol_id": data["patrol_mar"],
                "index": 0,
                "description": "应急灯损坏",
                "due_on": "2026-03-10",
                "rectified_on": "2026-03-12",
            },
        ],
    }


def test_plans_published_before_their_month(metrics: dict, data: dict[str, str]) -> None:
    plans = metrics["plans"]
    assert [(p["month"], p["status"], p["plan_id"]) for p in plans["per_month"]] == [
        ("2026-01", "on_time", data["plan_jan"]),
        ("2026-02", "late", data["plan_feb"]),
        ("2026-03", "on_time", data["plan_mar"]),
        ("2026-04", "unpublished", data["plan_apr"]),
        ("2026-05", "missing", None),
        ("2026-06", "late", data["plan_jun"]),
    ]
    assert plans["on_time"] == ids("plan_jan", "plan_mar", of=data)
    assert plans["late"] == ids("plan_feb", "plan_jun", of=data)
    assert plans["unpublished"] == ids("plan_apr", of=data)
    assert plans["missing_months"] == ["2026-05"]
    assert plans["all_published_before_month"] is False


def test_brand_and_recognition(metrics: dict, data: dict[str, str]) -> None:
    assert metrics["brand"] == {
        "overall_brand": ids("overall", of=data),
        "overall_brand_exists": True,
        "implemented_projects": ids("project_done", of=data),
        "planned_projects": ids("project_planned", of=data),
    }
    recognition = metrics["recognition"]
    assert recognition["exchange"]["highest_level"] == "province"
    assert recognition["exchange"]["highest"] == ids("exchange_province", "exchange_province_2", of=data)
    assert recognition["exchange"]["by_level"]["city"] == ids("exchange_city", of=data)
    assert recognition["exchange"]["by_level"]["national"] == {"count": 0, "ids": []}
    assert recognition["media"]["highest_level"] == "district"
    assert recognition["media"]["highest"] == ids("media_district", of=data)
    assert recognition["honour"] == {
        "highest_level": None,
        "highest": {"count": 0, "ids": []},
        "by_level": {
            level: {"count": 0, "ids": []} for level in ("district", "city", "province", "national")
        },
    }


def test_a_shorter_period_counts_only_its_records(
    gateway: httpx.Client, district_token: str, site: dict, data: dict[str, str]
) -> None:
    response = gateway.get(
        METRICS,
        params={"site_id": site["site"]["id"], "from": "2026-02-01", "to": "2026-02-28"},
        headers=bearer(district_token),
    )
    body = response.json()
    assert body["months"] == ["2026-02"]
    assert body["themes"]["per_month"][0]["with_evidence"]["count"] == 4
    assert body["themes"]["with_evidence"]["count"] == 4 and body["activities"]["total"] == 4
    assert body["plans"]["per_month"] == [
        {
            "month": "2026-02",
            "status": "late",
            "plan_id": data["plan_feb"],
            "published_at": "2026-01-31T16:00:00Z",
        }
    ]
    assert body["safety"]["hazards"] == {"total": 0, "overdue_count": 0, "overdue": []}
    assert body["volunteers"]["registered"]["count"] == 1 and body["volunteers"]["hours"] == "0.0"


def test_service_token_calls_the_service_directly(
    stack: RunningStack, gateway: httpx.Client, site: dict, metrics: dict
) -> None:
    token = gateway.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "service:evaluation",
            "client_secret": DEFAULT_SERVICE_SECRET,
        },
    )
    assert token.status_code == 200, token.text
    response = httpx.get(
        stack.service_url("activities") + "/metrics",
        params={"site_id": site["site"]["id"], **PERIOD},
        headers=bearer(token.json()["access_token"]),
        timeout=20.0,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: v for k, v in body.items() if k != "as_of"} == {
        k: v for k, v in metrics.items() if k != "as_of"
    }


def test_other_roles_are_refused(gateway: httpx.Client, district_token: str, site: dict) -> None:
    params = {"site_id": site["site"]["id"], **PERIOD}
    tokens = [
        site["operator_token"],
        user_token(gateway, district_token, "street", street_id=site["site"]["street_id"]),
        login(gateway, "evaluator")["access_token"],
    ]
    for token in tokens:
        response = gateway.get(METRICS, params=params, headers=bearer(token))
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert gateway.get(METRICS, params=params).status_code == 401
    # Data platforms read everything (SPEC §1), the rubric inputs included.
    platform = gateway.get(METRICS, params=params, headers=bearer(integration_token(gateway, district_token)))
    assert platform.status_code == 200 and platform.json()["site_id"] == site["site"]["id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-07-01", "to": "2026-06-30"}, "to"),
        ({"from": "2024-01-01", "to": "2026-06-30"}, "to"),
        ({"from": "2026-13-01", "to": "2026-06-30"}, "from"),
        ({"to": "2026-06-30"}, "from"),
        ({"from": "2026-01-01"}, "to"),
        ({"site_id": "x", **PERIOD}, "site_id"),
    ],
)
def test_bad_input_names_the_field(
    gateway: httpx.Client, district_token: str, site: dict, params: dict, field: str
) -> None:
    response = gateway.get(
        METRICS, params={"site_id": site["site"]["id"], **params}, headers=bearer(district_token)
    )
    assert field in error_fields(response)


def test_unknown_site(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.get(
        METRICS, params={"site_id": str(uuid.uuid4()), **PERIOD}, headers=bearer(district_token)
    )
    assert response.status_code == 404 and response.json()["code"] == "site_not_found"
