"""`/api/v1/activities/stats` — 社区服务情况统计表 (6.1.2) on hand-built data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tests.clock import SHANGHAI, utc_now
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import error_fields, integration_token, operated_site, user_token

STATS = "/api/v1/activities/stats"
JSONB_COLUMNS = {"evidence", "items", "hazards"}


def insert(stack: RunningStack, table: str, site_id: str, **values: Any) -> str:
    """One row written straight into the activities schema (the data the statistics read)."""
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
    """A Shanghai wall-clock time, e.g. ``2026-09-30 23:30``."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def activity(
    stack: RunningStack, site_id: str, category: str, starts: str, attendance: int, **extra: Any
) -> str:
    starts_at = at(starts)
    return insert(
        stack,
        "activities",
        site_id,
        category=category,
        title=f"{category} {starts}",
        is_theme=extra.pop("is_theme", False),
        starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(minutes=20),
        location="",
        attendance=attendance,
        target_groups=[],
        partner_org_ids=[],
        evidence=extra.pop("evidence", []),
        has_sign_in_sheet=False,
        has_photo=False,
        **extra,
    )


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def neighbour(gateway: httpx.Client, district_token: str) -> dict:
    """Another site of the same street (西兴)."""
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def september(stack: RunningStack, site: dict, neighbour: dict) -> None:
    sid = site["site"]["id"]
    # Activities: both ends of September in Asia/Shanghai belong to it, the minutes around them do not.
    activity(stack, sid, "elderly", "2026-09-01 00:00", 30)
    activity(stack, sid, "elderly", "2026-09-30 23:30", 20)
    activity(stack, sid, "elderly", "2026-08-31 23:59", 99)
    activity(stack, sid, "elderly", "2026-10-01 00:00", 77)
    activity(stack, sid, "culture", "2026-09-15 10:00", 120, is_theme=True)
    activity(stack, sid, "culture", "2026-09-16 10:00", 0)
    activity(stack, sid, "youth", "2026-09-10 14:00", 15)
    activity(stack, neighbour["site"]["id"], "culture", "2026-09-12 09:00", 1000)
    for visited, headcount in [
        ("2026-09-01 00:00", 2),
        ("2026-09-05 10:00", 1),
        ("2026-09-30 23:59", 3),
        ("2026-10-01 00:00", 7),
        ("2026-08-31 23:59", 9),
    ]:
        insert(stack, "visits", sid, visited_at=at(visited), headcount=headcount, purpose="咨询", needs="")
    needs = [
        insert(stack, "needs", sid, recorded_on=dt.date.fromisoformat(day), description="助餐需求")
        for day in ("2026-09-01", "2026-09-30", "2026-08-31")
    ]
    for day, status in [
        ("2026-09-02", "open"),
        ("2026-09-20", "accepted"),
        ("2026-09-21", "accepted"),
        ("2026-09-25", "closed"),
        ("2026-10-01", "closed"),
    ]:
        referred_on = dt.date.fromisoformat(day)
        insert(
            stack,
            "referrals",
            sid,
            need_id=uuid.UUID(needs[0]),
            referred_on=referred_on,
            to_name="街道社区卫生服务中心",
            status=status,
            # Accepting and closing date themselves (ck_referrals_*_when_status).
            accepted_on=referred_on if status != "open" else None,
            closed_on=referred_on if status == "closed" else None,
            outcome="已办结" if status == "closed" else "",
        )
    volunteer = insert(stack, "volunteers", sid, name="李志愿", registered_on=dt.date(2026, 1, 1))
    for day, hours in [("2026-09-01", "3.5"), ("2026-09-30", "4"), ("2026-10-01", "8"), ("2026-08-31", "2")]:
        insert(
            stack,
            "volunteer_hours",
            sid,
            volunteer_id=uuid.UUID(volunteer),
            date=dt.date.fromisoformat(day),
            hours=Decimal(hours),
        )


EXPECTED_CATEGORIES = {
    "infant": (0, 0),
    "elderly": (2, 50),
    "youth": (1, 15),
    "disability": (0, 0),
    "family": (0, 0),
    "social_assistance": (0, 0),
    "culture": (2, 120),
    "deliberation": (0, 0),
    "org_incubation": (0, 0),
    "social_work": (0, 0),
}


def test_site_month_in_shanghai_time(gateway: httpx.Client, site: dict, september: None) -> None:
    response = gateway.get(
        STATS,
        params={"site_id": site["site"]["id"], "month": "2026-09"},
        headers=bearer(site["operator_token"]),
    )
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["site_ids"] == [site["site"]["id"]] and stats["street_id"] is None
    assert {
        c["category"]: (c["activities"], c["attendance"]) for c in stats["categories"]
    } == EXPECTED_CATEGORIES
    assert [c["category"] for c in stats["categories"]][:3] == ["infant", "elderly", "youth"]
    assert stats["categories"][1]["label_zh"] == "老年人服务"
    assert stats["activities_total"] == {"activities": 5, "attendance": 185}
    assert stats["visits"] == {"count": 3, "headcount": 6}
    assert stats["needs"] == {"count": 2}
    assert stats["referrals"] == {"total": 4, "open": 1, "accepted": 2, "closed": 1}
    assert stats["volunteer_hours"] == "7.5"
    october = gateway.get(
        STATS,
        params={"site_id": site["site"]["id"], "month": "2026-10"},
        headers=bearer(site["operator_token"]),
    ).json()
    assert october["activities_total"] == {"activities": 1, "attendance": 77}
    assert (october["visits"], october["volunteer_hours"], october["referrals"]["closed"]) == (
        {"count": 1, "headcount": 7},
        "8.0",
        1,
    )
    empty = gateway.get(
        STATS,
        params={"site_id": site["site"]["id"], "month": "2025-02"},
        headers=bearer(site["operator_token"]),
    ).json()
    assert (
        all(c["activities"] == c["attendance"] == 0 for c in empty["categories"])
        and len(empty["categories"]) == 10
    )
    assert empty["volunteer_hours"] == "0.0"


def test_street_stats_sum_the_street_sites_in_scope(
    gateway: httpx.Client, district_token: str, site: dict, neighbour: dict, september: None
) -> None:
    street_id = site["site"]["street_id"]
    params = {"street_id": street_id, "month": "2026-09"}
    # The operator's scope holds only its own site: the street view is that site's view.
    own = gateway.get(STATS, params=params, headers=bearer(site["operator_token"])).json()
    assert own["site_ids"] == [site["site"]["id"]] and own["street_id"] == street_id
    assert own["activities_total"] == {"activities": 5, "attendance": 185}
    # The district sees every site of the street; the street is the sum of its sites.
    street = gateway.get(STATS, params=params, headers=bearer(district_token)).json()
    assert {site["site"]["id"], neighbour["site"]["id"]} <= set(street["site_ids"])
    totals = {"activities": 0, "attendance": 0, "visits": 0}
    hours = Decimal(0)
    for sid in street["site_ids"]:
        one = gateway.get(
            STATS, params={"site_id": sid, "month": "2026-09"}, headers=bearer(district_token)
        ).json()
        totals["activities"] += one["activities_total"]["activities"]
        totals["attendance"] += one["activities_total"]["attendance"]
        totals["visits"] += one["visits"]["headcount"]
        hours += Decimal(one["volunteer_hours"])
    assert street["activities_total"] == {
        "activities": totals["activities"],
        "attendance": totals["attendance"],
    }
    assert street["activities_total"]["attendance"] >= 1185
    assert (street["visits"]["headcount"], Decimal(street["volunteer_hours"])) == (
        totals["visits"],
        hours,
    )
    street_user = user_token(gateway, district_token, "street", street_id=street_id)
    assert (
        gateway.get(STATS, params=params, headers=bearer(street_user)).json()["site_ids"]
        == street["site_ids"]
    )


def test_scope(gateway: httpx.Client, district_token: str, site: dict, september: None) -> None:
    month = {"month": "2026-09"}
    other = operated_site(gateway, district_token, "CH")
    street_ch = login(gateway, "changhe")["access_token"]
    evaluator = login(gateway, "evaluator")["access_token"]
    for token in (other["operator_token"], street_ch, evaluator):
        response = gateway.get(STATS, params={"site_id": site["site"]["id"], **month}, headers=bearer(token))
        assert response.status_code == 404 and response.json()["code"] == "site_not_found"
        by_street = gateway.get(
            STATS, params={"street_id": site["site"]["street_id"], **month}, headers=bearer(token)
        )
        assert by_street.status_code == 404 and by_street.json()["code"] == "street_not_found"
    platform = integration_token(gateway, district_token)
    read = gateway.get(STATS, params={"site_id": site["site"]["id"], **month}, headers=bearer(platform))
    assert read.status_code == 200 and read.json()["activities_total"]["attendance"] == 185
    unknown = gateway.get(
        STATS, params={"site_id": str(uuid.uuid4()), **month}, headers=bearer(district_token)
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "site_not_found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "2026-9"}, "month"),
        ({}, "month"),
        ({"month": "2026-09", "format": "pdf"}, "format"),
        ({"month": "2026-09", "street_id": "not-a-uuid"}, "street_id"),
    ],
)
def test_bad_input_names_the_field(gateway: httpx.Client, site: dict, params: dict, field: str) -> None:
    response = gateway.get(
        STATS, params={"site_id": site["site"]["id"], **params}, headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_exactly_one_of_site_or_street(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    both = {"site_id": site["site"]["id"], "street_id": site["site"]["street_id"], "month": "2026-09"}
    assert "site_id" in error_fields(gateway.get(STATS, params=both, headers=bearer(token)))
    assert "site_id" in error_fields(gateway.get(STATS, params={"month": "2026-09"}, headers=bearer(token)))


def test_csv_download_has_chinese_headers_and_bom(gateway: httpx.Client, site: dict, september: None) -> None:
    response = gateway.get(
        STATS,
        params={"site_id": site["site"]["id"], "month": "2026-09", "format": "csv"},
        headers=bearer(site["operator_token"]),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["类别", "活动场次", "参与人次"]
    assert rows[1] == ["婴幼儿服务", "0", "0"]
    assert rows[2] == ["老年人服务", "2", "50"]
    assert ["文化服务", "2", "120"] in rows
    assert ["合计", "5", "185"] in rows
    assert ["项目", "数量"] in rows
    assert ["来访人次", "6"] in rows and ["志愿服务时数", "7.5"] in rows
    assert ["转介(已受理)", "2"] in rows


def test_xlsx_download(gateway: httpx.Client, site: dict, september: None) -> None:
    response = gateway.get(
        STATS,
        params={"site_id": site["site"]["id"], "month": "2026-09", "format": "xlsx"},
        headers=bearer(site["operator_token"]),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["类别", "活动场次", "参与人次"]
    assert rows[2] == ["老年人服务", 2, 50]
    assert ["合计", 5, 185] in rows
    assert any(r[:2] == ["志愿服务时数", 7.5] for r in rows)
