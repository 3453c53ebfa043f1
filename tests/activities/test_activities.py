"""`/api/v1/activities/activities`: activities of the ten service categories and their evidence (C15)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import httpx
import pytest

from tests.clock import Moment, now_shanghai, resolve, today
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import create_org, error_fields, integration_token, operated_site, user_token

URL = "/api/v1/activities/activities"
SHA = "ab" * 32


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


def _at(days_ago: float, hour: int = 9) -> str:
    day = now_shanghai() - dt.timedelta(days=days_ago)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


def _body(site_id: str, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "category": "elderly",
        "title": "重阳节敬老茶话会",
        "is_theme": True,
        "starts_at": _at(3, 9),
        "ends_at": _at(3, 11),
        "location": "一楼多功能厅",
        "attendance": 64,
        "target_groups": ["elderly"],
        "partner_org_ids": [],
        "evidence": [
            {"kind": "notice", "uri": "https://files.example.cn/a/notice.pdf"},
            {"kind": "sign_in_sheet", "uri": "https://files.example.cn/a/sign.jpg", "sha256": SHA},
            {"kind": "photo", "uri": "https://files.example.cn/a/photo1.jpg"},
        ],
        **overrides,
    }


def _create(gateway: httpx.Client, token: str, body: dict) -> dict:
    response = gateway.post(URL, json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def test_operator_records_reads_updates_and_deletes(
    gateway: httpx.Client, site: dict, stack: RunningStack
) -> None:
    token = site["operator_token"]
    partner = str(uuid.uuid4())
    item = _create(gateway, token, _body(site["site"]["id"], partner_org_ids=[partner]))
    assert item["site_id"] == site["site"]["id"] and item["category"] == "elderly"
    assert item["attendance"] == 64 and item["partner_org_ids"] == [partner]
    assert (
        item["has_sign_in_sheet"] is True and item["has_photo"] is True and item["counts_for_theme"] is True
    )
    assert item["evidence"][1] == {
        "kind": "sign_in_sheet",
        "uri": "https://files.example.cn/a/sign.jpg",
        "sha256": SHA,
    }
    assert dt.datetime.fromisoformat(item["starts_at"]) == dt.datetime.fromisoformat(_at(3, 9))

    url = f"{URL}/{item['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.json() == item and got.headers["etag"]

    # Update needs If-Match; a stale one is refused.
    assert gateway.patch(url, json={"attendance": 120}, headers=bearer(token)).status_code == 428
    etag = got.headers["etag"]
    changed = gateway.patch(url, json={"attendance": 120}, headers={**bearer(token), "If-Match": etag})
    assert changed.status_code == 200 and changed.json()["attendance"] == 120
    assert changed.headers["etag"] != etag
    stale = gateway.patch(url, json={"title": "x"}, headers={**bearer(token), "If-Match": etag})
    assert stale.status_code == 412
    assert gateway.delete(url, headers={**bearer(token), "If-Match": etag}).status_code == 412

    deleted = gateway.delete(url, headers={**bearer(token), "If-Match": changed.headers["etag"]})
    assert deleted.status_code == 204
    assert gateway.get(url, headers=bearer(token)).status_code == 404
    audit = stack.sql(
        "SELECT action, actor_role FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at",
        item["id"],
    )
    assert [a["action"] for a in audit] == ["activity.create", "activity.update", "activity.delete"]
    assert {a["actor_role"] for a in audit} == {"operator"}


def test_list_filters(gateway: httpx.Client, district_token: str) -> None:
    fresh = operated_site(gateway, district_token)
    site_id, token = fresh["site"]["id"], fresh["operator_token"]
    small = _create(gateway, token, _body(site_id, is_theme=False, attendance=12, category="youth"))
    big = _create(gateway, token, _body(site_id, attendance=150, starts_at=_at(40, 14), ends_at=_at(40, 16)))
    mid = _create(gateway, token, _body(site_id, attendance=50, starts_at=_at(10), ends_at=_at(10, 12)))

    def ids(**params: object) -> list[str]:
        response = gateway.get(URL, params={"site_id": site_id, **params}, headers=bearer(token))
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["items"]]

    # Oldest first.
    assert ids() == [big["id"], mid["id"], small["id"]]
    assert ids(category="youth") == [small["id"]]
    assert ids(is_theme="true") == [big["id"], mid["id"]]
    assert ids(is_theme="false") == [small["id"]]
    assert ids(min_attendance=50) == [big["id"], mid["id"]]
    assert ids(min_attendance=51) == [big["id"]]
    since = (today() - dt.timedelta(days=10)).isoformat()
    assert ids(**{"from": since}) == [mid["id"], small["id"]]
    assert ids(**{"to": since}) == [big["id"], mid["id"]]
    assert ids(limit=2) == [big["id"], mid["id"]]
    bad = gateway.get(URL, params={"min_attendance": -1}, headers=bearer(token))
    assert "min_attendance" in error_fields(bad)
    assert "category" in error_fields(gateway.get(URL, params={"category": "sports"}, headers=bearer(token)))


def test_theme_evidence_flags_follow_the_evidence(
    gateway: httpx.Client, site: dict, stack: RunningStack
) -> None:
    token = site["operator_token"]
    photo_only = [{"kind": "photo", "uri": "https://files.example.cn/b/photo.jpg"}]
    item = _create(gateway, token, _body(site["site"]["id"], evidence=photo_only))
    assert (item["has_sign_in_sheet"], item["has_photo"], item["counts_for_theme"]) == (False, True, False)

    url = f"{URL}/{item['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    sheet = {"kind": "sign_in_sheet", "uri": "https://files.example.cn/b/sign.jpg"}
    both = gateway.patch(
        url, json={"evidence": [*photo_only, sheet]}, headers={**bearer(token), "If-Match": etag}
    )
    assert both.status_code == 200, both.text
    assert (both.json()["has_sign_in_sheet"], both.json()["counts_for_theme"]) == (True, True)
    stored = stack.sql(
        "SELECT has_sign_in_sheet, has_photo FROM activities.activities WHERE id = $1", item["id"]
    )
    assert (stored[0]["has_sign_in_sheet"], stored[0]["has_photo"]) == (True, True)

    # Not a theme activity: the evidence is complete but it does not count for C15.
    plain = gateway.patch(
        url, json={"is_theme": False}, headers={**bearer(token), "If-Match": both.headers["etag"]}
    )
    assert plain.json()["counts_for_theme"] is False and plain.json()["has_photo"] is True

    # Evidence removed → flags cleared (also in the table the metrics count on).
    cleared = gateway.patch(
        url, json={"evidence": []}, headers={**bearer(token), "If-Match": plain.headers["etag"]}
    )
    assert (cleared.json()["has_sign_in_sheet"], cleared.json()["has_photo"]) == (False, False)
    stored = stack.sql(
        "SELECT has_sign_in_sheet, has_photo FROM activities.activities WHERE id = $1", item["id"]
    )
    assert (stored[0]["has_sign_in_sheet"], stored[0]["has_photo"]) == (False, False)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"starts_at": Moment(days=-1, hours=2), "ends_at": Moment(days=-1)}, "ends_at"),
        ({"starts_at": Moment(days=2), "ends_at": Moment(days=2, hours=2)}, "starts_at"),
        ({"ends_at": Moment(hours=2)}, "ends_at"),
        ({"attendance": -1}, "attendance"),
        ({"evidence": [{"kind": "video", "uri": "https://x.cn/v.mp4"}]}, "evidence.0.kind"),
        ({"evidence": [{"kind": "photo", "uri": ""}]}, "evidence.0.uri"),
        (
            {"evidence": [{"kind": "photo", "uri": "https://x.cn/p.jpg", "sha256": "abc"}]},
            "evidence.0.sha256",
        ),
        ({"starts_at": "2026-01-05T09:00:00"}, "starts_at"),
        ({"category": "sports"}, "category"),
        ({"target_groups": ["pets"]}, "target_groups.0"),
        ({"partner_org_ids": ["not-a-uuid"]}, "partner_org_ids.0"),
        ({"title": ""}, "title"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_bad_input_names_the_field(gateway: httpx.Client, site: dict, overrides: dict, field: str) -> None:
    response = gateway.post(
        URL, json=_body(site["site"]["id"], **resolve(overrides)), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_naive_datetime_message_asks_for_an_offset(gateway: httpx.Client, site: dict) -> None:
    response = gateway.post(
        URL,
        json=_body(site["site"]["id"], starts_at="2026-01-05T09:00:00", ends_at="2026-01-05T11:00:00"),
        headers=bearer(site["operator_token"]),
    )
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert "UTC offset" in errors["starts_at"] and "UTC offset" in errors["ends_at"]


def test_patch_keeps_ends_after_starts(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    item = _create(gateway, token, _body(site["site"]["id"]))
    url = f"{URL}/{item['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    # Only ends_at sent, before the stored starts_at.
    early = gateway.patch(url, json={"ends_at": _at(4)}, headers={**bearer(token), "If-Match": etag})
    assert error_fields(early) == {"ends_at"}
    future = gateway.patch(url, json={"starts_at": _at(-3)}, headers={**bearer(token), "If-Match": etag})
    assert "starts_at" in error_fields(future)
    assert "site_id" in error_fields(
        gateway.patch(url, json={"site_id": str(uuid.uuid4())}, headers={**bearer(token), "If-Match": etag})
    )
    # Both moved together is fine; nothing changed by the refused attempts.
    moved = gateway.patch(
        url, json={"starts_at": _at(5, 8), "ends_at": _at(5, 9)}, headers={**bearer(token), "If-Match": etag}
    )
    assert moved.status_code == 200, moved.text
    assert dt.datetime.fromisoformat(moved.json()["ends_at"]) == dt.datetime.fromisoformat(_at(5, 9))


def test_scope_and_roles(gateway: httpx.Client, district_token: str, site: dict) -> None:
    item = _create(gateway, site["operator_token"], _body(site["site"]["id"]))
    url = f"{URL}/{item['id']}"
    other = operated_site(gateway, district_token, "CH")
    street_ch = login(gateway, "changhe")["access_token"]
    firm = create_org(gateway, district_token)
    evaluator = user_token(gateway, district_token, "evaluator", organization_id=firm["id"])
    missing = gateway.get(f"{URL}/{uuid.uuid4()}", headers=bearer(other["operator_token"]))
    assert missing.status_code == 404 and missing.json()["code"] == "activity_not_found"
    for token in (other["operator_token"], street_ch, evaluator):
        response = gateway.get(url, headers=bearer(token))
        assert response.status_code == 404
        assert response.json()["code"] == missing.json()["code"]
        assert response.json()["detail"] == missing.json()["detail"]
        listed = gateway.get(URL, params={"site_id": site["site"]["id"]}, headers=bearer(token))
        assert listed.status_code == 200 and listed.json()["items"] == []
    assert gateway.get(URL, headers=bearer(evaluator)).json()["items"] == []

    # The site's own street, the district and data platforms read it.
    street_xx = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    platform = integration_token(gateway, district_token)
    for token in (street_xx, district_token, platform):
        got = gateway.get(url, headers=bearer(token))
        assert got.status_code == 200 and got.json()["id"] == item["id"]
    listed = gateway.get(URL, params={"site_id": site["site"]["id"]}, headers=bearer(platform)).json()
    assert item["id"] in [a["id"] for a in listed["items"]]

    # Writes: street, evaluator and integration never; another operator → 404 like a missing site.
    body = _body(site["site"]["id"])
    for token in (street_xx, evaluator, platform):
        assert gateway.post(URL, json=body, headers=bearer(token)).status_code == 403
        assert gateway.delete(url, headers={**bearer(token), "If-Match": "*"}).status_code == 403
    foreign = gateway.post(URL, json=body, headers=bearer(other["operator_token"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "site_not_found"
    patched = gateway.patch(
        url, json={"attendance": 1}, headers={**bearer(other["operator_token"]), "If-Match": "*"}
    )
    assert patched.status_code == 404 and patched.json()["code"] == "activity_not_found"
    deleted = gateway.delete(url, headers={**bearer(other["operator_token"]), "If-Match": "*"})
    assert deleted.status_code == 404


def test_district_writes_for_existing_sites_only(
    gateway: httpx.Client, district_token: str, site: dict
) -> None:
    ok = gateway.post(URL, json=_body(site["site"]["id"]), headers=bearer(district_token))
    assert ok.status_code == 201
    missing = gateway.post(URL, json=_body(str(uuid.uuid4())), headers=bearer(district_token))
    assert missing.status_code == 404 and missing.json()["code"] == "site_not_found"


def test_idempotent_create(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    headers = {**bearer(site["operator_token"]), "Idempotency-Key": f"act-{uuid.uuid4()}"}
    body = _body(site["site"]["id"], title=f"亲子阅读会 {uuid.uuid4().hex[:6]}")
    first = gateway.post(URL, json=body, headers=headers)
    again = gateway.post(URL, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    count = stack.sql("SELECT count(*) AS n FROM activities.activities WHERE title = $1", body["title"])
    assert count[0]["n"] == 1


def test_a_created_activity_is_audited_and_published_with_every_column(
    gateway: httpx.Client, district_token: str, site: dict, stack: RunningStack
) -> None:
    """The hot create path (one Core INSERT, issue 7 P4) records the same audit row and change-feed
    event as every other create: all the stored columns, JSON-ready."""
    item = _create(gateway, district_token, _body(site["site"]["id"], location=""))
    audit = stack.sql(
        "SELECT actor_role, after FROM activities.audit_log "
        "WHERE object_id = $1 AND action = 'activity.create'",
        item["id"],
    )
    assert len(audit) == 1 and audit[0]["actor_role"] == "district"
    after = json.loads(audit[0]["after"])
    stored = stack.sql("SELECT * FROM activities.activities WHERE id = $1", uuid.UUID(item["id"]))[0]
    assert set(after) == set(stored.keys())
    assert after["id"] == item["id"] and after["version"] == 1 and after["created_by"]
    assert (
        after["category"] == "elderly" and after["target_groups"] == ["elderly"] and after["location"] == ""
    )
    assert after["evidence"] == item["evidence"] and after["has_photo"] is True
    assert dt.datetime.fromisoformat(after["starts_at"]) == dt.datetime.fromisoformat(item["starts_at"])
    assert dt.datetime.fromisoformat(after["created_at"]) == stored["created_at"]
    events = stack.sql(
        "SELECT data, site_id FROM activities.outbox WHERE object_id = $1 AND type = 'activity.created'",
        item["id"],
    )
    assert len(events) == 1 and str(events[0]["site_id"]) == site["site"]["id"]
    assert json.loads(events[0]["data"]) == after
