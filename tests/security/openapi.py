"""The merged OpenAPI document as a list of operations, and what the security tests need to call
them: concrete URLs for path templates, the service behind a public path, and response
comparison that ignores only the per-request id."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

METHODS = ("get", "post", "put", "patch", "delete")
DOMAIN_SERVICES = ("registry", "activities", "evaluation")

# Path parameters that are not ids. The year is one no test uses (a publish there finds nothing).
PARAM_VALUES = {"year": "2099", "code": "C01", "version": "2023-draft", "month": "2026-03", "index": "0"}
# The same parameter name meaning something else on one path.
PATH_PARAM_VALUES = {("/api/v1/registry/build-lists/{year}/versions/{version}", "version"): "1"}
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template, as in the document
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def service(self) -> str | None:
        """The domain service behind the path (None for the gateway's own routes)."""
        parts = self.path.split("/")
        if len(parts) > 3 and parts[1] == "api" and parts[3] in DOMAIN_SERVICES:
            return parts[3]
        return None

    def url(self, **values: str) -> str:
        """The path with every parameter filled: ``values`` first, then the defaults, else a
        random uuid (an object that does not exist)."""

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return values[name]
            return PATH_PARAM_VALUES.get((self.path, name), PARAM_VALUES.get(name, str(uuid.uuid4())))

        return _PARAM.sub(fill, self.path)

    def service_url(self, **values: str) -> str:
        """The same URL as the domain service itself serves it (without the public prefix)."""
        assert self.service is not None
        return self.url(**values)[len(f"/api/v1/{self.service}") :] or "/"

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


def merged_document(gateway: httpx.Client) -> dict[str, Any]:
    """The gateway's merged document once it holds every service: the gateway leaves out a service
    that did not answer its (short) fetch, e.g. while the machine is busy, and fetches again on the
    next request."""
    wanted = {"auth", "users", "clients", *DOMAIN_SERVICES}
    for _ in range(30):
        response = gateway.get("/openapi.json")
        assert response.status_code == 200
        document = dict(response.json())
        if {path.split("/")[3] for path in document["paths"] if path.startswith("/api/v1/")} >= wanted:
            return document
        time.sleep(1)
    raise AssertionError("the merged OpenAPI document never held all four services")


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        Operation(method.upper(), path, item[method])
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    ]


def comparable(response: httpx.Response) -> tuple[int, str, Any]:
    """Status, content type and body of an answer with the request id removed — the one member
    that differs between any two requests (problem bodies carry it so a client can quote it).
    Nothing else is removed: same `type`, `title`, `detail`, `code`, `errors`."""
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        body = response.json()
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "request_id"}
    else:
        body = response.content
    return response.status_code, content_type, body


def header_names(response: httpx.Response) -> set[str]:
    """The header names an answer carries besides the per-request ones (date, id)."""
    return {name.lower() for name in response.headers} - {"date", "x-request-id"}
