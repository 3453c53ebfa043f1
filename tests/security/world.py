"""One small world for the security tests, built through the gateway like any client would.

Site A (street 西兴 XX) is operated by organisation A; site B (street 长河 CH) by organisation B.
Site A holds one object of every resource that has an id: its registry data (a link to an
organisation, a contract, a staff member with a training, a filing of its street), one record of
every activities log (with a fund entry, a patrol hazard, a need with its referral, a volunteer with
hours), and in evaluation a published final round over site A (scorecard, finding, improvement
plan) and an open quarterly round over A and B (a draft scorecard for each).

Callers (``World.tokens``):

* insiders of site A: ``district``, ``street`` (西兴), ``operator`` (organisation A),
  ``evaluator`` (assigned to site A in both rounds), ``integration``;
* outsiders: ``street_b`` (长河), ``operator_b`` (organisation B, operating site B),
  ``evaluator_b`` (assigned to site B in the open round only), ``evaluator_none`` (no assignment).

Tokens are issued after every contract and assignment exists (the ``sites`` claim is resolved at
login).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.timeutil import now_shanghai, today_shanghai
from tests.conftest import bearer, login
from tests.evaluation.helpers import SiteScoring, ok, score_card, year_period
from tests.evaluation.test_rounds import EVAL, assign, create_evaluator, create_round, scorecards_of
from tests.registry.factories import (
    community,
    create_contract,
    create_org,
    create_site,
    create_user,
    integration_token,
    street,
    user_token,
)

REG = "/api/v1/registry"
ACT = "/api/v1/activities"
OUTSIDERS = ("street_b", "operator_b", "evaluator_b", "evaluator_none")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    """A resident ID number with a correct GB 11643 check character."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def days_ago(n: int) -> str:
    return (today_shanghai() - dt.timedelta(days=n)).isoformat()


def hours_ago(n: float) -> str:
    return (now_shanghai() - dt.timedelta(hours=n)).replace(microsecond=0).isoformat()


def _next_month() -> dt.date:
    today = today_shanghai()
    return dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)


# Personal data recorded in site A (tests/security/test_personal_data_matrix.py reads them back).
CASE_ID_NUMBER = id_number("33010819850312123")
VISIT_ID_NUMBER = id_number("33010619900101004")
NEED_ID_NUMBER = id_number("33010219721224331")


def log_bodies(site_id: str) -> dict[str, dict[str, Any]]:
    """A valid create body of every site-bound activities log, keyed by its collection path."""
    plan_month = _next_month()
    return {
        "activities": {
            "site_id": site_id,
            "category": "elderly",
            "title": "重阳节敬老茶话会",
            "is_theme": True,
            "starts_at": hours_ago(50),
            "ends_at": hours_ago(48),
            "location": "一楼多功能厅",
            "attendance": 64,
            "target_groups": ["elderly"],
            "evidence": [
                {"kind": "sign_in_sheet", "uri": "https://files.example.cn/a/sign.jpg"},
                {"kind": "photo", "uri": "https://files.example.cn/a/photo.jpg"},
            ],
        },
        "activity-plans": {
            "site_id": site_id,
            "month": plan_month.strftime("%Y-%m"),
            "items": [
                {
                    "date": plan_month.replace(day=5).isoformat(),
                    "title": "老年健康讲座",
                    "category": "elderly",
                }
            ],
        },
        "cases": {
            "site_id": site_id,
            "target_group": "elderly",
            "opened_on": days_ago(3),
            "stage": "assessment",
            "sessions": 2,
            "client_name": "张三丰",
            "client_phone": "13812345678",
            "client_id_number": CASE_ID_NUMBER,
            "summary": "独居老人,需要定期探访",
        },
        "groups": {
            "site_id": site_id,
            "name": "长者互助小组",
            "target_group": "elderly",
            "opened_on": days_ago(20),
            "sessions": 4,
            "members": 9,
        },
        "deliberations": {
            "site_id": site_id,
            "held_on": days_ago(3),
            "topic": "小区停车位改造议事",
            "form": "residents_council",
            "participants": 23,
            "rules": "一人一票,过半数通过",
            "resolution": "增设30个夜间共享车位",
            "execution_status": "done",
        },
        "visits": {
            "site_id": site_id,
            "visited_at": hours_ago(3),
            "headcount": 2,
            "purpose": "咨询老年食堂",
            "needs": "希望增加午餐供应",
            "visitor_name": "李四",
            "visitor_phone": "13987654321",
            "visitor_id_number": VISIT_ID_NUMBER,
        },
        "needs": {
            "site_id": site_id,
            "recorded_on": days_ago(10),
            "category": "disability",
            "description": "家中需要安装无障碍扶手",
            "resident_name": "王小明",
            "resident_phone": "0571-86668888",
            "resident_id_number": NEED_ID_NUMBER,
        },
        "volunteers": {
            "site_id": site_id,
            "name": "欧阳娜娜",
            "phone": "13600001111",
            "registered_on": days_ago(30),
        },
        "safety-trainings": {
            "site_id": site_id,
            "held_on": days_ago(5),
            "topic": "灭火器使用与疏散演练",
            "attendance": 32,
            "has_record": True,
        },
        "safety-patrols": {
            "site_id": site_id,
            "patrolled_on": days_ago(20),
            "inspector": "王安全",
            "has_record": True,
            "hazards": [{"description": "二楼疏散通道堆放杂物", "due_on": days_ago(-15)}],
        },
        "fund-accounts": {
            "site_id": site_id,
            "project": f"邻里守望服务项目-{uuid.uuid4().hex[:6]}",
            "year": today_shanghai().year,
            "budget_lines": [
                {"line": "活动经费", "amount": "1000"},
                {"line": "人员经费", "amount": "5000.50"},
            ],
        },
        "brand-projects": {
            "site_id": site_id,
            "kind": "service_project",
            "title": "“邻里帮帮团”互助服务",
            "started_on": days_ago(40),
            "implemented": True,
        },
        "recognitions": {
            "site_id": site_id,
            "kind": "media",
            "level": "province",
            "date": days_ago(10),
            "title": "浙江日报专题报道邻里帮帮团",
            "evidence": [{"kind": "article", "uri": "https://example.cn/news/123"}],
        },
    }


def fund_entry_body() -> dict[str, Any]:
    return {
        "line": "活动经费",
        "amount": "100",
        "spent_on": days_ago(2),
        "voucher_no": f"PZ-{uuid.uuid4().hex[:6]}",
        "purpose": "重阳节敬老活动物资",
    }


def staff_body(site_id: str) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "name": f"社工{uuid.uuid4().hex[:4]}",
        "position": "项目社工",
        "full_time": True,
        "certificate": "intermediate",
        "certificate_no": f"ZJ{uuid.uuid4().hex[:10]}",
        "active_from": "2024-03-01",
    }


FINDING = {"indicator_code": "C15", "text": "主题活动场次不足", "severity": "major"}


@dataclass
class World:
    site: dict[str, Any]
    site_b: dict[str, Any]
    tokens: dict[str, str]
    # World key (e.g. "case", "scorecard_draft") -> id of the object of site A.
    ids: dict[str, str] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every successful write made while building: (method, path, X-Request-ID of the answer).
    writes: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def site_id(self) -> str:
        return str(self.site["id"])

    def bearer(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def build_world(gateway: httpx.Client, district: str) -> World:
    writes: list[tuple[str, str, str]] = []

    def record(response: httpx.Response) -> None:
        if response.request.method != "GET" and response.is_success:
            writes.append(
                (response.request.method, response.request.url.path, response.headers["x-request-id"])
            )

    gateway.event_hooks["response"].append(record)
    try:
        world = _build(gateway, district)
    finally:
        gateway.event_hooks["response"].remove(record)
    world.writes = [w for w in writes if w[1] != "/api/v1/auth/token"]
    return world


def _build(gateway: httpx.Client, district: str) -> World:
    org_a = create_org(gateway, district)
    org_b = create_org(gateway, district)
    site_a = create_site(gateway, district, "XX")
    site_b = create_site(gateway, district, "CH")
    ids: dict[str, str] = {"site": site_a["id"], "organization": org_a["id"]}
    ids["contract"] = create_contract(gateway, district, site_a["id"], org_a["id"])["id"]
    create_contract(gateway, district, site_b["id"], org_b["id"])
    operator = user_token(gateway, district, "operator", organization_id=org_a["id"])
    operator_b = user_token(gateway, district, "operator", organization_id=org_b["id"])
    street_a = user_token(gateway, district, "street", street_id=street("XX").id)
    street_b = user_token(gateway, district, "street", street_id=street("CH").id)
    op = bearer(operator)

    # ---- registry ------------------------------------------------------------------------------
    partner = create_org(gateway, district, kind="community_social_org", registration="filed")
    ids["link"] = _created(
        gateway.post(
            f"{REG}/sites/{site_a['id']}/organizations",
            json={"organization_id": partner["id"], "relation": "incubated", "since": "2025-06-01"},
            headers=bearer(district),
        )
    )["id"]
    ids["staff"] = _created(gateway.post(f"{REG}/staff", json=staff_body(site_a["id"]), headers=op))["id"]
    _created(
        gateway.post(
            f"{REG}/staff/{ids['staff']}/trainings",
            json={"date": days_ago(30), "topic": "社会工作继续教育", "hours": "6"},
            headers=op,
        )
    )
    xx = community("XX", 1)
    ids["filing"] = _created(
        gateway.post(
            f"{REG}/filings",
            json={
                "year": today_shanghai().year,
                "kind": "hub_plan",
                "filer_name": street("XX").name,
                "street_id": str(street("XX").id),
                "community_id": str(xx.id),
                "title": f"{xx.name}美好生活共同体建设计划",
                "planned_area_m2": "650.00",
                "budget": "1200000.50",
            },
            headers=bearer(street_a),
        )
    )["id"]

    # ---- activities ----------------------------------------------------------------------------
    keys = {
        "activities": "activity",
        "activity-plans": "activity_plan",
        "cases": "case",
        "groups": "group",
        "deliberations": "deliberation",
        "visits": "visit",
        "needs": "need",
        "volunteers": "volunteer",
        "safety-trainings": "safety_training",
        "safety-patrols": "safety_patrol",
        "fund-accounts": "fund_account",
        "brand-projects": "brand_project",
        "recognitions": "recognition",
    }
    for path, body in log_bodies(site_a["id"]).items():
        ids[keys[path]] = _created(gateway.post(f"{ACT}/{path}", json=body, headers=op))["id"]
    ids["fund_entry"] = _created(
        gateway.post(f"{ACT}/fund-accounts/{ids['fund_account']}/entries", json=fund_entry_body(), headers=op)
    )["id"]
    ids["referral"] = _created(
        gateway.post(
            f"{ACT}/referrals",
            json={"need_id": ids["need"], "referred_on": days_ago(5), "to_name": "区残联"},
            headers=op,
        )
    )["id"]
    ids["volunteer_hours"] = _created(
        gateway.post(
            f"{ACT}/volunteer-hours",
            json={"volunteer_id": ids["volunteer"], "date": days_ago(2), "hours": "3"},
            headers=op,
        )
    )["id"]

    # ---- evaluation ----------------------------------------------------------------------------
    evaluator = create_evaluator(gateway, district)
    evaluator_b = create_evaluator(gateway, district)
    evaluator_none = create_evaluator(gateway, district)
    published = create_round(gateway, district, [site_a["id"]], title="安全测试终期评估", **year_period(2025))
    ok(assign(gateway, district, published["id"], evaluator["user"]["id"], [site_a["id"]]), 201)
    card = scorecards_of(gateway, district, published["id"])[0]["id"]
    scorer = login(gateway, evaluator["username"])["access_token"]
    [finding] = score_card(gateway, scorer, card, SiteScoring(findings=[FINDING]))
    ok(gateway.post(f"{EVAL}/scorecards/{card}/submit", headers=bearer(scorer)))
    ok(gateway.post(f"{EVAL}/scorecards/{card}/accept", headers=bearer(district)))
    ok(gateway.post(f"{EVAL}/rounds/{published['id']}/close", headers=bearer(district)))
    ok(gateway.post(f"{EVAL}/rounds/{published['id']}/publish", headers=bearer(district)))
    ids.update(round=published["id"], scorecard=card, finding=finding["id"])
    ids["improvement_plan"] = _created(
        gateway.post(
            f"{EVAL}/improvement-plans",
            json={
                "finding_id": finding["id"],
                "actions": "每月增开2场主题活动",
                "owner": "王站长",
                "due_on": (today_shanghai() + dt.timedelta(days=60)).isoformat(),
            },
            headers=op,
        )
    )["id"]
    quarterly = create_round(
        gateway, district, [site_a["id"], site_b["id"]], kind="quarterly", title="安全测试季度评估"
    )
    ok(assign(gateway, district, quarterly["id"], evaluator["user"]["id"], [site_a["id"]]), 201)
    ok(assign(gateway, district, quarterly["id"], evaluator_b["user"]["id"], [site_b["id"]]), 201)
    cards = {c["site_id"]: c["id"] for c in scorecards_of(gateway, district, quarterly["id"])}
    ids.update(open_round=quarterly["id"], scorecard_draft=cards[site_a["id"]])

    tokens = {
        "district": district,
        "street": street_a,
        "operator": operator,
        "evaluator": login(gateway, evaluator["username"])["access_token"],
        "integration": integration_token(gateway, district),
        "street_b": street_b,
        "operator_b": operator_b,
        "evaluator_b": login(gateway, evaluator_b["username"])["access_token"],
        "evaluator_none": login(gateway, evaluator_none["username"])["access_token"],
    }
    users = {
        "evaluator": evaluator["user"],
        "evaluator_b": evaluator_b["user"],
        "evaluator_none": evaluator_none["user"],
    }
    return World(site=site_a, site_b=site_b, tokens=tokens, ids=ids, users=users)


def role_of(who: str) -> str:
    """The role of a world caller (``street_b`` → ``street``)."""
    return who.split("_")[0]


def fresh_user_token(gateway: httpx.Client, district: str, role: str, **scope: Any) -> str:
    user = create_user(gateway, district, role, **{k: str(v) for k, v in scope.items()})
    return str(login(gateway, user["username"])["access_token"])
