"""`GET /reports/overview` and `GET /scorecards/{id}/export.xlsx` through the gateway.

Two published final rounds, of 2020 and 2021 (years no other test publishes), for three sites:
A and B of 西兴 (XX), C of 长河 (CH).

    site  2020                         2021
    A     85 standard (C05 0, C11 2)    95 demonstration (C05 5)
    B     92 demonstration (C05 2)      80 standard (C05 0, C11 2, satisfaction 0.80 → C18 20)
    C     —                             70 basic (C05 0, C11 0, C12 0, C13 0)
"""

from __future__ import annotations

import io
import uuid
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from services.evaluation.reports.export import TITLE
from services.evaluation.rubric.table_c1 import TABLE_C1
from tests.conftest import bearer, login
from tests.evaluation.helpers import FOUR_OF_FIVE, SiteScoring, ok, open_round, published_round, year_period
from tests.evaluation.test_rounds import EVAL
from tests.registry.factories import error_fields, integration_token, operated_site

OVERVIEW = f"{EVAL}/reports/overview"
YEAR, PREVIOUS = 2021, 2020
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
INJECTION = '=HYPERLINK("http://evil.example") 儿童活动室面积不足'


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    body = dict(response.json())
    body.pop("request_id", None)
    return body


@pytest.fixture(scope="module")
def history(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    a = operated_site(gateway, district_token, "XX")
    b = operated_site(gateway, district_token, "XX")
    c = operated_site(gateway, district_token, "CH")
    ids = {"a": a["site"]["id"], "b": b["site"]["id"], "c": c["site"]["id"]}
    previous = published_round(
        gateway,
        district_token,
        {ids["a"]: SiteScoring(points={"C05": 0, "C11": 2}), ids["b"]: SiteScoring(points={"C05": 2})},
        title=f"{PREVIOUS}年度终期评估",
        **year_period(PREVIOUS),
    )
    current = published_round(
        gateway,
        district_token,
        {
            ids["a"]: SiteScoring(
                points={"C05": 5},
                findings=[{"indicator_code": "C05", "text": INJECTION, "severity": "minor"}],
            ),
            ids["b"]: SiteScoring(points={"C05": 0, "C11": 2}, ratings=FOUR_OF_FIVE),
            ids["c"]: SiteScoring(points={"C05": 0, "C11": 0, "C12": 0, "C13": 0}),
        },
        title=f"{YEAR}年度终期评估",
        **year_period(YEAR),
    )
    return {"sites": {"a": a, "b": b, "c": c}, "ids": ids, "previous": previous, "current": current}


def overview(gateway: httpx.Client, token: str, **params: Any) -> httpx.Response:
    params.setdefault("year", YEAR)
    return gateway.get(OVERVIEW, params=params, headers=bearer(token))


# ---- overview ------------------------------------------------------------------------------------


def test_street_overview_against_the_previous_year(
    gateway: httpx.Client, street_token: str, history: dict[str, Any]
) -> None:
    ids = history["ids"]
    body = ok(overview(gateway, street_token))
    xixing = history["sites"]["a"]["site"]["street_id"]
    assert body["year"] == YEAR and body["street_id"] == xixing
    current, previous = body["current"], body["previous"]
    assert [r["id"] for r in current["rounds"]] == [history["current"]["round"]["id"]]
    assert [r["id"] for r in previous["rounds"]] == [history["previous"]["round"]["id"]]
    assert current["site_count"] == 2 and current["tiers"] == {"demonstration": 1, "standard": 1, "basic": 0}
    assert (current["average_total"], current["average_ratio"]) == ("87.50", "0.8750")
    assert current["average_satisfaction_rate"] == "0.9000"
    assert previous["site_count"] == 2 and previous["tiers"] == {
        "demonstration": 1,
        "standard": 1,
        "basic": 0,
    }
    assert previous["average_total"] == "88.50"

    averages = {i["code"]: i for i in body["indicators"]}
    assert list(averages) == [f"C{n:02d}" for n in range(1, 22)]
    c05 = averages["C05"]
    assert (c05["name"], c05["max_points"], c05["average_points"], c05["average_share"]) == (
        "活动功能",
        "10.00",
        "2.50",
        "0.2500",
    )
    assert c05["previous_average_points"] == "1.00" and c05["sites"] == 2
    assert (averages["C11"]["average_points"], averages["C11"]["previous_average_points"]) == ("4.50", "4.50")
    assert (averages["C18"]["average_points"], averages["C18"]["previous_average_points"]) == (
        "22.50",
        "25.00",
    )
    assert averages["C01"]["average_points"] == "2.00"

    ranking = [
        (
            r["rank"],
            r["site_id"],
            r["total"],
            r["tier"],
            r["previous_total"],
            r["previous_tier"],
            r["delta_total"],
        )
        for r in body["ranking"]
    ]
    assert ranking == [
        (1, ids["a"], "95.00", "demonstration", "85.00", "standard", "10.00"),
        (2, ids["b"], "80.00", "standard", "92.00", "demonstration", "-12.00"),
    ]
    assert [r["tier_change"] for r in body["ranking"]] == ["up", "down"]
    assert body["ranking"][0]["ratio"] == "0.9500" and body["ranking"][0]["previous_ratio"] == "0.8500"
    assert body["ranking"][0]["scorecard_id"] == history["current"]["cards"][ids["a"]]

    satisfaction = body["satisfaction"]
    assert satisfaction["threshold"] == "0.9" and satisfaction["average_rate"] == "0.9000"
    assert satisfaction["previous_average_rate"] == "1.0000"
    assert [(s["site_id"], s["rate"], s["previous_rate"]) for s in satisfaction["sites"]] == [
        (ids["b"], "0.8000", "1.0000"),
        (ids["a"], "1.0000", "1.0000"),
    ]
    assert [s["site_id"] for s in satisfaction["below_threshold"]] == [ids["b"]]


def test_district_overview_of_all_streets_or_one(
    gateway: httpx.Client, district_token: str, history: dict[str, Any]
) -> None:
    ids = history["ids"]
    body = ok(overview(gateway, district_token))
    assert body["street_id"] is None
    assert body["current"]["tiers"] == {"demonstration": 1, "standard": 1, "basic": 1}
    assert [(r["rank"], r["site_id"], r["tier_change"]) for r in body["ranking"]] == [
        (1, ids["a"], "up"),
        (2, ids["b"], "down"),
        (3, ids["c"], "new"),
    ]
    c = body["ranking"][2]
    assert (c["total"], c["tier"], c["previous_total"], c["delta_total"]) == ("70.00", "basic", None, None)
    assert body["current"]["average_total"] == "81.67"

    changhe_street = history["sites"]["c"]["site"]["street_id"]
    one = ok(overview(gateway, district_token, street_id=changhe_street))
    assert [r["site_id"] for r in one["ranking"]] == [ids["c"]] and one["previous"]["site_count"] == 0
    assert (
        one["previous"]["average_total"] is None and one["indicators"][0]["previous_average_points"] is None
    )
    # A year without published final rounds is empty, not an error.
    empty = ok(overview(gateway, district_token, year=2001))
    assert empty["current"]["site_count"] == 0 and empty["ranking"] == [] and empty["indicators"] == []


def test_overview_scope(
    gateway: httpx.Client, district_token: str, street_token: str, history: dict[str, Any]
) -> None:
    changhe = login(gateway, "changhe")["access_token"]
    own = ok(overview(gateway, changhe))
    assert [r["site_id"] for r in own["ranking"]] == [history["ids"]["c"]]
    # Another street's id answers exactly like an unknown one.
    xixing_id = history["sites"]["a"]["site"]["street_id"]
    other = overview(gateway, changhe, street_id=xixing_id)
    unknown = overview(gateway, changhe, street_id=str(uuid.uuid4()))
    assert other.status_code == unknown.status_code == 404 and other.json()["code"] == "street_not_found"
    assert without_request_id(other) == without_request_id(unknown)
    assert overview(gateway, street_token, street_id=xixing_id).status_code == 200
    for token in (history["sites"]["a"]["operator_token"], history["current"]["evaluator_token"]):
        assert overview(gateway, token).status_code == 403
    # Data platforms read everything (SPEC §1): the same overview as the district's.
    platform = overview(gateway, integration_token(gateway, district_token))
    assert platform.status_code == 200
    assert without_request_id(platform) == without_request_id(overview(gateway, district_token))


@pytest.mark.parametrize(
    ("params", "field"),
    [({"year": None}, "year"), ({"year": 1999}, "year"), ({"street_id": "xixing"}, "street_id")],
)
def test_bad_overview_input_names_the_field(
    gateway: httpx.Client, district_token: str, params: dict[str, Any], field: str
) -> None:
    query = {k: v for k, v in {"year": YEAR, **params}.items() if v is not None}
    assert field in error_fields(gateway.get(OVERVIEW, params=query, headers=bearer(district_token)))


# ---- export --------------------------------------------------------------------------------------


def export(gateway: httpx.Client, token: str, card_id: str) -> httpx.Response:
    return gateway.get(f"{EVAL}/scorecards/{card_id}/export.xlsx", headers=bearer(token))


def cell_text(value: Any) -> str:
    return "" if value is None else str(value)


def test_scorecard_as_table_c1_workbook(
    gateway: httpx.Client, district_token: str, history: dict[str, Any]
) -> None:
    site = history["sites"]["a"]
    card_id = history["current"]["cards"][history["ids"]["a"]]
    card = ok(gateway.get(f"{EVAL}/scorecards/{card_id}", headers=bearer(district_token)))
    response = export(gateway, site["operator_token"], card_id)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    disposition = response.headers["content-disposition"]
    assert (
        disposition.startswith(f'attachment; filename="scorecard-{YEAR}-')
        and "filename*=UTF-8''" in disposition
    )

    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["评分表", "问题清单"]
    sheet = workbook["评分表"]
    assert sheet["A1"].value == TITLE
    block = {sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=3).value for r in range(2, 12)}
    assert block["站点名称"] == site["site"]["name"]
    assert block["评估轮次"] == f"{YEAR}年 终期评估 {YEAR}年度终期评估"
    assert block["评分表状态"] == "已确认" and block["类型"] == "示范型"
    assert float(block["总分"]) == 95 and float(block["得分比值"]) == 0.95

    header_row = next(r for r in range(1, 20) if sheet.cell(row=r, column=1).value == "序号")
    headers = [sheet.cell(row=header_row, column=c).value for c in range(1, 9)]
    assert headers == ["序号", "评价内容", None, "评价指标", "评分规则", "分值", "得分", "说明"]
    first = header_row + 1
    rows = [[sheet.cell(row=first + n, column=c).value for c in range(1, 9)] for n in range(21)]
    items = {i["code"]: i for i in card["items"]}
    for n, indicator in enumerate(TABLE_C1["indicators"]):
        row = rows[n]
        assert row[3] == indicator["name"] and row[4] == indicator["rule_text"]
        assert float(row[5]) == indicator["max_points"]
        assert float(row[6]) == float(items[indicator["code"]]["final_points"]), indicator["code"]
    c05 = rows[4]
    assert float(c05[6]) == 5 and "评估人员调整为 5 分" in c05[7] and "现场核查材料(C05)" in c05[7]
    assert "manual.C01.well_located = true → 2" in rows[0][7]

    # Grouped like the printed table: 序号 and 评价内容 merged per group.
    merged = {str(r) for r in sheet.merged_cells.ranges}
    groups = [(1, 4), (5, 7), (8, 10), (11, 13), (14, 17), (18, 21)]
    for seq, (top, bottom) in enumerate(groups, start=1):
        assert f"A{first + top - 1}:A{first + bottom - 1}" in merged
        assert sheet.cell(row=first + top - 1, column=1).value == seq
    assert f"B{first}:B{first + 6}" in merged and sheet.cell(row=first, column=2).value == "基本设置"
    assert f"B{first + 7}:B{first + 16}" in merged and sheet.cell(row=first + 7, column=2).value == "运营管理"
    assert f"B{header_row}:C{header_row}" in merged

    total_row = first + 21
    assert sheet.cell(row=total_row, column=1).value == "合计"
    assert float(sheet.cell(row=total_row, column=6).value) == 100
    assert float(sheet.cell(row=total_row, column=7).value) == 95
    assert "示范型" in cell_text(sheet.cell(row=total_row, column=8).value)

    findings = workbook["问题清单"]
    assert [c.value for c in findings[1]] == ["评价指标", "严重程度", "问题描述", "记录人", "记录时间"]
    injected = findings.cell(row=2, column=3)
    assert injected.value == INJECTION and injected.data_type == "s"
    assert findings.cell(row=2, column=1).value == "C05 活动功能"


def test_export_follows_the_scorecards_visibility(
    gateway: httpx.Client, district_token: str, street_token: str, history: dict[str, Any]
) -> None:
    card_a = history["current"]["cards"][history["ids"]["a"]]
    assert export(gateway, street_token, card_a).status_code == 200
    assert export(gateway, history["current"]["evaluator_token"], card_a).status_code == 200
    assert export(gateway, integration_token(gateway, district_token), card_a).status_code == 200
    random = export(gateway, district_token, str(uuid.uuid4()))
    assert random.status_code == 404 and random.json()["code"] == "scorecard_not_found"
    changhe = login(gateway, "changhe")["access_token"]
    for token in (history["sites"]["b"]["operator_token"], changhe):
        hidden = export(gateway, token, card_a)
        assert hidden.status_code == 404 and without_request_id(hidden) == without_request_id(random)
    assert error_fields(export(gateway, district_token, "not-a-card")) == {"scorecard_id"}

    # A draft scorecard: the district may download it; no tier, empty scores stay empty.
    c_id = history["ids"]["c"]
    opened = open_round(gateway, district_token, [c_id], kind="quarterly")
    draft = export(gateway, district_token, opened["cards"][c_id])
    assert draft.status_code == 200
    sheet = load_workbook(io.BytesIO(draft.content))["评分表"]
    block = {sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=3).value for r in range(2, 12)}
    assert block["评分表状态"] == "草稿" and block["类型"].startswith("—")
    # Before publication the operator does not see it.
    assert export(gateway, history["sites"]["c"]["operator_token"], opened["cards"][c_id]).status_code == 404
