"""`/api/v1/users` and `/api/v1/clients`: district only, validated, audited, idempotent."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import RunningStack, bearer, login


def _street_id(gateway: httpx.Client, token: str) -> str:
    return gateway.get("/api/v1/registry/streets", headers=bearer(token)).json()["items"][0]["id"]


def test_district_creates_and_lists_users(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    street_id = _street_id(gateway, district_token)
    name = f"street-{uuid.uuid4().hex[:8]}"
    created = gateway.post(
        "/api/v1/users",
        json={
            "username": name,
            "display_name": "长河街道 王科长",
            "password": "long-enough-pass",
            "role": "street",
            "street_id": street_id,
        },
        headers=bearer(district_token),
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert "password" not in user and "password_hash" not in user
    assert user["role"] == "street" and user["street_id"] == street_id and user["active"] is True
    fetched = gateway.get(f"/api/v1/users/{user['id']}", headers=bearer(district_token))
    assert fetched.json() == user
    listed = gateway.get(
        "/api/v1/users", params={"role": "street", "limit": 200}, headers=bearer(district_token)
    )
    assert user["id"] in [u["id"] for u in listed.json()["items"]]
    stored = stack.sql("SELECT password_hash FROM gateway.users WHERE id = $1", uuid.UUID(user["id"]))[0]
    assert stored["password_hash"].startswith("$argon2id$")
    audit = stack.sql("SELECT actor_role, action FROM gateway.audit_log WHERE object_id = $1", user["id"])
    assert [(a["actor_role"], a["action"]) for a in audit] == [("district", "user.create")]
    assert login(gateway, name, "long-enough-pass")["access_token"]


def test_user_list_pagination(gateway: httpx.Client, district_token: str) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = gateway.get("/api/v1/users", params=params, headers=bearer(district_token)).json()
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 5
    bad = gateway.get("/api/v1/users", params={"cursor": "garbage!"}, headers=bearer(district_token))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("username", ["xixing", "operator", "evaluator"])
def test_other_roles_may_not_manage_users(gateway: httpx.Client, username: str) -> None:
    token = login(gateway, username)["access_token"]
    assert gateway.get("/api/v1/users", headers=bearer(token)).status_code == 403
    body = {
        "username": "x-" + uuid.uuid4().hex[:6],
        "display_name": "x",
        "password": "long-enough-pass",
        "role": "district",
    }
    response = gateway.post("/api/v1/users", json=body, headers=bearer(token))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert gateway.get("/api/v1/clients", headers=bearer(token)).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "street"}, "street_id"),
        ({"role": "operator"}, "organization_id"),
        ({"role": "king"}, "role"),
        ({"password": "short"}, "password"),
        ({"username": "has space"}, "username"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_user_input_is_422_naming_the_field(
    gateway: httpx.Client, district_token: str, body: dict, field: str
) -> None:
    full = {
        "username": "u-" + uuid.uuid4().hex[:8],
        "display_name": "x",
        "password": "long-enough-pass",
        "role": "district",
        **body,
    }
    response = gateway.post("/api/v1/users", json=full, headers=bearer(district_token))
    assert response.status_code == 422, response.text
    assert any(field in e["field"] or field in e["message"] for e in response.json()["errors"])


def test_duplicate_username_is_409(gateway: httpx.Client, district_token: str) -> None:
    body = {
        "username": "district",
        "display_name": "again",
        "password": "long-enough-pass",
        "role": "district",
    }
    response = gateway.post("/api/v1/users", json=body, headers=bearer(district_token))
    assert response.status_code == 409 and response.json()["code"] == "username_taken"


def test_unknown_user_is_404(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.get(f"/api/v1/users/{uuid.uuid4()}", headers=bearer(district_token))
    assert response.status_code == 404 and response.json()["code"] == "user_not_found"


def test_idempotency_key_applies_a_create_once(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    key = uuid.uuid4().hex
    body = {
        "username": "idem-" + key[:8],
        "display_name": "幂等",
        "password": "long-enough-pass",
        "role": "district",
    }
    headers = {**bearer(district_token), "Idempotency-Key": key}
    first = gateway.post("/api/v1/users", json=body, headers=headers)
    again = gateway.post("/api/v1/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    count = stack.sql("SELECT count(*) AS n FROM gateway.users WHERE username = $1", body["username"])[0]["n"]
    assert count == 1
    other = gateway.post("/api/v1/users", json={**body, "display_name": "different"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_patch_needs_a_current_etag(gateway: httpx.Client, district_token: str, stack: RunningStack) -> None:
    body = {
        "username": "etag-" + uuid.uuid4().hex[:8],
        "display_name": "版本",
        "password": "long-enough-pass",
        "role": "district",
    }
    user = gateway.post("/api/v1/users", json=body, headers=bearer(district_token)).json()
    url = f"/api/v1/users/{user['id']}"
    etag = gateway.get(url, headers=bearer(district_token)).headers["etag"]

    missing = gateway.patch(url, json={"display_name": "无版本"}, headers=bearer(district_token))
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    ok = gateway.patch(
        url, json={"display_name": "新名字"}, headers={**bearer(district_token), "If-Match": etag}
    )
    assert ok.status_code == 200 and ok.json()["display_name"] == "新名字"
    assert ok.headers["etag"] != etag
    stale = gateway.patch(
        url, json={"display_name": "旧版本"}, headers={**bearer(district_token), "If-Match": etag}
    )
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    stored = stack.sql("SELECT display_name FROM gateway.users WHERE id = $1", uuid.UUID(user["id"]))
    assert stored[0]["display_name"] == "新名字"
    audit = stack.sql(
        "SELECT before, after FROM gateway.audit_log WHERE object_id = $1 AND action = 'user.update'",
        user["id"],
    )
    assert len(audit) == 1 and '"新名字"' in audit[0]["after"] and '"版本"' in audit[0]["before"]
