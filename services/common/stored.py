"""A stored row that breaks a rule the database does not check: one clear error, never a bare 500.

The database refuses unknown codes and impossible states (:mod:`services.common.constraints`), but
not every rule is a CHECK: the shape of a JSON document (an activity's evidence without its
``uri``), a number JSON cannot carry. A row written with SQL can break such a rule, and then
reading it fails — the read model's validation, or the JSON encoding of an export line or a feed
event. That failure is turned here, and only here, into :class:`StoredRecordInvalid`:

* the response is problem+json ``500 stored_record_invalid`` with the ``request_id``;
* one ``ERROR`` log line, with that request id, names the table, the row's key and what is wrong
  (``stored record invalid: table=activities.activities id=… evidence.0.uri: Field required``),
  which is how an operator finds the row (README, operations: "A stored record breaks a rule").

Nothing is validated twice for it: read models derive from :class:`StoredRead`, whose
``model_validate`` only adds a handler around the validation that happens anyway, and renderers
that build a read model by hand are wrapped in :func:`reads_stored`. Exports and feeds catch the
encoding failure of a batch and only then look for the row (:func:`first_failing`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, Self, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.config import ExtraValues
from sqlalchemy import inspect as sa_inspect

from services.common.errors import AppError, define_titles

log = logging.getLogger("linju.stored")

CODE = "stored_record_invalid"
# What a renderer of stored data raises when a document lacks a member or holds the wrong type.
RENDERING_ERRORS = (KeyError, TypeError, ValueError)  # ValidationError and orjson's are ValueError/TypeError
SHOWN_ERRORS = 5

define_titles({CODE: ("A stored record breaks a rule", "存储的记录不符合规则")})

P = ParamSpec("P")
R = TypeVar("R")


class StoredRecordInvalid(AppError):
    """A stored row cannot be read back as the API defines it (500; the log line names the row)."""

    status = 500
    code = CODE

    def __init__(self, table: str) -> None:
        # The table and the row stay in the log: the client learns that, not which.
        super().__init__(
            "A stored record breaks a rule of the API, so this cannot be answered. An operator finds "
            "the record in the service's log by this response's request_id.",
            detail_zh="存储的记录不符合接口规则,无法返回结果。"
            "运维人员可按本响应的 request_id 在服务日志中找到该记录。",
        )
        self.table = table


def stored_record_invalid(
    source: Any, error: BaseException, *, table: str | None = None
) -> StoredRecordInvalid:
    """Log which row ``source`` is and what is wrong with it; the error to raise instead of ``error``."""
    located_table, key = _locate(source)
    table = located_table or table or "?"
    log.error(
        "stored record invalid: table=%s id=%s %s",
        table,
        key,
        _describe(error),
        extra={"code": CODE, "table": table, "record_id": key},
    )
    return StoredRecordInvalid(table)


class StoredRead(BaseModel):
    """Base of the read models built from stored rows: a row that fails validation raises
    :class:`StoredRecordInvalid` naming it, instead of a ``ValidationError`` (a bare 500)."""

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
        source: Any = None,
    ) -> Self:
        """``source``: the stored row ``obj`` was built from, when ``obj`` is not the row itself."""
        try:
            return super().model_validate(
                obj,
                strict=strict,
                extra=extra,
                from_attributes=from_attributes,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as error:
            # An ORM row names its table; for a mapping the log names the read model instead.
            raise stored_record_invalid(
                obj if source is None else source, error, table=f"? (read as {cls.__name__})"
            ) from error


def reads_stored(table: str, *, row: int = 0) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that renders one stored row of ``table`` (its positional argument
    number ``row``; 1 for a classmethod): a row it cannot render raises :class:`StoredRecordInvalid`
    naming the row."""

    def decorate(render: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(render)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return render(*args, **kwargs)
            except StoredRecordInvalid:
                raise
            except RENDERING_ERRORS as error:
                source = args[row] if len(args) > row else None
                raise stored_record_invalid(source, error, table=table) from error

        return wrapper

    return decorate


def first_failing(rows: Iterable[Any], encode: Callable[[Any], object]) -> Any | None:
    """After ``encode`` failed on a batch: the first row it fails on, None if it fails on none alone."""
    for row in rows:
        try:
            encode(row)
        except RENDERING_ERRORS:
            return row
    return None


def _locate(source: Any) -> tuple[str | None, str]:
    """(table, key) of a stored row: an ORM instance knows both; a mapping or a plain object its id."""
    state = sa_inspect(source, raiseerr=False)
    mapper = getattr(state, "mapper", None)
    if mapper is not None:
        identity = getattr(state, "identity", None) or (getattr(source, "id", None),)
        return mapper.local_table.fullname, "/".join(str(value) for value in identity)
    if isinstance(source, Mapping):
        return None, str(source.get("id", "?"))
    return None, str(getattr(source, "id", "?"))


def _describe(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(part) for part in e['loc']) or '(row)'}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)
        ]
        more = len(problems) - SHOWN_ERRORS
        return "; ".join(problems[:SHOWN_ERRORS]) + (f"; and {more} more" if more > 0 else "")
    return f"{type(error).__name__}: {error}"
