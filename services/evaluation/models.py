"""Every table of the evaluation schema (imported by migrations for autogenerate)."""

from services.evaluation.database import metadata
from services.evaluation.improvement.models import ImprovementPlan
from services.evaluation.rounds.models import Assignment, Round
from services.evaluation.rubrics.models import Rubric
from services.evaluation.scorecards.models import Finding, Scorecard, ScorecardItem, SurveyResponse

__all__ = [
    "Assignment", "Finding", "ImprovementPlan", "Round", "Rubric", "Scorecard", "ScorecardItem",
    "SurveyResponse", "metadata",
]  # fmt: skip
