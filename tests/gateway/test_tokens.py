"""Every malformed or forged token is refused, at the gateway and at a service called directly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from jose import jwk, jwt

from services.cli.main import main as linju
from services.common.tokens import KeyPair, generate_key_pair
from tests.conftest import RunningStack, bearer, login


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def current_key(stack: RunningStack) -> KeyPair:
    row = stack.sql("SELECT kid, private_pem, public_jwk FROM gateway.signing_keys WHERE retired_at IS NULL")[
        0
    ]
    return KeyPair(row["kid"], row["private_pem"], json.loads(row["public_jwk"]))


def _claims(stack: RunningStack, **overrides: object) -> dict:
    now = int(time.time())
    user_id = stack.sql("SELECT id FROM gateway.users WHERE username = 'district'")[0]["id"]
    claims = {
        "iss": "linju",
        "aud": "linju-api",
        "sub": str(user_id),
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "role": "district",
        "ver": 1,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: KeyPair, claims: dict, **headers: object) -> str:
    header = {"kid": key.kid, "typ": "at+jwt", **headers}
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers=header)


def _hs256_with_public_key(stack: RunningStack, key: KeyPair) -> str:
    """The classic algorithm-confusion attack: HMAC keyed with the server's *public* key."""
    public_pem = jwk.construct(key.public_jwk, "RS256").to_pem()
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'at+jwt', 'kid': key.kid})}.{_b64(_claims(stack))}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _forgeries(stack: RunningStack, key: KeyPair) -> dict[str, Callable[[], str]]:
    return {
        "alg_none": lambda: (
            f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': key.kid})}.{_b64(_claims(stack))}."
        ),
        "hs256_with_public_key": lambda: _hs256_with_public_key(stack, key),
        "missing_exp": lambda: _sign(key, _claims(stack, exp=None)),
        "expired": lambda: _sign(
            key, _claims(stack, iat=int(time.time()) - 1000, exp=int(time.time()) - 100)
        ),
        "wrong_aud": lambda: _sign(key, _claims(stack, aud="someone-else")),
        "wrong_iss": lambda: _sign(key, _claims(stack, iss="https://evil.example")),
        "unknown_kid": lambda: jwt.encode(
            _claims(stack),
            generate_key_pair().private_pem,
            algorithm="RS256",
            headers={"kid": "nope", "typ": "at+jwt"},
        ),
        "foreign_key_same_kid": lambda: jwt.encode(
            _claims(stack),
            generate_key_pair().private_pem,
            algorithm="RS256",
            headers={"kid": key.kid, "typ": "at+jwt"},
        ),
        "typ_not_at_jwt": lambda: _sign(key, _claims(stack), typ="JWT"),
        "lifetime_too_long": lambda: _sign(key, _claims(stack, exp=int(time.time()) + 3600)),
        "garbage": lambda: "not.a.token",
    }


FORGERIES = [
    "alg_none",
    "hs256_with_public_key",
    "missing_exp",
    "expired",
    "wrong_aud",
    "wrong_iss",
    "unknown_kid",
    "foreign_key_same_kid",
    "typ_not_at_jwt",
    "lifetime_too_long",
    "garbage",
]


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_token_refused_at_gateway_and_service(
    kind: str, stack: RunningStack, gateway: httpx.Client, current_key: KeyPair
) -> None:
    token = _forgeries(stack, current_key)[kind]()
    at_gateway = gateway.get("/api/v1/registry/streets", headers=bearer(token))
    assert at_gateway.status_code == 401, at_gateway.text
    assert at_gateway.json()["code"] in ("invalid_token", "unauthorized")
    assert gateway.get("/api/v1/auth/me", headers=bearer(token)).status_code == 401
    direct = httpx.get(f"{stack.service_url('registry')}/streets", headers=bearer(token))
    assert direct.status_code == 401, direct.text


def test_well_signed_control_token_is_accepted(
    stack: RunningStack, gateway: httpx.Client, current_key: KeyPair
) -> None:
    """The forgery tests prove something only if a correctly built token passes the same checks."""
    token = _sign(current_key, _claims(stack))
    assert gateway.get("/api/v1/registry/streets", headers=bearer(token)).status_code == 200
    assert httpx.get(f"{stack.service_url('registry')}/streets", headers=bearer(token)).status_code == 200


def test_refresh_token_is_not_a_bearer_token(stack: RunningStack, gateway: httpx.Client) -> None:
    refresh = login(gateway, "district")["refresh_token"]
    assert gateway.get("/api/v1/registry/streets", headers=bearer(refresh)).status_code == 401
    assert httpx.get(f"{stack.service_url('registry')}/streets", headers=bearer(refresh)).status_code == 401


def test_service_without_token_is_401(stack: RunningStack) -> None:
    for service in ("registry",):
        response = httpx.get(f"{stack.service_url(service)}/streets")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


def test_spoofed_identity_headers_are_ignored(
    stack: RunningStack, gateway: httpx.Client, street_token: str
) -> None:
    spoof = {"X-User-Role": "district", "X-User-Id": str(uuid.uuid4()), "X-Principal": "district"}
    assert gateway.get("/api/v1/registry/streets", headers=spoof).status_code == 401
    assert httpx.get(f"{stack.service_url('registry')}/streets", headers=spoof).status_code == 401
    assert gateway.get("/api/v1/users", headers={**bearer(street_token), **spoof}).status_code == 403


def test_service_token_is_refused_at_the_public_entrance(gateway: httpx.Client) -> None:
    token = gateway.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "service:evaluation",
            "client_secret": "dev-only-service-secret-change-me",
        },
    )
    assert token.status_code == 200
    response = gateway.get("/api/v1/registry/streets", headers=bearer(token.json()["access_token"]))
    assert response.status_code == 403


def test_key_rotation_overlap(
    stack: RunningStack, gateway: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`linju rotate-keys` while tokens are out: old and new tokens both work everywhere."""
    before = login(gateway, "district")["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    monkeypatch.setenv("DATABASE_URL", stack.database_url)
    rotated_at = time.monotonic()
    assert linju(["rotate-keys", "--activate-in", "3"]) == 0
    # Published at once (the gateway re-reads its keys within a second), signing only after the lead
    # time: a login now still gets the old key.
    time.sleep(1.1)
    kids = {k["kid"] for k in gateway.get("/.well-known/jwks.json").json()["keys"]}
    assert len(kids) >= 2
    assert jwt.get_unverified_header(login(gateway, "district")["access_token"])["kid"] == old_kid
    time.sleep(max(0.0, 3.1 - (time.monotonic() - rotated_at)))
    after = login(gateway, "district")["access_token"]
    new_kid = jwt.get_unverified_header(after)["kid"]
    assert new_kid != old_kid
    kids = {k["kid"] for k in gateway.get("/.well-known/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= kids
    time.sleep(0.6)  # the services' unknown-kid refetch interval in the test stack
    for token in (before, after):
        assert gateway.get("/api/v1/registry/streets", headers=bearer(token)).status_code == 200
        assert httpx.get(f"{stack.service_url('registry')}/streets", headers=bearer(token)).status_code == 200
