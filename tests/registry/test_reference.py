"""Reference data through the gateway: streets, communities, enums (any authenticated role)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.common.enums import LABELS
from services.registry.reference.data import STREETS
from tests.conftest import bearer, login

ROLES = ["district", "xixing", "operator", "evaluator"]


@pytest.mark.parametrize("username", ROLES)
def test_every_role_lists_the_seeded_streets(gateway: httpx.Client, username: str) -> None:
    token = login(gateway, username)["access_token"]
    body = gateway.get("/api/v1/registry/streets", headers=bearer(token)).json()
    assert {s["name"] for s in body["items"]} == {"西兴街道", "长河街道", "浦沿街道"}
    assert {s["id"] for s in body["items"]} == {str(s.id) for s in STREETS}  # stable ids
    assert body["next_cursor"] is None


def test_communities_filtered_by_street_and_paginated(gateway: httpx.Client, district_token: str) -> None:
    street = next(s for s in STREETS if s.code == "XX")
    seen: list[dict] = []
    cursor = None
    while True:
        params = {"street_id": str(street.id), "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = gateway.get(
            "/api/v1/registry/communities", params=params, headers=bearer(district_token)
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [c["code"] for c in seen] == sorted(c.code for c in street.communities)
    assert all(c["street_id"] == str(street.id) for c in seen)


def test_all_communities(gateway: httpx.Client, district_token: str) -> None:
    body = gateway.get(
        "/api/v1/registry/communities", params={"limit": 200}, headers=bearer(district_token)
    ).json()
    assert len(body["items"]) == sum(len(s.communities) for s in STREETS)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"street_id": "not-a-uuid"}, 422, "street_id"),
        ({"limit": 201}, 422, "limit"),
        ({"limit": 1000000000}, 422, "limit"),
        ({"limit": 0}, 422, "limit"),
    ],
)
def test_bad_community_queries(
    gateway: httpx.Client, district_token: str, params: dict, status: int, field: str
) -> None:
    response = gateway.get("/api/v1/registry/communities", params=params, headers=bearer(district_token))
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field


def test_unknown_street_is_404(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.get(
        "/api/v1/registry/communities",
        params={"street_id": str(uuid.uuid4())},
        headers=bearer(district_token),
    )
    assert response.status_code == 404 and response.json()["code"] == "street_not_found"


def test_enums_document_has_zh_and_en_labels_for_everything(gateway: httpx.Client, street_token: str) -> None:
    enums = gateway.get("/api/v1/registry/enums", headers=bearer(street_token)).json()["enums"]
    assert set(enums) == set(LABELS)
    operating_mode = {v["code"]: v["zh"] for v in enums["operating_mode"]["values"]}
    assert operating_mode == {
        "procurement": "政府购买服务",
        "self_operated": "社区自行运营",
        "joint": "第三方联合运营",
    }
    categories = [v["code"] for v in enums["service_category"]["values"]]
    assert len(categories) == 10 and "org_incubation" in categories
    assert all(v["zh"] and v["en"] for e in enums.values() for v in e["values"])


def test_reference_endpoints_need_a_token(gateway: httpx.Client) -> None:
    for path in ("/api/v1/registry/streets", "/api/v1/registry/communities", "/api/v1/registry/enums"):
        assert gateway.get(path).status_code == 401
