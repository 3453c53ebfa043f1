"""From other services' facts to the named inputs of the rubric engine — one function per source.

Each input is a record ``{value, source, counted_ids, excluded: [{id, why}], note?}``: the value the
engine reads, where it came from, the ids of the records that made it, the records left out and
why, and a line for what ids cannot say (e.g. the months short of theme activities). Values are
JSON: booleans, integers, level codes, and decimals as strings (never floats).

* :func:`registry_inputs` — ``site.*``, ``area.*``, ``staff.*``, ``orgs.*`` from the registry's
  ``/internal/sites/{id}/evaluation-inputs``;
* :func:`activity_inputs` — ``volunteers.*``, ``plans.*``, ``themes.*``, ``casework.*``,
  ``deliberations.*``, ``safety.*``, ``brand.*``, ``recognition.*`` from the activities
  ``/metrics`` document;
* :func:`survey_inputs` — ``survey.*`` from the scorecard's own survey.

:data:`KNOWN_INPUTS` is every name these functions produce; a rubric may read no other (besides
the evaluator's ``manual.<code>.*``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

InputRecord = dict[str, Any]

REGISTRY, ACTIVITIES, SURVEY = "registry", "activities", "survey"

# C15 (主题活动): per month 5 theme activities; per year 8 of 50–100 people and 2 of more than 100.
THEMES_PER_MONTH = 5
YEARLY_50_100 = 8
YEARLY_OVER_100 = 2
MONTHS_PER_YEAR = 12


def record(
    value: Any,
    source: str,
    counted_ids: Iterable[Any] = (),
    excluded: Iterable[Mapping[str, Any]] = (),
    note: str | None = None,
) -> InputRecord:
    rec: InputRecord = {
        "value": _json_value(value),
        "source": source,
        "counted_ids": list(map(str, counted_ids)),
        "excluded": [{"id": str(e["id"]), "why": e["why"]} for e in excluded],
    }
    if note:
        rec["note"] = note
    return rec


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    return value


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _ids(id_set: Mapping[str, Any] | None) -> list[str]:
    return list(map(str, (id_set or {}).get("ids", [])))


def _count(id_set: Mapping[str, Any] | None) -> int:
    return int((id_set or {}).get("count", 0))


def _why(ids: Iterable[Any], why: str) -> list[dict[str, Any]]:
    return [{"id": i, "why": why} for i in ids]


# ---- registry (C02, C05–C07, C11, C12, C14) --------------------------------------------------------

_AREA_FLAGS: dict[str, tuple[str, ...]] = {
    "elderly_center": ("slip_above_r9", "warm_walls"),
    "children_room": ("soft_floor", "science_art"),
    "public_activity_room": (),
    "reading_room": (),
    "deliberation_hall": ("walls_not_wood_or_marble", "tile_floor"),
    "one_stop_office": ("tricolor_sign", "few_colors", "tile_or_vinyl_floor", "desk_unobstructed"),
}


def registry_inputs(facts: Mapping[str, Any]) -> dict[str, InputRecord]:
    site_id = facts["site_id"]
    inputs: dict[str, InputRecord] = {}
    door_sign = bool(facts.get("door_sign"))
    inputs["site.door_sign"] = record(door_sign, f"{REGISTRY}.site.signage", [site_id] if door_sign else [])
    areas = facts.get("areas", {})
    for kind, flags in _AREA_FLAGS.items():
        area = areas.get(kind, {})
        present = bool(area.get("present"))
        source = f"{REGISTRY}.site.function_areas"
        inputs[f"area.{kind}"] = record(present, source, note=None if present else f"no {kind} recorded")
        for flag in flags:
            inputs[f"area.{kind}.{flag}"] = record(bool(area.get(flag)), source)
    hours = facts.get("hours_per_day")
    inputs["site.hours_per_day"] = record(
        _decimal(hours) if hours is not None else Decimal(0),
        f"{REGISTRY}.site.opening_hours",
        note="shortest opening of the open days" if hours is not None else "no opening hours recorded",
    )
    inputs["site.days_per_week"] = record(
        int(facts.get("days_per_week") or 0), f"{REGISTRY}.site.opening_hours"
    )

    staff = facts.get("staff", {})
    senior, junior = staff.get("intermediate_or_senior_ids", []), staff.get("junior_ids", [])
    inputs["staff.intermediate_or_senior"] = record(
        len(senior),
        f"{REGISTRY}.staff",
        senior,
        _why(staff.get("uncertified_ids", []), "no social-work certificate"),
        note="staff active in the period holding an intermediate or senior certificate",
    )
    inputs["staff.junior"] = record(len(junior), f"{REGISTRY}.staff", junior)
    active = len(staff.get("active_ids", []))
    inputs["staff.avg_training_hours"] = record(
        _decimal(staff.get("avg_training_hours", 0)),
        f"{REGISTRY}.staff_trainings",
        staff.get("training_ids", []),
        note=(
            f"{_json_value(_decimal(staff.get('training_hours', 0)))} h of training "
            f"over {active} active staff"
            if active
            else "no staff active in the period"
        ),
    )

    orgs = facts.get("organizations", {})
    introduced, incubated = orgs.get("introduced_ids", []), orgs.get("incubated_ids", [])
    inputs["orgs.introduced"] = record(len(introduced), f"{REGISTRY}.site_organizations", introduced)
    inputs["orgs.incubated_filed_or_registered"] = record(
        len(incubated), f"{REGISTRY}.site_organizations", incubated, orgs.get("incubated_excluded", [])
    )
    return inputs


# ---- activities (C10, C13–C17, C19–C21) -----------------------------------------------------------


def prorated_yearly(count: int, months_covered: int) -> int:
    """A yearly count for a shorter period: × months covered / 12, rounded up (SPEC §6, C15).
    A period of a year or more asks for the yearly count itself."""
    months = min(months_covered, MONTHS_PER_YEAR)
    return math.ceil(Decimal(count * months) / MONTHS_PER_YEAR)


def theme_shortfall(themes: Mapping[str, Any], months: list[str]) -> InputRecord:
    """C15's shortfall: Σ months max(0, 5 − counted theme activities) + max(0, 8' − 50–100 people)
    + max(0, 2' − more than 100), the yearly counts 8 and 2 pro-rated to the months covered."""
    per_month = {m["month"]: _count(m.get("with_evidence")) for m in themes.get("per_month", [])}
    monthly = {month: max(0, THEMES_PER_MONTH - per_month.get(month, 0)) for month in months}
    target_50_100 = prorated_yearly(YEARLY_50_100, len(months))
    target_over_100 = prorated_yearly(YEARLY_OVER_100, len(months))
    count_50_100 = _count(themes.get("attendance_50_100"))
    count_over_100 = _count(themes.get("attendance_over_100"))
    short_50_100 = max(0, target_50_100 - count_50_100)
    short_over_100 = max(0, target_over_100 - count_over_100)
    shortfall = sum(monthly.values()) + short_50_100 + short_over_100
    months_text = ", ".join(f"{m}: {per_month.get(m, 0)} (short {s})" for m, s in monthly.items())
    note = (
        f"theme activities with sign-in sheet and photo per month, {THEMES_PER_MONTH} each — {months_text}; "
        f"50–100 people: {count_50_100} of {target_50_100} (short {short_50_100}); "
        f"more than 100: {count_over_100} of {target_over_100} (short {short_over_100}); "
        f"yearly counts {YEARLY_50_100} and {YEARLY_OVER_100} pro-rated to {len(months)} month(s), "
        "rounded up; "
        f"shortfall {shortfall}"
    )
    return record(
        shortfall,
        f"{ACTIVITIES}.activities",
        _ids(themes.get("with_evidence")),
        _why(_ids(themes.get("without_evidence")), "theme activity without both a sign-in sheet and a photo"),
        note=note,
    )


def activity_inputs(metrics: Mapping[str, Any]) -> dict[str, InputRecord]:
    months = list(metrics.get("months", []))
    inputs: dict[str, InputRecord] = {}

    volunteers = metrics.get("volunteers", {})
    inputs["volunteers.registered"] = record(
        _count(volunteers.get("registered")),
        f"{ACTIVITIES}.volunteers",
        _ids(volunteers.get("registered")),
        note="volunteers on the roster by the period's end",
    )
    inputs["volunteers.hours"] = record(
        _decimal(volunteers.get("hours", "0")),
        f"{ACTIVITIES}.volunteer_hours",
        _ids(volunteers.get("hour_entries")),
        note="volunteer hours served in the period",
    )

    plans = metrics.get("plans", {})
    missing = list(plans.get("missing_months", []))
    inputs["plans.all_published_before_month"] = record(
        bool(plans.get("all_published_before_month")),
        f"{ACTIVITIES}.activity_plans",
        _ids(plans.get("on_time")),
        _why(_ids(plans.get("late")), "published after its month began")
        + _why(_ids(plans.get("unpublished")), "never published"),
        note=f"no plan for {', '.join(missing)}" if missing else None,
    )

    themes = metrics.get("themes", {})
    inputs["themes.shortfall"] = theme_shortfall(themes, months)
    inputs["themes.counted"] = record(
        _count(themes.get("with_evidence")), f"{ACTIVITIES}.activities", _ids(themes.get("with_evidence"))
    )
    inputs["themes.attendance_50_100"] = record(
        _count(themes.get("attendance_50_100")),
        f"{ACTIVITIES}.activities",
        _ids(themes.get("attendance_50_100")),
    )
    inputs["themes.attendance_over_100"] = record(
        _count(themes.get("attendance_over_100")),
        f"{ACTIVITIES}.activities",
        _ids(themes.get("attendance_over_100")),
    )
    inputs["themes.months"] = record(len(months), f"{ACTIVITIES}.activities", note=", ".join(months))

    casework = metrics.get("casework", {})
    inputs["casework.cases_and_groups"] = record(
        _count(casework.get("cases")) + _count(casework.get("groups")),
        f"{ACTIVITIES}.cases_and_groups",
        _ids(casework.get("cases")) + _ids(casework.get("groups")),
        note=f"{_count(casework.get('cases'))} case(s) and {_count(casework.get('groups'))} group(s) opened",
    )

    deliberations = metrics.get("deliberations", {})
    inputs["deliberations.complete"] = record(
        _count(deliberations.get("complete")),
        f"{ACTIVITIES}.deliberations",
        _ids(deliberations.get("complete")),
        _why(_ids(deliberations.get("incomplete")), "rules, resolution or execution not recorded"),
    )

    safety = metrics.get("safety", {})
    trainings = safety.get("trainings", {})
    with_record, without_record = _ids(trainings.get("with_record")), _ids(trainings.get("without_record"))
    inputs["safety.trainings_held"] = record(
        bool(with_record or without_record), f"{ACTIVITIES}.safety_trainings", with_record + without_record
    )
    inputs["safety.training_records_incomplete"] = record(
        1 if without_record else 0,
        f"{ACTIVITIES}.safety_trainings",
        without_record,
        note="training records incomplete: −0.5 once" if without_record else "every training has its record",
    )
    patrols = safety.get("patrols", {})
    hazards = safety.get("hazards", {})
    gaps = list(patrols.get("months_without_patrol", []))
    patrol_ids = _ids(patrols.get("with_record")) + _ids(patrols.get("without_record"))
    inputs["safety.patrols_regular"] = record(
        bool(months) and not gaps,
        f"{ACTIVITIES}.safety_patrols",
        patrol_ids,
        note=f"no patrol in {', '.join(gaps)}" if gaps else "a patrol every month of the period",
    )
    overdue = hazards.get("overdue", [])
    patrols_without_record = _ids(patrols.get("without_record"))
    overdue_count = int(hazards.get("overdue_count", len(overdue)))
    inputs["safety.patrol_deductions"] = record(
        overdue_count + (1 if patrols_without_record else 0),
        f"{ACTIVITIES}.safety_patrols",
        [h["patrol_id"] for h in overdue] + patrols_without_record,
        note=(
            f"{overdue_count} hazard(s) not fixed by their due date (−0.5 each)"
            + ("; patrol records incomplete (−0.5)" if patrols_without_record else "")
        ),
    )

    brand = metrics.get("brand", {})
    inputs["brand.overall"] = record(
        bool(brand.get("overall_brand_exists")),
        f"{ACTIVITIES}.brand_projects",
        _ids(brand.get("overall_brand")),
    )
    inputs["brand.implemented_projects"] = record(
        _count(brand.get("implemented_projects")),
        f"{ACTIVITIES}.brand_projects",
        _ids(brand.get("implemented_projects")),
        _why(_ids(brand.get("planned_projects")), "brand project not implemented"),
    )

    recognition = metrics.get("recognition", {})
    for kind in ("exchange", "media", "honour"):
        facts = recognition.get(kind, {})
        level = facts.get("highest_level")
        inputs[f"recognition.{kind}"] = record(
            level,
            f"{ACTIVITIES}.recognitions",
            _ids(facts.get("highest")),
            note=f"highest level reached: {level}" if level else f"no {kind} recognition in the period",
        )
    return inputs


# ---- survey (C18) ----------------------------------------------------------------------------------


def survey_inputs(summary: Mapping[str, Any]) -> dict[str, InputRecord]:
    """``summary``: {respondents, answers, satisfied_answers, satisfied_at_least, by_channel}."""
    answers, satisfied = int(summary["answers"]), int(summary["satisfied_answers"])
    channels = ", ".join(f"{k} {v}" for k, v in summary.get("by_channel", {}).items())
    rate = Decimal(satisfied) / Decimal(answers) if answers else None
    note = (
        f"{satisfied} of {answers} answers rated {summary['satisfied_at_least']} or more "
        f"({summary['respondents']} respondents: {channels})"
        if answers
        else "no survey responses yet: the satisfaction rate cannot be computed"
    )
    return {
        "survey.satisfaction_rate": record(rate, f"{SURVEY}.responses", note=note),
        "survey.respondents": record(int(summary["respondents"]), f"{SURVEY}.responses"),
    }


def _names(producer: Any, sample: Any) -> frozenset[str]:
    return frozenset(producer(sample))


KNOWN_INPUTS: frozenset[str] = (
    _names(registry_inputs, {"site_id": "00000000-0000-0000-0000-000000000000"})
    | _names(activity_inputs, {})
    | _names(survey_inputs, {"answers": 0, "satisfied_answers": 0, "respondents": 0, "satisfied_at_least": 4})
)


def engine_values(records: Mapping[str, InputRecord]) -> dict[str, Any]:
    """The plain name → value mapping the engine reads."""
    return {name: rec.get("value") for name, rec in records.items()}
