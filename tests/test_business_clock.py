"""The business calendar at its hard moments (SPEC §3; issue 13).

Linju's machines run in UTC, its business dates and months are Asia/Shanghai's: from 16:00 UTC
Shanghai is already on the next day. These tests move a whole stack (its own embedded PostgreSQL,
the gateway, the three services and the dispatcher) to the moments where a date taken from the
wrong clock shows, and check what users expect there:

- 15:59:59 and 16:00:01 UTC (the last second of a Shanghai day, and the first of the next), and
  23:59:59 UTC (UTC's last second, Shanghai's 07:59:59 of the next day);
- the last evening of a month and the first minute of the next, in Shanghai (C14 "every month's
  plan published before the month began", `stats?month=`, round periods, contracts, windows);
- the last second of a Shanghai year, and the first one of the next while UTC is still in
  December (`projection?year=`, filing windows, staff training years);
- 29 February, from its first to its last second in Shanghai.

The stack's clock is set through the test-only ``LINJU_TEST_CLOCK_FILE`` (services.common.timeutil;
refused outside ``LINJU_ENV=test``), and ``time-machine`` freezes this process at the same instant,
so the tests' own "today" (tests/clock.py) is the services'. What each moment's Shanghai date is,
is written down below independently of the code under test (UTC + 8 h: Shanghai has had no
daylight saving since 1991).

The moments are all in the future of the real clock and run in order (one module-scoped fixture
per moment, so pytest groups the tests by moment): the stack's signing key and seeded data date
from its real start, and its clock only moves forward.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine

from services.common.settings import ServiceSettings
from tests import clock
from tests.conftest import bearer, login
from tests.registry.factories import create_contract, create_org, create_site, error_fields, user_token
from tests.resilience.harness import OwnStack, own_stack

ACTIVITIES = "/api/v1/activities"
REGISTRY = "/api/v1/registry"
EVALUATION = "/api/v1/evaluation"


@dataclass(frozen=True)
class HardMoment:
    label: str
    instant: dt.datetime  # UTC

    @property
    def shanghai(self) -> dt.datetime:
        """Shanghai wall-clock time, worked out without the clock module (UTC+8, no DST)."""
        return (self.instant + dt.timedelta(hours=8)).replace(tzinfo=None)

    @property
    def today(self) -> dt.date:
        return self.shanghai.date()

    def __str__(self) -> str:
        return self.label


def _moments() -> list[HardMoment]:
    """The hard moments, in order, all after the real clock's next New Year."""
    year = clock.utc_now().year + 1  # before any travel: the real clock, to choose moments in its future
    leap = next(y for y in range(year + 1, year + 9) if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))

    def utc(y: int, m: int, d: int, hh: int, mm: int, ss: int) -> dt.datetime:
        return dt.datetime(y, m, d, hh, mm, ss, tzinfo=dt.UTC)

    moments = [
        HardMoment("15:59:59Z-last-second-of-a-shanghai-day", utc(year, 3, 10, 15, 59, 59)),
        HardMoment("16:00:01Z-shanghai-is-tomorrow", utc(year, 3, 10, 16, 0, 1)),
        HardMoment("23:59:59Z-utc-last-second", utc(year, 3, 10, 23, 59, 59)),
        HardMoment("23:59-shanghai-last-evening-of-april", utc(year, 4, 30, 15, 59, 0)),
        HardMoment("00:01-shanghai-1-may", utc(year, 4, 30, 16, 1, 0)),
        HardMoment("23:59:59-shanghai-new-years-eve", utc(year, 12, 31, 15, 59, 59)),
        HardMoment("00:00:01-shanghai-new-year-utc-still-31-dec", utc(year, 12, 31, 16, 0, 1)),
        HardMoment("00:00:01-shanghai-29-february", utc(leap, 2, 28, 16, 0, 1)),
        HardMoment("23:59:59-shanghai-29-february", utc(leap, 2, 29, 15, 59, 59)),
    ]
    assert moments == sorted(moments, key=lambda m: m.instant)
    return moments


MOMENTS = _moments()


def _month_code(day: dt.date) -> str:
    return day.strftime("%Y-%m")


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


# ---- the clocked stack ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clock_file() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="linju-clock-"))
    yield folder / "now"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def clocked(clock_file: Path) -> Iterator[OwnStack]:
    with own_stack({"LINJU_TEST_CLOCK_FILE": str(clock_file)}) as running:
        yield running


@pytest.fixture(scope="module")
def api(clocked: OwnStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=clocked.gateway_url, timeout=30.0) as http:
        yield http


def _set_stack_clock(path: Path, instant: dt.datetime | None) -> None:
    """Atomically replace the clock file (a new inode: every process sees the change at once)."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(instant.isoformat() if instant is not None else "")
    os.replace(scratch, path)


@pytest.fixture(scope="module", params=MOMENTS, ids=str)
def moment(request: pytest.FixtureRequest, clocked: OwnStack, clock_file: Path) -> Iterator[HardMoment]:
    at: HardMoment = request.param
    _set_stack_clock(clock_file, at.instant)
    traveller = time_machine.travel(at.instant, tick=False)
    traveller.start()
    try:
        yield at
    finally:
        traveller.stop()
        _set_stack_clock(clock_file, None)


@dataclass
class World:
    """What one moment's tests share: fresh objects made at that moment, and their users' tokens."""

    district: str
    street: str  # 西兴 (XX), the demo street user
    site: dict[str, Any]
    organization: dict[str, Any]
    operator: str


@pytest.fixture(scope="module")
def world(api: httpx.Client, moment: HardMoment) -> World:
    district = login(api, "district")["access_token"]
    org = create_org(api, district)
    site = create_site(api, district, "XX")
    around = {"starts_on": clock.day(-400), "ends_on": clock.day(400)}
    create_contract(api, district, site["id"], org["id"], **around)
    operator = user_token(api, district, "operator", organization_id=org["id"])
    street = login(api, "xixing")["access_token"]  # logged in after the site exists: it is in the claim
    return World(district, street, site, org, operator)


def test_the_stack_and_the_tests_read_the_same_clock(
    api: httpx.Client, moment: HardMoment, world: World, clocked: OwnStack
) -> None:
    assert clock.today() == moment.today
    assert clock.utc_now() == moment.instant
    # A service's own "now": the created_at of a record it just wrote, and the token it signed.
    created = api.post(
        f"{ACTIVITIES}/volunteers",
        json=_volunteer(world, moment.today.isoformat()),
        headers=bearer(world.operator),
    )
    assert created.status_code == 201, created.text
    assert dt.datetime.fromisoformat(created.json()["created_at"]) == moment.instant
    me = api.get("/api/v1/auth/me", headers=bearer(world.district))
    assert me.status_code == 200, me.text


# ---- dated records: Shanghai's today is accepted, its tomorrow refused --------------------------


def _volunteer(world: World, registered_on: str) -> dict[str, Any]:
    return {
        "site_id": world.site["id"],
        "name": "刘志强",
        "phone": "13500001234",
        "registered_on": registered_on,
    }


def _need(api: httpx.Client, world: World) -> str:
    body = {
        "site_id": world.site["id"],
        "recorded_on": clock.day(-3),
        "category": "elderly",
        "description": "独居老人需要助餐服务",
    }
    response = api.post(f"{ACTIVITIES}/needs", json=body, headers=bearer(world.operator))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _volunteer_id(api: httpx.Client, world: World) -> str:
    response = api.post(
        f"{ACTIVITIES}/volunteers", json=_volunteer(world, clock.day(-30)), headers=bearer(world.operator)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _fund_account(api: httpx.Client, world: World) -> str:
    body = {
        "site_id": world.site["id"],
        "project": f"邻里守望服务项目-{uuid.uuid4().hex[:6]}",
        "year": clock.today().year,
        "budget_lines": [{"line": "活动经费", "amount": "100000"}],
    }
    response = api.post(f"{ACTIVITIES}/fund-accounts", json=body, headers=bearer(world.operator))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _staff(api: httpx.Client, world: World) -> str:
    body = {
        "site_id": world.site["id"],
        "name": "社工王芳",
        "position": "项目社工",
        "full_time": True,
        "certificate": "intermediate",
        "certificate_no": f"ZJ{uuid.uuid4().hex[:10]}",
        "active_from": clock.day(-100),
    }
    response = api.post(f"{REGISTRY}/staff", json=body, headers=bearer(world.operator))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@dataclass(frozen=True)
class DatedRecord:
    """A create whose ``field`` is a business date that must not be in Shanghai's future."""

    name: str
    field: str

    def url_and_body(self, api: httpx.Client, world: World, day: str) -> tuple[str, dict[str, Any]]:
        site = world.site["id"]
        match self.name:
            case "case":
                return f"{ACTIVITIES}/cases", {
                    "site_id": site,
                    "target_group": "elderly",
                    "opened_on": day,
                    "stage": "intake",
                    "sessions": 1,
                    "client_name": "赵桂兰",
                    "summary": "独居老人情绪支持",
                }
            case "case-closed":
                return f"{ACTIVITIES}/cases", {
                    "site_id": site,
                    "target_group": "elderly",
                    "opened_on": clock.day(-20),
                    "closed_on": day,
                    "stage": "closed",
                    "sessions": 6,
                    "client_name": "赵桂兰",
                    "summary": "已结案",
                }
            case "group":
                return f"{ACTIVITIES}/groups", {
                    "site_id": site,
                    "name": "银龄智能手机学习小组",
                    "target_group": "elderly",
                    "opened_on": day,
                    "stage": "intervention",
                    "sessions": 4,
                    "members": 12,
                    "summary": "",
                }
            case "deliberation":
                return f"{ACTIVITIES}/deliberations", {
                    "site_id": site,
                    "held_on": day,
                    "topic": "小区停车位改造议事",
                    "form": "residents_council",
                    "participants": 23,
                    "rules": "一人一票,过半数通过",
                    "resolution": "增设30个夜间共享车位",
                    "execution_status": "done",
                }
            case "need":
                return f"{ACTIVITIES}/needs", {
                    "site_id": site,
                    "recorded_on": day,
                    "category": "elderly",
                    "description": "独居老人需要助餐服务",
                }
            case "referral":
                return f"{ACTIVITIES}/referrals", {
                    "need_id": _need(api, world),
                    "referred_on": day,
                    "to_name": "区卫生健康局",
                }
            case "volunteer":
                return f"{ACTIVITIES}/volunteers", _volunteer(world, day)
            case "volunteer-hours":
                return f"{ACTIVITIES}/volunteer-hours", {
                    "volunteer_id": _volunteer_id(api, world),
                    "date": day,
                    "hours": "2",
                }
            case "safety-training":
                return f"{ACTIVITIES}/safety-trainings", {
                    "site_id": site,
                    "held_on": day,
                    "topic": "灭火器使用与疏散演练",
                    "attendance": 32,
                    "has_record": True,
                }
            case "safety-patrol":
                return f"{ACTIVITIES}/safety-patrols", {
                    "site_id": site,
                    "patrolled_on": day,
                    "inspector": "王安全",
                    "has_record": True,
                    "hazards": [],
                }
            case "fund-entry":
                return f"{ACTIVITIES}/fund-accounts/{_fund_account(api, world)}/entries", {
                    "line": "活动经费",
                    "amount": "100",
                    "spent_on": day,
                    "voucher_no": f"PZ-{uuid.uuid4().hex[:6]}",
                    "purpose": "活动物资",
                }
            case "brand-project":
                return f"{ACTIVITIES}/brand-projects", {
                    "site_id": site,
                    "kind": "service_project",
                    "title": "邻里帮帮团",
                    "started_on": day,
                    "implemented": False,
                    "description": "",
                }
            case "recognition":
                return f"{ACTIVITIES}/recognitions", {
                    "site_id": site,
                    "kind": "media",
                    "level": "city",
                    "date": day,
                    "title": "杭州日报报道",
                    "evidence": [],
                }
            case "staff-training":
                return f"{REGISTRY}/staff/{_staff(api, world)}/trainings", {
                    "date": day,
                    "topic": "社会工作继续教育",
                    "hours": "2",
                }
        raise AssertionError(self.name)


DATED = [
    DatedRecord("case", "opened_on"),
    DatedRecord("case-closed", "closed_on"),
    DatedRecord("group", "opened_on"),
    DatedRecord("deliberation", "held_on"),
    DatedRecord("need", "recorded_on"),
    DatedRecord("referral", "referred_on"),
    DatedRecord("volunteer", "registered_on"),
    DatedRecord("volunteer-hours", "date"),
    DatedRecord("safety-training", "held_on"),
    DatedRecord("safety-patrol", "patrolled_on"),
    DatedRecord("fund-entry", "spent_on"),
    DatedRecord("brand-project", "started_on"),
    DatedRecord("recognition", "date"),
    DatedRecord("staff-training", "date"),
]


@pytest.mark.parametrize("record", DATED, ids=lambda r: f"{r.name}.{r.field}")
def test_a_record_dated_shanghai_today_is_accepted_and_tomorrow_refused(
    api: httpx.Client, moment: HardMoment, world: World, record: DatedRecord
) -> None:
    today = moment.today.isoformat()
    tomorrow = (moment.today + dt.timedelta(days=1)).isoformat()
    url, body = record.url_and_body(api, world, today)
    accepted = api.post(url, json=body, headers=bearer(world.operator))
    assert accepted.status_code == 201, f"{record.field}={today} at {moment}: {accepted.text}"
    assert accepted.json()[record.field] == today
    url, body = record.url_and_body(api, world, tomorrow)
    refused = api.post(url, json=body, headers=bearer(world.operator))
    assert error_fields(refused) == {record.field}, f"{record.field}={tomorrow} at {moment}"


def _activity(world: World, starts: dt.datetime, ends: dt.datetime, **overrides: Any) -> dict[str, Any]:
    return {
        "site_id": world.site["id"],
        "category": "culture",
        "title": "邻里文化节",
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "attendance": 60,
        **overrides,
    }


def test_instants_are_judged_by_the_instant_with_five_minutes_of_skew(
    api: httpx.Client, moment: HardMoment, world: World
) -> None:
    """Timed records (activities, visits) compare instants, whatever offset the client writes: now
    and a device clock 4 minutes ahead are accepted, 6 minutes ahead is refused naming the field."""
    now = moment.instant
    for offset in (dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-5))):
        for ahead, expected in (
            (dt.timedelta(0), 201),
            (dt.timedelta(minutes=4), 201),
            (dt.timedelta(minutes=6), 422),
        ):
            at = (now + ahead).astimezone(offset)
            activity = api.post(
                f"{ACTIVITIES}/activities",
                json=_activity(world, at - dt.timedelta(hours=1), at),
                headers=bearer(world.operator),
            )
            visit = api.post(
                f"{ACTIVITIES}/visits",
                json={
                    "site_id": world.site["id"],
                    "visited_at": at.isoformat(),
                    "headcount": 1,
                    "purpose": "咨询",
                },
                headers=bearer(world.operator),
            )
            assert (activity.status_code, visit.status_code) == (expected, expected), (
                at,
                activity.text,
                visit.text,
            )
            if expected == 422:
                assert error_fields(activity) == {"ends_at"} and error_fields(visit) == {"visited_at"}


# ---- months: plans (C14), statistics, metrics and round periods ---------------------------------


def _plan(api: httpx.Client, world: World, month: dt.date) -> dict[str, Any]:
    body = {
        "site_id": world.site["id"],
        "month": _month_code(month),
        "items": [{"date": month.replace(day=5).isoformat(), "title": "老年健康讲座", "category": "elderly"}],
    }
    created = api.post(f"{ACTIVITIES}/activity-plans", json=body, headers=bearer(world.operator))
    assert created.status_code == 201, created.text
    published = api.post(
        f"{ACTIVITIES}/activity-plans/{created.json()['id']}/publish", headers=bearer(world.operator)
    )
    assert published.status_code == 200, published.text
    return dict(published.json())


def test_a_plan_is_on_time_only_if_published_before_its_shanghai_month_began(
    api: httpx.Client, moment: HardMoment, world: World
) -> None:
    """C14: at 23:59 Shanghai on the last day of April, May's plan is on time; at 00:01 on 1 May it
    is late (UTC still says 30 April both times). This month's plan is always late."""
    this_month = moment.today.replace(day=1)
    following = _next_month(this_month)
    assert _plan(api, world, following)["published_late"] is False
    assert _plan(api, world, this_month)["published_late"] is True
    if moment.label == "23:59-shanghai-last-evening-of-april":
        assert _month_code(following) == f"{moment.today.year}-05"
    if moment.label == "00:01-shanghai-1-may":
        assert _month_code(this_month) == f"{moment.today.year}-05"


def _stats(api: httpx.Client, world: World, month: dt.date) -> dict[str, Any]:
    response = api.get(
        f"{ACTIVITIES}/stats",
        params={"site_id": world.site["id"], "month": _month_code(month)},
        headers=bearer(world.operator),
    )
    assert response.status_code == 200, response.text
    return {c["category"]: c["activities"] for c in response.json()["categories"]}


def _metrics(api: httpx.Client, world: World, first: dt.date, last: dt.date) -> dict[str, Any]:
    response = api.get(
        f"{ACTIVITIES}/metrics",
        params={"site_id": world.site["id"], "from": first.isoformat(), "to": last.isoformat()},
        headers=bearer(world.district),
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_last_and_first_seconds_of_a_shanghai_day_fall_in_its_month_and_period(
    api: httpx.Client, moment: HardMoment, world: World
) -> None:
    """An activity that ends now (started a second ago) belongs to Shanghai's today: to its month in
    `stats?month=`, to `metrics?from=&to=` of today and not of yesterday, and to a round whose
    period ends today (C15 counts it) but not to one that ended yesterday."""
    started = moment.instant - dt.timedelta(seconds=1)  # at 00:00:01, Shanghai midnight itself
    today = moment.today
    evidence = [
        {"kind": "sign_in_sheet", "uri": "https://files.example/s.jpg"},
        {"kind": "photo", "uri": "https://files.example/p.jpg"},
    ]
    created = api.post(
        f"{ACTIVITIES}/activities",
        json=_activity(
            world,
            started,
            moment.instant,
            category="disability",
            is_theme=True,
            attendance=120,
            evidence=evidence,
        ),
        headers=bearer(world.operator),
    )
    assert created.status_code == 201, created.text
    activity_id = created.json()["id"]
    month = today.replace(day=1)
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    assert _stats(api, world, month)["disability"] == 1
    assert _stats(api, world, previous)["disability"] == 0
    assert _stats(api, world, _next_month(month))["disability"] == 0

    def counted(metrics: dict[str, Any]) -> bool:
        return activity_id in str(metrics)

    assert counted(_metrics(api, world, today, today))
    assert not counted(_metrics(api, world, today - dt.timedelta(days=1), today - dt.timedelta(days=1)))
    assert not counted(_metrics(api, world, today + dt.timedelta(days=1), today + dt.timedelta(days=1)))

    for period_end, expected in ((today, True), (today - dt.timedelta(days=1), False)):
        period_start = min(month, period_end)
        body = {
            "year": period_end.year,
            "kind": "quarterly",
            "title": f"时钟边界 {moment.label}",
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "rubric_version": "2023-draft",
            "site_ids": [world.site["id"]],
        }
        opened = api.post(f"{EVALUATION}/rounds", json=body, headers=bearer(world.district))
        assert opened.status_code == 201, opened.text
        computed = api.post(
            f"{EVALUATION}/rounds/{opened.json()['id']}/compute", headers=bearer(world.district)
        )
        assert computed.status_code == 200, computed.text
        cards = api.get(
            f"{EVALUATION}/scorecards",
            params={"round_id": opened.json()["id"]},
            headers=bearer(world.district),
        )
        assert cards.status_code == 200, cards.text
        (card,) = cards.json()["items"]
        full = api.get(f"{EVALUATION}/scorecards/{card['id']}", headers=bearer(world.district))
        assert full.status_code == 200, full.text
        c15 = next(item for item in full.json()["items"] if item["code"] == "C15")
        assert (activity_id in str(c15)) is expected, (period_end, c15)


def world_street_sites(api: httpx.Client, world: World) -> set[str]:
    """Every site id the street user may see (all pages of the registry's site list)."""
    ids: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"{REGISTRY}/sites", params=params, headers=bearer(world.street))
        assert page.status_code == 200, page.text
        ids |= {s["id"] for s in page.json()["items"]}
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids


def test_the_street_lists_its_sites_activities(api: httpx.Client, moment: HardMoment, world: World) -> None:
    """The street's activity list answers 200 with its own sites' activities at every hour."""
    created = api.post(
        f"{ACTIVITIES}/activities",
        json=_activity(world, moment.instant - dt.timedelta(hours=2), moment.instant - dt.timedelta(hours=1)),
        headers=bearer(world.operator),
    )
    assert created.status_code == 201, created.text
    listed = api.get(f"{ACTIVITIES}/activities", params={"limit": 200}, headers=bearer(world.street))
    assert listed.status_code == 200, listed.text
    yesterday = moment.today - dt.timedelta(days=1)
    filtered = api.get(
        f"{ACTIVITIES}/activities",
        params={"site_id": world.site["id"], "from": yesterday.isoformat(), "to": moment.today.isoformat()},
        headers=bearer(world.street),
    )
    assert filtered.status_code == 200, filtered.text
    assert created.json()["id"] in {a["id"] for a in filtered.json()["items"]}
    own = world_street_sites(api, world)
    assert world.site["id"] in own
    assert {a["site_id"] for a in listed.json()["items"]} <= own


# ---- registry: contracts, filing windows ---------------------------------------------------------


def test_a_contract_is_active_through_its_last_shanghai_day(
    api: httpx.Client, moment: HardMoment, world: World
) -> None:
    """The operator scope (SPEC §4: sites with an active contract) follows Shanghai's calendar: a
    contract ending today still holds at 23:59:59, one that ended yesterday no longer does."""
    today = moment.today
    for ends_on, active in ((today, True), (today - dt.timedelta(days=1), False)):
        org = create_org(api, world.district)
        site = create_site(api, world.district, "XX")
        contract = create_contract(
            api,
            world.district,
            site["id"],
            org["id"],
            starts_on=(today - dt.timedelta(days=200)).isoformat(),
            ends_on=ends_on.isoformat(),
        )
        assert contract["active"] is active, (ends_on, contract)
        operator = user_token(api, world.district, "operator", organization_id=org["id"])
        seen = api.get(f"{REGISTRY}/sites/{site['id']}", headers=bearer(operator))
        assert seen.status_code == (200 if active else 404), (ends_on, seen.text)


def test_a_filing_window_closes_at_shanghai_midnight(
    api: httpx.Client, moment: HardMoment, world: World
) -> None:
    """6.2.2: a street may submit on the window's last Shanghai day, up to its last second, and
    not a second later (409 filing_window_closed)."""
    today = moment.today
    year = today.year

    def window(opens_on: dt.date, closes_on: dt.date) -> None:
        response = api.put(
            f"{REGISTRY}/filing-windows/{year}",
            json={"opens_on": opens_on.isoformat(), "closes_on": closes_on.isoformat()},
            headers=bearer(world.district),
        )
        assert response.status_code == 200, response.text
        assert response.json()["open_today"] is (opens_on <= today <= closes_on)

    def submit() -> httpx.Response:
        from services.registry.reference.data import STREETS

        xixing = next(s for s in STREETS if s.code == "XX")
        body = {
            "year": year,
            "kind": "hub_plan",
            "filer_name": xixing.name,
            "street_id": str(xixing.id),
            "community_id": str(xixing.communities[0].id),
            "title": "共同体建设计划",
            "planned_area_m2": "650.00",
            "budget": "1200000.50",
            "funding_source": "区级财政",
            "planned_start": f"{year}-01-01",
            "planned_finish": f"{year}-12-31",
            "description": "",
        }
        filed = api.post(f"{REGISTRY}/filings", json=body, headers=bearer(world.street))
        assert filed.status_code == 201, filed.text
        return api.post(f"{REGISTRY}/filings/{filed.json()['id']}/submit", headers=bearer(world.street))

    window(dt.date(year, 1, 1), today)
    on_time = submit()
    assert on_time.status_code == 200, on_time.text
    if today > dt.date(year, 1, 1):
        window(dt.date(year, 1, 1), today - dt.timedelta(days=1))
    else:  # 1 January: the window cannot end last year; one that opens tomorrow is closed today too
        window(today + dt.timedelta(days=1), dt.date(year, 12, 31))
    closed = submit()
    assert closed.status_code == 409 and closed.json()["code"] == "filing_window_closed", closed.text


# ---- years ---------------------------------------------------------------------------------------


def test_the_current_year_is_shanghais(api: httpx.Client, moment: HardMoment, world: World) -> None:
    """`projection?year=` takes the Shanghai year up to today and refuses a future one (422 naming
    `year`), and staff training hours are counted for the Shanghai year by default."""
    year = moment.today.year
    projection = f"{EVALUATION}/sites/{world.site['id']}/projection"
    assert api.get(projection, params={"year": year}, headers=bearer(world.district)).status_code == 200
    assert error_fields(api.get(projection, params={"year": year + 1}, headers=bearer(world.district))) == {
        "year"
    }
    staff = api.get(f"{REGISTRY}/staff/{_staff(api, world)}", headers=bearer(world.operator))
    assert staff.status_code == 200, staff.text
    assert staff.json()["training_year"] == year


def test_test_clock_is_refused_outside_tests(clock_file: Path) -> None:
    """The test clock exists for tests only: a development or production process refuses to start with it."""
    for env in ("development", "production"):
        with pytest.raises(ValueError, match="LINJU_TEST_CLOCK_FILE"):
            ServiceSettings(
                env=env,
                database_url="postgresql://x/y",
                service_secret="a-real-secret-of-production",
                test_clock_file=clock_file,
            )
    assert ServiceSettings(
        env="test", database_url="postgresql://x/y", test_clock_file=clock_file
    ).test_clock_file
