"""Demo registry data for `linju up`: a realistic district a front-end developer can explore at once.

About 40 sites across the three streets in every status, organisations with valid USCCs, contracts,
staff with certificates and trainings, organisation links, and a year of construction filings in
every state. Deterministic (fixed random seed, ids derived from codes) and applied once.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.timeutil import today_shanghai, utc_now
from services.registry.contracts.models import Contract
from services.registry.filings.models import Filing, FilingTransition, FilingWindow
from services.registry.organizations.models import Organization
from services.registry.organizations.uscc import with_check_character
from services.registry.reference.data import STREETS
from services.registry.sites.models import Site, SiteOrganization
from services.registry.staff.models import StaffMember, StaffTraining

DEMO_NAMESPACE = uuid.UUID("3d1f2c9a-7b8e-4e51-9c0d-2a6b4f8e1d37")


def demo_id(kind: str, code: str) -> uuid.UUID:
    """Stable ids for demo objects, so demo users can point at demo organisations."""
    return uuid.uuid5(DEMO_NAMESPACE, f"{kind}:{code}")


# code, name, kind, registration — the first two are the demo operator's and evaluator's organisations.
ORGANIZATIONS = [
    ("ORG-QINLIN", "杭州市滨江区亲邻社会工作服务中心", "social_org", "registered"),
    ("ORG-MINGPING", "浙江明评社会组织评估中心", "social_org", "registered"),
    ("ORG-HEYUE", "滨江区和悦社区服务中心", "social_org", "registered"),
    ("ORG-ZHIXING", "杭州知行社会工作事务所", "social_org", "registered"),
    ("ORG-ANYANG", "滨江区安养为老服务中心", "social_org", "registered"),
    ("ORG-TONGXIN", "长河同心志愿服务队", "community_social_org", "filed"),
    ("ORG-SHUXIANG", "浦沿书香读书会", "community_social_org", "filed"),
    ("ORG-LINLI", "西兴邻里互助会", "community_social_org", "registered"),
]
OPERATORS = ["ORG-QINLIN", "ORG-HEYUE", "ORG-ZHIXING", "ORG-ANYANG"]
STAFF_NAMES = [
    "王芳", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄磊",
    "周婷", "吴昊", "徐丽", "孙强", "马超", "朱琳", "胡斌", "郭静",
]  # fmt: skip
FACILITY_TYPES = ["elderly_care", "childcare", "canteen", "reading_room", "hub"]


def _uscc(rng: random.Random, registration: str) -> str:
    prefix = "52" if registration == "registered" else "53"
    # registration authority + type (2), administrative division 330108 = 滨江区 (6), organisation code (9)
    return with_check_character(prefix + "330108" + "".join(rng.choice("0123456789") for _ in range(9)))


def _opening_hours(rng: random.Random) -> dict[str, Any]:
    long_day = rng.random() < 0.6
    hours: dict[str, Any] = {}
    for i, day in enumerate(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]):
        closed = (i == 0 and rng.random() < 0.5) or (i >= 5 and rng.random() < 0.3)
        hours[day] = None if closed else {"open": "08:00", "close": "20:30" if long_day else "17:30"}
    return hours


def _function_areas(rng: random.Random, rich: bool) -> list[dict[str, Any]]:
    areas: list[dict[str, Any]] = [
        {
            "kind": "one_stop_office",
            "tricolor_sign": rich or rng.random() < 0.5,
            "decoration_colors": 3 if rich else rng.choice([2, 3, 4, 5]),
            "floor_material": rng.choice(["tile", "vinyl"] if rich else ["tile", "wood", "other"]),
            "desk_unobstructed": rich or rng.random() < 0.6,
        },
        {"kind": "general_office"},
    ]
    if rich or rng.random() < 0.6:
        areas.append(
            {
                "kind": "deliberation_hall",
                "wall_wood_or_marble": not rich and rng.random() < 0.5,
                "floor_material": "tile" if rich else rng.choice(["tile", "wood"]),
            }
        )
    if rich or rng.random() < 0.7:
        areas.append(
            {
                "kind": "elderly_center",
                "slip_rating": rng.choice(["r10", "r11"] if rich else ["r9", "r10"]),
                "warm_walls": rich or rng.random() < 0.5,
            }
        )
    if rich or rng.random() < 0.5:
        areas.append(
            {
                "kind": "children_room",
                "soft_floor": rich or rng.random() < 0.5,
                "science_art_programs": rich or rng.random() < 0.4,
            }
        )
    for kind in ("public_activity_room", "reading_room", "counseling_room", "social_work_studio", "canteen"):
        if rich or rng.random() < 0.5:
            areas.append({"kind": kind})
    if rich:
        areas.append({"kind": "custom", "name": "非遗手作坊"})
    return areas


def _safety(rng: random.Random, today: dt.date) -> list[dict[str, Any]]:
    return [
        {
            "item": item,
            "present": rng.random() < 0.9,
            "checked_on": (today - dt.timedelta(days=rng.randint(5, 120))).isoformat(),
        }
        for item in ("fire_equipment", "fire_safety_signs", "evacuation_route", "accessibility")
    ]


async def seed_demo_registry(session: AsyncSession) -> bool:
    """Insert the demo registry unless it is already there. Returns True when it inserted."""
    if await session.scalar(select(Site.id).where(Site.code.like("DEMO-%")).limit(1)) is not None:
        return False
    rng = random.Random(20260301)
    today = today_shanghai()
    year = today.year
    now = utc_now()

    orgs = {}
    for code, name, kind, registration in ORGANIZATIONS:
        org = Organization(
            id=demo_id("organization", code),
            name=name,
            uscc=_uscc(rng, registration),
            kind=kind,
            registration=registration,
            service_areas=rng.sample(["elderly", "youth", "family", "culture"], 2),
        )
        orgs[code] = org
        session.add(org)
    await session.flush()

    statuses = ["operating"] * 30 + ["planned"] * 3 + ["building"] * 3 + ["suspended"] * 2 + ["closed"] * 2
    rng.shuffle(statuses)
    sites: list[Site] = []
    n = 0
    for street in STREETS:
        for community in street.communities:
            for _ in range(1 if n % 3 else 2):
                if n >= len(statuses):
                    break
                status = statuses[n]
                n += 1
                rich = n % 4 == 1
                mode = rng.choice(["procurement", "procurement", "self_operated", "joint"])
                site = Site(
                    id=demo_id("site", f"{street.code}-{n:03d}"),
                    code=f"DEMO-{street.code}-{n:03d}",
                    name=f"{community.name}邻聚里",
                    street_id=street.id,
                    community_id=community.id,
                    address=f"杭州市滨江区{street.name}{community.name}{rng.randint(1, 300)}号",
                    lat=Decimal(f"{30.15 + rng.random() * 0.08:.6f}"),
                    lng=Decimal(f"{120.13 + rng.random() * 0.12:.6f}"),
                    floor_area_m2=Decimal(rng.randint(300, 1800)),
                    status=status,
                    operating_mode=mode if status != "planned" else None,
                    integrated_with=rng.sample(
                        ["party_service_center", "elderly_care_center", "culture_hall", "health_station"],
                        rng.randint(0, 2),
                    ),
                    structure="reinforced_concrete" if rng.random() < 0.85 else "other",
                    opening_hours=_opening_hours(rng) if status == "operating" else {},
                    signage={
                        "door_sign": status == "operating" and rng.random() < 0.85,
                        "standing_sign": rng.random() < 0.6,
                    },
                    function_areas=_function_areas(rng, rich) if status in ("operating", "suspended") else [],
                    safety=_safety(rng, today) if status == "operating" else [],
                )
                sites.append(site)
                session.add(site)
    await session.flush()

    operating = [s for s in sites if s.status in ("operating", "suspended")]
    # The demo operator (亲邻) runs the first operating sites of 西兴, so its login shows a few sites.
    xixing = [s for s in operating if s.code.startswith("DEMO-XX")]
    for i, site in enumerate(operating):
        operator = "ORG-QINLIN" if site in xixing[:4] else OPERATORS[1 + i % 3]
        session.add(
            Contract(
                site_id=site.id,
                organization_id=orgs[operator].id,
                mode=site.operating_mode or "procurement",
                starts_on=dt.date(year, 1, 1),
                ends_on=dt.date(year + 1, 12, 31),
                amount=Decimal(rng.randrange(200_000, 900_000, 10_000)),
                deliverables="按合同开展十类服务,每月主题活动不少于5场",
            )
        )
        session.add(
            SiteOrganization(
                site_id=site.id,
                organization_id=orgs[operator].id,
                relation="operator",
                since=dt.date(year, 1, 1),
            )
        )
        for code in rng.sample(["ORG-TONGXIN", "ORG-SHUXIANG", "ORG-LINLI"], rng.randint(0, 2)):
            session.add(
                SiteOrganization(
                    site_id=site.id,
                    organization_id=orgs[code].id,
                    relation="incubated",
                    since=dt.date(year - 1, rng.randint(1, 12), 1),
                )
            )
        if rng.random() < 0.5:
            session.add(
                SiteOrganization(
                    site_id=site.id,
                    organization_id=orgs[rng.choice(OPERATORS[1:])].id,
                    relation="introduced",
                    since=dt.date(year, rng.randint(1, 6), 1),
                )
            )
        for k in range(rng.randint(2, 5)):
            certificate = rng.choice(["none", "junior", "junior", "intermediate", "senior"])
            member = StaffMember(
                site_id=site.id,
                name=rng.choice(STAFF_NAMES),
                position=["站长", "社工", "社工", "服务专员", "志愿者协调"][k],
                full_time=k < 3,
                certificate=certificate,
                certificate_no=f"ZJ{year - rng.randint(1, 6)}{rng.randint(100000, 999999)}"
                if certificate != "none"
                else None,
                active_from=dt.date(year - rng.randint(0, 3), rng.randint(1, 12), 1),
            )
            session.add(member)
            await session.flush()
            for _ in range(rng.randint(0, 8)):
                day = dt.date(year, rng.randint(1, max(1, today.month)), rng.randint(1, 28))
                if day <= today:
                    session.add(
                        StaffTraining(
                            staff_id=member.id,
                            date=day,
                            topic=rng.choice(
                                [
                                    "社会工作继续教育",
                                    "消防安全培训",
                                    "个案工作方法",
                                    "小组工作督导",
                                    "养老服务规范",
                                ]
                            ),
                            hours=Decimal(rng.choice([2, 4, 6, 8, 12])),
                        )
                    )

    session.add(FilingWindow(year=year, opens_on=dt.date(year, 1, 1), closes_on=dt.date(year, 3, 31)))
    states = ["draft", "submitted", "returned", "approved", "rejected", "submitted", "approved", "draft"]
    for i, state in enumerate(states):
        street = STREETS[i % len(STREETS)]
        community = street.communities[i % len(street.communities)]
        kind = "hub_plan" if i % 2 == 0 else "facility"
        filing = Filing(
            id=uuid.uuid4(),
            year=year,
            kind=kind,
            state=state,
            filer_name=street.name if kind == "hub_plan" else "滨江区卫生健康局",
            street_id=street.id,
            community_id=community.id,
            facility_type="hub" if kind == "hub_plan" else FACILITY_TYPES[i % 4],
            title=community.name
            + ("社区美好生活共同体建设计划" if kind == "hub_plan" else "服务设施建设报备"),
            planned_area_m2=Decimal(rng.randint(200, 1200)),
            budget=Decimal(rng.randrange(300_000, 3_000_000, 50_000)),
            funding_source="区级财政+街道配套",
            planned_start=dt.date(year, 4, 1),
            planned_finish=dt.date(year, 12, 31),
            description="结合社区实际需求,统筹建设。",
            created_by="demo",
        )
        if kind == "hub_plan" and state == "approved":
            # As approval does through the API (6.2.2): the plan becomes a planned site, linked in
            # the same write (ck_filings_site_id_when_approved).
            planned = Site(
                id=demo_id("site", f"filing-{i}"),
                code=f"DEMO-HP-{year}-{i:02d}",
                name=filing.title,
                street_id=street.id,
                community_id=community.id,
                status="planned",
                filing_id=filing.id,
            )
            session.add(planned)
            filing.site_id = planned.id
        session.add(filing)
        await session.flush()
        path = {
            "draft": ["draft"],
            "submitted": ["draft", "submitted"],
            "returned": ["draft", "submitted", "returned"],
            "approved": ["draft", "submitted", "approved"],
            "rejected": ["draft", "submitted", "rejected"],
        }[state]
        previous = None
        for step, to_state in enumerate(path):
            session.add(
                FilingTransition(
                    filing_id=filing.id,
                    from_state=previous,
                    to_state=to_state,
                    actor="demo",
                    actor_role="district" if to_state in ("returned", "approved", "rejected") else "street",
                    comment={
                        "returned": "请补充预算明细",
                        "rejected": "与已批准项目重复",
                        "approved": "同意纳入建设名单",
                    }.get(to_state),
                    occurred_at=now - dt.timedelta(days=60 - step * 7),
                )
            )
            previous = to_state
    await session.flush()
    return True


async def demo_site_profiles(session: AsyncSession) -> list[tuple[uuid.UUID, bool]]:
    """The operating demo sites and whether each is a "rich" one (the same sites as above)."""
    rows = await session.execute(
        select(Site.id, Site.code)
        .where(Site.code.like("DEMO-%"), Site.status == "operating")
        .order_by(Site.code)
    )
    return [(site_id, int(code.rsplit("-", 1)[1]) % 4 == 1) for site_id, code in rows if code.count("-") == 2]
