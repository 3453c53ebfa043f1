"""`/api/v1/registry/organizations` through the gateway: USCC rules, roles, scope, If-Match, audit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.registry.organizations.uscc import ALPHABET
from tests.conftest import RunningStack, bearer
from tests.registry.factories import create_org, error_fields, integration_token, user_token, valid_uscc

ORGS = "/api/v1/registry/organizations"
REAL_USCCS = ["91330100799655058B", "91440300708461136T", "91110000802100433B"]


def wrong_check_character(uscc: str) -> str:
    return uscc[:17] + next(ch for ch in ALPHABET if ch != uscc[17])


def get_with_rid(gateway: httpx.Client, path: str, token: str) -> httpx.Response:
    """A GET with a fixed request id, so two 404 bodies can be compared byte for byte."""
    return gateway.get(path, headers={**bearer(token), "X-Request-ID": "org-scope-check-0001"})


@pytest.fixture(scope="module")
def world(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """Two organisations, an operator and an evaluator user of org A, and an integration client."""
    org_a = create_org(gateway, district_token, name="亲邻社会工作服务中心A", kind="social_org")
    org_b = create_org(
        gateway, district_token, name="长河社区睦邻会B", kind="community_social_org", registration="filed"
    )
    return {
        "a": org_a,
        "b": org_b,
        "operator_a": user_token(gateway, district_token, "operator", organization_id=org_a["id"]),
        "evaluator_a": user_token(gateway, district_token, "evaluator", organization_id=org_a["id"]),
        "integration": integration_token(gateway, district_token),
    }


# --- POST /organizations ------------------------------------------------------------------------


def test_create_organization(gateway: httpx.Client, district_token: str, stack: RunningStack) -> None:
    uscc = valid_uscc()
    response = gateway.post(
        ORGS,
        json={
            "name": "滨江区邻里守望社工服务社",
            "uscc": uscc.lower(),
            "kind": "social_org",
            "registration": "registered",
            "service_areas": ["elderly", "family"],
        },
        headers=bearer(district_token),
    )
    assert response.status_code == 201, response.text
    org = response.json()
    assert org["uscc"] == uscc  # lower-case accepted, stored upper-case
    assert org["name"] == "滨江区邻里守望社工服务社"
    assert org["kind"] == "social_org" and org["registration"] == "registered"
    assert org["service_areas"] == ["elderly", "family"]
    assert org["version"] == 1
    assert response.headers["etag"]
    rows = stack.sql(
        "SELECT actor_role, after->>'uscc' AS uscc FROM registry.audit_log "
        "WHERE action = 'organization.create' AND object_id = $1",
        org["id"],
    )
    assert [(r["actor_role"], r["uscc"]) for r in rows] == [("district", uscc)]


@pytest.mark.parametrize("uscc", REAL_USCCS)
def test_real_usccs_validate(gateway: httpx.Client, district_token: str, uscc: str) -> None:
    body = {"name": "真实代码校验", "uscc": uscc.lower(), "kind": "social_org", "registration": "registered"}
    existing = gateway.get(ORGS, params={"q": uscc}, headers=bearer(district_token)).json()["items"]
    response = gateway.post(ORGS, json=body, headers=bearer(district_token))
    if existing:  # demo data may already hold it: then the valid code is refused as taken, not as invalid
        assert response.status_code == 409 and response.json()["code"] == "uscc_taken"
    else:
        assert response.status_code == 201, response.text
        assert response.json()["uscc"] == uscc


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"uscc": wrong_check_character("91330100799655058B")}, "uscc"),
        ({"uscc": "91330100799655058"}, "uscc"),  # 17 characters
        ({"uscc": "9133010079965505IB"}, "uscc"),  # I is not in the GB 32100 alphabet
        ({"uscc": "91330100799655058B0"}, "uscc"),
        ({"kind": "company"}, "kind"),
        ({"registration": "pending"}, "registration"),
        ({"name": ""}, "name"),
        ({"nickname": "x"}, "nickname"),
    ],
)
def test_create_organization_bad_input(
    gateway: httpx.Client, district_token: str, overrides: dict[str, Any], field: str
) -> None:
    body = {
        "name": "坏输入",
        "uscc": valid_uscc(),
        "kind": "social_org",
        "registration": "filed",
        **overrides,
    }
    response = gateway.post(ORGS, json=body, headers=bearer(district_token))
    assert error_fields(response) == {field}


def test_wrong_check_character_message(gateway: httpx.Client, district_token: str) -> None:
    body = {
        "name": "x",
        "uscc": wrong_check_character(valid_uscc()),
        "kind": "social_org",
        "registration": "filed",
    }
    errors = gateway.post(ORGS, json=body, headers=bearer(district_token)).json()["errors"]
    assert errors[0]["field"] == "uscc" and "check character" in errors[0]["message"]


def test_duplicate_uscc_is_409(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    body = {"name": "重复", "uscc": world["a"]["uscc"].lower(), "kind": "social_org", "registration": "filed"}
    response = gateway.post(ORGS, json=body, headers=bearer(district_token))
    assert response.status_code == 409
    assert response.json()["code"] == "uscc_taken"


@pytest.mark.parametrize("who", ["street", "operator_a", "evaluator_a", "integration"])
def test_create_organization_refused_roles(
    gateway: httpx.Client, district_token: str, street_token: str, world: dict[str, Any], who: str
) -> None:
    token = street_token if who == "street" else world[who]
    uscc = valid_uscc()
    body = {"name": "越权", "uscc": uscc, "kind": "social_org", "registration": "filed"}
    response = gateway.post(ORGS, json=body, headers=bearer(token))
    assert response.status_code == 403
    assert gateway.get(ORGS, params={"q": uscc}, headers=bearer(district_token)).json()["items"] == []


def test_create_organization_needs_a_token(gateway: httpx.Client) -> None:
    body = {"name": "x", "uscc": valid_uscc(), "kind": "social_org", "registration": "filed"}
    assert gateway.post(ORGS, json=body).status_code == 401


def test_create_is_idempotent(gateway: httpx.Client, district_token: str) -> None:
    body = {"name": "幂等", "uscc": valid_uscc(), "kind": "social_org", "registration": "filed"}
    headers = {**bearer(district_token), "Idempotency-Key": uuid.uuid4().hex}
    first = gateway.post(ORGS, json=body, headers=headers)
    again = gateway.post(ORGS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert (
        len(gateway.get(ORGS, params={"q": body["uscc"]}, headers=bearer(district_token)).json()["items"])
        == 1
    )


# --- GET /organizations -------------------------------------------------------------------------


def test_list_filters(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    def ids(**params: Any) -> set[str]:
        response = gateway.get(ORGS, params={"limit": 200, **params}, headers=bearer(district_token))
        assert response.status_code == 200, response.text
        return {o["id"] for o in response.json()["items"]}

    a, b = world["a"]["id"], world["b"]["id"]
    community = ids(kind="community_social_org")
    assert b in community and a not in community
    filed = ids(registration="filed")
    assert b in filed and a not in filed
    assert ids(q="睦邻会B") == {b}
    assert ids(q=world["a"]["uscc"][3:12].lower()) == {a}  # part of the USCC, any case
    assert ids(q="%") == set()  # LIKE wildcards are literal
    assert ids(q="no-such-organisation") == set()


def test_list_pagination(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = gateway.get(ORGS, params=params, headers=bearer(district_token)).json()
        assert len(page["items"]) <= 2
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    assert {world["a"]["id"], world["b"]["id"]} <= set(seen)


@pytest.mark.parametrize(("params", "field"), [({"kind": "x"}, "kind"), ({"limit": 201}, "limit")])
def test_list_bad_filters(
    gateway: httpx.Client, district_token: str, params: dict[str, Any], field: str
) -> None:
    assert error_fields(gateway.get(ORGS, params=params, headers=bearer(district_token))) == {field}


def test_street_and_integration_see_every_organization(
    gateway: httpx.Client, street_token: str, world: dict[str, Any]
) -> None:
    for token in (street_token, world["integration"]):
        listed = gateway.get(ORGS, params={"limit": 200}, headers=bearer(token)).json()["items"]
        assert {world["a"]["id"], world["b"]["id"]} <= {o["id"] for o in listed}
        assert gateway.get(f"{ORGS}/{world['b']['id']}", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("who", ["operator_a", "evaluator_a"])
def test_operator_and_evaluator_see_only_their_own(
    gateway: httpx.Client, world: dict[str, Any], who: str
) -> None:
    token = world[who]
    listed = gateway.get(ORGS, params={"limit": 200}, headers=bearer(token)).json()["items"]
    assert [o["id"] for o in listed] == [world["a"]["id"]]
    # Filters cannot widen the scope.
    assert gateway.get(ORGS, params={"q": world["b"]["uscc"]}, headers=bearer(token)).json()["items"] == []
    own = gateway.get(f"{ORGS}/{world['a']['id']}", headers=bearer(token))
    assert own.status_code == 200 and own.json()["uscc"] == world["a"]["uscc"]
    other = get_with_rid(gateway, f"{ORGS}/{world['b']['id']}", token)
    missing = get_with_rid(gateway, f"{ORGS}/{uuid.uuid4()}", token)
    assert other.status_code == missing.status_code == 404
    assert other.json()["code"] == "organization_not_found"
    assert other.content == missing.content


# --- GET /organizations/{id} --------------------------------------------------------------------


def test_get_organization(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    response = gateway.get(f"{ORGS}/{world['b']['id']}", headers=bearer(district_token))
    assert response.status_code == 200
    assert response.json() == world["b"]
    assert response.headers["etag"].startswith('"')


def test_get_unknown_and_malformed_ids(gateway: httpx.Client, district_token: str) -> None:
    missing = gateway.get(f"{ORGS}/{uuid.uuid4()}", headers=bearer(district_token))
    assert missing.status_code == 404 and missing.json()["code"] == "organization_not_found"
    assert error_fields(gateway.get(f"{ORGS}/not-a-uuid", headers=bearer(district_token))) == {
        "organization_id"
    }


# --- PATCH /organizations/{id} ------------------------------------------------------------------


def test_update_organization(gateway: httpx.Client, district_token: str, stack: RunningStack) -> None:
    org = create_org(gateway, district_token)
    etag = gateway.get(f"{ORGS}/{org['id']}", headers=bearer(district_token)).headers["etag"]
    new_uscc = valid_uscc()
    response = gateway.patch(
        f"{ORGS}/{org['id']}",
        json={"name": "改名后的社工中心", "registration": "filed", "uscc": new_uscc.lower()},
        headers={**bearer(district_token), "If-Match": etag},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "改名后的社工中心"
    assert updated["registration"] == "filed"
    assert updated["uscc"] == new_uscc
    assert updated["kind"] == org["kind"]  # untouched
    assert updated["version"] == org["version"] + 1
    assert response.headers["etag"] != etag
    again = gateway.get(f"{ORGS}/{org['id']}", headers=bearer(district_token))
    assert again.json()["name"] == "改名后的社工中心" and again.headers["etag"] == response.headers["etag"]
    audit = stack.sql(
        "SELECT before->>'name' AS before, after->>'name' AS after FROM registry.audit_log "
        "WHERE action = 'organization.update' AND object_id = $1",
        org["id"],
    )
    assert [(r["before"], r["after"]) for r in audit] == [(org["name"], "改名后的社工中心")]


def test_update_needs_if_match(gateway: httpx.Client, district_token: str) -> None:
    org = create_org(gateway, district_token)
    path = f"{ORGS}/{org['id']}"
    missing = gateway.patch(path, json={"name": "无"}, headers=bearer(district_token))
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    etag = gateway.get(path, headers=bearer(district_token)).headers["etag"]
    ok = gateway.patch(path, json={"name": "一改"}, headers={**bearer(district_token), "If-Match": etag})
    assert ok.status_code == 200
    stale = gateway.patch(path, json={"name": "二改"}, headers={**bearer(district_token), "If-Match": etag})
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert gateway.get(path, headers=bearer(district_token)).json()["name"] == "一改"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"uscc": "91330100799655058C"}, "uscc"),
        ({"uscc": "9133010079965505"}, "uscc"),
        ({"uscc": None}, "uscc"),
        ({"name": None}, "name"),
        ({"kind": "club"}, "kind"),
        ({"version": 7}, "version"),
    ],
)
def test_update_bad_input(
    gateway: httpx.Client, district_token: str, body: dict[str, Any], field: str
) -> None:
    org = create_org(gateway, district_token)
    etag = gateway.get(f"{ORGS}/{org['id']}", headers=bearer(district_token)).headers["etag"]
    response = gateway.patch(
        f"{ORGS}/{org['id']}", json=body, headers={**bearer(district_token), "If-Match": etag}
    )
    assert error_fields(response) == {field}


def test_update_to_a_taken_uscc_is_409(
    gateway: httpx.Client, district_token: str, world: dict[str, Any]
) -> None:
    org = create_org(gateway, district_token)
    etag = gateway.get(f"{ORGS}/{org['id']}", headers=bearer(district_token)).headers["etag"]
    response = gateway.patch(
        f"{ORGS}/{org['id']}",
        json={"uscc": world["a"]["uscc"]},
        headers={**bearer(district_token), "If-Match": etag},
    )
    assert response.status_code == 409 and response.json()["code"] == "uscc_taken"
    assert gateway.get(f"{ORGS}/{org['id']}", headers=bearer(district_token)).json()["uscc"] == org["uscc"]


@pytest.mark.parametrize("who", ["street", "operator_a", "evaluator_a", "integration"])
def test_update_refused_roles(
    gateway: httpx.Client, district_token: str, street_token: str, world: dict[str, Any], who: str
) -> None:
    token = street_token if who == "street" else world[who]
    path = f"{ORGS}/{world['a']['id']}"
    etag = gateway.get(path, headers=bearer(district_token)).headers["etag"]
    response = gateway.patch(path, json={"name": "越权改名"}, headers={**bearer(token), "If-Match": etag})
    assert response.status_code == 403
    assert gateway.get(path, headers=bearer(district_token)).json()["name"] == world["a"]["name"]


def test_update_unknown_id_is_404(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.patch(
        f"{ORGS}/{uuid.uuid4()}", json={"name": "x"}, headers={**bearer(district_token), "If-Match": '"x.1"'}
    )
    assert response.status_code == 404 and response.json()["code"] == "organization_not_found"
