"""The rubric engine: one small interpreter for every indicator of every rubric version.

An indicator's rule is data — a tree of *terms* — evaluated against named
inputs (counts and facts extracted from the registry, the activities logs, the
survey and the evaluator's manual judgements). Every term returns its points
and a line of explanation, so every score explains itself.

Term types (the whole language):

``flag``            ``points`` if the input is true.
``threshold``       ``points`` if the input ≥ ``min`` (and ≤ ``max`` when given).
``all``             ``points`` if every sub-term scores its full points.
``per_count``       ``per`` × floor(input / ``step``) (``step`` defaults to 1).
``sum``             the sum of ``terms``.
``cap``             min(``max``, the sum of ``terms``).
``deduction``       max(``floor``, ``base`` − ``per`` × input).
``shortfall_steps`` max(``floor``, ``base`` − ``per`` × ceil(max(0, ``target`` − input) / ``step``)).
``level``           the points of the input's level in ``levels`` (e.g. city 1, province 2, national 3).
``rate``            ``points`` × input (a rate between 0 and 1).
``choice``          the input itself, which must be one of ``allowed`` (manual judgements).
``first_of``        the first sub-term whose ``when`` input is true, else ``otherwise`` (default 0).

Points are :class:`~decimal.Decimal`: the rubric speaks in halves, and floats
would turn 0.5 + 0.5 + … into 2.9999999.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TERM_TYPES = (
    "flag", "threshold", "all", "per_count", "sum", "cap", "deduction", "shortfall_steps", "level", "rate",
    "choice", "first_of",
)  # fmt: skip


class RubricError(ValueError):
    """A rule that cannot be evaluated (bad document or a missing input)."""


class MissingInput(RubricError):
    def __init__(self, name: str) -> None:
        super().__init__(f"input {name!r} is missing")
        self.name = name


@dataclass
class Result:
    points: Decimal
    explanation: list[str] = field(default_factory=list)


def D(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def _input(inputs: Mapping[str, Any], name: str) -> Any:
    if name not in inputs or inputs[name] is None:
        raise MissingInput(name)
    return inputs[name]


def evaluate(term: Mapping[str, Any], inputs: Mapping[str, Any]) -> Result:
    """Evaluate one term; the result's explanation lists each step in order."""
    kind = term.get("type")
    label = term.get("label")
    prefix = f"{label}: " if label else ""
    if kind == "flag":
        present = bool(_input(inputs, term["input"]))
        points = D(term["points"]) if present else Decimal(0)
        return Result(points, [f"{prefix}{term['input']} = {str(present).lower()} → {_fmt(points)}"])
    if kind == "threshold":
        value = D(_input(inputs, term["input"]))
        ok = value >= D(term["min"]) and ("max" not in term or value <= D(term["max"]))
        bound = f"≥ {term['min']}" + (f" and ≤ {term['max']}" if "max" in term else "")
        points = D(term["points"]) if ok else Decimal(0)
        return Result(
            points,
            [f"{prefix}{term['input']} = {_fmt(value)} ({bound}: {'yes' if ok else 'no'}) → {_fmt(points)}"],
        )
    if kind == "all":
        parts = [evaluate(t, inputs) for t in term["terms"]]
        full = all(
            p.points >= D(t.get("points", 0)) and p.points > 0
            for p, t in zip(parts, term["terms"], strict=True)
        )
        points = D(term["points"]) if full else Decimal(0)
        lines = [line for p in parts for line in p.explanation]
        return Result(points, [*lines, f"{prefix}all met: {'yes' if full else 'no'} → {_fmt(points)}"])
    if kind == "per_count":
        count = D(_input(inputs, term["input"]))
        step = D(term.get("step", 1))
        units = (count / step).to_integral_value(rounding="ROUND_FLOOR")
        points = D(term["per"]) * units
        how = (
            f"{_fmt(D(term['per']))} × floor({_fmt(count)} / {_fmt(step)})"
            if step != 1
            else f"{_fmt(D(term['per']))} × {_fmt(count)}"
        )
        return Result(points, [f"{prefix}{term['input']} = {_fmt(count)}: {how} = {_fmt(points)}"])
    if kind in ("sum", "cap"):
        parts = [evaluate(t, inputs) for t in term["terms"]]
        total = sum((p.points for p in parts), Decimal(0))
        lines = [line for p in parts for line in p.explanation]
        if kind == "cap":
            capped = min(total, D(term["max"]))
            if capped != total:
                lines.append(f"{prefix}{_fmt(total)} capped at {_fmt(D(term['max']))}")
            total = capped
        elif label:
            lines.append(f"{prefix}sum = {_fmt(total)}")
        return Result(total, lines)
    if kind == "deduction":
        count = D(_input(inputs, term["input"]))
        raw = D(term["base"]) - D(term["per"]) * count
        points = max(D(term.get("floor", 0)), raw)
        base, per, floor = _fmt(D(term["base"])), _fmt(D(term["per"])), _fmt(D(term.get("floor", 0)))
        line = f"{prefix}{base} − {per} × {term['input']} ({_fmt(count)}) = {_fmt(raw)}"
        if raw != points:
            line += f", not below {floor}"
        return Result(points, [f"{line} → {_fmt(points)}"])
    if kind == "shortfall_steps":
        value = D(_input(inputs, term["input"]))
        target, step = D(term["target"]), D(term["step"])
        steps = math.ceil(max(Decimal(0), target - value) / step)
        raw = D(term["base"]) - D(term["per"]) * steps
        points = max(D(term.get("floor", 0)), raw)
        base, per = _fmt(D(term["base"])), _fmt(D(term["per"]))
        formula = f"{base} − {per} × ceil(({_fmt(target)} − {_fmt(value)}) / {_fmt(step)})"
        head = f"{prefix}{term['input']} = {_fmt(value)} (target {_fmt(target)})"
        return Result(points, [f"{head}: {formula} = {_fmt(raw)} → {_fmt(points)}"])
    if kind == "level":
        if term["input"] not in inputs:
            raise MissingInput(term["input"])
        level = inputs[term["input"]]  # None: no level reached (no recognition, say) → 0
        points = D(term["levels"].get(level, 0)) if level else Decimal(0)
        return Result(points, [f"{prefix}{term['input']} = {level or 'none'} → {_fmt(points)}"])
    if kind == "rate":
        rate = D(_input(inputs, term["input"]))
        if not Decimal(0) <= rate <= Decimal(1):
            raise RubricError(f"{term['input']} must be a rate between 0 and 1")
        points = (D(term["points"]) * rate).quantize(Decimal("0.01"))
        return Result(
            points, [f"{prefix}{_fmt(D(term['points']))} × {term['input']} ({_fmt(rate)}) = {_fmt(points)}"]
        )
    if kind == "choice":
        value = D(_input(inputs, term["input"]))
        allowed = [D(a) for a in term["allowed"]]
        if value not in allowed:
            raise RubricError(f"{term['input']} must be one of {', '.join(_fmt(a) for a in allowed)}")
        return Result(value, [f"{prefix}{term['input']} = {_fmt(value)} (evaluator's judgement)"])
    if kind == "first_of":
        for case in term["cases"]:
            if case["when"] not in inputs:
                raise MissingInput(case["when"])
            if inputs[case["when"]]:
                result = evaluate(case["term"], inputs)
                return Result(result.points, [f"{prefix}{case['when']} →", *result.explanation])
        points = D(term.get("otherwise", 0))
        return Result(points, [f"{prefix}no case applies → {_fmt(points)}"])
    raise RubricError(f"unknown term type {kind!r}")


def inputs_of(term: Mapping[str, Any]) -> set[str]:
    """Every input name a term reads (to check a rubric document and to ask for manual values)."""
    names: set[str] = set()
    if "input" in term:
        names.add(term["input"])
    for sub in term.get("terms", []):
        names |= inputs_of(sub)
    for case in term.get("cases", []):
        names.add(case["when"])
        names |= inputs_of(case["term"])
    return names


def max_points_of(term: Mapping[str, Any]) -> Decimal | None:
    """The most a term can score, where that is knowable from the rule alone (checks a document)."""
    kind = term["type"]
    if kind in ("flag", "threshold", "all", "rate"):
        return D(term["points"])
    if kind == "cap":
        return D(term["max"])
    if kind in ("deduction", "shortfall_steps"):
        return D(term["base"])
    if kind == "level":
        return max((D(v) for v in term["levels"].values()), default=Decimal(0))
    if kind == "choice":
        return max(D(a) for a in term["allowed"])
    if kind == "sum":
        parts = [max_points_of(t) for t in term["terms"]]
        known = [p for p in parts if p is not None]
        return sum(known, Decimal(0)) if len(known) == len(parts) else None
    if kind == "first_of":
        parts = [max_points_of(c["term"]) for c in term["cases"]] + [D(term.get("otherwise", 0))]
        known = [p for p in parts if p is not None]
        return max(known) if len(known) == len(parts) else None
    return None  # per_count: unbounded unless capped
