"""The reverse proxy: `/api/v1/{registry|activities|evaluation}/…` → the domain service.

* a pure ASGI app, dispatched by :class:`GatewayFront` before FastAPI's routing: the proxy needs
  no dependency resolution, no ``Request`` object and no route table scan on its hot path;
* the upstream call goes through :mod:`services.gateway.proxy.upstream` (pooled keep-alive
  connections, llhttp parsing); service-to-service calls elsewhere keep httpx;
* bodies are streamed both ways; a body over the limit (1 MiB, 16 MiB for ``…/batch``) is
  refused with 413 — by ``Content-Length`` up front, and by counting for chunked bodies;
* client-sent identity and forwarding headers (``X-User-*``, ``X-Principal*``,
  ``X-Forwarded-*``) and hop-by-hop headers are dropped; ``X-Request-ID`` and the gateway's own
  ``X-Forwarded-For``/``-Proto`` are set;
* expensive routes draw from a per-principal budget (policy ``rate_limit``): 429 + Retry-After;
* refused connection → 503, past the route deadline → 504, garbage or a connection cut
  mid-answer → 502, all problem+json with the request id; nothing is retried (a POST must never
  be applied twice by the gateway).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.errors import (
    AppError,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    UnhandledErrorMiddleware,
    problem_response,
)
from services.common.metrics import ROUTE_HEADER, ROUTE_SCOPE_KEY
from services.common.requestid import current_request_id
from services.common.tokens import InvalidToken, TokenVerifier
from services.gateway.identity.live import AccountStates, check_account
from services.gateway.proxy import policy
from services.gateway.proxy.ratelimit import RateLimiter
from services.gateway.proxy.upstream import Exchange, UpstreamBroken, UpstreamPool, UpstreamUnavailable
from services.gateway.settings import GatewaySettings

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        # The gateway has already accepted (or read) the body; the service need not be asked.
        b"expect",
    }
)
# Upstream answers keep their Content-Length (raw bytes are relayed unchanged); the gateway sets
# the id, its own Date and Server, and reads the route template for its metrics.
RESPONSE_DROPPED = (HOP_BY_HOP - {b"content-length"}) | {b"x-request-id", b"date", b"server", ROUTE_HEADER}
SPOOFABLE_PREFIXES = (
    b"x-user-",
    b"x-principal",
    b"x-forwarded-",
    b"x-real-ip",
    b"forwarded",
    b"x-request-id",
)
# Encoded dots/slashes/backslashes and dot segments could smuggle a path past the policy.
_SUSPICIOUS_PATH = re.compile(rb"%2e|%2f|%5c|\\|//|/\.\.?(/|$)", re.IGNORECASE)
PREFIXES = {service: f"/api/v1/{service}".encode() for service in sorted(policy.SERVICES)}
# Metrics label of answers given before a policy rule is known (401 for a missing token …).
SERVICE_LABELS = {service: f"/api/v1/{service}/*" for service in policy.SERVICES}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Upstream answers up to this size are relayed in one piece; larger or unsized ones are streamed.
BUFFERED_RESPONSE_BYTES = 256 * 1024
# Request bodies up to this size (with a Content-Length) are read whole and sent in one write.
BUFFERED_REQUEST_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client disconnected while its body was being forwarded."""


@dataclass
class ProxyContext:
    """What the proxy needs per request, gathered once at start-up (``app.state.proxy``)."""

    settings: GatewaySettings
    verifier: TokenVerifier
    accounts: AccountStates
    pools: dict[str, UpstreamPool]
    limiter: RateLimiter

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()


def create_proxy_context(
    settings: GatewaySettings, verifier: TokenVerifier, accounts: AccountStates
) -> ProxyContext:
    """Call from the running event loop (the pools bind to it)."""
    return ProxyContext(
        settings=settings,
        verifier=verifier,
        accounts=accounts,
        pools={name: UpstreamPool(url) for name, url in settings.upstreams().items()},
        limiter=RateLimiter(settings.rate_limits()),
    )


class _Incoming:
    """The request headers, read in one pass: what the proxy checks and what goes upstream."""

    __slots__ = ("accept_language", "authorization", "content_length", "lines")

    def __init__(self, scope: Scope) -> None:
        self.authorization: bytes | None = None
        self.content_length: bytes | None = None
        self.accept_language: bytes | None = None
        lines: list[bytes] = []
        for name, value in scope["headers"]:
            name = name.lower()
            if name in HOP_BY_HOP or name.startswith(SPOOFABLE_PREFIXES):
                if name == b"content-length":
                    self.content_length = value
                continue
            if name == b"authorization":
                self.authorization = value
            elif name == b"accept-language":
                self.accept_language = value
            lines.append(name + b": " + value + b"\r\n")
        rid = current_request_id()
        if rid:
            lines.append(b"x-request-id: " + rid.encode() + b"\r\n")
        client = scope.get("client")
        if client:
            lines.append(b"x-forwarded-for: " + str(client[0]).encode() + b"\r\n")
        lines.append(b"x-forwarded-proto: " + scope.get("scheme", "http").encode() + b"\r\n")
        self.lines = lines


def forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers the service receives from the gateway for this request (besides Host and the
    body's framing)."""
    pairs = []
    for line in _Incoming(scope).lines:
        name, _, value = line.rstrip(b"\r\n").partition(b": ")
        pairs.append((name, value))
    return pairs


def _accept_language(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == b"accept-language":
            return str(value.decode("latin-1"))
    return None


def _too_large(limit: int, scope: Scope) -> Response:
    return problem_response(
        status=413,
        code="payload_too_large",
        detail=f"The request body exceeds {limit} bytes.",
        detail_zh=f"请求体超过 {limit} 字节上限。",
        accept_language=_accept_language(scope),
    )


def _upstream_problem(status: int, code: str, scope: Scope, service: str) -> Response:
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
        accept_language=_accept_language(scope),
        headers=headers,
    )


async def _body_chunks(receive: Receive, limit: int) -> AsyncIterator[bytes]:
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = [chunk async for chunk in _body_chunks(receive, limit)]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _authorize(
    ctx: ProxyContext, scope: Scope, service: str, path: str, incoming: _Incoming
) -> policy.Rule:
    """Token (strict verification + live account check), then the route policy and budget."""
    auth = (incoming.authorization or b"").decode("latin-1")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("A bearer access token is required.", detail_zh="需要 Bearer 访问令牌。")
    try:
        claims = await ctx.verifier.verify(token.strip())
    except InvalidToken as exc:
        raise Unauthorized(
            "The access token is invalid or expired.",
            detail_zh="访问令牌无效或已过期。",
            code="invalid_token",
        ) from exc
    role = str(claims["role"])
    sub = str(claims["sub"])
    if role == "service":
        # Service tokens are for service-to-service calls, never for the public entrance.
        raise Forbidden("Service tokens are not accepted here.", detail_zh="服务令牌不能用于此入口。")
    await check_account(ctx.accounts, sub, claims.get("ver"))
    method = scope["method"]
    rule = policy.match(service, path, method)
    if rule is None:
        if policy.serves_method(service, method):
            raise NotFound(code="route_not_found")
        raise AppError(code="method_not_allowed", status=405)
    scope[ROUTE_SCOPE_KEY] = rule.label
    if role not in rule.roles:
        raise Forbidden(
            f"Role '{role}' may not {method} this resource.",
            detail_zh=f"角色“{role}”无权执行此操作。",
        )
    if rule.rate_limit is not None:
        wait = ctx.limiter.acquire(rule.rate_limit, sub)
        if wait:
            raise TooManyRequests(
                wait,
                f"Too many requests to this route; try again in {wait} s.",
                detail_zh=f"该接口请求过于频繁,请 {wait} 秒后再试。",
            )
    return rule


class Proxy:
    """The proxy endpoint (pure ASGI). Needs ``app.state.proxy`` (:class:`ProxyContext`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._forward(scope, receive, send)
        except AppError as exc:
            response = problem_response(
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
                detail_zh=exc.detail_zh,
                accept_language=_accept_language(scope),
                headers=exc.headers,
                extra=exc.extra,
            )
        if response is not None:
            await response(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> Response | None:
        path: str = scope["path"]
        service, _, rest = path[len("/api/v1/") :].partition("/")
        prefix = PREFIXES.get(service)
        raw: bytes = scope.get("raw_path") or path.encode()
        if prefix is None or not raw.startswith(prefix) or raw[len(prefix) : len(prefix) + 1] != b"/":
            raise NotFound(code="route_not_found")
        scope[ROUTE_SCOPE_KEY] = SERVICE_LABELS[service]
        raw_sub = raw[len(prefix) :]
        sub_path = "/" + rest
        if _SUSPICIOUS_PATH.search(raw_sub) or policy.is_internal(sub_path):
            raise NotFound(code="route_not_found")
        ctx: ProxyContext = scope["app"].state.proxy
        incoming = _Incoming(scope)
        rule = await _authorize(ctx, scope, service, sub_path, incoming)
        settings = ctx.settings
        method: str = scope["method"]
        limit = policy.body_limit(sub_path, settings.max_body_bytes, settings.max_batch_body_bytes)
        declared: int | None = None
        if incoming.content_length is not None:
            try:
                declared = int(incoming.content_length)
            except ValueError:
                raise AppError("Invalid Content-Length.", code="bad_request", status=400) from None
            if declared > limit:
                return _too_large(limit, scope)
        body: bytes | AsyncIterator[bytes] | None = None
        length: int | None = None
        try:
            if method in BODY_METHODS:
                if declared is None or declared <= BUFFERED_REQUEST_BYTES:
                    # A chunked body has no length to check up front, and an upstream may answer
                    # before reading it: read it here (it is at most `limit` bytes) so the limit
                    # always holds. Small sized bodies go out in the same write as the head.
                    body = await _read_body(receive, limit)
                    length = len(body)
                else:
                    body = _body_chunks(receive, limit)
                    length = declared
        except BodyTooLarge:
            return _too_large(limit, scope)
        except ClientGone:
            return None
        pool = ctx.pools[service]
        query: bytes = scope.get("query_string", b"")
        target = pool.base_path + raw_sub + (b"?" + query if query else b"")
        head = [method.encode(), b" ", target, b" HTTP/1.1\r\nhost: ", pool.host_header, b"\r\n"]
        head += incoming.lines
        if length is not None:
            head.append(b"content-length: " + str(length).encode() + b"\r\n")
        head.append(b"\r\n")
        deadline = settings.upstream_slow_timeout_s if rule.slow else settings.upstream_timeout_s
        exchange: Exchange | None = None
        answer: bytes | None = None
        try:
            try:
                async with asyncio.timeout(deadline):
                    exchange = await pool.send(b"".join(head), body, head_only=method == "HEAD")
                    headers, route, size = _response_headers(exchange.headers)
                    if size is not None and size <= BUFFERED_RESPONSE_BYTES:
                        # Most answers are small JSON documents: read them whole, answer in one write.
                        answer = await exchange.read()
                        pool.release(exchange)
            except BaseException:
                if exchange is not None:
                    pool.discard(exchange)
                raise
        except BodyTooLarge:
            return _too_large(limit, scope)
        except ClientGone:
            return None
        except UpstreamUnavailable:
            return _upstream_problem(503, "upstream_unavailable", scope, service)
        except TimeoutError:
            return _upstream_problem(504, "upstream_timeout", scope, service)
        except UpstreamBroken:
            return _upstream_problem(502, "bad_upstream_response", scope, service)
        if route:
            scope[ROUTE_SCOPE_KEY] = "/api/v1/" + service + route
        if answer is not None:
            await send({"type": "http.response.start", "status": exchange.status, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return None
        # Large or unsized answers (exports) are streamed.
        response = StreamingResponse(exchange.stream(), status_code=exchange.status)
        response.raw_headers = headers
        try:
            await response(scope, receive, send)
        finally:
            pool.release(exchange)
        return None


def _response_headers(raw: list[tuple[bytes, bytes]]) -> tuple[list[tuple[bytes, bytes]], str, int | None]:
    """The headers relayed to the client, the upstream's route template, the body size if known."""
    headers = []
    route = ""
    size = None
    for name, value in raw:
        lower = name.lower()
        if lower in RESPONSE_DROPPED:
            if lower == ROUTE_HEADER and len(value) <= 200:
                route = value.decode("latin-1")
            continue
        if lower == b"content-length":
            try:
                size = int(value)
            except ValueError:
                raise UpstreamBroken("invalid Content-Length from upstream") from None
        headers.append((lower, value))
    return headers, route, size


class GatewayFront:
    """The gateway's first middleware inside the request id and metrics: refuses oversized header
    blocks (431) and hands the upstream prefixes straight to the proxy."""

    def __init__(self, app: ASGIApp, *, max_header_bytes: int) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.proxy = UnhandledErrorMiddleware(Proxy())
        self.prefixes = tuple(prefix.decode() + "/" for prefix in PREFIXES.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = 0
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4  # "name: value\r\n"
        if size > self.max_header_bytes:
            response = problem_response(
                status=431,
                code="request_header_too_large",
                detail=f"The request headers exceed {self.max_header_bytes} bytes.",
                detail_zh=f"请求头超过 {self.max_header_bytes} 字节上限。",
                accept_language=_accept_language(scope),
            )
            await response(scope, receive, send)
            return
        if scope["path"].startswith(self.prefixes):
            await self.proxy(scope, receive, send)
            return
        await self.app(scope, receive, send)
