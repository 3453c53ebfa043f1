"""The rubric engine on worked examples written by hand from Table C.1's text (no stack needed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.evaluation.rubric.engine import MissingInput, RubricError, evaluate, inputs_of, max_points_of
from services.evaluation.rubric.table_c1 import TABLE_C1

INDICATORS = {i["code"]: i for i in TABLE_C1["indicators"]}


def score(code: str, **inputs: Any) -> Decimal:
    return evaluate(INDICATORS[code]["rule"], {k.replace("__", "."): v for k, v in inputs.items()}).points


def test_table_c1_is_21_indicators_worth_100_points() -> None:
    assert [i["code"] for i in TABLE_C1["indicators"]] == [f"C{n:02d}" for n in range(1, 22)]
    assert sum(Decimal(str(i["max_points"])) for i in TABLE_C1["indicators"]) == 100
    assert TABLE_C1["thresholds"] == {"demonstration": 0.9, "standard": 0.8}


@pytest.mark.parametrize("code", [f"C{n:02d}" for n in range(1, 22)])
def test_each_rule_can_reach_exactly_its_max_points(code: str) -> None:
    indicator = INDICATORS[code]
    ceiling = max_points_of(indicator["rule"])
    if ceiling is not None:
        assert ceiling == Decimal(str(indicator["max_points"]))
    # Manual inputs declared by the indicator are exactly the manual.* inputs its rule reads.
    manual = {name for name in inputs_of(indicator["rule"]) if name.startswith("manual.")}
    assert manual == {m["name"] for m in indicator["manual_inputs"]}


def test_c11_certificates_and_training_steps() -> None:
    full = {"staff.intermediate_or_senior": 3, "staff.junior": 5}
    assert (
        score("C11", **{k.replace(".", "__"): v for k, v in full.items()}, staff__avg_training_hours=20) == 7
    )
    # 3 × 1 + 5 × 0.5 = 5.5 → capped at 5; 19.9 h → one step short → 1.5
    assert score(
        "C11", staff__intermediate_or_senior=3, staff__junior=5, staff__avg_training_hours=19.9
    ) == Decimal("6.5")
    assert score(
        "C11", staff__intermediate_or_senior=1, staff__junior=1, staff__avg_training_hours=10
    ) == Decimal("3.0")  # 1.5 + (2 − 0.5 × 1)
    assert score(
        "C11", staff__intermediate_or_senior=0, staff__junior=0, staff__avg_training_hours=9.9
    ) == Decimal("1.0")  # 2 − 0.5 × ceil(10.1 / 10) = 1
    assert score(
        "C11", staff__intermediate_or_senior=0, staff__junior=0, staff__avg_training_hours=0
    ) == Decimal("1.0")


@pytest.mark.parametrize(
    ("volunteers", "hours", "expected"),
    [
        (19, 499, "0"),
        (20, 500, "1.0"),
        (39, 999, "1.0"),
        (40, 1000, "2.0"),
        (119, 2999, "5.0"),
        (500, 100000, "6"),
    ],
)
def test_c13_volunteers_per_20_and_hours_per_500(volunteers: int, hours: int, expected: str) -> None:
    assert score("C13", volunteers__registered=volunteers, volunteers__hours=hours) == Decimal(expected)


def test_c15_deduction_half_point_per_missing_activity_not_below_zero() -> None:
    assert score("C15", themes__shortfall=0) == 2
    assert score("C15", themes__shortfall=1) == Decimal("1.5")
    assert score("C15", themes__shortfall=4) == 0
    assert score("C15", themes__shortfall=40) == 0


def test_c18_satisfaction_rate_times_25() -> None:
    assert score("C18", survey__satisfaction_rate=Decimal("0.90")) == Decimal("22.50")
    assert score("C18", survey__satisfaction_rate=1) == 25
    with pytest.raises(RubricError):
        score("C18", survey__satisfaction_rate=Decimal("1.2"))


def test_c20_highest_level_per_kind_no_summing_within_a_kind() -> None:
    assert score("C20", recognition__exchange="province", recognition__media="national") == 5
    assert score("C20", recognition__exchange=None, recognition__media="city") == 1
    assert score("C21", recognition__honour="national") == 3
    assert score("C21", recognition__honour=None) == 0


def test_c08_keeps_the_tables_oddity_partly_earns_half() -> None:
    assert score("C08", manual__C08__rules_exist=True, manual__C08__implementation="full") == 1
    assert score("C08", manual__C08__rules_exist=True, manual__C08__implementation="partly") == 1
    assert score("C08", manual__C08__rules_exist=True, manual__C08__implementation="mostly_not") == Decimal(
        "0.5"
    )


def test_c10_safety_parts() -> None:
    base = {
        "manual__C10__fire_rules": "complete",
        "safety__trainings_held": True,
        "safety__training_records_incomplete": 0,
        "safety__patrols_regular": True,
        "safety__patrol_deductions": 0,
    }
    assert score("C10", **base) == 3
    assert score("C10", **{**base, "safety__training_records_incomplete": 1}) == Decimal("2.5")
    assert score("C10", **{**base, "safety__trainings_held": False}) == 2
    assert score("C10", **{**base, "safety__patrols_regular": False}) == Decimal("2.5")
    assert score("C10", **{**base, "safety__patrol_deductions": 3}) == 2  # 1 − 1.5 → floor 0
    assert score("C10", **{**base, "manual__C10__fire_rules": "fairly"}) == Decimal("2.5")


def test_c14_opening_hours_and_plans() -> None:
    assert (
        score("C14", site__hours_per_day=12, site__days_per_week=5, plans__all_published_before_month=True)
        == 2
    )
    assert (
        score(
            "C14",
            site__hours_per_day=Decimal("11.9"),
            site__days_per_week=7,
            plans__all_published_before_month=True,
        )
        == 1
    )
    assert (
        score("C14", site__hours_per_day=12, site__days_per_week=4, plans__all_published_before_month=False)
        == 0
    )


def test_c05_function_areas() -> None:
    inputs = {
        "area__elderly_center": True,
        "area__elderly_center__slip_above_r9": False,
        "area__elderly_center__warm_walls": True,
        "area__children_room": True,
        "area__children_room__soft_floor": True,
        "area__children_room__science_art": True,
        "area__public_activity_room": False,
        "area__reading_room": True,
    }
    assert score("C05", **inputs) == Decimal("7.5")  # 2 + 0.5 warm walls + 3 children + 2 reading


def test_explanations_name_inputs_and_formulas() -> None:
    result = evaluate(INDICATORS["C13"]["rule"], {"volunteers.registered": 45, "volunteers.hours": 1200})
    text = "\n".join(result.explanation)
    assert "volunteers.registered = 45" in text and "floor(45 / 20)" in text and "floor(1200 / 500)" in text
    assert result.points == 2


def test_missing_input_is_reported_by_name() -> None:
    with pytest.raises(MissingInput) as info:
        evaluate(INDICATORS["C16"]["rule"], {})
    assert info.value.name == "casework.cases_and_groups"


def test_manual_choice_outside_allowed_values() -> None:
    with pytest.raises(RubricError):
        evaluate({"type": "choice", "input": "x", "allowed": [0, 2]}, {"x": 1})
