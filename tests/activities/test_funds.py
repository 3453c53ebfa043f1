"""`/api/v1/activities/fund-accounts` — 项目资金专账核算 (6.1.5): budget lines, entries, the budget rule."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from services.common.timeutil import today_shanghai
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import error_fields, integration_token, operated_site, user_token

ACCOUNTS = "/api/v1/activities/fund-accounts"


def days_ago(n: int) -> str:
    return (today_shanghai() - dt.timedelta(days=n)).isoformat()


@pytest.fixture(scope="module")
def site(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token)


@pytest.fixture(scope="module")
def other(gateway: httpx.Client, district_token: str) -> dict:
    return operated_site(gateway, district_token, "CH")


def account_body(site_id: str, **overrides: object) -> dict:
    return {
        "site_id": site_id,
        "project": f"邻里守望服务项目-{uuid.uuid4().hex[:6]}",
        "year": 2026,
        "budget_lines": [{"line": "活动经费", "amount": "1000"}, {"line": "人员经费", "amount": "5000.50"}],
        **overrides,
    }


def open_account(gateway: httpx.Client, token: str, site_id: str, **overrides: object) -> dict:
    response = gateway.post(ACCOUNTS, json=account_body(site_id, **overrides), headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def entry(line: str = "活动经费", amount: str = "100", **overrides: object) -> dict:
    return {
        "line": line,
        "amount": amount,
        "spent_on": days_ago(2),
        "voucher_no": f"PZ-{uuid.uuid4().hex[:6]}",
        "purpose": "重阳节敬老活动物资",
        **overrides,
    }


def post_entry(gateway: httpx.Client, token: str, account_id: str, body: dict) -> httpx.Response:
    return gateway.post(f"{ACCOUNTS}/{account_id}/entries", json=body, headers=bearer(token))


# ---- accounts --------------------------------------------------------------------------------------


def test_account_crud(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    token = site["operator_token"]
    account = open_account(gateway, token, site["site"]["id"], project="社区营造项目", year=2025)
    assert account["budget_lines"] == [
        {"line": "人员经费", "amount": "5000.50"},
        {"line": "活动经费", "amount": "1000.00"},
    ]
    url = f"{ACCOUNTS}/{account['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.json() == account
    listed = gateway.get(
        ACCOUNTS, params={"site_id": site["site"]["id"], "year": 2025}, headers=bearer(token)
    ).json()
    assert [a["id"] for a in listed["items"]] == [account["id"]]
    duplicate = gateway.post(
        ACCOUNTS,
        json=account_body(site["site"]["id"], project="社区营造项目", year=2025),
        headers=bearer(token),
    )
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "fund_account_exists"
    assert gateway.patch(url, json={"project": "x"}, headers=bearer(token)).status_code == 428
    patched = gateway.patch(
        url,
        json={"project": "社区营造项目(二期)", "budget_lines": [{"line": "活动经费", "amount": "800.5"}]},
        headers={**bearer(token), "If-Match": got.headers["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["project"] == "社区营造项目(二期)"
    assert patched.json()["budget_lines"] == [{"line": "活动经费", "amount": "800.50"}]
    deleted = gateway.delete(url, headers={**bearer(token), "If-Match": patched.headers["etag"]})
    assert deleted.status_code == 204
    assert gateway.get(url, headers=bearer(token)).status_code == 404
    audit = stack.sql(
        "SELECT action, after FROM activities.audit_log WHERE object_id = $1 ORDER BY occurred_at",
        account["id"],
    )
    assert [a["action"] for a in audit] == [
        "fund_account.create",
        "fund_account.update",
        "fund_account.delete",
    ]
    assert '"budget_lines"' in audit[0]["after"]
    assert stack.sql("SELECT 1 FROM activities.fund_budget_lines WHERE account_id = $1", account["id"]) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"budget_lines": [{"line": "a", "amount": "1"}, {"line": "a ", "amount": "2"}]}, "budget_lines"),
        ({"budget_lines": [{"line": "a", "amount": "-1"}]}, "budget_lines.0.amount"),
        ({"budget_lines": [{"line": "a", "amount": "1.005"}]}, "budget_lines.0.amount"),
        ({"budget_lines": [{"line": "a", "amount": "abc"}]}, "budget_lines.0.amount"),
        ({"budget_lines": [{"line": "", "amount": "1"}]}, "budget_lines.0.line"),
        ({"budget_lines": []}, "budget_lines"),
        ({"year": 1999}, "year"),
        ({"project": ""}, "project"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_account_bad_input_names_the_field(
    gateway: httpx.Client, site: dict, overrides: dict, field: str
) -> None:
    response = gateway.post(
        ACCOUNTS, json=account_body(site["site"]["id"], **overrides), headers=bearer(site["operator_token"])
    )
    assert field in error_fields(response)


def test_account_roles_and_scope(gateway: httpx.Client, district_token: str, site: dict, other: dict) -> None:
    account = open_account(gateway, site["operator_token"], site["site"]["id"])
    post_entry(gateway, site["operator_token"], account["id"], entry(amount="10"))
    url = f"{ACCOUNTS}/{account['id']}"
    missing = gateway.get(f"{ACCOUNTS}/{uuid.uuid4()}", headers=bearer(other["operator_token"])).json()
    street_ch = login(gateway, "changhe")["access_token"]
    evaluator = login(gateway, "evaluator")["access_token"]
    for token in (other["operator_token"], street_ch, evaluator):
        for path in ("", "/entries", "/report"):
            response = gateway.get(url + path, headers=bearer(token))
            assert response.status_code == 404, path
            assert response.json()["code"] == missing["code"] == "fund_account_not_found"
            assert response.json()["detail"] == missing["detail"]
        listed = gateway.get(ACCOUNTS, params={"site_id": site["site"]["id"]}, headers=bearer(token))
        assert listed.json()["items"] == []
    assert post_entry(gateway, other["operator_token"], account["id"], entry()).status_code == 404
    street_xx = user_token(gateway, district_token, "street", street_id=site["site"]["street_id"])
    platform = integration_token(gateway, district_token)
    for token in (street_xx, platform):
        assert gateway.get(url + "/report", headers=bearer(token)).json()["total"]["spent"] == "10.00"
        assert len(gateway.get(url + "/entries", headers=bearer(token)).json()["items"]) == 1
        assert post_entry(gateway, token, account["id"], entry()).status_code == 403
        assert (
            gateway.post(ACCOUNTS, json=account_body(site["site"]["id"]), headers=bearer(token)).status_code
            == 403
        )
    wrong_site = gateway.post(
        ACCOUNTS, json=account_body(site["site"]["id"]), headers=bearer(other["operator_token"])
    )
    assert wrong_site.status_code == 404 and wrong_site.json()["code"] == "site_not_found"
    by_district = post_entry(gateway, district_token, account["id"], entry(amount="5"))
    assert by_district.status_code == 201
    unknown = gateway.post(ACCOUNTS, json=account_body(str(uuid.uuid4())), headers=bearer(district_token))
    assert unknown.status_code == 404 and unknown.json()["code"] == "site_not_found"


# ---- the budget rule, reversals, the report --------------------------------------------------------


def test_budget_rule_reversal_and_report(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    token = site["operator_token"]
    account = open_account(gateway, token, site["site"]["id"])
    aid = account["id"]
    first = post_entry(gateway, token, aid, entry(amount="600"))
    second = post_entry(gateway, token, aid, entry(amount="400"))
    assert first.status_code == second.status_code == 201, second.text
    assert second.json()["amount"] == "400.00" and second.headers["etag"]
    over = post_entry(gateway, token, aid, entry(amount="0.01"))
    assert over.status_code == 409
    assert (over.json()["code"], over.json()["budget"], over.json()["spent"]) == (
        "budget_line_exceeded",
        "1000.00",
        "1000.00",
    )
    # Reversing the 400 entry frees its budget; 400 fits again afterwards.
    reversal = post_entry(gateway, token, aid, entry(amount="-400", reverses_entry_id=second.json()["id"]))
    assert reversal.status_code == 201, reversal.text
    assert reversal.json()["reverses_entry_id"] == second.json()["id"]
    assert post_entry(gateway, token, aid, entry(amount="400")).status_code == 201
    assert post_entry(gateway, token, aid, entry(amount="0.01")).status_code == 409
    assert post_entry(gateway, token, aid, entry(line="人员经费", amount="1250.25")).status_code == 201
    report = gateway.get(f"{ACCOUNTS}/{aid}/report", headers=bearer(token))
    assert report.status_code == 200
    assert report.json()["lines"] == [
        {
            "line": "人员经费",
            "budget": "5000.50",
            "spent": "1250.25",
            "remaining": "3750.25",
            "rate": "0.2500",
        },
        {"line": "活动经费", "budget": "1000.00", "spent": "1000.00", "remaining": "0.00", "rate": "1.0000"},
    ]
    assert report.json()["total"] == {
        "line": "total",
        "budget": "6000.50",
        "spent": "2250.25",
        "remaining": "3750.25",
        "rate": "0.3750",
    }
    entries = gateway.get(
        f"{ACCOUNTS}/{aid}/entries", params={"line": "活动经费"}, headers=bearer(token)
    ).json()
    assert sorted(e["amount"] for e in entries["items"]) == ["-400.00", "400.00", "400.00", "600.00"]
    audit = stack.sql("SELECT action FROM activities.audit_log WHERE object_id = $1", reversal.json()["id"])
    assert [a["action"] for a in audit] == ["fund_entry.create"]


def test_reversal_rules(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    aid = open_account(gateway, token, site["site"]["id"])["id"]
    original = post_entry(gateway, token, aid, entry(amount="300")).json()
    staff = post_entry(gateway, token, aid, entry(line="人员经费", amount="50")).json()
    cases = [
        (entry(amount="-10"), "amount"),  # negative without reverses_entry_id
        (entry(amount="10", reverses_entry_id=original["id"]), "amount"),  # a reversal must be negative
        (entry(amount="-300.01", reverses_entry_id=original["id"]), "amount"),  # more than the entry
        (entry(line="人员经费", amount="-10", reverses_entry_id=original["id"]), "line"),  # other line
        (entry(amount="-10", reverses_entry_id=str(uuid.uuid4())), "reverses_entry_id"),
        (entry(amount="0"), "amount"),
        (entry(line="差旅费"), "line"),
        (entry(spent_on=days_ago(-1)), "spent_on"),
        (entry(amount="1.234"), "amount"),
    ]
    for body, field in cases:
        assert field in error_fields(post_entry(gateway, token, aid, body)), body
    assert (
        post_entry(gateway, token, aid, entry(amount="-200", reverses_entry_id=original["id"])).status_code
        == 201
    )
    last = post_entry(gateway, token, aid, entry(amount="-100", reverses_entry_id=original["id"]))
    assert last.status_code == 201
    # Fully reversed: nothing is left to reverse, and a reversal cannot itself be reversed.
    assert "amount" in error_fields(
        post_entry(gateway, token, aid, entry(amount="-0.01", reverses_entry_id=original["id"]))
    )
    assert "reverses_entry_id" in error_fields(
        post_entry(gateway, token, aid, entry(amount="-1", reverses_entry_id=last.json()["id"]))
    )
    assert (
        post_entry(
            gateway, token, aid, entry(line="人员经费", amount="-50", reverses_entry_id=staff["id"])
        ).status_code
        == 201
    )
    report = gateway.get(f"{ACCOUNTS}/{aid}/report", headers=bearer(token)).json()
    assert report["total"]["spent"] == "0.00"


def test_entry_correction_window(gateway: httpx.Client, site: dict, stack: RunningStack) -> None:
    token = site["operator_token"]
    aid = open_account(gateway, token, site["site"]["id"])["id"]
    created = post_entry(gateway, token, aid, entry(amount="700"))
    url = f"{ACCOUNTS}/{aid}/entries/{created.json()['id']}"
    got = gateway.get(url, headers=bearer(token))
    assert got.status_code == 200 and got.headers["etag"] == created.headers["etag"]
    assert gateway.patch(url, json={"amount": "650"}, headers=bearer(token)).status_code == 428
    too_much = gateway.patch(
        url, json={"amount": "1000.01"}, headers={**bearer(token), "If-Match": got.headers["etag"]}
    )
    assert too_much.status_code == 409 and too_much.json()["code"] == "budget_line_exceeded"
    corrected = gateway.patch(
        url,
        json={"amount": "1000", "purpose": "更正金额"},
        headers={**bearer(token), "If-Match": got.headers["etag"]},
    )
    assert corrected.status_code == 200, corrected.text
    assert (corrected.json()["amount"], corrected.json()["purpose"]) == ("1000.00", "更正金额")
    stale = gateway.patch(
        url, json={"amount": "10"}, headers={**bearer(token), "If-Match": got.headers["etag"]}
    )
    assert stale.status_code == 412
    stack.sql(
        "UPDATE activities.fund_entries SET created_at = now() - interval '24 hours 1 minute' WHERE id = $1",
        uuid.UUID(created.json()["id"]),
    )
    locked = gateway.patch(
        url, json={"amount": "900"}, headers={**bearer(token), "If-Match": corrected.headers["etag"]}
    )
    assert locked.status_code == 409 and locked.json()["code"] == "entry_locked"
    # After the window only a reversal corrects it.
    reversal = post_entry(gateway, token, aid, entry(amount="-100", reverses_entry_id=created.json()["id"]))
    assert reversal.status_code == 201
    assert gateway.get(url, headers=bearer(token)).json()["amount"] == "1000.00"
    assert gateway.get(f"{ACCOUNTS}/{aid}/entries/{uuid.uuid4()}", headers=bearer(token)).status_code == 404
    bad = gateway.patch(
        url, json={"amount": "abc"}, headers={**bearer(token), "If-Match": corrected.headers["etag"]}
    )
    assert "amount" in error_fields(bad)


def test_budget_lines_cannot_drop_below_spending(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    account = open_account(gateway, token, site["site"]["id"])
    url = f"{ACCOUNTS}/{account['id']}"
    assert post_entry(gateway, token, account["id"], entry(amount="600")).status_code == 201
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    headers = {**bearer(token), "If-Match": etag}
    below = gateway.patch(
        url,
        json={
            "budget_lines": [{"line": "活动经费", "amount": "599.99"}, {"line": "人员经费", "amount": "1"}]
        },
        headers=headers,
    )
    assert below.status_code == 409 and below.json()["code"] == "budget_line_exceeded"
    removed = gateway.patch(
        url, json={"budget_lines": [{"line": "人员经费", "amount": "1"}]}, headers=headers
    )
    assert removed.status_code == 409 and removed.json()["code"] == "budget_line_in_use"
    exact = gateway.patch(
        url,
        json={"budget_lines": [{"line": "活动经费", "amount": "600"}, {"line": "宣传费", "amount": "300"}]},
        headers=headers,
    )
    assert exact.status_code == 200, exact.text
    assert [line["line"] for line in exact.json()["budget_lines"]] == ["宣传费", "活动经费"]
    has_entries = gateway.delete(url, headers={**bearer(token), "If-Match": exact.headers["etag"]})
    assert has_entries.status_code == 409 and has_entries.json()["code"] == "account_has_entries"


def test_concurrent_entries_never_exceed_the_budget(
    stack: RunningStack, gateway: httpx.Client, site: dict
) -> None:
    token = site["operator_token"]
    aid = open_account(gateway, token, site["site"]["id"])["id"]

    def spend(_: int) -> int:
        with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as client:
            return post_entry(client, token, aid, entry(amount="150")).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(spend, range(10)))
    assert sorted(statuses) == [201] * 6 + [409] * 4
    report = gateway.get(f"{ACCOUNTS}/{aid}/report", headers=bearer(token)).json()
    assert report["lines"][1] == {
        "line": "活动经费",
        "budget": "1000.00",
        "spent": "900.00",
        "remaining": "100.00",
        "rate": "0.9000",
    }


def test_a_retried_entry_is_recorded_once(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    aid = open_account(gateway, token, site["site"]["id"])["id"]
    headers = {**bearer(token), "Idempotency-Key": f"entry-{uuid.uuid4()}"}
    body = entry(amount="250")
    first = gateway.post(f"{ACCOUNTS}/{aid}/entries", json=body, headers=headers)
    again = gateway.post(f"{ACCOUNTS}/{aid}/entries", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other_body = gateway.post(f"{ACCOUNTS}/{aid}/entries", json=entry(amount="1"), headers=headers)
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_key_reused"
    report = gateway.get(f"{ACCOUNTS}/{aid}/report", headers=bearer(token)).json()
    assert report["total"]["spent"] == "250.00"


def test_renaming_onto_another_account_conflicts(gateway: httpx.Client, site: dict) -> None:
    token = site["operator_token"]
    first = open_account(gateway, token, site["site"]["id"], project="助老项目", year=2024)
    second = open_account(gateway, token, site["site"]["id"], project="助残项目", year=2024)
    url = f"{ACCOUNTS}/{second['id']}"
    etag = gateway.get(url, headers=bearer(token)).headers["etag"]
    clash = gateway.patch(url, json={"project": "助老项目"}, headers={**bearer(token), "If-Match": etag})
    assert clash.status_code == 409 and clash.json()["code"] == "fund_account_exists"
    assert clash.json()["account_id"] == first["id"]
