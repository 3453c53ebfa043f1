"""Rubric versions: read them, and let the district add a corrected one (SPEC §6).

A new version is checked as a whole before it is stored, because rounds score against it for a
year: 21 indicators with unique codes, every rule a well-formed tree of engine terms reading inputs
the scorecard can supply, each rule able to reach exactly its indicator's points, the manual inputs
declared exactly those the rule reads, 100 points in all, and 0 < standard < demonstration ≤ 1.
Every problem is reported at once, each with the path of the offending field. Versions never
change once created (there is no PUT or PATCH); `2023-draft` is the standard's own text.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import AppError, Conflict, NotFound, define_titles
from services.common.pagination import PageParams, keyset_page
from services.common.stored import reads_stored
from services.evaluation.audit import audit
from services.evaluation.database import utcnow
from services.evaluation.rubric.engine import TERM_TYPES, inputs_of, max_points_of
from services.evaluation.rubrics.models import Rubric
from services.evaluation.rubrics.schemas import RubricDocument, RubricRead, RubricSummary
from services.evaluation.scorecards.inputs import KNOWN_INPUTS

INDICATOR_COUNT = 21
TOTAL_POINTS = Decimal(100)
MAX_RULE_DEPTH = 12

define_titles(
    {
        "rubric_not_found": ("Rubric version not found", "评估细则版本不存在"),
        "rubric_exists": ("Rubric version already exists", "评估细则版本已存在"),
        "rubric_read_only": ("This rubric version is read-only", "该评估细则版本为只读"),
    }
)


class RubricNotFound(NotFound):
    code = "rubric_not_found"

    def __init__(self) -> None:
        super().__init__("No rubric with this version.", detail_zh="评估细则版本不存在。")


class RubricExists(Conflict):
    code = "rubric_exists"

    def __init__(self, version: str) -> None:
        super().__init__(
            f"Rubric version '{version}' already exists; versions never change — choose a new version.",
            detail_zh=f"评估细则版本“{version}”已存在,版本一经创建不可修改,请使用新的版本号。",
            version=version,
        )


class RubricReadOnly(Conflict):
    code = "rubric_read_only"

    def __init__(self, version: str) -> None:
        super().__init__(
            f"Rubric version '{version}' is the standard's Table C.1 and can never be changed; "
            "post a corrected copy under a new version.",
            detail_zh=f"评估细则版本“{version}”为标准表C.1原文,不可修改;请以新的版本号提交修正稿。",
            version=version,
        )


class RubricInvalid(AppError):
    """422 listing every problem of a posted document, each with its field path."""

    status = 422
    code = "validation_failed"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        super().__init__(f"Invalid fields: {fields}", detail_zh=f"以下字段无效:{fields}", errors=errors)


# ---- reading ---------------------------------------------------------------------------------------


def _total(document: Mapping[str, Any]) -> Decimal:
    return sum((Decimal(str(i["max_points"])) for i in document.get("indicators", [])), Decimal(0))


@reads_stored("evaluation.rubrics")
def summary(rubric: Rubric) -> RubricSummary:
    return RubricSummary(
        version=rubric.version,
        title=rubric.title,
        read_only=rubric.read_only,
        based_on=rubric.based_on,
        indicator_count=len(rubric.document.get("indicators", [])),
        total_max_points=_total(rubric.document),
        thresholds=dict(rubric.document.get("thresholds", {})),
        created_by=rubric.created_by,
        created_at=rubric.created_at,
    )


@reads_stored("evaluation.rubrics")
def read(rubric: Rubric) -> RubricRead:
    return RubricRead(**summary(rubric).model_dump(), document=rubric.document)


async def list_rubrics(session: AsyncSession, page: PageParams) -> tuple[list[Rubric], str | None]:
    return await keyset_page(session, select(Rubric), [Rubric.created_at, Rubric.version], page)


async def find_rubric(session: AsyncSession, version: str) -> Rubric | None:
    return await session.get(Rubric, version)


async def get_rubric(session: AsyncSession, version: str) -> Rubric:
    rubric = await find_rubric(session, version)
    if rubric is None:
        raise RubricNotFound()
    return rubric


# ---- checking a document ---------------------------------------------------------------------------

_NUMBER_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (required number parameters, optional number parameters)
    "flag": (("points",), ()),
    "threshold": (("min", "points"), ("max",)),
    "all": (("points",), ()),
    "per_count": (("per",), ("step",)),
    "sum": ((), ()),
    "cap": (("max",), ()),
    "deduction": (("base", "per"), ("floor",)),
    "shortfall_steps": (("target", "step", "base", "per"), ("floor",)),
    "level": ((), ()),
    "rate": (("points",), ()),
    "choice": ((), ()),
    "first_of": ((), ("otherwise",)),
}
_READS_INPUT = frozenset(TERM_TYPES) - {"all", "sum", "cap", "first_of"}
_HAS_TERMS = frozenset({"all", "sum", "cap"})
assert set(_NUMBER_PARAMS) == set(TERM_TYPES), "every engine term type needs its parameter list"


def _known_members(kind: str) -> frozenset[str]:
    """The members a term of ``kind`` may have: what the engine reads, and nothing else."""
    required, optional = _NUMBER_PARAMS[kind]
    members = {"type", "label", *required, *optional}
    if kind in _READS_INPUT:
        members.add("input")
    if kind in _HAS_TERMS:
        members.add("terms")
    members |= {"level": {"levels"}, "choice": {"allowed"}, "first_of": {"cases"}}.get(kind, set())
    return frozenset(members)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def fail(self, field: str, message: str) -> None:
        self.errors.append({"field": field, "message": message})

    def term(self, term: Any, path: str, depth: int = 0) -> bool:
        """Check one term and its sub-terms; False when it cannot be inspected any further."""
        if not isinstance(term, dict):
            self.fail(path, "must be an object (a rubric term)")
            return False
        if depth > MAX_RULE_DEPTH:
            self.fail(path, f"rules nest at most {MAX_RULE_DEPTH} levels deep")
            return False
        kind = term.get("type")
        if kind not in TERM_TYPES:
            self.fail(f"{path}.type", f"unknown term type {kind!r}; known: {', '.join(TERM_TYPES)}")
            return False
        ok = True
        required, optional = _NUMBER_PARAMS[kind]
        # A member the engine does not read would be stored and silently ignored: refuse it by name.
        for name in sorted(set(term) - _known_members(kind)):
            self.fail(f"{path}.{name}", f"not a member of a '{kind}' term")
            ok = False
        for name in required:
            if not _is_number(term.get(name)):
                self.fail(f"{path}.{name}", f"a number is required for a '{kind}' term")
                ok = False
        for name in optional:
            if name in term and not _is_number(term[name]):
                self.fail(f"{path}.{name}", "must be a number")
                ok = False
        for name in ("step",):
            if _is_number(term.get(name)) and term[name] <= 0:
                self.fail(f"{path}.{name}", "must be greater than 0")
                ok = False
        if "label" in term and not isinstance(term["label"], str):
            self.fail(f"{path}.label", "must be a string")
            ok = False
        if kind in _READS_INPUT and not (isinstance(term.get("input"), str) and term["input"]):
            self.fail(f"{path}.input", f"the input name a '{kind}' term reads is required")
            ok = False
        if kind in _HAS_TERMS:
            ok = self._terms(term.get("terms"), f"{path}.terms", depth) and ok
        if kind == "level":
            levels = term.get("levels")
            if not isinstance(levels, dict) or not levels:
                self.fail(f"{path}.levels", "an object of level → points is required")
                ok = False
            else:
                for key, value in levels.items():
                    if not _is_number(value):
                        self.fail(f"{path}.levels.{key}", "must be a number")
                        ok = False
        if kind == "choice":
            allowed = term.get("allowed")
            if not isinstance(allowed, list) or not allowed or not all(_is_number(a) for a in allowed):
                self.fail(f"{path}.allowed", "a non-empty list of numbers is required")
                ok = False
        if kind == "first_of":
            cases = term.get("cases")
            if not isinstance(cases, list) or not cases:
                self.fail(f"{path}.cases", "a non-empty list of {when, term} is required")
                return False
            for n, case in enumerate(cases):
                where = f"{path}.cases.{n}"
                if not isinstance(case, dict) or not isinstance(case.get("when"), str) or not case["when"]:
                    self.fail(f"{where}.when", "the input name deciding the case is required")
                    ok = False
                    continue
                for name in sorted(set(case) - {"when", "term"}):
                    self.fail(f"{where}.{name}", "not a member of a case (when, term)")
                    ok = False
                ok = self.term(case.get("term"), f"{where}.term", depth + 1) and ok
        return ok

    def _terms(self, terms: Any, path: str, depth: int) -> bool:
        if not isinstance(terms, list) or not terms:
            self.fail(path, "a non-empty list of terms is required")
            return False
        results = [self.term(sub, f"{path}.{n}", depth + 1) for n, sub in enumerate(terms)]
        return all(results)

    def indicator(self, indicator: Any, path: str) -> Decimal:
        code = indicator.code
        if not self.term(indicator.rule, f"{path}.rule"):
            return Decimal(str(indicator.max_points))
        max_points = Decimal(str(indicator.max_points))
        ceiling = max_points_of(indicator.rule)
        if ceiling is not None and ceiling != max_points:
            self.fail(
                f"{path}.max_points",
                f"the rule of {code} can score at most {ceiling.normalize():f}, "
                f"not {max_points.normalize():f}",
            )
        read = inputs_of(indicator.rule)
        manual_read = {name for name in read if name.startswith("manual.")}
        other_read = read - manual_read
        declared = [m.name for m in indicator.manual_inputs]
        if len(set(declared)) != len(declared):
            self.fail(f"{path}.manual_inputs", "input names must be unique")
        if set(declared) != manual_read:
            missing, unused = sorted(manual_read - set(declared)), sorted(set(declared) - manual_read)
            parts = ([f"read but not declared: {', '.join(missing)}"] if missing else []) + (
                [f"declared but not read: {', '.join(unused)}"] if unused else []
            )
            self.fail(f"{path}.manual_inputs", "; ".join(parts))
        for name in sorted(manual_read):
            if not name.startswith(f"manual.{code}."):
                self.fail(f"{path}.rule", f"manual input {name} must be named manual.{code}.<name>")
        for name in sorted(other_read - KNOWN_INPUTS):
            self.fail(f"{path}.rule", f"unknown input {name!r}: the scorecard cannot supply it")
        if indicator.source == "auto" and manual_read:
            self.fail(f"{path}.source", "an auto indicator cannot read manual inputs")
        if indicator.source == "manual" and other_read:
            self.fail(
                f"{path}.source", f"a manual indicator reads only manual inputs, not {sorted(other_read)}"
            )
        if indicator.source != "manual" and not other_read:
            self.fail(f"{path}.source", "an auto or hybrid indicator must read at least one computed input")
        for n, manual in enumerate(indicator.manual_inputs):
            if manual.type == "level" and not manual.levels:
                self.fail(f"{path}.manual_inputs.{n}.levels", "a level input lists its levels")
            if manual.type == "count" and manual.max is None:
                self.fail(f"{path}.manual_inputs.{n}.max", "a count input gives its maximum")
        return max_points


def check_document(body: RubricDocument) -> None:
    """Raise :class:`RubricInvalid` listing every problem of the document."""
    check = _Checker()
    standard, demonstration = (
        Decimal(str(body.thresholds.standard)),
        Decimal(str(body.thresholds.demonstration)),
    )
    if not Decimal(0) < standard:
        check.fail("thresholds.standard", "must be greater than 0")
    if not standard < demonstration:
        check.fail("thresholds.demonstration", "must be greater than thresholds.standard")
    if demonstration > 1:
        check.fail("thresholds.demonstration", "must be at most 1")
    if len(body.indicators) != INDICATOR_COUNT:
        check.fail("indicators", f"Table C.1 has {INDICATOR_COUNT} indicators, not {len(body.indicators)}")
    seen: dict[str, int] = {}
    total = Decimal(0)
    for n, indicator in enumerate(body.indicators):
        path = f"indicators.{n}"
        if indicator.code in seen:
            check.fail(f"{path}.code", f"{indicator.code} is also indicators.{seen[indicator.code]}")
        seen.setdefault(indicator.code, n)
        total += check.indicator(indicator, path)
    if total != TOTAL_POINTS:
        check.fail("indicators", f"max_points add up to {total.normalize():f}, not 100")
    if check.errors:
        raise RubricInvalid(check.errors)


# ---- creating --------------------------------------------------------------------------------------


async def create_rubric(
    session: AsyncSession, request: Request, principal: Principal, body: RubricDocument
) -> Rubric:
    existing = await find_rubric(session, body.version)
    if existing is not None:
        raise RubricReadOnly(body.version) if existing.read_only else RubricExists(body.version)
    if body.based_on is not None and await find_rubric(session, body.based_on) is None:
        raise RubricInvalid([{"field": "based_on", "message": f"no rubric version {body.based_on!r}"}])
    check_document(body)
    # Two districts posting the same new version at once: the second finds the row taken.
    inserted = await session.scalar(
        insert(Rubric)
        .values(
            version=body.version,
            title=body.title,
            document=body.to_document(),
            read_only=False,
            based_on=body.based_on,
            created_by=principal.sub,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[Rubric.version])
        .returning(Rubric.version)
    )
    if inserted is None:
        raise RubricExists(body.version)
    rubric = await get_rubric(session, body.version)
    await audit(
        session,
        request,
        principal,
        "rubric.create",
        "rubric",
        rubric.version,
        after={"version": rubric.version, "based_on": rubric.based_on, "title": rubric.title},
    )
    return rubric
