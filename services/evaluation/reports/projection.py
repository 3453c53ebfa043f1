"""Self-assessment (SPEC §6 projection): a site's points so far, and what each indicator still misses.

The points come from the same extraction and engine as a scorecard
(:mod:`services.evaluation.scorecards.inputs`, :mod:`services.evaluation.scorecards.compute`). What
is *missing* is read off the rule itself: one function per term type of the rubric language, so a
new rubric version gets its texts without new code —

* ``flag`` / ``first_of`` → which facts are false ("missing: a children's room");
* ``threshold`` / ``all`` → how far below the bound ("2 more opening hours per day");
* ``cap`` over ``per_count`` → how many more up to the cap, and to the next step when counted in steps
  ("12 more registered volunteers for the next 0.5 …"); several counts in one cap are alternatives;
* ``deduction`` / ``shortfall_steps`` → the shortfall and what it costs;
* ``level`` → the next level and the top one; ``rate`` → the points per percentage point.

Each gap carries the numbers (:class:`Need`: input, current, target, more = target − current) and a
sentence in English and Chinese built from the input's :data:`WORDS`. A few inputs are sums of
several counts (C15's shortfall, C10's patrol deductions); their :data:`DETAILS` break them down
from the activities metrics ("2 more activities of more than 100 people").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from services.common.enums import IndicatorSource
from services.evaluation.rubric.engine import RubricError, evaluate, inputs_of, max_points_of
from services.evaluation.scorecards import compute
from services.evaluation.scorecards.inputs import (
    THEMES_PER_MONTH,
    YEARLY_50_100,
    YEARLY_OVER_100,
    InputRecord,
    engine_values,
    prorated_yearly,
    record,
)

RATIO_PLACES = Decimal("0.0001")
SATISFACTION_TARGET = Decimal("0.9")  # 7.1.1


def fmt(value: Any) -> str:
    """1 → "1", Decimal("2.50") → "2.5", True → "true"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, float):
        return fmt(Decimal(str(value)))
    return str(value)


def D(value: Any) -> Decimal:
    if value is None or isinstance(value, bool):
        return Decimal(int(bool(value)))
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _json_number(value: Decimal) -> int | Decimal:
    return int(value) if value == value.to_integral_value() else value.normalize()


# ---- what a gap says -------------------------------------------------------------------------------


@dataclass
class Need:
    """One number (or fact) the site could change: ``more`` = target − current when both are numbers."""

    input: str
    current: Any
    target: Any
    more: Any = None
    next_target: Any = None
    more_for_next: Any = None


@dataclass
class Gap:
    points: Decimal
    en: str
    zh: str
    needs: list[Need] = field(default_factory=list)
    either: bool = False  # any one of the needs closes the gap (alternatives)

    @property
    def text_en(self) -> str:
        return f"{self.en} (+{fmt(self.points)})"

    @property
    def text_zh(self) -> str:
        return f"{self.zh}(+{fmt(self.points)} 分)"


@dataclass(frozen=True)
class Words:
    """How to name an input: ``en``/``zh`` noun phrases (counts: plural); ``one`` the English singular;
    ``measure`` the Chinese measure word or unit (名, 家, 场, 小时 …)."""

    en: str
    zh: str
    one: str = ""
    measure: str = ""

    def noun(self, count: Any) -> str:
        return self.one if self.one and D(count) == 1 else self.en


WORDS: dict[str, Words] = {
    # registry facts
    "site.door_sign": Words("an outdoor 邻聚里(HOME+) door sign", "室外显著位置的“邻聚里(HOME+)”标识"),
    "area.elderly_center": Words(
        "an elderly centre (or elderly activity room)", "居家养老中心(或老年活动室)"
    ),
    "area.elderly_center.slip_above_r9": Words(
        "an anti-slip floor rated above R9 in the elderly centre", "老年活动区地面防湿滑系数大于R9"
    ),
    "area.elderly_center.warm_walls": Words(
        "warm-coloured walls in the elderly centre", "老年活动区墙面暖色温馨"
    ),
    "area.children_room": Words("a children's room", "儿童活动室"),
    "area.children_room.soft_floor": Words(
        "a soft vinyl floor in the children's room", "儿童活动室地面铺设软质地胶"
    ),
    "area.children_room.science_art": Words(
        "science or art programmes in the children's room", "儿童活动室配备科学教育、艺术培训等功能"
    ),
    "area.public_activity_room": Words("a public activity room", "公共活动室"),
    "area.reading_room": Words("a shared reading room", "共享书房"),
    "area.deliberation_hall": Words("a residents' deliberation hall", "居民议事厅"),
    "area.deliberation_hall.walls_not_wood_or_marble": Words(
        "deliberation-hall walls without wood panelling or marble", "议事厅墙面未使用木饰板或大理石"
    ),
    "area.deliberation_hall.tile_floor": Words(
        "a tiled floor in the deliberation hall", "议事厅地面材质为地砖"
    ),
    "area.one_stop_office.tricolor_sign": Words(
        "the red-blue-orange 一滨办 sign at the one-stop office window", "“一滨办”窗口红蓝橙三色标识"
    ),
    "area.one_stop_office.few_colors": Words(
        "at most three decoration colours in the one-stop office", "“一滨办”整体装饰颜色不超过三种"
    ),
    "area.one_stop_office.tile_or_vinyl_floor": Words(
        "a tile or vinyl floor in the one-stop office", "“一滨办”地面材质为地砖或地胶"
    ),
    "area.one_stop_office.desk_unobstructed": Words(
        "a comfortable, unobstructed service desk in the one-stop office", "“一滨办”服务台舒适无遮挡"
    ),
    "site.hours_per_day": Words("opening hours per day", "每天开放时间", measure="小时"),
    "site.days_per_week": Words("opening days per week", "每周开放天数", measure="天"),
    "staff.intermediate_or_senior": Words(
        "staff with an intermediate or senior social-work certificate",
        "持有中级及以上社会工作证书的工作人员",
        one="staff member with an intermediate or senior social-work certificate",
        measure="名",
    ),
    "staff.junior": Words(
        "staff with a junior social-work certificate",
        "持有初级社会工作师证书的工作人员",
        one="staff member with a junior social-work certificate",
        measure="名",
    ),
    "staff.avg_training_hours": Words(
        "training hours per active staff member on average", "工作人员年度平均培训学时", measure="学时"
    ),
    "orgs.introduced": Words(
        "introduced professional social organisations",
        "引进的专业社会组织",
        one="introduced professional social organisation",
        measure="家",
    ),
    "orgs.incubated_filed_or_registered": Words(
        "incubated community social organisations (filed or registered)",
        "培育并备案或注册的社区社会组织",
        one="incubated community social organisation (filed or registered)",
        measure="家",
    ),
    # activities metrics
    "volunteers.registered": Words(
        "registered volunteers", "在册志愿者", one="registered volunteer", measure="名"
    ),
    "volunteers.hours": Words(
        "volunteer service hours", "志愿服务", one="volunteer service hour", measure="小时"
    ),
    "plans.all_published_before_month": Words(
        "every month's activity plan published before the month begins", "每月提前制定并告知月度活动安排"
    ),
    "themes.shortfall": Words("short of the theme-activity targets", "主题活动缺口", measure="场"),
    "casework.cases_and_groups": Words(
        "cases or groups (specialised social-work services)",
        "个案或小组(专项社会工作服务)",
        one="case or group (specialised social-work service)",
        measure="个",
    ),
    "deliberations.complete": Words(
        "complete deliberations (rules, resolution and execution recorded)",
        "完整的民主协商(确定议事规则、形成议事结果、决议执行)",
        one="complete deliberation (rules, resolution and execution recorded)",
        measure="次",
    ),
    "safety.trainings_held": Words("fire-safety training held in the period", "开展消防安全教育培训"),
    "safety.training_records_incomplete": Words(
        "fire-safety training records incomplete", "教育培训记录不完整", measure="次"
    ),
    "safety.patrols_regular": Words("a fire-safety patrol every month", "每月定期开展消防安全巡查"),
    "safety.patrol_deductions": Words(
        "hazards not fixed in time or patrol records incomplete",
        "未及时整改的隐患或不完备的巡查记录",
        measure="处",
    ),
    "brand.overall": Words("an overall community brand", "符合社区特色的整体性品牌"),
    "brand.implemented_projects": Words(
        "implemented brand service projects",
        "实施的品牌服务项目",
        one="implemented brand service project",
        measure="个",
    ),
    "recognition.exchange": Words("experience exchange or leadership instruction", "经验交流、领导批示"),
    "recognition.media": Words("media report", "媒体或刊物刊登"),
    "recognition.honour": Words("honour", "荣誉表彰"),
    "survey.satisfaction_rate": Words("residents' satisfaction rate", "居民满意率"),
    # the evaluator's judgements
    "manual.C01.well_located": Words(
        "a well-chosen location (evaluator's judgement)", "选址科学(评估人员评定)"
    ),
    "manual.C03.zoned": Words("a layout separating active and quiet areas", "空间布局动静区分、静养结合"),
    "manual.C03.open_plan": Words("an open-plan layout with few partitions", "空间布局大开间、少隔断"),
    "manual.C04.waste_sorting": Words("waste sorting in place", "落实垃圾分类管理制度"),
    "manual.C04.issues_found": Words(
        "hygiene issues found", "发现卫生问题", one="hygiene issue found", measure="处"
    ),
    "manual.C08.rules_exist": Words(
        "staff rules, job duties and codes of conduct", "工作人员管理制度、岗位职责和工作守则"
    ),
    "manual.C08.implementation": Words("implementation of the staff rules", "管理制度落实情况"),
    "manual.C09.rules_exist": Words(
        "operating rules for rooms and service processes", "场地、功能室使用制度和服务流程等运营制度"
    ),
    "manual.C09.implementation": Words("implementation of the operating rules", "运营制度落实情况"),
    "manual.C10.fire_rules": Words("fire-safety rules", "消防安全制度"),
}

LEVEL_WORDS: dict[str, tuple[str, str]] = {
    "district": ("district level", "区级"),
    "city": ("city level", "市级"),
    "province": ("province level", "省级"),
    "national": ("national level", "国家级"),
    "full": ("full implementation", "严格按制度执行"),
    "partly": ("partly inconsistent implementation", "存在部分不一致"),
    "mostly_not": ("mostly not implemented", "大部分未落实"),
    "complete": ("complete", "建立完善"),
    "fairly": ("fairly complete", "比较完善"),
    "incomplete": ("incomplete", "不完善"),
}


def words_for(name: str, indicator: Mapping[str, Any] | None = None) -> Words:
    """The words of an input; an input of a newer rubric falls back to its declaration's ``zh``."""
    if name in WORDS:
        return WORDS[name]
    for declared in (indicator or {}).get("manual_inputs", []):
        if declared.get("name") == name and declared.get("zh"):
            return Words(name, declared["zh"])
    return Words(name, name)


def _level_words(level: Any, manual: bool) -> tuple[str, str]:
    if level is None:
        return ("not judged yet", "尚未评定") if manual else ("none", "无")
    return LEVEL_WORDS.get(str(level), (str(level), str(level)))


# ---- breaking composite inputs down (from the raw documents behind them) ---------------------------


@dataclass
class Context:
    """The raw documents behind the inputs (optional: without them gaps stay at the input's level)."""

    metrics: Mapping[str, Any] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    indicator: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Detail:
    en: str = ""
    zh: str = ""
    needs: list[Need] = field(default_factory=list)


def _following(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def month_runs(items: list[tuple[str, Any]]) -> list[tuple[str, str, Any]]:
    """Consecutive months with the same value as (first, last, value): a year of "5 short" reads
    as one span, not twelve entries."""
    runs: list[tuple[str, str, Any]] = []
    for month, value in items:
        if runs and runs[-1][2] == value and _following(runs[-1][1]) == month:
            runs[-1] = (runs[-1][0], month, value)
        else:
            runs.append((month, month, value))
    return runs


def span(first: str, last: str, *, zh: bool = False) -> str:
    if first == last:
        return first
    return f"{first}至{last}" if zh else f"{first}–{last}"


def _count(id_set: Mapping[str, Any] | None) -> int:
    return int((id_set or {}).get("count", 0))


def _themes_detail(ctx: Context) -> Detail | None:
    """C15: which of the three targets are short, and by how many (yearly ones pro-rated)."""
    if not ctx.metrics:
        return None
    themes, months = ctx.metrics.get("themes", {}), list(ctx.metrics.get("months", []))
    parts_en: list[str] = []
    parts_zh: list[str] = []
    needs: list[Need] = []
    yearly = (
        ("themes.attendance_over_100", YEARLY_OVER_100, "of more than 100 people", "百人以上活动"),
        ("themes.attendance_50_100", YEARLY_50_100, "of 50–100 people", "50-100人活动"),
    )
    for name, per_year, en, zh in yearly:
        target = prorated_yearly(per_year, len(months))
        current = _count(themes.get(name.removeprefix("themes.")))
        if current < target:
            more = target - current
            parts_en.append(f"{more} more {'activity' if more == 1 else 'activities'} {en}")
            parts_zh.append(f"还需 {more} 场{zh}")
            needs.append(Need(name, current, target, more))
    counted = {m["month"]: _count(m.get("with_evidence")) for m in themes.get("per_month", [])}
    short = {m: THEMES_PER_MONTH - counted.get(m, 0) for m in months if counted.get(m, 0) < THEMES_PER_MONTH}
    if short:
        total = sum(short.values())
        runs = month_runs(list(short.items()))
        listed_en = ", ".join(f"{span(a, b)}: {n}{' each' if a != b else ''}" for a, b, n in runs)
        listed_zh = "、".join(f"{span(a, b, zh=True)} {'每月 ' if a != b else ''}{n} 场" for a, b, n in runs)
        parts_en.append(
            f"{total} more theme {'activity' if total == 1 else 'activities'} "
            f"({THEMES_PER_MONTH} a month; {listed_en})"
        )
        parts_zh.append(f"还需 {total} 场主题活动(每月不少于 {THEMES_PER_MONTH} 场;{listed_zh})")
        needs.extend(
            Need(f"themes.per_month.{m}", counted.get(m, 0), THEMES_PER_MONTH, n) for m, n in short.items()
        )
    if not parts_en:
        return None
    note_en = (
        f" (activities count with a sign-in sheet and a photo; the yearly {YEARLY_50_100} and "
        f"{YEARLY_OVER_100} are pro-rated to {len(months)} month{'s' if len(months) != 1 else ''})"
    )
    note_zh = f"(活动须有签到表和照片;全年 {YEARLY_50_100} 场、{YEARLY_OVER_100} 场按 {len(months)} 个月折算)"
    return Detail(f" — {'; '.join(parts_en)}{note_en}", f"——{';'.join(parts_zh)}{note_zh}", needs)


def _plans_detail(ctx: Context) -> Detail | None:
    per_month = (ctx.metrics.get("plans") or {}).get("per_month", [])
    late = [m for m in per_month if m.get("status") != "on_time"]
    if not late:
        return None
    status_words = {
        "late": ("published late", "逾期发布"),
        "unpublished": ("not published", "未公布"),
        "missing": ("no plan", "未制定"),
    }

    runs = month_runs([(m["month"], m.get("status", "")) for m in late])

    def said(first: str, last: str, status: str, zh: bool) -> str:
        en_word, zh_word = status_words.get(status, (status, status))
        return f"{span(first, last, zh=zh)} {zh_word if zh else en_word}"

    return Detail(
        f" ({', '.join(said(*run, zh=False) for run in runs)})",
        f"({'、'.join(said(*run, zh=True) for run in runs)})",
        [Need(f"plans.per_month.{m['month']}", m.get("status"), "on_time") for m in late],
    )


def _patrols_detail(ctx: Context) -> Detail | None:
    gaps = ((ctx.metrics.get("safety") or {}).get("patrols") or {}).get("months_without_patrol", [])
    if not gaps:
        return None
    runs = month_runs([(m, None) for m in gaps])
    return Detail(
        f" (no patrol in {', '.join(span(a, b) for a, b, _ in runs)})",
        f"({'、'.join(span(a, b, zh=True) for a, b, _ in runs)} 未巡查)",
        [Need(f"safety.patrols.{m}", 0, 1, 1) for m in gaps],
    )


def _patrol_deductions_detail(ctx: Context) -> Detail | None:
    safety = ctx.metrics.get("safety") or {}
    overdue = int((safety.get("hazards") or {}).get("overdue_count", 0))
    without_record = _count((safety.get("patrols") or {}).get("without_record"))
    parts_en, parts_zh = [], []
    if overdue:
        parts_en.append(f"{overdue} hazard{'s' if overdue != 1 else ''} not fixed by the due date")
        parts_zh.append(f"{overdue} 处隐患未在期限内整改")
    if without_record:
        parts_en.append(f"{without_record} patrol{'s' if without_record != 1 else ''} without a record")
        parts_zh.append(f"{without_record} 次巡查无记录")
    if not parts_en:
        return None
    return Detail(f": {'; '.join(parts_en)}", f":{';'.join(parts_zh)}")


def _training_detail(ctx: Context) -> Detail | None:
    staff = ctx.facts.get("staff") or {}
    active = len(staff.get("active_ids", []))
    if not active:
        return None
    average = D(staff.get("avg_training_hours", 0))
    more = (Decimal(20) - average) * active  # C11's 20 h; only used when short
    if more <= 0:
        return None
    more = more.quantize(Decimal("0.1"))
    return Detail(
        f" — about {fmt(more)} more hours of training in all for {active} active staff",
        f"——{active} 名在岗工作人员合计约需再培训 {fmt(more)} 学时",
    )


DETAILS: dict[str, Callable[[Context], Detail | None]] = {
    "themes.shortfall": _themes_detail,
    "plans.all_published_before_month": _plans_detail,
    "safety.patrols_regular": _patrols_detail,
    "safety.patrol_deductions": _patrol_deductions_detail,
    "staff.avg_training_hours": _training_detail,
}


def _detail(name: str, ctx: Context) -> Detail:
    hook = DETAILS.get(name)
    return (hook(ctx) if hook else None) or Detail()


# ---- one function per term type --------------------------------------------------------------------

Values = Mapping[str, Any]


def _points(term: Mapping[str, Any], values: Values) -> Decimal:
    """The term's points, reading a missing value as no/zero (a gap names what is missing)."""
    safe = {name: values.get(name) for name in inputs_of(term)}
    for name, value in safe.items():
        if value is None and term_reads_number(term, name):
            safe[name] = 0
        elif value is None:
            safe[name] = False
    try:
        return evaluate(term, safe).points
    except RubricError:
        return Decimal(0)


def term_reads_number(term: Mapping[str, Any], name: str) -> bool:
    if term.get("input") == name:
        return term["type"] in ("threshold", "per_count", "deduction", "shortfall_steps", "rate", "choice")
    return any(term_reads_number(t, name) for t in term.get("terms", [])) or any(
        term_reads_number(c["term"], name) for c in term.get("cases", [])
    )


def _flag_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    name = term["input"]
    if values.get(name):
        return []
    words, detail = words_for(name, ctx.indicator), _detail(name, ctx)
    return [
        Gap(
            D(term["points"]),
            f"missing: {words.en}{detail.en}",
            f"尚缺:{words.zh}{detail.zh}",
            [Need(name, values.get(name), True), *detail.needs],
        )
    ]


def _threshold_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    name, words = term["input"], words_for(term["input"], ctx.indicator)
    value = D(values.get(name))
    if value >= D(term["min"]) and ("max" not in term or value <= D(term["max"])):
        return []
    if value < D(term["min"]):
        more = D(term["min"]) - value
        unit = f" {words.measure}" if words.measure else ""
        return [
            Gap(
                D(term["points"]),
                f"{fmt(more)} more {words.en} ({fmt(value)} now, at least {fmt(D(term['min']))})",
                f"{words.zh}还需增加 {fmt(more)}{unit}(目前 {fmt(value)},应不少于 {fmt(D(term['min']))})",
                [Need(name, value, D(term["min"]), more)],
            )
        ]
    maximum = D(term["max"])
    return [
        Gap(
            D(term["points"]),
            f"{words.en} {fmt(value)} is above the maximum {fmt(maximum)}",
            f"{words.zh}为 {fmt(value)},超过上限 {fmt(maximum)}",
            [Need(name, value, maximum, maximum - value)],
        )
    ]


def _all_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    if _points(term, values) >= D(term["points"]):
        return []
    parts = [g for sub in term["terms"] for g in gaps_of(sub, values, ctx)]
    if not parts:
        return []
    return [
        Gap(
            D(term["points"]),
            "; ".join(p.en for p in parts) + (" (all needed together)" if len(parts) > 1 else ""),
            ";".join(p.zh for p in parts) + ("(须同时满足)" if len(parts) > 1 else ""),
            [n for p in parts for n in p.needs],
        )
    ]


def _sum_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    return [g for sub in term["terms"] for g in gaps_of(sub, values, ctx)]


@dataclass
class _CountOption:
    name: str
    words: Words
    current: Decimal
    more_full: Decimal
    full_at: Decimal
    more_next: Decimal
    next_at: Decimal
    gain_next: Decimal
    units_needed: int
    step: Decimal


def _count_option(term: Mapping[str, Any], missing: Decimal, values: Values, ctx: Context) -> _CountOption:
    name = term["input"]
    current, per, step = D(values.get(name)), D(term["per"]), D(term.get("step", 1))
    units_now = (current / step).to_integral_value(rounding="ROUND_FLOOR")
    units_needed = math.ceil(missing / per)
    full_at = (units_now + units_needed) * step
    next_at = (units_now + 1) * step
    return _CountOption(
        name=name,
        words=words_for(name, ctx.indicator),
        current=current,
        more_full=full_at - current,
        full_at=full_at,
        more_next=next_at - current,
        next_at=next_at,
        gain_next=min(per, missing),
        units_needed=units_needed,
        step=step,
    )


def _cap_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    maximum = D(term["max"])
    missing = maximum - min(maximum, _points({"type": "sum", "terms": term["terms"]}, values))
    if missing <= 0:
        return []
    if not all(t["type"] == "per_count" for t in term["terms"]):
        return _sum_gaps(term, values, ctx)
    options = [_count_option(t, missing, values, ctx) for t in term["terms"]]
    needs = [
        Need(
            o.name,
            _json_number(o.current),
            _json_number(o.full_at),
            _json_number(o.more_full),
            _json_number(o.next_at),
            _json_number(o.more_next),
        )
        for o in options
    ]
    if len(options) > 1:
        return [
            Gap(
                missing,
                ", or ".join(f"{fmt(o.more_full)} more {o.words.noun(o.more_full)}" for o in options),
                "还需 " + ",或 ".join(f"{fmt(o.more_full)} {o.words.measure}{o.words.zh}" for o in options),
                needs,
                either=True,
            )
        ]
    [o] = options
    full_en = f"{fmt(o.more_full)} more {o.words.noun(o.more_full)}"
    full_zh = f"还需 {fmt(o.more_full)} {o.words.measure}{o.words.zh}"
    # Counted one by one, "how many more to the cap" says it all; counted in steps (20 volunteers,
    # 500 hours), the next step is the nearer goal.
    if o.step == 1 or o.units_needed <= 1:
        return [Gap(missing, full_en, full_zh, needs)]
    return [
        Gap(
            missing,
            f"{fmt(o.more_next)} more {o.words.noun(o.more_next)} for the next {fmt(o.gain_next)} "
            f"(reaching {fmt(o.next_at)}); {fmt(o.more_full)} more for full points "
            f"(reaching {fmt(o.full_at)})",
            f"还需 {fmt(o.more_next)} {o.words.measure}{o.words.zh}可再得 {fmt(o.gain_next)} 分"
            f"(达到 {fmt(o.next_at)} {o.words.measure});还需 {fmt(o.more_full)} {o.words.measure}可得满分"
            f"(达到 {fmt(o.full_at)} {o.words.measure})",
            needs,
        )
    ]


def _deduction_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    name = term["input"]
    count, base, per = D(values.get(name)), D(term["base"]), D(term["per"])
    points = max(D(term.get("floor", 0)), base - per * count)
    if points >= base:
        return []
    words, detail = words_for(name, ctx.indicator), _detail(name, ctx)
    measure = f" {words.measure}" if words.measure else ""
    each = words.measure or "项"
    return [
        Gap(
            base - points,
            f"{words.en}: {fmt(count)} (−{fmt(per)} each){detail.en}",
            f"{words.zh}:{fmt(count)}{measure}(每{each}扣 {fmt(per)} 分){detail.zh}",
            [Need(name, _json_number(count), 0, _json_number(-count)), *detail.needs],
        )
    ]


def _shortfall_steps_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    name = term["input"]
    value, target, step = D(values.get(name)), D(term["target"]), D(term["step"])
    if value >= target:
        return []
    points = _points(term, values)
    words, detail = words_for(name, ctx.indicator), _detail(name, ctx)
    more = target - value
    unit = f" {words.measure}" if words.measure else ""
    return [
        Gap(
            D(term["base"]) - points,
            f"{fmt(more)} more {words.en} ({fmt(value)} now, at least {fmt(target)}; "
            f"−{fmt(D(term['per']))} per {fmt(step)} short){detail.en}",
            f"{words.zh}还需增加 {fmt(more)}{unit}(目前 {fmt(value)},应不少于 {fmt(target)};"
            f"每少 {fmt(step)}{unit}扣 {fmt(D(term['per']))} 分){detail.zh}",
            [Need(name, _json_number(value), _json_number(target), _json_number(more))],
        )
    ]


def _level_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    name = term["input"]
    levels = {str(k): D(v) for k, v in term["levels"].items()}
    current = values.get(name)
    current_points = levels.get(str(current), Decimal(0)) if current else Decimal(0)
    top_points = max(levels.values(), default=Decimal(0))
    if current_points >= top_points:
        return []
    # Stable sort: among levels worth the same, the document's order (e.g. "full" before "partly").
    ordered = sorted(levels.items(), key=lambda kv: kv[1])
    next_level, next_points = next((k, v) for k, v in ordered if v > current_points)
    top_level = next(k for k in levels if levels[k] == top_points)
    manual = name.startswith("manual.")
    words = words_for(name, ctx.indicator)
    now_en, now_zh = _level_words(current, manual)
    next_en, next_zh = _level_words(next_level, manual)
    en = f"{words.en}: {now_en} now; {next_en} adds {fmt(next_points - current_points)}"
    zh = f"{words.zh}:目前{now_zh};达到{next_zh}可加 {fmt(next_points - current_points)} 分"
    if top_level != next_level:
        top_en, top_zh = _level_words(top_level, manual)
        en += f", {top_en} gives the full {fmt(top_points)}"
        zh += f",达到{top_zh}可得满分 {fmt(top_points)} 分"
    return [
        Gap(
            top_points - current_points,
            en,
            zh,
            [Need(name, current, top_level, None, next_level, None)],
        )
    ]


def _rate_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    name, points = term["input"], D(term["points"])
    words = words_for(name, ctx.indicator)
    rate = values.get(name)
    if rate is None:
        return [
            Gap(
                points,
                f"{words.en}: no accepted survey yet, counted as 0",
                f"{words.zh}:尚无已确认的满意度调查,暂按 0 计",
                [Need(name, None, 1)],
            )
        ]
    rate = D(rate)
    earned = (points * rate).quantize(Decimal("0.01"))
    if earned >= points:
        return []
    percent = (rate * 100).normalize()
    per_point = (points / 100).normalize()
    en = f"{words.en} {fmt(percent)} %: each percentage point more adds {fmt(per_point)}"
    zh = f"{words.zh} {fmt(percent)}%:每提高 1 个百分点加 {fmt(per_point)} 分"
    if rate < SATISFACTION_TARGET:
        en += " (below the 90 % the standard requires, 7.1.1)"
        zh += "(低于标准要求的 90%,7.1.1)"
    return [Gap(points - earned, en, zh, [Need(name, rate, 1, 1 - rate)])]


def _choice_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    name = term["input"]
    best = max(D(a) for a in term["allowed"])
    value = D(values.get(name))
    if value >= best:
        return []
    words = words_for(name, ctx.indicator)
    return [
        Gap(
            best - value,
            f"{words.en}: {fmt(value)} of {fmt(best)} (evaluator's judgement)",
            f"{words.zh}:{fmt(value)} 分(满分 {fmt(best)} 分,评估人员评定)",
            [Need(name, value, best, best - value)],
        )
    ]


def _first_of_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    for case in term["cases"]:
        if values.get(case["when"]):
            return gaps_of(case["term"], values, ctx)
    otherwise = D(term.get("otherwise", 0))
    if not term["cases"]:
        return []
    case = max(term["cases"], key=lambda c: max_points_of(c["term"]) or Decimal(0))
    best = max_points_of(case["term"]) or Decimal(0)
    if best <= otherwise:
        return []
    words, detail = words_for(case["when"], ctx.indicator), _detail(case["when"], ctx)
    return [
        Gap(
            best - otherwise,
            f"missing: {words.en}{detail.en}",
            f"尚缺:{words.zh}{detail.zh}",
            [Need(case["when"], values.get(case["when"]), True), *detail.needs],
        )
    ]


def _per_count_gaps(term: Mapping[str, Any], values: Values, ctx: Context) -> list[Gap]:
    return []  # uncapped: no full points to fall short of


PATTERNS: dict[str, Callable[[Mapping[str, Any], Values, Context], list[Gap]]] = {
    "flag": _flag_gaps,
    "threshold": _threshold_gaps,
    "all": _all_gaps,
    "per_count": _per_count_gaps,
    "sum": _sum_gaps,
    "cap": _cap_gaps,
    "deduction": _deduction_gaps,
    "shortfall_steps": _shortfall_steps_gaps,
    "level": _level_gaps,
    "rate": _rate_gaps,
    "choice": _choice_gaps,
    "first_of": _first_of_gaps,
}


def gaps_of(term: Mapping[str, Any], values: Values, ctx: Context | None = None) -> list[Gap]:
    """What ``term`` still misses for its full points, given the input ``values``."""
    return PATTERNS[term["type"]](term, values, ctx or Context())


# ---- one indicator, and the whole projection -------------------------------------------------------

COMPUTED, LAST_SCORECARD, ASSUMED_ZERO = "computed", "last_scorecard", "assumed_zero"


@dataclass
class IndicatorProjection:
    indicator: Mapping[str, Any]
    points: Decimal
    basis: str  # computed | last_scorecard | assumed_zero
    assumed_zero: list[str]  # inputs counted as 0/none for lack of an evaluator's value
    rule: list[str]
    message: str | None
    inputs: dict[str, InputRecord]
    gaps: list[Gap]

    @property
    def max_points(self) -> Decimal:
        return D(self.indicator["max_points"])

    @property
    def missing_points(self) -> Decimal:
        return max(Decimal(0), self.max_points - self.points)


def _not_judged(indicator: Mapping[str, Any], reason_en: str, reason_zh: str) -> IndicatorProjection:
    maximum = D(indicator["max_points"])
    return IndicatorProjection(
        indicator=indicator,
        points=Decimal(0),
        basis=ASSUMED_ZERO,
        assumed_zero=sorted(inputs_of(indicator["rule"])),
        rule=[],
        message=reason_en,
        inputs={},
        gaps=[Gap(maximum, reason_en, reason_zh)],
    )


def project_indicator(
    indicator: Mapping[str, Any],
    records: Mapping[str, InputRecord],
    manual: Mapping[str, Any] | None,
    satisfaction_rate: Decimal | None,
    ctx: Context,
) -> IndicatorProjection:
    """One indicator: computed from ``records`` (auto and hybrid), from the last accepted scorecard's
    judgements ``manual`` (manual ones; None when there is none) or its ``satisfaction_rate``
    (indicators reading the survey)."""
    ctx = Context(metrics=ctx.metrics, facts=ctx.facts, indicator=indicator)
    rule = indicator["rule"]
    read = inputs_of(rule)
    if indicator["source"] == IndicatorSource.MANUAL:
        if manual is None:
            return _not_judged(
                indicator,
                "no accepted scorecard yet: the evaluator's judgement is counted as 0",
                "尚无已确认的评分表,评估人员评分暂按 0 分计",
            )
        try:
            result = evaluate(rule, manual)
        except RubricError:
            return _not_judged(
                indicator,
                "the last accepted scorecard has no usable judgement for this rubric: counted as 0",
                "上次已确认评分表中无可用的评分要素,暂按 0 分计",
            )
        used = {n: record(v, "last_scorecard") for n, v in manual.items() if n in read}
        return IndicatorProjection(
            indicator,
            result.points,
            LAST_SCORECARD,
            [],
            result.explanation,
            None,
            used,
            gaps_of(rule, manual, ctx),
        )
    records = dict(records)
    basis = COMPUTED
    if any(n.startswith("survey.") for n in read):
        if satisfaction_rate is None:
            return _not_judged(
                indicator,
                "no accepted survey yet: the satisfaction rate is counted as 0",
                "尚无已确认的满意度调查,满意率暂按 0 计",
            )
        records["survey.satisfaction_rate"] = record(
            satisfaction_rate, "last_scorecard", note="satisfaction rate of the last accepted scorecard"
        )
        basis = LAST_SCORECARD
    declared = compute.manual_input_names(indicator)
    judged = {name: (manual or {}).get(name) for name in declared}
    scored = compute.evaluate_indicator(indicator, records, judged)
    assumed = sorted(name for name, value in judged.items() if value is None)
    values = {**engine_values(records), **judged}
    return IndicatorProjection(
        indicator=indicator,
        points=scored.points if scored.points is not None else Decimal(0),
        basis=basis,
        assumed_zero=assumed,
        rule=list(scored.explanation.get("rule", [])),
        message=scored.explanation.get("message"),
        inputs=dict(scored.explanation.get("inputs", {})),
        gaps=gaps_of(rule, values, ctx),
    )


@dataclass
class Projection:
    indicators: list[IndicatorProjection]
    total: Decimal
    max_points: Decimal
    ratio: Decimal | None
    tier: str | None


def project(
    document: Mapping[str, Any],
    records: Mapping[str, InputRecord],
    manual_by_code: Mapping[str, Mapping[str, Any]] | None,
    satisfaction_rate: Decimal | None,
    ctx: Context,
) -> Projection:
    """Every indicator of the rubric ``document``, the projected total, ratio and tier (Annex A).
    ``manual_by_code``: the last accepted scorecard's evaluator values per indicator (None: no
    accepted scorecard)."""
    indicators = [
        project_indicator(
            indicator,
            records,
            (manual_by_code or {}).get(indicator["code"]) if manual_by_code is not None else None,
            satisfaction_rate,
            ctx,
        )
        for indicator in document["indicators"]
    ]
    total = sum((i.points for i in indicators), Decimal(0))
    maximum = sum((i.max_points for i in indicators), Decimal(0))
    ratio = (total / maximum).quantize(RATIO_PLACES, rounding=ROUND_DOWN) if maximum else None
    tier = compute.tier_for(total, maximum, document["thresholds"])
    return Projection(indicators, total, maximum, ratio, tier.value if tier else None)
