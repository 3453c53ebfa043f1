"""`/api/v1/activities/cases` (个案, MZ/T 094) and `/groups` (小组, MZ/T 095)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.clock import Day, day, resolve
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import create_org, error_fields, integration_token, operated_site, user_token

CASES = "/api/v1/activities/cases"
GROUPS = "/api/v1/activities/groups"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


CLIENT_ID = id_number("33010819600704512")


def _day(days_ago: int) -> str:
    return day(-days_ago)


def _case(site_id: str, **overrides: object) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "target_group": "assistance_recipient",
        "opened_on": _day(30),
        "stage": "intake",
        "sessions": 1,
        "client_name": "赵桂兰",
        "client_phone": "13912340000",
        "client_id_number": CLIENT_ID,
        "summary": "低保家庭,子女就学困难",
        **overrides,
    }


def _group(site_id: str, **overrides: object) -> dict[str, Any]:
    return {
        "site_id": site_id,
        "name": "银龄智能手机学习小组",
        "target_group": "elderly",
        "opened_on": _day(20),
        "stage": "intervention",
        "sessions": 4,
        "members": 12,
        "summary": "六节课程,已完成四节",
        **overrides,
    }


def _without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def others(gateway: httpx.Client, district_token: str) -> dict[str, str]:
    other = operated_site(gateway, district_token, "CH")
    return {
        "operator": other["operator_token"],
        "street": login(gateway, "changhe")["access_token"],
        "integration": integration_token(gateway, district_token),
        "evaluator": user_token(
            gateway, district_token, "evaluator", organization_id=create_org(gateway, district_token)["id"]
        ),
    }


# ---- cases -----------------------------------------------------------------------------------------


def test_case_lifecycle(gateway: httpx.Client, site: dict[str, Any], stack: RunningStack) -> None:
    token = site["operator_token"]
    created = gateway.post(CASES, json=_case(site["site"]["id"]), headers=bearer(token))
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["site_id"] == site["site"]["id"] and item["target_group"] == "assistance_recipient"
    assert item["client_name"] == "赵桂兰" and item["client_phone"] == "13912340000"
    assert item["client_id_number_masked"] == CLIENT_ID[:4] + "*" * 10 + CLIENT_ID[-4:]
    assert "client_id_number" not in item and item["closed_on"] is None

    url = f"{CASES}/{item['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.json() == item
    listed = gateway.get(
        CASES, params={"site_id": site["site"]["id"], "stage": "intake"}, headers=bearer(token)
    )
    assert [c["id"] for c in listed.json()["items"]] == [item["id"]]
    assert listed.json()["items"][0]["client_name"] == "赵**"
    assert (
        gateway.get(
            CASES, params={"site_id": site["site"]["id"], "stage": "plan"}, headers=bearer(token)
        ).json()["items"]
        == []
    )
    in_period = gateway.get(
        CASES, params={"site_id": site["site"]["id"], "from": _day(31), "to": _day(30)}, headers=bearer(token)
    )
    assert [c["id"] for c in in_period.json()["items"]] == [item["id"]]
    after = gateway.get(
        CASES, params={"site_id": site["site"]["id"], "from": _day(29)}, headers=bearer(token)
    )
    assert after.json()["items"] == []

    # Close it: If-Match required, stale refused.
    closing = {"stage": "closed", "closed_on": _day(1), "sessions": 8}
    assert gateway.patch(url, json=closing, headers=bearer(token)).status_code == 428
    etag = got.headers["etag"]
    closed = gateway.patch(url, json=closing, headers={**bearer(token), "If-Match": etag})
    assert closed.status_code == 200, closed.text
    assert closed.json()["stage"] == "closed" and closed.json()["closed_on"] == _day(1)
    assert closed.json()["sessions"] == 8 and closed.json()["client_name"] == "赵桂兰"
    assert (
        gateway.patch(url, json={"sessions": 9}, headers={**bearer(token), "If-Match": etag}).status_code
        == 412
    )

    # `null` clears an optional member; a new ID number replaces the stored one and its digest.
    [before] = stack.sql(
        "SELECT client_id_number_hash FROM activities.cases WHERE id = $1", uuid.UUID(item["id"])
    )
    new_id = id_number("33010819600704520")
    cleared = gateway.patch(
        url,
        json={"client_phone": None, "client_id_number": new_id},
        headers={**bearer(token), "If-Match": closed.headers["etag"]},
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["client_phone"] is None
    assert cleared.json()["client_id_number_masked"] == new_id[:4] + "*" * 10 + new_id[-4:]
    [after_row] = stack.sql(
        "SELECT client_id_number_hash, client_id_number_masked FROM activities.cases WHERE id = $1",
        uuid.UUID(item["id"]),
    )
    assert after_row["client_id_number_hash"] != before["client_id_number_hash"]

    deleted = gateway.delete(url, headers={**bearer(token), "If-Match": cleared.headers["etag"]})
    assert deleted.status_code == 204
    assert gateway.get(url, headers=bearer(token)).status_code == 404
    audit = stack.sql(
        "SELECT action FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at", item["id"]
    )
    assert [a["action"] for a in audit] == [
        "case.create",
        "case.read_personal",
        "case.update",
        "case.update",
        "case.delete",
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"opened_on": Day(-5), "closed_on": Day(-6)}, "closed_on"),
        ({"opened_on": Day(+1)}, "opened_on"),
        ({"closed_on": Day(+1)}, "closed_on"),
        ({"stage": "finished"}, "stage"),
        ({"target_group": "everyone"}, "target_group"),
        ({"sessions": -1}, "sessions"),
        ({"client_name": " "}, "client_name"),
        ({"client_phone": "call me"}, "client_phone"),
        ({"client_id_number": "12345"}, "client_id_number"),
        ({"client_id_number_masked": "3301**********1234"}, "client_id_number_masked"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_case_bad_input_names_the_field(
    gateway: httpx.Client, site: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    response = gateway.post(
        CASES, json=_case(site["site"]["id"], **resolve(overrides)), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_case_update_checks_the_period_and_required_members(
    gateway: httpx.Client, site: dict[str, Any]
) -> None:
    token = site["operator_token"]
    item = gateway.post(
        CASES, json=_case(site["site"]["id"], opened_on=_day(10)), headers=bearer(token)
    ).json()
    url = f"{CASES}/{item['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    headers = {**bearer(token), "If-Match": etag}
    assert error_fields(gateway.patch(url, json={"closed_on": _day(11)}, headers=headers)) == {"closed_on"}
    # Moving the opening after an existing closing is refused the same way.
    ok = gateway.patch(url, json={"closed_on": _day(5)}, headers=headers)
    assert ok.status_code == 200
    headers["If-Match"] = ok.headers["etag"]
    assert error_fields(gateway.patch(url, json={"opened_on": _day(4)}, headers=headers)) == {"closed_on"}
    assert error_fields(gateway.patch(url, json={"client_name": None}, headers=headers)) == {"client_name"}
    assert error_fields(gateway.patch(url, json={"site_id": str(uuid.uuid4())}, headers=headers)) == {
        "site_id"
    }
    # Nothing was changed by the refused requests.
    assert gateway.get(url, headers=bearer(token)).json()["opened_on"] == _day(10)


def test_case_scope(
    gateway: httpx.Client, district_token: str, site: dict[str, Any], others: dict[str, str]
) -> None:
    item = gateway.post(CASES, json=_case(site["site"]["id"]), headers=bearer(site["operator_token"])).json()
    url = f"{CASES}/{item['id']}"
    for role in ("operator", "street", "evaluator"):
        token = others[role]
        hidden = gateway.get(url, headers=bearer(token))
        missing = gateway.get(f"{CASES}/{uuid.uuid4()}", headers=bearer(token))
        assert hidden.status_code == missing.status_code == 404, role
        assert _without_request_id(hidden) == _without_request_id(missing)
        assert hidden.json()["code"] == "case_not_found"
        listed = gateway.get(CASES, params={"site_id": site["site"]["id"]}, headers=bearer(token))
        assert listed.status_code == 200 and listed.json()["items"] == []
    # Writes: roles that never write → 403; another operator → 404 (site or case not in its scope).
    for role in ("street", "integration", "evaluator"):
        assert (
            gateway.post(CASES, json=_case(site["site"]["id"]), headers=bearer(others[role])).status_code
            == 403
        )
        assert gateway.delete(url, headers={**bearer(others[role]), "If-Match": "*"}).status_code == 403
    foreign = gateway.post(CASES, json=_case(site["site"]["id"]), headers=bearer(others["operator"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "site_not_found"
    patched = gateway.patch(
        url, json={"sessions": 3}, headers={**bearer(others["operator"]), "If-Match": "*"}
    )
    assert patched.status_code == 404 and patched.json()["code"] == "case_not_found"
    # The integration client reads everything, masked.
    got = gateway.get(url, headers=bearer(others["integration"]))
    assert got.status_code == 200 and got.json()["client_name"] == "赵**"


def test_district_writes_cases_for_existing_sites_only(
    gateway: httpx.Client, district_token: str, site: dict[str, Any]
) -> None:
    ok = gateway.post(CASES, json=_case(site["site"]["id"]), headers=bearer(district_token))
    assert ok.status_code == 201 and ok.json()["client_name"] == "赵桂兰"
    missing = gateway.post(CASES, json=_case(str(uuid.uuid4())), headers=bearer(district_token))
    assert missing.status_code == 404 and missing.json()["code"] == "site_not_found"


def test_case_create_is_idempotent(gateway: httpx.Client, site: dict[str, Any], stack: RunningStack) -> None:
    headers = {**bearer(site["operator_token"]), "Idempotency-Key": f"case-{uuid.uuid4()}"}
    body = _case(site["site"]["id"], summary=f"idempotent {uuid.uuid4()}")
    first = gateway.post(CASES, json=body, headers=headers)
    again = gateway.post(CASES, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert len(stack.sql("SELECT id FROM activities.cases WHERE summary = $1", body["summary"])) == 1


# ---- groups ----------------------------------------------------------------------------------------


def test_group_lifecycle(gateway: httpx.Client, site: dict[str, Any], stack: RunningStack) -> None:
    token = site["operator_token"]
    created = gateway.post(GROUPS, json=_group(site["site"]["id"]), headers=bearer(token))
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["name"] == "银龄智能手机学习小组" and item["members"] == 12 and item["sessions"] == 4
    url = f"{GROUPS}/{item['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.json() == item
    listed = gateway.get(
        GROUPS, params={"site_id": site["site"]["id"], "target_group": "elderly"}, headers=bearer(token)
    )
    assert item["id"] in [g["id"] for g in listed.json()["items"]]
    assert (
        gateway.get(
            GROUPS, params={"site_id": site["site"]["id"], "target_group": "disabled"}, headers=bearer(token)
        ).json()["items"]
        == []
    )
    closed = gateway.patch(
        url,
        json={"stage": "closed", "closed_on": _day(0), "sessions": 6},
        headers={**bearer(token), "If-Match": got.headers["etag"]},
    )
    assert (
        closed.status_code == 200 and closed.json()["closed_on"] == _day(0) and closed.json()["sessions"] == 6
    )
    reopened = gateway.patch(
        url,
        json={"closed_on": None, "stage": "evaluation"},
        headers={**bearer(token), "If-Match": closed.headers["etag"]},
    )
    assert reopened.status_code == 200 and reopened.json()["closed_on"] is None
    assert gateway.delete(url, headers={**bearer(token), "If-Match": got.headers["etag"]}).status_code == 412
    assert (
        gateway.delete(url, headers={**bearer(token), "If-Match": reopened.headers["etag"]}).status_code
        == 204
    )
    audit = stack.sql(
        "SELECT action FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at", item["id"]
    )
    # Groups hold no personal data: reading them is not audited.
    assert [a["action"] for a in audit] == ["group.create", "group.update", "group.update", "group.delete"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"opened_on": Day(-5), "closed_on": Day(-6)}, "closed_on"),
        ({"opened_on": Day(+1)}, "opened_on"),
        ({"members": -1}, "members"),
        ({"sessions": -2}, "sessions"),
        ({"name": ""}, "name"),
        ({"stage": "done"}, "stage"),
        ({"client_name": "张三"}, "client_name"),
    ],
)
def test_group_bad_input_names_the_field(
    gateway: httpx.Client, site: dict[str, Any], overrides: dict[str, Any], field: str
) -> None:
    response = gateway.post(
        GROUPS, json=_group(site["site"]["id"], **resolve(overrides)), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_group_update_checks_the_period(gateway: httpx.Client, site: dict[str, Any]) -> None:
    token = site["operator_token"]
    item = gateway.post(
        GROUPS, json=_group(site["site"]["id"], opened_on=_day(8)), headers=bearer(token)
    ).json()
    url = f"{GROUPS}/{item['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    response = gateway.patch(url, json={"closed_on": _day(9)}, headers={**bearer(token), "If-Match": etag})
    assert error_fields(response) == {"closed_on"}
    assert error_fields(
        gateway.patch(url, json={"members": None}, headers={**bearer(token), "If-Match": etag})
    ) == {"members"}


def test_group_scope(
    gateway: httpx.Client, site: dict[str, Any], others: dict[str, str], district_token: str
) -> None:
    item = gateway.post(
        GROUPS, json=_group(site["site"]["id"]), headers=bearer(site["operator_token"])
    ).json()
    url = f"{GROUPS}/{item['id']}"
    for role in ("operator", "street", "evaluator"):
        hidden = gateway.get(url, headers=bearer(others[role]))
        missing = gateway.get(f"{GROUPS}/{uuid.uuid4()}", headers=bearer(others[role]))
        assert hidden.status_code == missing.status_code == 404
        assert _without_request_id(hidden) == _without_request_id(missing)
        assert hidden.json()["code"] == "group_not_found"
    for role in ("street", "integration", "evaluator"):
        assert (
            gateway.post(GROUPS, json=_group(site["site"]["id"]), headers=bearer(others[role])).status_code
            == 403
        )
    foreign = gateway.post(GROUPS, json=_group(site["site"]["id"]), headers=bearer(others["operator"]))
    assert foreign.status_code == 404 and foreign.json()["code"] == "site_not_found"
    street = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    assert gateway.get(url, headers=bearer(street)).json() == item
    assert gateway.get(url, headers=bearer(others["integration"])).status_code == 200
