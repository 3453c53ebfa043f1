"""All access-token code: signing (gateway) and strict verification (everyone).

python-jose is permissive by default (``algorithms`` optional, ``aud`` not
required, ``kid`` ignored, PEM strings re-parsed on every call). This module is
the only place that touches it, and pins every one of those down:

* exactly one asymmetric algorithm (:data:`ALGORITHM`), checked in the header
  *before* any key is chosen, so ``none`` and HS256-with-the-public-key fail;
* ``typ`` must be ``at+jwt`` (RFC 9068), so an ID token or any other JWT does
  not pass as an access token;
* ``kid`` must be in the allow-list built from the JWKS, and selects the key;
* ``exp``, ``iat``, ``iss``, ``aud`` and ``sub`` are required, leeway is 30 s,
  and a lifetime over :data:`MAX_ACCESS_TTL_S` is refused;
* the time claims (``exp``, ``iat``, ``nbf``) are judged here against Linju's one clock
  (:mod:`services.common.timeutil`), not by python-jose, which reads the machine's clock itself
  (and turns ``require_exp`` back into its own ``verify_exp``);
* keys are constructed once (a PEM string costs a re-parse per call).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

from services.common.timeutil import unix_now

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a JWT typ, not a secret
LEEWAY_S = 30
MAX_ACCESS_TTL_S = 15 * 60
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
# What python-jose checks; the time claims are checked by TokenVerifier with the one clock.
JOSE_CHECKED_CLAIMS = ("iss", "aud", "sub")
ROLES = frozenset({"district", "street", "operator", "evaluator", "integration", "service"})


class InvalidToken(Exception):
    """The bearer token is not a valid Linju access token (the reason is for logs only)."""


@dataclass(frozen=True)
class KeyPair:
    kid: str
    private_pem: str
    public_jwk: dict[str, Any]


def generate_key_pair() -> KeyPair:
    """A fresh RSA-2048 signing key with a random ``kid``."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    kid = uuid.uuid4().hex[:16]
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_jwk = jwk.construct(public_pem.decode(), ALGORITHM).to_dict()
    public_jwk = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in public_jwk.items()}
    public_jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    return KeyPair(kid=kid, private_pem=pem, public_jwk=public_jwk)


def public_key_from_jwk(data: Mapping[str, Any]) -> Key:
    if data.get("kty") != "RSA" or data.get("alg", ALGORITHM) != ALGORITHM:
        raise InvalidToken("JWKS key is not an RS256 key")
    return jwk.construct(dict(data), ALGORITHM)


class TokenSigner:
    """Signs access tokens with one private key (constructed once)."""

    def __init__(self, key_pair: KeyPair, *, issuer: str, audience: str) -> None:
        self.kid = key_pair.kid
        self._key = jwk.construct(key_pair.private_pem, ALGORITHM)
        self.issuer = issuer
        self.audience = audience

    def sign(self, subject: str, claims: Mapping[str, Any], *, ttl_s: int, now: float | None = None) -> str:
        if ttl_s > MAX_ACCESS_TTL_S:
            raise ValueError("access tokens live at most 15 minutes")
        issued = int(now if now is not None else unix_now())
        payload = {
            **claims,
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": issued,
            "exp": issued + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            payload, self._key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": TOKEN_TYPE}
        )


KeyLookup = Callable[[str], Awaitable[Key | None]]


class TokenVerifier:
    """Verifies access tokens strictly; ``lookup(kid)`` returns the allowed key or None.

    A token that passed once is remembered (bounded LRU, keyed by the whole signed string) until
    it expires: a client sends the same token many times, and re-checking an RSA signature per
    request costs more than the rest of the check. Expiry and the key's presence in the allow-list
    are still checked on every use, so a key withdrawn from the JWKS stops its tokens at once.
    """

    CACHE_SIZE = 10_000

    def __init__(self, lookup: KeyLookup, *, issuer: str, audience: str) -> None:
        self._lookup = lookup
        self._verified: OrderedDict[str, tuple[dict[str, Any], str]] = OrderedDict()
        self.issuer = issuer
        self.audience = audience
        self._options = {
            "verify_signature": True,
            "verify_aud": True,
            "verify_iat": False,
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iss": True,
            "verify_sub": True,
            "verify_jti": True,
            "verify_at_hash": False,
            **{f"require_{c}": c in JOSE_CHECKED_CLAIMS for c in REQUIRED_CLAIMS},
            "leeway": LEEWAY_S,
        }

    async def verify(self, token: str) -> dict[str, Any]:
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, kid = remembered
            if unix_now() <= claims["exp"] + LEEWAY_S and await self._lookup(kid) is not None:
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]
            raise InvalidToken("expired or key withdrawn")
        claims, kid = await self._verify_fully(token)
        self._verified[token] = (claims, kid)
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return claims

    async def _verify_fully(self, token: str) -> tuple[dict[str, Any], str]:
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("not an access token (typ)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("no kid")
        key = await self._lookup(kid)
        if key is None:
            raise InvalidToken("unknown kid")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options=self._options,
            )
        except JOSEError as exc:
            raise InvalidToken(str(exc)) from exc
        iat, exp, nbf = claims.get("iat"), claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(iat, int) or not isinstance(exp, int) or not isinstance(nbf, int):
            raise InvalidToken("iat/exp/nbf must be integers")
        now = unix_now()
        if exp < now - LEEWAY_S:
            raise InvalidToken("expired")
        if exp - iat > MAX_ACCESS_TTL_S or iat > now + LEEWAY_S or nbf > now + LEEWAY_S:
            raise InvalidToken("lifetime not allowed")
        if claims.get("role") not in ROLES:
            raise InvalidToken("unknown role")
        return claims, kid


@dataclass
class JwksCache:
    """The gateway's public keys as seen by a service.

    Keys are fetched from the JWKS URL and kept; a token with an unknown ``kid``
    triggers a refetch at most once per ``refetch_interval_s`` (so garbage kids
    cannot turn every request into a JWKS download). The JWKS is also refreshed
    every ``max_age_s`` so retired keys leave the allow-list.
    """

    url: str
    refetch_interval_s: float = 60.0
    max_age_s: float = 600.0
    client: httpx.AsyncClient | None = None
    _keys: dict[str, Key] = field(default_factory=dict)
    _fetched_at: float = float("-inf")
    _attempted_at: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def lookup(self, kid: str) -> Key | None:
        key = self._keys.get(kid)
        now = time.monotonic()
        if key is not None and now - self._fetched_at <= self.max_age_s:
            return key
        if self._lock.locked():
            # A refresh is under way (e.g. a fresh process meeting its first tokens): wait for its
            # keys instead of answering "unknown kid" from the empty set it is about to replace.
            async with self._lock:
                pass
        elif now - self._attempted_at >= self.refetch_interval_s:
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._attempted_at < self.refetch_interval_s:
                return  # another request refreshed while we waited for the lock
            self._attempted_at = now
            client = self.client or httpx.AsyncClient(timeout=3.0)
            try:
                response = await client.get(self.url)
                response.raise_for_status()
                keys = {}
                for item in response.json().get("keys", []):
                    if isinstance(item, dict) and isinstance(item.get("kid"), str):
                        try:
                            keys[item["kid"]] = public_key_from_jwk(item)
                        except (InvalidToken, JOSEError):
                            continue
                self._keys = keys
                self._fetched_at = now
            except (httpx.HTTPError, ValueError):
                pass  # keep the keys we have; the next attempt waits for the refetch interval
            finally:
                if self.client is None:
                    await client.aclose()


def hash_opaque_token(token: str) -> str:
    """Refresh tokens and client secrets are stored as SHA-256 of their random value."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_opaque_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
