"""Rubric version ``2023-draft``: Table C.1 of the Binjiang standard (附录 C), literally.

Each indicator carries the standard's own wording (``rule_text``), its place in
the table, and its rule as data for :mod:`services.evaluation.rubric.engine`.
"Literally" includes the table's oddities: C08/C09 give 0.5 for "partly
inconsistent" implementation just as for full implementation. A district that
wants them corrected creates a new rubric version (``POST /rubrics``).

Input names: ``site.*``/``area.*``/``staff.*``/``orgs.*`` come from the
registry, ``volunteers.*``/``plans.*``/``themes.*``/``casework.*``/
``deliberations.*``/``safety.*``/``brand.*``/``recognition.*`` from the
activities metrics, ``survey.*`` from the scorecard's survey, and
``manual.<code>.*`` from the evaluator.
"""

from __future__ import annotations

from typing import Any

LEVELS = {"city": 1, "province": 2, "national": 3}
IMPLEMENTATION = {"full": 0.5, "partly": 0.5, "mostly_not": 0}


def _flag(name: str, points: float, label: str | None = None) -> dict[str, Any]:
    term: dict[str, Any] = {"type": "flag", "input": name, "points": points}
    if label:
        term["label"] = label
    return term


def _bool(name: str, zh: str) -> dict[str, Any]:
    return {"name": name, "type": "bool", "zh": zh}


def _level(name: str, levels: dict[str, float], zh: str) -> dict[str, Any]:
    return {"name": name, "type": "level", "levels": list(levels), "zh": zh}


def _count(name: str, zh: str, maximum: int = 1000) -> dict[str, Any]:
    return {"name": name, "type": "count", "max": maximum, "zh": zh}


def _indicator(
    code: str, seq: int, dimension: str, group: str, name: str, max_points: float, source: str,
    rule_text: str, rule: dict[str, Any], manual_inputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "code": code,
        "seq": seq,
        "dimension": dimension,
        "sub_dimension": group,
        "name": name,
        "max_points": max_points,
        "source": source,
        "rule_text": rule_text,
        "rule": rule,
        "manual_inputs": manual_inputs or [],
    }


BASIC, OPERATIONS, OUTCOMES = "基本设置", "运营管理", "成效评价"

TABLE_C1: dict[str, Any] = {
    "version": "2023-draft",
    "title": "社区美好生活共同体运营与管理评估标准(表C.1,征求意见稿)",
    "read_only": True,
    "thresholds": {"demonstration": 0.9, "standard": 0.8},
    "survey": {"min_per_channel": 30, "satisfied_at_least": 4, "finding_below": 0.9},
    "indicators": [
        _indicator(
            "C01",
            1,
            BASIC,
            "环境设施",
            "选址科学",
            2,
            "manual",
            "选址在居民集中、交通便利、群众办事方便的地方得2分。",
            _flag("manual.C01.well_located", 2),
            [_bool("manual.C01.well_located", "选址科学")],
        ),
        _indicator(
            "C02",
            1,
            BASIC,
            "环境设施",
            "标识醒目",
            2,
            "hybrid",
            "在室外显著位置规范设置“邻聚里(HOME+)”标识得2分。",
            _flag("site.door_sign", 2),
        ),
        _indicator(
            "C03",
            1,
            BASIC,
            "环境设施",
            "布局合理",
            2,
            "manual",
            "1、空间布局合理,动静区分、静养结合得1分;2、空间布局大开间、少隔断得1分。",
            {"type": "sum", "terms": [_flag("manual.C03.zoned", 1), _flag("manual.C03.open_plan", 1)]},
            [
                _bool("manual.C03.zoned", "动静区分、静养结合"),
                _bool("manual.C03.open_plan", "大开间、少隔断"),
            ],
        ),
        _indicator(
            "C04",
            1,
            BASIC,
            "环境设施",
            "环境卫生",
            4,
            "manual",
            "1、落实垃圾分类管理制度得2分;2、室内环境卫生整洁……得2分,发现一处扣0.5分。",
            {
                "type": "sum",
                "terms": [
                    _flag("manual.C04.waste_sorting", 2),
                    {
                        "type": "deduction",
                        "input": "manual.C04.issues_found",
                        "base": 2,
                        "per": 0.5,
                        "floor": 0,
                    },
                ],
            },
            [
                _bool("manual.C04.waste_sorting", "落实垃圾分类管理制度"),
                _count("manual.C04.issues_found", "发现的卫生问题处数"),
            ],
        ),
        _indicator(
            "C05",
            2,
            BASIC,
            "功能设置",
            "活动功能",
            10,
            "hybrid",
            "1、有居家养老中心(或老年活动室)得2分,地面防湿滑系数大于R9得0.5分,墙面暖色温馨得0.5分;"
            "2、有儿童活动室得2分,地面铺设软质地胶得0.5分,配备科学教育、艺术培训等功能得0.5分;"
            "3、有公共活动室得2分;4、有共享书房得2分。",
            {
                "type": "sum",
                "terms": [
                    _flag("area.elderly_center", 2),
                    _flag("area.elderly_center.slip_above_r9", 0.5),
                    _flag("area.elderly_center.warm_walls", 0.5),
                    _flag("area.children_room", 2),
                    _flag("area.children_room.soft_floor", 0.5),
                    _flag("area.children_room.science_art", 0.5),
                    _flag("area.public_activity_room", 2),
                    _flag("area.reading_room", 2),
                ],
            },
        ),
        _indicator(
            "C06",
            2,
            BASIC,
            "功能设置",
            "议事功能",
            3,
            "hybrid",
            "有居民议事厅得2分,墙面未使用木饰板或大理石得0.5分,地面材质为地砖得0.5分。",
            {
                "type": "sum",
                "terms": [
                    _flag("area.deliberation_hall", 2),
                    _flag("area.deliberation_hall.walls_not_wood_or_marble", 0.5),
                    _flag("area.deliberation_hall.tile_floor", 0.5),
                ],
            },
        ),
        _indicator(
            "C07",
            2,
            BASIC,
            "功能设置",
            "服务功能",
            2,
            "hybrid",
            "有“一滨办”,窗口设置红蓝橙三色“一滨办”标识得0.5分,整体装饰颜色不超过三种得0.5分,"
            "地面材质为地砖或地胶得0.5分,服务台舒适无遮挡得0.5分。",
            {
                "type": "sum",
                "terms": [
                    _flag("area.one_stop_office.tricolor_sign", 0.5),
                    _flag("area.one_stop_office.few_colors", 0.5),
                    _flag("area.one_stop_office.tile_or_vinyl_floor", 0.5),
                    _flag("area.one_stop_office.desk_unobstructed", 0.5),
                ],
            },
        ),
        _indicator(
            "C08",
            3,
            OPERATIONS,
            "制度建设",
            "管理制度",
            1,
            "manual",
            "1、建立工作人员管理制度、岗位职责和工作守则得0.5分;2、通过资料查阅和人员访谈考查制度落实情况,"
            "严格按制度规定执行,得0.5;存在部分不一致之处,得0.5分;大部分未落实或者完全不落实,得0分。",
            {
                "type": "sum",
                "terms": [
                    _flag("manual.C08.rules_exist", 0.5),
                    {"type": "level", "input": "manual.C08.implementation", "levels": dict(IMPLEMENTATION)},
                ],
            },
            [
                _bool("manual.C08.rules_exist", "建立管理制度、岗位职责和工作守则"),
                _level("manual.C08.implementation", dict(IMPLEMENTATION), "制度落实情况"),
            ],
        ),
        _indicator(
            "C09",
            3,
            OPERATIONS,
            "制度建设",
            "运营制度",
            1,
            "manual",
            "1、建立场地、功能室使用制度、服务流程等运营制度得0.5分;2、通过资料查阅和人员访谈考查制度落实情况,"
            "按制度执行,得0.5分;存在部分不一致之处,得0.5分;大部分未落实或者完全不落实,得0分。",
            {
                "type": "sum",
                "terms": [
                    _flag("manual.C09.rules_exist", 0.5),
                    {"type": "level", "input": "manual.C09.implementation", "levels": dict(IMPLEMENTATION)},
                ],
            },
            [
                _bool("manual.C09.rules_exist", "建立场地、功能室使用制度和服务流程"),
                _level("manual.C09.implementation", dict(IMPLEMENTATION), "制度落实情况"),
            ],
        ),
        _indicator(
            "C10",
            3,
            OPERATIONS,
            "制度建设",
            "安全制度",
            3,
            "hybrid",
            "1、各项消防安全制度建立完善得1分,比较完善得0.5分;2、经常性开展消防安全教育培训得1分,"
            "教育培训记录不完整扣0.5分,未开展教育培训,得0分;3、定期开展消防安全巡查,发现安全隐患立即消除,"
            "得1分;发现隐患未能及时整改,每处扣0.5分;巡查记录不完备,扣0.5分;未定期开展巡查,得0.5分。",
            {
                "type": "sum",
                "terms": [
                    {
                        "type": "level",
                        "input": "manual.C10.fire_rules",
                        "label": "fire rules",
                        "levels": {"complete": 1, "fairly": 0.5, "incomplete": 0},
                    },
                    {
                        "type": "first_of",
                        "label": "training",
                        "cases": [
                            {
                                "when": "safety.trainings_held",
                                "term": {
                                    "type": "deduction",
                                    "input": "safety.training_records_incomplete",
                                    "base": 1,
                                    "per": 0.5,
                                    "floor": 0,
                                },
                            },
                        ],
                        "otherwise": 0,
                    },
                    {
                        "type": "first_of",
                        "label": "patrols",
                        "cases": [
                            {
                                "when": "safety.patrols_regular",
                                "term": {
                                    "type": "deduction",
                                    "input": "safety.patrol_deductions",
                                    "base": 1,
                                    "per": 0.5,
                                    "floor": 0,
                                },
                            },
                        ],
                        "otherwise": 0.5,
                    },
                ],
            },
            [
                _level(
                    "manual.C10.fire_rules", {"complete": 1, "fairly": 0.5, "incomplete": 0}, "消防安全制度"
                )
            ],
        ),
        _indicator(
            "C11",
            4,
            OPERATIONS,
            "队伍建设",
            "社工人才",
            7,
            "auto",
            "1、工作人员中持有中级及以上社会工作证书每个得1分,持有初级社会工作师证书每个得0.5分,最高得5分;"
            "2、工作人员年度接受培训平均不少于20学时得2分,每少10学时减0.5分。",
            {
                "type": "sum",
                "terms": [
                    {
                        "type": "cap",
                        "max": 5,
                        "label": "certificates",
                        "terms": [
                            {"type": "per_count", "input": "staff.intermediate_or_senior", "per": 1},
                            {"type": "per_count", "input": "staff.junior", "per": 0.5},
                        ],
                    },
                    {
                        "type": "shortfall_steps",
                        "input": "staff.avg_training_hours",
                        "target": 20,
                        "step": 10,
                        "base": 2,
                        "per": 0.5,
                        "floor": 0,
                        "label": "training",
                    },
                ],
            },
        ),
        _indicator(
            "C12",
            4,
            OPERATIONS,
            "队伍建设",
            "社会组织",
            7,
            "auto",
            "1、引进专业社会组织开展服务和活动,每引进一家得1分,最高得4分;"
            "2、培育社区社会组织,每备案或注册一家得1分,最高得3分。",
            {
                "type": "sum",
                "terms": [
                    {
                        "type": "cap",
                        "max": 4,
                        "terms": [{"type": "per_count", "input": "orgs.introduced", "per": 1}],
                    },
                    {
                        "type": "cap",
                        "max": 3,
                        "terms": [
                            {"type": "per_count", "input": "orgs.incubated_filed_or_registered", "per": 1}
                        ],
                    },
                ],
            },
        ),
        _indicator(
            "C13",
            4,
            OPERATIONS,
            "队伍建设",
            "志愿者",
            6,
            "auto",
            "1、在册志愿者名单每20人得0.5分,最高得3分;2、累计志愿服务时数每500小时得0.5分,最高得3分。",
            {
                "type": "sum",
                "terms": [
                    {
                        "type": "cap",
                        "max": 3,
                        "terms": [
                            {"type": "per_count", "input": "volunteers.registered", "per": 0.5, "step": 20}
                        ],
                    },
                    {
                        "type": "cap",
                        "max": 3,
                        "terms": [
                            {"type": "per_count", "input": "volunteers.hours", "per": 0.5, "step": 500}
                        ],
                    },
                ],
            },
        ),
        _indicator(
            "C14",
            5,
            OPERATIONS,
            "服务开展",
            "常态开放",
            2,
            "auto",
            "1、每天开放时间不少于12小时,开放天数每周不少于5天得1分;2、每月须提前制定月度活动安排,"
            "并告之服务对象得1分。",
            {
                "type": "sum",
                "terms": [
                    {
                        "type": "all",
                        "points": 1,
                        "label": "opening hours",
                        "terms": [
                            {"type": "threshold", "input": "site.hours_per_day", "min": 12, "points": 1},
                            {"type": "threshold", "input": "site.days_per_week", "min": 5, "points": 1},
                        ],
                    },
                    _flag("plans.all_published_before_month", 1, "monthly plans"),
                ],
            },
        ),
        _indicator(
            "C15",
            5,
            OPERATIONS,
            "服务开展",
            "主题活动",
            2,
            "auto",
            "有组织性开展各类主题文化活动,每月不少于5场,其中50-100人活动全年不少于8场,100人以上不少于2场"
            "(活动记录、通知、手写签到表、照片),得2分,每少1场扣0.5分。",
            {"type": "deduction", "input": "themes.shortfall", "base": 2, "per": 0.5, "floor": 0},
        ),
        _indicator(
            "C16",
            5,
            OPERATIONS,
            "服务开展",
            "专业服务",
            2,
            "auto",
            "为辖区内老年人、儿童青少年、妇女家庭、社会救助对象等群体开展专项社会工作服务,"
            "每开展一个个案或小组得0.5分,最高得2分。",
            {
                "type": "cap",
                "max": 2,
                "terms": [{"type": "per_count", "input": "casework.cases_and_groups", "per": 0.5}],
            },
        ),
        _indicator(
            "C17",
            5,
            OPERATIONS,
            "服务开展",
            "民主协商",
            3,
            "auto",
            "聚焦社区治理问题和服务对象的利益诉求,有目的、有组织性地开展民主协商,确定议事规则,形成议事结果,"
            "决议执行。每开展一次民主协商得0.5分,最高得3分。",
            {
                "type": "cap",
                "max": 3,
                "terms": [{"type": "per_count", "input": "deliberations.complete", "per": 0.5}],
            },
        ),
        _indicator(
            "C18",
            6,
            OUTCOMES,
            "服务成效",
            "居民满意度",
            25,
            "auto",
            "居民满意度(从空间改造、功能构成、服务水平、惠民定价、参与积极性、社区归属感)等方面开展的综合评价。"
            "随机抽取辖区30名居民、电话抽取30名居民进行满意度调查,通过第三方测评方式计算满意率,该项总分25分,"
            "实际得分按照满意率折算。",
            {"type": "rate", "input": "survey.satisfaction_rate", "points": 25},
        ),
        _indicator(
            "C19",
            6,
            OUTCOMES,
            "服务成效",
            "品牌成效",
            7,
            "hybrid",
            "1、策划符合社区特色的整体性品牌得2分;2、策划并实施符合社区需求与特色的品牌服务项目,"
            "每一个品牌项目得2.5分,最高得5分。",
            {
                "type": "sum",
                "terms": [
                    _flag("brand.overall", 2),
                    {
                        "type": "cap",
                        "max": 5,
                        "terms": [{"type": "per_count", "input": "brand.implemented_projects", "per": 2.5}],
                    },
                ],
            },
        ),
        _indicator(
            "C20",
            6,
            OUTCOMES,
            "服务成效",
            "媒体报道",
            6,
            "auto",
            "1、获市级以上经验交流、领导批示的,按市级1分、省级2分、国家级3分加分,不重复加分;"
            "2、经验做法在媒体或刊物上刊登的,按市级1分、省级2分、国家级3分加分,不重复加分。",
            {
                "type": "sum",
                "terms": [
                    {
                        "type": "level",
                        "input": "recognition.exchange",
                        "levels": dict(LEVELS),
                        "label": "exchange",
                    },
                    {"type": "level", "input": "recognition.media", "levels": dict(LEVELS), "label": "media"},
                ],
            },
        ),
        _indicator(
            "C21",
            6,
            OUTCOMES,
            "服务成效",
            "荣誉表彰",
            3,
            "auto",
            "获得荣誉,按市级1分、省级2分、国家级3分加分,不重复加分。",
            {"type": "level", "input": "recognition.honour", "levels": dict(LEVELS)},
        ),
    ],
}
