"""The reverse proxy: `/api/v1/{registry|activities|evaluation}/…` → the domain service.

* one shared aiohttp session per upstream (connection pooling). The proxy is the one place that
  does not use httpx: measured on this hot path, httpx's AsyncClient carried ~300 req/s where
  aiohttp's client carried ~6,000 (bench/README.md); service-to-service calls keep httpx;
* bodies are streamed both ways; a body over the limit (1 MiB, 16 MiB for
  ``…/batch``) is refused with 413 — by ``Content-Length`` up front, and by
  counting for chunked bodies;
* client-sent identity and forwarding headers (``X-User-*``, ``X-Principal*``,
  ``X-Forwarded-*``) and hop-by-hop headers are dropped; ``X-Request-ID`` and
  the gateway's own ``X-Forwarded-For``/``-Proto`` are set;
* refused connection → 503, past the route deadline → 504, garbage → 502, all
  problem+json with the request id; nothing is retried (a POST must never be
  applied twice by the gateway).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from yarl import URL

from services.common.auth import Principal
from services.common.errors import AppError, Forbidden, NotFound, Unauthorized, problem_response
from services.common.requestid import current_request_id
from services.common.tokens import InvalidToken
from services.gateway.identity.live import ensure_token_current
from services.gateway.proxy import policy

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Upstream answers keep their Content-Length (raw bytes are relayed unchanged); the gateway sets the id.
RESPONSE_DROPPED = (HOP_BY_HOP - {"content-length"}) | {"x-request-id"}
SPOOFABLE_PREFIXES = ("x-user-", "x-principal", "x-forwarded-", "x-real-ip", "forwarded", "x-request-id")
# Encoded dots/slashes/backslashes and dot segments could smuggle a path past the policy.
_SUSPICIOUS_PATH = re.compile(r"%2e|%2f|%5c|\\|//|/\.\.?(/|$)", re.IGNORECASE)


# Upstream answers up to this size are relayed in one piece; larger or unsized ones are streamed.
BUFFERED_RESPONSE_BYTES = 256 * 1024


class BodyTooLarge(Exception):
    pass


def _too_large(limit: int, request: Request) -> Response:
    return problem_response(
        status=413,
        code="payload_too_large",
        detail=f"The request body exceeds {limit} bytes.",
        detail_zh=f"请求体超过 {limit} 字节上限。",
        accept_language=request.headers.get("accept-language"),
    )


def _upstream_problem(status: int, code: str, request: Request, service: str) -> Response:
    details = {
        503: (f"The {service} service is unavailable.", f"{service} 服务暂时不可用。"),
        504: (f"The {service} service did not answer in time.", f"{service} 服务响应超时。"),
        502: (f"The {service} service returned an invalid response.", f"{service} 服务返回了无效响应。"),
    }
    en, zh = details[status]
    headers = {"Retry-After": "2"} if status == 503 else None
    return problem_response(
        status=status,
        code=code,
        detail=en,
        detail_zh=zh,
        accept_language=request.headers.get("accept-language"),
        headers=headers,
    )


def forwarded_headers(request: Request) -> list[tuple[str, str]]:
    headers = []
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower.startswith(SPOOFABLE_PREFIXES):
            continue
        headers.append((name, value))
    rid = current_request_id()
    if rid:
        headers.append(("x-request-id", rid))
    if request.client:
        headers.append(("x-forwarded-for", request.client.host))
    headers.append(("x-forwarded-proto", request.url.scheme))
    return headers


async def _limited_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        if chunk:
            yield chunk


async def authorize(request: Request, service: str, path: str) -> policy.Rule:
    """Token (strict verification + live account check), then the route policy."""
    if policy.is_internal(path) or service not in policy.SERVICES:
        raise NotFound(code="route_not_found")
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("A bearer access token is required.", detail_zh="需要 Bearer 访问令牌。")
    try:
        claims = await request.app.state.token_verifier.verify(token.strip())
    except InvalidToken as exc:
        raise Unauthorized(
            "The access token is invalid or expired.",
            detail_zh="访问令牌无效或已过期。",
            code="invalid_token",
        ) from exc
    principal = Principal.from_claims(claims)
    if principal.role == "service":
        # Service tokens are for service-to-service calls, never for the public entrance.
        raise Forbidden("Service tokens are not accepted here.", detail_zh="服务令牌不能用于此入口。")
    await ensure_token_current(request, principal, claims.get("ver"))
    rule = policy.match(service, path, request.method)
    if rule is None:
        if any(r.service == service for r in policy.RULES if request.method in r.methods):
            raise NotFound(code="route_not_found")
        raise AppError(code="method_not_allowed", status=405)
    if principal.role not in rule.roles:
        raise Forbidden(
            f"Role '{principal.role}' may not {request.method} this resource.",
            detail_zh=f"角色“{principal.role}”无权执行此操作。",
        )
    return rule


async def proxy(request: Request) -> Response:
    service = request.path_params["service"]
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    prefix = f"/api/v1/{service}"
    sub_path = raw_path[len(prefix) :] or "/"
    if _SUSPICIOUS_PATH.search(sub_path):
        raise NotFound(code="route_not_found")
    rule = await authorize(request, service, request.url.path[len(prefix) :] or "/")
    settings = request.app.state.settings
    limit = policy.body_limit(sub_path, settings.max_body_bytes, settings.max_batch_body_bytes)
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return _too_large(limit, request)
        except ValueError:
            raise AppError("Invalid Content-Length.", code="bad_request", status=400) from None
    session: aiohttp.ClientSession = request.app.state.proxy_sessions[service]
    deadline = settings.upstream_slow_timeout_s if rule.slow else settings.upstream_timeout_s
    query = request.scope.get("query_string", b"")
    url = sub_path + ("?" + query.decode("latin-1") if query else "")
    body: AsyncIterator[bytes] | bytes | None = None
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if declared is None:
            # A chunked body has no length to check up front, and an upstream may answer before
            # reading it: read it here (it is at most `limit` bytes) so the limit always holds.
            try:
                body = b"".join([chunk async for chunk in _limited_body(request, limit)])
            except BodyTooLarge:
                return _too_large(limit, request)
        else:
            body = _limited_body(request, limit)
    try:
        async with asyncio.timeout(deadline):
            upstream = await session.request(
                request.method,
                URL(request.app.state.settings.upstreams()[service] + url, encoded=True),
                headers=forwarded_headers(request),
                data=body,
                allow_redirects=False,
            )
    except BodyTooLarge:
        return _too_large(limit, request)
    except aiohttp.ClientConnectorError:
        return _upstream_problem(503, "upstream_unavailable", request, service)
    except TimeoutError:
        return _upstream_problem(504, "upstream_timeout", request, service)
    except aiohttp.ClientError as exc:
        if isinstance(exc.__cause__, BodyTooLarge) or isinstance(exc.__context__, BodyTooLarge):
            return _too_large(limit, request)
        return _upstream_problem(502, "bad_upstream_response", request, service)
    headers = [
        (name, value)
        for name, value in upstream.raw_headers
        if name.decode("latin-1").lower() not in RESPONSE_DROPPED
    ]
    length = upstream.content_length
    if length is not None and length <= BUFFERED_RESPONSE_BYTES:
        # Most answers are small JSON documents: read them whole and answer in one write, without
        # a streaming task per response. Large or unsized bodies (exports) are streamed.
        try:
            body = await upstream.read()
        except aiohttp.ClientError:
            return _upstream_problem(502, "bad_upstream_response", request, service)
        finally:
            upstream.release()
        response = Response(body, status_code=upstream.status)
    else:
        response = StreamingResponse(
            _relay(upstream), status_code=upstream.status, background=BackgroundTask(_release, upstream)
        )
    response.raw_headers = headers
    return response


async def _release(upstream: aiohttp.ClientResponse) -> None:
    # An async task: Starlette would run a plain function in its thread pool, a hop per request.
    upstream.release()


async def _relay(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.content.iter_any():
            yield chunk
    except aiohttp.ClientError:
        # The status line is already sent; all we can do is end the body early.
        return
