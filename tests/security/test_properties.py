"""Property-level rules: what a caller may put into an object, field by field.

* Every request body schema of the merged OpenAPI document is closed (`additionalProperties:
  false`, at every level); the few bodies that cannot say so in the document are listed with the
  reason and proved closed live.
* Live, generated from the document: every JSON body sent with an unknown member and with every
  server-owned member of the operation's answer (ids, timestamps, versions, states, computed
  values, masked forms …) is refused with 422 naming each of them; nothing is written.
* Read-only fields with an owner: a site's `tier` (written only by the evaluation service when a
  final round is published), a site's location and identity for its operator (`street_id` …), a
  street's sites staying in its street, staff staying in the operator's sites, district-only filing
  fields, and frozen scores (an accepted scorecard is closed to everyone until the district
  reopens it; an override of a computed value needs a reason and keeps the computed value).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack, bearer
from tests.evaluation.helpers import SiteScoring as Scoring
from tests.evaluation.helpers import ok, open_round, score_card
from tests.evaluation.test_rounds import EVAL
from tests.registry.factories import community, street
from tests.registry.test_directory import service_token
from tests.security.openapi import Operation, comparable
from tests.security.policy import POLICY, Outcome
from tests.security.test_object_scope import _variants
from tests.security.world import ACT, REG, World, log_bodies

# Bodies the document cannot describe as closed, why, and the test proving them closed live.
OPEN_BY_DESIGN = {
    # OAuth2 (RFC 6749 §3.2): the token endpoint MUST ignore unrecognised parameters; a form.
    "POST /api/v1/auth/token": "oauth2_form",
    # One record kind per `?kind=`: each line is validated against that kind's closed create schema.
    "POST /api/v1/activities/batch": "test_batch_records_are_closed",
    "POST /api/v1/activities/activities/batch": "test_batch_records_are_closed",
    # One response or {"responses": [...]}: parsed by SurveyResponseCreate / SurveyBatchCreate
    # (extra="forbid"); the document shows a free object.
    "POST /api/v1/evaluation/scorecards/{scorecard_id}/survey-responses": "test_survey_responses_are_closed",
}
# Members that are maps or expression trees with keys of their own, checked by the service (the
# test proving unknown keys are refused by name).
OPEN_MEMBERS = {
    "ItemUpdate.inputs": "test_manual_inputs_are_closed",
    "IndicatorDocument.rule": "test_rubric_rule_terms_are_closed",
}
# Members a client never writes, whatever the resource (the server owns them).
SERVER_OWNED = {
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "version",
    "etag",
    "personal_data",
    "state",
    "published_at",
    "closed_at",
    "tier_round_id",
    "tier_updated_at",
    "auto_points",
    "final_points",
    "editable_until",
}
# Server-owned names that are inputs somewhere on purpose: `tier` is declared on sites so that
# sending it answers 403 field_not_writable (test_tier_is_written_only_by_the_evaluation_service).
# A rubric document's `version` is its name ("2024-c08-fix"), chosen by the district.
DECLARED_TO_REFUSE = {("SiteCreate", "tier"), ("SiteUpdate", "tier"), ("RubricDocument", "version")}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(component name, schema) of a body schema, through `$ref` and `anyOf [X, null]`."""
    if "anyOf" in schema:
        [schema] = [s for s in schema["anyOf"] if s.get("type") != "null"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name, document["components"]["schemas"][name]
    return None, schema


def _open_objects(document: dict[str, Any], schema: Any, seen: set[str], where: str) -> list[str]:
    """Every object schema reachable from ``schema`` that does not forbid unknown members, named
    ``Component.member`` (or the operation for an inline body)."""
    found: list[str] = []
    if isinstance(schema, list):
        for item in schema:
            found += _open_objects(document, item, seen, where)
        return found
    if not isinstance(schema, dict):
        return found
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return found
        seen.add(name)
        return _open_objects(document, document["components"]["schemas"][name], seen, name)
    is_object = schema.get("type") == "object" or "properties" in schema
    if is_object and schema.get("additionalProperties") is not False and where not in OPEN_MEMBERS:
        found.append(where)
    for key, value in schema.items():
        if key == "properties":
            for member, sub in value.items():
                found += _open_objects(document, sub, seen, f"{where}.{member}")
        elif key not in ("examples", "example", "default"):
            found += _open_objects(document, value, seen, where)
    return found


def _body_ops(ops: list[Operation]) -> list[Operation]:
    return [op for op in ops if "requestBody" in op.spec]


def test_every_request_body_schema_forbids_unknown_members(
    document: dict[str, Any], ops: list[Operation]
) -> None:
    problems = []
    for op in _body_ops(ops):
        if op.key in OPEN_BY_DESIGN:
            continue
        for content_type, content in op.spec["requestBody"]["content"].items():
            problems += _open_objects(document, content["schema"], set(), f"{op.key} ({content_type})")
    assert problems == []
    # Each exemption names an operation that exists and still needs it.
    documented = {op.key for op in _body_ops(ops)}
    assert set(OPEN_BY_DESIGN) <= documented


def test_no_input_schema_offers_a_server_owned_member(document: dict[str, Any], ops: list[Operation]) -> None:
    offered = []
    for op in _body_ops(ops):
        for content in op.spec["requestBody"]["content"].values():
            name, schema = _resolve(document, content["schema"])
            for member in set(schema.get("properties", {})) & (SERVER_OWNED | {"tier"}):
                if (name, member) not in DECLARED_TO_REFUSE:
                    offered.append(f"{op.key}: {name}.{member}")
    assert offered == []


def _answer_members(document: dict[str, Any], op: Operation) -> set[str]:
    """The members of the operation's 2xx JSON answer (a page: of its items)."""
    for status, response in op.spec.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if not schema:
            continue
        _, resolved = _resolve(document, schema)
        props = resolved.get("properties", {})
        if set(props) == {"items", "next_cursor"}:
            _, resolved = _resolve(document, props["items"]["items"])
            props = resolved.get("properties", {})
        return set(props)
    return set()


def _caller(key: str) -> str:
    expect = POLICY[key]
    return next(r for r in ("district", "operator", "street", "evaluator") if expect[r] is Outcome.ALLOWED)


def _json_object_ops(document: dict[str, Any], ops: list[Operation]) -> list[Operation]:
    out = []
    for op in _body_ops(ops):
        content = op.spec["requestBody"]["content"]
        if "application/json" not in content or op.key in OPEN_BY_DESIGN:
            continue
        _, schema = _resolve(document, content["application/json"]["schema"])
        if schema.get("type") == "object" or "properties" in schema:
            out.append(op)
    return out


def test_unknown_and_server_owned_members_are_refused_by_name(
    gateway: httpx.Client, world: World, document: dict[str, Any], ops: list[Operation], stack: RunningStack
) -> None:
    """Every JSON body, sent by a caller the policy admits, on the objects of site A."""
    audit_before = _audit_rows(stack)
    wrong = []
    checked = _json_object_ops(document, ops)
    assert len(checked) > 60  # every create, update and action with a JSON object body
    for op in checked:
        _, schema = _resolve(document, op.spec["requestBody"]["content"]["application/json"]["schema"])
        accepted = set(schema.get("properties", {}))
        extra = {"unexpected_member": 1, **{m: "x" for m in _answer_members(document, op) - accepted}}
        variants = _variants(op) or [{}]
        url = op.url(**{p: world.ids[k] for p, k in variants[0].items()})
        who = _caller(op.key)
        headers = {**world.bearer(who), "If-Match": '"0"'}
        response = gateway.request(op.method, url, json=extra, headers=headers)
        refused = {
            e["field"] for e in response.json().get("errors", []) if e.get("type") == "extra_forbidden"
        }
        if response.status_code != 422 or refused != set(extra):
            wrong.append(
                f"{op.key} as {who}: {response.status_code} refused {sorted(refused)} of {sorted(extra)}"
            )
    assert wrong == []
    assert _audit_rows(stack) == audit_before  # nothing was written anywhere


def _audit_rows(stack: RunningStack) -> list[int]:
    return [
        stack.sql(f"SELECT count(*) AS n FROM {schema}.audit_log")[0]["n"]  # noqa: S608
        for schema in ("registry", "activities", "evaluation")
    ]


def test_batch_records_are_closed(gateway: httpx.Client, world: World) -> None:
    bodies = log_bodies(world.site_id)
    headers = {**world.bearer("operator"), "Content-Type": "application/x-ndjson"}
    for kind in ("activities", "visits", "deliberations", "safety-trainings"):
        lines = [bodies[kind], {**bodies[kind], "id": str(uuid.uuid4()), "unexpected_member": 1}]
        response = gateway.post(
            f"{ACT}/batch", params={"kind": kind}, content="\n".join(map(json.dumps, lines)), headers=headers
        )
        assert response.status_code == 422, response.text
        errors = {(e.get("line"), e.get("field")) for e in response.json()["errors"]}
        assert {(2, "id"), (2, "unexpected_member")} <= errors, (kind, errors)


def test_manual_inputs_are_closed(gateway: httpx.Client, world: World) -> None:
    url = f"{EVAL}/scorecards/{world.ids['scorecard_draft']}/items/C01"
    body = {"inputs": {"manual.C01.well_located": True, "manual.C01.unexpected": 1}}
    response = gateway.put(url, json=body, headers=world.bearer("evaluator"))
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == {"inputs.manual.C01.unexpected"}


def test_rubric_rule_terms_are_closed(gateway: httpx.Client, district_token: str) -> None:
    """A new rubric version whose rule terms carry members the engine does not read is refused,
    naming each (they would be stored and silently ignored)."""
    document = gateway.get(f"{EVAL}/rubrics/2023-draft", headers=bearer(district_token)).json()["document"]
    body = {k: document[k] for k in ("title", "thresholds", "survey", "indicators") if k in document}
    body["version"] = f"sec-{uuid.uuid4().hex[:8]}"
    indicators = [dict(i) for i in body["indicators"]]
    indicators[0]["rule"] = {**indicators[0]["rule"], "bonus": 5}
    body["indicators"] = indicators
    response = gateway.post(f"{EVAL}/rubrics", json=body, headers=bearer(district_token))
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == {"indicators.0.rule.bonus"}


def test_survey_responses_are_closed(gateway: httpx.Client, world: World) -> None:
    url = f"{EVAL}/scorecards/{world.ids['scorecard_draft']}/survey-responses"
    one = {"channel": "phone", "ratings": {"space": 5}}
    for body, field in (
        ({**one, "respondent_phone_masked": "138****5678"}, "respondent_phone_masked"),
        ({"responses": [one], "unexpected_member": 1}, "unexpected_member"),
        ({"responses": [{**one, "id": str(uuid.uuid4())}]}, "responses.0.id"),
        ({**one, "ratings": {"space": 5, "cleanliness": 4}}, "ratings.cleanliness"),
    ):
        response = gateway.post(url, json=body, headers=world.bearer("evaluator"))
        assert response.status_code == 422, response.text
        assert field in {e["field"] for e in response.json()["errors"]}, response.text


# ---- fields with an owner -------------------------------------------------------------------------


def _site(gateway: httpx.Client, world: World) -> httpx.Response:
    response = gateway.get(f"{REG}/sites/{world.site_id}", headers=world.bearer("district"))
    assert response.status_code == 200
    return response


def _refused_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "field_not_writable"
    return {e["field"] for e in body["errors"]}


def test_tier_is_written_only_by_the_evaluation_service(
    gateway: httpx.Client, world: World, stack: RunningStack
) -> None:
    before = _site(gateway, world)
    site = before.json()
    # The world's final round over site A was published: the evaluation service wrote the tier.
    assert site["tier"] in ("demonstration", "standard", "basic")
    assert site["tier_round_id"] == world.ids["round"]
    for who in ("district", "street", "operator"):
        patched = gateway.patch(
            f"{REG}/sites/{world.site_id}",
            json={"tier": "demonstration" if site["tier"] != "demonstration" else "basic"},
            headers={**world.bearer(who), "If-Match": before.headers["etag"]},
        )
        assert _refused_fields(patched) == {"tier"}, who
    for who in ("district", "street"):
        body = {
            "name": "分层测试站点",
            "code": f"T-TIER-{uuid.uuid4().hex[:6]}",
            "street_id": str(street("XX").id),
            "community_id": str(community("XX").id),
            "tier": "demonstration",
        }
        assert _refused_fields(gateway.post(f"{REG}/sites", json=body, headers=world.bearer(who))) == {"tier"}
    after = _site(gateway, world)
    assert after.json() == site and after.headers["etag"] == before.headers["etag"]
    # The owner's path is internal: never routed by the gateway, and service tokens only.
    internal = f"/internal/sites/{world.site_id}/tier"
    body = {"tier": "demonstration", "round_id": world.ids["round"]}
    routed = gateway.post(f"{REG}{internal}", json=body, headers=world.bearer("district"))
    assert routed.status_code == 404 and routed.json()["code"] == "route_not_found"
    with httpx.Client(base_url=stack.service_url("registry"), timeout=20.0) as registry:
        for who in ("district", "street", "operator", "evaluator", "integration"):
            direct = registry.post(internal, json=body, headers=world.bearer(who))
            assert direct.status_code == 403, (who, direct.text)
        # Another service's token is not the evaluation service either.
        activities = registry.post(internal, json=body, headers=bearer(service_token(gateway, "activities")))
        assert activities.status_code == 403, activities.text
    assert _site(gateway, world).json() == site


def test_an_operator_changes_only_the_opening_hours_function_areas_and_safety(
    gateway: httpx.Client, world: World, document: dict[str, Any]
) -> None:
    """Generated from SiteUpdate: every other member sent by the site's operator → 403 naming it
    (the site's street_id, community, name, code, status …), with the site's own current value."""
    before = _site(gateway, world)
    site = before.json()
    members = set(document["components"]["schemas"]["SiteUpdate"]["properties"]) - {"tier"}
    writable = {"opening_hours", "function_areas", "safety"}
    assert writable <= members
    headers = {**world.bearer("operator"), "If-Match": before.headers["etag"]}
    for member in sorted(members - writable):
        value = site.get(member)
        if member == "street_id":
            value = str(street("CH").id)
        response = gateway.patch(f"{REG}/sites/{world.site_id}", json={member: value}, headers=headers)
        assert _refused_fields(response) == {member}, member
    after = _site(gateway, world)
    assert after.headers["etag"] == before.headers["etag"]


def test_a_street_keeps_its_sites_in_its_street(gateway: httpx.Client, world: World) -> None:
    before = _site(gateway, world)
    headers = {**world.bearer("street"), "If-Match": before.headers["etag"]}
    moved = gateway.patch(
        f"{REG}/sites/{world.site_id}",
        json={"street_id": str(street("CH").id), "community_id": str(community("CH").id)},
        headers=headers,
    )
    assert moved.status_code == 422, moved.text
    assert {e["field"] for e in moved.json()["errors"]} == {"street_id"}
    assert _site(gateway, world).headers["etag"] == before.headers["etag"]


def test_staff_cannot_be_moved_out_of_the_operators_sites(gateway: httpx.Client, world: World) -> None:
    url = f"{REG}/staff/{world.ids['staff']}"
    before = gateway.get(url, headers=world.bearer("operator"))
    headers = {**world.bearer("operator"), "If-Match": before.headers["etag"]}
    elsewhere = gateway.patch(url, json={"site_id": world.site_b["id"]}, headers=headers)
    nowhere = gateway.patch(url, json={"site_id": str(uuid.uuid4())}, headers=headers)
    assert elsewhere.status_code in (404, 422), elsewhere.text
    assert comparable(elsewhere) == comparable(nowhere)
    after = gateway.get(url, headers=world.bearer("operator"))
    assert after.json()["site_id"] == world.site_id and after.headers["etag"] == before.headers["etag"]


def test_district_only_filing_fields(gateway: httpx.Client, world: World) -> None:
    url = f"{REG}/filings/{world.ids['filing']}"
    before = gateway.get(url, headers=world.bearer("street"))
    headers = {**world.bearer("street"), "If-Match": before.headers["etag"]}
    for member, value in (("late_allowed", True), ("filer_organization_id", world.ids["organization"])):
        if member in before.json() and member != "filer_organization_id":
            assert _refused_fields(gateway.patch(url, json={member: value}, headers=headers)) == {member}
    body = {
        "year": before.json()["year"],
        "kind": "hub_plan",
        "filer_name": "西兴街道",
        "street_id": str(street("XX").id),
        "community_id": str(community("XX", 2).id),
        "title": "迟报测试",
    }
    for member, value in (("late_allowed", True), ("filer_organization_id", world.ids["organization"])):
        created = gateway.post(f"{REG}/filings", json={**body, member: value}, headers=world.bearer("street"))
        assert _refused_fields(created) == {member}
    assert gateway.get(url, headers=world.bearer("street")).headers["etag"] == before.headers["etag"]


@pytest.fixture(scope="module")
def accepted(gateway: httpx.Client, district_token: str, world: World) -> dict[str, Any]:
    """A quarterly round over site A with its scorecard scored, submitted and accepted (frozen)."""
    opened = open_round(gateway, district_token, [world.site_id], kind="quarterly", title="冻结测试")
    card = opened["cards"][world.site_id]
    token = opened["evaluator_token"]
    score_card(gateway, token, card, Scoring())
    ok(gateway.post(f"{EVAL}/scorecards/{card}/submit", headers=bearer(token)))
    ok(gateway.post(f"{EVAL}/scorecards/{card}/accept", headers=bearer(district_token)))
    return {"card": card, "token": token}


def test_accepted_scores_are_frozen_for_everyone_until_reopened(
    gateway: httpx.Client, world: World, district_token: str, accepted: dict[str, Any]
) -> None:
    url = f"{EVAL}/scorecards/{accepted['card']}"
    frozen = gateway.get(url, headers=bearer(district_token)).json()
    scorer = bearer(accepted["token"])
    writes = [
        ("PUT", f"{url}/items/C01", {"inputs": {"manual.C01.well_located": False}}),
        ("PUT", f"{url}/items/C11", {"override_points": 0, "reason": "复核"}),
        ("POST", f"{url}/findings", {"indicator_code": "C01", "text": "选址", "severity": "minor"}),
        ("POST", f"{url}/survey-responses", {"channel": "phone", "ratings": {"space": 1}}),
    ]
    for method, path, body in writes:
        by_scorer = gateway.request(method, path, json=body, headers=scorer)
        assert by_scorer.status_code == 409 and by_scorer.json()["code"] == "scorecard_frozen", by_scorer.text
        # Nobody else may write scores at all: the district approves, another evaluator sees nothing.
        assert gateway.request(method, path, json=body, headers=bearer(district_token)).status_code == 403
        assert (
            gateway.request(method, path, json=body, headers=world.bearer("evaluator_b")).status_code == 404
        )
    recompute = gateway.post(f"{url}/compute", headers=bearer(district_token))
    assert recompute.status_code == 409 and recompute.json()["code"] == "scorecard_frozen"
    assert gateway.get(url, headers=bearer(district_token)).json() == frozen
    # The district reopens with a reason; the assigned evaluator may write again.
    ok(gateway.post(f"{url}/reopen", json={"reason": "材料补正"}, headers=bearer(district_token)))
    ok(gateway.put(f"{url}/items/C01", json={"inputs": {"manual.C01.well_located": False}}, headers=scorer))


def test_an_override_needs_a_reason_and_keeps_the_computed_value(gateway: httpx.Client, world: World) -> None:
    url = f"{EVAL}/scorecards/{world.ids['scorecard_draft']}"
    scorer = world.bearer("evaluator")
    ok(gateway.post(f"{url}/compute", headers=scorer))
    before = next(i for i in gateway.get(url, headers=scorer).json()["items"] if i["code"] == "C11")
    bare = gateway.put(f"{url}/items/C11", json={"override_points": 1}, headers=scorer)
    assert bare.status_code == 422 and {e["field"] for e in bare.json()["errors"]} == {"reason"}
    card = ok(
        gateway.put(f"{url}/items/C11", json={"override_points": 1, "reason": "现场核查"}, headers=scorer)
    )
    item = next(i for i in card["items"] if i["code"] == "C11")
    assert item["auto_points"] == before["auto_points"]
    assert float(item["override_points"]) == 1.0 and item["override_reason"] == "现场核查"
    assert float(item["final_points"]) == 1.0
