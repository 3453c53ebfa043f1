"""Cursor pagination: ``?limit=`` (1–200, default 50) and an opaque ``?cursor=``.

Lists are ordered by a unique key (usually ``created_at, id``); the cursor
holds the last row's key values, so pages stay stable while rows are added.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import ValidationFailed

MAX_LIMIT = 200
DEFAULT_LIMIT = 50

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 200.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


Pagination = Annotated[PageParams, Depends(page_params)]


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values, default=str)).decode().rstrip("=")


def decode_cursor(cursor: str, columns: Sequence[Any]) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError("shape")
        return [_coerce(value, column) for value, column in zip(raw, columns, strict=True)]
    except (ValueError, TypeError, decimal.InvalidOperation) as exc:
        raise ValidationFailed(
            "cursor", "not a cursor returned by this list", message_zh="无效的分页游标"
        ) from exc


def _coerce(value: Any, column: ColumnElement[Any]) -> Any:
    if value is None:
        return None
    python_type = column.type.python_type
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if python_type is dt.date:
        return dt.date.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if python_type is decimal.Decimal:
        return decimal.Decimal(value)
    return python_type(value)


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    order_by: Sequence[Any],
    params: PageParams,
    *,
    scalars: bool = True,
) -> tuple[list[Any], str | None]:
    """Run ``stmt`` ordered by ``order_by`` (ascending, unique as a tuple) for one page."""
    if params.cursor:
        values = decode_cursor(params.cursor, order_by)
        stmt = stmt.where(tuple_(*order_by) > tuple_(*values))
    stmt = stmt.order_by(*order_by).limit(params.limit + 1)
    result = await session.execute(stmt)
    rows = list(result.scalars().all() if scalars else result.all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor([_key_value(last, col) for col in order_by])
    return rows, next_cursor


def _key_value(row: Any, column: ColumnElement[Any]) -> Any:
    name = getattr(column, "key", None) or getattr(column, "name", None)
    value = getattr(row, str(name))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value) if isinstance(value, uuid.UUID | decimal.Decimal) else value
