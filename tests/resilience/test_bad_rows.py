"""A stored row that breaks a rule the database does not check never breaks a read silently
(issue 15). The database refuses unknown codes and impossible states (tests/test_db_constraints.py);
these rows break the rules it cannot check, written with SQL as a script or a hand repair might:

* **list and get** — an activity whose evidence lacks its ``uri``: the list (and a get of that
  row) answers problem+json ``500 stored_record_invalid`` with a ``request_id``, and the
  activities service logs one line with that request id naming the table and the row; other rows
  read normally, and a PATCH through the API repairs the row (the change reaches the feed);
* **export** — the same row is exported as stored (an export copies the stored rows; it never
  skips one); a row JSON cannot carry (a number beyond 64 bits) ends the export with an error line
  ``stored_record_invalid`` and a cut connection, and the log line names it;
* **change feed** — an event JSON cannot carry stops the page with ``stored_record_invalid`` at
  every poll (skipping it would lose a change for good), the log line names it, and the feed
  flows again once it is repaired.

On a private stack (harness.py): these rows are written into its own database.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import bearer
from tests.resilience.harness import OwnStack, activity_body, is_problem

pytestmark = pytest.mark.slow

ACTIVITIES = "/api/v1/activities/activities"
EXPORT = "/api/v1/activities/export/activities.ndjson"
CHANGES = "/api/v1/activities/changes"
BEYOND_64_BITS = 10**20


def log_lines(own: OwnStack, service: str, request_id: str) -> list[dict[str, Any]]:
    """The JSON log lines ``service`` wrote while answering ``request_id``."""
    lines = []
    for text in Path(own.log_dir / f"{service}.log").read_text(errors="replace").splitlines():
        if request_id in text and text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def the_stored_record_line(own: OwnStack, request_id: str) -> dict[str, Any]:
    found = [
        line
        for line in log_lines(own, "activities", request_id)
        if line.get("code") == "stored_record_invalid" and line.get("level") == "error"
    ]
    assert len(found) == 1, log_lines(own, "activities", request_id)
    return found[0]


def insert_activity(own: OwnStack, site_id: str, evidence_json: str) -> str:
    """An activity written with SQL (not through the API), its evidence as the given JSON text."""
    rows = own.sql(
        "INSERT INTO activities.activities (id, site_id, created_by, version, created_at, updated_at, "
        "category, title, is_theme, starts_at, ends_at, location, attendance, target_groups, "
        "partner_org_ids, evidence, has_sign_in_sheet, has_photo) VALUES (gen_random_uuid(), $1, "
        "'script', 1, now(), now(), 'culture', '手工补录', false, '2026-01-05 01:00+00', "
        "'2026-01-05 02:00+00', '', 10, '{}', '{}', $2::jsonb, false, true) RETURNING id",
        uuid.UUID(site_id),
        evidence_json,
    )
    return str(rows[0]["id"])


@pytest.fixture(scope="module")
def site(client: httpx.Client, operated: dict[str, Any]) -> dict[str, Any]:
    """The operated site with one activity recorded through the API."""
    created = client.post(
        ACTIVITIES,
        json=activity_body(operated["site"]["id"], "正常的活动"),
        headers=bearer(operated["operator_token"]),
    )
    assert created.status_code == 201, created.text
    return {**operated, "good_activity": created.json()["id"]}


def test_a_list_meeting_a_bad_row_answers_stored_record_invalid_and_logs_the_row(
    own: OwnStack, client: httpx.Client, site: dict[str, Any]
) -> None:
    site_id, token = site["site"]["id"], site["operator_token"]
    bad = insert_activity(own, site_id, json.dumps([{"kind": "photo"}]))  # no `uri`

    listed = client.get(ACTIVITIES, params={"site_id": site_id}, headers=bearer(token))
    assert is_problem(listed, 500, "stored_record_invalid"), listed.text
    request_id = listed.json()["request_id"]
    assert listed.headers["x-request-id"] == request_id
    assert bad not in listed.text  # the client learns what happened, the log which row
    line = the_stored_record_line(own, request_id)
    assert line["table"] == "activities.activities" and line["record_id"] == bad
    assert bad in line["msg"] and "evidence.0.uri" in line["msg"]

    # Only reads meeting the row fail: the row itself, not its neighbours.
    one = client.get(f"{ACTIVITIES}/{bad}", headers=bearer(token))
    assert is_problem(one, 500, "stored_record_invalid"), one.text
    assert the_stored_record_line(own, one.json()["request_id"])["record_id"] == bad
    assert client.get(f"{ACTIVITIES}/{site['good_activity']}", headers=bearer(token)).status_code == 200

    # The repair the README describes: replace the evidence through the API (If-Match: * since the
    # row cannot be read); the write validates the new state and its event reaches the platforms.
    repaired = client.patch(
        f"{ACTIVITIES}/{bad}",
        json={"evidence": [{"kind": "photo", "uri": "https://files.example/photo.jpg"}]},
        headers={**bearer(token), "If-Match": "*"},
    )
    assert repaired.status_code == 200, repaired.text
    listed = client.get(ACTIVITIES, params={"site_id": site_id}, headers=bearer(token))
    assert listed.status_code == 200, listed.text
    assert bad in {item["id"] for item in listed.json()["items"]}
    events = own.sql("SELECT type FROM activities.outbox WHERE object_id = $1 ORDER BY position", bad)
    assert [e["type"] for e in events] == ["activity.updated"]


def test_an_export_copies_a_bad_row_as_stored_and_stops_naming_a_row_it_cannot_encode(
    own: OwnStack, client: httpx.Client, district: str, site: dict[str, Any]
) -> None:
    site_id = site["site"]["id"]
    no_uri = insert_activity(own, site_id, json.dumps([{"kind": "notice"}]))
    exported = client.get(EXPORT, headers=bearer(district), timeout=60)
    assert exported.status_code == 200
    rows = {row["id"]: row for row in map(json.loads, exported.text.splitlines())}
    # The export is the platforms' copy of what is stored: the row is in it, exactly as stored.
    assert rows[no_uri]["evidence"] == [{"kind": "notice"}]
    assert len(rows) == own.sql("SELECT count(*) AS n FROM activities.activities")[0]["n"]

    unencodable = insert_activity(
        own,
        site_id,
        f'[{{"kind": "photo", "uri": "https://files.example/x.jpg", "bytes": {BEYOND_64_BITS}}}]',
    )
    lines: list[str] = []
    # Cut (no final chunk): no client can take it for a whole export.
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("GET", EXPORT, headers=bearer(district), timeout=60) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            lines.append(line)
    error = json.loads(lines[-1])["error"]
    assert error["code"] == "stored_record_invalid" and error["status"] == 500
    line = the_stored_record_line(own, error["request_id"])
    assert line["table"] == "activities.activities" and line["record_id"] == unencodable
    assert unencodable not in {json.loads(text).get("id") for text in lines}
    own.sql("DELETE FROM activities.activities WHERE id = $1", uuid.UUID(unencodable))  # for the next test


def test_the_change_feed_stops_at_an_event_it_cannot_encode_until_it_is_repaired(
    own: OwnStack, client: httpx.Client, district: str, site: dict[str, Any]
) -> None:
    head = own.sql("SELECT coalesce(max(position), 0) AS p FROM activities.outbox")[0]["p"]
    event_id = uuid.uuid4()
    own.sql(
        "INSERT INTO activities.outbox (id, type, occurred_at, object_type, object_id, site_id, data) "
        "VALUES ($1, 'activity.updated', now(), 'activity', $2, $3, $4::jsonb)",
        event_id,
        site["good_activity"],
        uuid.UUID(site["site"]["id"]),
        json.dumps({"id": site["good_activity"], "attendance": BEYOND_64_BITS}),
    )
    for _ in range(2):  # every poll: the cursor never passes it
        page = client.get(CHANGES, params={"after": str(head)}, headers=bearer(district))
        assert is_problem(page, 500, "stored_record_invalid"), page.text
        line = the_stored_record_line(own, page.json()["request_id"])
        assert line["table"] == "activities.outbox" and line["record_id"] == str(event_id)

    own.sql(
        "UPDATE activities.outbox SET data = jsonb_set(data, '{attendance}', '12') WHERE id = $1", event_id
    )
    page = client.get(CHANGES, params={"after": str(head)}, headers=bearer(district))
    assert page.status_code == 200, page.text
    assert str(event_id) in {item["id"] for item in page.json()["items"]}
