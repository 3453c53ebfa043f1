"""`/api/v1/evaluation/rubrics`: Table C.1 as data, read by everyone; corrected versions by the district."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.evaluation.rubric.table_c1 import TABLE_C1
from tests.conftest import RunningStack, bearer, login
from tests.evaluation.test_rounds import EVAL, assign, create_evaluator, create_round, scorecards_of
from tests.registry.factories import error_fields, integration_token, operated_site

URL = "/api/v1/evaluation/rubrics"


def corrected_c08(version: str) -> dict[str, Any]:
    """2023-draft with C08's "partly inconsistent" implementation worth 0.25 instead of 0.5."""
    # Through JSON, as a client would send it (Table C.1 shares its LEVELS dict between C20 and C21).
    document = json.loads(json.dumps(TABLE_C1))
    document.update(version=version, title="C08 部分落实更正为0.25分", based_on="2023-draft")
    c08 = next(i for i in document["indicators"] if i["code"] == "C08")
    c08["rule"]["terms"][1]["levels"]["partly"] = 0.25
    return document


def test_everyone_reads_2023_draft(gateway: httpx.Client, district_token: str, street_token: str) -> None:
    evaluator = login(gateway, "evaluator")["access_token"]
    operator = operated_site(gateway, district_token)["operator_token"]
    integration = integration_token(gateway, district_token)
    for token in (district_token, street_token, evaluator, operator, integration):
        response = gateway.get(f"{URL}/2023-draft", headers=bearer(token))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["read_only"] is True and body["indicator_count"] == 21
        assert Decimal(body["total_max_points"]) == 100
        assert body["thresholds"] == {"demonstration": 0.9, "standard": 0.8}
        assert [i["code"] for i in body["document"]["indicators"]] == [f"C{n:02d}" for n in range(1, 22)]
        c08 = next(i for i in body["document"]["indicators"] if i["code"] == "C08")
        assert c08["rule"]["terms"][1]["levels"] == {"full": 0.5, "partly": 0.5, "mostly_not": 0}
    listed = gateway.get(URL, headers=bearer(street_token)).json()
    assert "2023-draft" in [r["version"] for r in listed["items"]]
    assert "document" not in listed["items"][0]
    assert gateway.get(URL).status_code == 401


def test_unknown_version_is_404(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.get(f"{URL}/1999-nothing", headers=bearer(district_token))
    assert response.status_code == 404 and response.json()["code"] == "rubric_not_found"


def test_district_creates_a_corrected_version(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    version = f"c08-{uuid.uuid4().hex[:6]}"
    created = gateway.post(URL, json=corrected_c08(version), headers=bearer(district_token))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"] == version and body["based_on"] == "2023-draft" and body["read_only"] is False
    c08 = next(i for i in body["document"]["indicators"] if i["code"] == "C08")
    assert c08["rule"]["terms"][1]["levels"]["partly"] == 0.25
    got = gateway.get(f"{URL}/{version}", headers=bearer(district_token)).json()
    assert got["document"] == body["document"]
    # The seeded Table C.1 is untouched.
    draft = gateway.get(f"{URL}/2023-draft", headers=bearer(district_token)).json()
    draft_c08 = next(i for i in draft["document"]["indicators"] if i["code"] == "C08")
    assert draft_c08["rule"]["terms"][1]["levels"]["partly"] == 0.5
    audit = stack.sql("SELECT action, actor_role FROM evaluation.audit_log WHERE object_id = $1", version)
    assert [(a["action"], a["actor_role"]) for a in audit] == [("rubric.create", "district")]
    # A version never changes: the same version again → 409; 2023-draft → 409 read-only.
    again = gateway.post(URL, json=corrected_c08(version), headers=bearer(district_token))
    assert again.status_code == 409 and again.json()["code"] == "rubric_exists"
    draft_again = gateway.post(URL, json=corrected_c08("2023-draft"), headers=bearer(district_token))
    assert draft_again.status_code == 409 and draft_again.json()["code"] == "rubric_read_only"
    # There is no way to change a version: no PUT, no PATCH.
    for method in ("PUT", "PATCH"):
        changed = gateway.request(method, f"{URL}/2023-draft", json={}, headers=bearer(district_token))
        assert changed.status_code in (404, 405)


def test_other_roles_may_not_create(gateway: httpx.Client, district_token: str, street_token: str) -> None:
    evaluator = login(gateway, "evaluator")["access_token"]
    operator = operated_site(gateway, district_token)["operator_token"]
    for token in (street_token, evaluator, operator):
        response = gateway.post(URL, json=corrected_c08(f"x-{uuid.uuid4().hex[:6]}"), headers=bearer(token))
        assert response.status_code == 403, response.text


def _mutate(path: list[Any], value: Any) -> Any:
    def apply(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return apply


_DELETE = object()


def _c(code: str) -> int:
    return int(code[1:]) - 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # Unknown term type, anywhere in the tree.
        (
            _mutate(["indicators", _c("C03"), "rule", "terms", 0, "type"], "bonus"),
            "indicators.2.rule.terms.0.type",
        ),
        # A rule that can score more than its indicator's points.
        (_mutate(["indicators", _c("C01"), "rule", "points"], 3), "indicators.0.max_points"),
        # A manual input read but not declared.
        (_mutate(["indicators", _c("C01"), "manual_inputs"], []), "indicators.0.manual_inputs"),
        # An input nothing can supply.
        (_mutate(["indicators", _c("C02"), "rule", "input"], "site.rooftop_garden"), "indicators.1.rule"),
        # Thresholds out of order.
        (_mutate(["thresholds", "standard"], 0.95), "thresholds.demonstration"),
        (_mutate(["thresholds", "standard"], 0), "thresholds.standard"),
        # A term missing its parameters.
        (
            _mutate(["indicators", _c("C13"), "rule", "terms", 0, "max"], _DELETE),
            "indicators.12.rule.terms.0.max",
        ),
        # Shape errors from the schema itself.
        (_mutate(["indicators", _c("C04"), "source"], "robot"), "indicators.3.source"),
        (_mutate(["version"], "has space"), "version"),
    ],
)
def test_invalid_documents_name_the_path(
    gateway: httpx.Client, district_token: str, change: Any, field: str
) -> None:
    document = corrected_c08(f"bad-{uuid.uuid4().hex[:6]}")
    change(document)
    response = gateway.post(URL, json=document, headers=bearer(district_token))
    assert field in error_fields(response), response.text


def test_twenty_one_unique_indicators_worth_100(gateway: httpx.Client, district_token: str) -> None:
    document = corrected_c08(f"bad-{uuid.uuid4().hex[:6]}")
    document["indicators"][1]["code"] = "C01"
    response = gateway.post(URL, json=document, headers=bearer(district_token))
    assert "indicators.1.code" in error_fields(response)

    document = corrected_c08(f"bad-{uuid.uuid4().hex[:6]}")
    document["indicators"] = document["indicators"][:20]
    response = gateway.post(URL, json=document, headers=bearer(district_token))
    fields = error_fields(response)
    assert fields == {"indicators"}
    messages = [e["message"] for e in response.json()["errors"]]
    assert any("21 indicators" in m for m in messages) and any("not 100" in m for m in messages)

    # C21 worth 4 (and its rule too): 101 points in all.
    document = corrected_c08(f"bad-{uuid.uuid4().hex[:6]}")
    document["indicators"][20]["max_points"] = 4
    document["indicators"][20]["rule"]["levels"]["national"] = 4
    response = gateway.post(URL, json=document, headers=bearer(district_token))
    assert error_fields(response) == {"indicators"}

    document = corrected_c08(f"bad-{uuid.uuid4().hex[:6]}")
    document["based_on"] = "no-such-version"
    assert error_fields(gateway.post(URL, json=document, headers=bearer(district_token))) == {"based_on"}


def test_a_round_scores_with_the_corrected_version(gateway: httpx.Client, district_token: str) -> None:
    version = f"c08-{uuid.uuid4().hex[:6]}"
    assert gateway.post(URL, json=corrected_c08(version), headers=bearer(district_token)).status_code == 201
    site = operated_site(gateway, district_token)
    made = create_round(gateway, district_token, [site["site"]["id"]], rubric_version=version)
    assert made["rubric_version"] == version
    evaluator = create_evaluator(gateway, district_token)
    assign(gateway, district_token, made["id"], evaluator["user"]["id"], [site["site"]["id"]])
    token = login(gateway, evaluator["username"])["access_token"]
    [card] = scorecards_of(gateway, token, made["id"])
    inputs = {"manual.C08.rules_exist": True, "manual.C08.implementation": "partly"}
    scored = gateway.put(
        f"{EVAL}/scorecards/{card['id']}/items/C08", json={"inputs": inputs}, headers=bearer(token)
    )
    assert scored.status_code == 200, scored.text
    c08 = next(i for i in scored.json()["items"] if i["code"] == "C08")
    assert c08["final_points"] == "0.75" and scored.json()["round"]["rubric_version"] == version
