"""The webhook dispatcher (`linju dispatch`): from the services' change feeds to the receivers.

Two jobs, both driven by the gateway schema so that any number of dispatcher processes can run
and a restart (or a crash) loses nothing:

* **Feed → queue.** For each domain service: read the next events of
  ``GET /internal/changes?after=<cursor>`` with a service token, then in one gateway transaction
  lock that service's cursor row, check it still is the cursor the page was read from, insert one
  delivery per enabled webhook whose ``event_types`` match, and store the new cursor. The
  deliveries and the cursor commit together: a crash before the commit re-reads the same events,
  one after it never reads them again (and the unique (webhook, event) key drops any duplicate).
* **Queue → receiver.** Workers claim one due delivery at a time with ``FOR UPDATE SKIP LOCKED``
  and keep the row locked while they POST it, so two dispatchers never send the same delivery at
  once. A delivery is not claimed while an earlier delivery of the same object to the same
  webhook is still pending: each receiver gets an object's events in order. Each attempt is
  recorded (status code, latency, error); 2xx is delivered, anything else (3xx included:
  redirects are never followed) is retried with exponential backoff until the retry window
  ends, then the delivery is ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from services.common.db import create_engine, make_sessionmaker
from services.common.service_client import INTERNAL_LIMITS, ServiceTokens, UpstreamUnavailable
from services.common.timeutil import unix_now, utc_now
from services.gateway.settings import GatewaySettings
from services.gateway.webhooks.destinations import (
    AllowList,
    DestinationRefused,
    Resolver,
    check_destination,
    parse_url,
    system_resolver,
    url_host,
)
from services.gateway.webhooks.models import FeedCursor, Webhook, WebhookDelivery, WebhookDeliveryAttempt
from services.gateway.webhooks.schedule import after_failure
from services.gateway.webhooks.schemas import event_type_matches
from services.gateway.webhooks.signing import signed_headers

log = logging.getLogger("linju.dispatcher")

FEED_PAGE = 1000  # the feed's maximum page
# asyncpg allows 32767 bind parameters per statement; a delivery row has 11.
INSERT_CHUNK = 2000
USER_AGENT = "Linju-Webhooks/1"
IDLE_WORKER_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AttemptOutcome:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def delivery_client(timeout_s: float) -> httpx.AsyncClient:
    """The client that POSTs to receivers.

    No redirects; no proxy from the environment (it would bypass the address check); no kept-alive
    connections, because a connection is opened to a checked *address* and a pooled one could be
    reused for another host name on the same address (with the wrong TLS server name).
    """
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=0),
        headers={"user-agent": USER_AGENT},
    )


async def post_event(
    client: httpx.AsyncClient,
    *,
    url: str,
    secret: str,
    event_id: str,
    body: bytes,
    allow: AllowList,
    require_https: bool,
    resolver: Resolver = system_resolver,
    timeout_s: float = 10.0,
) -> AttemptOutcome:
    """One signed POST of ``body`` to ``url``, after checking (again) where ``url`` leads.
    ``timeout_s`` bounds the whole exchange (a receiver trickling its answer cannot hold it)."""
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        parsed = parse_url(url, require_https=require_https)
        addresses = await check_destination(parsed, allow, resolver)
    except DestinationRefused as exc:
        return AttemptOutcome(None, elapsed_ms(), f"destination refused: {exc.reason}")
    host = url_host(parsed)
    address = addresses[0]
    # Connect to the address just checked (not to whatever the name resolves to a moment later);
    # the Host header and the TLS server name stay the URL's own.
    target = parsed.copy_with(host=str(address))
    headers = signed_headers(secret, event_id, int(unix_now()), body)
    headers["host"] = parsed.netloc.decode("ascii")
    extensions: dict[str, Any] = {}
    if parsed.scheme == "https":
        extensions["sni_hostname"] = host
    try:
        async with (
            asyncio.timeout(timeout_s),
            client.stream(
                "POST", target, content=body, headers=headers, extensions=extensions, follow_redirects=False
            ) as response,
        ):
            status = response.status_code
            location = response.headers.get("location")
    except (httpx.TimeoutException, TimeoutError):
        return AttemptOutcome(None, elapsed_ms(), "timeout: no answer in time")
    except httpx.HTTPError as exc:
        return AttemptOutcome(None, elapsed_ms(), f"{type(exc).__name__}: {exc}"[:500])
    latency = elapsed_ms()
    if 200 <= status < 300:
        return AttemptOutcome(status, latency, None)
    if 300 <= status < 400:
        return AttemptOutcome(status, latency, f"redirect not followed (Location: {location})"[:500])
    return AttemptOutcome(status, latency, f"HTTP {status}")


def _event_rows(
    source: str, events: list[dict[str, Any]], webhooks: list[tuple[Any, list[str]]], now: dt.datetime
) -> list[dict[str, Any]]:
    rows = []
    for event in events:
        event_type = str(event.get("type") or "")
        object_type = str(event.get("object_type") or event_type.split(".", 1)[0])
        for webhook_id, patterns in webhooks:
            if not event_type_matches(patterns, event_type):
                continue
            rows.append(
                {
                    "webhook_id": webhook_id,
                    "source": source,
                    "event_id": str(event["id"]),
                    "event_type": event_type[:100],
                    "object_type": object_type[:64],
                    "object_id": str(event.get("object_id") or "")[:64],
                    "payload": event,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    return rows


class Dispatcher:
    def __init__(
        self,
        settings: GatewaySettings,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        feed_http: httpx.AsyncClient,
        delivery_http: httpx.AsyncClient,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.feed_http = feed_http
        self.delivery_http = delivery_http
        self.resolver = resolver
        self.allow = AllowList.parse(settings.webhook_allowed_hosts)
        # The dispatcher is part of the gateway: it calls the feeds as `service:gateway`.
        self.tokens = ServiceTokens(feed_http, settings.gateway_url, "gateway", settings.service_secret)
        self._work = asyncio.Event()
        self._feed_errors: dict[str, str] = {}

    # ---- feed → queue ------------------------------------------------------------------------

    async def poll_feed(self, service: str, base_url: str) -> int:
        """Queue the next page of ``service``'s events; the number of events queued.

        The feed is read outside any transaction (an idle poll writes nothing); the page is then
        applied only if the cursor is still the one it was read from, under the cursor row's lock
        (``SKIP LOCKED``: another dispatcher applying a page of this feed is left alone).
        """
        async with self.sessionmaker() as session:
            known = (
                await session.execute(
                    select(FeedCursor.cursor, FeedCursor.remaining).where(FeedCursor.service == service)
                )
            ).first()
        cursor = known.cursor if known is not None else None
        params: dict[str, Any] = {"limit": FEED_PAGE}
        if cursor is not None:
            params["after"] = cursor
        response = await self.tokens.get(f"{base_url}/internal/changes", params=params, timeout=30.0)
        if response.status_code != 200:
            raise UpstreamUnavailable(f"{service} /internal/changes answered {response.status_code}")
        page = response.json()
        events: list[dict[str, Any]] = list(page["items"])
        next_cursor = page.get("next_cursor") or cursor
        remaining = page.get("remaining")
        backlog = int(remaining) if isinstance(remaining, int) else None
        if known is not None and not events and (next_cursor, backlog) == (cursor, known.remaining):
            return 0

        now = utc_now()
        async with self.sessionmaker() as session, session.begin():
            if known is None:
                await session.execute(
                    insert(FeedCursor)
                    .values(service=service, cursor=None, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["service"])
                )
            cursor_row = await session.scalar(
                select(FeedCursor).where(FeedCursor.service == service).with_for_update(skip_locked=True)
            )
            if cursor_row is None or cursor_row.cursor != cursor:
                return 0  # another dispatcher is applying, or has applied, this page
            webhooks = (
                await session.execute(select(Webhook.id, Webhook.event_types).where(Webhook.enabled))
            ).all()
            rows = _event_rows(service, events, [(w.id, list(w.event_types)) for w in webhooks], now)
            for start in range(0, len(rows), INSERT_CHUNK):
                # VALUES rows get their `seq` in list order, i.e. feed order.
                await session.execute(
                    insert(WebhookDelivery)
                    .values(rows[start : start + INSERT_CHUNK])
                    .on_conflict_do_nothing(constraint="uq_webhook_deliveries_webhook_event")
                )
            cursor_row.cursor, cursor_row.remaining, cursor_row.updated_at = next_cursor, backlog, now
        if rows:
            self._work.set()
        return len(events)

    async def feed_loop(self, stop: asyncio.Event) -> None:
        upstreams = self.settings.upstreams()
        while not stop.is_set():
            busy = False
            for service, base_url in upstreams.items():
                if stop.is_set():
                    return
                try:
                    read = await self.poll_feed(service, base_url)
                except Exception as exc:  # a feed that is down must not stop the others
                    message = f"{type(exc).__name__}: {exc}"
                    if self._feed_errors.get(service) != message:
                        log.warning("change feed of %s not read: %s", service, message)
                    self._feed_errors[service] = message
                    continue
                if service in self._feed_errors:
                    log.info("change feed of %s read again", service)
                    self._feed_errors.pop(service)
                busy = busy or read >= FEED_PAGE
            await self._wake_workers_if_due()
            if not busy:
                await _sleep_until(stop, self.settings.webhook_poll_interval_s)

    async def _wake_workers_if_due(self) -> None:
        """Idle workers sleep until woken: by new deliveries, or here when a retry fell due."""
        try:
            async with self.sessionmaker() as session:
                due = await session.scalar(
                    select(
                        exists().where(
                            WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= utc_now()
                        )
                    )
                )
        except Exception as exc:
            log.warning("could not look for due deliveries: %s", type(exc).__name__)
            return
        if due:
            self._work.set()

    # ---- queue → receiver --------------------------------------------------------------------

    def _claim_statement(self, now: dt.datetime) -> Any:
        earlier = aliased(WebhookDelivery)
        blocked = exists().where(
            earlier.webhook_id == WebhookDelivery.webhook_id,
            earlier.object_type == WebhookDelivery.object_type,
            earlier.object_id == WebhookDelivery.object_id,
            earlier.state == "pending",
            earlier.seq < WebhookDelivery.seq,
        )
        return (
            select(WebhookDelivery, Webhook.url, Webhook.secret)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(
                WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at <= now,
                Webhook.enabled,
                ~blocked,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.seq)
            .limit(1)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )

    async def deliver_next(self) -> bool:
        """Attempt one due delivery; False when none was due."""
        async with self.sessionmaker() as session, session.begin():
            row = (await session.execute(self._claim_statement(utc_now()))).first()
            if row is None:
                return False
            delivery: WebhookDelivery = row[0]
            started_at = utc_now()
            outcome = await post_event(
                self.delivery_http,
                url=row.url,
                secret=row.secret,
                event_id=delivery.event_id,
                body=orjson.dumps(delivery.payload),
                allow=self.allow,
                require_https=self.settings.env == "production",
                resolver=self.resolver,
                timeout_s=self.settings.webhook_timeout_s,
            )
            session.add(
                WebhookDeliveryAttempt(
                    delivery_id=delivery.id,
                    attempted_at=started_at,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    success=outcome.success,
                    error=outcome.error,
                )
            )
            first_attempt_at = delivery.first_attempt_at or started_at
            values: dict[str, Any] = {
                "attempts": WebhookDelivery.attempts + 1,
                "first_attempt_at": first_attempt_at,
                "last_attempt_at": started_at,
            }
            if outcome.success:
                values.update(state="delivered", delivered_at=utc_now())
            else:
                failures = await session.scalar(
                    select(func.count()).where(
                        WebhookDeliveryAttempt.delivery_id == delivery.id,
                        WebhookDeliveryAttempt.attempted_at >= first_attempt_at,
                    )
                )
                # The attempt just added is not flushed yet: count it here.
                decision = after_failure(
                    failed_attempts=int(failures or 0) + 1,
                    first_attempt_at=first_attempt_at,
                    now=utc_now(),
                    base_s=self.settings.webhook_backoff_base_s,
                    cap_s=self.settings.webhook_backoff_max_s,
                    window_s=self.settings.webhook_retry_window_s,
                )
                values.update(state=decision.state, next_attempt_at=decision.next_attempt_at)
                if decision.state == "failed":
                    log.warning(
                        "delivery %s of event %s to webhook %s failed for good after %s attempts",
                        delivery.id,
                        delivery.event_id,
                        delivery.webhook_id,
                        delivery.attempts + 1,
                    )
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
            )
        return True

    async def worker(self, stop: asyncio.Event) -> None:
        last_error = ""
        while not stop.is_set():
            try:
                worked = await self.deliver_next()
                last_error = ""
            except Exception as exc:  # the database away, say: the delivery stays pending
                message = f"{type(exc).__name__}: {exc}"
                if message != last_error:
                    log.warning("delivery attempt not recorded (it will be retried): %s", message[:500])
                last_error = message
                worked = False
                await _sleep_until(stop, 1.0)
            if not worked:
                self._work.clear()
                # Woken by the feed loop (new or due deliveries) or by `stop`; the timeout is only a
                # safety net.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), IDLE_WORKER_TIMEOUT_S)

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self.feed_loop(stop), name="feed")]
        tasks += [
            asyncio.create_task(self.worker(stop), name=f"worker-{n}")
            for n in range(self.settings.webhook_concurrency)
        ]
        await stop.wait()
        # Workers finish the attempt in hand (its transaction commits) and then see `stop`.
        self._work.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _sleep_until(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_dispatcher(settings: GatewaySettings, stop: asyncio.Event) -> None:
    """The whole process: its own pool and HTTP clients, until ``stop`` is set."""
    engine = create_engine(
        settings.async_database_url, pool_size=min(settings.db_pool_size, settings.webhook_concurrency + 2)
    )
    feed_http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0), limits=INTERNAL_LIMITS)
    delivery_http = delivery_client(settings.webhook_timeout_s)
    try:
        dispatcher = Dispatcher(
            settings, sessionmaker=make_sessionmaker(engine), feed_http=feed_http, delivery_http=delivery_http
        )
        log.info(
            "dispatcher running: %s workers, feeds %s",
            settings.webhook_concurrency,
            ", ".join(settings.upstreams()),
        )
        await dispatcher.run(stop)
    finally:
        await delivery_http.aclose()
        await feed_http.aclose()
        await engine.dispose()
