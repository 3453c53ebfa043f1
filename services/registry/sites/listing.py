"""`GET /sites`, the most frequent call of the API, answered on a short path (issue 7, P3).

* **One query, no transaction.** The page is read on the registry's direct asyncpg pool
  (:mod:`services.common.directpool`: autocommit, no pre-ping), with
  SQL built here from the same rules as :func:`services.registry.scope.visible_sites` and
  :func:`services.registry.sites.service.site_filter_clauses` — the SQLAlchemy session, its
  pool checkout ping and its BEGIN/COMMIT cost several times the query itself.
  ``tests/registry/test_sites.py`` checks the two agree for every role and filter.
* **Rows rendered once.** Each site's JSON — exactly ``SiteRead.from_site(site)
  .model_dump_json()`` — is remembered by the row version it was rendered from:
  ``(id, xmin, version, updated_at)``. PostgreSQL gives every committed change of a row a new
  ``xmin`` (the writing transaction), so a site changed by anyone, even outside this service, is
  a new key and is rendered again; nothing needs invalidating. Only sites not seen in their
  current version are read in full (a second query) and validated.
* **Serialised once.** The page is the rendered rows joined into ``Page[SiteRead]``'s JSON.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

import orjson
from fastapi import FastAPI

from services.common.auth import Principal
from services.common.directpool import direct_pool
from services.common.pagination import PageParams, decode_cursor, encode_cursor
from services.common.timeutil import today_shanghai
from services.registry.scope import UNRESTRICTED_ROLES
from services.registry.sites.models import Site
from services.registry.sites.schemas import SiteFilters, SiteRead

_TABLE = Site.__table__
SITES = _TABLE.fullname  # type: ignore[attr-defined]
CONTRACTS = "registry.contracts"
_JSON_COLUMNS = ("opening_hours", "signage", "function_areas", "safety")
# Every column (JSONB read as text, decoded with orjson only for a row rendered anew) and the
# row version's transaction id.
_FULL_COLUMNS = ", ".join(
    f"{c.name}::text AS {c.name}" if c.name in _JSON_COLUMNS else c.name
    for c in _TABLE.columns  # type: ignore[attr-defined]
)
_ORDER = (_TABLE.c.code, _TABLE.c.id)  # type: ignore[attr-defined]

RowKey = tuple[uuid.UUID, int, int, dt.datetime]


# ---- the query ---------------------------------------------------------------------------------------


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Query:
    def __init__(self) -> None:
        self.where: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"


def list_query(
    principal: Principal, filters: SiteFilters, page: PageParams, today: dt.date | None = None
) -> tuple[str, list[Any]]:
    """The SQL and arguments of one page of keys: the sites ``principal`` may see (the rules of
    :func:`services.registry.scope.visible_sites`), narrowed by ``filters``, after the cursor."""
    q = _Query()
    role = principal.role
    if role in UNRESTRICTED_ROLES:
        pass
    elif role == "street" and principal.street_id:
        q.where.append(f"street_id = {q.arg(principal.street_id)}")
    elif role == "operator" and principal.organization_id is not None:
        day = today or today_shanghai()
        organization = q.arg(principal.organization_id)
        q.where.append(
            f"id IN (SELECT site_id FROM {CONTRACTS} WHERE organization_id = {organization} "  # noqa: S608
            f"AND starts_on <= {q.arg(day)} AND ends_on >= {q.arg(day)})"
        )
    elif role == "evaluator" and principal.sites:
        q.where.append(f"id = ANY({q.arg(sorted(principal.sites))}::uuid[])")
    else:
        q.where.append("false")
    for column, value in (
        ("street_id", filters.street_id),
        ("community_id", filters.community_id),
        ("status", filters.status.value if filters.status else None),
        ("tier", filters.tier.value if filters.tier else None),
        ("operating_mode", filters.operating_mode.value if filters.operating_mode else None),
    ):
        if value is not None:
            q.where.append(f"{column} = {q.arg(value)}")
    if filters.q:
        pattern = q.arg(_like_pattern(filters.q))
        q.where.append(
            f"(name ILIKE {pattern} ESCAPE '\\' OR code ILIKE {pattern} ESCAPE '\\' "
            f"OR address ILIKE {pattern} ESCAPE '\\')"
        )
    if page.cursor:
        code, site_id = decode_cursor(page.cursor, _ORDER)
        q.where.append(f"(code, id) > ({q.arg(code)}, {q.arg(site_id)})")
    where = " AND ".join(q.where) or "true"
    limit = q.arg(page.limit + 1)
    sql = (
        f"SELECT code, id, xmin::text::bigint AS row_xmin, version, updated_at FROM {SITES} "  # noqa: S608
        f"WHERE {where} ORDER BY code, id LIMIT {limit}"
    )
    return sql, q.args


# ---- rendering ---------------------------------------------------------------------------------------


class RenderedSites:
    """A bounded memo: a site's row version → its `SiteRead` JSON (oldest entries dropped first)."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._memo: dict[RowKey, bytes] = {}

    def get(self, key: RowKey) -> bytes | None:
        return self._memo.get(key)

    def put(self, key: RowKey, row: Any) -> bytes:
        values = dict(row.items())
        for name in _JSON_COLUMNS:
            if values[name] is not None:
                values[name] = orjson.loads(values[name])
        rendered = SiteRead.from_site(SimpleNamespace(**values)).model_dump_json().encode()
        if len(self._memo) >= self.capacity:
            del self._memo[next(iter(self._memo))]
        self._memo[key] = rendered
        return rendered


RENDERED_SITES = RenderedSites()


async def list_sites_json(
    app: FastAPI, principal: Principal, filters: SiteFilters, page: PageParams
) -> bytes:
    """One page of `GET /sites` as the JSON of `Page[SiteRead]`, ordered by code (then id)."""
    sql, args = list_query(principal, filters, page)
    memo = RENDERED_SITES
    async with direct_pool(app).connection() as connection:
        rows = await connection.fetch(sql, *args)
        next_cursor = None
        if len(rows) > page.limit:
            rows = rows[: page.limit]
            next_cursor = encode_cursor([rows[-1]["code"], str(rows[-1]["id"])])
        parts = [memo.get((r["id"], r["row_xmin"], r["version"], r["updated_at"])) for r in rows]
        missing = [row["id"] for row, part in zip(rows, parts, strict=True) if part is None]
        if missing:
            # Changed or not listed before: read in full. A site changed again since the first
            # query is shown in its newest version, as a later read would show it.
            fetched = {
                row["id"]: memo.put((row["id"], row["row_xmin"], row["version"], row["updated_at"]), row)
                for row in await connection.fetch(
                    f"SELECT {_FULL_COLUMNS}, xmin::text::bigint AS row_xmin FROM {SITES} "  # noqa: S608
                    "WHERE id = ANY($1::uuid[])",
                    missing,
                )
            }
            parts = [
                part if part is not None else fetched.get(row["id"])
                for row, part in zip(rows, parts, strict=True)
            ]
    return b"".join(
        (
            b'{"items":[',
            b",".join(part for part in parts if part is not None),  # None: deleted in between
            b'],"next_cursor":',
            orjson.dumps(next_cursor),
            b"}",
        )
    )
