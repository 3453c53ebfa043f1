"""`GET /api/v1/registry/sites/export?format=csv|xlsx`: the sites spreadsheet with Chinese headers,
the same filters and scope as the list."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tests.conftest import bearer, login
from tests.registry.factories import create_site, operated_site, street

EXPORT = "/api/v1/registry/sites/export"
HEADER_START = ["名称", "编码", "街道", "社区", "地址", "纬度", "经度", "状态", "运营方式", "面积(㎡)"]


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    reader = csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    assert reader.fieldnames is not None and reader.fieldnames[: len(HEADER_START)] == HEADER_START
    return list(reader)


def export_csv(gateway: httpx.Client, token: str, **params: Any) -> list[dict[str, str]]:
    return csv_rows(gateway.get(EXPORT, params={"format": "csv", **params}, headers=bearer(token)))


@pytest.fixture(scope="module")
def sites(gateway: httpx.Client, district_token: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    xx = create_site(
        gateway,
        district_token,
        "XX",
        name=f'=HYPERLINK("x")导出{tag}',
        code=f"EX-XX-{tag}",
        status="operating",
        operating_mode="joint",
        integrated_with=["party_service_center", "health_station"],
        opening_hours={d: {"open": "08:00", "close": "20:00"} for d in ("mon", "tue", "wed", "thu", "fri")},
        function_areas=[{"kind": "reading_room"}, {"kind": "custom", "name": "非遗工坊"}],
    )
    ch = create_site(gateway, district_token, "CH", code=f"EX-CH-{tag}", status="planned")
    return {"tag": tag, "xx": xx, "ch": ch}


def test_csv_export_has_chinese_headers_and_labels(
    gateway: httpx.Client, district_token: str, sites: dict[str, Any]
) -> None:
    response = gateway.get(EXPORT, params={"q": f"EX-XX-{sites['tag']}"}, headers=bearer(district_token))
    assert "attachment" in response.headers["content-disposition"]
    assert ".csv" in response.headers["content-disposition"]
    rows = csv_rows(response)  # csv is the default format
    assert len(rows) == 1
    row = rows[0]
    assert row["名称"] == f'\'=HYPERLINK("x")导出{sites["tag"]}'  # never a formula in Excel
    assert row["编码"] == f"EX-XX-{sites['tag']}"
    assert row["街道"] == "西兴街道"
    assert row["状态"] == "运营中" and row["运营方式"] == "第三方联合运营"
    assert row["面积(㎡)"] == "860.50"
    assert row["纬度"] == "30.208400" and row["经度"] == "120.211900"
    assert row["每日开放时长"] == "12.0" and row["每周开放天数"] == "5"
    assert row["融合设置"] == "社区党群服务中心、卫生服务站"
    assert row["功能区域"] == "城市书房（共享书房）、非遗工坊"
    assert row["门头标识"] == "是" and row["立式标识"] == "否"
    assert row["评级"] == ""


def test_xlsx_export(gateway: httpx.Client, district_token: str, sites: dict[str, Any]) -> None:
    response = gateway.get(
        EXPORT, params={"format": "xlsx", "q": f"EX-XX-{sites['tag']}"}, headers=bearer(district_token)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert ".xlsx" in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[: len(HEADER_START)] == HEADER_START and "评级" in header
    assert len(rows) == 2
    row = dict(zip(header, rows[1], strict=True))
    assert row["编码"] == f"EX-XX-{sites['tag']}"
    assert row["名称"] == f'=HYPERLINK("x")导出{sites["tag"]}'  # stored as text, not a formula
    assert row["社区"] and row["状态"] == "运营中"
    assert row["面积(㎡)"] == pytest.approx(860.5)  # a number, so officials can sum it
    assert row["每周开放天数"] == 5


def test_filters_and_scope_match_the_list(
    gateway: httpx.Client, district_token: str, street_token: str, sites: dict[str, Any]
) -> None:
    tag = sites["tag"]
    codes = {r["编码"] for r in export_csv(gateway, district_token, q="EX-")}
    assert {f"EX-XX-{tag}", f"EX-CH-{tag}"} <= codes
    assert {r["编码"] for r in export_csv(gateway, district_token, q=tag, status="planned")} == {
        f"EX-CH-{tag}"
    }
    # The 西兴 street user never gets 长河 rows, whatever it asks for.
    mine = export_csv(gateway, street_token)
    assert mine and {r["街道"] for r in mine} == {"西兴街道"}
    assert f"EX-CH-{tag}" not in {r["编码"] for r in mine}
    assert export_csv(gateway, street_token, street_id=str(street("CH").id)) == []
    assert export_csv(gateway, street_token, q=f"EX-CH-{tag}") == []
    listed = gateway.get(
        "/api/v1/registry/sites", params={"limit": 200}, headers=bearer(street_token)
    ).json()["items"]
    assert len(mine) == len(listed) or len(listed) == 200


def test_operator_and_evaluator_exports_are_scoped(gateway: httpx.Client, district_token: str) -> None:
    operated = operated_site(gateway, district_token, "PY")
    rows = export_csv(gateway, operated["operator_token"])
    assert [r["编码"] for r in rows] == [operated["site"]["code"]]
    evaluator = login(gateway, "evaluator")["access_token"]
    assert export_csv(gateway, evaluator) == []
    xlsx = gateway.get(EXPORT, params={"format": "xlsx"}, headers=bearer(evaluator))
    assert xlsx.status_code == 200
    assert list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))[1:] == []  # type: ignore[union-attr]


@pytest.mark.parametrize(("params", "field"), [({"format": "pdf"}, "format"), ({"status": "x"}, "status")])
def test_bad_export_queries(
    gateway: httpx.Client, district_token: str, params: dict[str, str], field: str
) -> None:
    response = gateway.get(EXPORT, params=params, headers=bearer(district_token))
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {field}


def test_export_needs_a_token(gateway: httpx.Client) -> None:
    assert gateway.get(EXPORT).status_code == 401
