"""Scoring without the stack: inputs from hand-built facts, explanations, C15 pro-rating, totals and
the tier boundaries of Annex A (0.80 exactly is standard, 0.90 exactly is demonstration)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from services.common.enums import Tier
from services.evaluation.rubric.engine import inputs_of
from services.evaluation.rubric.table_c1 import TABLE_C1
from services.evaluation.rubrics.schemas import RubricDocument
from services.evaluation.rubrics.service import RubricInvalid, check_document
from services.evaluation.scorecards.compute import (
    evaluate_indicator,
    evaluate_manual,
    final_points,
    tier_for,
    totals,
)
from services.evaluation.scorecards.inputs import (
    KNOWN_INPUTS,
    activity_inputs,
    prorated_yearly,
    registry_inputs,
    survey_inputs,
    theme_shortfall,
)
from services.registry.internal.evaluation_inputs import area_facts

INDICATORS = {i["code"]: i for i in TABLE_C1["indicators"]}
THRESHOLDS = TABLE_C1["thresholds"]


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def id_set(values: list[str]) -> dict[str, Any]:
    return {"count": len(values), "ids": values}


# ---- Annex A -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "maximum", "tier"),
    [
        ("90", "100", Tier.DEMONSTRATION),
        ("89.99", "100", Tier.STANDARD),
        ("89.5", "100", Tier.STANDARD),
        ("80", "100", Tier.STANDARD),
        ("79.99", "100", Tier.BASIC),
        ("79.5", "100", Tier.BASIC),
        ("0", "100", Tier.BASIC),
        ("100", "100", Tier.DEMONSTRATION),
        # Indicators not applicable: the ratio is over the applicable maximum.
        ("60", "75", Tier.STANDARD),  # exactly 0.80
        ("59.99", "75", Tier.BASIC),
        ("67.5", "75", Tier.DEMONSTRATION),  # exactly 0.90
        ("67.49", "75", Tier.STANDARD),
    ],
)
def test_tier_boundaries(total: str, maximum: str, tier: Tier) -> None:
    assert tier_for(Decimal(total), Decimal(maximum), THRESHOLDS) == tier


def test_tier_needs_a_total() -> None:
    assert tier_for(None, Decimal(100), THRESHOLDS) is None
    assert tier_for(Decimal(80), Decimal(0), THRESHOLDS) is None


def test_totals_count_only_applicable_items_and_never_round_up() -> None:
    def item(max_points: str, final: str | None, applicable: bool = True) -> Any:
        return SimpleNamespace(
            max_points=Decimal(max_points),
            final_points=Decimal(final) if final is not None else None,
            applicable=applicable,
        )

    result = totals(
        [item("25", "22.5"), item("2", None), item("10", "10", applicable=False), item("3", "1.5")]
    )
    assert result.total == Decimal("24.0") and result.max_applicable == Decimal(30)
    assert result.ratio == Decimal("0.8000")
    assert totals([item("3", "2")]).ratio == Decimal("0.6666")


def test_final_points_keep_both_values() -> None:
    assert final_points("manual", None, Decimal(2), None) == Decimal(2)
    assert final_points("auto", Decimal(1), None, None) == Decimal(1)
    assert final_points("hybrid", Decimal(1), None, Decimal("1.5")) == Decimal("1.5")
    assert final_points("auto", None, None, Decimal(0)) == Decimal(0)


# ---- C15 pro-rating ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("months", "fifty", "hundred"), [(1, 1, 1), (3, 2, 1), (6, 4, 1), (7, 5, 2), (12, 8, 2), (13, 8, 2)]
)
def test_yearly_counts_pro_rated_rounded_up_never_above_a_year(months: int, fifty: int, hundred: int) -> None:
    assert prorated_yearly(8, months) == fifty
    assert prorated_yearly(2, months) == hundred


def _themes(
    per_month: dict[str, list[str]], fifty: list[str], hundred: list[str], without: list[str]
) -> dict:
    counted = [i for v in per_month.values() for i in v]
    return {
        "per_month": [
            {"month": m, "with_evidence": id_set(v), "without_evidence": id_set([])}
            for m, v in per_month.items()
        ],
        "with_evidence": id_set(counted),
        "without_evidence": id_set(without),
        "attendance_50_100": id_set(fifty),
        "attendance_over_100": id_set(hundred),
    }


def test_theme_shortfall_of_a_quarter() -> None:
    months = ["2026-01", "2026-02", "2026-03"]
    jan, feb, mar = ids(5), ids(4), ids(6)
    excluded = ids(2)
    themes = _themes(
        {"2026-01": jan, "2026-02": feb, "2026-03": mar}, fifty=jan[:2], hundred=[], without=excluded
    )
    rec = theme_shortfall(themes, months)
    # February is one short; 2 of ceil(8 × 3/12) = 2 activities of 50–100; 0 of ceil(2 × 3/12) = 1 above 100.
    assert rec["value"] == 2
    assert rec["counted_ids"] == jan + feb + mar
    assert [e["id"] for e in rec["excluded"]] == excluded
    assert all("sign-in sheet" in e["why"] for e in rec["excluded"])
    assert "2026-02: 4 (short 1)" in rec["note"] and "more than 100: 0 of 1 (short 1)" in rec["note"]
    scored = evaluate_indicator(INDICATORS["C15"], {"themes.shortfall": rec})
    assert scored.points == Decimal(1)  # 2 − 0.5 × 2
    assert scored.explanation["counted"]["themes.shortfall"] == jan + feb + mar
    assert scored.explanation["excluded"][0] == {
        "input": "themes.shortfall",
        "id": excluded[0],
        "why": rec["excluded"][0]["why"],
    }
    assert scored.explanation["rule"] == ["2 − 0.5 × themes.shortfall (2) = 1 → 1"]


def test_a_month_with_four_theme_activities_costs_half_a_point() -> None:
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    per_month = {m: ids(5) for m in months}
    per_month["2026-07"] = per_month["2026-07"][:4]
    themes = _themes(per_month, fifty=ids(8), hundred=ids(2), without=[])
    rec = theme_shortfall(themes, months)
    assert rec["value"] == 1
    assert evaluate_indicator(INDICATORS["C15"], {"themes.shortfall": rec}).points == Decimal("1.5")


def test_a_month_without_any_entry_counts_five_short() -> None:
    rec = theme_shortfall(_themes({}, [], [], []), ["2026-05"])
    assert rec["value"] == 5 + 1 + 1


# ---- inputs from the registry --------------------------------------------------------------------


def test_area_flags_false_when_the_area_is_absent() -> None:
    facts = area_facts(
        [
            {"kind": "elderly_center", "slip_rating": "r9", "warm_walls": True},
            {"kind": "elderly_center", "slip_rating": "r11"},
            {"kind": "deliberation_hall", "wall_wood_or_marble": None, "floor_material": "tile"},
            {
                "kind": "one_stop_office",
                "tricolor_sign": True,
                "decoration_colors": 3,
                "floor_material": "vinyl",
            },
            {"kind": "reading_room"},
        ]
    )
    assert facts.elderly_center.model_dump() == {"present": True, "slip_above_r9": True, "warm_walls": True}
    assert facts.children_room.model_dump() == {"present": False, "soft_floor": False, "science_art": False}
    assert facts.deliberation_hall.model_dump() == {
        "present": True,
        "walls_not_wood_or_marble": False,  # unknown cladding earns nothing
        "tile_floor": True,
    }
    assert facts.one_stop_office.model_dump() == {
        "present": True,
        "tricolor_sign": True,
        "few_colors": True,
        "tile_or_vinyl_floor": True,
        "desk_unobstructed": False,
    }
    assert facts.public_activity_room.present is False and facts.reading_room.present is True
    assert (
        area_facts([{"kind": "one_stop_office", "decoration_colors": 4}]).one_stop_office.few_colors is False
    )


def registry_facts(**overrides: Any) -> dict[str, Any]:
    site_id = str(uuid.uuid4())
    senior, junior, none = ids(3), ids(5), ids(1)
    facts = {
        "site_id": site_id,
        "door_sign": True,
        "areas": area_facts([{"kind": "reading_room"}, {"kind": "public_activity_room"}]).model_dump(),
        "hours_per_day": "12.0",
        "days_per_week": 6,
        "staff": {
            "active_ids": senior + junior + none,
            "intermediate_or_senior_ids": senior,
            "junior_ids": junior,
            "uncertified_ids": none,
            "training_ids": ids(4),
            "training_hours": "179",
            "avg_training_hours": "19.88",
        },
        "organizations": {
            "introduced_ids": ids(5),
            "incubated_ids": ids(2),
            "incubated_excluded": [{"id": str(uuid.uuid4()), "why": "not a community social organisation"}],
        },
    }
    facts.update(overrides)
    return facts


def test_registry_inputs_score_c02_c05_c11_c12_c14() -> None:
    facts = registry_facts()
    records = registry_inputs(facts)
    assert records["site.door_sign"]["counted_ids"] == [facts["site_id"]]
    assert evaluate_indicator(INDICATORS["C02"], records).points == Decimal(2)
    assert evaluate_indicator(INDICATORS["C05"], records).points == Decimal(4)  # activity room + reading room
    c11 = evaluate_indicator(INDICATORS["C11"], records)
    # min(5, 3 + 2.5) = 5; 19.88 h: one 10-hour step short → 1.5
    assert c11.points == Decimal("6.5")
    assert (
        c11.explanation["counted"]["staff.intermediate_or_senior"]
        == facts["staff"]["intermediate_or_senior_ids"]
    )
    assert c11.explanation["excluded"] == [
        {
            "input": "staff.intermediate_or_senior",
            "id": facts["staff"]["uncertified_ids"][0],
            "why": ("no social-work certificate"),
        }
    ]
    assert (
        "179 h of training over 9 active staff"
        in c11.explanation["inputs"]["staff.avg_training_hours"]["note"]
    )
    c12 = evaluate_indicator(INDICATORS["C12"], records)
    assert c12.points == Decimal(6)  # min(4, 5) + min(3, 2)
    assert len(c12.explanation["excluded"]) == 1
    c14 = evaluate_indicator(INDICATORS["C14"], {**records, **activity_inputs(metrics_document())})
    assert c14.points == Decimal(1)  # hours ok; the plan of one month was late


def test_no_opening_hours_and_no_staff() -> None:
    records = registry_inputs(
        registry_facts(
            hours_per_day=None,
            days_per_week=0,
            staff={
                "active_ids": [],
                "intermediate_or_senior_ids": [],
                "junior_ids": [],
                "uncertified_ids": [],
                "training_ids": [],
                "training_hours": "0",
                "avg_training_hours": "0.00",
            },
        )
    )
    assert records["site.hours_per_day"]["value"] == "0"
    assert records["site.hours_per_day"]["note"] == "no opening hours recorded"
    assert records["staff.avg_training_hours"]["note"] == "no staff active in the period"
    assert evaluate_indicator(INDICATORS["C11"], records).points == Decimal(1)


# ---- inputs from the activities metrics ----------------------------------------------------------


def metrics_document() -> dict[str, Any]:
    months = ["2026-01", "2026-02", "2026-03"]
    on_time, late = ids(2), ids(1)
    return {
        "months": months,
        "themes": _themes({m: ids(5) for m in months}, fifty=ids(2), hundred=ids(1), without=ids(1)),
        "casework": {"cases": id_set(ids(3)), "groups": id_set(ids(2)), "cases_and_groups": 5},
        "deliberations": {"complete": id_set(ids(7)), "incomplete": id_set(ids(1))},
        "volunteers": {"registered": id_set(ids(41)), "hours": "1000.5", "hour_entries": id_set(ids(3))},
        "safety": {
            "trainings": {"with_record": id_set(ids(2)), "without_record": id_set(ids(1))},
            "patrols": {
                "per_month": [{"month": m, "patrols": id_set(ids(1))} for m in months],
                "months_without_patrol": [],
                "with_record": id_set(ids(3)),
                "without_record": id_set([]),
            },
            "hazards": {
                "total": 2,
                "overdue_count": 1,
                "overdue": [
                    {
                        "patrol_id": str(uuid.uuid4()),
                        "index": 0,
                        "description": "灭火器过期",
                        "due_on": "2026-02-01",
                        "rectified_on": None,
                    }
                ],
            },
        },
        "plans": {
            "per_month": [],
            "on_time": id_set(on_time),
            "late": id_set(late),
            "unpublished": id_set([]),
            "missing_months": [],
            "all_published_before_month": False,
        },
        "brand": {
            "overall_brand": id_set(ids(1)),
            "overall_brand_exists": True,
            "implemented_projects": id_set(ids(1)),
            "planned_projects": id_set(ids(1)),
        },
        "recognition": {
            "exchange": {"highest_level": "province", "highest": id_set(ids(1)), "by_level": {}},
            "media": {"highest_level": "district", "highest": id_set(ids(1)), "by_level": {}},
            "honour": {"highest_level": None, "highest": id_set([]), "by_level": {}},
        },
    }


def test_activity_inputs_score_c10_c13_c16_c17_c19_c20_c21() -> None:
    metrics = metrics_document()
    records = activity_inputs(metrics)
    scored = {
        code: evaluate_indicator(INDICATORS[code], records).points for code in ("C13", "C16", "C17", "C19")
    }
    # C13: 0.5 × floor(41/20) + 0.5 × floor(1000.5/500) = 1 + 1; C16 min(2, 2.5); C17 min(3, 3.5)
    assert scored == {"C13": Decimal(2), "C16": Decimal(2), "C17": Decimal(3), "C19": Decimal("4.5")}
    c17 = evaluate_indicator(INDICATORS["C17"], records)
    assert c17.explanation["counted"]["deliberations.complete"] == metrics["deliberations"]["complete"]["ids"]
    assert c17.explanation["excluded"][0]["why"] == "rules, resolution or execution not recorded"
    # C20: exchange at province 2, media at district level earns nothing; C21: none.
    assert evaluate_indicator(INDICATORS["C20"], records).points == Decimal(2)
    assert evaluate_indicator(INDICATORS["C21"], records).points == Decimal(0)
    # C10 waits for the evaluator's fire-rules level, then: 1 + (1 − 0.5 records) + (1 − 0.5 overdue).
    waiting = evaluate_indicator(INDICATORS["C10"], records)
    assert waiting.points is None and "manual.C10.fire_rules" in waiting.explanation["message"]
    c10 = evaluate_indicator(INDICATORS["C10"], records, {"manual.C10.fire_rules": "complete"})
    assert c10.points == Decimal(2)
    assert c10.explanation["inputs"]["manual.C10.fire_rules"]["source"] == "evaluator"
    assert records["safety.patrol_deductions"]["counted_ids"] == [
        metrics["safety"]["hazards"]["overdue"][0]["patrol_id"]
    ]


def test_patrols_missing_in_a_month_are_not_regular() -> None:
    metrics = metrics_document()
    metrics["safety"]["patrols"]["months_without_patrol"] = ["2026-02"]
    records = activity_inputs(metrics)
    assert records["safety.patrols_regular"]["value"] is False
    c10 = evaluate_indicator(INDICATORS["C10"], records, {"manual.C10.fire_rules": "fairly"})
    assert c10.points == Decimal("1.5")  # 0.5 + 0.5 + 0.5 (patrols not regular)


# ---- survey --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("satisfied", "answers", "points"),
    [(54, 60, "22.50"), (53, 60, "22.08"), (360, 360, "25.00"), (0, 6, "0.00")],
)
def test_c18_from_the_survey(satisfied: int, answers: int, points: str) -> None:
    records = survey_inputs(
        {
            "respondents": answers,
            "answers": answers,
            "satisfied_answers": satisfied,
            "satisfied_at_least": 4,
            "by_channel": {"onsite_random": answers // 2, "phone": answers - answers // 2},
        }
    )
    assert evaluate_indicator(INDICATORS["C18"], records).points == Decimal(points)


def test_c18_without_responses_is_not_computed_and_says_so() -> None:
    records = survey_inputs({"respondents": 0, "answers": 0, "satisfied_answers": 0, "satisfied_at_least": 4})
    scored = evaluate_indicator(INDICATORS["C18"], records)
    assert scored.points is None
    assert scored.explanation["missing"] == "survey.satisfaction_rate"
    assert "no survey responses" in scored.explanation["message"]


# ---- manual and the document checks -------------------------------------------------------------


def test_manual_indicator_from_the_evaluators_values() -> None:
    scored = evaluate_manual(
        INDICATORS["C04"], {"manual.C04.waste_sorting": True, "manual.C04.issues_found": 3}
    )
    assert scored.points == Decimal("2.5")
    assert scored.explanation["inputs"]["manual.C04.issues_found"]["value"] == 3


def test_every_input_of_table_c1_can_be_supplied() -> None:
    read = {
        name
        for i in TABLE_C1["indicators"]
        for name in inputs_of(i["rule"])
        if not name.startswith("manual.")
    }
    assert read <= KNOWN_INPUTS
    check_document(RubricDocument.model_validate(TABLE_C1))  # Table C.1 passes its own checks


def test_document_check_lists_every_problem() -> None:
    document = RubricDocument.model_validate(
        {**TABLE_C1, "thresholds": {"demonstration": 1.2, "standard": 0.8}, "version": "x"}
    )
    document.indicators[0].rule = {"type": "flag", "input": "manual.C01.well_located", "points": 2.5}
    with pytest.raises(RubricInvalid) as raised:
        check_document(document)
    fields = [e["field"] for e in raised.value.extra["errors"]]
    assert fields == ["thresholds.demonstration", "indicators.0.max_points"]


def test_inputs_never_extracted_do_not_pass_for_no() -> None:
    # C10's first_of would read a missing `safety.patrols_regular` as "not regular" (0.5 points).
    scored = evaluate_indicator(INDICATORS["C10"], {}, {"manual.C10.fire_rules": "complete"})
    assert scored.points is None and "compute the scorecard first" in scored.explanation["message"]
    # A null level (no recognition at all) is a value, not a missing input.
    records = activity_inputs(metrics_document())
    assert records["recognition.honour"]["value"] is None
    assert evaluate_indicator(INDICATORS["C21"], records).points == Decimal(0)
