"""Scoring: one indicator from its inputs, a scorecard's totals, and the tier of Annex A.

An indicator's explanation says everything behind its number::

    {"rule": ["lines of the engine, in order"],
     "inputs": {name: {value, source, counted_ids, excluded, note?}},   # the inputs the rule read
     "counted": {name: [ids]},
     "excluded": [{"input": name, "id": …, "why": …}],
     "missing": "<input>" | None, "message": "why no points could be computed" | None}

A scorecard item stores it by reference (:func:`by_reference`): the names of the inputs it read
instead of their records, which the scorecard keeps once in its ``inputs`` (a round of 300
scorecards would otherwise store every counted id several times over). :func:`explanation_in_full`
puts the records back when the item is read, exactly as the full explanation would read.

Totals: ``total`` = Σ final points of the applicable indicators, ``max_applicable`` = Σ their
maximum points, ``ratio`` = total / max_applicable. The tier compares the exact ratio with the
rubric's thresholds in decimals, so 0.80 is `standard` and 0.90 `demonstration` (Annex A:
"0.9及以上", "0.8—0.9(不包含0.9)").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from itertools import repeat
from typing import Any

from services.common.enums import IndicatorSource, Tier
from services.evaluation.rubric.engine import MissingInput, Result, RubricError, evaluate, inputs_of
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
    results: RuleResults | None = None,
    referenced: bool = False,
) -> Scored:
    """Evaluate an auto or hybrid indicator on the extracted inputs (plus, for a hybrid with manual
    inputs such as C10, the evaluator's values). Missing inputs leave it uncomputed, and say why.

    ``values`` (``engine_values(records)``) and ``read`` (the sorted inputs the rule reads) may be
    given when many indicators are evaluated on the same records (a whole round); ``results``
    remembers the rule's outcome for the values it read, across the scorecards of a round.
    ``referenced``: the explanation as an item stores it (:func:`by_reference`), built directly."""
    manual = dict(manual or {})
    rule = indicator["rule"]
    if read is None:
        read = sorted(inputs_of(rule))
    explanation: dict[str, Any]
    if referenced:
        # The order of the full explanation's inputs: those extracted, then the evaluator's.
        names = [n for n in read if n in records] + [n for n in read if n in manual and n not in records]
        explanation = {"read": names, "rule": [], "missing": None, "message": None}
    else:
        used = {name: records[name] for name in read if name in records}
        for name in read:
            if name in manual:
                used[name] = _evaluator_record(manual[name])
        explanation = _explained(used, [], None, None)
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
        engine_inputs = {**base, **manual} if manual else base
        if results is None:
            result = evaluate(rule, engine_inputs)
        else:
            result = results.evaluate(rule, engine_inputs, read)
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
    explanation["rule"] = list(result.explanation)
    return Scored(result.points, explanation)


def _evaluator_record(value: Any) -> InputRecord:
    return {"value": value, "source": "evaluator", "counted_ids": [], "excluded": []}


def _explained(
    used: Mapping[str, InputRecord], rule: list[str], missing: str | None, message: str | None
) -> dict[str, Any]:
    return {
        "inputs": used,
        "counted": {name: rec["counted_ids"] for name, rec in used.items() if rec.get("counted_ids")},
        "excluded": [
            {"input": name, "id": e["id"], "why": e["why"]}
            for name, rec in used.items()
            for e in rec["excluded"]
        ],
        "rule": rule,
        "missing": missing,
        "message": message,
    }


def by_reference(explanation: Mapping[str, Any]) -> dict[str, Any]:
    """An auto or hybrid item's explanation as stored: the names of the inputs read, in order,
    instead of their records (the scorecard's ``inputs`` and the item's ``manual_inputs`` hold
    them), then the rule's lines, ``missing`` and ``message``."""
    return {
        "read": list(explanation["inputs"]),
        "rule": explanation["rule"],
        "missing": explanation["missing"],
        "message": explanation["message"],
    }


def explanation_in_full(
    stored: Mapping[str, Any], records: Mapping[str, InputRecord], manual: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The explanation an item stored by reference stands for, as the full one reads back from
    the database (JSONB orders an object's keys by length, then bytewise): the records from the
    scorecard's ``inputs`` (which change only with a new evaluation of every item reading them)
    and, for the evaluator's inputs, the item's ``manual_inputs``. Anything else — an item stored
    in full (a manual one, or one computed before explanations were stored by reference), or not
    computed yet (``{}``) — is returned as it is."""
    if "read" not in stored:
        return stored
    used: dict[str, InputRecord] = {}
    for name in stored["read"]:
        if name in manual:
            used[name] = _evaluator_record(manual[name])
        elif name in records:
            used[name] = records[name]
    full = _explained(used, stored["rule"], stored["missing"], stored["message"])
    return _in_jsonb_order(full)  # type: ignore[no-any-return]


def _jsonb_key(key: str) -> tuple[int, bytes]:
    encoded = key.encode()
    return len(encoded), encoded


def _in_jsonb_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _in_jsonb_order(value[key]) for key in sorted(value, key=_jsonb_key)}
    if isinstance(value, list):
        return [_in_jsonb_order(item) for item in value]
    return value


_ABSENT = object()


class RuleResults:
    """The engine's result of a rule for the values of the inputs it reads, remembered: a round's
    scorecards mostly share them (flags, levels, small counts), and a rule's points and lines
    depend on nothing else (:func:`~services.evaluation.rubric.engine.inputs_of` names every input
    a rule reads). A failure (a missing input, a bad value) is remembered too, and raised again."""

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], Result | Callable[[], RubricError]] = {}

    def evaluate(self, rule: Mapping[str, Any], inputs: Mapping[str, Any], read: list[str]) -> Result:
        # The type is part of the key: True == 1 and 1 == 1.0 must not share a result.
        key = (id(rule), *[(type(v), v) for v in map(inputs.get, read, repeat(_ABSENT))])
        try:
            known = self._known.get(key)
        except TypeError:  # an unhashable value: nothing to share
            return evaluate(rule, inputs)
        if known is None:
            try:
                known = self._known[key] = evaluate(rule, inputs)
            except RubricError as exc:
                # A new exception each time, not this one: its traceback holds a scorecard's frames.
                self._known[key] = _failure(exc)
                raise
        if isinstance(known, Result):
            return known
        raise known()


def _failure(exc: RubricError) -> Callable[[], RubricError]:
    if isinstance(exc, MissingInput):
        name = exc.name
        return lambda: MissingInput(name)
    kind, message = type(exc), str(exc)
    return lambda: kind(message)


def evaluate_manual(indicator: Mapping[str, Any], values: Mapping[str, Any]) -> Scored:
    """A manual indicator from the evaluator's inputs (already validated against the declaration)."""
    result = evaluate(indicator["rule"], values)
    inputs = {name: _evaluator_record(value) for name, value in values.items()}
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
