"""The sites spreadsheet (`GET /sites/export`) for officials who work in Excel: Chinese column
headers and Chinese labels, as CSV (UTF-8 with BOM so Excel detects the encoding) or XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.responses import StreamingResponse

from services.common.enums import (
    ExportFormat,
    FunctionAreaKind,
    IntegratedWith,
    OperatingMode,
    SiteStatus,
    Structure,
    Tier,
    label,
)
from services.common.timeutil import SHANGHAI, today_shanghai
from services.registry.sites.models import Site
from services.registry.sites.schemas import SiteRead

HEADERS: tuple[str, ...] = (
    "名称",
    "编码",
    "街道",
    "社区",
    "地址",
    "纬度",
    "经度",
    "状态",
    "运营方式",
    "面积(㎡)",
    "建筑结构",
    "融合设置",
    "每日开放时长",
    "每周开放天数",
    "门头标识",
    "立式标识",
    "功能区域",
    "评级",
    "更新时间",
)
# Columns holding free text typed by users: guarded against spreadsheet formula injection.
_TEXT_COLUMNS = frozenset({0, 1, 2, 3, 4, 16})

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CHUNK = 64 * 1024


def _zh(enum_cls: type[StrEnum], code: str | None) -> str:
    return label(enum_cls(code), "zh") if code else ""


def _yes_no(value: bool) -> str:
    return "是" if value else "否"


def row_values(site: Site, street_name: str, community_name: str) -> list[Any]:
    """One spreadsheet row; numbers stay numbers (Decimal/int), everything else is text."""
    read = SiteRead.from_site(site)
    areas = "、".join(
        area.name if area.kind == FunctionAreaKind.CUSTOM and area.name else _zh(FunctionAreaKind, area.kind)
        for area in read.function_areas
    )
    return [
        read.name,
        read.code,
        street_name,
        community_name,
        read.address,
        read.lat,
        read.lng,
        _zh(SiteStatus, read.status),
        _zh(OperatingMode, read.operating_mode),
        read.floor_area_m2,
        _zh(Structure, read.structure),
        "、".join(_zh(IntegratedWith, code) for code in read.integrated_with),
        read.hours_per_day,
        read.days_per_week,
        _yes_no(read.signage.door_sign),
        _yes_no(read.signage.standing_sign),
        areas,
        _zh(Tier, read.tier),
        read.updated_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
    ]


def _defuse(text: str) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @ …) is made plain text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_cell(index: int, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    text = str(value)
    return _defuse(text) if index in _TEXT_COLUMNS else text


def csv_chunks(rows: Sequence[list[Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    yield "\ufeff".encode() + buffer.getvalue().encode()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(i, v) for i, v in enumerate(row)])
        yield buffer.getvalue().encode()


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    return cell


def xlsx_chunks(rows: Sequence[list[Any]]) -> Iterator[bytes]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("社区美好生活共同体")
    sheet.freeze_panes = "A2"
    for width, column in zip((28, 14, 12, 14, 30), "ABCDE", strict=True):
        sheet.column_dimensions[column].width = width
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append([_xlsx_cell(sheet, v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    data = out.getvalue()
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]


def export_response(rows: Sequence[tuple[Site, str, str]], fmt: ExportFormat) -> StreamingResponse:
    values = [row_values(site, street, community) for site, street, community in rows]
    stamp = today_shanghai().strftime("%Y%m%d")
    ascii_name = f"sites-{stamp}.{fmt.value}"
    zh_name = quote(f"社区美好生活共同体-{stamp}.{fmt.value}")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{zh_name}",
        "Cache-Control": "no-store",
    }
    if fmt == ExportFormat.XLSX:
        return StreamingResponse(xlsx_chunks(values), media_type=XLSX_MEDIA_TYPE, headers=headers)
    return StreamingResponse(csv_chunks(values), media_type=CSV_MEDIA_TYPE, headers=headers)
