"""`/api/v1/activities/brand-projects` and `/recognitions` (Table C.1 C19–C21)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.clock import Day, resolve, today
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import error_fields, integration_token, operated_site, user_token

Body = Callable[..., dict[str, Any]]
PROJECTS = "/api/v1/activities/brand-projects"
RECOGNITIONS = "/api/v1/activities/recognitions"


def days_ago(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def other(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token, "CH")


def project(site_id: str, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "kind": "service_project",
        "title": "“邻里帮帮团”互助服务",
        "started_on": days_ago(40),
        "implemented": False,
        "description": "组织低龄老人结对帮扶高龄独居老人",
        **overrides,
    }


def recognition(site_id: str, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "kind": "media",
        "level": "province",
        "date": days_ago(10),
        "title": "浙江日报专题报道邻里帮帮团",
        "evidence": [{"kind": "article", "uri": "https://example.cn/news/123"}],
        **overrides,
    }


RESOURCES = [
    (PROJECTS, project, "brand_project", {"implemented": True}, "implemented", True),
    (RECOGNITIONS, recognition, "recognition", {"level": "national"}, "level", "national"),
]


@pytest.mark.parametrize(("url", "body", "object_type", "change", "key", "value"), RESOURCES)
def test_crud_with_if_match_and_audit(
    gateway: httpx.Client,
    site: dict,
    stack: RunningStack,
    url: str,
    body: Body,
    object_type: str,
    change: dict,
    key: str,
    value: object,
) -> None:
    token = site["operator_token"]
    sent = body(site["site"]["id"])
    created = gateway.post(url, json=sent, headers=bearer(token))
    assert created.status_code == 201, created.text
    item = created.json()
    assert {k: item[k] for k in sent} == sent
    got = gateway.get(f"{url}/{item['id']}", headers=bearer(token))
    assert got.status_code == 200 and got.json() == item
    listed = gateway.get(
        url,
        params={"site_id": site["site"]["id"], "from": days_ago(45), "to": days_ago(0)},
        headers=bearer(token),
    ).json()
    assert item["id"] in [r["id"] for r in listed["items"]]
    assert gateway.patch(f"{url}/{item['id']}", json=change, headers=bearer(token)).status_code == 428
    patched = gateway.patch(
        f"{url}/{item['id']}", json=change, headers={**bearer(token), "If-Match": got.headers["etag"]}
    )
    assert patched.status_code == 200 and patched.json()[key] == value
    deleted = gateway.delete(
        f"{url}/{item['id']}", headers={**bearer(token), "If-Match": patched.headers["etag"]}
    )
    assert deleted.status_code == 204
    missing = gateway.get(f"{url}/{item['id']}", headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["code"] == f"{object_type}_not_found"
    audit = stack.sql(
        "SELECT action FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at", item["id"]
    )
    assert [a["action"] for a in audit] == [f"{object_type}.{a}" for a in ("create", "update", "delete")]


def test_list_filters(gateway: httpx.Client, district_token: str) -> None:
    fresh = operated_site(gateway, district_token)
    token, site_id = fresh["operator_token"], fresh["site"]["id"]
    overall = gateway.post(
        PROJECTS, json=project(site_id, kind="overall_brand", title="邻聚里·东湖"), headers=bearer(token)
    ).json()
    done = gateway.post(PROJECTS, json=project(site_id, implemented=True), headers=bearer(token)).json()
    honour = gateway.post(
        RECOGNITIONS, json=recognition(site_id, kind="honour", level="city"), headers=bearer(token)
    ).json()
    gateway.post(RECOGNITIONS, json=recognition(site_id), headers=bearer(token))

    def listed(url: str, **params: Any) -> list[str]:
        response = gateway.get(url, params={"site_id": site_id, **params}, headers=bearer(token))
        return [r["id"] for r in response.json()["items"]]

    assert listed(PROJECTS, kind="overall_brand") == [overall["id"]]
    assert listed(PROJECTS, implemented="true") == [done["id"]]
    assert listed(RECOGNITIONS, kind="honour") == [honour["id"]]
    assert listed(RECOGNITIONS, level="city") == [honour["id"]]
    assert listed(RECOGNITIONS, to=days_ago(11)) == []


@pytest.mark.parametrize(
    ("url", "body", "overrides", "field"),
    [
        (PROJECTS, project, {"kind": "brand"}, "kind"),
        (PROJECTS, project, {"title": ""}, "title"),
        (PROJECTS, project, {"started_on": Day(+1)}, "started_on"),
        (PROJECTS, project, {"description": "x" * 1001}, "description"),
        (PROJECTS, project, {"surprise": 1}, "surprise"),
        (RECOGNITIONS, recognition, {"kind": "award"}, "kind"),
        (RECOGNITIONS, recognition, {"level": "county"}, "level"),
        (RECOGNITIONS, recognition, {"date": Day(+1)}, "date"),
        (RECOGNITIONS, recognition, {"evidence": [{"kind": "Photo!", "uri": "x"}]}, "evidence.0.kind"),
        (RECOGNITIONS, recognition, {"evidence": [{"kind": "photo", "uri": ""}]}, "evidence.0.uri"),
        (RECOGNITIONS, recognition, {"evidence": [{"kind": "photo"}]}, "evidence.0.uri"),
    ],
)
def test_bad_input_names_the_field(
    gateway: httpx.Client, site: dict, url: str, body: Body, overrides: dict, field: str
) -> None:
    response = gateway.post(
        url, json=body(site["site"]["id"], **resolve(overrides)), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


@pytest.mark.parametrize(
    ("url", "body", "object_type"),
    [(PROJECTS, project, "brand_project"), (RECOGNITIONS, recognition, "recognition")],
)
def test_roles_and_scope(
    gateway: httpx.Client,
    district_token: str,
    site: dict,
    other: dict,
    url: str,
    body: Body,
    object_type: str,
) -> None:
    sent = body(site["site"]["id"])
    item = gateway.post(url, json=sent, headers=bearer(site["operator_token"])).json()
    missing = gateway.get(f"{url}/{uuid.uuid4()}", headers=bearer(other["operator_token"])).json()
    street_ch = login(gateway, "changhe")["access_token"]
    evaluator = login(gateway, "evaluator")["access_token"]
    for token in (other["operator_token"], street_ch, evaluator):
        response = gateway.get(f"{url}/{item['id']}", headers=bearer(token))
        assert (
            response.status_code == 404
            and response.json()["code"] == missing["code"] == f"{object_type}_not_found"
        )
        assert response.json()["detail"] == missing["detail"]
        assert (
            gateway.get(url, params={"site_id": site["site"]["id"]}, headers=bearer(token)).json()["items"]
            == []
        )
    etag = gateway.get(f"{url}/{item['id']}", headers=bearer(site["operator_token"])).headers["etag"]
    hijack = gateway.patch(
        f"{url}/{item['id']}",
        json={"title": "x"},
        headers={**bearer(other["operator_token"]), "If-Match": etag},
    )
    assert hijack.status_code == 404
    street_xx = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    platform = integration_token(gateway, district_token)
    for token in (street_xx, platform):
        assert gateway.get(f"{url}/{item['id']}", headers=bearer(token)).status_code == 200
    for token in (street_xx, platform, evaluator):
        assert gateway.post(url, json=sent, headers=bearer(token)).status_code == 403
    wrong_site = gateway.post(url, json=sent, headers=bearer(other["operator_token"]))
    assert wrong_site.status_code == 404 and wrong_site.json()["code"] == "site_not_found"
    assert gateway.post(url, json=sent, headers=bearer(district_token)).status_code == 201
    unknown = gateway.post(url, json=body(str(uuid.uuid4())), headers=bearer(district_token))
    assert unknown.status_code == 404 and unknown.json()["code"] == "site_not_found"


def test_idempotent_create(gateway: httpx.Client, site: dict) -> None:
    headers = {**bearer(site["operator_token"]), "Idempotency-Key": f"rec-{uuid.uuid4()}"}
    body = recognition(site["site"]["id"], title="央视新闻报道")
    first = gateway.post(RECOGNITIONS, json=body, headers=headers)
    again = gateway.post(RECOGNITIONS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
