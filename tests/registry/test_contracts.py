"""`/api/v1/registry/contracts` (5.1 服务购买合同) through the gateway: rules, roles, scope, If-Match,
and the operator scope a contract grants (the `sites` claim of the next login)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from tests.clock import day, today
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import (
    create_contract,
    create_org,
    create_site,
    create_user,
    error_fields,
    integration_token,
    user_token,
)

CONTRACTS = "/api/v1/registry/contracts"


def listed_ids(gateway: httpx.Client, token: str, **params: Any) -> set[str]:
    response = gateway.get(CONTRACTS, params={"limit": 200, **params}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return {c["id"] for c in response.json()["items"]}


def assert_hidden(gateway: httpx.Client, token: str, contract_id: str) -> None:
    """Out of scope answers exactly what a random id answers (same request id → same bytes)."""
    headers = {**bearer(token), "X-Request-ID": "contract-scope-check-01"}
    hidden = gateway.get(f"{CONTRACTS}/{contract_id}", headers=headers)
    missing = gateway.get(f"{CONTRACTS}/{uuid.uuid4()}", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["code"] == "contract_not_found"
    assert hidden.content == missing.content


@pytest.fixture(scope="module")
def world(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """Org A operates a 西兴 (XX) site, org B a 长河 (CH) site; A also had an expired contract.
    Tests may add contracts for org A and org C, never for org B."""
    org_a, org_b = create_org(gateway, district_token), create_org(gateway, district_token)
    org_c = create_org(gateway, district_token)  # holds the contracts the PATCH tests change
    site_xx, site_ch = create_site(gateway, district_token, "XX"), create_site(gateway, district_token, "CH")
    contract_a = create_contract(gateway, district_token, site_xx["id"], org_a["id"])
    contract_b = create_contract(gateway, district_token, site_ch["id"], org_b["id"], mode="joint")
    expired_a = create_contract(
        gateway, district_token, site_xx["id"], org_a["id"], starts_on="2020-01-01", ends_on="2020-12-31"
    )
    return {
        "org_a": org_a,
        "org_b": org_b,
        "org_c": org_c,
        "site_xx": site_xx,
        "site_ch": site_ch,
        "contract_a": contract_a,
        "contract_b": contract_b,
        "expired_a": expired_a,
        "operator_a": user_token(gateway, district_token, "operator", organization_id=org_a["id"]),
        "operator_b": user_token(gateway, district_token, "operator", organization_id=org_b["id"]),
        "evaluator": user_token(gateway, district_token, "evaluator", organization_id=org_b["id"]),
        "integration": integration_token(gateway, district_token),
    }


def body_for(world: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {
        "site_id": world["site_xx"]["id"],
        "organization_id": world["org_a"]["id"],
        "mode": "procurement",
        "starts_on": "2026-01-01",
        "ends_on": "2026-12-31",
        "amount": "360000.5",
        "deliverables": "每月主题活动不少于5场",
        **overrides,
    }


# --- POST /contracts ----------------------------------------------------------------------------


def test_create_contract(
    gateway: httpx.Client, district_token: str, world: dict[str, Any], stack: RunningStack
) -> None:
    response = gateway.post(CONTRACTS, json=body_for(world), headers=bearer(district_token))
    assert response.status_code == 201, response.text
    contract = response.json()
    assert contract["site_id"] == world["site_xx"]["id"]
    assert contract["organization_id"] == world["org_a"]["id"]
    assert contract["mode"] == "procurement"
    assert contract["starts_on"] == "2026-01-01" and contract["ends_on"] == "2026-12-31"
    assert contract["amount"] == "360000.50"  # a decimal string in yuan, never a float
    assert contract["active"] is (dt.date(2026, 1, 1) <= today() <= dt.date(2026, 12, 31))
    assert contract["version"] == 1
    assert response.headers["etag"]
    fetched = gateway.get(f"{CONTRACTS}/{contract['id']}", headers=bearer(district_token)).json()
    assert fetched == contract
    rows = stack.sql(
        "SELECT actor_role, after->>'amount' AS amount FROM registry.audit_log "
        "WHERE action = 'contract.create' AND object_id = $1",
        contract["id"],
    )
    assert [(r["actor_role"], r["amount"]) for r in rows] == [("district", "360000.50")]


def test_contract_amount_zero_and_single_day(
    gateway: httpx.Client, district_token: str, world: dict[str, Any]
) -> None:
    response = gateway.post(
        CONTRACTS,
        json=body_for(world, amount="0", starts_on=day(0), ends_on=day(0)),
        headers=bearer(district_token),
    )
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "0.00" and response.json()["active"] is True


def test_contract_grants_operator_scope_at_next_login(gateway: httpx.Client, district_token: str) -> None:
    org = create_org(gateway, district_token)
    site = create_site(gateway, district_token, "PY")
    user = create_user(gateway, district_token, "operator", organization_id=org["id"])
    before = login(gateway, user["username"])["access_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(before)).json()
    assert site["id"] not in (me["sites"] or [])
    # A contract that is not active today grants nothing.
    create_contract(
        gateway, district_token, site["id"], org["id"], starts_on="2019-01-01", ends_on="2019-12-31"
    )
    me = gateway.get(
        "/api/v1/auth/me", headers=bearer(login(gateway, user["username"])["access_token"])
    ).json()
    assert site["id"] not in (me["sites"] or [])
    create_contract(gateway, district_token, site["id"], org["id"], starts_on=day(0))
    after = login(gateway, user["username"])["access_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(after)).json()
    assert me["sites"] == [site["id"]]
    # …and the operator now sees its contracts, the site's registry entry included.
    assert len(listed_ids(gateway, after)) == 2
    assert gateway.get(f"/api/v1/registry/sites/{site['id']}", headers=bearer(after)).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"starts_on": "2026-06-01", "ends_on": "2026-05-31"}, "ends_on"),
        ({"site_id": str(uuid.uuid4())}, "site_id"),
        ({"organization_id": str(uuid.uuid4())}, "organization_id"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "12.345"}, "amount"),
        ({"amount": "NaN"}, "amount"),
        ({"amount": "1000000000000.00"}, "amount"),
        ({"mode": "outsourced"}, "mode"),
        ({"starts_on": "2026-02-30"}, "starts_on"),
        ({"site_id": "not-a-uuid"}, "site_id"),
        ({"status": "signed"}, "status"),
    ],
)
def test_create_contract_bad_input(
    gateway: httpx.Client, district_token: str, world: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    response = gateway.post(CONTRACTS, json=body_for(world, **overrides), headers=bearer(district_token))
    assert error_fields(response) == {field}


def test_create_contract_missing_fields(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.post(CONTRACTS, json={"mode": "procurement"}, headers=bearer(district_token))
    assert error_fields(response) == {"site_id", "organization_id", "starts_on", "ends_on", "amount"}


@pytest.mark.parametrize("who", ["street", "operator_a", "evaluator", "integration"])
def test_create_contract_refused_roles(
    gateway: httpx.Client,
    district_token: str,
    street_token: str,
    world: dict[str, Any],
    stack: RunningStack,
    who: str,
) -> None:
    token = street_token if who == "street" else world[who]
    marker = f"越权-{uuid.uuid4().hex}"
    response = gateway.post(CONTRACTS, json=body_for(world, deliverables=marker), headers=bearer(token))
    assert response.status_code == 403
    assert stack.sql("SELECT 1 FROM registry.contracts WHERE deliverables = $1", marker) == []


# --- GET /contracts -----------------------------------------------------------------------------


def test_list_filters(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    a, b, old = world["contract_a"]["id"], world["contract_b"]["id"], world["expired_a"]["id"]
    everything = listed_ids(gateway, district_token)
    assert {a, b, old} <= everything
    by_site = listed_ids(gateway, district_token, site_id=world["site_xx"]["id"])
    assert {a, old} <= by_site and b not in by_site
    by_org = listed_ids(gateway, district_token, organization_id=world["org_b"]["id"])
    assert by_org == {b}
    in_2020 = listed_ids(gateway, district_token, active_on="2020-06-30", site_id=world["site_xx"]["id"])
    assert in_2020 == {old}
    today = listed_ids(gateway, district_token, active_on=day(0), organization_id=world["org_a"]["id"])
    assert a in today and old not in today


def test_active_flag(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    items = gateway.get(
        CONTRACTS, params={"site_id": world["site_xx"]["id"], "limit": 200}, headers=bearer(district_token)
    ).json()["items"]
    active = {c["id"]: c["active"] for c in items}
    assert active[world["contract_a"]["id"]] is True
    assert active[world["expired_a"]["id"]] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [({"active_on": "2026-13-01"}, "active_on"), ({"site_id": "x"}, "site_id"), ({"limit": 0}, "limit")],
)
def test_list_bad_filters(
    gateway: httpx.Client, district_token: str, params: dict[str, Any], field: str
) -> None:
    assert error_fields(gateway.get(CONTRACTS, params=params, headers=bearer(district_token))) == {field}


def test_street_sees_only_its_streets_contracts(
    gateway: httpx.Client, street_token: str, world: dict[str, Any]
) -> None:
    mine = listed_ids(gateway, street_token)
    assert {world["contract_a"]["id"], world["expired_a"]["id"]} <= mine
    assert world["contract_b"]["id"] not in mine
    assert listed_ids(gateway, street_token, site_id=world["site_ch"]["id"]) == set()
    assert listed_ids(gateway, street_token, organization_id=world["org_b"]["id"]) == set()
    own = gateway.get(f"{CONTRACTS}/{world['contract_a']['id']}", headers=bearer(street_token))
    assert own.status_code == 200 and own.json()["id"] == world["contract_a"]["id"]
    assert_hidden(gateway, street_token, world["contract_b"]["id"])


def test_operator_sees_only_its_organizations_contracts(
    gateway: httpx.Client, district_token: str, world: dict[str, Any]
) -> None:
    of_a = listed_ids(gateway, district_token, organization_id=world["org_a"]["id"])
    assert {world["contract_a"]["id"], world["expired_a"]["id"]} <= of_a
    assert listed_ids(gateway, world["operator_a"]) == of_a  # expired contracts included
    assert listed_ids(gateway, world["operator_b"]) == {world["contract_b"]["id"]}
    assert listed_ids(gateway, world["operator_a"], organization_id=world["org_b"]["id"]) == set()
    assert listed_ids(gateway, world["operator_a"], site_id=world["site_ch"]["id"]) == set()
    assert (
        gateway.get(
            f"{CONTRACTS}/{world['expired_a']['id']}", headers=bearer(world["operator_a"])
        ).status_code
        == 200
    )
    assert_hidden(gateway, world["operator_a"], world["contract_b"]["id"])
    assert_hidden(gateway, world["operator_b"], world["contract_a"]["id"])


def test_integration_reads_everything(gateway: httpx.Client, world: dict[str, Any]) -> None:
    assert {world["contract_a"]["id"], world["contract_b"]["id"]} <= listed_ids(gateway, world["integration"])
    response = gateway.get(f"{CONTRACTS}/{world['contract_b']['id']}", headers=bearer(world["integration"]))
    assert response.status_code == 200 and response.json()["amount"] == "480000.00"


def test_evaluator_is_refused(gateway: httpx.Client, world: dict[str, Any]) -> None:
    token = world["evaluator"]
    assert gateway.get(CONTRACTS, headers=bearer(token)).status_code == 403
    assert gateway.get(f"{CONTRACTS}/{world['contract_b']['id']}", headers=bearer(token)).status_code == 403


def test_contracts_need_a_token(gateway: httpx.Client) -> None:
    assert gateway.get(CONTRACTS).status_code == 401


# --- PATCH /contracts/{id} ----------------------------------------------------------------------


def new_contract(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> tuple[str, str]:
    """A contract of org C for the PATCH tests, over a fixed period (2026-01-01 to 2027-12-31):
    whether it is active today does not matter to them."""
    contract = create_contract(
        gateway,
        district_token,
        world["site_ch"]["id"],
        world["org_c"]["id"],
        starts_on="2026-01-01",
        ends_on="2027-12-31",
    )
    etag = gateway.get(f"{CONTRACTS}/{contract['id']}", headers=bearer(district_token)).headers["etag"]
    return contract["id"], etag


def test_update_contract(
    gateway: httpx.Client, district_token: str, world: dict[str, Any], stack: RunningStack
) -> None:
    contract_id, etag = new_contract(gateway, district_token, world)
    response = gateway.patch(
        f"{CONTRACTS}/{contract_id}",
        json={"ends_on": "2020-12-31", "starts_on": "2020-01-01", "amount": "500000", "mode": "joint"},
        headers={**bearer(district_token), "If-Match": etag},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["starts_on"], updated["ends_on"]) == ("2020-01-01", "2020-12-31")
    assert updated["amount"] == "500000.00" and updated["mode"] == "joint"
    assert updated["active"] is False and updated["version"] == 2
    assert response.headers["etag"] != etag
    assert gateway.get(f"{CONTRACTS}/{contract_id}", headers=bearer(district_token)).json() == updated
    rows = stack.sql(
        "SELECT before->>'ends_on' AS before, after->>'ends_on' AS after FROM registry.audit_log "
        "WHERE action = 'contract.update' AND object_id = $1",
        contract_id,
    )
    assert [(r["before"], r["after"]) for r in rows] == [("2027-12-31", "2020-12-31")]


def test_update_needs_if_match(gateway: httpx.Client, district_token: str, world: dict[str, Any]) -> None:
    contract_id, etag = new_contract(gateway, district_token, world)
    path = f"{CONTRACTS}/{contract_id}"
    missing = gateway.patch(path, json={"amount": "1.00"}, headers=bearer(district_token))
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    ok = gateway.patch(path, json={"amount": "2.00"}, headers={**bearer(district_token), "If-Match": etag})
    assert ok.status_code == 200
    stale = gateway.patch(path, json={"amount": "3.00"}, headers={**bearer(district_token), "If-Match": etag})
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert gateway.get(path, headers=bearer(district_token)).json()["amount"] == "2.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ends_on": "2025-12-31"}, "ends_on"),  # before the contract's starts_on (2026-01-01)
        ({"starts_on": "2028-01-01"}, "starts_on"),  # after its ends_on (2027-12-31)
        ({"site_id": str(uuid.uuid4())}, "site_id"),
        ({"organization_id": str(uuid.uuid4())}, "organization_id"),
        ({"amount": "-0.01"}, "amount"),
        ({"amount": None}, "amount"),
        ({"id": str(uuid.uuid4())}, "id"),
    ],
)
def test_update_bad_input(
    gateway: httpx.Client, district_token: str, world: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    contract_id, etag = new_contract(gateway, district_token, world)
    response = gateway.patch(
        f"{CONTRACTS}/{contract_id}", json=body, headers={**bearer(district_token), "If-Match": etag}
    )
    assert error_fields(response) == {field}
    assert gateway.get(f"{CONTRACTS}/{contract_id}", headers=bearer(district_token)).headers["etag"] == etag


@pytest.mark.parametrize("who", ["street", "operator_b", "evaluator", "integration"])
def test_update_refused_roles(
    gateway: httpx.Client, district_token: str, street_token: str, world: dict[str, Any], who: str
) -> None:
    token = street_token if who == "street" else world[who]
    contract_id, etag = new_contract(gateway, district_token, world)
    response = gateway.patch(
        f"{CONTRACTS}/{contract_id}", json={"amount": "1.00"}, headers={**bearer(token), "If-Match": etag}
    )
    assert response.status_code == 403
    assert (
        gateway.get(f"{CONTRACTS}/{contract_id}", headers=bearer(district_token)).json()["amount"]
        == "480000.00"
    )


def test_update_unknown_id_is_404(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.patch(
        f"{CONTRACTS}/{uuid.uuid4()}",
        json={"amount": "1"},
        headers={**bearer(district_token), "If-Match": "*"},
    )
    assert response.status_code == 404 and response.json()["code"] == "contract_not_found"
