"""Every table of the registry schema (imported by migrations for autogenerate)."""

from services.registry.contracts.models import Contract
from services.registry.database import metadata
from services.registry.filings.models import BuildList, Filing, FilingTransition, FilingWindow
from services.registry.organizations.models import Organization
from services.registry.reference.models import Community, Street
from services.registry.sites.models import Site, SiteOrganization
from services.registry.staff.models import StaffMember, StaffTraining

__all__ = [
    "BuildList",
    "Community",
    "Contract",
    "Filing",
    "FilingTransition",
    "FilingWindow",
    "Organization",
    "Site",
    "SiteOrganization",
    "StaffMember",
    "StaffTraining",
    "Street",
    "metadata",
]
