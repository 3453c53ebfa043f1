"""The change feed (issue 8): every write is an event, in commit order, and a cursor never skips.

The hard case is a transaction that starts first and commits last: with positions taken at
insert time its event would land *behind* a cursor that already moved on. Positions here are
taken at commit under a lock, so the late commit gets the later position.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.activities.database import tables as activity_tables
from services.common.db import create_engine, make_sessionmaker
from services.common.outbox import emit, event_type
from services.common.settings import ServiceSettings
from tests.activities.test_activities import _body, _create
from tests.activities.test_visits_needs import VISITOR_ID, _need, _visit
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import create_site, integration_token, operated_site, street, user_token

FEED = "/api/v1/activities/changes"


def _head(gateway: httpx.Client, token: str, url: str = FEED) -> str:
    """The current end of the feed: page through to the last cursor."""
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor is not None:
            params["after"] = cursor
        page = gateway.get(url, params=params, headers=bearer(token))
        assert page.status_code == 200, page.text
        body = page.json()
        if not body["items"]:
            return str(body["next_cursor"])
        cursor = body["next_cursor"]


def _events_after(gateway: httpx.Client, token: str, cursor: str, url: str = FEED) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        page = gateway.get(url, params={"after": cursor, "limit": 200}, headers=bearer(token))
        assert page.status_code == 200, page.text
        body = page.json()
        events.extend(body["items"])
        if not body["items"]:
            return events
        cursor = body["next_cursor"]


def _async_url(stack: RunningStack) -> str:
    return ServiceSettings(database_url=stack.database_url).async_database_url


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    return operated_site(gateway, district_token)


def test_create_update_delete_are_events_with_the_new_state(
    gateway: httpx.Client, district_token: str, site: dict[str, Any]
) -> None:
    start = _head(gateway, district_token)
    token = site["operator_token"]
    item = _create(gateway, token, _body(site["site"]["id"], attendance=10))
    url = f"/api/v1/activities/activities/{item['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    patched = gateway.patch(url, json={"attendance": 11}, headers={**bearer(token), "If-Match": etag})
    assert patched.status_code == 200, patched.text
    etag = patched.headers["etag"]
    assert gateway.delete(url, headers={**bearer(token), "If-Match": etag}).status_code == 204

    mine = [e for e in _events_after(gateway, district_token, start) if e["object_id"] == item["id"]]
    assert [e["type"] for e in mine] == ["activity.created", "activity.updated", "activity.deleted"]
    assert [e["data"]["attendance"] for e in mine[:2]] == [10, 11]
    assert mine[2]["data"] is None
    assert all(e["site_id"] == site["site"]["id"] and e["object_type"] == "activity" for e in mine)
    cursors = [int(e["cursor"]) for e in mine]
    assert cursors == sorted(cursors) and len(set(cursors)) == 3
    assert len({e["id"] for e in mine}) == 3


def test_registry_writes_are_events_too(gateway: httpx.Client, district_token: str) -> None:
    url = "/api/v1/registry/changes"
    start = _head(gateway, district_token, url)
    created = create_site(gateway, district_token, "XX")
    events = [
        e for e in _events_after(gateway, district_token, start, url) if e["object_id"] == created["id"]
    ]
    assert [e["type"] for e in events] == ["site.created"]
    assert events[0]["site_id"] == created["id"] and events[0]["data"]["name"] == created["name"]


def test_event_types_follow_the_audited_action() -> None:
    assert event_type("site.tier", "site") == "site.tier_changed"
    assert event_type("round.publish", "round") == "round.published"
    assert event_type("filing.approve", "filing") == "filing.approved"
    assert event_type("activity.create", "activity") == "activity.created"
    assert event_type("site.documents", "site") == "site.updated"
    # An audited read changes nothing and publishes nothing.
    assert event_type("visit.read_personal", "visit") is None


def test_a_transaction_that_commits_late_is_not_skipped(
    gateway: httpx.Client, district_token: str, stack: RunningStack, site: dict[str, Any]
) -> None:
    """A starts (and writes) first, B commits first; a reader between the two commits must still
    see A's event after its cursor."""
    start = _head(gateway, district_token)
    outbox = activity_tables.outbox
    marker = uuid.uuid4().hex

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        engine = create_engine(_async_url(stack), pool_size=2)
        sessions = make_sessionmaker(engine)
        try:
            async with sessions() as a, sessions() as b:
                await a.begin()
                await a.execute(text("SELECT pg_current_xact_id()"))  # A holds the older transaction id
                emit(a, outbox, type="test.first", object_type="test", object_id=f"A-{marker}",
                     site_id=site["site"]["id"], data={"marker": marker})  # fmt: skip
                await b.begin()
                await b.execute(text("SELECT pg_current_xact_id()"))
                emit(b, outbox, type="test.second", object_type="test", object_id=f"B-{marker}",
                     site_id=site["site"]["id"], data={"marker": marker})  # fmt: skip
                await b.commit()
                seen_between = await asyncio.to_thread(_events_after, gateway, district_token, start)
                await a.commit()
                cursor = seen_between[-1]["cursor"] if seen_between else start
                seen_after = await asyncio.to_thread(_events_after, gateway, district_token, cursor)
                return seen_between, seen_after
        finally:
            await engine.dispose()

    between, after = asyncio.run(scenario())
    assert [e["object_id"] for e in between if e["object_type"] == "test"] == [f"B-{marker}"]
    assert [e["object_id"] for e in after if e["object_type"] == "test"] == [f"A-{marker}"]
    assert int(after[0]["cursor"]) > int(between[-1]["cursor"])


def test_a_rolled_back_transaction_publishes_nothing(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    start = _head(gateway, district_token)
    marker = uuid.uuid4().hex

    async def scenario() -> None:
        engine = create_engine(_async_url(stack), pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                await session.begin()
                emit(session, activity_tables.outbox, type="test.rolled_back", object_type="test",
                     object_id=marker, site_id=None, data=None)  # fmt: skip
                await session.rollback()
                await session.begin()
                await session.commit()  # a later commit on the same session must not resurrect it
        finally:
            await engine.dispose()

    asyncio.run(scenario())
    assert [e for e in _events_after(gateway, district_token, start) if e["object_id"] == marker] == []


def test_twenty_concurrent_writers_while_a_reader_polls(gateway: httpx.Client, district_token: str) -> None:
    """No event lost or duplicated: the reader follows the feed *while* 20 writers commit in any
    order, then drains; it must end with exactly one `activity.created` per 201."""
    sites = [operated_site(gateway, district_token) for _ in range(4)]
    start = _head(gateway, district_token)
    created: list[str] = []
    created_lock = threading.Lock()
    seen: list[dict[str, Any]] = []
    done = threading.Event()
    errors: list[str] = []

    def writer(n: int) -> None:
        target = sites[n % len(sites)]
        with httpx.Client(base_url=str(gateway.base_url), timeout=30) as client:
            for _ in range(5):
                response = client.post(
                    "/api/v1/activities/activities",
                    json=_body(target["site"]["id"]),
                    headers=bearer(target["operator_token"]),
                )
                if response.status_code != 201:
                    errors.append(response.text)
                    continue
                with created_lock:
                    created.append(response.json()["id"])

    def reader() -> None:
        cursor = start
        with httpx.Client(base_url=str(gateway.base_url), timeout=30) as client:
            while True:
                finished = done.is_set()
                page = client.get(FEED, params={"after": cursor, "limit": 7}, headers=bearer(district_token))
                body = page.json()
                seen.extend(body["items"])
                cursor = body["next_cursor"]
                if finished and not body["items"]:
                    return

    follower = threading.Thread(target=reader)
    follower.start()
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    follower.join(timeout=120)

    assert errors == []
    ours = {s["site"]["id"] for s in sites}
    created_events = [e for e in seen if e["type"] == "activity.created" and e["site_id"] in ours]
    assert len(created) == 100
    assert sorted(e["object_id"] for e in created_events) == sorted(created)
    assert len({e["id"] for e in seen}) == len(seen)  # no event delivered twice
    positions = [int(e["cursor"]) for e in seen]
    assert positions == sorted(positions)


def test_scope_district_and_integration_all_others_their_sites(
    gateway: httpx.Client, district_token: str, site: dict[str, Any]
) -> None:
    other = operated_site(gateway, district_token)
    platform = integration_token(gateway, district_token)
    starts = {
        name: _head(gateway, tok)
        for name, tok in (("platform", platform), ("other", other["operator_token"]))
    }
    mine = _create(gateway, site["operator_token"], _body(site["site"]["id"]))
    theirs = _create(gateway, other["operator_token"], _body(other["site"]["id"]))

    platform_ids = {e["object_id"] for e in _events_after(gateway, platform, starts["platform"])}
    assert {mine["id"], theirs["id"]} <= platform_ids
    other_events = _events_after(gateway, other["operator_token"], starts["other"])
    assert {e["object_id"] for e in other_events} == {theirs["id"]}
    assert {e["site_id"] for e in other_events} == {other["site"]["id"]}

    # A street user of another street sees neither; the registry feed hides un-sited events
    # (an organisation) from everyone but the district and platforms.
    street_token = user_token(gateway, district_token, "street", street_id=street("PY").id)
    ours = {site["site"]["id"], other["site"]["id"]}
    assert not ours & {e["site_id"] for e in _events_after(gateway, street_token, "0")}
    same_street = user_token(gateway, district_token, "street", street_id=street("XX").id)
    assert ours <= {e["site_id"] for e in _events_after(gateway, same_street, "0")}
    registry = _events_after(gateway, other["operator_token"], "0", "/api/v1/registry/changes")
    assert registry and all(e["site_id"] == other["site"]["id"] for e in registry)


def test_evaluation_feed_is_narrow_for_non_district_roles(gateway: httpx.Client, district_token: str) -> None:
    evaluator = login(gateway, "evaluator")["access_token"]
    page = gateway.get("/api/v1/evaluation/changes", headers=bearer(evaluator))
    assert page.status_code == 200 and page.json()["items"] == []
    operator = login(gateway, "operator")["access_token"]
    items = _events_after(gateway, operator, "0", "/api/v1/evaluation/changes")
    assert all(e["object_type"] == "improvement_plan" for e in items)


def test_personal_data_is_masked_in_events(
    gateway: httpx.Client, district_token: str, site: dict[str, Any]
) -> None:
    start = _head(gateway, district_token)
    token = site["operator_token"]
    visit = gateway.post("/api/v1/activities/visits", json=_visit(site["site"]["id"]), headers=bearer(token))
    assert visit.status_code == 201, visit.text
    need = gateway.post("/api/v1/activities/needs", json=_need(site["site"]["id"]), headers=bearer(token))
    assert need.status_code == 201, need.text
    events = {e["object_id"]: e for e in _events_after(gateway, district_token, start)}
    visit_event = events[visit.json()["id"]]["data"]
    assert visit_event["visitor_name"] == "陈**" and visit_event["visitor_phone"] == "137****6666"
    assert visit_event["visitor_id_number_masked"] == "3301**********" + VISITOR_ID[-4:]
    assert events[need.json()["id"]]["data"]["resident_name"] == "周**"
    text_of_events = str(list(events.values()))
    for secret in ("陈阿姨", "13755556666", "周建国", "13811112222", VISITOR_ID):
        assert secret not in text_of_events


def test_anonymous_is_refused_and_a_bad_cursor_names_the_field(
    gateway: httpx.Client, district_token: str
) -> None:
    assert gateway.get(FEED).status_code == 401
    bad = gateway.get(FEED, params={"after": "abc"}, headers=bearer(district_token))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "after"
    too_many = gateway.get(FEED, params={"limit": 1000000000}, headers=bearer(district_token))
    assert too_many.status_code == 422


def test_each_service_reports_the_head_of_its_feed(stack: RunningStack) -> None:
    for service in ("registry", "activities", "evaluation"):
        text_ = httpx.get(f"{stack.service_url(service)}/internal/prometheus", timeout=10).text
        query = f"SELECT coalesce(max(position), 0) AS head FROM {service}.outbox"  # noqa: S608 - fixed names
        head = stack.sql(query)[0]["head"]
        line = f'linju_outbox_head_position{{service="{service}"}}'
        reported = [int(row.split()[-1]) for row in text_.splitlines() if row.startswith(line)]
        assert reported and reported[0] >= head
