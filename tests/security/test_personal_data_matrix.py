"""Personal data (SPEC §1) on every endpoint that returns residents' data, for every role, and the
audit trail of every write and every unmasked read.

Resources with residents' data (services/activities/personal.py): cases (client), visits
(visitor), needs (resident), volunteers. For each, a fresh record of site A is written by its
operator, then read through every view that returns it — the create and update answers, the list,
the single read, the full export and the change feed — by every role that may see site A. The
disclosure each gets is exactly the table below:

| view                  | district | operator (site's) | street | evaluator (assigned) | integration |
|-----------------------|----------|-------------------|--------|----------------------|-------------|
| write answer          | full     | full              |   –    |          –           |      –      |
| single read           | full     | full              | masked | masked¹              | masked      |
| list                  | masked   | masked            | masked | masked¹              | masked      |
| export, change feed   | masked¹  | masked¹           | masked¹| masked¹              | masked¹     |

¹ a case's client is withheld (null), not masked: case records never leave the site in
identifiable form. ID numbers are never whole anywhere (`full` still shows them masked), not in a
response and not in the database; keyed digests never leave the service.

Audit: each unmasked single read writes one `<type>.read_personal` row (who, role, when, from
where, the request id the caller got back); masked reads write none; every create, update and
delete writes its row — and every successful write made while building the test world (every
kind of object of the three services) has an audit row carrying its request id.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack
from tests.security.world import (
    ACT,
    CASE_ID_NUMBER,
    NEED_ID_NUMBER,
    VISIT_ID_NUMBER,
    World,
    log_bodies,
)


def _masked_id(value: str) -> str:
    return value[:4] + "*" * 10 + value[-4:]


FULL, MASKED, WITHHELD = "full", "masked", "withheld"
READERS = ("district", "operator", "street", "evaluator", "integration")

# resource -> (collection path, {field: (as recorded, masked)}, ID number sent, roles it is withheld from)
RESOURCES: dict[str, tuple[str, dict[str, tuple[str, str]], str | None, set[str]]] = {
    "case": (
        "cases",
        {
            "client_name": ("张三丰", "张**"),
            "client_phone": ("13812345678", "138****5678"),
            "client_id_number_masked": (_masked_id(CASE_ID_NUMBER), _masked_id(CASE_ID_NUMBER)),
        },
        CASE_ID_NUMBER,
        {"evaluator"},
    ),
    "visit": (
        "visits",
        {
            "visitor_name": ("李四", "李*"),
            "visitor_phone": ("13987654321", "139****4321"),
            "visitor_id_number_masked": (_masked_id(VISIT_ID_NUMBER), _masked_id(VISIT_ID_NUMBER)),
        },
        VISIT_ID_NUMBER,
        set(),
    ),
    "need": (
        "needs",
        {
            "resident_name": ("王小明", "王**"),
            "resident_phone": ("0571-86668888", "057******8888"),
            "resident_id_number_masked": (_masked_id(NEED_ID_NUMBER), _masked_id(NEED_ID_NUMBER)),
        },
        NEED_ID_NUMBER,
        set(),
    ),
    "volunteer": (
        "volunteers",
        {"name": ("欧阳娜娜", "欧***"), "phone": ("13600001111", "136****1111")},
        None,
        set(),
    ),
}
# Single reads: who sees the record as recorded (SPEC §1: "the operator's and the district's alone").
SINGLE = {"district": FULL, "operator": FULL, "street": MASKED, "evaluator": MASKED, "integration": MASKED}


def _expected(resource: str, role: str, view: str) -> str:
    withheld = RESOURCES[resource][3]
    if view in ("export", "feed"):
        return WITHHELD if withheld else MASKED  # one stream for every reader
    if role in withheld:
        return WITHHELD
    return SINGLE[role] if view == "single" else MASKED


def _shown(resource: str, disclosure: str) -> dict[str, str | None]:
    fields = RESOURCES[resource][1]
    if disclosure == WITHHELD:
        return dict.fromkeys(fields)
    return {f: (full if disclosure == FULL else masked) for f, (full, masked) in fields.items()}


def _feed_cursor(gateway: httpx.Client, world: World) -> str:
    response = gateway.get(f"{ACT}/export/volunteers.ndjson", headers=world.bearer("district"))
    assert response.status_code == 200
    return response.headers["linju-feed-cursor"]


def _feed(gateway: httpx.Client, world: World, who: str, after: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(100):
        page = gateway.get(
            f"{ACT}/changes", params={"after": after, "limit": 1000}, headers=world.bearer(who)
        )
        assert page.status_code == 200, page.text
        body = page.json()
        events += body["items"]
        if not body["items"] or body["next_cursor"] == after:
            break
        after = body["next_cursor"]
    return events


def _etag(gateway: httpx.Client, world: World, url: str, full_reads: list[tuple[str, str]]) -> str:
    """The record's ETag, read by the district (an unmasked read, audited like any other)."""
    read = gateway.get(url, headers=world.bearer("district"))
    assert read.status_code == 200
    full_reads.append(("district", read.headers["x-request-id"]))
    return read.headers["etag"]


def _sub(gateway: httpx.Client, world: World, who: str) -> str:
    me = gateway.get("/api/v1/auth/me", headers=world.bearer(who))
    assert me.status_code == 200
    return str(me.json()["sub"])


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_every_view_of_residents_data_for_every_role(
    gateway: httpx.Client, world: World, stack: RunningStack, resource: str
) -> None:
    path, fields, raw_id, _ = RESOURCES[resource]
    texts: list[str] = []
    cursor = _feed_cursor(gateway, world)

    created = gateway.post(
        f"{ACT}/{path}", json=log_bodies(world.site_id)[path], headers=world.bearer("operator")
    )
    assert created.status_code == 201, created.text
    texts.append(created.text)
    record = created.json()
    assert record["personal_data"] == FULL
    assert {f: record[f] for f in fields} == _shown(resource, FULL)
    url = f"{ACT}/{path}/{record['id']}"

    full_reads: list[tuple[str, str]] = []  # (role, request id) of every unmasked single read
    for role in READERS:
        headers = world.bearer(role)
        single = gateway.get(url, headers=headers)
        assert single.status_code == 200, (role, single.text)
        texts.append(single.text)
        want = _expected(resource, role, "single")
        assert (single.json()["personal_data"], {f: single.json()[f] for f in fields}) == (
            want,
            _shown(resource, want),
        ), role
        if want == FULL:
            full_reads.append((role, single.headers["x-request-id"]))

        listed = gateway.get(
            f"{ACT}/{path}", params={"site_id": world.site_id, "limit": 200}, headers=headers
        )
        assert listed.status_code == 200, (role, listed.text)
        texts.append(listed.text)
        [row] = [r for r in listed.json()["items"] if r["id"] == record["id"]]
        want = _expected(resource, role, "list")
        assert (row["personal_data"], {f: row[f] for f in fields}) == (want, _shown(resource, want)), role

        exported = gateway.get(f"{ACT}/export/{path}.ndjson", headers=headers)
        assert exported.status_code == 200, (role, exported.text[:200])
        texts.append(exported.text)
        [line] = [json.loads(x) for x in exported.text.splitlines() if record["id"] in x]
        assert {f: line.get(f) for f in fields} == _shown(resource, _expected(resource, role, "export")), role

    # The writer's update answer is unmasked (district or the site's operator wrote it).
    etag = _etag(gateway, world, url, full_reads)
    patched = gateway.patch(
        url,
        json={next(iter(fields)): next(iter(fields.values()))[0]},
        headers={**world.bearer("district"), "If-Match": etag},
    )
    assert patched.status_code == 200, patched.text
    texts.append(patched.text)
    assert {f: patched.json()[f] for f in fields} == _shown(resource, FULL)

    # The change feed: every event of the record masked (case clients withheld), for every reader.
    for role in READERS:
        events = [e for e in _feed(gateway, world, role, cursor) if e["object_id"] == record["id"]]
        assert [e["type"] for e in events][:1] == [f"{resource}.created"], (role, events)
        texts += [json.dumps(e, ensure_ascii=False) for e in events]
        for event in events:
            assert {f: event["data"].get(f) for f in fields} == _shown(
                resource, _expected(resource, role, "feed")
            )
            assert not any(key.endswith("_hash") for key in event["data"])

    # Outsiders find nothing: not the record, not its events.
    for who in ("street_b", "operator_b", "evaluator_b", "evaluator_none"):
        assert gateway.get(url, headers=world.bearer(who)).status_code == 404
        assert all(e["object_id"] != record["id"] for e in _feed(gateway, world, who, cursor))

    etag = _etag(gateway, world, url, full_reads)
    deleted = gateway.delete(url, headers={**world.bearer("operator"), "If-Match": etag})
    assert deleted.status_code == 204, deleted.text

    # ---- never whole: no response, no table row, no audit row, no event holds the ID number --------
    for text in texts:
        assert "_hash" not in text
        if raw_id is not None:
            assert raw_id not in text
    if raw_id is not None:
        rows = stack.sql(
            "SELECT 1 FROM activities.audit_log WHERE object_id = $1 "
            "AND strpos(coalesce(after::text, '') || coalesce(before::text, ''), $2) > 0",
            record["id"],
            raw_id,
        )
        assert rows == []
    # The stored events (what feeds and webhooks deliver) hold no value as recorded either.
    for secret in [raw_id, *(full for full, masked in fields.values() if full != masked)]:
        if secret is None:
            continue
        events = stack.sql(
            "SELECT 1 FROM activities.outbox WHERE object_id = $1 AND strpos(data::text, $2) > 0",
            record["id"],
            secret,
        )
        assert events == [], secret

    # ---- the audit trail -----------------------------------------------------------------------------
    audit = stack.sql(
        "SELECT action, actor, actor_role, request_id, client_ip, note, occurred_at "
        "FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at",
        record["id"],
    )
    reads = [a for a in audit if a["action"] == f"{resource}.read_personal"]
    # Exactly the unmasked single reads, one each, with who, from where and the caller's request id.
    assert sorted((a["actor_role"], a["request_id"]) for a in reads) == sorted(full_reads)
    for a in reads:
        assert a["actor"] == _sub(gateway, world, a["actor_role"])
        assert a["client_ip"] and a["occurred_at"] is not None
        assert set(a["note"].split(",")) <= set(fields)
    writes = [
        (a["action"], a["actor_role"], a["request_id"])
        for a in audit
        if not a["action"].endswith("read_personal")
    ]
    assert writes == [
        (f"{resource}.create", "operator", created.headers["x-request-id"]),
        (f"{resource}.update", "district", patched.headers["x-request-id"]),
        (f"{resource}.delete", "operator", deleted.headers["x-request-id"]),
    ]


def test_every_write_of_the_world_is_audited_with_its_request_id(world: World, stack: RunningStack) -> None:
    """Every successful POST/PUT/PATCH/DELETE made while building the world — objects of every kind
    in the gateway and the three services — left an audit row in its service's own log."""
    schemas = {"registry": "registry", "activities": "activities", "evaluation": "evaluation"}
    missing = []
    for method, path, request_id in world.writes:
        schema = schemas.get(path.split("/")[3], "gateway")
        rows = stack.sql(f"SELECT actor, client_ip FROM {schema}.audit_log WHERE request_id = $1", request_id)  # noqa: S608
        if not rows or not all(r["actor"] and r["client_ip"] for r in rows):
            missing.append(f"{method} {path} ({request_id})")
    assert len(world.writes) > 50
    assert missing == []


def test_survey_respondents_phones_are_stored_masked_only(
    gateway: httpx.Client, world: World, stack: RunningStack
) -> None:
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    url = f"/api/v1/evaluation/scorecards/{world.ids['scorecard_draft']}"
    response = gateway.post(
        f"{url}/survey-responses",
        json={"channel": "phone", "ratings": {"space": 5}, "respondent_phone": phone},
        headers=world.bearer("evaluator"),
    )
    assert response.status_code == 201, response.text
    assert phone not in response.text
    for who in ("district", "evaluator"):
        assert phone not in gateway.get(url, headers=world.bearer(who)).text
    stored = stack.sql(
        "SELECT respondent_phone_masked FROM evaluation.survey_responses WHERE respondent_phone_masked = $1",
        phone[:3] + "****" + phone[-4:],
    )
    assert len(stored) == 1
    leaked = stack.sql(
        "SELECT 1 FROM evaluation.audit_log "
        "WHERE strpos(coalesce(after::text, '') || coalesce(before::text, ''), $1) > 0",
        phone,
    )
    assert leaked == []
