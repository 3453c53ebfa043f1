"""`/api/v1/webhooks`: registration, the secret shown once, roles, If-Match, SSRF refusals."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import error_fields, integration_token

RECEIVER = "http://127.0.0.1:9/hook"  # allow-listed in the test stack; nothing needs to listen


def _create(gateway: httpx.Client, token: str, **overrides: object) -> httpx.Response:
    body = {"url": RECEIVER, "event_types": ["site.*", "round.published"], **overrides}
    return gateway.post("/api/v1/webhooks", json=body, headers=bearer(token))


def test_create_shows_the_secret_once(gateway: httpx.Client, district_token: str) -> None:
    response = _create(gateway, district_token, description="区数据平台")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) == 6 + 44
    assert created["event_types"] == ["site.*", "round.published"]
    assert created["enabled"] is True and created["description"] == "区数据平台"
    assert response.headers["etag"]

    got = gateway.get(f"/api/v1/webhooks/{created['id']}", headers=bearer(district_token))
    assert got.status_code == 200
    assert "secret" not in got.json()
    assert got.json() == {k: v for k, v in created.items() if k != "secret"}
    listed = gateway.get("/api/v1/webhooks", params={"limit": 200}, headers=bearer(district_token)).json()
    mine = [w for w in listed["items"] if w["id"] == created["id"]]
    assert len(mine) == 1 and "secret" not in mine[0]
    assert (
        created["secret"]
        not in gateway.get("/api/v1/webhooks", params={"limit": 200}, headers=bearer(district_token)).text
    )


def test_idempotent_create_replays_the_first_response(gateway: httpx.Client, district_token: str) -> None:
    key = {"Idempotency-Key": f"wh-{uuid.uuid4()}"}
    body = {"url": RECEIVER, "event_types": ["*"]}
    first = gateway.post("/api/v1/webhooks", json=body, headers={**bearer(district_token), **key})
    again = gateway.post("/api/v1/webhooks", json=body, headers={**bearer(district_token), **key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"


def test_the_secret_is_kept_in_the_database_for_signing(
    stack: RunningStack, gateway: httpx.Client, district_token: str
) -> None:
    created = _create(gateway, district_token).json()
    rows = stack.sql("SELECT secret FROM gateway.webhooks WHERE id = $1", uuid.UUID(created["id"]))
    assert rows[0]["secret"] == created["secret"]
    audit = stack.sql(
        "SELECT action, after::text AS after FROM gateway.audit_log WHERE object_id = $1", created["id"]
    )
    assert [a["action"] for a in audit] == ["webhook.create"]
    assert created["secret"] not in audit[0]["after"]


def test_rotating_the_secret_shows_the_new_one_once(gateway: httpx.Client, district_token: str) -> None:
    created = _create(gateway, district_token).json()
    rotated = gateway.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", headers=bearer(district_token))
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != created["secret"]
    assert (
        "secret"
        not in gateway.get(f"/api/v1/webhooks/{created['id']}", headers=bearer(district_token)).json()
    )


def test_update_needs_if_match_and_validates(gateway: httpx.Client, district_token: str) -> None:
    created = _create(gateway, district_token).json()
    url = f"/api/v1/webhooks/{created['id']}"
    assert gateway.patch(url, json={"enabled": False}, headers=bearer(district_token)).status_code == 428
    etag = gateway.get(url, headers=bearer(district_token)).headers["etag"]
    changed = gateway.patch(
        url,
        json={"enabled": False, "event_types": ["filing.approved"], "description": "paused"},
        headers={**bearer(district_token), "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["enabled"] is False and changed.json()["event_types"] == ["filing.approved"]
    assert changed.headers["etag"] != etag
    stale = gateway.patch(url, json={"enabled": True}, headers={**bearer(district_token), "If-Match": etag})
    assert stale.status_code == 412
    bad = gateway.patch(
        url,
        json={"url": "http://10.0.0.1/hook"},
        headers={**bearer(district_token), "If-Match": changed.headers["etag"]},
    )
    assert bad.status_code == 422 and error_fields(bad) == {"url"}
    null = gateway.patch(
        url, json={"enabled": None}, headers={**bearer(district_token), "If-Match": changed.headers["etag"]}
    )
    assert null.status_code == 422 and error_fields(null) == {"enabled"}


def test_delete_needs_if_match_then_the_webhook_is_gone(gateway: httpx.Client, district_token: str) -> None:
    created = _create(gateway, district_token).json()
    url = f"/api/v1/webhooks/{created['id']}"
    assert gateway.delete(url, headers=bearer(district_token)).status_code == 428
    etag = gateway.get(url, headers=bearer(district_token)).headers["etag"]
    assert gateway.delete(url, headers={**bearer(district_token), "If-Match": etag}).status_code == 204
    gone = gateway.get(url, headers=bearer(district_token))
    assert gone.status_code == 404 and gone.json()["code"] == "webhook_not_found"


def test_unknown_ids_are_404(gateway: httpx.Client, district_token: str) -> None:
    created = _create(gateway, district_token).json()
    random_id = uuid.uuid4()
    for method, path in [
        ("GET", f"/api/v1/webhooks/{random_id}"),
        ("GET", f"/api/v1/webhooks/{random_id}/deliveries"),
        ("POST", f"/api/v1/webhooks/{random_id}/rotate-secret"),
        ("POST", f"/api/v1/webhooks/{created['id']}/deliveries/{random_id}/retry"),
    ]:
        response = gateway.request(method, path, headers=bearer(district_token))
        assert response.status_code == 404, (method, path, response.text)


@pytest.mark.parametrize("role", ["street", "operator", "evaluator", "integration"])
def test_only_the_district_manages_webhooks(gateway: httpx.Client, district_token: str, role: str) -> None:
    created = _create(gateway, district_token).json()
    demo_user = {"street": "xixing", "operator": "operator", "evaluator": "evaluator"}
    if role == "integration":
        token = integration_token(gateway, district_token)
    else:
        token = login(gateway, demo_user[role])["access_token"]
    headers = {**bearer(token), "If-Match": "*"}
    calls = [
        ("GET", "/api/v1/webhooks", None),
        ("POST", "/api/v1/webhooks", {"url": RECEIVER, "event_types": ["*"]}),
        ("GET", f"/api/v1/webhooks/{created['id']}", None),
        ("PATCH", f"/api/v1/webhooks/{created['id']}", {"enabled": False}),
        ("DELETE", f"/api/v1/webhooks/{created['id']}", None),
        ("POST", f"/api/v1/webhooks/{created['id']}/rotate-secret", None),
        ("GET", f"/api/v1/webhooks/{created['id']}/deliveries", None),
        ("POST", f"/api/v1/webhooks/{created['id']}/deliveries/{uuid.uuid4()}/retry", None),
    ]
    for method, path, body in calls:
        response = gateway.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.status_code)
    assert gateway.get("/api/v1/webhooks", headers={}).status_code == 401
    # Nothing changed.
    assert gateway.get(f"/api/v1/webhooks/{created['id']}", headers=bearer(district_token)).json()["enabled"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/hook",  # loopback outside the allow-list
        "http://10.0.0.1/hook",
        "http://192.168.1.10:8080/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0:9/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[::ffff:10.0.0.1]/hook",
        "ftp://example.com/hook",
        "https://user:password@example.com/hook",
        "not a url",
    ],
)
def test_private_and_metadata_destinations_are_refused(
    gateway: httpx.Client, district_token: str, url: str
) -> None:
    """Host names resolving to loopback (`localhost`) are refused in test_units.py, with the real
    resolver and no allow-list: this stack allow-lists 127.0.0.1 for its receivers."""
    response = _create(gateway, district_token, url=url)
    assert response.status_code == 422, response.text
    assert error_fields(response) == {"url"}
    assert response.json()["code"] == "validation_failed"


def test_event_type_patterns_are_validated(gateway: httpx.Client, district_token: str) -> None:
    for event_types in ([], ["Site.Updated"], ["site.*.x"], ["*.updated"], ["x" * 101]):
        response = _create(gateway, district_token, event_types=event_types)
        assert response.status_code == 422, event_types
        assert {f.split(".")[0] for f in error_fields(response)} == {"event_types"}
    unknown = _create(gateway, district_token, secret="whsec_mine")
    assert unknown.status_code == 422


def test_refusals_are_explained_in_chinese(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.post(
        "/api/v1/webhooks",
        json={"url": "http://10.0.0.1/hook", "event_types": ["*"]},
        headers={**bearer(district_token), "Accept-Language": "zh-CN"},
    )
    assert response.status_code == 422
    assert "公网" in response.json()["detail"]
