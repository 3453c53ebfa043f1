"""RFC 9457 problem+json errors with stable codes and zh-CN text.

Every error a client can see is an :class:`AppError` (or a validation error)
rendered by one handler. ``Accept-Language: zh-CN`` selects Chinese ``title``
and ``detail``; English is the default. Internal details (stack traces, SQL,
hosts) never reach the client: unexpected exceptions become a bare 500 whose
only link to the log is the request id.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.requestid import current_request_id

log = logging.getLogger("linju.errors")

PROBLEM_JSON = "application/problem+json"

# code -> (English title, Chinese title). Titles are short and stable; details vary per occurrence.
TITLES: dict[str, tuple[str, str]] = {
    "validation_failed": ("Request validation failed", "请求参数校验失败"),
    "not_found": ("Not found", "资源不存在"),
    "route_not_found": ("No such route", "接口不存在"),
    "method_not_allowed": ("Method not allowed", "不支持该请求方法"),
    "unauthorized": ("Authentication required", "需要登录认证"),
    "invalid_token": ("Invalid or expired access token", "访问令牌无效或已过期"),
    "forbidden": ("Not allowed for your role", "当前角色无权执行此操作"),
    "field_not_writable": ("Field not writable", "该字段不允许修改"),
    "invalid_grant": ("Invalid credentials or refresh token", "用户名、密码或刷新令牌无效"),
    "invalid_client": ("Invalid client credentials", "客户端凭据无效"),
    "unsupported_grant_type": ("Unsupported grant type", "不支持的授权类型"),
    "too_many_requests": ("Too many requests", "请求过于频繁"),
    "login_throttled": ("Too many failed logins", "登录失败次数过多,请稍后再试"),
    "payload_too_large": ("Request body too large", "请求体过大"),
    "request_header_too_large": ("Request headers too large", "请求头过大"),
    "upstream_unavailable": ("Service temporarily unavailable", "服务暂时不可用"),
    "upstream_timeout": ("Service did not answer in time", "服务响应超时"),
    "bad_upstream_response": ("Service returned an invalid response", "服务返回了无效响应"),
    "precondition_failed": ("The object changed since you read it", "数据已被他人修改,请刷新后重试"),
    "precondition_required": ("If-Match header required", "需要 If-Match 请求头"),
    "idempotency_key_reused": ("Idempotency-Key reused with a different request", "幂等键已用于不同的请求"),
    "idempotency_key_in_progress": (
        "A request with this Idempotency-Key is still running",
        "相同幂等键的请求仍在处理中",
    ),
    "conflict": ("Conflict", "数据冲突"),
    "username_taken": ("Username already exists", "用户名已存在"),
    "client_id_taken": ("Client id already exists", "客户端编号已存在"),
    "user_not_found": ("User not found", "用户不存在"),
    "client_not_found": ("API client not found", "接口客户端不存在"),
    "street_not_found": ("Street not found", "街道不存在"),
    "community_not_found": ("Community not found", "社区不存在"),
    "internal_error": ("Internal server error", "服务器内部错误"),
    "service_unavailable": ("Database temporarily unavailable", "数据库暂时不可用"),
}


def define_titles(titles: dict[str, tuple[str, str]], *, default: bool = False) -> None:
    """Domains register the (English, Chinese) titles of their own error codes at import time.

    ``default=True`` only fills in codes nobody has named yet (generic titles such as
    "Activity not found"); a domain's explicit titles win whatever the import order.
    """
    for code, pair in titles.items():
        if default:
            TITLES.setdefault(code, pair)
        else:
            TITLES[code] = pair


define_titles(
    {
        "site_not_found": ("Site not found", "站点不存在"),
        "site_code_taken": ("Site code already in use", "站点编码已被使用"),
        "site_link_overlaps": ("Organisation already linked for this period", "该组织在此期间已有关联"),
        "site_link_not_found": ("Site link not found", "站点关联不存在"),
        "organization_not_found": ("Organisation not found", "组织不存在"),
        "contract_not_found": ("Contract not found", "合同不存在"),
        "staff_not_found": ("Staff member not found", "工作人员不存在"),
        "uscc_taken": ("USCC already registered", "统一社会信用代码已登记"),
        "filing_not_found": ("Filing not found", "报备不存在"),
        "filing_window_closed": ("The filing window is closed", "不在报备时间窗口内"),
        "invalid_transition": ("Not allowed in the current state", "当前状态不允许该操作"),
        "build_list_not_found": ("Build list not found", "建设名单不存在"),
    }
)


class AppError(Exception):
    """An error with an HTTP status and a stable machine code.

    ``detail`` is English; ``detail_zh`` its Chinese counterpart (falls back to the
    zh title). ``extra`` members are added to the problem document as extension
    members (e.g. ``errors`` for validation, ``retry_after``).
    """

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        detail_zh: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.detail = detail
        self.detail_zh = detail_zh
        self.headers = headers or {}
        self.extra = extra
        super().__init__(detail or self.code)


class NotFound(AppError):
    status = 404
    code = "not_found"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PreconditionFailed(AppError):
    status = 412
    code = "precondition_failed"


class TooManyRequests(AppError):
    status = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail, retry_after=retry_after, **kw)


class ValidationFailed(AppError):
    """422 for input that is well-formed JSON but wrong; ``errors`` names each field."""

    status = 422
    code = "validation_failed"

    def __init__(self, field: str, message: str, *, message_zh: str | None = None, **kw: Any) -> None:
        errors = [{"field": field, "message": message}]
        super().__init__(
            f"{field}: {message}",
            detail_zh=f"{field}: {message_zh or message}",
            errors=errors,
            **kw,
        )


def wants_chinese(accept_language: str | None) -> bool:
    """True when the client prefers Chinese (``zh``, ``zh-CN``, ``zh-Hans`` …) over English."""
    if not accept_language:
        return False
    best_lang, best_q = "", -1.0
    for part in accept_language.split(","):
        pieces = part.strip().split(";")
        lang = pieces[0].strip().lower()
        q = 1.0
        for p in pieces[1:]:
            p = p.strip()
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if lang and q > best_q:
            best_lang, best_q = lang, q
    return best_lang.startswith("zh")


def problem_body(
    *,
    status: int,
    code: str,
    detail: str | None,
    detail_zh: str | None = None,
    chinese: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    en_title, zh_title = TITLES.get(code, (HTTPStatus(status).phrase, HTTPStatus(status).phrase))
    body: dict[str, Any] = {
        "type": f"https://linju.example.cn/problems/{code.replace('_', '-')}",
        "title": zh_title if chinese else en_title,
        "status": status,
        "detail": (detail_zh or zh_title) if chinese else (detail or en_title),
        "code": code,
    }
    rid = current_request_id()
    if rid:
        body["request_id"] = rid
    if extra:
        body.update(extra)
    return body


def problem_response(
    *,
    status: int,
    code: str,
    detail: str | None = None,
    detail_zh: str | None = None,
    accept_language: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body = problem_body(
        status=status,
        code=code,
        detail=detail,
        detail_zh=detail_zh,
        chinese=wants_chinese(accept_language),
        extra=extra,
    )
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:] or parts
    return ".".join(parts)


_ZH_MESSAGES = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不允许的字段",
    "less_than_equal": "数值过大",
    "greater_than_equal": "数值过小",
    "string_too_long": "字符串过长",
    "string_too_short": "字符串过短",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "uuid_parsing": "不是有效的 UUID",
    "json_invalid": "JSON 格式错误",
    "date_from_datetime_parsing": "日期格式错误",
    "date_parsing": "日期格式错误",
}


def validation_problem(exc: RequestValidationError, accept_language: str | None) -> Response:
    chinese = wants_chinese(accept_language)
    errors = []
    for err in exc.errors():
        field = _field_path(err.get("loc", ()))
        msg = err.get("msg", "invalid")
        if chinese:
            msg = _ZH_MESSAGES.get(err.get("type", ""), msg)
        errors.append({"field": field, "message": msg, "type": err.get("type")})
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem_response(
        status=422,
        code="validation_failed",
        detail=f"Invalid fields: {fields}",
        detail_zh=f"以下字段无效:{fields}",
        accept_language=accept_language,
        extra={"errors": errors},
    )


class UnhandledErrorMiddleware:
    """Turns an unexpected exception into a bare problem+json 500 (503 when the database is
    unreachable) and logs it with the request id. Unlike Starlette's own last-resort handler it
    does not re-raise, so the connection stays healthy and the id header is still added."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.exception("error after the response started")
                raise
            accept_language = None
            for name, value in scope.get("headers", []):
                if name == b"accept-language":
                    accept_language = value.decode("latin-1")
            if database_unavailable(exc):
                log.warning("database unavailable: %s", type(exc).__name__)
                response = problem_response(
                    status=503,
                    code="service_unavailable",
                    accept_language=accept_language,
                    headers={"Retry-After": "1"},
                )
            else:
                log.exception("unhandled error")
                response = problem_response(
                    status=500, code="internal_error", accept_language=accept_language
                )
            await response(scope, receive, send)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the database is unreachable or restarting, through
    SQLAlchemy or through a service's direct asyncpg pool (:mod:`services.common.directpool`)."""
    from asyncpg.exceptions import InterfaceError as PgInterfaceError
    from asyncpg.exceptions import InternalClientError, PostgresConnectionError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    seen: BaseException | None = exc
    for _ in range(5):  # the exception, what it wraps (orig / __cause__), and so on
        if seen is None:
            return False
        if isinstance(
            seen,
            OperationalError | InterfaceError | ConnectionError | OSError,
        ):
            return True
        # asyncpg's client-side errors (a closed or broken connection, a pool being reset) and its
        # connection-class errors (ConnectionDoesNotExistError among them): the database, not the
        # request, is the problem.
        # InternalClientError: a connection found mid-protocol ("another operation is in
        # progress") after its previous exchange was cut by a restart.
        if isinstance(seen, PgInterfaceError | PostgresConnectionError | InternalClientError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        # "the database system is shutting down / starting up", a lost connection: SQLSTATE classes
        # 57P (operator intervention) and 08 (connection exception).
        sqlstate = getattr(seen, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(("57P", "08")):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def install_error_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        return problem_response(
            status=exc.status,
            code=exc.code,
            detail=exc.detail,
            detail_zh=exc.detail_zh,
            accept_language=request.headers.get("accept-language"),
            headers=exc.headers,
            extra=exc.extra,
        )

    async def request_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return validation_problem(exc, request.headers.get("accept-language"))

    async def http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI could not decode the JSON at all (malformed, or nested too deeply to parse).
            return problem_response(
                status=422,
                code="validation_failed",
                detail="The request body is not valid JSON (or is nested too deeply).",
                detail_zh="请求体不是有效的 JSON(或嵌套层级过深)。",
                accept_language=request.headers.get("accept-language"),
                extra={"errors": [{"field": "body", "message": "not valid JSON", "type": "json_invalid"}]},
            )
        code = {404: "route_not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        return problem_response(
            status=exc.status_code,
            code=code,
            detail=None if exc.status_code in (404, 405) else str(exc.detail),
            accept_language=request.headers.get("accept-language"),
            headers=getattr(exc, "headers", None),
        )

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_exception)
    app.add_middleware(UnhandledErrorMiddleware)
