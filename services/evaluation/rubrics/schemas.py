"""Rubric documents (SPEC §6: "rubrics are versioned data").

A rubric version is one self-contained JSON document of the same shape as Table C.1
(:data:`services.evaluation.rubric.table_c1.TABLE_C1`): thresholds, survey rules and 21 indicators,
each with its rule as a tree of engine terms. ``POST /rubrics`` takes such a document whole — to
correct one indicator, read a version, change it and post it under a new ``version`` with
``based_on`` naming the version it came from.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.enums import IndicatorSource
from services.common.stored import StoredRead

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Thresholds(_Input):
    """Annex A: ratio ≥ `demonstration` → 示范型, ≥ `standard` → 标准型, else 基础型."""

    demonstration: float = Field(examples=[0.9])
    standard: float = Field(examples=[0.8])


class SurveyRules(_Input):
    """C18 and 7.1.1: respondents per channel, which rating counts as satisfied, the finding threshold."""

    min_per_channel: int = Field(30, ge=1, le=10_000)
    satisfied_at_least: int = Field(4, ge=1, le=5, description="Ratings at or above this are satisfied")
    finding_below: float = Field(0.9, ge=0, le=1, description="A rate below this raises a finding")


class ManualInput(_Input):
    """A value the evaluator enters: `bool`, a `level` out of `levels`, or a `count` from 0 to `max`."""

    name: str = Field(pattern=r"^manual\.C\d{2}\.[a-z][a-z0-9_]*$", examples=["manual.C01.well_located"])
    type: Literal["bool", "level", "count"]
    levels: list[str] | None = Field(None, min_length=1, max_length=20)
    max: int | None = Field(None, ge=0, le=100_000)
    zh: str = Field("", max_length=200)


class IndicatorDocument(_Input):
    code: str = Field(pattern=r"^C\d{2}$", examples=["C08"])
    seq: int = Field(ge=1, le=100, description="Row group of Table C.1 (序号)")
    dimension: str = Field(min_length=1, max_length=50)
    sub_dimension: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=100)
    max_points: float = Field(gt=0, le=100)
    source: IndicatorSource
    rule_text: str = Field(min_length=1, max_length=2000, description="The standard's wording (评分规则)")
    rule: dict[str, Any] = Field(description="A term of the rubric engine (see `type`)")
    manual_inputs: list[ManualInput] = Field(default_factory=list, max_length=20)


class RubricDocument(_Input):
    """A whole rubric version. `read_only` may be sent (a copy of a read version) but is ignored:
    only the standard's own `2023-draft` is read-only, and no version ever changes once created."""

    version: str = Field(pattern=VERSION_PATTERN, examples=["2024-c08-fix"])
    title: str = Field(min_length=1, max_length=200)
    based_on: str | None = Field(None, max_length=32, description="The version this one corrects")
    read_only: bool | None = None
    thresholds: Thresholds
    survey: SurveyRules = Field(default_factory=SurveyRules)
    indicators: list[IndicatorDocument] = Field(min_length=1, max_length=100)

    def to_document(self) -> dict[str, Any]:
        """The stored form: Table C.1's shape, numbers as JSON numbers."""
        document = self.model_dump(mode="json", exclude={"based_on", "read_only"}, exclude_none=False)
        document["read_only"] = False
        for indicator in document["indicators"]:
            indicator["manual_inputs"] = [
                {k: v for k, v in m.items() if v is not None} for m in indicator["manual_inputs"]
            ]
        return document


class RubricSummary(StoredRead):
    version: str
    title: str
    read_only: bool
    based_on: str | None
    indicator_count: int
    total_max_points: Decimal
    thresholds: dict[str, Any]
    created_by: str
    created_at: dt.datetime


class RubricRead(RubricSummary):
    document: dict[str, Any] = Field(
        description="The whole rubric: thresholds, survey rules and the indicators with their rules"
    )
