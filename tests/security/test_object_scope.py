"""Object scope (SPEC §1): an object outside the caller's scope is indistinguishable from one that
does not exist.

Generated from the policy table (itself checked against the OpenAPI document): every operation of
a domain service with an object id in its path is called on the objects of site A
(tests/security/world.py) by callers who must not see them — a street-B user, an operator of
another organisation, an evaluator assigned elsewhere and one with no assignment. Each gets 404
(403 where the role may never use the operation), and the answer is byte-identical to the answer
for random ids except for the request id every problem carries (`comparable`). The outsiders
send the object's real ETag, so knowing it does not help. As a control, every insider the policy
admits is *not* refused with 404 on the same request (PATCH/PUT/DELETE with a stale ETag → 412,
so nothing is changed).

Collections never show or accept what is out of scope: every list, filter, statistic, export and
change feed, read by each outsider, holds none of site A's ids, a filter naming an object of
site A answers exactly like one naming a random id, and creates, batch ingest and references
(need, volunteer, finding, site) pointing into site A are refused like random ids.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.common.timeutil import today_shanghai
from tests.conftest import RunningStack, bearer
from tests.evaluation.test_rounds import EVAL
from tests.security.openapi import Operation, comparable, header_names
from tests.security.policy import POLICY, USER_ROLES, Outcome
from tests.security.world import (
    ACT,
    FINDING,
    OUTSIDERS,
    REG,
    World,
    days_ago,
    fund_entry_body,
    log_bodies,
    role_of,
    staff_body,
)

# ---- which object each path parameter names ---------------------------------------------------------

PARAM_OBJECTS = {
    "site_id": "site",
    "link_id": "link",
    "organization_id": "organization",
    "contract_id": "contract",
    "staff_id": "staff",
    "filing_id": "filing",
    "deliberation_id": "deliberation",
    "training_id": "safety_training",
    "patrol_id": "safety_patrol",
    "account_id": "fund_account",
    "entry_id": "fund_entry",
    "project_id": "brand_project",
    "recognition_id": "recognition",
    "activity_id": "activity",
    "case_id": "case",
    "group_id": "group",
    "visit_id": "visit",
    "need_id": "need",
    "referral_id": "referral",
    "volunteer_id": "volunteer",
    "hours_id": "volunteer_hours",
    "round_id": "round",
}
# Parameters whose object depends on the path, or that name more than one object to try.
PATH_OBJECTS = {
    ("/api/v1/activities/activity-plans/", "plan_id"): ["activity_plan"],
    ("/api/v1/evaluation/improvement-plans/", "plan_id"): ["improvement_plan"],
    # A published scorecard (streets and operators of the site see it) and a draft one (they don't).
    ("/api/v1/evaluation/scorecards/", "scorecard_id"): ["scorecard", "scorecard_draft"],
}
# Insiders by role who still may not see the object of site A.
HIDDEN_FROM_INSIDERS = {
    "organization": {"evaluator"},  # evaluators see their own organisation only
    "filing": {"operator"},  # the street filed it; operators see the filings of their organisation
    "scorecard_draft": {"street", "operator"},  # only once the round is published
}
# Outsiders who may see it all the same: every street reads every organisation (it links them
# to its sites).
VISIBLE_TO_OUTSIDERS = {"organization": {"street_b"}}
# Gateway-owned routes with ids are the district's alone (users, API clients, webhooks): no scope.
GATEWAY_ONLY = ("/api/v1/users/", "/api/v1/webhooks/")


def _objects(path: str, param: str) -> list[str] | None:
    for (prefix, name), keys in PATH_OBJECTS.items():
        if name == param and path.startswith(prefix):
            return keys
    return [PARAM_OBJECTS[param]] if param in PARAM_OBJECTS else None


def _variants(op: Operation) -> list[dict[str, str]]:
    """Each assignment {path parameter: world key} to try (one per object of a multi-object param)."""
    variants: list[dict[str, str]] = [{}]
    for param in op.params:
        keys = _objects(op.path, param)
        if keys is None:
            continue
        variants = [{**v, param: key} for v in variants for key in keys]
    return [v for v in variants if v]


# ---- bodies and query strings valid enough to reach the scope check ----------------------------------

Body = Callable[[World], Any]
MANUAL = {"manual.C01.well_located": True}
BODIES: dict[str, Body] = {
    f"PATCH {REG}/sites/{{site_id}}": lambda w: {"opening_hours": None},
    f"PUT {REG}/sites/{{site_id}}/function-areas": lambda w: {"items": []},
    f"PUT {REG}/sites/{{site_id}}/safety": lambda w: {"items": []},
    f"POST {REG}/sites/{{site_id}}/organizations": lambda w: {
        "organization_id": w.ids["organization"],
        "relation": "introduced",
        "since": "2026-01-01",
    },
    f"PATCH {REG}/organizations/{{organization_id}}": lambda w: {"name": "改名测试"},
    f"PATCH {REG}/contracts/{{contract_id}}": lambda w: {"deliverables": "改"},
    f"PATCH {REG}/staff/{{staff_id}}": lambda w: {"position": "督导"},
    f"POST {REG}/staff/{{staff_id}}/trainings": lambda w: {
        "date": days_ago(3),
        "topic": "督导",
        "hours": "2",
    },
    f"PATCH {REG}/filings/{{filing_id}}": lambda w: {"title": "改名测试"},
    **{
        f"POST {REG}/filings/{{filing_id}}/{action}": (lambda w: {"comment": "安全测试"})
        for action in ("submit", "return", "approve", "reject")
    },
    f"PATCH {ACT}/activities/{{activity_id}}": lambda w: {"title": "改名"},
    f"PATCH {ACT}/activity-plans/{{plan_id}}": lambda w: {"items": []},
    f"PATCH {ACT}/cases/{{case_id}}": lambda w: {"summary": "改"},
    f"PATCH {ACT}/groups/{{group_id}}": lambda w: {"summary": "改"},
    f"PATCH {ACT}/deliberations/{{deliberation_id}}": lambda w: {"topic": "改"},
    f"PATCH {ACT}/visits/{{visit_id}}": lambda w: {"purpose": "改"},
    f"PATCH {ACT}/needs/{{need_id}}": lambda w: {"description": "改"},
    f"PATCH {ACT}/referrals/{{referral_id}}": lambda w: {"to_name": "改"},
    f"POST {ACT}/referrals/{{referral_id}}/close": lambda w: {"outcome": "已解决"},
    f"PATCH {ACT}/volunteers/{{volunteer_id}}": lambda w: {"name": "欧阳娜"},
    f"PATCH {ACT}/volunteer-hours/{{hours_id}}": lambda w: {"hours": "2"},
    f"PATCH {ACT}/safety-trainings/{{training_id}}": lambda w: {"topic": "改"},
    f"PATCH {ACT}/safety-patrols/{{patrol_id}}": lambda w: {"inspector": "改"},
    f"POST {ACT}/safety-patrols/{{patrol_id}}/hazards/{{index}}/rectify": lambda w: {
        "rectified_on": days_ago(1)
    },
    f"PATCH {ACT}/fund-accounts/{{account_id}}": lambda w: {"project": f"改-{uuid.uuid4().hex[:6]}"},
    f"POST {ACT}/fund-accounts/{{account_id}}/entries": lambda w: fund_entry_body(),
    f"PATCH {ACT}/fund-accounts/{{account_id}}/entries/{{entry_id}}": lambda w: {"purpose": "改"},
    f"PATCH {ACT}/brand-projects/{{project_id}}": lambda w: {"title": "改"},
    f"PATCH {ACT}/recognitions/{{recognition_id}}": lambda w: {"title": "改"},
    # An assignment the round refuses (site B is not in it), so the district's control call
    # changes nobody's scope.
    f"POST {EVAL}/rounds/{{round_id}}/assignments": lambda w: {
        "evaluator_id": w.users["evaluator_none"]["id"],
        "site_ids": [w.site_b["id"]],
    },
    f"PUT {EVAL}/scorecards/{{scorecard_id}}/items/{{code}}": lambda w: {"inputs": MANUAL},
    f"POST {EVAL}/scorecards/{{scorecard_id}}/findings": lambda w: FINDING,
    f"POST {EVAL}/scorecards/{{scorecard_id}}/survey-responses": lambda w: {
        "channel": "phone",
        "ratings": {"space": 5, "functions": 4},
        "respondent_phone": "13900001234",
    },
    f"POST {EVAL}/scorecards/{{scorecard_id}}/return": lambda w: {"comment": "补充材料"},
    f"POST {EVAL}/scorecards/{{scorecard_id}}/reopen": lambda w: {"reason": "复核"},
    f"POST {EVAL}/improvement-plans/{{plan_id}}/progress": lambda w: {"text": "已开展2场"},
}
# Query parameters an operation needs, worked out when the test runs (Shanghai's year).
QUERIES: dict[str, Callable[[], dict[str, str]]] = {
    f"GET {EVAL}/sites/{{site_id}}/projection": lambda: {"year": str(today_shanghai().year)},
}

SCOPED_OPS = sorted(
    key
    for key in POLICY
    if not key.split(" ", 1)[1].startswith(GATEWAY_ONLY)
    and any(_objects(key.split(" ", 1)[1], p) for p in Operation("", key.split(" ", 1)[1], {}).params)
)


def _operation(key: str) -> Operation:
    method, path = key.split(" ", 1)
    return Operation(method, path, {})


def _request(
    gateway: httpx.Client, world: World, op: Operation, who: str, url: str, etag: str | None
) -> httpx.Response:
    headers = world.bearer(who)
    if op.method in ("PATCH", "PUT", "DELETE"):
        headers["If-Match"] = etag or '"0"'
    body = BODIES[op.key](world) if op.key in BODIES else None
    return gateway.request(
        op.method, url, json=body, params=QUERIES[op.key]() if op.key in QUERIES else None, headers=headers
    )


def test_every_route_with_an_object_id_is_covered(document: dict[str, Any]) -> None:
    """A new route with an id parameter nobody maps, or a write without a body here, fails."""
    problems = []
    for path, item in document["paths"].items():
        if path.startswith(GATEWAY_ONLY) or not path.startswith("/api/v1/"):
            continue
        for method, spec in item.items():
            op = Operation(method.upper(), path, spec)
            unmapped = [
                p for p in op.params if (p.endswith("_id") or p == "id") and _objects(path, p) is None
            ]
            if unmapped:
                problems.append(f"{op.key}: no world object for {unmapped}")
            if _variants(op) and "requestBody" in spec and op.key not in BODIES:
                problems.append(f"{op.key}: no body in BODIES")
    assert problems == []


@pytest.mark.parametrize("key", SCOPED_OPS)
def test_out_of_scope_objects_answer_like_missing_ones(gateway: httpx.Client, world: World, key: str) -> None:
    op = _operation(key)
    for variant in _variants(op):
        real = op.url(**{p: world.ids[k] for p, k in variant.items()})
        random = op.url(**{p: str(uuid.uuid4()) for p in variant})
        etag = None
        if op.method in ("PATCH", "PUT", "DELETE"):
            read = gateway.get(real, headers=world.bearer("district"))
            etag = read.headers.get("etag") if read.status_code == 200 else None
        hidden = set().union(*(HIDDEN_FROM_INSIDERS.get(k, set()) for k in variant.values()))
        shown = set().union(*(VISIBLE_TO_OUTSIDERS.get(k, set()) for k in variant.values()))
        callers = [who for who in OUTSIDERS if who not in shown] + sorted(hidden)
        for who in callers:
            role = role_of(who)
            expected = 404 if POLICY[key][role] is Outcome.ALLOWED else 403
            got = _request(gateway, world, op, who, real, etag)
            missing = _request(gateway, world, op, who, random, etag)
            where = f"{key} {variant} as {who}"
            assert got.status_code == expected, f"{where}: {got.status_code} {got.text[:200]}"
            assert comparable(got) == comparable(missing), where
            assert header_names(got) == header_names(missing), where
        # The control: every insider the policy admits reaches the object (stale ETag: no change).
        for role in USER_ROLES:
            if POLICY[key][role] is not Outcome.ALLOWED or role in hidden:
                continue
            got = _request(gateway, world, op, role, real, None)
            assert got.status_code not in (401, 403, 404) and got.status_code < 500, (
                f"{key} {variant} as insider {role}: {got.status_code} {got.text[:200]}"
            )
            if op.method == "DELETE" and got.is_success:
                break  # no ETag to be stale (a site's organisation link): the object is gone


# ---- collections ----------------------------------------------------------------------------------

# Query parameters that name an object of site A (filters), and the value for required ones.
FILTERS = {
    "site_id": "site",
    "need_id": "need",
    "volunteer_id": "volunteer",
    "activity_id": "activity",
    "round_id": "round",
    "organization_id": "organization",
}


def required_values() -> dict[str, str]:
    """Values for required query parameters, from Shanghai's today when the test runs."""
    today = today_shanghai()
    return {
        "year": str(today.year),
        "month": today.strftime("%Y-%m"),
        "from": f"{today.year}-01-01",
        "to": today.isoformat(),
    }


# Ids outsiders may legitimately see: the open quarterly round holds site B too; every street
# reads every organisation (it links them to its sites).
SHARED = {"open_round"}
VISIBLE_TO_ROLE = {"street": {"organization"}}


def _collections(ops: list[Operation]) -> list[Operation]:
    return [
        op
        for op in ops
        if op.method == "GET" and op.service is not None and not op.params and op.key in POLICY
    ]


def _hidden_ids(world: World, who: str) -> dict[str, str]:
    keep = SHARED | VISIBLE_TO_ROLE.get(role_of(who), set())
    return {k: v for k, v in world.ids.items() if k not in keep}


def _read_all(gateway: httpx.Client, op: Operation, headers: dict[str, str], params: dict[str, str]) -> str:
    """The whole answer; a change feed is followed to its end."""
    if not op.path.endswith("/changes"):
        return gateway.get(op.path, params=params, headers=headers).text
    texts, after = [], None
    for _ in range(1000):
        query = {"limit": "1000", **({"after": after} if after else {})}
        response = gateway.get(op.path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        texts.append(response.text)
        if not page["items"] or page["next_cursor"] == after:
            break
        after = page["next_cursor"]
    return "\n".join(texts)


@pytest.mark.parametrize("who", OUTSIDERS)
def test_collections_never_show_objects_out_of_scope(
    gateway: httpx.Client, world: World, ops: list[Operation], who: str
) -> None:
    role = role_of(who)
    leaks = []
    for op in _collections(ops):
        if POLICY[op.key][role] is not Outcome.ALLOWED:
            continue
        declared = {p["name"]: p for p in op.spec.get("parameters", []) if p["in"] == "query"}
        required = required_values()
        base = {name: required[name] for name, p in declared.items() if p.get("required")}
        if "limit" in declared:
            base["limit"] = "200"
        text = _read_all(gateway, op, world.bearer(who), base)
        leaks += [f"{op.key} as {who}: {k}" for k, v in _hidden_ids(world, who).items() if v in text]
        for name, world_key in FILTERS.items():
            if name not in declared or world_key in VISIBLE_TO_ROLE.get(role, set()):
                continue
            filtered = gateway.get(
                op.path, params={**base, name: world.ids[world_key]}, headers=world.bearer(who)
            )
            random = gateway.get(op.path, params={**base, name: str(uuid.uuid4())}, headers=world.bearer(who))
            if comparable(filtered) != comparable(random):
                leaks.append(
                    f"{op.key}?{name}=<site A's> as {who} differs from a random id: {filtered.text[:200]}"
                )
    assert leaks == []


def test_collections_do_show_the_objects_to_insiders(gateway: httpx.Client, world: World) -> None:
    """The control for the test above: the same reads by site A's operator find site A's records."""
    headers = world.bearer("operator")
    for path, key in (("activities", "activity"), ("cases", "case"), ("volunteer-hours", "volunteer_hours")):
        listed = gateway.get(f"{ACT}/{path}", params={"site_id": world.site_id}, headers=headers)
        assert world.ids[key] in listed.text
        exported = gateway.get(f"{ACT}/export/{path.replace('-', '_')}.ndjson", headers=headers)
        assert world.ids[key] in exported.text
    stats = gateway.get(
        f"{ACT}/stats", params={"site_id": world.site_id, "month": days_ago(3)[:7]}, headers=headers
    )
    assert stats.status_code == 200, stats.text


@pytest.mark.parametrize("who", ["operator_b", "street_b", "evaluator_b"])
def test_statistics_of_another_street_or_site_answer_like_unknown_ones(
    gateway: httpx.Client, world: World, who: str
) -> None:
    headers = world.bearer(who)
    month = days_ago(3)[:7]
    for params, random in (
        ({"site_id": world.site_id}, {"site_id": str(uuid.uuid4())}),
        ({"street_id": world.site["street_id"]}, {"street_id": str(uuid.uuid4())}),
    ):
        for fmt in ({}, {"format": "csv"}):
            got = gateway.get(f"{ACT}/stats", params={"month": month, **params, **fmt}, headers=headers)
            other = gateway.get(f"{ACT}/stats", params={"month": month, **random, **fmt}, headers=headers)
            assert got.status_code >= 400 or world.site_id not in got.text, (who, params, got.text[:200])
            assert comparable(got) == comparable(other), (who, params, got.text[:200])


# ---- writes that point into site A -------------------------------------------------------------------


def _references(world: World) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(who, path, body naming site A's object, the same body with a random id)."""
    random = str(uuid.uuid4())
    cases: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for path, body in log_bodies(world.site_id).items():
        cases.append(("operator_b", f"{ACT}/{path}", body, {**body, "site_id": random}))
    referral = {"referred_on": days_ago(1), "to_name": "区民政局"}
    cases += [
        (
            "operator_b",
            f"{ACT}/referrals",
            {**referral, "need_id": world.ids["need"]},
            {**referral, "need_id": random},
        ),
        (
            "operator_b",
            f"{ACT}/volunteer-hours",
            {"volunteer_id": world.ids["volunteer"], "date": days_ago(1), "hours": "1"},
            {"volunteer_id": random, "date": days_ago(1), "hours": "1"},
        ),
        ("operator_b", f"{REG}/staff", staff_body(world.site_id), staff_body(random)),
        (
            "operator_b",
            f"{EVAL}/improvement-plans",
            {"finding_id": world.ids["finding"], "actions": "a", "owner": "o", "due_on": days_ago(-30)},
            {"finding_id": random, "actions": "a", "owner": "o", "due_on": days_ago(-30)},
        ),
    ]
    return cases


def test_creates_pointing_into_another_site_answer_like_unknown_ids(
    gateway: httpx.Client, world: World, stack: RunningStack
) -> None:
    wrong = []
    for who, path, body, random_body in _references(world):
        got = gateway.post(path, json=body, headers=world.bearer(who))
        other = gateway.post(path, json=random_body, headers=world.bearer(who))
        if got.status_code < 400 or comparable(got) != comparable(other):
            wrong.append(f"POST {path} as {who}: {got.status_code} {got.text[:160]} / {other.text[:160]}")
    assert wrong == []


@pytest.mark.parametrize(
    "kind", ["activities", "visits", "volunteer-hours", "deliberations", "safety-trainings"]
)
def test_batch_ingest_refuses_records_of_another_site(
    gateway: httpx.Client, world: World, stack: RunningStack, kind: str
) -> None:
    """Operator B's batch naming site A (or site A's volunteer) is refused as a whole, exactly like
    one naming a random id, and nothing is written."""
    bodies = log_bodies(world.site_id)
    record: dict[str, Any]
    if kind == "volunteer-hours":
        record = {"volunteer_id": world.ids["volunteer"], "date": days_ago(4), "hours": "1"}
        random = {**record, "volunteer_id": str(uuid.uuid4())}
    else:
        record = {**bodies[kind], "site_id": world.site_id}
        random = {**record, "site_id": str(uuid.uuid4())}
    own = {**record, "site_id": world.site_b["id"]} if kind != "volunteer-hours" else None
    marker = f"batch-{uuid.uuid4().hex[:8]}"
    field = {
        "activities": "title",
        "deliberations": "topic",
        "safety-trainings": "topic",
        "visits": "purpose",
        "volunteer-hours": "date",
    }[kind]
    if kind == "volunteer-hours":
        marker = days_ago(4)
    record[field] = random[field] = marker
    lines = [r for r in (own, record) if r is not None]
    ndjson = {"Content-Type": "application/x-ndjson"}
    headers = {**world.bearer("operator_b"), **ndjson}
    got = gateway.post(
        f"{ACT}/batch",
        params={"kind": kind},
        content="\n".join(json.dumps(r) for r in lines),
        headers=headers,
    )
    lines[-1] = random
    other = gateway.post(
        f"{ACT}/batch",
        params={"kind": kind},
        content="\n".join(json.dumps(r) for r in lines),
        headers=headers,
    )
    assert got.status_code == 422, got.text
    assert comparable(got) == comparable(other)
    table = kind.replace("-", "_")
    column = "volunteer_id" if kind == "volunteer-hours" else "site_id"
    owner = uuid.UUID(world.ids["volunteer"] if kind == "volunteer-hours" else world.site_id)
    value: Any = dt.date.fromisoformat(marker) if kind == "volunteer-hours" else marker
    query = f"SELECT count(*) AS n FROM activities.{table} WHERE {column} = $1 AND {field} = $2"  # noqa: S608
    assert stack.sql(query, owner, value)[0]["n"] == 0


def test_service_tokens_and_internal_paths_are_not_reachable_from_outside(
    gateway: httpx.Client, world: World
) -> None:
    """`/internal/*` (service-to-service: scopes, tier writes, change backlog) is never routed."""
    for path in (
        f"{REG}/internal/sites/{world.site_id}/tier",
        f"{REG}/internal/scopes",
        f"{ACT}/internal/changes",
        f"{EVAL}/internal/scopes/{uuid.uuid4()}",
    ):
        for method in ("GET", "POST"):
            response = gateway.request(method, path, json={}, headers=bearer(world.tokens["district"]))
            assert response.status_code == 404 and response.json()["code"] == "route_not_found", path


def test_a_services_operational_endpoints_are_not_routed(gateway: httpx.Client, world: World) -> None:
    """The gateway routes a service's API, not its process internals: `GET /metrics` (the
    Prometheus exposition a domain service answers to whoever reaches it on its private port)
    never reaches a client through `/api/v1/{service}/metrics`."""
    for service in ("registry", "activities", "evaluation"):
        for who in ("district", "street", "integration"):
            response = gateway.get(f"/api/v1/{service}/metrics", headers=world.bearer(who))
            assert "linju_http_requests_total" not in response.text, (service, who)
            assert response.status_code in (403, 404, 422), (service, who, response.status_code)


# A list some role may not read at all, and where the same rows also travel.
LIST_TWINS = {
    f"GET {REG}/contracts": ("contract", f"{REG}/export/contracts.ndjson", f"{REG}/changes"),
    f"GET {REG}/filings": ("filing", f"{REG}/export/filings.ndjson", f"{REG}/changes"),
    f"GET {EVAL}/improvement-plans": (
        "improvement_plan",
        f"{EVAL}/export/improvement_plans.ndjson",
        f"{EVAL}/changes",
    ),
}


@pytest.mark.parametrize("list_key", sorted(LIST_TWINS))
def test_a_role_refused_a_list_does_not_get_its_rows_elsewhere(
    gateway: httpx.Client, world: World, ops: list[Operation], list_key: str
) -> None:
    """Site A's own evaluator may not list contracts, filings or improvement plans (403): neither
    the export of that resource nor the change feed hands it those rows or their events."""
    key, export, feed = LIST_TWINS[list_key]
    feed_op = next(op for op in ops if op.path == f"/api/v1/{feed.split('/')[3]}/changes")
    leaks = []
    for role in USER_ROLES:
        if POLICY[list_key][role] is Outcome.ALLOWED:
            continue
        headers = world.bearer(role)
        exported = gateway.get(export, headers=headers)
        if exported.status_code != 403 and world.ids[key] in exported.text:
            leaks.append(f"{export} as {role}")
        if world.ids[key] in _read_all(gateway, feed_op, headers, {}):
            leaks.append(f"{feed} as {role}")
    assert leaks == []


def test_computing_a_shared_round_touches_only_the_callers_scorecards(
    gateway: httpx.Client, world: World, stack: RunningStack
) -> None:
    """Evaluator B is assigned site B in the quarterly round that also holds site A: computing the
    round computes site B's scorecard and never site A's, nor names it."""
    response = gateway.post(
        f"{EVAL}/rounds/{world.ids['open_round']}/compute", headers=world.bearer("evaluator_b")
    )
    assert response.status_code == 200, response.text
    assert world.ids["scorecard_draft"] not in response.text and world.site_id not in response.text
    assert world.site_b["id"] in response.text
    evaluator_b = world.users["evaluator_b"]["id"]
    touched = stack.sql(
        "SELECT 1 FROM evaluation.audit_log WHERE object_id = $1 AND actor = $2",
        world.ids["scorecard_draft"],
        evaluator_b,
    )
    assert touched == []
    # The control: the same actor did compute (its own scorecard), so the query would find it.
    computed = stack.sql(
        "SELECT 1 FROM evaluation.audit_log WHERE actor = $1 AND action = 'scorecard.compute'", evaluator_b
    )
    assert computed != []
