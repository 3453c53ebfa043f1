"""What the evaluation service asks other services, over HTTP with its service token (SPEC §2).

* the registry: its site directory, a site's evaluation facts (or many sites' at once), and the
  tier write (Annex A);
* the activities service: a site's metrics for a period (every count Table C.1 needs), or many
  sites' at once;
* the gateway: who a user is (role, active, organisation) for assignments.

A service that does not answer, or answers with an unexpected status, is reported as 503
``upstream_unavailable``: the caller's transaction rolls back and a retry is safe.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import orjson
from fastapi import Request
from pydantic import BaseModel

from services.common.service_client import ServiceTokens, UpstreamUnavailable

TIMEOUT_S = 10.0
# A whole round's facts or metrics (hundreds of sites) in one answer.
BATCH_TIMEOUT_S = 60.0


class DirectoryEntry(BaseModel):
    id: uuid.UUID
    street_id: uuid.UUID
    community_id: uuid.UUID
    status: str
    name: str
    code: str
    operator_organization_ids: list[uuid.UUID]


class UserFacts(BaseModel):
    id: uuid.UUID
    role: str
    active: bool
    street_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    display_name: str


def _unavailable(what: str, what_zh: str) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"The {what} did not answer as expected.", detail_zh=f"{what_zh}暂时不可用。")


class Upstream:
    """Typed calls to the registry, the activities service and the gateway."""

    def __init__(self, tokens: ServiceTokens, *, registry_url: str, activities_url: str, gateway_url: str):
        self._tokens = tokens
        self._registry = registry_url.rstrip("/")
        self._activities = activities_url.rstrip("/")
        self._gateway = gateway_url.rstrip("/")

    @classmethod
    def of(cls, request: Request) -> Upstream:
        settings = request.app.state.settings
        return cls(
            request.app.state.service_tokens,
            registry_url=settings.registry_url,
            activities_url=settings.activities_url,
            gateway_url=settings.gateway_url,
        )

    async def _json(self, response: httpx.Response, what: str, what_zh: str) -> Any:
        if response.status_code != 200:
            raise _unavailable(what, what_zh)
        try:
            return response.json()
        except ValueError as exc:
            raise _unavailable(what, what_zh) from exc

    # ---- registry ---------------------------------------------------------------------------------

    async def site_directory(
        self, *, ids: list[uuid.UUID] | None = None, status: str | None = None
    ) -> list[DirectoryEntry]:
        """Sites from the registry's directory (by ids and/or status), with their operators today."""
        params: dict[str, Any] = {}
        if ids is not None:
            if not ids:
                return []
            params["ids"] = [str(i) for i in ids]
        if status is not None:
            params["status"] = status
        response = await self._tokens.get(
            f"{self._registry}/internal/sites", params=params, timeout=TIMEOUT_S
        )
        body = await self._json(response, "registry", "登记服务")
        return [DirectoryEntry.model_validate(item) for item in body["items"]]

    async def evaluation_inputs(self, site_id: uuid.UUID, start: dt.date, end: dt.date) -> dict[str, Any]:
        """The registry facts of a site for a period (areas, hours, staff, organisations)."""
        response = await self._tokens.get(
            f"{self._registry}/internal/sites/{site_id}/evaluation-inputs",
            params={"from": start.isoformat(), "to": end.isoformat()},
            timeout=TIMEOUT_S,
        )
        return dict(await self._json(response, "registry", "登记服务"))

    async def evaluation_inputs_of(
        self, site_ids: list[uuid.UUID], start: dt.date, end: dt.date
    ) -> dict[uuid.UUID, dict[str, Any]]:
        """:meth:`evaluation_inputs` of many sites in one call (a whole round), by site id."""
        body = await self._post_json(
            f"{self._registry}/internal/evaluation-inputs", site_ids, start, end, "registry", "登记服务"
        )
        return {uuid.UUID(item["site_id"]): item for item in body["items"]}

    async def _post_json(
        self, url: str, site_ids: list[uuid.UUID], start: dt.date, end: dt.date, what: str, what_zh: str
    ) -> Any:
        response = await self._tokens.request(
            "POST",
            url,
            content=orjson.dumps(
                {"site_ids": [str(s) for s in site_ids], "from": start.isoformat(), "to": end.isoformat()}
            ),
            headers={"Content-Type": "application/json"},
            timeout=BATCH_TIMEOUT_S,
        )
        if response.status_code != 200:
            raise _unavailable(what, what_zh)
        try:
            return orjson.loads(response.content)  # megabytes of ids: orjson, not the json module
        except orjson.JSONDecodeError as exc:
            raise _unavailable(what, what_zh) from exc

    async def set_site_tier(self, site_id: uuid.UUID, tier: str | None, round_id: uuid.UUID) -> None:
        """Write a site's hub type (Annex A). Idempotent: the same tier for the same round is a no-op."""
        response = await self._tokens.request(
            "POST",
            f"{self._registry}/internal/sites/{site_id}/tier",
            json={"tier": tier, "round_id": str(round_id)},
            timeout=TIMEOUT_S,
        )
        await self._json(response, "registry", "登记服务")

    # ---- activities -------------------------------------------------------------------------------

    async def activity_metrics(self, site_id: uuid.UUID, start: dt.date, end: dt.date) -> dict[str, Any]:
        """Every count of the activities logs the rubric needs, with the record ids counted."""
        response = await self._tokens.get(
            f"{self._activities}/metrics",
            params={"site_id": str(site_id), "from": start.isoformat(), "to": end.isoformat()},
            timeout=TIMEOUT_S,
        )
        return dict(await self._json(response, "activities service", "活动服务"))

    async def activity_metrics_of(
        self, site_ids: list[uuid.UUID], start: dt.date, end: dt.date
    ) -> dict[uuid.UUID, dict[str, Any]]:
        """:meth:`activity_metrics` of many sites in one call (a whole round), by site id; every
        part the rubric reads (the ``activities`` part of the single document is left out)."""
        body = await self._post_json(
            f"{self._activities}/internal/metrics", site_ids, start, end, "activities service", "活动服务"
        )
        return {uuid.UUID(item["site_id"]): item for item in body["items"]}

    # ---- gateway ----------------------------------------------------------------------------------

    async def user(self, user_id: uuid.UUID) -> UserFacts | None:
        """A user's role, organisation and whether it is active; None when there is no such user."""
        response = await self._tokens.get(f"{self._gateway}/internal/users/{user_id}", timeout=TIMEOUT_S)
        if response.status_code == 404:
            return None
        return UserFacts.model_validate(await self._json(response, "gateway", "网关"))
