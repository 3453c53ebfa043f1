"""The single vocabulary of Linju: every enumeration of every service, with English and Chinese labels.

Codes are lower-case English strings exactly as SPEC.md spells them; they are what the API accepts and
returns and what the database stores. Each enum is a :class:`enum.StrEnum`, so members compare equal to
their codes and serialise as plain strings.

:data:`LABELS` maps each enum's snake_case name (``"site_status"`` for :class:`SiteStatus`) to
``{code: (english_label, chinese_label)}``; Chinese labels follow the Binjiang standard
*社区美好生活共同体运营与管理规范* wherever it names the concept. :func:`enum_document` renders all of
it as the document served by ``GET /api/v1/registry/enums``. An import-time check guarantees that every
member has a label and every label a member, so adding a member without its labels fails loudly.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

# --------------------------------------------------------------------------------------------------
# Registry (SPEC §4)
# --------------------------------------------------------------------------------------------------


class SiteStatus(StrEnum):
    """Lifecycle of a site (一个社区美好生活共同体)."""

    PLANNED = "planned"
    BUILDING = "building"
    OPERATING = "operating"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class OperatingMode(StrEnum):
    """运营方式 (5.1)."""

    PROCUREMENT = "procurement"
    SELF_OPERATED = "self_operated"
    JOINT = "joint"


class IntegratedWith(StrEnum):
    """Community service premises a site may be integrated with (4.1)."""

    PARTY_SERVICE_CENTER = "party_service_center"
    ELDERLY_CARE_CENTER = "elderly_care_center"
    CULTURE_HALL = "culture_hall"
    HEALTH_STATION = "health_station"


class Structure(StrEnum):
    """Building structure (4.2.1)."""

    REINFORCED_CONCRETE = "reinforced_concrete"
    OTHER = "other"


class Tier(StrEnum):
    """Hub type by evaluation ratio (Annex A); written only by the evaluation service."""

    DEMONSTRATION = "demonstration"
    STANDARD = "standard"
    BASIC = "basic"


class Weekday(StrEnum):
    """Days of the week, keys of a site's opening hours."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class FunctionAreaKind(StrEnum):
    """Function areas of a site (4.3.1, 4.3.2, Table C.1 功能设置)."""

    ONE_STOP_OFFICE = "one_stop_office"
    GENERAL_OFFICE = "general_office"
    DELIBERATION_HALL = "deliberation_hall"
    ORG_INCUBATOR = "org_incubator"
    PUBLIC_ACTIVITY_ROOM = "public_activity_room"
    READING_ROOM = "reading_room"
    COUNSELING_ROOM = "counseling_room"
    SOCIAL_WORK_STUDIO = "social_work_studio"
    CANTEEN = "canteen"
    CHILDCARE = "childcare"
    ELDERLY_CENTER = "elderly_center"
    CHILDREN_ROOM = "children_room"
    CUSTOM = "custom"


class FloorMaterial(StrEnum):
    """Floor material of a function area (C05–C07)."""

    TILE = "tile"
    VINYL = "vinyl"
    WOOD = "wood"
    OTHER = "other"


class SlipRating(StrEnum):
    """Anti-slip rating of a floor (R9…R13); above R9 earns points in C05."""

    R9 = "r9"
    R10 = "r10"
    R11 = "r11"
    R12 = "r12"
    R13 = "r13"


class SafetyItem(StrEnum):
    """Basic safety checklist of a site (4.2.1); see :data:`SAFETY_ITEM_STANDARD`."""

    FIRE_EQUIPMENT = "fire_equipment"
    FIRE_SAFETY_SIGNS = "fire_safety_signs"
    EVACUATION_ROUTE = "evacuation_route"
    ACCESSIBILITY = "accessibility"


class OrganizationKind(StrEnum):
    """Kind of organisation (3.3, 3.4)."""

    SOCIAL_ORG = "social_org"
    COMMUNITY_SOCIAL_ORG = "community_social_org"


class Registration(StrEnum):
    """Legal standing of an organisation: registered with civil affairs, or only filed (备案)."""

    REGISTERED = "registered"
    FILED = "filed"


class SiteOrgRelation(StrEnum):
    """How an organisation is linked to a site."""

    OPERATOR = "operator"
    INTRODUCED = "introduced"
    INCUBATED = "incubated"


class ContractMode(StrEnum):
    """Mode of a service contract (5.1); same codes as :class:`OperatingMode`."""

    PROCUREMENT = "procurement"
    SELF_OPERATED = "self_operated"
    JOINT = "joint"


class Certificate(StrEnum):
    """Social-work qualification of a staff member (5.2, C11)."""

    NONE = "none"
    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"


class FilingKind(StrEnum):
    """Kind of construction filing (6.2.2)."""

    FACILITY = "facility"
    HUB_PLAN = "hub_plan"


class FilingState(StrEnum):
    """State of a construction filing: draft → submitted → (returned → submitted)* → approved | rejected."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"


# --------------------------------------------------------------------------------------------------
# Activities (SPEC §5)
# --------------------------------------------------------------------------------------------------


class ServiceCategory(StrEnum):
    """The ten service categories (5.4)."""

    INFANT = "infant"
    ELDERLY = "elderly"
    YOUTH = "youth"
    DISABILITY = "disability"
    FAMILY = "family"
    SOCIAL_ASSISTANCE = "social_assistance"
    CULTURE = "culture"
    DELIBERATION = "deliberation"
    ORG_INCUBATION = "org_incubation"
    SOCIAL_WORK = "social_work"


class EvidenceKind(StrEnum):
    """Evidence attached to an activity (C15: 活动记录、通知、手写签到表、照片)."""

    NOTICE = "notice"
    SIGN_IN_SHEET = "sign_in_sheet"
    PHOTO = "photo"
    RECORD = "record"


class TargetGroup(StrEnum):
    """Target group of cases, groups and activities (C16)."""

    ELDERLY = "elderly"
    CHILDREN_YOUTH = "children_youth"
    WOMEN_FAMILY = "women_family"
    ASSISTANCE_RECIPIENT = "assistance_recipient"
    DISABLED = "disabled"
    OTHER = "other"


class CaseStage(StrEnum):
    """Stage of a case (MZ/T 094) or group (MZ/T 095)."""

    INTAKE = "intake"
    ASSESSMENT = "assessment"
    PLAN = "plan"
    INTERVENTION = "intervention"
    EVALUATION = "evaluation"
    CLOSED = "closed"


class DeliberationForm(StrEnum):
    """Form of a deliberation (5.4.8)."""

    JOINT_MEETING = "joint_meeting"
    PARTY_REP_MEETING = "party_rep_meeting"
    RESIDENTS_MEETING = "residents_meeting"
    RESIDENTS_COUNCIL = "residents_council"
    HEARING = "hearing"
    COORDINATION = "coordination"
    REVIEW = "review"


class ExecutionStatus(StrEnum):
    """Execution of a deliberation's resolution (C17 决议执行)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class ReferralStatus(StrEnum):
    """Status of a referral (5.3 转介)."""

    OPEN = "open"
    ACCEPTED = "accepted"
    CLOSED = "closed"


class BrandProjectKind(StrEnum):
    """Brand work (C19)."""

    OVERALL_BRAND = "overall_brand"
    SERVICE_PROJECT = "service_project"


class RecognitionKind(StrEnum):
    """Kind of external recognition (C20, C21)."""

    EXCHANGE = "exchange"
    MEDIA = "media"
    HONOUR = "honour"


class RecognitionLevel(StrEnum):
    """Administrative level of a recognition (C20, C21)."""

    DISTRICT = "district"
    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"


class ExportFormat(StrEnum):
    """Download format of statistics and reports (``?format=``)."""

    CSV = "csv"
    XLSX = "xlsx"


# --------------------------------------------------------------------------------------------------
# Evaluation (SPEC §6)
# --------------------------------------------------------------------------------------------------


class SurveyChannel(StrEnum):
    """How a satisfaction-survey respondent was reached (C18)."""

    ONSITE_RANDOM = "onsite_random"
    PHONE = "phone"


class SurveyDimension(StrEnum):
    """The six rated dimensions of the satisfaction survey (C18)."""

    SPACE = "space"
    FUNCTIONS = "functions"
    SERVICE = "service"
    PRICING = "pricing"
    PARTICIPATION = "participation"
    BELONGING = "belonging"


class RoundKind(StrEnum):
    """Kind of evaluation round (7.1.2, 7.2.1)."""

    MIDTERM = "midterm"
    FINAL = "final"
    QUARTERLY = "quarterly"


class RoundState(StrEnum):
    """State of an evaluation round: open → closed → published."""

    OPEN = "open"
    CLOSED = "closed"
    PUBLISHED = "published"


class ScorecardState(StrEnum):
    """State of a scorecard: draft → submitted → returned → submitted → accepted."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"


class IndicatorSource(StrEnum):
    """Where an indicator's score comes from."""

    AUTO = "auto"
    MANUAL = "manual"
    HYBRID = "hybrid"


class ImprovementState(StrEnum):
    """State of an improvement plan (7.2.2)."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    VERIFIED = "verified"


class FindingSeverity(StrEnum):
    """Severity of an evaluation finding."""

    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


# --------------------------------------------------------------------------------------------------
# Gateway (SPEC §1, §7)
# --------------------------------------------------------------------------------------------------


class Role(StrEnum):
    """Role of a user or API client."""

    DISTRICT = "district"
    STREET = "street"
    OPERATOR = "operator"
    EVALUATOR = "evaluator"
    INTEGRATION = "integration"


class DeliveryState(StrEnum):
    """State of a webhook delivery: pending until answered with a 2xx (delivered) or until its retry
    window ends (failed)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


# Every enum, in the order of the enum document.
ENUMS: tuple[type[StrEnum], ...] = (
    SiteStatus,
    OperatingMode,
    IntegratedWith,
    Structure,
    Tier,
    Weekday,
    FunctionAreaKind,
    FloorMaterial,
    SlipRating,
    SafetyItem,
    OrganizationKind,
    Registration,
    SiteOrgRelation,
    ContractMode,
    Certificate,
    FilingKind,
    FilingState,
    ServiceCategory,
    EvidenceKind,
    TargetGroup,
    CaseStage,
    DeliberationForm,
    ExecutionStatus,
    ReferralStatus,
    BrandProjectKind,
    RecognitionKind,
    RecognitionLevel,
    ExportFormat,
    SurveyChannel,
    SurveyDimension,
    RoundKind,
    RoundState,
    ScorecardState,
    IndicatorSource,
    ImprovementState,
    FindingSeverity,
    Role,
    DeliveryState,
)

# The national standard each safety checklist item must comply with (4.2.1); None: no standard named.
SAFETY_ITEM_STANDARD: dict[SafetyItem, str | None] = {
    SafetyItem.FIRE_EQUIPMENT: "GB 2894",
    SafetyItem.FIRE_SAFETY_SIGNS: "GB 13495.1",
    SafetyItem.EVACUATION_ROUTE: None,
    SafetyItem.ACCESSIBILITY: "GB 50763",
}

_OPERATING_MODE_LABELS: dict[str, tuple[str, str]] = {
    "procurement": ("Government procurement of services", "政府购买服务"),
    "self_operated": ("Self-operated by the community", "社区自行运营"),
    "joint": ("Joint operation with a third party", "第三方联合运营"),
}

# enum name -> {code: (English label, Chinese label)}
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "site_status": {
        "planned": ("Planned", "规划中"),
        "building": ("Under construction", "建设中"),
        "operating": ("Operating", "运营中"),
        "suspended": ("Suspended", "暂停运营"),
        "closed": ("Closed", "已关闭"),
    },
    "operating_mode": dict(_OPERATING_MODE_LABELS),
    "integrated_with": {
        "party_service_center": ("Community Party and public service centre", "社区党群服务中心"),
        "elderly_care_center": ("Home-based elderly day-care centre", "居家养老服务照料中心"),
        "culture_hall": ("Cultural auditorium", "文化礼堂"),
        "health_station": ("Community health station", "卫生服务站"),
    },
    "structure": {
        "reinforced_concrete": ("Reinforced concrete", "钢筋混凝土结构"),
        "other": ("Other structure", "其他结构"),
    },
    "tier": {
        "demonstration": ("Demonstration", "示范型"),
        "standard": ("Standard", "标准型"),
        "basic": ("Basic", "基础型"),
    },
    "weekday": {
        "mon": ("Monday", "星期一"),
        "tue": ("Tuesday", "星期二"),
        "wed": ("Wednesday", "星期三"),
        "thu": ("Thursday", "星期四"),
        "fri": ("Friday", "星期五"),
        "sat": ("Saturday", "星期六"),
        "sun": ("Sunday", "星期日"),
    },
    "function_area_kind": {
        "one_stop_office": ("One-stop service office (Yibinban)", "一滨办"),
        "general_office": ("General office", "综合办公室"),
        "deliberation_hall": ("Residents' deliberation hall", "居民议事厅"),
        "org_incubator": ("Social organisation incubation centre", "社会组织孵化中心"),
        "public_activity_room": ("Multi-purpose activity room", "多功能文体活动室（公共活动室）"),
        "reading_room": ("City reading room", "城市书房（共享书房）"),
        "counseling_room": ("Psychological counselling room", "心理咨询室"),
        "social_work_studio": ("Professional social work studio", "社会工作专业工作室"),
        "canteen": ("Neighbourhood canteen", "邻里食堂（老年食堂）"),
        "childcare": ("Childcare centre", "托幼中心"),
        "elderly_center": ("Home-based elderly care centre", "居家养老中心（老年活动室）"),
        "children_room": ("Children's activity room", "儿童活动室"),
        "custom": ("Featured service", "特色服务"),
    },
    "floor_material": {
        "tile": ("Floor tiles", "地砖"),
        "vinyl": ("Vinyl flooring", "地胶"),
        "wood": ("Wooden flooring", "木地板"),
        "other": ("Other", "其他"),
    },
    "slip_rating": {
        "r9": ("R9", "防滑等级 R9"),
        "r10": ("R10", "防滑等级 R10"),
        "r11": ("R11", "防滑等级 R11"),
        "r12": ("R12", "防滑等级 R12"),
        "r13": ("R13", "防滑等级 R13"),
    },
    "safety_item": {
        "fire_equipment": ("Extinguishers and fire equipment (GB 2894)", "灭火器材、防火器具（GB 2894）"),
        "fire_safety_signs": ("Fire safety signs (GB 13495.1)", "消防安全标志（GB 13495.1）"),
        "evacuation_route": ("Emergency evacuation route", "紧急疏散通道"),
        "accessibility": ("Accessibility facilities (GB 50763)", "无障碍设施（GB 50763）"),
    },
    "organization_kind": {
        "social_org": ("Social organisation", "社会组织"),
        "community_social_org": ("Community social organisation", "社区社会组织"),
    },
    "registration": {
        "registered": ("Registered", "登记"),
        "filed": ("Filed", "备案"),
    },
    "site_org_relation": {
        "operator": ("Operator", "承接运营"),
        "introduced": ("Introduced professional organisation", "引进的专业社会组织"),
        "incubated": ("Incubated community organisation", "培育的社区社会组织"),
    },
    "contract_mode": dict(_OPERATING_MODE_LABELS),
    "certificate": {
        "none": ("None", "无"),
        "junior": ("Assistant social worker", "助理社会工作师"),
        "intermediate": ("Social worker", "社会工作师"),
        "senior": ("Senior social worker", "高级社会工作师"),
    },
    "filing_kind": {
        "facility": ("Unit facility filing", "单位设施报备"),
        "hub_plan": ("Street hub construction plan", "街道共同体建设计划"),
    },
    "filing_state": {
        "draft": ("Draft", "草稿"),
        "submitted": ("Submitted", "已报备"),
        "returned": ("Returned", "已退回"),
        "approved": ("Approved", "已通过"),
        "rejected": ("Rejected", "未通过"),
    },
    "service_category": {
        "infant": ("Infant services", "婴幼儿服务"),
        "elderly": ("Elderly services", "老年人服务"),
        "youth": ("Youth services", "青少年服务"),
        "disability": ("Disability rehabilitation services", "残障康复服务"),
        "family": ("Family services", "家庭服务"),
        "social_assistance": ("Social assistance services", "社会救助服务"),
        "culture": ("Cultural services", "文化服务"),
        "deliberation": ("Consultation and deliberation services", "协商议事服务"),
        "org_incubation": ("Organisation incubation services", "组织培育服务"),
        "social_work": ("Professional social work services", "社会工作专业服务"),
    },
    "evidence_kind": {
        "notice": ("Notice", "活动通知"),
        "sign_in_sheet": ("Handwritten sign-in sheet", "手写签到表"),
        "photo": ("Photo", "照片"),
        "record": ("Activity record", "活动记录"),
    },
    "target_group": {
        "elderly": ("Older people", "老年人"),
        "children_youth": ("Children and youth", "儿童青少年"),
        "women_family": ("Women and families", "妇女家庭"),
        "assistance_recipient": ("Social assistance recipients", "社会救助对象"),
        "disabled": ("People with disabilities", "残障人士"),
        "other": ("Other", "其他"),
    },
    "case_stage": {
        "intake": ("Intake", "接案"),
        "assessment": ("Assessment", "预估"),
        "plan": ("Planning", "计划"),
        "intervention": ("Intervention", "介入"),
        "evaluation": ("Evaluation", "评估"),
        "closed": ("Closed", "结案"),
    },
    "deliberation_form": {
        "joint_meeting": ("Community joint meeting", "社区联席会"),
        "party_rep_meeting": ("Party members' representative meeting", "社区党员代表会议"),
        "residents_meeting": ("Residents' meeting", "居民会议"),
        "residents_council": ("Residents' council", "居民议事会"),
        "hearing": ("Hearing", "听证会"),
        "coordination": ("Coordination meeting", "协调会"),
        "review": ("Review meeting", "评议会"),
    },
    "execution_status": {
        "pending": ("Pending", "待执行"),
        "in_progress": ("In progress", "执行中"),
        "done": ("Done", "已执行"),
    },
    "referral_status": {
        "open": ("Open", "待受理"),
        "accepted": ("Accepted", "已受理"),
        "closed": ("Closed", "已办结"),
    },
    "brand_project_kind": {
        "overall_brand": ("Overall brand", "整体性品牌"),
        "service_project": ("Brand service project", "品牌服务项目"),
    },
    "recognition_kind": {
        "exchange": ("Experience exchange / leadership instruction", "经验交流/领导批示"),
        "media": ("Media report", "媒体报道"),
        "honour": ("Honour", "荣誉表彰"),
    },
    "recognition_level": {
        "district": ("District", "区级"),
        "city": ("City", "市级"),
        "province": ("Province", "省级"),
        "national": ("National", "国家级"),
    },
    "export_format": {
        "csv": ("CSV", "CSV 文件"),
        "xlsx": ("Excel workbook", "Excel 表格"),
    },
    "survey_channel": {
        "onsite_random": ("On-site random sample", "现场随机抽取"),
        "phone": ("Telephone sample", "电话抽取"),
    },
    "survey_dimension": {
        "space": ("Space renovation", "空间改造"),
        "functions": ("Functions", "功能构成"),
        "service": ("Service quality", "服务水平"),
        "pricing": ("Affordable pricing", "惠民定价"),
        "participation": ("Participation", "参与积极性"),
        "belonging": ("Sense of belonging", "社区归属感"),
    },
    "round_kind": {
        "midterm": ("Mid-term evaluation", "中期评估"),
        "final": ("Final evaluation", "终期评估"),
        "quarterly": ("Quarterly monitoring", "季度监测"),
    },
    "round_state": {
        "open": ("Open", "进行中"),
        "closed": ("Closed", "已截止"),
        "published": ("Published", "已发布"),
    },
    "scorecard_state": {
        "draft": ("Draft", "草稿"),
        "submitted": ("Submitted", "已提交"),
        "returned": ("Returned", "已退回"),
        "accepted": ("Accepted", "已确认"),
    },
    "indicator_source": {
        "auto": ("Computed", "自动计算"),
        "manual": ("Assessed by evaluator", "评估人员评分"),
        "hybrid": ("Computed, confirmed by evaluator", "自动预评、人工确认"),
    },
    "improvement_state": {
        "open": ("Open", "待整改"),
        "in_progress": ("In progress", "整改中"),
        "done": ("Done", "已完成"),
        "verified": ("Verified", "已验收"),
    },
    "finding_severity": {
        "minor": ("Minor", "轻微"),
        "major": ("Major", "较重"),
        "critical": ("Critical", "严重"),
    },
    "role": {
        "district": ("District civil affairs bureau", "区民政局"),
        "street": ("Street", "街道"),
        "operator": ("Operator", "运营方"),
        "evaluator": ("Third-party evaluator", "第三方评估机构"),
        "integration": ("Data platform integration", "数据平台对接"),
    },
    "delivery_state": {
        "pending": ("Pending", "待推送"),
        "delivered": ("Delivered", "已送达"),
        "failed": ("Failed", "推送失败"),
    },
}


def enum_name(enum_cls: type[StrEnum]) -> str:
    """The snake_case name of an enum class, its key in :data:`LABELS` (``SiteOrgRelation`` →
    ``site_org_relation``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_cls.__name__).lower()


def label(member: StrEnum, lang: str = "en") -> str:
    """The label of one member: English by default, Chinese for any ``lang`` starting with ``zh``."""
    en, zh = LABELS[enum_name(type(member))][member.value]
    return zh if lang.lower().startswith("zh") else en


def enum_document() -> dict[str, Any]:
    """All enums with their labels, as served by ``GET /api/v1/registry/enums``.

    Enums appear in :data:`ENUMS` order, values in declaration order:
    ``{"enums": {name: {"values": [{"code": c, "en": en, "zh": zh}, ...]}}}``.
    """
    enums: dict[str, Any] = {}
    for enum_cls in ENUMS:
        labels = LABELS[enum_name(enum_cls)]
        enums[enum_name(enum_cls)] = {
            "values": [
                {"code": member.value, "en": labels[member.value][0], "zh": labels[member.value][1]}
                for member in enum_cls
            ]
        }
    return {"enums": enums}


def _check_labels() -> None:
    """Fail at import if an enum and its labels disagree in either direction."""
    problems: list[str] = []
    names = [enum_name(enum_cls) for enum_cls in ENUMS]
    for obj in globals().values():
        is_local_enum = isinstance(obj, type) and issubclass(obj, StrEnum) and obj.__module__ == __name__
        if is_local_enum and obj not in ENUMS:
            problems.append(f"enum {obj.__name__} is missing from ENUMS")
    if len(set(names)) != len(names):
        problems.append("duplicate enum names")
    for name in sorted(set(LABELS) - set(names)):
        problems.append(f"LABELS[{name!r}] has no enum")
    for enum_cls, name in zip(ENUMS, names, strict=True):
        labels = LABELS.get(name)
        if labels is None:
            problems.append(f"enum {enum_cls.__name__} has no LABELS[{name!r}]")
            continue
        codes = {member.value for member in enum_cls}
        for code in sorted(codes - set(labels)):
            problems.append(f"{name}.{code} has no label")
        for code in sorted(set(labels) - codes):
            problems.append(f"label {name}.{code} has no member")
        for code, pair in labels.items():
            if len(pair) != 2 or not all(isinstance(text, str) and text.strip() for text in pair):
                problems.append(f"label {name}.{code} needs a non-empty English and Chinese text")
        for member in enum_cls:
            if member.value != member.value.lower():
                problems.append(f"{name}.{member.value} is not a lower-case code")
    if problems:
        raise RuntimeError("enum labels out of sync: " + "; ".join(problems))


_check_labels()
