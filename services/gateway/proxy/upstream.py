"""The proxy's HTTP/1.1 client: pooled keep-alive connections to one upstream, parsed by httptools.

Why not a general client: the gateway forwards to three trusted services it knows, every request
is already a list of raw header bytes, and measured on this hot path aiohttp's client spent
~180 µs of CPU per request building and parsing what this module does in ~55 µs (httpx: far
more; bench/README.md). The parser is llhttp through ``httptools``, the one uvicorn itself uses.

What it does:

* one ``asyncio.Protocol`` per connection; idle connections are reused newest-first and dropped
  after ``idle_s`` (shorter than uvicorn's 5 s keep-alive, so the gateway never writes into a
  connection the service is closing) or as soon as the service closes them;
* at most ``max_connections`` per upstream; more concurrent requests wait for a free one;
* request bodies are written as they arrive (with write flow control); response bodies are
  either read whole (small, sized answers) or streamed with read flow control;
* a connection is reused only after a complete exchange (request fully sent, response fully
  read, keep-alive); anything else — timeout, cancellation, a client that went away, a parse
  error — closes it. Nothing is ever retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

# Pause reading from the upstream when this much of a streamed answer is waiting for the client.
READ_HIGH_WATER = 512 * 1024


class UpstreamUnavailable(Exception):
    """The connection was refused or could not be made (503)."""


class UpstreamBroken(Exception):
    """The upstream closed the connection or sent something that is not HTTP (502)."""


class Exchange(asyncio.Protocol):
    """One connection to the upstream; carries one request/response exchange at a time."""

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool
        self._loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.lost = False
        self.idle_since = 0.0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self._chunks: list[bytes] = []
        self._buffered = 0
        self.complete = False
        self.keep_alive = False
        self.sent = False
        self._busy = False
        self._head_only = False
        self._informational = False
        self._error: Exception | None = None
        self._head: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False

    # ---- one exchange ---------------------------------------------------------------------------
    def begin(self, head_only: bool) -> None:
        self._busy = True
        self._head = self._loop.create_future()
        self.status = 0
        self.headers = []
        self._chunks = []
        self._buffered = 0
        self.complete = False
        self.keep_alive = False
        self.sent = False
        self._head_only = head_only
        self._error = None

    def write(self, data: bytes) -> None:
        if self.lost or self.transport is None:
            raise UpstreamBroken("connection closed while sending")
        self.transport.write(data)

    async def drain(self) -> None:
        if self._write_paused and not self.lost:
            self._drain = self._loop.create_future()
            await self._drain
        if self.lost and self.status == 0:
            raise UpstreamBroken("connection closed while sending")

    async def response_head(self) -> None:
        head = self._head
        assert head is not None
        if not head.done():
            await head
        if self.status == 0:
            raise self._error or UpstreamBroken("no answer")

    async def read(self) -> bytes:
        """The whole body (for answers known to be small)."""
        while not self.complete:
            if self._error is not None:
                raise self._error
            self._waiter = self._loop.create_future()
            await self._waiter
        return b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]

    async def stream(self) -> AsyncIterator[bytes]:
        """The body piece by piece as it arrives (exports, large answers)."""
        while True:
            if self._chunks:
                chunks, self._chunks, self._buffered = self._chunks, [], 0
                if self._read_paused and self.transport is not None and not self.lost:
                    self._read_paused = False
                    self.transport.resume_reading()
                yield b"".join(chunks)
                continue
            if self.complete:
                return
            if self._error is not None:
                raise self._error
            self._waiter = self._loop.create_future()
            await self._waiter

    @property
    def reusable(self) -> bool:
        return (
            self.complete
            and self.keep_alive
            and self.sent
            and not self.lost
            and not self._read_paused
            and self._error is None
        )

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()

    # ---- asyncio.Protocol -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy:
            # Bytes nobody asked for on an idle connection: it cannot be trusted any more.
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBroken(f"invalid HTTP from upstream: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._busy and not self.complete:
            if self.status and self._delimited_by_eof():
                self.complete = True  # a body delimited by the end of the connection
                self._wake()
            else:
                self._fail(UpstreamBroken("connection closed by upstream"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._pool.forget(self)

    def _delimited_by_eof(self) -> bool:
        return self.status not in (204, 304) and not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        )

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # ---- httptools callbacks --------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:
            # 1xx (e.g. 100 Continue): informational, the real answer follows.
            self._informational = True
            self.headers = []
            return
        self.status = status
        self.keep_alive = bool(self._parser.should_keep_alive())
        if self._head_only:
            # No body follows a HEAD answer, whatever Content-Length says; llhttp cannot be told so,
            # so the connection is not reused after it.
            self.complete = True
            self.keep_alive = False
        head = self._head
        if head is not None and not head.done():
            head.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._head_only:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_HIGH_WATER and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self.complete = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        # Errors are stored, not set on futures: a waiter that already gave up (timeout) must not
        # leave a "never retrieved" exception behind.
        if self._error is None:
            self._error = error
        head = self._head
        if head is not None and not head.done():
            head.set_result(None)
        self._wake()


class UpstreamPool:
    """Keep-alive connections to one upstream (``http://host:port`` or ``https://…``)."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 256,
        idle_s: float = 4.0,
        connect_timeout_s: float = 2.0,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) upstream URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = ssl.create_default_context() if url.scheme == "https" else None
        # Any path in the base URL is put in front of every request target.
        self.base_path = url.path.rstrip("/").encode()
        self.host_header = url.netloc.encode()
        self.idle_s = idle_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[Exchange] = []
        self._slots = asyncio.Semaphore(max_connections)
        self.loop = asyncio.get_running_loop()
        self._closed = False

    async def send(
        self, head: bytes, body: bytes | AsyncIterator[bytes] | None, *, head_only: bool
    ) -> Exchange:
        """Send one request; returns once the response head has arrived. The caller must hand the
        exchange back with :meth:`release` (or :meth:`discard`) whatever happens next."""
        await self._slots.acquire()
        try:
            exchange = self._idle_exchange() or await self._connect()
        except BaseException:
            self._slots.release()
            raise
        exchange.begin(head_only)
        try:
            if body is None or isinstance(body, bytes):
                exchange.write(head + body if body else head)
            else:
                exchange.write(head)
                async for chunk in body:
                    if exchange.lost:
                        break  # the upstream answered (or failed) early; the head tells which
                    exchange.write(chunk)
                    await exchange.drain()
            exchange.sent = not exchange.lost
            await exchange.response_head()
        except BaseException:
            self.discard(exchange)
            raise
        return exchange

    def release(self, exchange: Exchange) -> None:
        """The exchange is over: keep the connection for the next request when it is clean."""
        if not exchange._busy:
            return
        exchange._busy = False
        self._slots.release()
        if exchange.reusable and not self._closed:
            exchange.idle_since = self.loop.time()
            exchange._head = None
            exchange._waiter = None
            self._idle.append(exchange)
        else:
            exchange.close()

    def discard(self, exchange: Exchange) -> None:
        """End the exchange and close its connection (timeout, cancellation, client gone …)."""
        if exchange._busy:
            exchange._error = exchange._error or UpstreamBroken("discarded")
            self.release(exchange)

    def forget(self, exchange: Exchange) -> None:
        if not exchange._busy:
            with contextlib.suppress(ValueError):
                self._idle.remove(exchange)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for exchange in idle:
            exchange.close()

    def _idle_exchange(self) -> Exchange | None:
        idle = self._idle
        if not idle:
            return None
        oldest_allowed = self.loop.time() - self.idle_s
        while idle:
            exchange = idle.pop()
            if not exchange.lost and exchange.idle_since >= oldest_allowed:
                return exchange
            exchange.close()
        return None

    async def _connect(self) -> Exchange:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, exchange = await self.loop.create_connection(
                    lambda: Exchange(self), self.host, self.port, ssl=self.ssl
                )
        except OSError as exc:
            raise UpstreamUnavailable(str(exc)) from exc
        return exchange
