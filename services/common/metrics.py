"""Prometheus metrics: request counters, latency histograms and gauges (text format 0.0.4).

One pure-ASGI middleware per process (:func:`install_metrics`), inside the request-id middleware
and outside everything else, so it sees every answer the process gives (including the gateway's
401/413/429/431 and the 500 shield) and times it whole:

* ``linju_http_requests_total{service, method, route, status}`` — ``route`` is the route
  *template* (``/sites/{site_id}``), never the concrete path, so label cardinality stays bounded
  by the route table. Requests no route matched are ``route="unmatched"``. The gateway's proxy
  labels its requests with the upstream's own template (``/api/v1/registry/sites/{site_id}``),
  which each domain service reports in the ``X-Linju-Route`` response header for the gateway (the
  gateway drops the header before answering); when the gateway answered itself (401, 403, 429,
  503 …) the label is the matching policy prefix (``/api/v1/registry/sites/export*``).
* ``linju_http_request_duration_seconds{service, method, route}`` — a histogram, from the first
  byte the app sees to the last byte of the answer (a streamed export counts whole).
* ``linju_http_requests_in_progress``, ``linju_db_pool_checked_out``, ``linju_db_pool_size``,
  ``linju_db_pool_overflow`` and ``process_start_time_seconds`` gauges, plus whatever the
  collectors registered with :func:`add_collector` return (outbox backlog, webhook failures).

The counters live in the process: a scrape shows that process only (one uvicorn worker per
service, as ``linju up`` and docker-compose run them). The hot path is a dict increment and a
``bisect`` into the bucket list; the exposition text is built only when scraped.

**Where and who.** The gateway answers ``GET /metrics``. It is public, so it wants
``Authorization: Bearer <LINJU_METRICS_TOKEN>``; while that setting is unset it answers only to
loopback clients (a scraper on the same host). The domain services answer
``GET /internal/prometheus``: ``/internal`` is never routed by the gateway, so their figures
cannot leak through it, and the activities service keeps ``/metrics`` and ``/internal/metrics``
for the rubric inputs it serves. They listen on loopback (``linju up``) or inside the compose
network and answer any scraper that reaches them — or, once ``LINJU_METRICS_TOKEN`` is set, only
one that presents it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import problem_response

log = logging.getLogger("linju.metrics")

GATEWAY_METRICS_PATH = "/metrics"
SERVICE_METRICS_PATH = "/internal/prometheus"
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
# Seconds. Covers a 1 ms proxied health check up to a 60 s export (the slow-route deadline).
DURATION_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
UNMATCHED = "unmatched"
# An app that knows better than the router (the gateway's proxy) puts its label here.
ROUTE_SCOPE_KEY = "linju.route"
# Domain services report the matched template to the gateway in this response header.
ROUTE_HEADER = b"x-linju-route"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Collector = Callable[[Any], Awaitable[list[str]]]


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request, or ``"unmatched"``."""
    label = scope.get(ROUTE_SCOPE_KEY)
    if label is not None:
        return str(label)
    # FastAPI keeps a route's path relative to its router and records the full one (with the
    # prefixes of `include_router`) in its effective route context; prefer that when present.
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path_format", None)
    if isinstance(path, str):
        return path
    path = getattr(scope.get("route"), "path_format", None)
    return path if isinstance(path, str) else UNMATCHED


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class RequestMetrics:
    """The counters of one process. ``observe`` is the whole per-request cost."""

    def __init__(self, service: str, buckets: tuple[float, ...] = DURATION_BUCKETS) -> None:
        self.service = service
        self.bounds = buckets
        # (method, route, status) -> count
        self.requests: dict[tuple[str, str, int], int] = {}
        # (method, route) -> [count per bucket (not cumulative) ..., count above the last bound, sum]
        self.durations: dict[tuple[str, str], list[float]] = {}
        self.in_progress = 0
        # The machine's clock on purpose: process_start_time_seconds is when this OS process
        # started, which a test clock must not move (it is not a business time).
        self.started_at = time.time()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in _METHODS:
            method = "OTHER"
        key = (method, route, status)
        requests = self.requests
        requests[key] = requests.get(key, 0) + 1
        histogram = self.durations.get((method, route))
        if histogram is None:
            histogram = self.durations[(method, route)] = [0] * (len(self.bounds) + 1) + [0.0]
        histogram[bisect_left(self.bounds, seconds)] += 1
        histogram[-1] += seconds

    def exposition(self) -> list[str]:
        """The process's own series (synchronous: one consistent snapshot)."""
        service = f'service="{_escape(self.service)}"'
        lines = [
            "# HELP linju_http_requests_total HTTP requests answered, by route template and status.",
            "# TYPE linju_http_requests_total counter",
        ]
        for (method, route, status), count in sorted(self.requests.items()):
            lines.append(
                f'linju_http_requests_total{{{service},method="{method}",route="{_escape(route)}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP linju_http_request_duration_seconds Time to answer a request, by route template.",
            "# TYPE linju_http_request_duration_seconds histogram",
        ]
        bounds = [repr(float(b)) for b in self.bounds]
        name = "linju_http_request_duration_seconds"
        for (method, route), histogram in sorted(self.durations.items()):
            labels = f'{service},method="{method}",route="{_escape(route)}"'
            cumulative = 0
            for bound, in_bucket in zip(bounds, histogram, strict=False):
                cumulative += int(in_bucket)
                lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
            cumulative += int(histogram[len(bounds)])
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {cumulative}')
            lines.append(f"{name}_sum{{{labels}}} {histogram[-1]!r}")
            lines.append(f"{name}_count{{{labels}}} {cumulative}")
        lines += [
            "# HELP linju_http_requests_in_progress Requests being answered right now.",
            "# TYPE linju_http_requests_in_progress gauge",
            f"linju_http_requests_in_progress{{{service}}} {self.in_progress}",
            "# HELP process_start_time_seconds Start time of the process since the Unix epoch in seconds.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds{{{service}}} {self.started_at!r}",
        ]
        return lines


def pool_gauges(service: str, engine: Any) -> list[str]:
    """Checked-out connections and size of a SQLAlchemy (async) engine's pool."""
    pool = getattr(engine, "pool", None)
    if pool is None or not hasattr(pool, "checkedout"):
        return []
    label = f'service="{_escape(service)}"'
    return [
        "# HELP linju_db_pool_checked_out Database connections in use.",
        "# TYPE linju_db_pool_checked_out gauge",
        f"linju_db_pool_checked_out{{{label}}} {pool.checkedout()}",
        "# HELP linju_db_pool_size Configured size of the database connection pool.",
        "# TYPE linju_db_pool_size gauge",
        f"linju_db_pool_size{{{label}}} {pool.size()}",
        "# HELP linju_db_pool_overflow Connections opened beyond the pool size (negative: not yet opened).",
        "# TYPE linju_db_pool_overflow gauge",
        f"linju_db_pool_overflow{{{label}}} {pool.overflow()}",
    ]


def add_collector(app: Any, collector: Collector) -> None:
    """Register ``async collector(app) -> list[str]`` (exposition lines, ``# HELP``/``# TYPE``
    included) to be called on every scrape. A collector that fails is logged and skipped."""
    collectors = getattr(app.state, "metrics_collectors", None)
    if collectors is None:
        collectors = app.state.metrics_collectors = []
    collectors.append(collector)


def _is_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


class MetricsMiddleware:
    """Counts and times every HTTP request; answers ``GET <path>`` with the exposition.

    ``token``: the scrape needs ``Authorization: Bearer <token>``. Without one, ``loopback_only``
    admits loopback clients only (the gateway), else everyone (the private services).
    ``report_route``: add the ``X-Linju-Route`` header to every answer (for the gateway).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: RequestMetrics,
        path: str,
        token: str | None = None,
        loopback_only: bool = False,
        report_route: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.path = path
        self.token = f"Bearer {token}".encode() if token else None
        self.loopback_only = loopback_only
        self.report_route = report_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.path and scope["method"] == "GET":
            scope[ROUTE_SCOPE_KEY] = self.path
            await self._timed(scope, receive, send, self._scrape)
            return
        await self._timed(scope, receive, send, self.app)

    async def _timed(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        metrics = self.metrics
        status = 500
        report_route = self.report_route

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if report_route:
                    headers = message.get("headers")
                    route = (ROUTE_HEADER, route_template(scope).encode())
                    if isinstance(headers, list):
                        headers.append(route)
                    else:
                        message["headers"] = [*(headers or ()), route]
            await send(message)

        metrics.in_progress += 1
        started = time.perf_counter()
        try:
            await app(scope, receive, observed_send)
        finally:
            metrics.in_progress -= 1
            metrics.observe(scope["method"], route_template(scope), status, time.perf_counter() - started)

    async def _scrape(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        app = scope.get("app")
        lines = self.metrics.exposition()
        state = getattr(app, "state", None)
        engine = getattr(state, "engine", None) if state is not None else None
        if engine is not None:
            lines += pool_gauges(self.metrics.service, engine)
        for collector in getattr(state, "metrics_collectors", None) or ():
            try:
                lines += await collector(app)
            except Exception:
                log.exception("metrics collector %s failed", getattr(collector, "__name__", collector))
        body = ("\n".join(lines) + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CONTENT_TYPE),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, scope: Scope) -> Any:
        if self.token is None:
            if not self.loopback_only or _is_loopback(scope):
                return None
            return problem_response(
                status=403,
                code="forbidden",
                detail="Metrics are served to loopback clients only until LINJU_METRICS_TOKEN is set.",
                detail_zh="未设置 LINJU_METRICS_TOKEN 时,仅本机可读取监控指标。",
            )
        presented = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                presented = value
                break
        if hmac.compare_digest(presented, self.token):
            return None
        return problem_response(
            status=401,
            code="unauthorized",
            detail="Metrics need the metrics bearer token.",
            detail_zh="读取监控指标需要监控令牌。",
            headers={"WWW-Authenticate": "Bearer"},
        )


def install_metrics(
    app: Any,
    *,
    service: str,
    path: str = SERVICE_METRICS_PATH,
    token: str | None = None,
    loopback_only: bool = False,
    report_route: bool = False,
) -> RequestMetrics:
    """Add the middleware and return the counters. Call it just before adding the request-id
    middleware, so that one stays outermost (the scrape and every refusal carry an id too)."""
    metrics = RequestMetrics(service)
    app.state.metrics = metrics
    app.add_middleware(
        MetricsMiddleware,
        metrics=metrics,
        path=path,
        token=token,
        loopback_only=loopback_only,
        report_route=report_route,
    )
    return metrics
