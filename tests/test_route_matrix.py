"""Every operation of the merged OpenAPI document, called by every kind of caller.

Generated from `GET /openapi.json`, so a new route is covered the moment it exists:
* anonymous → 401 everywhere except the token endpoints and the JWKS;
* a data platform (role `integration`, read-only) → 403 on every write;
* every role → never a 5xx, whatever the (random) ids in the path.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import bearer, login
from tests.registry.factories import integration_token

PUBLIC = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/.well-known/jwks.json"),
}
# Path parameters that are not ids; the year is one no test uses (a publish there finds nothing).
PARAM_VALUES = {"year": "2099", "n": "1", "code": "C01", "version": "2023-draft", "month": "2026-03"}


def _operations(gateway: httpx.Client) -> list[tuple[str, str, str]]:
    doc = gateway.get("/openapi.json").json()
    ops = []
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                concrete = re.sub(
                    r"\{(\w+)\}", lambda m: PARAM_VALUES.get(m.group(1), str(uuid.uuid4())), path
                )
                ops.append((method.upper(), path, concrete))
    return ops


@pytest.fixture(scope="module")
def operations(gateway: httpx.Client) -> list[tuple[str, str, str]]:
    ops = _operations(gateway)
    # The document covers all four services (a service that was down would be missing).
    assert len(ops) > 100
    assert {p.split("/")[3] for _, p, _ in ops if p.startswith("/api/v1/")} >= {
        "auth",
        "users",
        "clients",
        "registry",
        "activities",
        "evaluation",
    }
    return ops


@pytest.fixture(scope="module")
def tokens(gateway: httpx.Client, district_token: str) -> dict[str, str]:
    return {
        "district": district_token,
        "street": login(gateway, "xixing")["access_token"],
        "operator": login(gateway, "operator")["access_token"],
        "evaluator": login(gateway, "evaluator")["access_token"],
        "integration": integration_token(gateway, district_token),
    }


def _call(gateway: httpx.Client, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    body: Any = {} if method in ("POST", "PUT", "PATCH") else None
    return gateway.request(method, url, json=body, headers=headers)


def test_anonymous_callers_get_401_everywhere_but_the_token_endpoints(
    gateway: httpx.Client, operations: list[tuple[str, str, str]]
) -> None:
    wrong = []
    for method, path, url in operations:
        if (method, path) in PUBLIC:
            continue
        response = _call(gateway, method, url, {})
        if response.status_code != 401:
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []


def test_data_platforms_never_write(
    gateway: httpx.Client, operations: list[tuple[str, str, str]], tokens: dict[str, str]
) -> None:
    wrong = []
    for method, path, url in operations:
        if method == "GET" or (method, path) in PUBLIC:
            continue
        response = _call(gateway, method, url, bearer(tokens["integration"]))
        if response.status_code != 403:
            wrong.append(f"{method} {path}: {response.status_code}")
    assert wrong == []


@pytest.mark.parametrize("role", ["district", "street", "operator", "evaluator", "integration"])
def test_no_route_answers_5xx_to_any_role(
    gateway: httpx.Client, operations: list[tuple[str, str, str]], tokens: dict[str, str], role: str
) -> None:
    wrong = []
    for method, path, url in operations:
        if (method, path) in PUBLIC or method == "DELETE":
            continue
        response = _call(gateway, method, url, bearer(tokens[role]))
        if response.status_code >= 500:
            wrong.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
        elif response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", f"{method} {path}"
    assert wrong == []
