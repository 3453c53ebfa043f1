"""Construction filings (6.2.2) through the gateway: filing windows, the life cycle with its
window, late filing and return/resubmit, the planned site an approved hub plan creates, roles,
scope, bad input and the conflict report.

A window must lie inside its year, so only the current year can have a window open today: the
life-cycle tests file for the current year with a window set around today; tests that need a
closed window or their own set of filings use years far ahead (2031…), and the district marks
their filings `late_allowed` where they must be submitted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from tests.clock import today
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import community, integration_token, operated_site, street, user_token

API = "/api/v1/registry"
FILINGS = f"{API}/filings"


@pytest.fixture(scope="module")
def tokens(gateway: httpx.Client, district_token: str, street_token: str) -> dict[str, str]:
    return {
        "district": district_token,
        "street": street_token,  # 西兴 (XX)
        "changhe": login(gateway, "changhe")["access_token"],  # 长河 (CH)
        "evaluator": login(gateway, "evaluator")["access_token"],
        "integration": integration_token(gateway, district_token),
    }


@pytest.fixture(scope="module")
def operated(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """An organisation operating a 西兴 site, and its operator's token."""
    return operated_site(gateway, district_token, "XX")


@pytest.fixture(scope="module")
def open_window(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """This year's window set around today (clamped to the year), so submitting works."""
    now = today()
    opens_on = max(dt.date(now.year, 1, 1), now - dt.timedelta(days=1))
    closes_on = min(dt.date(now.year, 12, 31), now + dt.timedelta(days=10))
    return set_window(gateway, district_token, now.year, opens_on, closes_on)


def set_window(
    gateway: httpx.Client, token: str, year: int, opens_on: dt.date, closes_on: dt.date
) -> dict[str, Any]:
    response = gateway.put(
        f"{API}/filing-windows/{year}",
        json={"opens_on": opens_on.isoformat(), "closes_on": closes_on.isoformat()},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return response.json()


def filing_body(street_code: str = "XX", index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A hub plan of this year (Shanghai's, when the test runs) unless ``year`` says otherwise."""
    comm = community(street_code, index)
    year = overrides.get("year", today().year)
    return {
        "year": year,
        "kind": "hub_plan",
        "filer_name": street(street_code).name,
        "street_id": str(street(street_code).id),
        "community_id": str(comm.id),
        "title": f"{comm.name}美好生活共同体建设计划",
        "planned_area_m2": "650.00",
        "budget": "1200000.50",
        "funding_source": "区级财政+街道配套",
        "planned_start": f"{year}-04-01",
        "planned_finish": f"{year}-12-31",
        "description": "利用原社区用房改造。",
        **overrides,
    }


def create(gateway: httpx.Client, token: str, **overrides: Any) -> dict[str, Any]:
    response = gateway.post(FILINGS, json=filing_body(**overrides), headers=bearer(token))
    assert response.status_code == 201, response.text
    return response.json()


def get(gateway: httpx.Client, token: str, filing_id: str) -> httpx.Response:
    return gateway.get(f"{FILINGS}/{filing_id}", headers=bearer(token))


def patch(gateway: httpx.Client, token: str, filing_id: str, body: dict[str, Any]) -> httpx.Response:
    current = get(gateway, token, filing_id)
    etag = current.headers.get("ETag", '"none"') if current.status_code == 200 else '"none"'
    return gateway.patch(f"{FILINGS}/{filing_id}", json=body, headers={**bearer(token), "If-Match": etag})


def act(
    gateway: httpx.Client, token: str, filing_id: str, action: str, comment: str | None = None
) -> httpx.Response:
    kwargs: dict[str, Any] = {"json": {"comment": comment}} if comment is not None else {}
    return gateway.post(f"{FILINGS}/{filing_id}/{action}", headers=bearer(token), **kwargs)


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body


def error_fields(response: httpx.Response) -> set[str]:
    body = problem(response, 422, "validation_failed")
    return {e["field"] for e in body["errors"]}


def listed(gateway: httpx.Client, token: str, **params: Any) -> list[dict[str, Any]]:
    response = gateway.get(FILINGS, params={"limit": 200, **params}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def filed_for_late(gateway: httpx.Client, district_token: str, **overrides: Any) -> dict[str, Any]:
    """A district-made filing that may be submitted whatever the window (for far-ahead years)."""
    return create(gateway, district_token, late_allowed=True, **overrides)


def submitted(gateway: httpx.Client, district_token: str, **overrides: Any) -> dict[str, Any]:
    filing = filed_for_late(gateway, district_token, **overrides)
    return ok(act(gateway, district_token, filing["id"], "submit"))


# ---- filing windows ----------------------------------------------------------------------------


def test_window_defaults_to_first_quarter(gateway: httpx.Client, tokens: dict[str, str]) -> None:
    for role in ("district", "street", "evaluator", "integration"):
        window = ok(gateway.get(f"{API}/filing-windows/2040", headers=bearer(tokens[role])))
        assert window == {
            "year": 2040,
            "opens_on": "2040-01-01",
            "closes_on": "2040-03-31",
            "default": True,
            "open_today": False,
            "updated_at": None,
        }


def test_district_sets_and_replaces_a_window(
    gateway: httpx.Client, tokens: dict[str, str], stack: RunningStack
) -> None:
    first = set_window(gateway, tokens["district"], 2041, dt.date(2041, 1, 10), dt.date(2041, 2, 28))
    assert (first["opens_on"], first["closes_on"], first["default"]) == ("2041-01-10", "2041-02-28", False)
    second = set_window(gateway, tokens["district"], 2041, dt.date(2041, 2, 1), dt.date(2041, 4, 30))
    read = ok(gateway.get(f"{API}/filing-windows/2041", headers=bearer(tokens["street"])))
    assert read == second
    assert (read["opens_on"], read["closes_on"], read["default"]) == ("2041-02-01", "2041-04-30", False)
    rows = stack.sql(
        "SELECT action, before, after FROM registry.audit_log WHERE object_id = '2041' ORDER BY occurred_at"
    )
    assert [r["action"] for r in rows] == ["filing_window.set", "filing_window.set"]
    assert rows[0]["before"] in (None, "null") and "2041-01-10" in rows[1]["before"]
    assert "2041-04-30" in rows[1]["after"]


@pytest.mark.parametrize("role", ["street", "changhe", "evaluator", "integration"])
def test_only_the_district_sets_windows(gateway: httpx.Client, tokens: dict[str, str], role: str) -> None:
    response = gateway.put(
        f"{API}/filing-windows/2042",
        json={"opens_on": "2042-01-01", "closes_on": "2042-02-01"},
        headers=bearer(tokens[role]),
    )
    assert response.status_code == 403, response.text
    window = ok(gateway.get(f"{API}/filing-windows/2042", headers=bearer(tokens["district"])))
    assert window["default"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"opens_on": "2043-03-01", "closes_on": "2043-02-01"}, "closes_on"),
        ({"opens_on": "2042-12-01", "closes_on": "2043-02-01"}, "opens_on"),
        ({"opens_on": "2043-01-01", "closes_on": "2044-01-01"}, "closes_on"),
        ({"opens_on": "2043-02-30", "closes_on": "2043-03-01"}, "opens_on"),
        ({"opens_on": "2043-01-01", "closes_on": "2043-03-01", "late": True}, "late"),
        ({"opens_on": "2043-01-01"}, "closes_on"),
    ],
)
def test_bad_windows_name_the_field(
    gateway: httpx.Client, district_token: str, body: dict[str, Any], field: str
) -> None:
    response = gateway.put(f"{API}/filing-windows/2043", json=body, headers=bearer(district_token))
    assert field in error_fields(response)


# ---- the life cycle ----------------------------------------------------------------------------


def test_full_life_cycle_of_a_hub_plan(
    gateway: httpx.Client, tokens: dict[str, str], open_window: dict[str, Any], stack: RunningStack
) -> None:
    assert open_window["open_today"] is True
    street_token, district_token = tokens["street"], tokens["district"]

    draft = create(
        gateway, street_token, community_id=str(community("XX", 2).id), title="东湖社区共同体建设计划"
    )
    assert draft["state"] == "draft" and draft["kind"] == "hub_plan" and draft["year"] == open_window["year"]
    assert draft["facility_type"] == "hub"  # a hub plan's default
    assert draft["budget"] == "1200000.50" and draft["planned_area_m2"] == "650.00"
    assert draft["late_allowed"] is False and draft["site_id"] is None and draft["version"] == 1
    fid = draft["id"]

    response = get(gateway, street_token, fid)
    assert response.headers["ETag"] and ok(response)["title"] == "东湖社区共同体建设计划"

    # Edit the draft: If-Match is required, a stale one refused.
    no_etag = gateway.patch(f"{FILINGS}/{fid}", json={"title": "x"}, headers=bearer(street_token))
    problem(no_etag, 428, "precondition_required")
    edited = ok(
        patch(gateway, street_token, fid, {"title": "东湖社区美好生活共同体建设计划", "budget": "1300000"})
    )
    assert edited["title"] == "东湖社区美好生活共同体建设计划" and edited["budget"] == "1300000.00"
    assert edited["version"] == 2
    stale = gateway.patch(
        f"{FILINGS}/{fid}",
        json={"title": "y"},
        headers={**bearer(street_token), "If-Match": response.headers["ETag"]},
    )
    problem(stale, 412, "precondition_failed")

    sub = ok(act(gateway, street_token, fid, "submit"))
    assert sub["state"] == "submitted" and sub["version"] == 3
    problem(patch(gateway, street_token, fid, {"title": "z"}), 409, "filing_not_editable")

    returned = ok(act(gateway, district_token, fid, "return", "请补充预算明细"))
    assert returned["state"] == "returned"

    resubmittable = ok(
        patch(gateway, street_token, fid, {"description": "预算明细见附件", "budget": "1250000.00"})
    )
    assert resubmittable["state"] == "returned" and resubmittable["budget"] == "1250000.00"
    assert ok(act(gateway, street_token, fid, "submit", "已补充"))["state"] == "submitted"

    approved = ok(act(gateway, district_token, fid, "approve", "同意纳入建设名单"))
    assert approved["state"] == "approved" and approved["site_id"]

    site = ok(gateway.get(f"{API}/sites/{approved['site_id']}", headers=bearer(district_token)))
    assert site["status"] == "planned" and site["filing_id"] == fid
    assert site["name"] == "东湖社区美好生活共同体建设计划"
    assert site["street_id"] == str(street("XX").id) and site["community_id"] == str(community("XX", 2).id)
    prefix = f"HP-{open_window['year']}-"
    assert site["code"].startswith(prefix) and len(site["code"]) == len(prefix) + 6

    history = ok(gateway.get(f"{FILINGS}/{fid}/history", headers=bearer(street_token)))["items"]
    steps = [(h["action"], h["from_state"], h["to_state"], h["actor_role"], h["comment"]) for h in history]
    assert steps == [
        ("create", None, "draft", "street", None),
        ("submit", "draft", "submitted", "street", None),
        ("return", "submitted", "returned", "district", "请补充预算明细"),
        ("submit", "returned", "submitted", "street", "已补充"),
        ("approve", "submitted", "approved", "district", "同意纳入建设名单"),
    ]
    assert all(h["actor"] and h["occurred_at"] for h in history)
    times = [h["occurred_at"] for h in history]
    assert times == sorted(times)

    actions = [
        r["action"]
        for r in stack.sql(
            "SELECT action FROM registry.audit_log WHERE object_id = $1 ORDER BY occurred_at", fid
        )
    ]
    assert actions == [
        "filing.create",
        "filing.update",
        "filing.submit",
        "filing.return",
        "filing.update",
        "filing.submit",
        "filing.approve",
    ]
    site_audit = stack.sql(
        "SELECT action, actor_role FROM registry.audit_log WHERE object_id = $1", approved["site_id"]
    )
    assert [(r["action"], r["actor_role"]) for r in site_audit] == [("site.create", "district")]

    # Once approved, nothing moves it any more.
    problem(act(gateway, street_token, fid, "submit"), 409, "invalid_transition")
    problem(act(gateway, district_token, fid, "approve"), 409, "invalid_transition")
    problem(patch(gateway, district_token, fid, {"title": "z"}), 409, "filing_not_editable")


def test_approving_a_facility_filing_creates_no_site(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    filing = submitted(gateway, district_token, year=2031, kind="facility", facility_type="canteen")
    approved = ok(act(gateway, district_token, filing["id"], "approve"))
    assert approved["state"] == "approved" and approved["site_id"] is None
    assert (
        stack.sql("SELECT count(*) AS n FROM registry.sites WHERE filing_id = $1", uuid.UUID(filing["id"]))[
            0
        ]["n"]
        == 0
    )


def test_reject_is_final(gateway: httpx.Client, district_token: str, street_token: str) -> None:
    filing = submitted(gateway, district_token, year=2031, facility_type="reading_room", kind="facility")
    rejected = ok(act(gateway, district_token, filing["id"], "reject", "与已批准项目重复"))
    assert rejected["state"] == "rejected"
    for action in ("submit", "return", "approve", "reject"):
        body = problem(act(gateway, district_token, filing["id"], action), 409, "invalid_transition")
        assert body["state"] == "rejected" and body["allowed_actions"] == []


def test_invalid_transitions(gateway: httpx.Client, district_token: str, open_window: dict[str, Any]) -> None:
    draft = create(gateway, district_token)
    for action in ("approve", "return", "reject"):
        body = problem(act(gateway, district_token, draft["id"], action), 409, "invalid_transition")
        assert body["state"] == "draft" and body["allowed_actions"] == ["submit"]
    ok(act(gateway, district_token, draft["id"], "submit"))
    problem(act(gateway, district_token, draft["id"], "submit"), 409, "invalid_transition")
    ok(act(gateway, district_token, draft["id"], "approve"))
    problem(act(gateway, district_token, draft["id"], "submit"), 409, "invalid_transition")
    problem(act(gateway, district_token, draft["id"], "return"), 409, "invalid_transition")
    assert ok(get(gateway, district_token, draft["id"]))["state"] == "approved"


# ---- the window and late filing -----------------------------------------------------------------


def test_submitting_outside_the_window_needs_late_allowed(
    gateway: httpx.Client, tokens: dict[str, str], stack: RunningStack
) -> None:
    street_token, district_token = tokens["street"], tokens["district"]
    set_window(gateway, district_token, 2032, dt.date(2032, 1, 1), dt.date(2032, 2, 15))
    filing = create(gateway, street_token, year=2032)
    body = problem(act(gateway, street_token, filing["id"], "submit"), 409, "filing_window_closed")
    assert (body["opens_on"], body["closes_on"]) == ("2032-01-01", "2032-02-15")
    # The district is bound by the window too.
    problem(act(gateway, district_token, filing["id"], "submit"), 409, "filing_window_closed")
    assert ok(get(gateway, street_token, filing["id"]))["state"] == "draft"

    # Only the district may allow a late filing; the street's attempt changes nothing.
    refused = problem(
        patch(gateway, street_token, filing["id"], {"late_allowed": True}), 403, "field_not_writable"
    )
    assert refused["errors"][0]["field"] == "late_allowed"
    assert ok(get(gateway, street_token, filing["id"]))["late_allowed"] is False

    allowed = ok(patch(gateway, district_token, filing["id"], {"late_allowed": True}))
    assert allowed["late_allowed"] is True
    assert ok(act(gateway, street_token, filing["id"], "submit"))["state"] == "submitted"
    before_after = stack.sql(
        "SELECT before->>'late_allowed' AS b, after->>'late_allowed' AS a, actor_role"
        " FROM registry.audit_log WHERE object_id = $1 AND action = 'filing.update'",
        filing["id"],
    )
    assert [(r["b"], r["a"], r["actor_role"]) for r in before_after] == [("false", "true", "district")]


def test_default_window_is_closed_for_a_future_year(gateway: httpx.Client, street_token: str) -> None:
    filing = create(gateway, street_token, year=2033)
    body = problem(act(gateway, street_token, filing["id"], "submit"), 409, "filing_window_closed")
    assert (body["opens_on"], body["closes_on"]) == ("2033-01-01", "2033-03-31")


def test_street_may_not_set_late_allowed_on_create(gateway: httpx.Client, street_token: str) -> None:
    body = problem(
        gateway.post(FILINGS, json=filing_body(late_allowed=True), headers=bearer(street_token)),
        403,
        "field_not_writable",
    )
    assert body["errors"] == [{"field": "late_allowed", "message": "not writable for your role"}]


# ---- roles and scope ---------------------------------------------------------------------------


def test_only_the_district_returns_approves_rejects(
    gateway: httpx.Client, tokens: dict[str, str], operated: dict[str, Any]
) -> None:
    filing = submitted(gateway, tokens["district"], year=2031)
    for role_token in (tokens["street"], tokens["changhe"], operated["operator_token"], tokens["evaluator"]):
        for action in ("return", "approve", "reject"):
            assert act(gateway, role_token, filing["id"], action, "ok").status_code == 403
    assert ok(get(gateway, tokens["district"], filing["id"]))["state"] == "submitted"


def test_another_street_sees_nothing(
    gateway: httpx.Client, tokens: dict[str, str], open_window: dict[str, Any]
) -> None:
    filing = create(gateway, tokens["street"], community_id=str(community("XX", 4).id))
    fid, changhe = filing["id"], tokens["changhe"]
    headers = {**bearer(changhe), "X-Request-ID": "filing-scope-check-0001"}
    missing = str(uuid.uuid4())
    for path in ("", "/history"):
        hidden = gateway.get(f"{FILINGS}/{fid}{path}", headers=headers)
        absent = gateway.get(f"{FILINGS}/{missing}{path}", headers=headers)
        problem(hidden, 404, "filing_not_found")
        assert hidden.content == absent.content
    hidden_patch = gateway.patch(
        f"{FILINGS}/{fid}", json={"title": "x"}, headers={**headers, "If-Match": "*"}
    )
    absent_patch = gateway.patch(
        f"{FILINGS}/{missing}", json={"title": "x"}, headers={**headers, "If-Match": "*"}
    )
    problem(hidden_patch, 404, "filing_not_found")
    assert hidden_patch.content == absent_patch.content
    problem(act(gateway, changhe, fid, "submit"), 404, "filing_not_found")

    mine = {f["id"] for f in listed(gateway, changhe)}
    assert fid not in mine
    assert listed(gateway, changhe, street_id=str(street("XX").id)) == []
    assert listed(gateway, changhe, community_id=str(community("XX", 4).id)) == []
    assert all(f["street_id"] == str(street("CH").id) for f in listed(gateway, changhe))
    # Untouched by the attempts.
    after = ok(get(gateway, tokens["street"], fid))
    assert after["state"] == "draft" and after["version"] == 1


def test_evaluators_are_refused_and_integration_reads(
    gateway: httpx.Client, tokens: dict[str, str], open_window: dict[str, Any]
) -> None:
    filing = create(gateway, tokens["street"])
    evaluator = tokens["evaluator"]
    problem(gateway.get(FILINGS, headers=bearer(evaluator)), 403, "forbidden")
    problem(get(gateway, evaluator, filing["id"]), 403, "forbidden")
    problem(gateway.get(f"{FILINGS}/{filing['id']}/history", headers=bearer(evaluator)), 403, "forbidden")
    assert gateway.post(FILINGS, json=filing_body(), headers=bearer(evaluator)).status_code == 403

    integration = tokens["integration"]
    assert ok(get(gateway, integration, filing["id"]))["id"] == filing["id"]
    assert filing["id"] in {f["id"] for f in listed(gateway, integration, year=open_window["year"])}
    assert gateway.post(FILINGS, json=filing_body(), headers=bearer(integration)).status_code == 403
    assert act(gateway, integration, filing["id"], "submit").status_code == 403


def test_operator_files_facility_filings_as_a_unit(
    gateway: httpx.Client, tokens: dict[str, str], operated: dict[str, Any], open_window: dict[str, Any]
) -> None:
    operator, org_id = operated["operator_token"], operated["organization"]["id"]
    body = filing_body(
        "XX",
        5,
        kind="facility",
        facility_type="elderly_care",
        filer_name=operated["organization"]["name"],
        title="居家养老服务站建设报备",
    )
    filing = ok(gateway.post(FILINGS, json=body, headers=bearer(operator)), 201)
    assert filing["filer_organization_id"] == org_id and filing["state"] == "draft"
    # Operators file in any street (the unit's facility, not the street's plan).
    elsewhere = ok(
        gateway.post(
            FILINGS,
            json=filing_body("PY", 1, kind="facility", facility_type="canteen"),
            headers=bearer(operator),
        ),
        201,
    )
    assert elsewhere["street_id"] == str(street("PY").id) and elsewhere["filer_organization_id"] == org_id

    problem(gateway.post(FILINGS, json=filing_body(), headers=bearer(operator)), 403, "forbidden")
    refused = gateway.post(
        FILINGS,
        json={**body, "filer_organization_id": str(uuid.uuid4())},
        headers=bearer(operator),
    )
    problem(refused, 403, "field_not_writable")

    # The operator sees exactly its organisation's filings.
    mine = {f["id"] for f in listed(gateway, operator)}
    assert mine == {filing["id"], elsewhere["id"]}
    problem(get(gateway, operator, create(gateway, tokens["street"])["id"]), 404, "filing_not_found")

    edited = ok(patch(gateway, operator, filing["id"], {"planned_area_m2": "320.5"}))
    assert edited["planned_area_m2"] == "320.50"
    assert ok(act(gateway, operator, filing["id"], "submit"))["state"] == "submitted"
    history = ok(gateway.get(f"{FILINGS}/{filing['id']}/history", headers=bearer(operator)))["items"]
    assert [h["actor_role"] for h in history] == ["operator", "operator"]

    # The street sees facility filings in its street but does not act for the unit that filed them.
    assert filing["id"] in {f["id"] for f in listed(gateway, tokens["street"])}
    assert elsewhere["id"] not in {f["id"] for f in listed(gateway, tokens["street"])}
    problem(patch(gateway, tokens["street"], elsewhere["id"], {"title": "x"}), 404, "filing_not_found")
    problem(act(gateway, tokens["street"], elsewhere["id"], "submit"), 404, "filing_not_found")
    xx_draft = ok(
        gateway.post(FILINGS, json={**body, "title": "第二个"}, headers=bearer(operator)),
        201,
    )
    problem(patch(gateway, tokens["street"], xx_draft["id"], {"title": "x"}), 403, "forbidden")
    problem(act(gateway, tokens["street"], xx_draft["id"], "submit"), 403, "forbidden")

    # Another operator sees none of it.
    other = operated_site(gateway, tokens["district"], "CH")["operator_token"]
    problem(get(gateway, other, filing["id"]), 404, "filing_not_found")
    assert listed(gateway, other) == []


def test_street_files_for_its_own_street_only(gateway: httpx.Client, street_token: str) -> None:
    response = gateway.post(FILINGS, json=filing_body("CH", 0), headers=bearer(street_token))
    assert error_fields(response) == {"street_id"}
    facility = ok(
        gateway.post(
            FILINGS,
            json=filing_body(kind="facility", facility_type="childcare"),
            headers=bearer(street_token),
        ),
        201,
    )
    assert facility["kind"] == "facility" and facility["filer_organization_id"] is None


def test_create_is_idempotent(gateway: httpx.Client, street_token: str) -> None:
    headers = {**bearer(street_token), "Idempotency-Key": f"filing-{uuid.uuid4()}"}
    body = filing_body(year=2035)
    first = gateway.post(FILINGS, json=body, headers=headers)
    again = gateway.post(FILINGS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    assert len(listed(gateway, street_token, year=2035)) == 1


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"planned_start": "2031-06-01", "planned_finish": "2031-05-31"}, "planned_finish"),
        ({"planned_start": "2026-02-30"}, "planned_start"),
        ({"community_id": str(community("CH", 0).id)}, "community_id"),
        ({"community_id": str(uuid.uuid4())}, "community_id"),
        ({"street_id": str(uuid.uuid4())}, "street_id"),
        ({"colour": "red"}, "colour"),
        ({"budget": "-1"}, "budget"),
        ({"budget": "12.345"}, "budget"),
        ({"planned_area_m2": "-0.01"}, "planned_area_m2"),
        ({"kind": "house"}, "kind"),
        ({"kind": "facility"}, "facility_type"),
        ({"facility_type": "Elderly Care"}, "facility_type"),
        ({"year": 1999}, "year"),
        ({"title": ""}, "title"),
        ({"filer_organization_id": str(uuid.uuid4())}, "filer_organization_id"),
    ],
)
def test_bad_filings_name_the_field(
    gateway: httpx.Client, district_token: str, overrides: dict[str, Any], field: str
) -> None:
    response = gateway.post(FILINGS, json=filing_body(**overrides), headers=bearer(district_token))
    assert field in error_fields(response)


def test_missing_fields_are_named(gateway: httpx.Client, district_token: str) -> None:
    response = gateway.post(FILINGS, json={"kind": "hub_plan"}, headers=bearer(district_token))
    assert {"year", "filer_name", "street_id", "community_id", "title"} <= error_fields(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"planned_finish": "2031-03-31"}, "planned_finish"),  # before the stored planned_start
        ({"planned_start": "2031-02-29"}, "planned_start"),
        ({"community_id": str(community("PY", 0).id)}, "community_id"),
        ({"title": None}, "title"),
        ({"street_id": str(street("CH").id)}, "street_id"),
        ({"state": "approved"}, "state"),
    ],
)
def test_bad_patches_name_the_field(
    gateway: httpx.Client, district_token: str, body: dict[str, Any], field: str
) -> None:
    filing = create(gateway, district_token, year=2031)
    assert field in error_fields(patch(gateway, district_token, filing["id"], body))
    assert ok(get(gateway, district_token, filing["id"]))["version"] == 1


def test_clearing_optional_fields(gateway: httpx.Client, district_token: str) -> None:
    filing = create(gateway, district_token, year=2031)
    cleared = ok(patch(gateway, district_token, filing["id"], {"budget": None, "planned_finish": None}))
    assert cleared["budget"] is None and cleared["planned_finish"] is None
    moved = ok(patch(gateway, district_token, filing["id"], {"community_id": str(community("XX", 9).id)}))
    assert moved["community_id"] == str(community("XX", 9).id)


# ---- list ---------------------------------------------------------------------------------------


def test_list_filters(gateway: httpx.Client, district_token: str) -> None:
    a = create(gateway, district_token, year=2036)
    b = submitted(gateway, district_token, year=2036, kind="facility", facility_type="canteen")
    c = create(gateway, district_token, year=2036, **_in("CH", 3))

    def ids(**params: Any) -> set[str]:
        return {f["id"] for f in listed(gateway, district_token, year=2036, **params)}

    assert ids() == {a["id"], b["id"], c["id"]}
    assert ids(kind="facility") == {b["id"]}
    assert ids(state="submitted") == {b["id"]}
    assert ids(state="draft") == {a["id"], c["id"]}
    assert ids(street_id=str(street("CH").id)) == {c["id"]}
    assert ids(community_id=str(community("CH", 3).id)) == {c["id"]}
    for params in ({"state": "open"}, {"kind": "x"}, {"year": "x"}, {"street_id": "nope"}, {"limit": 500}):
        assert gateway.get(FILINGS, params=params, headers=bearer(district_token)).status_code == 422

    first = gateway.get(FILINGS, params={"year": 2036, "limit": 2}, headers=bearer(district_token)).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = gateway.get(
        FILINGS,
        params={"year": 2036, "limit": 2, "cursor": first["next_cursor"]},
        headers=bearer(district_token),
    ).json()
    assert [f["id"] for f in first["items"] + rest["items"]] == [a["id"], b["id"], c["id"]]


def _in(street_code: str, index: int) -> dict[str, Any]:
    return {
        "street_id": str(street(street_code).id),
        "community_id": str(community(street_code, index).id),
        "filer_name": street(street_code).name,
    }


def test_unknown_filing_answers_404(gateway: httpx.Client, district_token: str) -> None:
    missing = str(uuid.uuid4())
    problem(get(gateway, district_token, missing), 404, "filing_not_found")
    problem(act(gateway, district_token, missing, "approve"), 404, "filing_not_found")
    problem(
        gateway.get(f"{FILINGS}/{missing}/history", headers=bearer(district_token)), 404, "filing_not_found"
    )
    assert gateway.get(f"{FILINGS}/not-a-uuid", headers=bearer(district_token)).status_code == 422


# ---- conflicts ----------------------------------------------------------------------------------


def test_conflict_report(gateway: httpx.Client, tokens: dict[str, str]) -> None:
    district = tokens["district"]
    same = {"year": 2034, "kind": "facility", "facility_type": "canteen", **_in("XX", 6)}
    one = submitted(gateway, district, **same)
    two = submitted(gateway, district, **same)
    ok(act(gateway, district, two["id"], "return", "请与另一报备协调"))  # returned is still live
    three = submitted(gateway, district, **same)
    ok(act(gateway, district, three["id"], "approve"))
    rejected = submitted(gateway, district, **same)
    ok(act(gateway, district, rejected["id"], "reject"))
    filed_for_late(gateway, district, **same)  # a draft is not filed yet
    submitted(gateway, district, **{**same, "facility_type": "childcare"})  # alone in its type
    # The same type in another community does not conflict with these.
    lone_ch = submitted(gateway, district, **{**same, **_in("CH", 6)})
    ch_pair = submitted(gateway, district, **{**same, **_in("CH", 7)})
    ch_pair2 = submitted(gateway, district, **{**same, **_in("CH", 7)})

    report = ok(gateway.get(f"{FILINGS}/conflicts", params={"year": 2034}, headers=bearer(district)))
    assert report["year"] == 2034
    groups = {(g["community_id"], g["facility_type"]): g for g in report["items"]}
    assert set(groups) == {
        (str(community("XX", 6).id), "canteen"),
        (str(community("CH", 7).id), "canteen"),
    }
    xx = groups[(str(community("XX", 6).id), "canteen")]
    assert xx["count"] == 3 and xx["filing_ids"] == [one["id"], two["id"], three["id"]]
    assert xx["street_id"] == str(street("XX").id)
    assert sorted(groups[(str(community("CH", 7).id), "canteen")]["filing_ids"]) == sorted(
        [ch_pair["id"], ch_pair2["id"]]
    )
    assert lone_ch["id"] not in str(report)

    street_report = ok(
        gateway.get(f"{FILINGS}/conflicts", params={"year": 2034}, headers=bearer(tokens["street"]))
    )
    assert [g["community_id"] for g in street_report["items"]] == [str(community("XX", 6).id)]
    changhe = ok(
        gateway.get(f"{FILINGS}/conflicts", params={"year": 2034}, headers=bearer(tokens["changhe"]))
    )
    assert [g["community_id"] for g in changhe["items"]] == [str(community("CH", 7).id)]
    integration = ok(
        gateway.get(f"{FILINGS}/conflicts", params={"year": 2034}, headers=bearer(tokens["integration"]))
    )
    assert integration["items"] == report["items"]
    assert (
        ok(gateway.get(f"{FILINGS}/conflicts", params={"year": 2037}, headers=bearer(district)))["items"]
        == []
    )


def test_conflict_report_refusals(
    gateway: httpx.Client, tokens: dict[str, str], operated: dict[str, Any]
) -> None:
    for token in (tokens["evaluator"], operated["operator_token"]):
        problem(
            gateway.get(f"{FILINGS}/conflicts", params={"year": 2034}, headers=bearer(token)),
            403,
            "forbidden",
        )
    assert "year" in error_fields(gateway.get(f"{FILINGS}/conflicts", headers=bearer(tokens["district"])))
    assert "year" in error_fields(
        gateway.get(f"{FILINGS}/conflicts", params={"year": "soon"}, headers=bearer(tokens["district"]))
    )


def test_user_token_helper_is_scoped(gateway: httpx.Client, district_token: str) -> None:
    """A fresh street user of 浦沿 sees only 浦沿 filings (the factory-made user, not the demo one)."""
    py = user_token(gateway, district_token, "street", street_id=street("PY").id)
    filing = create(gateway, py, year=2031, **_in("PY", 2))
    assert {f["street_id"] for f in listed(gateway, py)} == {str(street("PY").id)}
    assert filing["id"] in {f["id"] for f in listed(gateway, py)}
