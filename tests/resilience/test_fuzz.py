"""Fuzzing the whole public API (issue 6, item 4) with Schemathesis.

The merged OpenAPI document the gateway serves (``GET /openapi.json``) drives Schemathesis
against a private stack (the fuzzer writes junk, so it never touches the shared session stack),
once per role with that role's token. Each role gets the operations the gateway's route policy
lets it call (the others answer 403 before reaching a service; the authorization matrix tests
cover that). Checks:

* ``not_a_server_error`` — no 5xx, whatever the input;
* ``response_schema_conformance`` / ``content_type_conformance`` — every answer, errors included
  (problem+json), matches what the document says;
* ``negative_data_rejection`` — input that breaks the documented schema is refused with a 4xx;
* ``ignored_auth`` — an operation that declares a security scheme refuses a request without it.

Bounded: the district (every operation) also runs the deterministic coverage phase (the
boundary and invalid values of every parameter and field); every role runs a few random
examples (valid and invalid) per operation.
``LINJU_FUZZ_EXAMPLES`` / ``LINJU_FUZZ_SEED`` turn it up or vary it locally.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.proxy import policy
from tests.conftest import bearer, login
from tests.registry.factories import integration_token
from tests.resilience.harness import OwnStack

pytestmark = pytest.mark.slow

# Tokens outlive the run (15 min is the ceiling SPEC §7 allows).
STACK_ENV = {"LINJU_GATEWAY_ACCESS_TOKEN_TTL_S": "900"}

DEMO_LOGINS = {"street": "xixing", "operator": "operator", "evaluator": "evaluator"}
ROLES = ("district", "street", "operator", "evaluator", "integration")
CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "content_type_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
EXAMPLES = int(os.environ.get("LINJU_FUZZ_EXAMPLES", "3"))
SEED = int(os.environ.get("LINJU_FUZZ_SEED", "20261127"))
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# The coverage phase sends the boundary and invalid values of every parameter and body field; the
# valid ones are left to the random phase, and unexpected HTTP methods to the route-matrix tests.
CONFIG = """
[phases.coverage]
unexpected-methods = []

[phases.coverage.generation]
mode = "negative"
"""


@pytest.fixture(scope="module")
def tokens(client: httpx.Client, district: str) -> dict[str, str]:
    found = {role: login(client, username)["access_token"] for role, username in DEMO_LOGINS.items()}
    return {"district": district, "integration": integration_token(client, district), **found}


@pytest.fixture(scope="module")
def document(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    services = {path.split("/")[3] for path in doc["paths"] if path.startswith("/api/v1/")}
    assert {"registry", "activities", "evaluation"} <= services  # the merge is complete
    return doc


def admitted(path: str, method: str, role: str) -> bool:
    """Whether the gateway's route policy lets ``role`` call this operation at all."""
    parts = path.split("/", 4)
    if len(parts) < 4 or parts[3] not in policy.SERVICES:
        return True  # the gateway's own routes check roles themselves
    rule = policy.match(parts[3], "/" + (parts[4] if len(parts) > 4 else ""), method.upper())
    return rule is not None and role in rule.roles


def for_role(doc: dict[str, Any], role: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    paths: dict[str, Any] = {}
    for path, item in out["paths"].items():
        kept = {
            key: value for key, value in item.items() if key not in HTTP_METHODS or admitted(path, key, role)
        }
        if any(key in HTTP_METHODS for key in kept):
            paths[path] = kept
    out["paths"] = paths
    return out


def run_schemathesis(
    own: OwnStack, spec: dict[str, Any], token: str, workdir: Path, *, phases: str
) -> tuple[dict[str, Any], str]:
    spec_path = workdir / "openapi.json"
    spec_path.write_text(json.dumps(spec))
    report = workdir / "report.json"
    config = workdir / "schemathesis.toml"
    config.write_text(CONFIG)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--no-color",
            "--config-file",
            str(config),
            "run",
            str(spec_path),
            "--url",
            own.gateway_url,
            "--header",
            f"Authorization: Bearer {token}",
            "--phases",
            phases,
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--checks",
            ",".join(CHECKS),
            "--workers",
            "1",
            "--no-shrink",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--max-failures",
            "50",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert report.exists(), output[-5000:]
    return json.loads(report.read_text()), output


def _failures_section(output: str) -> str:
    start = output.find("FAILURES")
    return output[start if start >= 0 else 0 :][:20000]


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_every_operation_as_role(
    role: str, own: OwnStack, tokens: dict[str, str], document: dict[str, Any], tmp_path: Path
) -> None:
    spec = for_role(document, role)
    operations = sum(1 for item in spec["paths"].values() for key in item if key in HTTP_METHODS)
    assert operations > 0
    phases = "coverage,fuzzing" if role == "district" else "fuzzing"
    report, output = run_schemathesis(own, spec, tokens[role], tmp_path, phases=phases)
    assert report["operations"]["tested"] == report["operations"]["selected"] == operations, output[-5000:]
    assert report["test_cases"]["generated"] >= operations
    assert report["failures"] == [] and report["errors"] == [], _failures_section(output)
    assert report["exit_code"] == 0, output[-5000:]


def test_date_filters_take_the_extreme_dates(
    own: OwnStack, client: httpx.Client, district: str, document: dict[str, Any]
) -> None:
    """Every `from`/`to` date filter of a list answers the first and last representable dates
    (0001-01-01, 9999-12-31) like any other date, never with a 5xx (random fuzzing rarely draws
    them)."""
    probed = 0
    for path, item in document["paths"].items():
        get = item.get("get")
        if get is None or "{" in path:
            continue
        names = {
            p["name"]
            for p in get.get("parameters", [])
            if p["in"] == "query" and p["name"] in ("from", "to") and _is_date(p.get("schema", {}))
        }
        for name in sorted(names):
            for value in ("0001-01-01", "9999-12-31"):
                response = client.get(path, params={name: value}, headers=bearer(district))
                probed += 1
                assert response.status_code < 500, (path, name, value, response.text)
    assert probed >= 10


def _is_date(schema: dict[str, Any]) -> bool:
    options = [schema, *schema.get("anyOf", [])]
    return any(option.get("format") == "date" for option in options)
