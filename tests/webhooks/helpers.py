"""A loopback webhook receiver and small helpers for the webhook tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.conftest import bearer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


# What the receiver answers: (status, extra headers), chosen per request by a function of the
# request and of how many requests it got before on that path.
Responder = Callable[[Received, int], tuple[int, dict[str, str]]]


def always_ok(request: Received, seen: int) -> tuple[int, dict[str, str]]:
    return 204, {}


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 (a free port, in a thread) that records every request."""

    responders: dict[str, Responder] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _paths: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def new_path(self, responder: Responder = always_ok) -> str:
        """A fresh path (one per test webhook) answered by ``responder``."""
        path = f"/hook/{next(self._paths)}"
        self.responders[path] = responder
        return path

    def received(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(
        self, path: str, predicate: Callable[[list[Received]], bool], timeout_s: float = 60.0
    ) -> list[Received]:
        """Poll until ``predicate`` holds for the requests on ``path`` (a deadline against hangs,
        not a timing assertion)."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = self.received(path)
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver {path}: condition not met; got {len(got)} requests")
            time.sleep(0.1)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = Received(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            with receiver.lock:
                seen = sum(1 for r in receiver.requests if r.path == self.path)
                receiver.requests.append(request)
            responder = receiver.responders.get(self.path, always_ok)
            status, headers = responder(request, seen)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), b""))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def verify_from_scratch(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A second, independent reading of the Standard Webhooks spec: the key is the base64 after
    `whsec_`; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the header holds
    space-separated `v1,<base64 HMAC-SHA256>` entries."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    expected = hmac.new(key, content, hashlib.sha256).digest()
    for entry in headers["webhook-signature"].split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
            return True
    return False


def create_webhook(gateway: httpx.Client, token: str, url: str, **overrides: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["*"], "description": "test receiver", **overrides}
    response = gateway.post("/api/v1/webhooks", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(gateway: httpx.Client, token: str, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 200, **params, **({"cursor": cursor} if cursor else {})}
        response = gateway.get(
            f"/api/v1/webhooks/{webhook_id}/deliveries", params=query, headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def wait_for_deliveries(
    gateway: httpx.Client,
    token: str,
    webhook_id: str,
    predicate: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 60.0,
    **params: Any,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = deliveries(gateway, token, webhook_id, **params)
        if predicate(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries of {webhook_id}: condition not met: {got}")
        time.sleep(0.2)
