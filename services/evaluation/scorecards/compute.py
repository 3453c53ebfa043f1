"""Scoring: one indicator from its inputs, a scorecard's totals, and the tier of Annex A.

An indicator's explanation says everything behind its number::

    {"rule": ["lines of the engine, in order"],
     "inputs": {name: {value, source, counted_ids, excluded, note?}},   # the inputs the rule read
     "counted": {name: [ids]},
     "excluded": [{"input": name, "id": …, "why": …}],
     "missing": "<input>" | None, "message": "why no points could be computed" | None}

Totals: ``total`` = Σ final points of the applicable indicators, ``max_applicable`` = Σ their
maximum points, ``ratio`` = total / max_applicable. The tier compares the exact ratio with the
rubric's thresholds in decimals, so 0.80 is `standard` and 0.90 `demonstration` (Annex A:
"0.9及以上", "0.8—0.9(不包含0.9)").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from services.common.enums import IndicatorSource, Tier
from services.evaluation.rubric.engine import MissingInput, RubricError, evaluate, inputs_of
from services.evaluation.scorecards.inputs import InputRecord, engine_values

RATIO_PLACES = Decimal("0.0001")


@dataclass
class Scored:
    points: Decimal | None
    explanation: dict[str, Any]


def manual_input_names(indicator: Mapping[str, Any]) -> list[str]:
    return [m["name"] for m in indicator.get("manual_inputs", [])]


def evaluate_indicator(
    indicator: Mapping[str, Any],
    records: Mapping[str, InputRecord],
    manual: Mapping[str, Any] | None = None,
    *,
    values: Mapping[str, Any] | None = None,
    read: list[str] | None = None,
) -> Scored:
    """Evaluate an auto or hybrid indicator on the extracted inputs (plus, for a hybrid with manual
    inputs such as C10, the evaluator's values). Missing inputs leave it uncomputed, and say why.

    ``values`` (``engine_values(records)``) and ``read`` (the sorted inputs the rule reads) may be
    given when many indicators are evaluated on the same records (a whole round)."""
    manual = dict(manual or {})
    rule = indicator["rule"]
    if read is None:
        read = sorted(inputs_of(rule))
    used = {name: records[name] for name in read if name in records}
    for name in read:
        if name in manual:
            used[name] = {"value": manual[name], "source": "evaluator", "counted_ids": [], "excluded": []}
    explanation: dict[str, Any] = {
        "inputs": used,
        "counted": {name: rec["counted_ids"] for name, rec in used.items() if rec.get("counted_ids")},
        "excluded": [
            {"input": name, "id": e["id"], "why": e["why"]}
            for name, rec in used.items()
            for e in rec["excluded"]
        ],
        "rule": [],
        "missing": None,
        "message": None,
    }
    # The engine reads a missing `when` of first_of or a missing level as "no"; a value that was
    # never extracted must not pass for one, so every computed input has to be present (even null).
    unavailable = [n for n in read if not n.startswith("manual.") and n not in records]
    if unavailable:
        explanation["missing"] = unavailable[0]
        explanation["message"] = (
            f"inputs not extracted yet: {', '.join(unavailable)} — compute the scorecard first"
        )
        return Scored(None, explanation)
    waiting = [name for name in manual_input_names(indicator) if name not in manual]
    if waiting:
        explanation["missing"] = waiting[0]
        explanation["message"] = f"waiting for the evaluator's input: {', '.join(waiting)}"
        return Scored(None, explanation)
    try:
        base = engine_values(records) if values is None else values
        result = evaluate(rule, {**base, **manual} if manual else dict(base))
    except MissingInput as exc:
        explanation["missing"] = exc.name
        note = records.get(exc.name, {}).get("note")
        explanation["message"] = (
            note or f"input {exc.name} is not available: {indicator['code']} is not computed"
        )
        return Scored(None, explanation)
    except RubricError as exc:
        explanation["message"] = str(exc)
        return Scored(None, explanation)
    explanation["rule"] = result.explanation
    return Scored(result.points, explanation)


def evaluate_manual(indicator: Mapping[str, Any], values: Mapping[str, Any]) -> Scored:
    """A manual indicator from the evaluator's inputs (already validated against the declaration)."""
    result = evaluate(indicator["rule"], values)
    inputs = {
        name: {"value": value, "source": "evaluator", "counted_ids": [], "excluded": []}
        for name, value in values.items()
    }
    return Scored(
        result.points,
        {
            "inputs": inputs,
            "counted": {},
            "excluded": [],
            "rule": result.explanation,
            "missing": None,
            "message": None,
        },
    )


def final_points(
    source: str, auto_points: Decimal | None, manual_points: Decimal | None, override_points: Decimal | None
) -> Decimal | None:
    """What counts: the evaluator's judgement for a manual indicator; otherwise the override when
    there is one, else the computed value."""
    if source == IndicatorSource.MANUAL:
        return manual_points
    return override_points if override_points is not None else auto_points


@dataclass
class Totals:
    total: Decimal
    max_applicable: Decimal
    ratio: Decimal | None


def totals(items: Iterable[Any]) -> Totals:
    """Σ final points and Σ maximum points of the applicable indicators (empty items count 0)."""
    total, maximum = Decimal(0), Decimal(0)
    for item in items:
        if not item.applicable:
            continue
        maximum += Decimal(item.max_points)
        total += Decimal(item.final_points) if item.final_points is not None else Decimal(0)
    ratio = (total / maximum).quantize(RATIO_PLACES, rounding=ROUND_DOWN) if maximum else None
    return Totals(total=total, max_applicable=maximum, ratio=ratio)


def tier_for(
    total: Decimal | None, max_applicable: Decimal | None, thresholds: Mapping[str, Any]
) -> Tier | None:
    """Annex A: ratio ≥ demonstration → demonstration, ≥ standard → standard, else basic.

    Compared as total ≥ threshold × max in exact decimals: no rounding of the ratio can push a
    site over a boundary."""
    if total is None or not max_applicable:
        return None
    if total >= Decimal(str(thresholds["demonstration"])) * max_applicable:
        return Tier.DEMONSTRATION
    if total >= Decimal(str(thresholds["standard"])) * max_applicable:
        return Tier.STANDARD
    return Tier.BASIC
