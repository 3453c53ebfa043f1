"""Faults (issue 6, item 6; SPEC §7 "downstream refused → 503, timed out → 504").

On a private stack (harness.py), through the gateway, under concurrent load:

* a domain service SIGKILLed → its routes answer 503 problem+json at once (a refused connection,
  not a timeout), the other services keep answering, and starting it again is enough;
* a domain service that hangs (SIGSTOP) → 504 at the route deadline, normal again after SIGCONT;
* PostgreSQL stopped and started again on the same socket → a burst of 503s, never a 500, no
  half-written rows (activity ⇔ audit row ⇔ outbox event ⇔ idempotency key), and nothing restarted;
* a service that dies right after its commit → the client's retry with the same Idempotency-Key
  gets the first answer and there is exactly one row.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import bearer
from tests.resilience.harness import OwnStack, activity_body, is_problem, wait_until

DEADLINE_S = 3.0
# A short route deadline so the hang test waits seconds, not the default ten.
STACK_ENV = {"LINJU_GATEWAY_UPSTREAM_TIMEOUT_S": str(DEADLINE_S)}

ACTIVITIES = "/api/v1/activities/activities"
SITES = "/api/v1/registry/sites?limit=5"
ROUNDS = "/api/v1/evaluation/rounds?limit=5"

pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    service: str
    started_after_fault: bool
    status: int
    code: str | None
    content_type: str


def _outcome(service: str, after: bool, response: httpx.Response) -> Outcome:
    code = None
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        code = response.json().get("code")
    return Outcome(service, after, response.status_code, code, response.headers.get("content-type", ""))


Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def _load_around(
    own: OwnStack,
    calls: dict[str, list[Call]],
    fault: Callable[[], None],
    *,
    before_s: float = 0.6,
    after_s: float = 1.5,
) -> list[Outcome]:
    """Run every call in a loop (one task each) while ``fault`` happens in the middle."""
    fault_done = asyncio.Event()
    stop = asyncio.Event()
    outcomes: list[Outcome] = []

    async with httpx.AsyncClient(base_url=own.gateway_url, timeout=30.0) as http:

        async def loop(service: str, call: Call) -> None:
            while not stop.is_set():
                after = fault_done.is_set()
                outcomes.append(_outcome(service, after, await call(http)))

        async def inject() -> None:
            await asyncio.sleep(before_s)
            await asyncio.to_thread(fault)
            fault_done.set()
            await asyncio.sleep(after_s)
            stop.set()

        await asyncio.gather(
            inject(), *(loop(service, call) for service, group in calls.items() for call in group)
        )
    return outcomes


def _reads_and_writes(district: str, operated: dict[str, Any], marker: str) -> dict[str, list[Call]]:
    op = bearer(operated["operator_token"])
    dist = bearer(district)
    site_id = operated["site"]["id"]

    async def create(http: httpx.AsyncClient) -> httpx.Response:
        return await http.post(
            ACTIVITIES, json=activity_body(site_id, f"{marker}-{uuid.uuid4()}"), headers=op
        )

    async def list_activities(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get(f"{ACTIVITIES}?site_id={site_id}&limit=20", headers=op)

    async def sites(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get(SITES, headers=dist)

    async def rounds(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get(ROUNDS, headers=dist)

    return {
        "activities": [create, create, create, list_activities, list_activities],
        "registry": [sites, sites],
        "evaluation": [rounds, rounds],
    }


def _warm_up(client: httpx.Client, district: str, operated: dict[str, Any]) -> None:
    """One request per service first: each fetches the gateway's signing keys once (see
    ``_burst`` below for the concurrent case right after a start)."""
    for url in (SITES, ROUNDS, f"{ACTIVITIES}?limit=1"):
        assert client.get(url, headers=bearer(district)).status_code == 200


def test_killed_service_answers_503_at_once_others_keep_working_and_it_recovers(
    own: OwnStack, client: httpx.Client, district: str, operated: dict[str, Any]
) -> None:
    gateway_pid = own.process("gateway").pid
    marker = f"kill-{uuid.uuid4().hex[:8]}"
    op = bearer(operated["operator_token"])
    _warm_up(client, district, operated)
    outcomes = asyncio.run(
        _load_around(own, _reads_and_writes(district, operated, marker), lambda: own.kill("activities"))
    )

    activities = [o for o in outcomes if o.service == "activities"]
    others = [o for o in outcomes if o.service != "activities"]
    before = [o for o in activities if not o.started_after_fault]
    after = [o for o in activities if o.started_after_fault]
    assert before and after and others
    # Answered before the kill, or cut by it (502: the connection died mid-request), or refused.
    assert {(o.status, o.code) for o in before} <= {
        (200, None),
        (201, None),
        (502, "bad_upstream_response"),
        (503, "upstream_unavailable"),
    }
    # Once it is gone: 503 problem+json straight away — a refused connection, not a 504 timeout.
    assert {(o.status, o.code, o.content_type) for o in after} == {
        (503, "upstream_unavailable", "application/problem+json")
    }
    # The other services never noticed.
    assert {o.status for o in others} == {200}
    assert {o.service for o in others if o.started_after_fault} == {"registry", "evaluation"}

    refused = client.get(ACTIVITIES, headers=bearer(operated["operator_token"]))
    assert is_problem(refused, 503, "upstream_unavailable") and refused.headers["retry-after"]

    # Start it again: the gateway (same process) routes to it at once, and a burst of clients
    # arriving together is served (the fresh process fetches the signing keys once for all of them).
    own.restart("activities")
    burst = asyncio.run(_burst(own, f"{ACTIVITIES}?limit=1", op, 20))
    assert burst == [200] * 20
    created = client.post(
        ACTIVITIES, json=activity_body(operated["site"]["id"], f"{marker}-back"), headers=op
    )
    assert created.status_code == 201, created.text
    assert client.get(f"{ACTIVITIES}/{created.json()['id']}", headers=op).status_code == 200
    assert own.process("gateway").pid == gateway_pid and own.process("gateway").poll() is None


async def _burst(own: OwnStack, url: str, headers: dict[str, str], n: int) -> list[int]:
    async with httpx.AsyncClient(base_url=own.gateway_url, timeout=30.0) as http:
        responses = await asyncio.gather(*(http.get(url, headers=headers) for _ in range(n)))
    return [r.status_code for r in responses]


def test_hanging_service_answers_504_at_the_route_deadline_then_recovers(
    own: OwnStack, client: httpx.Client, district: str
) -> None:
    dist = bearer(district)
    assert client.get(ROUNDS, headers=dist).status_code == 200
    own.pause("evaluation")
    try:
        started = time.monotonic()
        hung = client.get(ROUNDS, headers=dist)
        waited = time.monotonic() - started
        assert is_problem(hung, 504, "upstream_timeout"), hung.text
        # A lower bound only: the gateway cannot give up before the route deadline.
        assert waited >= DEADLINE_S * 0.95
        # Meanwhile the other services answer as usual.
        assert client.get(SITES, headers=dist).status_code == 200
        assert client.get(f"{ACTIVITIES}?limit=1", headers=dist).status_code == 200
    finally:
        own.resume("evaluation")
    wait_until(lambda: client.get(ROUNDS, headers=dist).status_code == 200, timeout_s=30)
    assert client.get(ROUNDS, headers=dist).json()["items"] is not None


@dataclass
class Write:
    key: str
    title: str
    created_id: str | None = None
    attempts: int = 0


def test_postgres_restart_under_load_gives_503s_then_normal_never_500_nor_half_rows(
    own: OwnStack, client: httpx.Client, district: str, operated: dict[str, Any]
) -> None:
    pids = {name: proc.pid for name, proc in own.stack.processes.items()}
    marker = f"pgrestart-{uuid.uuid4().hex[:8]}"
    op = bearer(operated["operator_token"])
    dist = bearer(district)
    site_id = operated["site"]["id"]
    statuses: list[tuple[int, str | None]] = []
    writes: list[Write] = []
    plain_created: list[str] = []
    outage: dict[str, httpx.Response] = {}

    def record(response: httpx.Response) -> None:
        code = response.json().get("code") if response.status_code >= 400 else None
        statuses.append((response.status_code, code))

    async def scenario() -> None:
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=own.gateway_url, timeout=30.0) as http:

            async def writer(n: int) -> None:
                # Each write is retried with its key until it is answered 201 (or replayed).
                i = 0
                while not stop.is_set() or i < 3:
                    w = Write(key=f"{marker}-{n}-{i}", title=f"{marker}-{n}-{i}")
                    writes.append(w)
                    while w.created_id is None:
                        w.attempts += 1
                        headers = {**op, "Idempotency-Key": w.key}
                        r = await http.post(ACTIVITIES, json=activity_body(site_id, w.title), headers=headers)
                        record(r)
                        if r.status_code == 201:
                            w.created_id = r.json()["id"]
                        else:
                            await asyncio.sleep(0.1)
                    i += 1

            async def plain_writer(n: int) -> None:
                # Without a key a create is one statement on the direct pool (services/common/onewrite.py).
                i = 0
                while not stop.is_set():
                    title = f"{marker}-plain-{n}-{i}"
                    r = await http.post(ACTIVITIES, json=activity_body(site_id, title), headers=op)
                    record(r)
                    if r.status_code == 201:
                        plain_created.append(r.json()["id"])
                    else:
                        await asyncio.sleep(0.1)
                    i += 1

            async def reader(url: str, headers: dict[str, str]) -> None:
                while not stop.is_set():
                    record(await http.get(url, headers=headers))

            async def restart_postgres() -> None:
                await asyncio.sleep(1.0)
                await asyncio.to_thread(own.stop_postgres)
                # While it is down, every route answers 503 problem+json with Retry-After.
                outage["write"] = await http.post(
                    ACTIVITIES, json=activity_body(site_id, f"down-{marker}"), headers=op
                )
                outage["read"] = await http.get(SITES, headers=dist)
                await asyncio.sleep(1.5)
                await asyncio.to_thread(own.start_postgres)
                await asyncio.sleep(2.0)
                stop.set()

            await asyncio.gather(
                restart_postgres(),
                *(writer(n) for n in range(4)),
                *(plain_writer(n) for n in range(2)),
                reader(f"{ACTIVITIES}?site_id={site_id}&limit=10", op),
                reader(SITES, dist),
                reader(ROUNDS, dist),
            )

    asyncio.run(scenario())

    for response in outage.values():
        assert response.status_code == 503 and response.headers["retry-after"], response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert {s for s, _ in statuses} <= {200, 201, 503}, sorted(set(statuses))
    assert (503, "service_unavailable") in statuses  # the burst happened …
    # … and ended: the same processes answer normally again.
    for url, headers in ((SITES, dist), (ROUNDS, dist), (f"{ACTIVITIES}?limit=1", op)):
        assert client.get(url, headers=headers).status_code == 200
    assert {name: proc.pid for name, proc in own.stack.processes.items()} == pids
    assert all(proc.poll() is None for proc in own.stack.processes.values())

    # No half-written rows: every 201 has its row, and every row of this test was answered 201 —
    # with its audit entry, its change-feed event and its idempotency key, all or nothing.
    told = {w.created_id for w in writes}
    assert len(told) == len(writes) and None not in told
    assert any(w.attempts > 1 for w in writes)  # some writes did hit the outage and were retried
    rows = own.sql(
        "SELECT id::text AS id, title FROM activities.activities WHERE title LIKE $1", f"{marker}-%"
    )
    assert sorted(r["id"] for r in rows if "-plain-" not in r["title"]) == sorted(told)  # type: ignore[type-var]
    # Writes without a key: every 201 is stored; a 503 may or may not have committed (the answer
    # can be lost after the commit: that is what keys are for), but never half of it.
    plain_rows = {r["id"] for r in rows if "-plain-" in r["title"]}
    assert set(plain_created) <= plain_rows and plain_created
    told = told | plain_rows
    audited = own.sql(
        "SELECT object_id, count(*) AS n FROM activities.audit_log"
        " WHERE action = 'activity.create' AND object_id = ANY($1::text[]) GROUP BY object_id",
        list(told),
    )
    assert {r["object_id"]: r["n"] for r in audited} == dict.fromkeys(told, 1)
    events = own.sql(
        "SELECT object_id, count(*) AS n FROM activities.outbox"
        " WHERE type = 'activity.created' AND object_id = ANY($1::text[]) GROUP BY object_id",
        list(told),
    )
    assert {r["object_id"]: r["n"] for r in events} == dict.fromkeys(told, 1)
    keys = own.sql(
        "SELECT key FROM activities.idempotency_keys WHERE key LIKE $1 AND status_code = 201", f"{marker}-%"
    )
    assert sorted(r["key"] for r in keys) == sorted(w.key for w in writes)


def test_service_killed_after_commit_then_the_retry_with_the_same_key_gives_exactly_one_row(
    own: OwnStack, client: httpx.Client, operated: dict[str, Any]
) -> None:
    key = f"commit-{uuid.uuid4().hex[:8]}"
    body = activity_body(operated["site"]["id"], key)
    headers = {**bearer(operated["operator_token"]), "Idempotency-Key": key}

    # The service commits, then dies before it answers (test-only hook, LINJU_ENV=test).
    first = client.post(ACTIVITIES, json=body, headers={**headers, "X-Linju-Fault": "exit-after-commit"})
    assert is_problem(first, 502, "bad_upstream_response") or is_problem(first, 503, "upstream_unavailable")
    assert own.process("activities").wait(10) == 137
    assert len(own.sql("SELECT id FROM activities.activities WHERE title = $1", key)) == 1  # it did commit

    # The client retries with the same key once the service is back: the first answer, replayed.
    own.restart("activities")
    retry = client.post(ACTIVITIES, json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    again = client.post(ACTIVITIES, json=body, headers=headers)
    assert again.status_code == 201 and again.json() == retry.json()

    rows = own.sql("SELECT id::text AS id FROM activities.activities WHERE title = $1", key)
    assert [r["id"] for r in rows] == [retry.json()["id"]]
    audited = own.sql(
        "SELECT count(*) AS n FROM activities.audit_log WHERE action = 'activity.create' AND object_id = $1",
        retry.json()["id"],
    )
    assert audited[0]["n"] == 1
