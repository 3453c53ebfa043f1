from __future__ import annotations

import pytest

from services.common.errors import problem_body, wants_chinese
from services.common.pagination import decode_cursor, encode_cursor


@pytest.mark.parametrize(
    ("header", "chinese"),
    [
        (None, False),
        ("", False),
        ("zh-CN", True),
        ("zh", True),
        ("zh-Hans-CN", True),
        ("en-US,en;q=0.9", False),
        ("en;q=0.5,zh-CN;q=0.9", True),
        ("zh-CN;q=0.1,en;q=0.8", False),
        ("fr, zh;q=0.5", False),
    ],
)
def test_wants_chinese(header: str | None, chinese: bool) -> None:
    assert wants_chinese(header) is chinese


def test_problem_body_shape() -> None:
    body = problem_body(status=404, code="street_not_found", detail="No street.", detail_zh="街道不存在。")
    assert body["type"].endswith("/street-not-found")
    assert (body["title"], body["status"], body["detail"], body["code"]) == (
        "Street not found",
        404,
        "No street.",
        "street_not_found",
    )
    zh = problem_body(
        status=404, code="street_not_found", detail="No street.", detail_zh="街道不存在。", chinese=True
    )
    assert (zh["title"], zh["detail"]) == ("街道不存在", "街道不存在。")


def test_cursor_round_trip_and_tamper() -> None:
    import uuid

    from sqlalchemy import Column, DateTime, Uuid

    cols = [Column("created_at", DateTime(timezone=True)), Column("id", Uuid)]
    ident = uuid.uuid4()
    cursor = encode_cursor(["2026-03-01T08:00:00+08:00", str(ident)])
    created, decoded_id = decode_cursor(cursor, cols)
    assert decoded_id == ident and created.utcoffset().total_seconds() == 8 * 3600
    with pytest.raises(Exception) as info:
        decode_cursor(cursor[:-3] + "!!!", cols)
    assert getattr(info.value, "code", None) == "validation_failed"


async def test_unexpected_error_is_a_bare_500_with_request_id() -> None:
    import httpx
    from fastapi import FastAPI

    from services.common.errors import install_error_handlers
    from services.common.requestid import RequestIdMiddleware

    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM internal_host")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-500"
    body = response.json()
    assert body["code"] == "internal_error" and body["request_id"] == "trace-500"
    assert "secret" not in response.text and "SELECT" not in response.text


async def test_deeply_nested_json_is_a_422_naming_the_body() -> None:
    import httpx
    from fastapi import FastAPI
    from pydantic import BaseModel

    from services.common.errors import install_error_handlers

    class Body(BaseModel):
        a: int = 0

    app = FastAPI()
    install_error_handlers(app)

    @app.post("/x")
    async def x(body: Body) -> dict[str, int]:
        return {"a": body.a}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "{not json"):
            response = await client.post("/x", content=body, headers={"content-type": "application/json"})
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "body"


def test_broken_database_connections_are_503_and_sql_errors_are_not() -> None:
    """What answers 503 "database unavailable" (retry later) rather than 500: everything asyncpg
    or SQLAlchemy says about a lost, restarting or mid-protocol connection — the PostgreSQL-restart
    fault test met each of these — but not an error in the statement itself."""
    import asyncpg
    from sqlalchemy.exc import OperationalError

    from services.common.directpool import _clean_sql_error
    from services.common.errors import database_unavailable

    broken = [
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        ConnectionRefusedError(111, "refused"),
        OperationalError("SELECT 1", {}, ConnectionResetError()),
    ]
    for exc in broken:
        assert database_unavailable(exc), exc
        assert not _clean_sql_error(exc), exc
    statement_errors = [asyncpg.exceptions.CheckViolationError("attendance_not_negative"), ValueError("x")]
    for exc in statement_errors:
        assert not database_unavailable(exc), exc
    # The direct pool keeps a connection after a plain SQL error, and closes it after anything else.
    assert _clean_sql_error(statement_errors[0]) and not _clean_sql_error(statement_errors[1])
