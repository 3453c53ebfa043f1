"""Build lists (6.2.2 公布建设名单) through the gateway: the district publishes the year's approved
filings as numbered, immutable versions that every role may read.

Each test uses its own far-ahead year; the district files with `late_allowed` so the filings can
be submitted whatever the window."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import community, operated_site, street

API = "/api/v1/registry"
FILINGS = f"{API}/filings"


def build_list_path(year: int, version: int | None = None) -> str:
    path = f"{API}/build-lists/{year}"
    return path if version is None else f"{path}/versions/{version}"


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body


def approved_filing(
    gateway: httpx.Client, token: str, year: int, street_code: str = "XX", index: int = 0, **overrides: Any
) -> dict[str, Any]:
    comm = community(street_code, index)
    body = {
        "year": year,
        "kind": "hub_plan",
        "filer_name": street(street_code).name,
        "street_id": str(street(street_code).id),
        "community_id": str(comm.id),
        "title": f"{comm.name}美好生活共同体建设计划",
        "planned_area_m2": "500.00",
        "budget": "800000.00",
        "funding_source": "区级财政",
        "planned_start": f"{year}-05-01",
        "planned_finish": f"{year}-11-30",
        "description": "新建",
        "late_allowed": True,
        **overrides,
    }
    filing = ok(gateway.post(FILINGS, json=body, headers=bearer(token)), 201)
    ok(gateway.post(f"{FILINGS}/{filing['id']}/submit", headers=bearer(token)))
    return ok(
        gateway.post(f"{FILINGS}/{filing['id']}/approve", json={"comment": "同意"}, headers=bearer(token))
    )


def publish(gateway: httpx.Client, token: str, year: int) -> httpx.Response:
    return gateway.post(f"{build_list_path(year)}/publish", headers=bearer(token))


@pytest.fixture(scope="module")
def readers(gateway: httpx.Client, district_token: str, street_token: str) -> dict[str, str]:
    return {
        "district": district_token,
        "street": street_token,
        "changhe": login(gateway, "changhe")["access_token"],
        "evaluator": login(gateway, "evaluator")["access_token"],
        "operator": operated_site(gateway, district_token, "PY")["operator_token"],
    }


def test_publish_v1_then_v2_after_another_approval(
    gateway: httpx.Client, readers: dict[str, str], stack: RunningStack
) -> None:
    district, year = readers["district"], 2061
    problem(gateway.get(build_list_path(year), headers=bearer(district)), 404, "build_list_not_found")

    first = approved_filing(gateway, district, year, "XX", 1, budget="800000.00")
    # Filings that are not approved stay off the list.
    draft = ok(
        gateway.post(
            FILINGS,
            json={
                "year": year,
                "kind": "facility",
                "facility_type": "canteen",
                "filer_name": "滨江区卫生健康局",
                "street_id": str(street("CH").id),
                "community_id": str(community("CH", 1).id),
                "title": "邻里食堂",
            },
            headers=bearer(district),
        ),
        201,
    )

    v1 = ok(publish(gateway, district, year), 201)
    assert (v1["year"], v1["version"], v1["item_count"]) == (year, 1, 1)
    assert v1["published_by"] and v1["published_at"]
    item = v1["items"][0]
    assert item["filing_id"] == first["id"] and item["site_id"] == first["site_id"]
    for field in (
        "kind",
        "title",
        "filer_name",
        "street_id",
        "community_id",
        "facility_type",
        "planned_area_m2",
        "budget",
        "funding_source",
        "planned_start",
        "planned_finish",
        "description",
    ):
        assert item[field] == first[field], field
    assert item["budget"] == "800000.00" and v1["total_budget"] == "800000.00"
    assert item["approved_at"]
    assert draft["id"] not in str(v1)

    second = approved_filing(
        gateway, district, year, "PY", 3, budget="1500000.50", kind="facility", facility_type="childcare"
    )
    v2 = ok(publish(gateway, district, year), 201)
    assert (v2["version"], v2["item_count"]) == (2, 2)
    assert [i["filing_id"] for i in v2["items"]] == [first["id"], second["id"]]
    assert v2["total_budget"] == "2300000.50"
    assert v2["items"][1]["kind"] == "facility" and v2["items"][1]["site_id"] is None

    # v1 is frozen; the latest is v2.
    assert ok(gateway.get(build_list_path(year, 1), headers=bearer(district))) == v1
    assert ok(gateway.get(build_list_path(year, 2), headers=bearer(district))) == v2
    assert ok(gateway.get(build_list_path(year), headers=bearer(district))) == v2
    problem(gateway.get(build_list_path(year, 3), headers=bearer(district)), 404, "build_list_not_found")

    rows = stack.sql(
        "SELECT object_id, actor_role, after->>'version' AS version FROM registry.audit_log"
        " WHERE action = 'build_list.publish' AND object_id LIKE $1 ORDER BY occurred_at",
        f"{year}/%",
    )
    assert [(r["object_id"], r["actor_role"], r["version"]) for r in rows] == [
        (f"{year}/v1", "district", "1"),
        (f"{year}/v2", "district", "2"),
    ]


def test_every_role_reads_build_lists(gateway: httpx.Client, readers: dict[str, str]) -> None:
    year = 2062
    filing = approved_filing(gateway, readers["district"], year, "CH", 4)
    published = ok(publish(gateway, readers["district"], year), 201)
    for role, token in readers.items():
        latest = ok(gateway.get(build_list_path(year), headers=bearer(token)))
        assert latest == published, role
        assert [i["filing_id"] for i in latest["items"]] == [filing["id"]], role
        assert ok(gateway.get(build_list_path(year, 1), headers=bearer(token))) == published, role


@pytest.mark.parametrize("role", ["street", "changhe", "evaluator", "operator"])
def test_only_the_district_publishes(gateway: httpx.Client, readers: dict[str, str], role: str) -> None:
    year = 2063
    approved_filing(gateway, readers["district"], year, "XX", 7, title=f"计划 {uuid.uuid4().hex[:6]}")
    assert publish(gateway, readers[role], year).status_code == 403
    problem(
        gateway.get(build_list_path(year), headers=bearer(readers["district"])), 404, "build_list_not_found"
    )


def test_nothing_to_publish(gateway: httpx.Client, district_token: str) -> None:
    year = 2064
    problem(publish(gateway, district_token, year), 409, "nothing_to_publish")
    # A submitted (not yet approved) filing is still nothing to publish.
    filing = ok(
        gateway.post(
            FILINGS,
            json={
                "year": year,
                "kind": "hub_plan",
                "filer_name": "西兴街道",
                "street_id": str(street("XX").id),
                "community_id": str(community("XX", 3).id),
                "title": "铁岭花园社区共同体建设计划",
                "late_allowed": True,
            },
            headers=bearer(district_token),
        ),
        201,
    )
    ok(gateway.post(f"{FILINGS}/{filing['id']}/submit", headers=bearer(district_token)))
    problem(publish(gateway, district_token, year), 409, "nothing_to_publish")
    problem(gateway.get(build_list_path(year), headers=bearer(district_token)), 404, "build_list_not_found")


def test_concurrent_publishes_take_distinct_versions(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    year = 2065
    approved_filing(gateway, district_token, year, "PY", 5)

    def one_publish(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(gateway.base_url), timeout=20.0) as client:
            return publish(client, district_token, year)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(one_publish, range(6)))
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == [1, 2, 3, 4, 5, 6]
    rows = stack.sql("SELECT version FROM registry.build_lists WHERE year = $1 ORDER BY version", year)
    assert [r["version"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert ok(gateway.get(build_list_path(year), headers=bearer(district_token)))["version"] == 6


def test_publish_is_idempotent_with_a_key(gateway: httpx.Client, district_token: str) -> None:
    year = 2066
    approved_filing(gateway, district_token, year, "XX", 8)
    headers = {**bearer(district_token), "Idempotency-Key": f"publish-{uuid.uuid4()}"}
    first = gateway.post(f"{build_list_path(year)}/publish", headers=headers)
    again = gateway.post(f"{build_list_path(year)}/publish", headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json() and first.json()["version"] == 1
    problem(
        gateway.get(build_list_path(year, 2), headers=bearer(district_token)), 404, "build_list_not_found"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/build-lists/1999",
        "/build-lists/soon",
        "/build-lists/2061/versions/0",
        "/build-lists/2061/versions/latest",
        "/build-lists/2200/publish",
    ],
)
def test_bad_build_list_paths(gateway: httpx.Client, district_token: str, path: str) -> None:
    method = gateway.post if path.endswith("/publish") else gateway.get
    response = method(f"{API}{path}", headers=bearer(district_token))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
