"""Every table of the activities schema (imported by migrations for autogenerate)."""

from services.activities.activities.models import Activity
from services.activities.casework.models import Case, Group
from services.activities.database import metadata
from services.activities.deliberations.models import Deliberation
from services.activities.funds.models import FundAccount, FundBudgetLine, FundEntry
from services.activities.needs.models import Need, Referral
from services.activities.plans.models import ActivityPlan
from services.activities.recognition.models import BrandProject, Recognition
from services.activities.safety.models import SafetyPatrol, SafetyTraining
from services.activities.visits.models import Visit
from services.activities.volunteers.models import Volunteer, VolunteerHours

__all__ = [
    "Activity", "ActivityPlan", "BrandProject", "Case", "Deliberation", "FundAccount", "FundBudgetLine",
    "FundEntry", "Group", "Need", "Recognition", "Referral", "SafetyPatrol", "SafetyTraining", "Visit",
    "Volunteer", "VolunteerHours", "metadata",
]  # fmt: skip
