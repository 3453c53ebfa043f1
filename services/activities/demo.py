"""A year of demo logs for the demo sites (`linju up`): some sites rich, some thin, so their
projected scores differ; with residents' names and phones so masking shows. Deterministic, once."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.activities.activities.models import Activity
from services.activities.casework.models import Case, Group
from services.activities.deliberations.models import Deliberation
from services.activities.needs.models import Need, Referral
from services.activities.plans.models import ActivityPlan
from services.activities.recognition.models import BrandProject, Recognition
from services.activities.safety.models import SafetyPatrol, SafetyTraining
from services.activities.visits.models import Visit
from services.activities.volunteers.models import Volunteer, VolunteerHours
from services.common.enums import ServiceCategory
from services.common.masking import mask_id_number
from services.common.timeutil import SHANGHAI, now_shanghai, shanghai_date

CATEGORIES = [category.value for category in ServiceCategory]
TITLES = {
    "infant": "亲子共读时光",
    "elderly": "长者健康讲座",
    "youth": "青少年暑期托管",
    "disability": "助残康复训练",
    "family": "家庭教育沙龙",
    "social_assistance": "困难家庭走访",
    "culture": "邻里文化节",
    "deliberation": "居民议事会",
    "org_incubation": "社区社会组织培育营",
    "social_work": "社工小组活动",
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超"]
CREATED_BY = "demo"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def _phone(rng: random.Random) -> str:
    return rng.choice(["138", "139", "150", "186", "177"]) + f"{rng.randint(0, 99_999_999):08d}"


def _id_number(rng: random.Random) -> str:
    return (
        "330108"
        + f"{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 9999):04d}"
    )


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=SHANGHAI)


def _common(site_id: uuid.UUID) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "site_id": site_id, "created_by": CREATED_BY}


async def seed_demo_activities(session: AsyncSession, sites: list[tuple[uuid.UUID, bool]]) -> bool:
    """``sites``: (site id, rich) of the operating demo sites. Returns True when it inserted."""
    if not sites or await session.scalar(
        select(func.count()).select_from(Activity).where(Activity.created_by == CREATED_BY)
    ):
        return False
    now = now_shanghai()
    today = now.date()
    start = today - dt.timedelta(days=364)
    months = sorted(
        {(start + dt.timedelta(days=d)).replace(day=1) for d in range(0, 365, 28)} | {today.replace(day=1)}
    )
    rows: dict[Any, list[dict[str, Any]]] = {
        m: []
        for m in (
            Activity,
            ActivityPlan,
            Case,
            Group,
            Deliberation,
            Visit,
            Need,
            Volunteer,
            VolunteerHours,
            SafetyTraining,
            SafetyPatrol,
            BrandProject,
            Recognition,
        )
    }
    referrals: list[dict[str, Any]] = []
    for index, (site_id, rich) in enumerate(sites):
        rng = random.Random(f"demo-activities-{index}")
        for month in months:
            days_in_month = [
                month + dt.timedelta(days=d)
                for d in range(31)
                if (month + dt.timedelta(days=d)).month == month.month
            ]
            days = [d for d in days_in_month if d <= today]
            # Records with a time of day (activities at 9:00, visits until 19:00) only on days that
            # are over: today's 9:00 is still ahead at Shanghai 07:00, and the API refuses the future.
            past_days = [d for d in days if d < today]
            if not days:
                continue
            published = (
                _at(month - dt.timedelta(days=rng.randint(2, 6)), 10)
                if rich or rng.random() < 0.5
                else (min(_at(month + dt.timedelta(days=3), 10), now) if rng.random() < 0.5 else None)
            )
            rows[ActivityPlan].append(
                {
                    **_common(site_id),
                    "month": month,
                    "items": [
                        {"date": rng.choice(days_in_month).isoformat(), "title": TITLES[c], "category": c}
                        for c in rng.sample(CATEGORIES, 4)
                    ],
                    "published_at": published,
                    "published_late": published is not None and shanghai_date(published) >= month,
                }
            )
            for _ in range((rng.randint(6, 10) if rich else rng.randint(1, 4)) if past_days else 0):
                day = rng.choice(past_days)
                category = rng.choice(CATEGORIES)
                theme = rng.random() < (0.8 if rich else 0.4)
                attendance = rng.choice([20, 35, 60, 80, 120]) if rich else rng.choice([8, 15, 25, 55])
                evidence = [{"kind": "notice", "uri": f"https://files.linju.example/{uuid.uuid4().hex}.pdf"}]
                if rich or rng.random() < 0.5:
                    evidence.append(
                        {
                            "kind": "sign_in_sheet",
                            "uri": f"https://files.linju.example/{uuid.uuid4().hex}.jpg",
                        }
                    )
                if rich or rng.random() < 0.6:
                    evidence.append(
                        {"kind": "photo", "uri": f"https://files.linju.example/{uuid.uuid4().hex}.jpg"}
                    )
                kinds = {e["kind"] for e in evidence}
                rows[Activity].append(
                    {
                        **_common(site_id),
                        "category": category,
                        "title": TITLES[category],
                        "is_theme": theme,
                        "starts_at": _at(day, 9),
                        "ends_at": _at(day, 11),
                        "location": "多功能活动室",
                        "attendance": attendance,
                        "target_groups": [],
                        "partner_org_ids": [],
                        "evidence": evidence,
                        "has_sign_in_sheet": "sign_in_sheet" in kinds,
                        "has_photo": "photo" in kinds,
                    }
                )
            for _ in range((rng.randint(8, 20) if rich else rng.randint(2, 6)) if past_days else 0):
                day = rng.choice(past_days)
                id_number = _id_number(rng) if rng.random() < 0.3 else None
                rows[Visit].append(
                    {
                        **_common(site_id),
                        "visited_at": _at(day, rng.randint(8, 19)),
                        "headcount": rng.randint(1, 4),
                        "purpose": rng.choice(["咨询政策", "参加活动", "办理事项", "寻求帮助"]),
                        "needs": "",
                        "visitor_name": _name(rng),
                        "visitor_phone": _phone(rng),
                        "visitor_id_number_masked": mask_id_number(id_number),
                    }
                )
            if rng.random() < (0.7 if rich else 0.3):
                rows[SafetyTraining].append(
                    {
                        **_common(site_id),
                        "held_on": rng.choice(days),
                        "topic": "消防安全教育培训",
                        "attendance": rng.randint(8, 30),
                        "has_record": rich or rng.random() < 0.6,
                    }
                )
            if rich or rng.random() < 0.5:
                patrol_day = rng.choice(days)
                hazards = []
                if rng.random() < 0.3:
                    due = patrol_day + dt.timedelta(days=7)
                    fixed = due - dt.timedelta(days=2) if rich or rng.random() < 0.5 else None
                    hazards.append(
                        {
                            "description": "灭火器压力不足",
                            "due_on": due.isoformat(),
                            "rectified_on": fixed.isoformat() if fixed and fixed <= today else None,
                        }
                    )
                rows[SafetyPatrol].append(
                    {
                        **_common(site_id),
                        "patrolled_on": patrol_day,
                        "inspector": _name(rng),
                        "has_record": rich or rng.random() < 0.7,
                        "hazards": hazards,
                    }
                )
        for n in range(rng.randint(4, 8) if rich else rng.randint(0, 2)):
            opened = start + dt.timedelta(days=rng.randint(0, 300))
            id_number = _id_number(rng)
            rows[Case].append(
                {
                    **_common(site_id),
                    "target_group": rng.choice(["elderly", "children_youth", "women_family"]),
                    "opened_on": opened,
                    "stage": rng.choice(["assessment", "intervention", "closed"]),
                    "sessions": rng.randint(2, 12),
                    "client_name": _name(rng),
                    "client_phone": _phone(rng),
                    "client_id_number_masked": mask_id_number(id_number),
                    "client_id_number_hash": None,
                    "summary": "独居老人情绪支持个案",
                }
            )
            if n % 2 == 0:
                rows[Group].append(
                    {
                        **_common(site_id),
                        "name": "长者互助小组",
                        "target_group": "elderly",
                        "opened_on": opened,
                        "stage": "intervention",
                        "sessions": rng.randint(4, 8),
                        "members": rng.randint(6, 12),
                        "summary": "",
                    }
                )
        for _ in range(rng.randint(5, 8) if rich else rng.randint(1, 3)):
            complete = rich or rng.random() < 0.4
            rows[Deliberation].append(
                {
                    **_common(site_id),
                    "held_on": start + dt.timedelta(days=rng.randint(0, 360)),
                    "topic": rng.choice(["加装电梯议事", "停车位改造", "垃圾分类点位调整"]),
                    "form": rng.choice(["residents_council", "joint_meeting", "hearing"]),
                    "participants": rng.randint(10, 40),
                    "rules": "过半数通过" if complete else "",
                    "resolution": "形成决议并公示" if complete else "",
                    "execution_status": "done" if complete else "pending",
                }
            )
        for _ in range(rng.randint(3, 8)):
            need_id = uuid.uuid4()
            recorded = start + dt.timedelta(days=rng.randint(0, 350))
            rows[Need].append(
                {
                    **_common(site_id),
                    "id": need_id,
                    "recorded_on": recorded,
                    "category": rng.choice(CATEGORIES),
                    "description": "希望增加老年助餐服务",
                    "resident_name": _name(rng),
                    "resident_phone": _phone(rng),
                    "resident_id_number_masked": None,
                }
            )
            if rng.random() < 0.5:
                status = rng.choice(["open", "accepted", "closed"])
                referrals.append(
                    {
                        **_common(site_id),
                        "need_id": need_id,
                        "referred_on": recorded,
                        "to_name": "区卫生健康局",
                        "status": status,
                        "accepted_on": recorded if status != "open" else None,
                        "closed_on": recorded if status == "closed" else None,
                        "outcome": "已对接" if status == "closed" else "",
                    }
                )
        volunteers = []
        for _ in range(rng.randint(45, 130) if rich else rng.randint(5, 30)):
            vid = uuid.uuid4()
            volunteers.append(vid)
            rows[Volunteer].append(
                {
                    **_common(site_id),
                    "id": vid,
                    "name": _name(rng),
                    "phone": _phone(rng),
                    "registered_on": start + dt.timedelta(days=rng.randint(0, 300)),
                }
            )
        for _ in range(rng.randint(300, 600) if rich else rng.randint(20, 80)):
            day = start + dt.timedelta(days=rng.randint(0, 364))
            rows[VolunteerHours].append(
                {
                    **_common(site_id),
                    "volunteer_id": rng.choice(volunteers),
                    "activity_id": None,
                    "date": min(day, today),
                    "hours": Decimal(rng.choice([1, 2, 3, 4])),
                }
            )
        if rich or rng.random() < 0.3:
            rows[BrandProject].append(
                {
                    **_common(site_id),
                    "kind": "overall_brand",
                    "title": "邻聚里·幸福家",
                    "started_on": start + dt.timedelta(days=10),
                    "implemented": True,
                    "description": "",
                }
            )
        for k in range(rng.randint(1, 3) if rich else rng.randint(0, 1)):
            rows[BrandProject].append(
                {
                    **_common(site_id),
                    "kind": "service_project",
                    "title": f"品牌服务项目{k + 1}",
                    "started_on": start + dt.timedelta(days=30 * (k + 1)),
                    "implemented": rich or rng.random() < 0.5,
                    "description": "",
                }
            )
        if rich:
            for kind, level in (
                ("media", rng.choice(["city", "province"])),
                ("honour", "city"),
                ("exchange", "city"),
            ):
                rows[Recognition].append(
                    {
                        **_common(site_id),
                        "kind": kind,
                        "level": level,
                        "date": start + dt.timedelta(days=rng.randint(30, 330)),
                        "title": "社区治理经验做法",
                        "evidence": [],
                    }
                )
    for model, values in rows.items():
        if values:
            await session.execute(insert(model), values)
    if referrals:
        await session.execute(insert(Referral), referrals)
    return True
