"""Personal data in the activities logs (SPEC §1): the masking matrix.

For each resource holding residents' data (cases, visits, needs, volunteers) a record is created by
the site's operator and read — list and single — by every role: district, the operator, the street
of the site, an integration client and an evaluator. Lists are masked for everybody; single reads
are unmasked only for the district and the operator, and exactly those reads are audited as
``<type>.read_personal``. ID numbers never appear whole anywhere: not in a response, not in the
database. The evaluator rule for case clients (withheld, not even masked) is checked on the policy
itself, as evaluators with sites need evaluation assignments.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pydantic
import pytest

from services.activities.casework.models import Case
from services.activities.casework.schemas import CaseCreate, CaseRead
from services.activities.casework.service import CASE_CLIENT
from services.activities.needs.service import RESIDENT
from services.activities.personal import Disclosure
from services.activities.visits.models import Visit
from services.activities.visits.schemas import VisitRead
from services.activities.visits.service import VISITOR
from services.activities.volunteers.service import VOLUNTEER
from services.common.auth import Principal
from tests.clock import Day, Moment, resolve, utc_now
from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import create_org, integration_token, operated_site, user_token

API = "/api/v1/activities"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(first17: str) -> str:
    """A resident ID number with a correct GB 11643 check character."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


ID_CASE = id_number("33010819850312123")
ID_VISIT = id_number("33010619900101004")
ID_NEED = id_number("33010219721224331")


def _masked_id(value: str) -> str:
    return value[:4] + "*" * 10 + value[-4:]


# resource → (path, body without site_id, {field: (as recorded, masked)}, the raw ID number or None);
# the bodies' dates are placeholders, made concrete by `_resource` when a test runs.
RESOURCES: dict[str, tuple[str, dict[str, Any], dict[str, tuple[str, str]], str | None]] = {
    "case": (
        "cases",
        {
            "target_group": "elderly",
            "opened_on": Day(-1),
            "stage": "assessment",
            "sessions": 2,
            "client_name": "张三丰",
            "client_phone": "13812345678",
            "client_id_number": ID_CASE,
            "summary": "独居老人,需要定期探访",
        },
        {
            "client_name": ("张三丰", "张**"),
            "client_phone": ("13812345678", "138****5678"),
            "client_id_number_masked": (_masked_id(ID_CASE), _masked_id(ID_CASE)),
        },
        ID_CASE,
    ),
    "visit": (
        "visits",
        {
            "visited_at": Moment(hours=-2),
            "headcount": 2,
            "purpose": "咨询老年食堂",
            "needs": "希望增加午餐供应",
            "visitor_name": "李四",
            "visitor_phone": "13987654321",
            "visitor_id_number": ID_VISIT,
        },
        {
            "visitor_name": ("李四", "李*"),
            "visitor_phone": ("13987654321", "139****4321"),
            "visitor_id_number_masked": (_masked_id(ID_VISIT), _masked_id(ID_VISIT)),
        },
        ID_VISIT,
    ),
    "need": (
        "needs",
        {
            "recorded_on": Day(-1),
            "category": "disability",
            "description": "家中需要安装无障碍扶手",
            "resident_name": "王小明",
            "resident_phone": "0571-86668888",
            "resident_id_number": ID_NEED,
        },
        {
            "resident_name": ("王小明", "王**"),
            "resident_phone": ("0571-86668888", "057******8888"),
            "resident_id_number_masked": (_masked_id(ID_NEED), _masked_id(ID_NEED)),
        },
        ID_NEED,
    ),
    "volunteer": (
        "volunteers",
        {"name": "欧阳娜娜", "phone": "13600001111", "registered_on": Day(-1)},
        {"name": ("欧阳娜娜", "欧***"), "phone": ("13600001111", "136****1111")},
        None,
    ),
}


def _resource(name: str) -> tuple[str, dict[str, Any], dict[str, tuple[str, str]], str | None]:
    """``RESOURCES[name]`` with its dates as of now (yesterday in Shanghai, two hours ago)."""
    return resolve(RESOURCES[name])


@pytest.fixture(scope="module")
def world(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    site = operated_site(gateway, district_token)
    firm = create_org(gateway, district_token)
    return {
        "site": site["site"],
        "tokens": {
            "district": district_token,
            "operator": site["operator_token"],
            "street": user_token(gateway, district_token, "street", street_id=site["site"]["street_id"]),
            "integration": integration_token(gateway, district_token),
            # No evaluation assignments exist yet: an evaluator's claim is empty.
            "evaluator": user_token(gateway, district_token, "evaluator", organization_id=firm["id"]),
        },
    }


def _without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_masking_matrix(
    gateway: httpx.Client, world: dict[str, Any], stack: RunningStack, resource: str
) -> None:
    path, body, fields, raw_id = _resource(resource)
    tokens = world["tokens"]
    site_id = world["site"]["id"]
    texts: list[str] = []

    created = gateway.post(
        f"{API}/{path}", json={"site_id": site_id, **body}, headers=bearer(tokens["operator"])
    )
    assert created.status_code == 201, created.text
    texts.append(created.text)
    item = created.json()
    # The writer gets back what it wrote (ID number masked), without a read_personal audit row.
    assert item["personal_data"] == "full"
    assert {f: item[f] for f in fields} == {f: full for f, (full, _) in fields.items()}
    url = f"{API}/{path}/{item['id']}"

    expected_single = {"district": "full", "operator": "full", "street": "masked", "integration": "masked"}
    for role, disclosure in expected_single.items():
        token = tokens[role]
        listed = gateway.get(
            f"{API}/{path}", params={"site_id": site_id, "limit": 200}, headers=bearer(token)
        )
        assert listed.status_code == 200, (role, listed.text)
        texts.append(listed.text)
        [row] = [r for r in listed.json()["items"] if r["id"] == item["id"]]
        assert row["personal_data"] == "masked", role
        assert {f: row[f] for f in fields} == {f: masked for f, (_, masked) in fields.items()}, role

        single = gateway.get(url, headers=bearer(token))
        assert single.status_code == 200, (role, single.text)
        texts.append(single.text)
        got = single.json()
        assert got["personal_data"] == disclosure, role
        want = {f: (full if disclosure == "full" else masked) for f, (full, masked) in fields.items()}
        assert {f: got[f] for f in fields} == want, role

    # An evaluator without assignments sees nothing: an empty list and a 404 like a random id.
    evaluator = bearer(tokens["evaluator"])
    listed = gateway.get(f"{API}/{path}", params={"site_id": site_id}, headers=evaluator)
    assert listed.status_code == 200 and listed.json()["items"] == []
    hidden = gateway.get(url, headers=evaluator)
    missing = gateway.get(f"{API}/{path}/{uuid.uuid4()}", headers=evaluator)
    assert hidden.status_code == missing.status_code == 404
    assert _without_request_id(hidden) == _without_request_id(missing)
    assert hidden.json()["code"] == f"{resource}_not_found"

    # Exactly the two unmasked single reads were audited, with who read.
    audited = stack.sql(
        "SELECT actor_role, note FROM activities.audit_log WHERE object_id = $1 AND action = $2",
        item["id"],
        f"{resource}.read_personal",
    )
    assert sorted(a["actor_role"] for a in audited) == ["district", "operator"]
    assert {a["note"] for a in audited} == {",".join(fields)}

    if raw_id is not None:
        # Never whole in any response …
        for text in texts:
            assert raw_id not in text
            assert "_hash" not in text
        # … nor in the database: the record, the audit trail, the stored idempotent responses.
        table = {"case": "cases", "visit": "visits", "need": "needs"}[resource]
        [stored] = stack.sql(f"SELECT * FROM activities.{table} WHERE id = $1", uuid.UUID(item["id"]))  # noqa: S608
        assert raw_id not in json.dumps({k: str(v) for k, v in dict(stored).items()})
        assert (
            stack.sql(
                "SELECT id FROM activities.audit_log WHERE object_id = $1 "
                "AND strpos(coalesce(after::text, '') || coalesce(before::text, ''), $2) > 0",
                item["id"],
                raw_id,
            )
            == []
        )


def test_case_client_id_number_is_kept_as_keyed_digest(
    gateway: httpx.Client, world: dict[str, Any], stack: RunningStack
) -> None:
    path, body, _, _ = _resource("case")
    token = bearer(world["tokens"]["operator"])
    first = gateway.post(f"{API}/{path}", json={"site_id": world["site"]["id"], **body}, headers=token).json()
    again = gateway.post(f"{API}/{path}", json={"site_id": world["site"]["id"], **body}, headers=token).json()
    other = gateway.post(
        f"{API}/{path}",
        json={"site_id": world["site"]["id"], **body, "client_id_number": id_number("11010519491231002")},
        headers=token,
    ).json()
    rows = {
        r["id"]: r
        for r in stack.sql(
            "SELECT id::text AS id, client_id_number_masked, client_id_number_hash FROM activities.cases "
            "WHERE id = ANY($1::uuid[])",
            [first["id"], again["id"], other["id"]],
        )
    }
    assert rows[first["id"]]["client_id_number_masked"] == _masked_id(ID_CASE)
    digest = rows[first["id"]]["client_id_number_hash"]
    assert len(digest) == 64 and ID_CASE not in digest
    # The same client is recognised; another one is not.
    assert rows[again["id"]]["client_id_number_hash"] == digest
    assert rows[other["id"]]["client_id_number_hash"] != digest


def test_writes_by_other_roles_are_refused(gateway: httpx.Client, world: dict[str, Any]) -> None:
    for path, body, _, _ in map(_resource, RESOURCES):
        for role in ("street", "integration", "evaluator"):
            response = gateway.post(
                f"{API}/{path}",
                json={"site_id": world["site"]["id"], **body},
                headers=bearer(world["tokens"][role]),
            )
            assert response.status_code == 403, (path, role, response.text)


def test_bad_id_number_is_refused_without_echoing_it(gateway: httpx.Client, world: dict[str, Any]) -> None:
    wrong_check = ID_CASE[:-1] + ("0" if ID_CASE[-1] != "0" else "1")
    path, body, _, _ = _resource("case")
    for bad in (wrong_check, ID_CASE[:-2], "33010819850312123A"):
        response = gateway.post(
            f"{API}/{path}",
            json={"site_id": world["site"]["id"], **body, "client_id_number": bad},
            headers=bearer(world["tokens"]["operator"]),
        )
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["client_id_number"]
        assert bad not in response.text


# ---- the policy itself (evaluators with sites cannot be built through the API yet) ----------------


def _case(site_id: uuid.UUID) -> Case:
    now = utc_now()
    return Case(
        id=uuid.uuid4(),
        site_id=site_id,
        target_group="elderly",
        opened_on=dt.date(2026, 1, 5),
        closed_on=None,
        stage="intake",
        sessions=0,
        client_name="张三丰",
        client_phone="13812345678",
        client_id_number_masked=_masked_id(ID_CASE),
        client_id_number_hash="0" * 64,
        summary="匿名摘要",
        created_by="u",
        version=1,
        created_at=now,
        updated_at=now,
    )


def _visit(site_id: uuid.UUID) -> Visit:
    now = utc_now()
    return Visit(
        id=uuid.uuid4(),
        site_id=site_id,
        visited_at=now,
        headcount=1,
        purpose="",
        needs="",
        visitor_name="李四",
        visitor_phone="13987654321",
        visitor_id_number_masked=_masked_id(ID_VISIT),
        created_by="u",
        version=1,
        created_at=now,
        updated_at=now,
    )


def test_evaluators_never_see_case_clients_even_masked() -> None:
    site = uuid.uuid4()
    evaluator = Principal(sub="e", role="evaluator", sites=frozenset({site}))
    row = _case(site)
    single = CASE_CLIENT.render(CaseRead, row, CASE_CLIENT.disclosure(evaluator, site, single=True))
    [listed] = CASE_CLIENT.render_list(CaseRead, evaluator, [row])
    for read in (single, listed):
        assert read.personal_data is Disclosure.WITHHELD
        assert (read.client_name, read.client_phone, read.client_id_number_masked) == (None, None, None)
        # The anonymised summary and the counts stay readable.
        assert read.summary == "匿名摘要" and read.sessions == 0
    # Visitors are masked for evaluators, not withheld: only case clients are.
    visit = VISITOR.render(VisitRead, _visit(site), VISITOR.disclosure(evaluator, site, single=True))
    assert (visit.visitor_name, visit.visitor_phone) == ("李*", "139****4321")


@pytest.mark.parametrize(
    ("role", "claim", "single", "expected"),
    [
        ("district", None, True, Disclosure.FULL),
        ("district", None, False, Disclosure.MASKED),
        ("operator", "own", True, Disclosure.FULL),
        ("operator", "own", False, Disclosure.MASKED),
        ("operator", "other", True, Disclosure.MASKED),
        ("street", "own", True, Disclosure.MASKED),
        ("integration", None, True, Disclosure.MASKED),
        ("evaluator", "own", True, Disclosure.WITHHELD),
        ("evaluator", "own", False, Disclosure.WITHHELD),
    ],
)
def test_case_disclosure_by_role(role: str, claim: str | None, single: bool, expected: Disclosure) -> None:
    site = uuid.uuid4()
    sites = None if claim is None else frozenset({site if claim == "own" else uuid.uuid4()})
    principal = Principal(sub="x", role=role, sites=sites)
    assert CASE_CLIENT.disclosure(principal, site, single=single) is expected
    # The other resources follow the same rule except that evaluators get masked values.
    for policy in (VISITOR, RESIDENT, VOLUNTEER):
        want = Disclosure.MASKED if expected is Disclosure.WITHHELD else expected
        assert policy.disclosure(principal, site, single=single) is want


def test_full_disclosure_still_masks_the_id_number() -> None:
    site = uuid.uuid4()
    row = _case(site)
    full = CASE_CLIENT.render(CaseRead, row, Disclosure.FULL)
    assert full.client_name == "张三丰" and full.client_id_number_masked == _masked_id(ID_CASE)
    assert "client_id_number_hash" not in full.model_dump()


def test_id_number_input_is_checked_but_never_echoed() -> None:
    body = {
        "site_id": str(uuid.uuid4()),
        "target_group": "elderly",
        "opened_on": "2026-01-05",
        "client_name": "张三",
    }
    assert (
        CaseCreate.model_validate({**body, "client_id_number": ID_CASE.lower()}).client_id_number == ID_CASE
    )
    bad = ID_CASE[:-1] + ("0" if ID_CASE[-1] != "0" else "1")
    with pytest.raises(pydantic.ValidationError) as info:
        CaseCreate.model_validate({**body, "client_id_number": bad})
    assert bad not in json.dumps([e["msg"] for e in info.value.errors()])


def test_an_assigned_evaluator_reads_the_sites_logs_without_personal_data(
    gateway: httpx.Client, district_token: str
) -> None:
    """With a real round assignment the evaluator's claim holds the site: it reads the logs, masked,
    and case clients not at all (SPEC §1: evaluators see counts and anonymised summaries)."""
    from tests.evaluation.test_rounds import assign, create_evaluator, create_round

    site = operated_site(gateway, district_token, "CH")
    site_id = site["site"]["id"]
    created = {}
    for resource in ("case", "visit"):
        path, body, _, _ = _resource(resource)
        response = gateway.post(
            f"/api/v1/activities/{path}",
            json={**body, "site_id": site_id},
            headers=bearer(site["operator_token"]),
        )
        assert response.status_code == 201, response.text
        created[resource] = response.json()["id"]
    made = create_round(gateway, district_token, [site_id])
    evaluator = create_evaluator(gateway, district_token)
    assert assign(gateway, district_token, made["id"], evaluator["user"]["id"], [site_id]).status_code == 201
    token = login(gateway, evaluator["username"])["access_token"]
    assert site_id in gateway.get("/api/v1/auth/me", headers=bearer(token)).json()["sites"]

    case = gateway.get(f"/api/v1/activities/cases/{created['case']}", headers=bearer(token))
    assert case.status_code == 200
    body = case.json()
    assert (
        body["client_name"] is None
        and body["client_phone"] is None
        and body["client_id_number_masked"] is None
    )
    assert body["summary"] == RESOURCES["case"][1]["summary"]
    visit = gateway.get(f"/api/v1/activities/visits/{created['visit']}", headers=bearer(token)).json()
    assert (visit["visitor_name"], visit["visitor_phone"]) == ("李*", "139****4321")
    listed = gateway.get(
        "/api/v1/activities/cases", params={"site_id": site_id}, headers=bearer(token)
    ).json()
    assert [c["client_name"] for c in listed["items"]] == [None]
    assert ID_CASE not in case.text and "张三丰" not in case.text
    # Still read-only.
    path, body, _, _ = _resource("visit")
    refused = gateway.post(
        f"/api/v1/activities/{path}", json={**body, "site_id": site_id}, headers=bearer(token)
    )
    assert refused.status_code == 403
