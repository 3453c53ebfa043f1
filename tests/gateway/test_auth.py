"""Login, refresh, logout and me through the gateway (SPEC §7)."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.conftest import RunningStack, bearer, login


def _create_user(gateway: httpx.Client, token: str, **overrides: object) -> dict:
    body = {
        "username": f"u-{uuid.uuid4().hex[:10]}",
        "display_name": "测试用户",
        "password": "a-long-test-password",
        "role": "district",
        **overrides,
    }
    response = gateway.post("/api/v1/users", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return {**response.json(), "password": body["password"]}


def _etag(gateway: httpx.Client, token: str, user_id: str) -> str:
    response = gateway.get(f"/api/v1/users/{user_id}", headers=bearer(token))
    assert response.status_code == 200
    return response.headers["etag"]


def test_password_login_returns_token_pair(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "district", "password": "linju-demo-2026"},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 900
    assert body["refresh_token"] and body["access_token"].count(".") == 2


def test_wrong_password_is_invalid_grant(gateway: httpx.Client) -> None:
    user = "nobody-" + uuid.uuid4().hex[:6]
    response = gateway.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": user, "password": "x"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_grant"


def test_unknown_grant_type(gateway: httpx.Client) -> None:
    response = gateway.post("/api/v1/auth/token", data={"grant_type": "implicit"})
    assert response.status_code == 400
    assert response.json()["code"] == "unsupported_grant_type"


def test_me_shows_the_caller(gateway: httpx.Client, stack: RunningStack) -> None:
    token = login(gateway, "xixing")["access_token"]  # sites resolved now, after other tests' writes
    response = gateway.get("/api/v1/auth/me", headers=bearer(token))
    assert response.status_code == 200
    me = response.json()
    assert me["username"] == "xixing"
    assert me["role"] == "street"
    # The `sites` claim is the street's sites, resolved by the registry when the token was issued.
    rows = stack.sql("SELECT id FROM registry.sites WHERE street_id = $1", uuid.UUID(me["street_id"]))
    assert rows and sorted(me["sites"]) == sorted(str(r["id"]) for r in rows)


def test_me_of_district_has_no_sites_claim(gateway: httpx.Client, district_token: str) -> None:
    assert gateway.get("/api/v1/auth/me", headers=bearer(district_token)).json()["sites"] is None


def test_refresh_rotates_and_reuse_revokes_the_family(gateway: httpx.Client, district_token: str) -> None:
    user = _create_user(gateway, district_token)
    first = login(gateway, user["username"], user["password"])
    second = gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    third = gateway.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert third.status_code == 200
    latest = third.json()["refresh_token"]

    # The first token was used long ago in token terms (its successor was used too): reuse = theft.
    reuse = gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 400
    assert reuse.json()["code"] == "invalid_grant"
    # ... and the whole family is gone, including the newest token.
    after = gateway.post("/api/v1/auth/refresh", json={"refresh_token": latest})
    assert after.status_code == 400


def test_refresh_retry_within_grace_gets_a_new_pair(gateway: httpx.Client, district_token: str) -> None:
    user = _create_user(gateway, district_token)
    first = login(gateway, user["username"], user["password"])
    lost = gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert lost.status_code == 200
    retry = gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert retry.status_code == 200, retry.text
    # The response the client never saw is revoked; the retry's token works.
    assert (
        gateway.post("/api/v1/auth/refresh", json={"refresh_token": lost.json()["refresh_token"]}).status_code
        == 400
    )
    assert (
        gateway.post(
            "/api/v1/auth/refresh", json={"refresh_token": retry.json()["refresh_token"]}
        ).status_code
        == 200
    )


def test_logout_revokes_the_refresh_token(gateway: httpx.Client) -> None:
    pair = login(gateway, "changhe")
    assert (
        gateway.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
    )
    response = gateway.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 400


def test_refresh_with_garbage_is_refused(gateway: httpx.Client) -> None:
    response = gateway.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-real-refresh-token"})
    assert response.status_code == 400
    assert gateway.post("/api/v1/auth/refresh", json={}).status_code == 422


def test_deactivated_user_is_refused_at_once(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    user = _create_user(gateway, district_token)
    pair = login(gateway, user["username"], user["password"])
    assert gateway.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 200
    assert gateway.get("/api/v1/registry/streets", headers=bearer(pair["access_token"])).status_code == 200

    patch = gateway.patch(
        f"/api/v1/users/{user['id']}",
        json={"active": False},
        headers={**bearer(district_token), "If-Match": _etag(gateway, district_token, user["id"])},
    )
    assert patch.status_code == 200 and patch.json()["active"] is False

    assert gateway.get("/api/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert gateway.get("/api/v1/registry/streets", headers=bearer(pair["access_token"])).status_code == 401
    assert (
        gateway.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 400
    )
    relogin = gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": user["username"], "password": user["password"]},
    )
    assert relogin.status_code == 400


def test_role_change_stops_old_tokens(gateway: httpx.Client, district_token: str) -> None:
    user = _create_user(gateway, district_token)
    token = login(gateway, user["username"], user["password"])["access_token"]
    street_id = gateway.get("/api/v1/registry/streets", headers=bearer(token)).json()["items"][0]["id"]
    patch = gateway.patch(
        f"/api/v1/users/{user['id']}",
        json={"role": "street", "street_id": street_id},
        headers={**bearer(district_token), "If-Match": _etag(gateway, district_token, user["id"])},
    )
    assert patch.status_code == 200, patch.text
    assert gateway.get("/api/v1/users", headers=bearer(token)).status_code == 401
    new_token = login(gateway, user["username"], user["password"])["access_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(new_token)).json()
    assert me["role"] == "street" and me["street_id"] == street_id


def test_login_throttled_after_five_failures(gateway: httpx.Client, district_token: str) -> None:
    user = _create_user(gateway, district_token)
    for _ in range(5):
        bad = gateway.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": user["username"], "password": "wrong"},
        )
        assert bad.status_code == 400
    # Even the right password is refused now: the account is throttled.
    throttled = gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": user["username"], "password": user["password"]},
    )
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert throttled.json()["code"] == "login_throttled"


def test_client_credentials(gateway: httpx.Client, district_token: str) -> None:
    created = gateway.post(
        "/api/v1/clients",
        json={"client_id": f"platform-{uuid.uuid4().hex[:6]}", "name": "区数据平台"},
        headers=bearer(district_token),
    )
    assert created.status_code == 201, created.text
    client = created.json()
    token = gateway.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert token.status_code == 200, token.text
    assert "refresh_token" not in token.json()
    access = token.json()["access_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(access)).json()
    assert me["role"] == "integration" and me["sites"] is None
    assert gateway.get("/api/v1/registry/streets", headers=bearer(access)).status_code == 200
    listed = gateway.get("/api/v1/clients", headers=bearer(district_token)).json()["items"]
    assert all("client_secret" not in c and "secret_hash" not in c for c in listed)

    wrong = gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": "nope"},
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_client"
    basic = gateway.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert basic.status_code == 200


def test_operator_sites_claim_comes_from_active_contracts(gateway: httpx.Client, stack: RunningStack) -> None:
    token = login(gateway, "operator")["access_token"]
    me = gateway.get("/api/v1/auth/me", headers=bearer(token)).json()
    rows = stack.sql(
        "SELECT DISTINCT site_id FROM registry.contracts WHERE organization_id = $1"
        " AND starts_on <= (now() AT TIME ZONE 'Asia/Shanghai')::date"
        " AND ends_on >= (now() AT TIME ZONE 'Asia/Shanghai')::date",
        uuid.UUID(me["organization_id"]),
    )
    assert rows and sorted(me["sites"]) == sorted(str(r["site_id"]) for r in rows)


def test_deactivation_reaches_another_gateway_replica_at_once(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    """Two gateway processes on one database: the second drops its cached account state on NOTIFY."""
    from tests.gateway.test_proxy import second_gateway

    user = _create_user(gateway, district_token)
    token = login(gateway, user["username"], user["password"])["access_token"]
    with second_gateway(stack) as other:
        assert httpx.get(f"{other}/api/v1/auth/me", headers=bearer(token)).status_code == 200  # now cached
        patch = gateway.patch(
            f"/api/v1/users/{user['id']}",
            json={"active": False},
            headers={**bearer(district_token), "If-Match": _etag(gateway, district_token, user["id"])},
        )
        assert patch.status_code == 200
        deadline = time.monotonic() + 2.0
        while httpx.get(f"{other}/api/v1/auth/me", headers=bearer(token)).status_code == 200:
            assert time.monotonic() < deadline, "the other replica still accepts the token"
            time.sleep(0.02)
