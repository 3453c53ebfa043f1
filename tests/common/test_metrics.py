"""Prometheus metrics (issue 8, Operations): `GET /metrics` on the gateway, `GET /internal/prometheus`
on each domain service — counters that move, route templates instead of raw ids, histograms whose
buckets are cumulative and agree with `_count`, the DB pool gauges, collectors, and who may scrape."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from services.common.metrics import (
    RequestMetrics,
    add_collector,
    install_metrics,
    route_template,
)
from services.common.requestid import RequestIdMiddleware
from tests.conftest import RunningStack, bearer
from tests.gateway.test_proxy import second_gateway

SERIES = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>.*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Exposition text → {metric name: [(labels, value)]}; fails on any malformed line."""
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE ")) or not line, line
            continue
        match = SERIES.match(line)
        if match is None:
            name, _, value = line.partition(" ")
            out[name].append(({}, float(value)))
            continue
        labels = dict(LABEL.findall(match["labels"]))
        out[match["name"]].append((labels, float(match["value"])))
    return out


def value(series: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [v for got, v in series.get(name, []) if all(got.get(k) == want for k, want in labels.items())]
    return sum(found)


def assert_histograms_consistent(series: dict[str, list[tuple[dict[str, str], float]]]) -> int:
    """Every histogram: buckets non-decreasing in `le`, `+Inf` == `_count`; returns how many."""
    name = "linju_http_request_duration_seconds"
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for labels, count in series[f"{name}_bucket"]:
        le = labels["le"]
        buckets[(labels["method"], labels["route"])].append(
            (float("inf") if le == "+Inf" else float(le), count)
        )
    counts = {(lab["method"], lab["route"]): v for lab, v in series[f"{name}_count"]}
    sums = {(lab["method"], lab["route"]): v for lab, v in series[f"{name}_sum"]}
    for key, points in buckets.items():
        points.sort()
        values = [count for _, count in points]
        assert values == sorted(values), (key, points)
        assert points[-1][0] == float("inf") and points[-1][1] == counts[key], (key, points, counts[key])
        assert sums[key] >= 0
    assert set(buckets) == set(counts) == set(sums)
    return len(buckets)


# ---- the counters on their own ----------------------------------------------------------------


def test_histogram_buckets_are_cumulative_and_match_count() -> None:
    metrics = RequestMetrics("unit", buckets=(0.01, 0.1, 1.0))
    for seconds in (0.005, 0.01, 0.05, 0.5, 0.5, 3.0):
        metrics.observe("GET", "/sites/{site_id}", 200, seconds)
    metrics.observe("GET", "/sites/{site_id}", 404, 0.002)
    metrics.observe("BREW", 'a "quoted"\\route\n', 200, 0.0)
    series = parse("\n".join(metrics.exposition()))
    route = "/sites/{site_id}"
    assert value(series, "linju_http_requests_total", route=route, status="200") == 6
    assert value(series, "linju_http_requests_total", route=route, status="404") == 1
    bucket = {
        lab["le"]: v
        for lab, v in series["linju_http_request_duration_seconds_bucket"]
        if lab["route"] == route
    }
    # 0.01 falls into le="0.01" (upper bounds are inclusive).
    assert bucket == {"0.01": 3, "0.1": 4, "1.0": 6, "+Inf": 7}
    assert value(series, "linju_http_request_duration_seconds_count", route=route) == 7
    assert value(series, "linju_http_request_duration_seconds_sum", route=route) == pytest.approx(4.067)
    # Unknown methods are folded into one label value; label values are escaped.
    assert value(series, "linju_http_requests_total", method="OTHER") == 1
    assert 'route="a \\"quoted\\"\\\\route\\n"' in "\n".join(metrics.exposition())
    assert assert_histograms_consistent(series) == 2


def _app(**install: Any) -> FastAPI:
    app = FastAPI()
    sites = APIRouter(prefix="/sites")

    @sites.get("/{site_id}")
    async def get_site(site_id: str) -> dict[str, str]:
        return {"id": site_id}

    outer = APIRouter(prefix="/registry")
    outer.include_router(sites)
    app.include_router(outer)
    install_metrics(app, service="unit", **install)
    app.add_middleware(RequestIdMiddleware)
    return app


async def test_route_templates_include_router_prefixes_and_unmatched() -> None:
    app = _app(report_route=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as client:
        ids = [str(uuid.uuid4()) for _ in range(3)]
        for ident in ids:
            response = await client.get(f"/registry/sites/{ident}")
            assert response.status_code == 200
            assert response.headers["x-linju-route"] == "/registry/sites/{site_id}"
        assert (await client.get("/nowhere/" + ids[0])).status_code == 404
        text = (await client.get("/internal/prometheus")).text
    series = parse(text)
    assert value(series, "linju_http_requests_total", route="/registry/sites/{site_id}", status="200") == 3
    assert value(series, "linju_http_requests_total", route="unmatched", status="404") == 1
    assert not any(ident in text for ident in ids)
    assert route_template({"type": "http"}) == "unmatched"


async def test_collectors_are_added_and_a_failing_one_is_skipped() -> None:
    app = _app()

    async def backlog(app: Any) -> list[str]:
        return [
            "# HELP linju_unit_backlog Things waiting.",
            "# TYPE linju_unit_backlog gauge",
            "linju_unit_backlog 7",
        ]

    async def broken(app: Any) -> list[str]:
        raise RuntimeError("database down")

    add_collector(app, broken)
    add_collector(app, backlog)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as client:
        response = await client.get("/internal/prometheus")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert value(parse(response.text), "linju_unit_backlog") == 7


@pytest.mark.parametrize(
    ("client", "headers", "status"),
    [
        (("127.0.0.1", 5000), {}, 200),
        (("::1", 5000, 0, 0), {}, 200),
        (("10.1.2.3", 5000), {}, 403),
        (("203.0.113.9", 5000), {"Authorization": "Bearer anything"}, 403),
    ],
)
async def test_without_a_token_a_loopback_only_scrape_refuses_other_clients(
    client: tuple[Any, ...], headers: dict[str, str], status: int
) -> None:
    app = _app(path="/metrics", loopback_only=True)
    transport = httpx.ASGITransport(app=app, client=client)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://unit") as http:
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "forbidden" and "linju_http" not in response.text


# ---- the running stack ------------------------------------------------------------------------


def scrape_service(stack: RunningStack, service: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = httpx.get(stack.service_url(service) + "/internal/prometheus", timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def test_service_counters_move_with_route_templates_not_ids(
    stack: RunningStack, gateway: httpx.Client, district_token: str
) -> None:
    route = "/sites/{site_id}"
    before = scrape_service(stack, "registry")
    ghosts = [str(uuid.uuid4()) for _ in range(3)]
    for ghost in ghosts:
        assert (
            gateway.get(f"/api/v1/registry/sites/{ghost}", headers=bearer(district_token)).status_code == 404
        )
    text = httpx.get(stack.service_url("registry") + "/internal/prometheus").text
    after = parse(text)
    moved = value(after, "linju_http_requests_total", service="registry", route=route, status="404") - value(
        before, "linju_http_requests_total", service="registry", route=route, status="404"
    )
    assert moved == 3
    assert not any(ghost in text for ghost in ghosts)
    assert assert_histograms_consistent(after) > 0
    # The pool gauges: the configured size, and how many connections are in use right now.
    assert value(after, "linju_db_pool_size", service="registry") == 10
    assert value(after, "linju_db_pool_checked_out", service="registry") >= 0
    assert value(after, "process_start_time_seconds", service="registry") > 1.7e9


@pytest.mark.parametrize("service", ["activities", "evaluation"])
def test_every_domain_service_serves_its_metrics(stack: RunningStack, service: str) -> None:
    series = scrape_service(stack, service)
    assert value(series, "linju_db_pool_size", service=service) == 10
    assert value(series, "linju_http_requests_in_progress", service=service) >= 1  # this scrape


def test_gateway_labels_proxied_requests_with_the_upstream_template(
    gateway: httpx.Client, district_token: str
) -> None:
    ghost = str(uuid.uuid4())
    response = gateway.get(f"/api/v1/registry/sites/{ghost}", headers=bearer(district_token))
    assert response.status_code == 404
    assert "x-linju-route" not in response.headers  # the upstream's hint stays inside
    assert gateway.get("/api/v1/registry/streets").status_code == 401  # answered by the gateway
    scrape = gateway.get("/metrics")  # the test client is a loopback client and no token is set
    assert scrape.status_code == 200
    series = parse(scrape.text)
    assert (
        value(
            series,
            "linju_http_requests_total",
            service="gateway",
            route="/api/v1/registry/sites/{site_id}",
            status="404",
        )
        >= 1
    )
    assert value(series, "linju_http_requests_total", route="/api/v1/registry/*", status="401") >= 1
    assert value(series, "linju_http_requests_total", route="/api/v1/auth/token", status="200") >= 1
    assert ghost not in scrape.text
    assert_histograms_consistent(series)
    assert value(series, "linju_db_pool_size", service="gateway") == 10


def test_service_metrics_are_never_reachable_through_the_gateway(
    gateway: httpx.Client, district_token: str
) -> None:
    for service in ("registry", "activities", "evaluation"):
        response = gateway.get(f"/api/v1/{service}/internal/prometheus", headers=bearer(district_token))
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "route_not_found"
    # The activities service's own /metrics is the rubric-inputs API, not the scrape.
    response = gateway.get("/api/v1/activities/metrics", headers=bearer(district_token))
    assert response.status_code == 422 and "linju_http" not in response.text


def test_gateway_metrics_need_the_metrics_token_when_one_is_set(stack: RunningStack) -> None:
    token = "metrics-" + uuid.uuid4().hex
    with second_gateway(stack, env={"LINJU_METRICS_TOKEN": token}) as url:
        missing = httpx.get(f"{url}/metrics")
        wrong = httpx.get(f"{url}/metrics", headers=bearer("metrics-" + uuid.uuid4().hex))
        right = httpx.get(f"{url}/metrics", headers=bearer(token))
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized" and refused.headers["www-authenticate"] == "Bearer"
        assert "linju_http" not in refused.text
    assert right.status_code == 200
    assert value(parse(right.text), "linju_http_requests_total", route="/metrics", status="401") == 2
