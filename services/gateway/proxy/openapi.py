"""One OpenAPI document for the whole API: the gateway's own paths plus every service's.

Each service's document is fetched from the service, its paths are put under
the public prefix (``/api/v1/registry`` …), ``/internal`` paths are left out,
operationIds get the service's name in front (``registry_list_streets``), and
component schemas that clash between services are renamed. Cached for a
minute; a service that is down is simply missing from the document until it
is back.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from services.common.openapi import document_problems
from services.gateway.proxy.policy import is_internal, match

CACHE_S = 60.0
SECURITY_SCHEME = {
    "OAuth2Password": {
        "type": "oauth2",
        "description": "Log in with username/password (POST /api/v1/auth/token); the bearer access token "
        "goes into `Authorization: Bearer …`.",
        "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
    },
}
PUBLIC_GATEWAY_PATHS = ("/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/logout")
# Documented on every operation that draws from a per-principal budget (policy.py `rate_limit`).
TOO_MANY_REQUESTS = {
    "description": "Too many requests from this caller to an expensive route: wait `Retry-After` "
    "seconds (problem+json, code `too_many_requests`).",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    "content": {"application/problem+json": {"schema": {"type": "object"}}},
}


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                name = value.rsplit("/", 1)[1]
                out[key] = "#/components/schemas/" + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def merge_documents(base: dict[str, Any], service: str, doc: dict[str, Any]) -> None:
    schemas = base.setdefault("components", {}).setdefault("schemas", {})
    renames: dict[str, str] = {}
    incoming = doc.get("components", {}).get("schemas", {})
    for name, schema in incoming.items():
        if name in schemas and json.dumps(schemas[name], sort_keys=True) != json.dumps(
            schema, sort_keys=True
        ):
            renames[name] = f"{service.capitalize()}{name}"
    for name, schema in incoming.items():
        schemas[renames.get(name, name)] = _rewrite_refs(schema, renames)
    tags = {t["name"] for t in base.setdefault("tags", [])}
    for tag in doc.get("tags", []):
        if tag["name"] not in tags:
            base["tags"].append(tag)
            tags.add(tag["name"])
    for path, item in doc.get("paths", {}).items():
        if is_internal(path) or path in ("/healthz", "/readyz"):
            continue
        item = _rewrite_refs(copy.deepcopy(item), renames)
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                operation["operationId"] = f"{service}_{operation['operationId']}"
                operation["security"] = [{"OAuth2Password": []}]
                operation.setdefault("tags", [service])
                rule = match(service, path, method.upper())
                if rule is not None and rule.rate_limit is not None:
                    operation.setdefault("responses", {}).setdefault("429", TOO_MANY_REQUESTS)
        base["paths"][f"/api/v1/{service}{path}"] = item


class MergedOpenAPI:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._cached: dict[str, Any] | None = None
        self._complete = False
        self._at = float("-inf")

    async def document(self) -> dict[str, Any]:
        if self._cached is not None and (self._complete and time.monotonic() - self._at < CACHE_S):
            return self._cached
        base = get_openapi(
            title="Linju API",
            version="1.0.0",
            summary="邻聚 — community good-life hubs (社区美好生活共同体), one API for the whole district",
            description=self.app.description,
            routes=self.app.routes,
            tags=self.app.openapi_tags,
        )
        base.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEME
        for path, item in base.get("paths", {}).items():
            for operation in item.values():
                if (
                    isinstance(operation, dict)
                    and path.startswith("/api/v1/")
                    and path not in PUBLIC_GATEWAY_PATHS
                ):
                    operation["security"] = [{"OAuth2Password": []}]
        complete = True
        upstreams: dict[str, httpx.AsyncClient] = self.app.state.upstreams
        for service, client in upstreams.items():
            try:
                response = await client.get("/openapi.json", timeout=3.0)
                response.raise_for_status()
                merge_documents(base, service, response.json())
            except (httpx.HTTPError, ValueError):
                complete = False
        self._cached, self._complete, self._at = document_problems(base), complete, time.monotonic()
        return base
