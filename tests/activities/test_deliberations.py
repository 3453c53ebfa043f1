"""`/api/v1/activities/deliberations`: the shared record rules on the smallest resource."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.clock import Day, day, resolve
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import operated_site, user_token


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


def _body(site_id: str, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "held_on": day(-3),
        "topic": "小区停车位改造议事",
        "form": "residents_council",
        "participants": 23,
        "rules": "一人一票,过半数通过",
        "resolution": "增设30个夜间共享车位",
        "execution_status": "done",
        **overrides,
    }


def test_operator_records_and_reads_a_deliberation(
    gateway: httpx.Client, site: dict, stack: RunningStack
) -> None:
    token = site["operator_token"]
    created = gateway.post(
        "/api/v1/activities/deliberations", json=_body(site["site"]["id"]), headers=bearer(token)
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["complete"] is True and item["participants"] == 23
    got = gateway.get(f"/api/v1/activities/deliberations/{item['id']}", headers=bearer(token))
    assert got.status_code == 200 and got.json() == item and got.headers["etag"]
    listed = gateway.get(
        "/api/v1/activities/deliberations", params={"site_id": site["site"]["id"]}, headers=bearer(token)
    ).json()
    assert [d["id"] for d in listed["items"]] == [item["id"]]
    audit = stack.sql("SELECT action, actor_role FROM activities.audit_log WHERE object_id = $1", item["id"])
    assert [(a["action"], a["actor_role"]) for a in audit] == [("deliberation.create", "operator")]


def test_incomplete_until_executed_then_patch_with_if_match(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    item = gateway.post(
        "/api/v1/activities/deliberations",
        json=_body(site["site"]["id"], execution_status="in_progress"),
        headers=bearer(token),
    ).json()
    assert item["complete"] is False
    url = f"/api/v1/activities/deliberations/{item['id']}"
    assert gateway.patch(url, json={"execution_status": "done"}, headers=bearer(token)).status_code == 428
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    done = gateway.patch(url, json={"execution_status": "done"}, headers={**bearer(token), "If-Match": etag})
    assert done.status_code == 200 and done.json()["complete"] is True
    stale = gateway.patch(url, json={"topic": "x"}, headers={**bearer(token), "If-Match": etag})
    assert stale.status_code == 412
    new_etag = done.headers["etag"]
    deleted = gateway.delete(url, headers={**bearer(token), "If-Match": new_etag})
    assert deleted.status_code == 204
    assert gateway.get(url, headers=bearer(token)).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"held_on": Day(+1)}, "held_on"),
        ({"form": "party"}, "form"),
        ({"participants": -1}, "participants"),
        ({"topic": ""}, "topic"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_input_names_the_field(gateway: httpx.Client, site: dict, overrides: dict, field: str) -> None:
    response = gateway.post(
        "/api/v1/activities/deliberations",
        json=_body(site["site"]["id"], **resolve(overrides)),
        headers=bearer(site["operator_token"]),
    )
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_scope(gateway: httpx.Client, district_token: str, site: dict) -> None:
    item = gateway.post(
        "/api/v1/activities/deliberations",
        json=_body(site["site"]["id"]),
        headers=bearer(site["operator_token"]),
    ).json()
    url = f"/api/v1/activities/deliberations/{item['id']}"
    other = operated_site(gateway, district_token, "CH")
    street_ch = login(gateway, "changhe")["access_token"]
    missing = gateway.get(
        f"/api/v1/activities/deliberations/{uuid.uuid4()}", headers=bearer(other["operator_token"])
    )
    for token in (other["operator_token"], street_ch):
        response = gateway.get(url, headers=bearer(token))
        assert response.status_code == 404
        assert response.json()["code"] == missing.json()["code"] == "deliberation_not_found"
        assert response.json()["detail"] == missing.json()["detail"]
        listed = gateway.get(
            "/api/v1/activities/deliberations", params={"site_id": site["site"]["id"]}, headers=bearer(token)
        )
        assert listed.status_code == 200 and listed.json()["items"] == []
    # Another operator cannot write for this site, nor the street, evaluator or integration roles.
    post_other = gateway.post(
        "/api/v1/activities/deliberations",
        json=_body(site["site"]["id"]),
        headers=bearer(other["operator_token"]),
    )
    assert post_other.status_code == 404 and post_other.json()["code"] == "site_not_found"
    assert (
        gateway.post(
            "/api/v1/activities/deliberations", json=_body(site["site"]["id"]), headers=bearer(street_ch)
        ).status_code
        == 403
    )
    # The street of the site reads it (its token's sites claim is resolved at login).
    street_xx = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    assert gateway.get(url, headers=bearer(street_xx)).status_code == 200


def test_district_writes_for_existing_sites_only(
    gateway: httpx.Client, district_token: str, site: dict
) -> None:
    ok = gateway.post(
        "/api/v1/activities/deliberations", json=_body(site["site"]["id"]), headers=bearer(district_token)
    )
    assert ok.status_code == 201
    missing = gateway.post(
        "/api/v1/activities/deliberations", json=_body(str(uuid.uuid4())), headers=bearer(district_token)
    )
    assert missing.status_code == 404 and missing.json()["code"] == "site_not_found"
