"""The reverse proxy: request ids, size limits, upstream failures, /internal, header hygiene."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from services.cli.stack import Stack, free_port
from services.gateway.proxy.forward import forwarded_headers
from tests.conftest import TEST_ENV, RunningStack, bearer


def test_request_id_is_echoed_and_propagated(gateway: httpx.Client, district_token: str) -> None:
    # The id reaches the registry: its own problem document (404 for an unknown street) carries it.
    response = gateway.get(
        "/api/v1/registry/communities",
        params={"street_id": "00000000-0000-0000-0000-000000000000"},
        headers={**bearer(district_token), "X-Request-ID": "client-trace-42"},
    )
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "client-trace-42"
    assert response.json()["request_id"] == "client-trace-42"
    assert response.json()["code"] == "street_not_found"


@pytest.mark.parametrize("bad_id", ["x" * 129, "has spaces", "semi;colon", "ünïcode"])
def test_invalid_request_id_is_replaced(gateway: httpx.Client, bad_id: str) -> None:
    response = gateway.get("/healthz", headers={"X-Request-ID": bad_id.encode("utf-8")})
    rid = response.headers["x-request-id"]
    assert rid != bad_id and 0 < len(rid) <= 128 and rid.replace("-", "").isalnum()


def test_generated_request_id_when_none_sent(gateway: httpx.Client) -> None:
    first = gateway.get("/healthz").headers["x-request-id"]
    second = gateway.get("/healthz").headers["x-request-id"]
    assert first and second and first != second


def test_body_over_one_mib_is_413(gateway: httpx.Client, district_token: str) -> None:
    body = b"x" * (2 * 1024 * 1024)
    response = gateway.post(
        "/api/v1/registry/streets",
        content=body,
        headers={**bearer(district_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_chunked_body_over_one_mib_is_413(gateway: httpx.Client, district_token: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"y" * 65536  # 2.5 MiB without a Content-Length

    response = gateway.post(
        "/api/v1/registry/streets",
        content=chunks(),
        headers={**bearer(district_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_internal_paths_are_not_reachable(gateway: httpx.Client, district_token: str) -> None:
    for path in (
        "/api/v1/registry/internal/scopes?role=street",
        "/api/v1/evaluation/internal/scopes",
        "/api/v1/registry/%2e%2e/internal/scopes",
        "/api/v1/registry//internal/scopes",
        "/api/v1/registry/./internal/scopes",
        "/api/v1/registry/streets/../internal/scopes",
        "/api/v1/registry/%69nternal/scopes",
    ):
        response = gateway.get(path, headers=bearer(district_token))
        assert response.status_code == 404, path


def test_unknown_service_is_404(gateway: httpx.Client, district_token: str) -> None:
    assert gateway.get("/api/v1/nothing/here", headers=bearer(district_token)).status_code == 404


def test_anonymous_is_401_before_reaching_a_service(gateway: httpx.Client) -> None:
    response = gateway.get("/api/v1/registry/streets")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_problem_json_in_chinese(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.get("/api/v1/registry/streets", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert response.status_code == 401
    body = response.json()
    assert body["title"] == "需要登录认证"
    english = gateway.get("/api/v1/registry/streets").json()
    assert english["title"] == "Authentication required" and english["code"] == body["code"]
    # A service's own errors are localised too.
    zh = gateway.get(
        "/api/v1/registry/communities",
        params={"limit": 1000},
        headers={**bearer(district_token), "Accept-Language": "zh-CN"},
    ).json()
    assert zh["status"] == 422 and zh["title"] == "请求参数校验失败"
    assert zh["errors"][0]["field"] == "limit"


def test_hop_by_hop_and_spoofable_headers_are_dropped() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "scheme": "http",
        "client": ("10.0.0.9", 5555),
        "server": ("gw", 8000),
        "headers": [
            (b"x-user-role", b"district"),
            (b"X-Principal-Id", b"1"),
            (b"x-forwarded-for", b"6.6.6.6"),
            (b"connection", b"keep-alive"),
            (b"te", b"trailers"),
            (b"expect", b"100-continue"),
            (b"host", b"evil.example"),
            (b"authorization", b"Bearer t"),
            (b"accept-language", b"zh-CN"),
        ],
    }
    names = dict(forwarded_headers(scope))
    assert b"x-user-role" not in names and b"x-principal-id" not in names
    assert b"connection" not in names and b"te" not in names and b"expect" not in names
    assert b"host" not in names
    assert names[b"x-forwarded-for"] == b"10.0.0.9" and names[b"x-forwarded-proto"] == b"http"
    assert names[b"authorization"] == b"Bearer t" and names[b"accept-language"] == b"zh-CN"


def test_merged_openapi(gateway: httpx.Client) -> None:
    doc = gateway.get("/openapi.json").json()
    paths = doc["paths"]
    assert "/api/v1/registry/streets" in paths and "/api/v1/auth/token" in paths and "/api/v1/users" in paths
    assert not any("/internal" in p for p in paths)
    operation_ids = [
        op["operationId"] for item in paths.values() for op in item.values() if "operationId" in op
    ]
    assert len(operation_ids) == len(set(operation_ids))
    assert "registry_list_streets" in operation_ids
    assert doc["components"]["securitySchemes"]["OAuth2Password"]["flows"]["password"]["tokenUrl"]
    assert gateway.get("/docs").status_code == 200


def test_readyz_reports_every_upstream(gateway: httpx.Client) -> None:
    body = gateway.get("/readyz").json()
    assert body["checks"] == {
        "database": "ok",
        "registry": "ok",
        "activities": "ok",
        "evaluation": "ok",
    }


def test_upstream_stopped_is_503_then_recovers(
    stack: RunningStack, gateway: httpx.Client, district_token: str
) -> None:
    stack.stack.stop_service("registry")
    try:
        started = time.monotonic()
        response = gateway.get("/api/v1/registry/streets", headers=bearer(district_token))
        assert response.status_code == 503
        assert time.monotonic() - started < 3
        assert response.json()["code"] == "upstream_unavailable" and response.json()["request_id"]
        assert gateway.get("/readyz").status_code == 503
        # The other services are unaffected.
        assert gateway.get("/api/v1/auth/me", headers=bearer(district_token)).status_code == 200
    finally:
        stack.stack.start_service("registry")
        stack.stack.wait_ready(service="registry")
    assert gateway.get("/api/v1/registry/streets", headers=bearer(district_token)).status_code == 200


@pytest.fixture(scope="module")
def hanging_upstream() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@contextmanager
def second_gateway(stack: RunningStack, *, env: dict[str, str] | None = None, **ports: int) -> Iterator[str]:
    """Another gateway process on the same database (a second replica), optionally re-pointed."""
    port = free_port()
    gw = Stack(
        database_url=stack.database_url,
        gateway_port=port,
        ports={**stack.stack.ports, **ports, "gateway": port},
        extra_env={**TEST_ENV, **(env or {})},
        log_dir=stack.log_dir,
    )
    gw.start_service("gateway")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{gw.url()}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield gw.url()
    finally:
        gw.stop_service("gateway")


def test_slow_upstream_is_504_at_the_deadline(
    stack: RunningStack, hanging_upstream: int, district_token: str
) -> None:
    """A second gateway whose registry never answers, with a 1-second route deadline."""
    with second_gateway(
        stack, env={"LINJU_GATEWAY_UPSTREAM_TIMEOUT_S": "1"}, registry=hanging_upstream
    ) as url:
        started = time.monotonic()
        response = httpx.get(f"{url}/api/v1/registry/streets", headers=bearer(district_token), timeout=10)
        elapsed = time.monotonic() - started
        assert response.status_code == 504
        assert response.json()["code"] == "upstream_timeout"
        assert 0.9 <= elapsed < 3.0


# ---- the proxy's own HTTP client (services/gateway/proxy/upstream.py) ----------------------------


def test_streamed_export_arrives_whole_and_headers_are_not_doubled(
    stack: RunningStack, gateway: httpx.Client, district_token: str
) -> None:
    """An unsized (chunked) answer is streamed through byte for byte; the gateway's own Date and
    Server replace the upstream's, and the upstream's route hint stays inside."""
    params = {"format": "csv"}
    through = gateway.get("/api/v1/registry/sites/export", params=params, headers=bearer(district_token))
    direct = httpx.get(
        stack.service_url("registry") + "/sites/export", params=params, headers=bearer(district_token)
    )
    assert through.status_code == direct.status_code == 200
    assert through.content == direct.content and len(through.content) > 1000
    assert through.headers["content-type"] == direct.headers["content-type"]
    for name in ("date", "server"):
        assert len(through.headers.get_list(name)) == 1
    assert "x-linju-route" not in through.headers and "transfer-encoding" in through.headers


def test_a_large_body_is_streamed_to_the_service(gateway: httpx.Client, district_token: str) -> None:
    """Over 64 KiB with a Content-Length the body is forwarded as it arrives: the service reads all
    of it (here: and refuses the unknown field it ends with)."""
    body = b'{"padding_' + b"x" * (300 * 1024) + b'": 1}'
    response = gateway.post(
        "/api/v1/registry/organizations",
        content=body,
        headers={**bearer(district_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


def test_head_and_idle_connections_do_not_poison_the_pool(gateway: httpx.Client, district_token: str) -> None:
    auth = bearer(district_token)
    assert gateway.head("/api/v1/registry/streets", headers=auth).status_code == 405
    assert gateway.get("/api/v1/registry/streets", headers=auth).status_code == 200
    # uvicorn closes a keep-alive connection after 5 idle seconds: the next request must not be
    # written into the closing connection.
    time.sleep(5.5)
    assert gateway.get("/api/v1/registry/streets", headers=auth).status_code == 200


BROKEN_ANSWERS = {
    b"/garbage": b"this is not HTTP\r\n\r\n",
    b"/cut": b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/plain\r\n\r\nonly ten b",
    b"/cut-stream": (
        b"HTTP/1.1 200 OK\r\ncontent-length: 900000\r\ncontent-type: text/plain\r\n\r\n" + b"z" * 1000
    ),
    b"/until-close": b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nall of it",
}


@pytest.fixture(scope="module")
def broken_upstream() -> Iterator[int]:
    """A TCP server answering each path with the bytes above, then closing the connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            target = data.split(b" ", 2)[1]
            conn.sendall(BROKEN_ANSWERS.get(target, b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_broken_upstream_answers_are_502_and_eof_bodies_pass(
    stack: RunningStack, broken_upstream: int, district_token: str
) -> None:
    with second_gateway(stack, registry=broken_upstream) as url:
        auth = bearer(district_token)
        for path in ("/garbage", "/cut"):
            response = httpx.get(f"{url}/api/v1/registry{path}", headers=auth, timeout=10)
            assert response.status_code == 502, (path, response.text)
            assert response.json()["code"] == "bad_upstream_response"
        # Cut in the middle of a streamed answer: the status line is out, so the client sees the
        # body end early (a protocol error), never a complete-looking answer.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{url}/api/v1/registry/cut-stream", headers=auth, timeout=10).read()
        whole = httpx.get(f"{url}/api/v1/registry/until-close", headers=auth, timeout=10)
        assert whole.status_code == 200 and whole.text == "all of it"
        # The gateway is fine afterwards.
        assert httpx.get(f"{url}/healthz").status_code == 200
