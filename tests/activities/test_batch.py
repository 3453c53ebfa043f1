"""`POST /api/v1/activities/batch?kind=…`: up to 10,000 records, all or nothing, errors by line."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import orjson
import pytest

from tests.clock import day, now_shanghai, utc_now
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import create_org, operated_site, user_token

URL = "/api/v1/activities/batch"
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


def _activity(site_id: str, n: int, **overrides: Any) -> dict[str, Any]:
    starts = now_shanghai().replace(microsecond=0) - dt.timedelta(days=2, minutes=n % 5000)
    return {
        "site_id": site_id,
        "category": ("elderly", "youth", "culture", "family")[n % 4],
        "title": f"社区活动 {n}",
        "is_theme": n % 3 == 0,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + dt.timedelta(hours=2)).isoformat(),
        "attendance": n % 150,
        "evidence": [{"kind": "photo", "uri": f"https://files.example.cn/{n}.jpg"}],
        **overrides,
    }


def _deliberation(site_id: str, n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "held_on": day(-5),
        "topic": f"加装电梯议事 {n}",
        "form": "residents_meeting",
        "participants": 30 + n,
        "rules": "一户一票",
        "resolution": "同意加装",
        "execution_status": "done",
        **overrides,
    }


def _ndjson(records: list[Any]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records) + b"\n"


def _post(
    gateway: httpx.Client,
    token: str,
    kind: str,
    body: bytes,
    content_type: str = "application/x-ndjson",
    **headers: str,
) -> httpx.Response:
    return gateway.post(
        URL,
        params={"kind": kind},
        content=body,
        headers={**bearer(token), "Content-Type": content_type, **headers},
        timeout=60.0,
    )


def _count(stack: RunningStack, table: str, site_id: str) -> int:
    rows = stack.sql(f"SELECT count(*) AS n FROM activities.{table} WHERE site_id = $1", uuid.UUID(site_id))  # noqa: S608
    return int(rows[0]["n"])


def test_ten_thousand_activities_all_or_nothing_then_idempotent(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    fresh = operated_site(gateway, district_token)
    site_id = fresh["site"]["id"]
    records = [_activity(site_id, n) for n in range(10_000)]
    bad = [*records]
    bad[7320] = _activity(site_id, 7320, attendance=-1)  # line 7,321
    before = _count(stack, "activities", site_id)

    refused = _post(gateway, district_token, "activities", _ndjson(bad))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "batch_invalid" and problem["error_count"] == 1
    assert [(e["line"], e["field"]) for e in problem["errors"]] == [(7321, "attendance")]
    assert "7321" in problem["detail"]
    assert _count(stack, "activities", site_id) == before

    body = _ndjson(records)
    key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    created = _post(gateway, district_token, "activities", body, **key)
    assert created.status_code == 201, created.text
    result = created.json()
    assert result["kind"] == "activities" and result["count"] == 10_000 and len(set(result["ids"])) == 10_000
    assert _count(stack, "activities", site_id) == before + 10_000
    # The records are what was sent, in order, with their C15 flags derived from the evidence.
    stored = stack.sql(
        "SELECT title, attendance, has_photo, has_sign_in_sheet, created_by, version "
        "FROM activities.activities WHERE id = $1",
        uuid.UUID(result["ids"][7320]),
    )[0]
    assert (stored["title"], stored["attendance"], stored["has_photo"], stored["has_sign_in_sheet"]) == (
        "社区活动 7320",
        7320 % 150,
        True,
        False,
    )
    assert stored["version"] == 1 and stored["created_by"]
    read = gateway.get(
        f"/api/v1/activities/activities/{result['ids'][0]}", headers=bearer(fresh["operator_token"])
    )
    assert read.status_code == 200 and read.json()["title"] == "社区活动 0"

    replay = _post(gateway, district_token, "activities", body, **key)
    assert replay.status_code == 201 and replay.json() == result
    assert replay.headers.get("idempotent-replayed") == "true"
    assert _count(stack, "activities", site_id) == before + 10_000
    audit = stack.sql(
        "SELECT actor_role, after FROM activities.audit_log WHERE action = 'activity.batch_create' "
        "AND after->'site_ids' ? $1",
        site_id,
    )
    assert len(audit) == 1 and audit[0]["actor_role"] == "district"
    after = orjson.loads(audit[0]["after"])
    assert after["count"] == 10_000 and after["first_ids"] == result["ids"][:10]


def test_every_bad_record_is_reported_at_once(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    site_id = site["site"]["id"]
    records: list[Any] = [_activity(site_id, n) for n in range(6)]
    starts_at = dt.datetime.fromisoformat(records[1]["starts_at"])
    records[1] = _activity(site_id, 1, ends_at=(starts_at - dt.timedelta(hours=1)).isoformat())
    records[2] = {**_activity(site_id, 2), "evidence": [{"kind": "video", "uri": "https://x.cn/v.mp4"}]}
    records[4] = {**_activity(site_id, 4), "surprise": True}
    future = (now_shanghai() + dt.timedelta(days=3)).isoformat()
    records[5] = _activity(site_id, 5, starts_at=future, ends_at=future)
    lines = [orjson.dumps(r) for r in records]
    body = b"\n".join([lines[0], b"", lines[1], lines[2], b"{not json", lines[3], lines[4], lines[5]])
    before = _count(stack, "activities", site_id)
    response = _post(gateway, site["operator_token"], "activities", body)
    assert response.status_code == 422, response.text
    found = {(e["line"], e["field"]) for e in response.json()["errors"]}
    assert found == {
        (3, "ends_at"),
        (4, "evidence.0.kind"),
        (5, ""),
        (7, "surprise"),
        (8, "starts_at"),
        (8, "ends_at"),
    }
    assert _count(stack, "activities", site_id) == before


def test_json_array_form_and_the_second_path(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    site_id, token = site["site"]["id"], site["operator_token"]
    records = [_deliberation(site_id, n) for n in range(3)]
    invalid = [*records[:2], _deliberation(site_id, 2, form="party")]
    before = _count(stack, "deliberations", site_id)
    refused = _post(gateway, token, "deliberations", orjson.dumps(invalid), "application/json")
    assert refused.status_code == 422
    assert [(e["line"], e["field"]) for e in refused.json()["errors"]] == [(3, "form")]

    created = _post(gateway, token, "deliberations", orjson.dumps(records), "application/json; charset=utf-8")
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "deliberations" and created.json()["count"] == 3
    assert _count(stack, "deliberations", site_id) == before + 3
    first = gateway.get(f"/api/v1/activities/deliberations/{created.json()['ids'][0]}", headers=bearer(token))
    assert first.json()["topic"] == "加装电梯议事 0" and first.json()["complete"] is True

    # The spelling, POST /activities/batch?kind=, is the same endpoint.
    again = gateway.post(
        "/api/v1/activities/activities/batch",
        params={"kind": "activities"},
        content=orjson.dumps([_activity(site_id, 1)]),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert again.status_code == 201 and again.json()["count"] == 1


def test_scope_out_of_scope_site_is_a_record_error(
    gateway: httpx.Client, district_token: str, site: dict, stack: RunningStack
) -> None:
    site_id, token = site["site"]["id"], site["operator_token"]
    other = operated_site(gateway, district_token, "CH")
    records = [_activity(site_id, n) for n in range(5)]
    records[3] = _activity(other["site"]["id"], 3)
    before = _count(stack, "activities", site_id)
    refused = _post(gateway, token, "activities", _ndjson(records))
    assert refused.status_code == 422
    errors = refused.json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(4, "site_id")]
    # A site that does not exist at all reads the same: existence is not revealed.
    records[3] = _activity(str(uuid.uuid4()), 3)
    unknown = _post(gateway, token, "activities", _ndjson(records)).json()["errors"]
    assert unknown == errors
    # The district may write for any existing site, not for unknown ones.
    by_district = _post(gateway, district_token, "activities", _ndjson(records)).json()["errors"]
    assert [(e["line"], e["field"], e["message"]) for e in by_district] == [
        (4, "site_id", errors[0]["message"])
    ]
    assert _count(stack, "activities", site_id) == before

    # The operator's batch for its own site goes through.
    ok = _post(gateway, token, "activities", _ndjson([_activity(site_id, n) for n in range(5)]))
    assert ok.status_code == 201 and ok.json()["count"] == 5
    assert _count(stack, "activities", site_id) == before + 5


def test_roles_that_never_write(gateway: httpx.Client, district_token: str, site: dict) -> None:
    body = _ndjson([_activity(site["site"]["id"], 0)])
    firm = create_org(gateway, district_token)
    street = login(gateway, "xixing")["access_token"]
    evaluator = user_token(gateway, district_token, "evaluator", organization_id=firm["id"])
    for token in (street, evaluator):
        assert _post(gateway, token, "activities", body).status_code == 403


def test_malformed_batches(gateway: httpx.Client, site: dict) -> None:
    token, site_id = site["operator_token"], site["site"]["id"]
    too_many = _post(gateway, token, "activities", b"{}\n" * 10_001)
    assert too_many.status_code == 413 and too_many.json()["code"] == "batch_too_large"
    too_many_array = _post(
        gateway, token, "activities", b"[" + b",".join([b"{}"] * 10_001) + b"]", "application/json"
    )
    assert too_many_array.status_code == 413 and too_many_array.json()["code"] == "batch_too_large"
    csv = _post(gateway, token, "activities", b"site_id,title\n", "text/csv")
    assert csv.status_code == 415 and csv.json()["code"] == "batch_content_type"
    empty = _post(gateway, token, "activities", b"\n\n")
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "body"
    not_array = _post(gateway, token, "activities", orjson.dumps(_activity(site_id, 0)), "application/json")
    assert not_array.status_code == 422 and not_array.json()["errors"][0]["field"] == "body"
    unknown_kind = _post(gateway, token, "cases", _ndjson([_activity(site_id, 0)]))
    assert unknown_kind.status_code == 422 and unknown_kind.json()["errors"][0]["field"] == "kind"
    # A record of another kind is refused field by field.
    wrong_kind = _post(gateway, token, "deliberations", _ndjson([_activity(site_id, 0)]))
    assert wrong_kind.status_code == 422
    assert {"held_on", "topic", "form", "category"} <= {e["field"] for e in wrong_kind.json()["errors"]}


def test_safety_trainings_and_visits(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    site_id, token = site["site"]["id"], site["operator_token"]
    held_on = day(-1)
    trainings = [
        {"site_id": site_id, "held_on": held_on, "topic": f"消防演练 {n}", "attendance": 20} for n in range(4)
    ]
    created = _post(gateway, token, "safety-trainings", _ndjson(trainings))
    assert created.status_code == 201 and created.json()["count"] == 4
    assert _count(stack, "safety_trainings", site_id) >= 4

    visited_at = (now_shanghai() - dt.timedelta(hours=5)).isoformat()
    visits = [
        {
            "site_id": site_id,
            "visited_at": visited_at,
            "headcount": 2,
            "purpose": "咨询养老服务",
            "visitor_name": "王小明",
            "visitor_phone": "13812345678",
            "visitor_id_number": "330108199001011232",
        }
    ]
    created = _post(gateway, token, "visits", _ndjson(visits))
    assert created.status_code == 201, created.text
    stored = stack.sql(
        "SELECT visitor_id_number_masked, visitor_name FROM activities.visits WHERE id = $1",
        uuid.UUID(created.json()["ids"][0]),
    )[0]
    assert stored["visitor_id_number_masked"] != "330108199001011232"
    assert "1232" in stored["visitor_id_number_masked"] and "*" in stored["visitor_id_number_masked"]
    assert stored["visitor_name"] == "王小明"


def test_volunteer_hours_keep_each_day_within_24h(
    gateway: httpx.Client, district_token: str, site: dict, stack: RunningStack
) -> None:
    site_id, token = site["site"]["id"], site["operator_token"]
    registered_on = day(-30)

    def volunteer(name: str, owner: dict) -> str:
        response = gateway.post(
            "/api/v1/activities/volunteers",
            json={"site_id": owner["site"]["id"], "name": name, "registered_on": registered_on},
            headers=bearer(owner["operator_token"]),
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    ann, bo = volunteer("李安", site), volunteer("赵博", site)
    foreign = volunteer("周外", operated_site(gateway, district_token))
    on, other_day = day(-2), day(-3)
    stored = gateway.post(
        "/api/v1/activities/volunteer-hours",
        json={"volunteer_id": ann, "date": on, "hours": "20"},
        headers=bearer(token),
    )
    assert stored.status_code == 201, stored.text

    def hours(volunteer_id: str, on: str, amount: str, **extra: str) -> dict[str, str]:
        return {"volunteer_id": volunteer_id, "date": on, "hours": amount, **extra}

    before = _count(stack, "volunteer_hours", site_id)
    batch = [
        hours(ann, on, "3"),  # 23 h with the stored 20: fine
        hours(bo, on, "10"),
        hours(ann, on, "2"),  # 25 h → line 3
        hours(bo, on, "10"),
        hours(bo, on, "5"),  # 25 h → line 5
        hours(ann, other_day, "24"),
        hours(foreign, on, "1"),  # another operator's volunteer → line 7
        hours(str(uuid.uuid4()), on, "1"),  # nobody → line 8
        hours(bo, other_day, "1", activity_id=str(uuid.uuid4())),  # no such activity → line 9
    ]
    refused = _post(gateway, token, "volunteer-hours", _ndjson(batch))
    assert refused.status_code == 422, refused.text
    assert [(e["line"], e["field"]) for e in refused.json()["errors"]] == [
        (3, "hours"),
        (5, "hours"),
        (7, "volunteer_id"),
        (8, "volunteer_id"),
        (9, "activity_id"),
    ]
    assert _count(stack, "volunteer_hours", site_id) == before

    activity = gateway.post(
        "/api/v1/activities/activities", json=_activity(site_id, 1), headers=bearer(token)
    ).json()
    valid = [batch[0], batch[1], batch[3], batch[5], hours(bo, other_day, "1", activity_id=activity["id"])]
    created = _post(gateway, token, "volunteer-hours", _ndjson(valid))
    assert created.status_code == 201, created.text
    assert _count(stack, "volunteer_hours", site_id) == before + 5
    rows = stack.sql(
        "SELECT site_id, sum(hours) AS total FROM activities.volunteer_hours "
        "WHERE volunteer_id = $1 AND date = $2 GROUP BY site_id",
        uuid.UUID(ann),
        dt.date.fromisoformat(on),
    )
    assert [(str(r["site_id"]), float(r["total"])) for r in rows] == [(site_id, 23.0)]


# ---- the plain-records fast path (issue 7, P5) ---------------------------------------------------


def _schema_values(records: list[Any]) -> list[tuple[Any, ...]] | None:
    """What the schema path stores for these records (None when the schema refuses one)."""
    from pydantic import ValidationError

    from services.activities.batch import service
    from services.activities.batch.schemas import BatchKind

    spec = service.kind_spec(BatchKind.ACTIVITIES)
    try:
        validated = spec.adapter.validate_python(records)
    except ValidationError:
        return None
    rows = service._schema_rows(spec, validated, None)  # type: ignore[arg-type]
    return [
        tuple(dict(zip(rows.columns, values, strict=True))[c] for c in spec.plain_columns)
        for values in rows.values
    ]


def _normalised(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Both paths' values compared as stored: ids as text, times as instants, JSON parsed."""

    def one(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, list):
            return [one(v) for v in value]
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.UTC)
        if isinstance(value, str) and value.startswith("["):
            return orjson.loads(value)
        if isinstance(value, str) and len(value) == 36 and value.count("-") == 4:
            return str(uuid.UUID(value))  # the uuid column stores 'ABC…' and 'abc…' alike
        return value.value if hasattr(value, "value") else value

    return [tuple(one(v) for v in row) for row in rows]


def test_plain_records_take_the_fast_path_and_store_what_the_schema_would() -> None:
    from services.activities.activities import ingest

    assert ingest.ENABLED, (
        "ActivityCreate or Evidence changed: update services/activities/activities/ingest.py"
    )
    site_id = str(uuid.uuid4())
    sha = "AB" * 32
    records = [
        _activity(site_id, 1),
        _activity(
            site_id,
            2,
            evidence=[{"kind": "sign_in_sheet", "uri": "u", "sha256": sha}, {"kind": "photo", "uri": "p"}],
        ),
        _activity(
            site_id,
            3,
            target_groups=["elderly", "children_youth"],
            partner_org_ids=[str(uuid.uuid4()).upper()],
        ),
        _activity(site_id, 4, location="", attendance=100_000, is_theme=True),
        {k: v for k, v in _activity(site_id, 5).items() if k not in ("is_theme", "attendance", "evidence")},
        _activity(site_id, 6, starts_at="2026-01-02T01:00:00Z", ends_at="2026-01-02T03:00:00.5+00:00"),
        _activity(site_id, 7, title="x" * 200, location="y" * 200),
    ]
    now = utc_now()
    fast = ingest.plain_rows(records, now)
    assert fast is not None
    schema = _schema_values(records)
    assert schema is not None
    assert _normalised(fast) == _normalised(schema)


@pytest.mark.parametrize(
    "changes",
    [
        {"attendance": -1},
        {"attendance": 100_001},
        {"attendance": True},
        {"attendance": 5.0},
        {"attendance": "5"},
        {"is_theme": "true"},
        {"is_theme": 1},
        {"title": ""},
        {"title": "x" * 201},
        {"title": None},
        {"location": None},
        {"category": "sports"},
        {"site_id": "not-a-uuid"},
        {"site_id": str(uuid.uuid4()).replace("-", "")},
        {"starts_at": "2026-01-02T09:00:00"},
        {"starts_at": "2026-01-02 09:00:00+08:00"},
        {"starts_at": "2999-01-02T09:00:00+08:00", "ends_at": "2999-01-02T10:00:00+08:00"},
        {"ends_at": "2020-01-01T00:00:00+08:00"},
        {"target_groups": ["martians"]},
        {"target_groups": "elderly"},
        {"partner_org_ids": ["x"]},
        {"evidence": [{"kind": "selfie", "uri": "u"}]},
        {"evidence": [{"kind": "photo", "uri": ""}]},
        {"evidence": [{"kind": "photo", "uri": "u", "sha256": "abc"}]},
        {"evidence": [{"kind": "photo", "uri": "u", "size": 3}]},
        {"evidence": [{"kind": "photo", "uri": "u"}] * 51},
        {"extra": 1},
    ],
)
def test_the_fast_path_never_accepts_more_than_the_schema(changes: dict[str, Any]) -> None:
    """Anything unusual goes to the schema: the fast path answers None, and the schema decides
    (refusing the invalid ones with its own messages, accepting the unusual valid ones)."""
    from services.activities.activities import ingest

    record = {**_activity(str(uuid.uuid4()), 1), **changes}
    assert ingest.plain_rows([record], utc_now()) is None
    schema = _schema_values([record])
    if schema is not None:  # unusual but valid (e.g. a UUID without hyphens): the schema's values
        assert len(schema) == 1


def test_a_batch_publishes_one_created_event_per_record(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    fresh = operated_site(gateway, district_token)
    site_id = fresh["site"]["id"]
    created = _post(
        gateway, district_token, "activities", _ndjson([_activity(site_id, n) for n in range(25)])
    )
    assert created.status_code == 201, created.text
    ids = created.json()["ids"]
    events = stack.sql(
        "SELECT object_id, site_id, data FROM activities.outbox WHERE type = 'activity.created' "
        "AND object_id = ANY($1::text[]) ORDER BY position",
        ids,
    )
    assert [e["object_id"] for e in events] == ids
    first = orjson.loads(events[0]["data"])
    assert str(events[0]["site_id"]) == site_id and first["id"] == ids[0] and first["title"] == "社区活动 0"
    assert "batch_line" not in first and first["evidence"][0]["kind"] == "photo"
    # The batch's own audit row is no change of one object: it publishes nothing itself.
    assert (
        stack.sql(
            "SELECT count(*) AS n FROM activities.outbox "
            "WHERE type = 'activity.updated' AND object_id IS NULL"
        )[0]["n"]
        == 0
    )


def _events_differing_from_stored_rows(stack: RunningStack, table: str, ids: list[str]) -> list[Any]:
    """The batch's created events (one per id, all found) whose data is not the stored row as the
    database renders it (``to_jsonb``, in UTC like the services' sessions) or whose site is not."""
    rows = stack.sql(
        "SELECT o.data::text AS published, to_jsonb(r)::text AS stored, o.site_id = r.site_id AS same_site "  # noqa: S608
        f"FROM activities.outbox o JOIN activities.{table} r ON r.id::text = o.object_id "
        "WHERE o.type LIKE '%.created' AND o.object_id = ANY($1::text[]) "
        "AND set_config('TimeZone', 'UTC', true) = 'UTC' ORDER BY o.position",
        ids,
    )
    assert len(rows) == len(ids)
    return [
        (r["published"], r["stored"]) for r in rows if r["published"] != r["stored"] or not r["same_site"]
    ]


def test_batch_events_publish_exactly_the_stored_rows(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    """The events are built from the batch's values, not read back: each must equal the stored row
    (fractions of seconds, offsets, letter case of ids and hashes, escapes, defaults, dates)."""
    fresh = operated_site(gateway, district_token)
    site_id, token = fresh["site"]["id"], fresh["operator_token"]
    partner = str(uuid.uuid4())
    plain = [
        _activity(site_id, 0),
        _activity(
            site_id, 1, starts_at="2026-01-02T01:00:00.120Z", ends_at="2026-01-02T11:00:00.000001+08:00"
        ),
        _activity(
            site_id.upper(),
            2,
            title='引号 "q" \\ back\\slash \t tab 😀 </script>',
            location="",
            is_theme=True,
            target_groups=["elderly", "children_youth"],
            partner_org_ids=[partner.upper()],
            evidence=[
                {"kind": "sign_in_sheet", "uri": "u", "sha256": "AB" * 32},
                {"kind": "photo", "uri": "p"},
            ],
        ),
        {k: v for k, v in _activity(site_id, 3).items() if k not in ("is_theme", "attendance", "evidence")},
    ]
    # A partner id without hyphens is valid but not plain: the schema path builds these rows.
    schema_path = [*plain, _activity(site_id, 4, partner_org_ids=[partner.replace("-", "")])]
    deliberations = [_deliberation(site_id, n) for n in range(3)]
    trainings = [
        {"site_id": site_id, "held_on": "2026-01-05", "topic": f"消防演练 {n}", "attendance": 20}
        for n in range(2)
    ]
    for kind, table, records in (
        ("activities", "activities", plain),
        ("activities", "activities", schema_path),
        ("deliberations", "deliberations", deliberations),
        ("safety-trainings", "safety_trainings", trainings),
    ):
        created = _post(gateway, token, kind, _ndjson(records))
        assert created.status_code == 201, created.text
        assert _events_differing_from_stored_rows(stack, table, created.json()["ids"]) == []
