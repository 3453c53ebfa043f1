"""Optimistic concurrency for PATCH/PUT: ``ETag`` out, ``If-Match`` in (SPEC §3).

Every updatable row has an integer ``version``; its ETag is ``"<id>.<version>"``
(opaque to clients). A write without ``If-Match`` gets 428, a stale one 412;
nothing is changed in either case.
"""

from __future__ import annotations

import uuid

from fastapi import Request, Response

from services.common.errors import AppError, PreconditionFailed


def make_etag(object_id: uuid.UUID, version: int) -> str:
    return f'"{object_id.hex}.{version}"'


def set_etag(response: Response, object_id: uuid.UUID, version: int) -> None:
    response.headers["ETag"] = make_etag(object_id, version)


def require_if_match(request: Request, object_id: uuid.UUID, version: int) -> None:
    """Refuse the write unless the client's ``If-Match`` names the current version."""
    header = request.headers.get("if-match")
    if not header:
        raise AppError(
            "This update needs an If-Match header with the ETag you read.",
            detail_zh="更新需要携带 If-Match 请求头(取自读取时的 ETag)。",
            code="precondition_required",
            status=428,
        )
    current = make_etag(object_id, version)
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    if "*" not in candidates and current not in candidates:
        raise PreconditionFailed(
            "The object was changed since you read it; read it again and retry.",
            detail_zh="数据已被他人修改,请重新读取后再试。",
        )
