"""What the activities service knows about sites: it asks the registry (SPEC §2).

Sites are never deleted from the registry (a site closes by its status), so a site once known
to exist stays known: existence answers are remembered for the life of the process and a
district write for a known site costs no registry call (issue 7, P4). An unknown id is asked
again every time, so a site registered a moment ago is found at once.
"""

from __future__ import annotations

import uuid

from services.common.service_client import ServiceTokens, UpstreamUnavailable

# Bounded so that a flood of random ids cannot grow it; real districts have a few hundred sites.
KNOWN_SITES_CAPACITY = 100_000


class SiteDirectory:
    def __init__(self, tokens: ServiceTokens, registry_url: str) -> None:
        self._tokens = tokens
        self._url = f"{registry_url.rstrip('/')}/internal/sites"
        self._known: set[uuid.UUID] = set()

    async def _items(self, params: dict[str, object]) -> list[dict[str, str]]:
        response = await self._tokens.get(self._url, params=params, timeout=5.0)
        if response.status_code != 200:
            raise UpstreamUnavailable("The registry did not answer.", detail_zh="登记服务暂时不可用。")
        return list(response.json()["items"])

    def _remember(self, site_ids: set[uuid.UUID]) -> None:
        if len(self._known) + len(site_ids) > KNOWN_SITES_CAPACITY:
            self._known.clear()
        self._known |= site_ids

    async def exists(self, site_id: uuid.UUID) -> bool:
        return site_id in await self.existing({site_id})

    async def existing(self, site_ids: set[uuid.UUID]) -> set[uuid.UUID]:
        """The ones of ``site_ids`` the registry knows (one call per 500 ids not known yet)."""
        found = site_ids & self._known
        ordered = sorted(site_ids - found)
        for start in range(0, len(ordered), 500):
            chunk = [str(s) for s in ordered[start : start + 500]]
            fresh = {uuid.UUID(item["id"]) for item in await self._items({"ids": chunk})}
            self._remember(fresh)
            found |= fresh
        return found

    async def site_ids_of_street(self, street_id: uuid.UUID) -> list[uuid.UUID]:
        return [uuid.UUID(item["id"]) for item in await self._items({"street_id": str(street_id)})]
