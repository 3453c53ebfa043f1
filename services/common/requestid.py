"""Request ids and JSON-lines logging that carries them.

The gateway accepts a client's ``X-Request-ID`` only when it is at most 128
characters of ``[A-Za-z0-9-]``; otherwise it makes a new one. Services take the
id the gateway forwarded. The id lives in a context variable so every log line
written while handling the request carries it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import random
import re
import sys
import time
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9-]{1,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def valid_request_id(value: str | None) -> bool:
    return bool(value) and _VALID_ID.fullmatch(value or "") is not None


# Request ids need to be unique, not secret: a PRNG seeded from the OS once per process is enough
# and avoids a getrandom() system call and a UUID object per request.
_ids = random.Random(int.from_bytes(os.urandom(16), "big"))


def new_request_id() -> str:
    return f"{_ids.getrandbits(128):032x}"


class RequestIdMiddleware:
    """Pure ASGI middleware: binds the request id and echoes it on the response."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.log = logging.getLogger("linju.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid: str = incoming if incoming is not None and valid_request_id(incoming) else new_request_id()
        rid_bytes = rid.encode()
        token = _request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid_bytes))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            # The dispatcher polls every feed each second: successful polls are logged at DEBUG.
            level = logging.DEBUG if path in QUIET_PATHS and status_holder["status"] < 400 else logging.INFO
            if self.access_log and self.log.isEnabledFor(level):
                self.log.log(
                    level,
                    "request",
                    extra={
                        "method": scope.get("method"),
                        "path": path,
                        "status": status_holder["status"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            _request_id.reset(token)


QUIET_PATHS = frozenset({"/internal/changes", "/healthz", "/readyz"})
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = _request_id.get()
        if rid:
            data["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(service: str, *, json_lines: bool = True, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonLinesFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own loggers go through the same JSON-lines handler; its access log duplicates
    # ours (which carries the request id), so it is off.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO: the dispatcher's feed polls and every service-to-service
    # call would drown the log. Our own access log records what matters; httpx warnings still show.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
