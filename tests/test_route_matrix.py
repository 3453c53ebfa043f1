"""Every operation of the merged OpenAPI document, called by every kind of caller, compared with
the role × route policy of tests/security/policy.py.

Generated from `GET /openapi.json`, so a new route is covered the moment it exists — and fails
until it has a policy entry:

* every operation has exactly one policy entry, and every entry an operation;
* as each role (district, street, operator, evaluator, integration, anonymous) through the
  gateway: the outcome the table says — `allowed` (reaches the handler: 2xx or a domain 4xx for
  the random ids and empty bodies sent), `forbidden` (403), `unauthenticated` (401);
* the same calls straight to each domain service (bypassing the gateway's route policy) give the
  same outcome: the services check roles themselves and trust nobody;
* never a 5xx, and every error is problem+json.
The table itself keeps the old guarantees: anonymous callers get 401 everywhere but the token
endpoints and the JWKS, and data platforms (`integration`) never write.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import integration_token
from tests.security.openapi import Operation, merged_document, operations
from tests.security.policy import POLICY, PUBLIC, ROLES, USER_ROLES, Outcome


@pytest.fixture(scope="module")
def ops(gateway: httpx.Client) -> list[Operation]:
    return operations(merged_document(gateway))


@pytest.fixture(scope="module")
def tokens(gateway: httpx.Client, district_token: str) -> dict[str, str | None]:
    return {
        "district": district_token,
        "street": login(gateway, "xixing")["access_token"],
        "operator": login(gateway, "operator")["access_token"],
        "evaluator": login(gateway, "evaluator")["access_token"],
        "integration": integration_token(gateway, district_token),
        "anonymous": None,
    }


def _call(client: httpx.Client, method: str, url: str, token: str | None) -> httpx.Response:
    headers = bearer(token) if token else {}
    if method in ("PATCH", "PUT", "DELETE"):
        headers["If-Match"] = '"0"'
    body: Any = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, url, json=body, headers=headers)


def _outcome(response: httpx.Response) -> str:
    status = response.status_code
    if status == 401:
        return Outcome.UNAUTHENTICATED
    if status == 403:
        return Outcome.FORBIDDEN
    code = response.json().get("code") if status >= 400 else None
    if status >= 500 or status == 405 or code == "route_not_found":
        # Not an outcome any table entry may name: a crash, or the route is not reachable.
        return f"{status} {code}"
    return Outcome.ALLOWED


def _check(response: httpx.Response, op: Operation, expected: str, role: str) -> str | None:
    got = _outcome(response)
    if response.status_code >= 400 and response.headers.get("content-type") != "application/problem+json":
        return f"{op.key} as {role}: {response.status_code} is not problem+json"
    if got != expected:
        return f"{op.key} as {role}: expected {expected}, got {got} ({response.text[:160]})"
    return None


def test_every_route_has_a_policy_and_every_policy_a_route(ops: list[Operation]) -> None:
    documented = {op.key for op in ops}
    problems = [f"new route without policy: {k}" for k in sorted(documented - POLICY.keys())]
    problems += [f"policy for a route that no longer exists: {k}" for k in sorted(POLICY.keys() - documented)]
    assert problems == []


def test_the_table_keeps_the_baseline_guarantees() -> None:
    """Whatever else the table says: no token → 401 except login/refresh/logout/JWKS, and data
    platforms never write; every entry names every role."""
    public = {k for k, expect in POLICY.items() if expect == PUBLIC}
    assert public == {
        "POST /api/v1/auth/token",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "GET /.well-known/jwks.json",
    }
    for k, expect in POLICY.items():
        assert set(expect) == set(ROLES), k
        if k not in public:
            assert expect["anonymous"] is Outcome.UNAUTHENTICATED, k
            if not k.startswith("GET "):
                assert expect["integration"] is Outcome.FORBIDDEN, k
            assert any(expect[r] is Outcome.ALLOWED for r in USER_ROLES), k


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_the_policy_says(
    gateway: httpx.Client, ops: list[Operation], tokens: dict[str, str | None], role: str
) -> None:
    wrong = []
    for op in ops:
        if op.key not in POLICY:
            continue  # reported by the test above
        problem = _check(_call(gateway, op.method, op.url(), tokens[role]), op, POLICY[op.key][role], role)
        if problem:
            wrong.append(problem)
    assert wrong == []


@pytest.mark.parametrize("role", ROLES)
def test_domain_services_enforce_the_policy_without_the_gateway(
    stack: RunningStack, ops: list[Operation], tokens: dict[str, str | None], role: str
) -> None:
    """Straight to each service, past the gateway's coarse route table: the same answer. A service
    never relies on the gateway to keep a role out."""
    wrong = []
    clients = {
        name: httpx.Client(base_url=stack.service_url(name), timeout=20.0)
        for name in ("registry", "activities", "evaluation")
    }
    try:
        for op in ops:
            if op.service is None or op.key not in POLICY:
                continue
            response = _call(clients[op.service], op.method, op.service_url(), tokens[role])
            problem = _check(response, op, POLICY[op.key][role], role)
            if problem:
                wrong.append(f"(direct) {problem}")
    finally:
        for client in clients.values():
            client.close()
    assert wrong == []
