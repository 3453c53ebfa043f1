"""The role × route policy: for every operation of the merged OpenAPI document, what each kind of
caller gets (SPEC §1, §3, §7). One table, read by tests/test_route_matrix.py, which calls every
operation as every role and compares; an operation missing here, or an entry for an operation that
no longer exists, fails the suite.

Outcomes (for the dummy input the matrix sends: random ids, `{}` bodies):

* ``ALLOWED``: the request reaches the handler: a 2xx, or a domain 4xx for the dummy input
  (404 for a random id, 409, 412/428, 422) — never 401, never 403, never 5xx;
* ``FORBIDDEN``: 403, the role may never use this operation, whatever the object (SPEC §1);
* ``UNAUTHENTICATED``: 401, no token.

Object scope (a role that may use an operation but not on this object gets 404, like a random id)
is tests/security/test_object_scope.py; field rights (a role that may PATCH but not every field)
tests/security/test_properties.py.

Where SPEC §1 leaves a read open, the entry follows the README's "What the API offers" and the
comment says why.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Outcome(StrEnum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"


USER_ROLES: Final = ("district", "street", "operator", "evaluator", "integration")
ROLES: Final = (*USER_ROLES, "anonymous")

Expect = MappingProxyType[str, Outcome]


def only(*roles: str) -> Expect:
    """Allowed to ``roles``; every other signed-in caller 403; no token 401."""
    unknown = set(roles) - set(ROLES)
    assert not unknown, unknown
    return MappingProxyType(
        {
            role: Outcome.ALLOWED
            if role in roles
            else (Outcome.UNAUTHENTICATED if role == "anonymous" else Outcome.FORBIDDEN)
            for role in ROLES
        }
    )


PUBLIC = only(*ROLES)  # no token needed (login, refresh, logout, JWKS)
SIGNED_IN = only(*USER_ROLES)  # any valid token; reads are narrowed to the caller's scope
DISTRICT = only("district")
# Site-bound writes of the activities logs: the site's operator, and the district correcting
# (README "Activities"); streets, evaluators and data platforms only read (SPEC §1).
LOG_WRITERS = only("district", "operator")
# Registry data of a site: the district, the site's street, the operator for its own fields.
SITE_EDITORS = only("district", "street", "operator")
# Links of a site to organisations (introduced/incubated orgs): district and the site's street.
SITE_LINKERS = only("district", "street")
# Staff and trainings (5.2): district and the operator of the site.
STAFF_WRITERS = only("district", "operator")
# Construction filings (6.2.2): streets and operators file; evaluators and platforms have no part.
FILERS = only("district", "street", "operator")
FILING_READERS = only("district", "street", "operator", "integration")
# Contracts are between the district and an operator; evaluators score from the registry's facts
# fetched with a service token and have no use for the commercial terms.
CONTRACT_READERS = only("district", "street", "operator", "integration")
# Improvement plans (7.2.2) are the operator's answer to published findings, reviewed by streets
# and the district; the evaluator's part ends with its scorecard.
PLAN_READERS = only("district", "street", "operator", "integration")
PLAN_WRITERS = only("operator")
PLAN_VERIFIERS = only("district", "street")
# Scorecards: the assigned evaluator scores (SPEC §1); the district may also (re)compute.
SCORERS = only("evaluator")
COMPUTERS = only("district", "evaluator")
# Overviews are the district's and the streets' (SPEC §6 "Reports"); platforms read everything.
OVERVIEW_READERS = only("district", "street", "integration")
# Who is assigned to score which site: the district, and platforms (read-only, everything).
ASSIGNMENT_READERS = only("district", "integration")
# Filing conflicts are coordinated by the district with the streets (统筹安排).
CONFLICT_READERS = only("district", "street", "integration")
# The rubric metrics (every count with record ids) feed evaluation: the district, service tokens and
# data platforms (SPEC §1: integration reads everything; the metrics hold only counts and ids).
METRICS_READERS = only("district", "integration")

A = "/api/v1"
R = f"{A}/registry"
ACT = f"{A}/activities"
E = f"{A}/evaluation"

# Site-bound log resources of the activities service with plain CRUD (SPEC §5).
_LOGS = {
    "deliberations": "deliberation_id",
    "safety-trainings": "training_id",
    "safety-patrols": "patrol_id",
    "fund-accounts": "account_id",
    "brand-projects": "project_id",
    "recognitions": "recognition_id",
    "activities": "activity_id",
    "activity-plans": "plan_id",
    "cases": "case_id",
    "groups": "group_id",
    "visits": "visit_id",
    "needs": "need_id",
    "referrals": "referral_id",
    "volunteers": "volunteer_id",
    "volunteer-hours": "hours_id",
}


def _log_routes() -> dict[str, Expect]:
    routes: dict[str, Expect] = {}
    for resource, param in _LOGS.items():
        base = f"{ACT}/{resource}"
        routes[f"GET {base}"] = SIGNED_IN
        routes[f"POST {base}"] = LOG_WRITERS
        routes[f"GET {base}/{{{param}}}"] = SIGNED_IN
        routes[f"PATCH {base}/{{{param}}}"] = LOG_WRITERS
        routes[f"DELETE {base}/{{{param}}}"] = LOG_WRITERS
    return routes


# Full exports (`…/export/{resource}.ndjson`): the readers of the resource's list, no wider.
_EXPORTS: dict[str, dict[str, Expect]] = {
    R: {
        "sites": SIGNED_IN,
        "organizations": SIGNED_IN,
        "contracts": CONTRACT_READERS,
        "staff": SIGNED_IN,
        "filings": FILING_READERS,
    },
    ACT: {resource.replace("-", "_"): SIGNED_IN for resource in _LOGS},
    E: {
        "rounds": SIGNED_IN,
        "scorecards": SIGNED_IN,
        "findings": SIGNED_IN,
        "improvement_plans": PLAN_READERS,
    },
}


def _export_routes() -> dict[str, Expect]:
    return {
        f"GET {prefix}/export/{resource}.ndjson": expect
        for prefix, resources in _EXPORTS.items()
        for resource, expect in resources.items()
    }


POLICY: dict[str, Expect] = {
    # ---- gateway: identity and tokens (SPEC §7) ------------------------------------------------------
    f"POST {A}/auth/token": PUBLIC,
    f"POST {A}/auth/refresh": PUBLIC,
    f"POST {A}/auth/logout": PUBLIC,
    f"GET {A}/auth/me": SIGNED_IN,
    "GET /.well-known/jwks.json": PUBLIC,
    f"GET {A}/users": DISTRICT,
    f"POST {A}/users": DISTRICT,
    f"GET {A}/users/{{user_id}}": DISTRICT,
    f"PATCH {A}/users/{{user_id}}": DISTRICT,
    f"GET {A}/clients": DISTRICT,
    f"POST {A}/clients": DISTRICT,
    # ---- registry (SPEC §4): everyone reads within scope -----------------------------------------
    f"GET {R}/streets": SIGNED_IN,
    f"GET {R}/communities": SIGNED_IN,
    f"GET {R}/enums": SIGNED_IN,
    f"GET {R}/sites": SIGNED_IN,
    # Streets register the sites of their street; the district any (SPEC §1 "its street's sites").
    f"POST {R}/sites": only("district", "street"),
    f"GET {R}/sites/export": SIGNED_IN,
    f"GET {R}/sites/{{site_id}}": SIGNED_IN,
    # Operators only opening hours, function areas and safety (403 field_not_writable otherwise).
    f"PATCH {R}/sites/{{site_id}}": SITE_EDITORS,
    f"GET {R}/sites/{{site_id}}/function-areas": SIGNED_IN,
    f"PUT {R}/sites/{{site_id}}/function-areas": SITE_EDITORS,
    f"GET {R}/sites/{{site_id}}/safety": SIGNED_IN,
    f"PUT {R}/sites/{{site_id}}/safety": SITE_EDITORS,
    f"GET {R}/sites/{{site_id}}/organizations": SIGNED_IN,
    f"POST {R}/sites/{{site_id}}/organizations": SITE_LINKERS,
    f"DELETE {R}/sites/{{site_id}}/organizations/{{link_id}}": SITE_LINKERS,
    # Organisations: everyone reads (operators/evaluators only their own, else 404); district writes.
    f"GET {R}/organizations": SIGNED_IN,
    f"POST {R}/organizations": DISTRICT,
    f"GET {R}/organizations/{{organization_id}}": SIGNED_IN,
    f"PATCH {R}/organizations/{{organization_id}}": DISTRICT,
    f"GET {R}/contracts": CONTRACT_READERS,
    f"POST {R}/contracts": DISTRICT,
    f"GET {R}/contracts/{{contract_id}}": CONTRACT_READERS,
    f"PATCH {R}/contracts/{{contract_id}}": DISTRICT,
    f"GET {R}/staff": SIGNED_IN,
    f"POST {R}/staff": STAFF_WRITERS,
    f"GET {R}/staff/{{staff_id}}": SIGNED_IN,
    f"PATCH {R}/staff/{{staff_id}}": STAFF_WRITERS,
    f"GET {R}/staff/{{staff_id}}/trainings": SIGNED_IN,
    f"POST {R}/staff/{{staff_id}}/trainings": STAFF_WRITERS,
    f"GET {R}/filing-windows/{{year}}": SIGNED_IN,
    f"PUT {R}/filing-windows/{{year}}": DISTRICT,
    f"GET {R}/filings": FILING_READERS,
    f"POST {R}/filings": FILERS,
    f"GET {R}/filings/conflicts": CONFLICT_READERS,
    f"GET {R}/filings/{{filing_id}}": FILING_READERS,
    f"PATCH {R}/filings/{{filing_id}}": FILERS,
    f"GET {R}/filings/{{filing_id}}/history": FILING_READERS,
    f"POST {R}/filings/{{filing_id}}/submit": FILERS,
    f"POST {R}/filings/{{filing_id}}/return": DISTRICT,
    f"POST {R}/filings/{{filing_id}}/approve": DISTRICT,
    f"POST {R}/filings/{{filing_id}}/reject": DISTRICT,
    f"POST {R}/build-lists/{{year}}/publish": DISTRICT,
    # Published build lists are public within the system: "all roles may read them" (SPEC §4).
    f"GET {R}/build-lists/{{year}}": SIGNED_IN,
    f"GET {R}/build-lists/{{year}}/versions/{{version}}": SIGNED_IN,
    # ---- activities (SPEC §5) --------------------------------------------------------------------
    **_log_routes(),
    f"POST {ACT}/safety-patrols/{{patrol_id}}/hazards/{{index}}/rectify": LOG_WRITERS,
    f"GET {ACT}/fund-accounts/{{account_id}}/entries": SIGNED_IN,
    f"POST {ACT}/fund-accounts/{{account_id}}/entries": LOG_WRITERS,
    f"GET {ACT}/fund-accounts/{{account_id}}/entries/{{entry_id}}": SIGNED_IN,
    f"PATCH {ACT}/fund-accounts/{{account_id}}/entries/{{entry_id}}": LOG_WRITERS,
    f"GET {ACT}/fund-accounts/{{account_id}}/report": SIGNED_IN,
    f"POST {ACT}/activity-plans/{{plan_id}}/publish": LOG_WRITERS,
    f"POST {ACT}/referrals/{{referral_id}}/accept": LOG_WRITERS,
    f"POST {ACT}/referrals/{{referral_id}}/close": LOG_WRITERS,
    f"POST {ACT}/batch": LOG_WRITERS,
    f"POST {ACT}/activities/batch": LOG_WRITERS,
    # The statistics table 6.1.2 is for everyone within scope (street totals for the street).
    f"GET {ACT}/stats": SIGNED_IN,
    f"GET {ACT}/metrics": METRICS_READERS,
    # ---- evaluation (SPEC §6) --------------------------------------------------------------------
    f"GET {E}/rubrics": SIGNED_IN,
    f"POST {E}/rubrics": DISTRICT,
    f"GET {E}/rubrics/{{version}}": SIGNED_IN,
    f"GET {E}/rounds": SIGNED_IN,
    f"POST {E}/rounds": DISTRICT,
    f"GET {E}/rounds/{{round_id}}": SIGNED_IN,
    f"POST {E}/rounds/{{round_id}}/close": DISTRICT,
    f"POST {E}/rounds/{{round_id}}/publish": DISTRICT,
    # Computes every scorecard of the round in the caller's scope (an evaluator: its assignments).
    f"POST {E}/rounds/{{round_id}}/compute": COMPUTERS,
    f"GET {E}/rounds/{{round_id}}/assignments": ASSIGNMENT_READERS,
    f"POST {E}/rounds/{{round_id}}/assignments": DISTRICT,
    # Scorecards are read within scope (operators and streets only after publication).
    f"GET {E}/scorecards": SIGNED_IN,
    f"GET {E}/scorecards/{{scorecard_id}}": SIGNED_IN,
    f"GET {E}/scorecards/{{scorecard_id}}/export.xlsx": SIGNED_IN,
    f"POST {E}/scorecards/{{scorecard_id}}/compute": COMPUTERS,
    f"PUT {E}/scorecards/{{scorecard_id}}/items/{{code}}": SCORERS,
    f"POST {E}/scorecards/{{scorecard_id}}/findings": SCORERS,
    f"POST {E}/scorecards/{{scorecard_id}}/survey-responses": SCORERS,
    f"POST {E}/scorecards/{{scorecard_id}}/submit": SCORERS,
    # Approval of evaluation results is the district's (SPEC §1).
    f"POST {E}/scorecards/{{scorecard_id}}/return": DISTRICT,
    f"POST {E}/scorecards/{{scorecard_id}}/accept": DISTRICT,
    f"POST {E}/scorecards/{{scorecard_id}}/reopen": DISTRICT,
    f"GET {E}/improvement-plans": PLAN_READERS,
    f"POST {E}/improvement-plans": PLAN_WRITERS,
    f"GET {E}/improvement-plans/{{plan_id}}": PLAN_READERS,
    f"POST {E}/improvement-plans/{{plan_id}}/progress": PLAN_WRITERS,
    f"POST {E}/improvement-plans/{{plan_id}}/complete": PLAN_WRITERS,
    f"POST {E}/improvement-plans/{{plan_id}}/verify": PLAN_VERIFIERS,
    f"GET {E}/sites/{{site_id}}/improvement-plans": PLAN_READERS,
    # Self-assessment of a site: everyone within scope (evaluators: their assigned sites).
    f"GET {E}/sites/{{site_id}}/projection": SIGNED_IN,
    f"GET {E}/reports/overview": OVERVIEW_READERS,
    # ---- webhooks (gateway): a data platform's subscriptions are managed by the district ----------
    f"GET {A}/webhooks": DISTRICT,
    f"POST {A}/webhooks": DISTRICT,
    f"GET {A}/webhooks/{{webhook_id}}": DISTRICT,
    f"PATCH {A}/webhooks/{{webhook_id}}": DISTRICT,
    f"DELETE {A}/webhooks/{{webhook_id}}": DISTRICT,
    f"POST {A}/webhooks/{{webhook_id}}/rotate-secret": DISTRICT,
    f"GET {A}/webhooks/{{webhook_id}}/deliveries": DISTRICT,
    f"POST {A}/webhooks/{{webhook_id}}/deliveries/{{delivery_id}}/retry": DISTRICT,
    # ---- change feeds and exports: everyone, scoped to what the caller may list ---------------------
    **{f"GET {A}/{service}/changes": SIGNED_IN for service in ("registry", "activities", "evaluation")},
    **_export_routes(),
}


def key(method: str, path: str) -> str:
    return f"{method.upper()} {path}"
