"""What the activities service knows about sites: it asks the registry (SPEC §2)."""

from __future__ import annotations

import uuid

from services.common.service_client import ServiceTokens, UpstreamUnavailable


class SiteDirectory:
    def __init__(self, tokens: ServiceTokens, registry_url: str) -> None:
        self._tokens = tokens
        self._url = f"{registry_url.rstrip('/')}/internal/sites"

    async def _items(self, params: dict[str, object]) -> list[dict[str, str]]:
        response = await self._tokens.get(self._url, params=params, timeout=5.0)
        if response.status_code != 200:
            raise UpstreamUnavailable("The registry did not answer.", detail_zh="登记服务暂时不可用。")
        return list(response.json()["items"])

    async def exists(self, site_id: uuid.UUID) -> bool:
        return bool(await self._items({"ids": [str(site_id)]}))

    async def existing(self, site_ids: set[uuid.UUID]) -> set[uuid.UUID]:
        """The ones of ``site_ids`` the registry knows (one call per 500 ids)."""
        ordered = sorted(site_ids)
        found: set[uuid.UUID] = set()
        for start in range(0, len(ordered), 500):
            chunk = [str(s) for s in ordered[start : start + 500]]
            found |= {uuid.UUID(item["id"]) for item in await self._items({"ids": chunk})}
        return found

    async def site_ids_of_street(self, street_id: uuid.UUID) -> list[uuid.UUID]:
        return [uuid.UUID(item["id"]) for item in await self._items({"street_id": str(street_id)})]
