"""`/api/v1/registry/sites` through the gateway: create, read, list, change, the function-area and
safety sub-resources, organisation links — with roles, scope, If-Match and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack, bearer, login
from tests.registry.factories import (
    community,
    create_org,
    create_site,
    error_fields,
    integration_token,
    operated_site,
    street,
    user_token,
)

SITES = "/api/v1/registry/sites"

WEEK = {
    "mon": {"open": "08:00", "close": "20:30"},
    "tue": {"open": "08:00", "close": "20:30"},
    "wed": {"open": "08:00", "close": "20:30"},
    "thu": {"open": "08:00", "close": "20:30"},
    "fri": {"open": "09:00", "close": "20:00"},
    "sat": {"open": "09:00", "close": "17:00"},
    "sun": None,
}


def site_body(street_code: str = "XX", index: int = 0, **overrides: Any) -> dict[str, Any]:
    comm = community(street_code, index)
    return {
        "name": f"{comm.name}美好生活共同体",
        "code": f"S-{street_code}-{uuid.uuid4().hex[:8]}",
        "street_id": str(street(street_code).id),
        "community_id": str(comm.id),
        "address": "杭州市滨江区江汉路1515号",
        "lat": "30.2084",
        "lng": "120.2119",
        "floor_area_m2": "860.50",
        "status": "operating",
        "operating_mode": "procurement",
        **overrides,
    }


def fetch(gateway: httpx.Client, token: str, site_id: str) -> httpx.Response:
    return gateway.get(f"{SITES}/{site_id}", headers=bearer(token))


def listed(gateway: httpx.Client, token: str, **params: Any) -> list[dict[str, Any]]:
    response = gateway.get(SITES, params={"limit": 200, **params}, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def assert_hidden(gateway: httpx.Client, token: str, path: str) -> None:
    """Out of scope answers exactly what a random id answers (same request id → same bytes)."""
    headers = {**bearer(token), "X-Request-ID": "site-scope-check-0001"}
    hidden = gateway.get(path, headers=headers)
    missing = gateway.get(path.replace(path_id(path), str(uuid.uuid4())), headers=headers)
    assert hidden.status_code == missing.status_code == 404, hidden.text
    assert hidden.json()["code"] == "site_not_found"
    assert hidden.content == missing.content


def path_id(path: str) -> str:
    return path.removeprefix(SITES + "/").split("/")[0]


def audit_actions(stack: RunningStack, site_id: str) -> list[str]:
    rows = stack.sql(
        "SELECT action FROM registry.audit_log WHERE object_id = $1 ORDER BY occurred_at", site_id
    )
    return [r["action"] for r in rows]


@pytest.fixture(scope="module")
def tokens(gateway: httpx.Client, district_token: str, street_token: str) -> dict[str, str]:
    return {
        "district": district_token,
        "street": street_token,
        "changhe": login(gateway, "changhe")["access_token"],
        "evaluator": login(gateway, "evaluator")["access_token"],
        "integration": integration_token(gateway, district_token),
    }


@pytest.fixture(scope="module")
def operated(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    """A 西兴 site run by an organisation with an active contract, and that operator's token."""
    return operated_site(gateway, district_token, "XX")


# ---- POST /sites -------------------------------------------------------------------------------


def test_district_creates_a_site_with_everything_embedded(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    body = site_body(
        "CH",
        2,
        integrated_with=["party_service_center", "culture_hall"],
        structure="reinforced_concrete",
        opening_hours=WEEK,
        signage={"door_sign": True, "standing_sign": True},
        function_areas=[
            {
                "kind": "one_stop_office",
                "tricolor_sign": True,
                "decoration_colors": 3,
                "floor_material": "tile",
                "desk_unobstructed": True,
            },
            {"kind": "elderly_center", "slip_rating": "r11", "warm_walls": True, "area_m2": "120.5"},
            {"kind": "reading_room", "name": "长河书房"},
            {"kind": "custom", "name": "非遗工作坊"},
        ],
        safety=[{"item": "fire_equipment", "present": True, "checked_on": "2026-03-01"}],
        lat="30.20841234",
    )
    response = gateway.post(SITES, json=body, headers=bearer(district_token))
    assert response.status_code == 201, response.text
    site = response.json()
    assert site["street_id"] == body["street_id"] and site["community_id"] == body["community_id"]
    assert site["status"] == "operating" and site["tier"] is None and site["version"] == 1
    assert site["lat"] == "30.208412" and site["lng"] == "120.211900"  # kept to 6 decimals
    assert site["floor_area_m2"] == "860.50"
    # Shortest open day is Saturday, 8 h; six days open.
    assert site["hours_per_day"] == "8.0" and site["days_per_week"] == 6
    assert site["opening_hours"]["sun"] is None
    assert site["opening_hours"]["mon"] == {"open": "08:00", "close": "20:30"}
    assert site["signage"] == {"door_sign": True, "standing_sign": True}
    kinds = [a["kind"] for a in site["function_areas"]]
    assert kinds == ["one_stop_office", "elderly_center", "reading_room", "custom"]
    assert site["function_areas"][0]["decoration_colors"] == 3
    assert site["function_areas"][1]["slip_rating"] == "r11"
    assert site["function_areas"][1]["area_m2"] == "120.50"
    assert site["safety"] == [
        {"item": "fire_equipment", "present": True, "checked_on": "2026-03-01", "standard": "GB 2894"}
    ]
    assert response.headers["etag"] == f'"{uuid.UUID(site["id"]).hex}.1"'
    assert audit_actions(stack, site["id"]) == ["site.create"]
    stored = stack.sql(
        "SELECT function_areas, opening_hours FROM registry.sites WHERE id = $1", uuid.UUID(site["id"])
    )
    assert '"elderly_center"' in stored[0]["function_areas"]


def test_hours_per_day_rounds_down_and_closed_week_has_none(
    gateway: httpx.Client, district_token: str
) -> None:
    hours = {day: {"open": "08:00", "close": "19:59"} for day in ("mon", "tue", "wed", "thu", "fri")}
    site = create_site(gateway, district_token, opening_hours=hours)
    assert site["hours_per_day"] == "11.9" and site["days_per_week"] == 5  # 11 h 59 min is not 12 h
    closed = create_site(gateway, district_token)
    assert closed["hours_per_day"] is None and closed["days_per_week"] == 0


def test_street_creates_in_its_own_street_only(gateway: httpx.Client, street_token: str) -> None:
    own = gateway.post(SITES, json=site_body("XX", 1), headers=bearer(street_token))
    assert own.status_code == 201, own.text
    other = gateway.post(SITES, json=site_body("CH", 1), headers=bearer(street_token))
    assert error_fields(other) == {"street_id"}
    assert "not your street" in other.json()["detail"]


@pytest.mark.parametrize("role", ["evaluator", "integration"])
def test_readers_may_not_create(gateway: httpx.Client, tokens: dict[str, str], role: str) -> None:
    response = gateway.post(SITES, json=site_body(), headers=bearer(tokens[role]))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_operator_may_not_create(gateway: httpx.Client, operated: dict[str, Any]) -> None:
    response = gateway.post(SITES, json=site_body(), headers=bearer(operated["operator_token"]))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lat": "60.1"}, "lat"),
        ({"lat": "2.5"}, "lat"),
        ({"lng": "72.9"}, "lng"),
        ({"lng": "151.2"}, "lng"),
        ({"lng": None}, "lng"),  # lat without lng
        ({"floor_area_m2": "0"}, "floor_area_m2"),
        ({"opening_hours": {"mon": {"open": "09:00", "close": "09:00"}}}, "opening_hours.mon.close"),
        ({"opening_hours": {"tue": {"open": "20:00", "close": "08:00"}}}, "opening_hours.tue.close"),
        ({"opening_hours": {"mon": {"open": "8am", "close": "20:00"}}}, "opening_hours.mon.open"),
        ({"opening_hours": {"holiday": None}}, "opening_hours.holiday"),
        ({"community_id": str(uuid.uuid4())}, "community_id"),
        ({"community_id": str(community("PY", 0).id)}, "community_id"),  # a community of another street
        ({"street_id": str(uuid.uuid4())}, "street_id"),
        ({"colour": "red"}, "colour"),
        ({"status": "demolished"}, "status"),
        ({"function_areas": [{"kind": "custom"}]}, "function_areas.0.custom.name"),
        ({"function_areas": [{"kind": "sauna"}]}, "function_areas.0"),
        (
            {"function_areas": [{"kind": "one_stop_office", "decoration_colors": 0}]},
            "function_areas.0.one_stop_office.decoration_colors",
        ),
        (
            {"function_areas": [{"kind": "canteen", "soft_floor": True}]},
            "function_areas.0.canteen.soft_floor",
        ),
        (
            {
                "safety": [
                    {"item": "accessibility", "present": True},
                    {"item": "accessibility", "present": False},
                ]
            },
            "safety.1.item",
        ),
        ({"safety": [{"item": "exits", "present": True}]}, "safety.0.item"),
        (
            {"safety": [{"item": "accessibility", "present": True, "checked_on": "2099-01-01"}]},
            "safety.0.checked_on",
        ),
        ({"signage": {"door_sign": True, "neon": True}}, "signage.neon"),
    ],
)
def test_bad_site_input_names_the_field(
    gateway: httpx.Client, district_token: str, overrides: dict[str, Any], field: str
) -> None:
    response = gateway.post(SITES, json=site_body("XX", 3, **overrides), headers=bearer(district_token))
    assert field in error_fields(response)


def test_tier_and_duplicate_code_are_refused_on_create(gateway: httpx.Client, district_token: str) -> None:
    tier = gateway.post(SITES, json=site_body(tier="demonstration"), headers=bearer(district_token))
    assert tier.status_code == 403 and tier.json()["code"] == "field_not_writable"
    assert tier.json()["errors"] == [{"field": "tier", "message": "not writable for your role"}]
    first = create_site(gateway, district_token)
    again = gateway.post(SITES, json=site_body(code=first["code"]), headers=bearer(district_token))
    assert again.status_code == 409 and again.json()["code"] == "site_code_taken"


def test_create_is_idempotent(gateway: httpx.Client, district_token: str) -> None:
    body = site_body()
    headers = {**bearer(district_token), "Idempotency-Key": f"site-{uuid.uuid4()}"}
    first = gateway.post(SITES, json=body, headers=headers)
    replay = gateway.post(SITES, json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true" and replay.json()["id"] == first.json()["id"]
    assert len(listed(gateway, district_token, q=body["code"])) == 1


# ---- GET /sites/{id} and GET /sites --------------------------------------------------------------


def test_get_and_scope(gateway: httpx.Client, tokens: dict[str, str], operated: dict[str, Any]) -> None:
    xx = create_site(gateway, tokens["district"], "XX")
    ch = create_site(gateway, tokens["district"], "CH")
    got = fetch(gateway, tokens["street"], xx["id"])
    assert got.status_code == 200 and got.json()["id"] == xx["id"]
    assert got.headers["etag"] == f'"{uuid.UUID(xx["id"]).hex}.1"'
    for role in ("district", "integration"):
        assert fetch(gateway, tokens[role], ch["id"]).status_code == 200
    assert fetch(gateway, tokens["changhe"], ch["id"]).status_code == 200
    # 西兴's street user, an operator of another site and an unassigned evaluator see no 长河 site.
    for token in (tokens["street"], operated["operator_token"], tokens["evaluator"]):
        assert_hidden(gateway, token, f"{SITES}/{ch['id']}")
    assert fetch(gateway, operated["operator_token"], operated["site"]["id"]).status_code == 200
    assert fetch(gateway, tokens["district"], "not-a-uuid").status_code == 422


def test_street_user_never_sees_another_streets_sites_in_lists(
    gateway: httpx.Client, tokens: dict[str, str]
) -> None:
    ch = create_site(gateway, tokens["district"], "CH")
    xx = create_site(gateway, tokens["district"], "XX")
    mine = listed(gateway, tokens["street"])
    assert mine and all(s["street_id"] == str(street("XX").id) for s in mine)
    assert xx["id"] in {s["id"] for s in mine} and ch["id"] not in {s["id"] for s in mine}
    # Filtering on another street gives an empty list, not an error, and no search leaks it.
    assert listed(gateway, tokens["street"], street_id=str(street("CH").id)) == []
    assert listed(gateway, tokens["street"], community_id=ch["community_id"]) == []
    assert listed(gateway, tokens["street"], q=ch["code"]) == []
    assert [s["id"] for s in listed(gateway, tokens["changhe"], q=ch["code"])] == [ch["id"]]
    assert listed(gateway, tokens["evaluator"]) == []
    everything = {s["id"] for s in listed(gateway, tokens["integration"])}
    assert {xx["id"], ch["id"]} <= everything


def test_list_filters(gateway: httpx.Client, district_token: str) -> None:
    tag = uuid.uuid4().hex[:6]
    a = create_site(
        gateway, district_token, "PY", name=f"浦沿Alpha{tag}", status="building", operating_mode="joint"
    )
    b = create_site(gateway, district_token, "PY", address=f"浦沿路{tag.upper()}号", status="planned")
    c = create_site(gateway, district_token, "PY", code=f"ZQ-{tag}", operating_mode="self_operated")

    def ids(**params: Any) -> set[str]:
        return {s["id"] for s in listed(gateway, district_token, **params)}

    assert ids(q=f"alpha{tag.upper()}") == {a["id"]}  # name, case-insensitive
    assert ids(q=f"浦沿路{tag}") == {b["id"]}  # address
    assert ids(q=f"zq-{tag}") == {c["id"]}  # code
    assert ids(q=tag) == {a["id"], b["id"], c["id"]}
    assert ids(q=f"%{tag}") == set() and ids(q=f"_{tag}") == set()  # wildcards are literal
    assert a["id"] in ids(status="building") and b["id"] not in ids(status="building")
    assert ids(q=tag, operating_mode="joint") == {a["id"]}
    assert ids(q=tag, community_id=b["community_id"]) == {b["id"]}
    assert ids(q=tag, street_id=str(street("XX").id)) == set()
    assert ids(q=tag, tier="basic") == set()
    for params, field in (
        ({"status": "nope"}, "status"),
        ({"tier": "gold"}, "tier"),
        ({"limit": 500}, "limit"),
    ):
        response = gateway.get(SITES, params=params, headers=bearer(district_token))
        assert error_fields(response) == {field}


def test_list_pages_by_code(gateway: httpx.Client, district_token: str) -> None:
    tag = uuid.uuid4().hex[:6]
    made = [create_site(gateway, district_token, code=f"PG-{tag}-{n}")["id"] for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": f"PG-{tag}", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = gateway.get(SITES, params=params, headers=bearer(district_token)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made


def test_operator_sees_only_sites_with_an_active_contract(
    gateway: httpx.Client, district_token: str, operated: dict[str, Any]
) -> None:
    other = create_site(gateway, district_token, "XX")
    ids = {s["id"] for s in listed(gateway, operated["operator_token"])}
    assert ids == {operated["site"]["id"]}
    assert other["id"] not in ids
    assert listed(gateway, operated["operator_token"], street_id=str(street("CH").id)) == []


# ---- PATCH /sites/{id} -------------------------------------------------------------------------


def patch(
    gateway: httpx.Client, token: str, site: dict[str, Any], body: dict[str, Any], etag: str | None = None
):  # type: ignore[no-untyped-def]
    if etag is None:
        etag = fetch(gateway, token, site["id"]).headers.get("etag")
    headers = {**bearer(token), **({"If-Match": etag} if etag else {})}
    return gateway.patch(f"{SITES}/{site['id']}", json=body, headers=headers)


def test_district_patches_with_if_match(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    site = create_site(gateway, district_token, "XX")
    etag = fetch(gateway, district_token, site["id"]).headers["etag"]
    missing = gateway.patch(f"{SITES}/{site['id']}", json={"name": "新名"}, headers=bearer(district_token))
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    changed = patch(
        gateway,
        district_token,
        site,
        {
            "name": "西兴新名称",
            "status": "suspended",
            "street_id": str(street("CH").id),
            "community_id": str(community("CH", 4).id),
            "opening_hours": {"sat": {"open": "09:00", "close": "21:30"}},
            "signage": {"door_sign": False, "standing_sign": True},
        },
        etag,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["name"] == "西兴新名称" and body["status"] == "suspended" and body["version"] == 2
    assert body["street_id"] == str(street("CH").id)
    assert body["hours_per_day"] == "12.5" and body["days_per_week"] == 1
    assert body["address"] == site["address"]  # untouched
    assert changed.headers["etag"] == f'"{uuid.UUID(site["id"]).hex}.2"'
    stale = patch(gateway, district_token, site, {"name": "再改"}, etag)
    assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
    assert fetch(gateway, district_token, site["id"]).json()["name"] == "西兴新名称"
    row = stack.sql(
        "SELECT before, after FROM registry.audit_log WHERE object_id = $1 AND action = 'site.update'",
        site["id"],
    )
    assert len(row) == 1 and '"suspended"' in row[0]["after"] and '"operating"' in row[0]["before"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"lat": "55"}, "lat"),
        ({"lat": None}, "lat"),  # would leave lng without lat
        ({"community_id": str(community("CH", 0).id)}, "community_id"),  # not of the site's street
        ({"opening_hours": {"fri": {"open": "18:00", "close": "17:59"}}}, "opening_hours.fri.close"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_patches(gateway: httpx.Client, district_token: str, body: dict[str, Any], field: str) -> None:
    site = create_site(gateway, district_token, "XX")
    assert field in error_fields(patch(gateway, district_token, site, body))
    assert fetch(gateway, district_token, site["id"]).json()["version"] == 1


def test_street_edits_its_sites_but_not_elsewhere(gateway: httpx.Client, tokens: dict[str, str]) -> None:
    site = create_site(gateway, tokens["district"], "XX")
    ok = patch(gateway, tokens["street"], site, {"address": "西兴路2号", "status": "building"})
    assert ok.status_code == 200 and ok.json()["address"] == "西兴路2号"
    move = patch(
        gateway,
        tokens["street"],
        site,
        {"street_id": str(street("CH").id), "community_id": str(community("CH", 0).id)},
    )
    assert error_fields(move) == {"street_id"}
    ch = create_site(gateway, tokens["district"], "CH")
    ch_etag = fetch(gateway, tokens["district"], ch["id"]).headers["etag"]
    headers = {**bearer(tokens["street"]), "If-Match": ch_etag, "X-Request-ID": "site-patch-scope-01"}
    hidden = gateway.patch(f"{SITES}/{ch['id']}", json={"name": "x"}, headers=headers)
    missing = gateway.patch(f"{SITES}/{uuid.uuid4()}", json={"name": "x"}, headers=headers)
    assert hidden.status_code == 404 and hidden.content == missing.content
    assert fetch(gateway, tokens["district"], ch["id"]).json()["name"] == ch["name"]


@pytest.mark.parametrize("role", ["district", "street"])
def test_nobody_writes_tier(gateway: httpx.Client, tokens: dict[str, str], role: str) -> None:
    site = create_site(gateway, tokens["district"], "XX")
    response = patch(gateway, tokens[role], site, {"tier": "demonstration", "name": "x"})
    assert response.status_code == 403 and response.json()["code"] == "field_not_writable"
    assert [e["field"] for e in response.json()["errors"]] == ["tier"]
    after = fetch(gateway, tokens["district"], site["id"]).json()
    assert after["tier"] is None and after["name"] == site["name"] and after["version"] == 1


@pytest.mark.parametrize("role", ["evaluator", "integration"])
def test_readers_may_not_patch(gateway: httpx.Client, tokens: dict[str, str], role: str) -> None:
    site = create_site(gateway, tokens["district"], "XX")
    etag = fetch(gateway, tokens["district"], site["id"]).headers["etag"]
    response = patch(gateway, tokens[role], site, {"name": "x"}, etag)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


def test_operator_edits_opening_hours_only(
    gateway: httpx.Client, district_token: str, operated: dict[str, Any], stack: RunningStack
) -> None:
    token, site = operated["operator_token"], operated["site"]
    for body, refused in (
        ({"status": "closed"}, ["status"]),
        ({"street_id": str(street("CH").id)}, ["street_id"]),
        ({"operating_mode": "joint", "tier": "basic"}, ["operating_mode", "tier"]),
        ({"name": "改名", "opening_hours": WEEK}, ["name"]),
        ({"signage": {"door_sign": False}}, ["signage"]),
    ):
        before = fetch(gateway, district_token, site["id"]).json()
        response = patch(gateway, token, site, body)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "field_not_writable"
        assert sorted(e["field"] for e in response.json()["errors"]) == refused
        assert fetch(gateway, district_token, site["id"]).json() == before  # nothing changed
    ok = patch(gateway, token, site, {"opening_hours": WEEK})
    assert ok.status_code == 200, ok.text
    assert ok.json()["days_per_week"] == 6 and ok.json()["status"] == site["status"]
    assert "site.update" in audit_actions(stack, site["id"])
    other = create_site(gateway, district_token, "XX")
    etag = fetch(gateway, district_token, other["id"]).headers["etag"]
    assert patch(gateway, token, other, {"opening_hours": WEEK}, etag).status_code == 404


# ---- function areas and safety -----------------------------------------------------------------


def test_function_areas_sub_resource(
    gateway: httpx.Client, tokens: dict[str, str], operated: dict[str, Any], stack: RunningStack
) -> None:
    site = operated["site"]
    path = f"{SITES}/{site['id']}/function-areas"
    current = gateway.get(path, headers=bearer(operated["operator_token"]))
    assert current.status_code == 200 and current.json()["site_id"] == site["id"]
    etag = current.headers["etag"]
    areas = {
        "items": [
            {"kind": "deliberation_hall", "wall_wood_or_marble": False, "floor_material": "tile"},
            {"kind": "children_room", "soft_floor": True, "science_art_programs": False},
            {"kind": "public_activity_room", "area_m2": "80"},
        ]
    }
    no_match = gateway.put(path, json=areas, headers=bearer(operated["operator_token"]))
    assert no_match.status_code == 428
    put = gateway.put(path, json=areas, headers={**bearer(operated["operator_token"]), "If-Match": etag})
    assert put.status_code == 200, put.text
    assert [a["kind"] for a in put.json()["items"]] == [
        "deliberation_hall",
        "children_room",
        "public_activity_room",
    ]
    assert put.json()["items"][2]["area_m2"] == "80.00"
    assert put.headers["etag"] != etag and put.json()["version"] == current.json()["version"] + 1
    embedded = fetch(gateway, tokens["street"], site["id"]).json()
    assert embedded["function_areas"] == put.json()["items"]
    stale = gateway.put(path, json={"items": []}, headers={**bearer(tokens["district"]), "If-Match": etag})
    assert stale.status_code == 412
    bad = gateway.put(
        path,
        json={"items": [{"kind": "elderly_center", "slip_rating": "r8"}]},
        headers={**bearer(tokens["district"]), "If-Match": put.headers["etag"]},
    )
    assert error_fields(bad) == {"items.0.elderly_center.slip_rating"}
    for role in ("evaluator", "integration"):
        refused = gateway.put(
            path, json=areas, headers={**bearer(tokens[role]), "If-Match": put.headers["etag"]}
        )
        assert refused.status_code == 403
    assert_hidden(gateway, tokens["changhe"], path)
    assert "site.function_areas" in audit_actions(stack, site["id"])


def test_safety_sub_resource(gateway: httpx.Client, tokens: dict[str, str], stack: RunningStack) -> None:
    site = create_site(gateway, tokens["district"], "XX")
    path = f"{SITES}/{site['id']}/safety"
    first = gateway.get(path, headers=bearer(tokens["street"]))
    assert first.status_code == 200 and first.json()["items"] == []
    checklist = {
        "items": [
            {"item": "accessibility", "present": False},
            {"item": "fire_safety_signs", "present": True, "checked_on": "2026-02-10"},
            {"item": "evacuation_route", "present": True, "checked_on": "2026-02-10"},
        ]
    }
    put = gateway.put(
        path, json=checklist, headers={**bearer(tokens["street"]), "If-Match": first.headers["etag"]}
    )
    assert put.status_code == 200, put.text
    assert put.json()["items"] == [
        {"item": "fire_safety_signs", "present": True, "checked_on": "2026-02-10", "standard": "GB 13495.1"},
        {"item": "evacuation_route", "present": True, "checked_on": "2026-02-10", "standard": None},
        {"item": "accessibility", "present": False, "checked_on": None, "standard": "GB 50763"},
    ]
    assert fetch(gateway, tokens["district"], site["id"]).json()["version"] == 2
    twice = {
        "items": [{"item": "accessibility", "present": False}, {"item": "accessibility", "present": True}]
    }
    dup = gateway.put(
        path, json=twice, headers={**bearer(tokens["district"]), "If-Match": put.headers["etag"]}
    )
    assert error_fields(dup) == {"items.1.item"}
    assert gateway.get(path, headers=bearer(tokens["district"])).json()["items"] == put.json()["items"]
    assert_hidden(gateway, tokens["changhe"], path)
    etag = put.headers["etag"]
    hidden = gateway.put(path, json=checklist, headers={**bearer(tokens["changhe"]), "If-Match": etag})
    assert hidden.status_code == 404
    assert audit_actions(stack, site["id"]) == ["site.create", "site.safety"]


# ---- organisations linked to a site ------------------------------------------------------------


def test_organization_links(
    gateway: httpx.Client, tokens: dict[str, str], operated: dict[str, Any], stack: RunningStack
) -> None:
    site = create_site(gateway, tokens["district"], "XX")
    org = create_org(gateway, tokens["district"], kind="community_social_org", registration="filed")
    path = f"{SITES}/{site['id']}/organizations"
    link = gateway.post(
        path,
        json={"organization_id": org["id"], "relation": "incubated", "since": "2025-06-01"},
        headers=bearer(tokens["street"]),
    )
    assert link.status_code == 201, link.text
    created = link.json()
    assert created["relation"] == "incubated" and created["active"] is True and created["until"] is None
    assert created["organization"]["name"] == org["name"]
    ended = gateway.post(
        path,
        json={
            "organization_id": org["id"],
            "relation": "introduced",
            "since": "2024-01-01",
            "until": "2024-12-31",
        },
        headers=bearer(tokens["district"]),
    )
    assert ended.status_code == 201 and ended.json()["active"] is False
    overlap = gateway.post(
        path,
        json={"organization_id": org["id"], "relation": "incubated", "since": "2026-01-01"},
        headers=bearer(tokens["district"]),
    )
    assert overlap.status_code == 409 and overlap.json()["code"] == "site_link_overlaps"

    for role in ("street", "integration"):
        items = gateway.get(path, headers=bearer(tokens[role])).json()["items"]
        assert {i["id"] for i in items} == {created["id"], ended.json()["id"]}
    only = gateway.get(path, params={"relation": "introduced"}, headers=bearer(tokens["district"])).json()
    assert [i["id"] for i in only["items"]] == [ended.json()["id"]]
    for token in (tokens["changhe"], tokens["evaluator"], operated["operator_token"]):
        assert_hidden(gateway, token, path)

    bad = [
        (
            {"organization_id": str(uuid.uuid4()), "relation": "introduced", "since": "2025-01-01"},
            "organization_id",
        ),
        (
            {
                "organization_id": org["id"],
                "relation": "introduced",
                "since": "2025-02-01",
                "until": "2025-01-31",
            },
            "until",
        ),
        ({"organization_id": org["id"], "relation": "partner", "since": "2025-01-01"}, "relation"),
        ({"organization_id": org["id"], "relation": "introduced", "since": "2025-02-30"}, "since"),
    ]
    for body, field in bad:
        assert field in error_fields(gateway.post(path, json=body, headers=bearer(tokens["district"])))
    refused = gateway.post(
        f"{SITES}/{operated['site']['id']}/organizations",
        json={"organization_id": org["id"], "relation": "introduced", "since": "2025-01-01"},
        headers=bearer(operated["operator_token"]),
    )
    assert refused.status_code == 403
    other_street = gateway.post(
        path,
        json={"organization_id": org["id"], "relation": "introduced", "since": "2026-01-01"},
        headers=bearer(tokens["changhe"]),
    )
    assert other_street.status_code == 404 and other_street.json()["code"] == "site_not_found"

    delete_path = f"{path}/{created['id']}"
    assert gateway.delete(delete_path, headers=bearer(operated["operator_token"])).status_code == 403
    assert gateway.delete(delete_path, headers=bearer(tokens["changhe"])).status_code == 404
    gone = gateway.delete(delete_path, headers=bearer(tokens["street"]))
    assert gone.status_code == 204 and gone.content == b""
    again = gateway.delete(delete_path, headers=bearer(tokens["street"]))
    assert again.status_code == 404 and again.json()["code"] == "site_link_not_found"
    left = gateway.get(path, headers=bearer(tokens["district"])).json()["items"]
    assert [i["id"] for i in left] == [ended.json()["id"]]
    assert audit_actions(stack, site["id"]) == ["site.create", "site.link", "site.link", "site.unlink"]


def test_unknown_site_answers_404_everywhere(gateway: httpx.Client, district_token: str) -> None:
    random_id = uuid.uuid4()
    for path in (f"{SITES}/{random_id}", f"{SITES}/{random_id}/safety", f"{SITES}/{random_id}/organizations"):
        response = gateway.get(path, headers=bearer(district_token))
        assert response.status_code == 404 and response.json()["code"] == "site_not_found"


def test_user_token_helper_scopes_a_street_user(gateway: httpx.Client, district_token: str) -> None:
    """A freshly created 浦沿 street user sees 浦沿 sites only (scope from the registry's tables)."""
    site = create_site(gateway, district_token, "PY")
    token = user_token(gateway, district_token, "street", street_id=street("PY").id)
    assert all(s["street_id"] == str(street("PY").id) for s in listed(gateway, token))
    assert site["id"] in {s["id"] for s in listed(gateway, token)}


# ---- the list's rendering (issue 7, P3) ------------------------------------------------------------


def test_listed_sites_read_exactly_like_single_sites(gateway: httpx.Client, district_token: str) -> None:
    """The list renders each row once and remembers it; what it shows must be the single read."""
    tag = uuid.uuid4().hex[:6]
    areas = [
        {"kind": "one_stop_office", "tricolor_sign": True, "decoration_colors": 3, "floor_material": "tile"},
        {"kind": "custom", "name": "星民书房", "area_m2": "45.5"},
        {"kind": "elderly_center", "slip_rating": "r11"},
    ]
    safety = [{"item": "fire_equipment", "present": True, "checked_on": "2026-03-01"}]
    made = [
        create_site(
            gateway, district_token, "XX", code=f"LR-{tag}-0", opening_hours=WEEK, function_areas=areas
        ),
        create_site(gateway, district_token, "CH", code=f"LR-{tag}-1", safety=safety, lat=None, lng=None),
        create_site(
            gateway,
            district_token,
            "PY",
            code=f"LR-{tag}-2",
            floor_area_m2=None,
            integrated_with=["party_service_center"],
        ),
    ]
    for _ in range(2):  # the second listing is answered from the remembered rows
        rows = listed(gateway, district_token, q=f"LR-{tag}")
        assert [r["id"] for r in rows] == [m["id"] for m in made]
        for row in rows:
            assert row == fetch(gateway, district_token, row["id"]).json()


def test_the_list_shows_every_change_at_once(
    gateway: httpx.Client, district_token: str, stack: RunningStack
) -> None:
    site = create_site(gateway, district_token, "XX")
    code = site["code"]
    assert listed(gateway, district_token, q=code)[0]["name"] == site["name"]
    etag = fetch(gateway, district_token, site["id"]).headers["etag"]
    changed = gateway.patch(
        f"{SITES}/{site['id']}",
        json={"name": "改名后的站点"},
        headers={**bearer(district_token), "If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    assert listed(gateway, district_token, q=code)[0]["name"] == "改名后的站点"
    # Even a change made behind the service's back (no version bump) is seen: the row is new.
    stack.sql("UPDATE registry.sites SET notes = 'fixed by hand' WHERE id = $1", uuid.UUID(site["id"]))
    assert listed(gateway, district_token, q=code)[0]["notes"] == "fixed by hand"


def test_the_list_query_applies_the_scope_policy_and_filters(
    stack: RunningStack, gateway: httpx.Client, district_token: str, operated: dict[str, Any]
) -> None:
    """`GET /sites` reads on its own short path (sites/listing.py): its SQL must select exactly what
    the scope policy and the filters select, for every role."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from services.common.auth import Principal
    from services.common.enums import OperatingMode, SiteStatus
    from services.common.pagination import PageParams
    from services.registry.sites.listing import list_query
    from services.registry.sites.models import Site
    from services.registry.sites.schemas import SiteFilters
    from services.registry.sites.service import site_filter_clauses

    create_site(gateway, district_token, "CH", name="浦沿%_\\测试", status="building")
    some = [uuid.UUID(s["id"]) for s in listed(gateway, district_token)[:3]]
    organization = uuid.UUID(operated["organization"]["id"])
    principals = [
        Principal(sub="t", role="district"),
        Principal(sub="t", role="integration"),
        Principal(sub="t", role="street", street_id=street("XX").id),
        Principal(sub="t", role="street"),
        Principal(sub="t", role="operator", organization_id=organization),
        Principal(sub="t", role="operator"),
        Principal(sub="t", role="evaluator", sites=frozenset(some)),
        Principal(sub="t", role="evaluator", sites=frozenset()),
        Principal(sub="t", role="someone"),
    ]
    filters = [
        SiteFilters(),
        SiteFilters(status=SiteStatus.OPERATING),
        SiteFilters(street_id=street("CH").id, operating_mode=OperatingMode.PROCUREMENT),
        SiteFilters(q="%_\\"),
        SiteFilters(q="s-"),
    ]
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    for principal in principals:
        for narrowed in filters:
            sql, args = list_query(principal, narrowed, PageParams(limit=200))
            ours = [row["id"] for row in stack.sql(sql, *args)]
            stmt = select(Site.id).where(*site_filter_clauses(principal, narrowed))
            compiled = (
                stmt.order_by(Site.code, Site.id)
                .limit(201)
                .compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
            )
            params = [compiled.params[name] for name in compiled.positiontup or ()]
            assert ours == [row["id"] for row in stack.sql(str(compiled), *params)], (principal, narrowed)
