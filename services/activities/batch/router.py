"""`POST /batch?kind=…` (also `POST /activities/batch?kind=…`) — batch ingest (SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from services.activities.batch import service
from services.activities.batch.schemas import MAX_RECORDS, BatchKind, BatchResult
from services.activities.scope import Writer
from services.common.db import DbSession
from services.common.idempotency import IdempotencyGuard

router = APIRouter(tags=["batch ingest"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": f"Up to {MAX_RECORDS} records of one kind, each shaped like its resource's POST body.",
        "content": {
            "application/x-ndjson": {"schema": {"type": "string", "description": "One JSON record per line"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}


async def ingest_batch(
    request: Request,
    session: DbSession,
    principal: Writer,
    kind: Annotated[BatchKind, Query(description="What the records are; one kind per batch")],
    idempotency: IdempotencyGuard,
) -> Response:
    """For district data platforms and offline mobile clients: up to 10,000 records of one kind as
    NDJSON (`Content-Type: application/x-ndjson`) or a JSON array (`application/json`), at most 16 MiB.

    All or nothing: if any record is invalid — a bad field, a site outside your scope, a volunteer
    day over 24 h — the answer is 422 `batch_invalid` listing every problem as
    `{line, field, message}` (`line` is the NDJSON line, or the array index + 1) and nothing is
    written. Over 10,000 records → 413 `batch_too_large`. Send an `Idempotency-Key` so that a
    retried upload is applied once: the retry gets the first answer again."""

    async def create() -> Response:
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        return await service.ingest(session, request, principal, kind, content_type, body)

    return await idempotency.run(create)


for _path, _name in (("/batch", "ingest_batch"), ("/activities/batch", "ingest_activities_batch")):
    router.add_api_route(
        _path,
        ingest_batch,
        methods=["POST"],
        name=_name,
        status_code=201,
        response_model=BatchResult,
        summary="Ingest a batch of records",
        openapi_extra=_BODY,
    )
