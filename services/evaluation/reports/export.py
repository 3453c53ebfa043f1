"""A scorecard as an `.xlsx` laid out like Table C.1 (附录 C), with a header block and the findings.

Sheet 评分表: the site, round, state, total, ratio and tier on top; then the table — 序号, 评价内容
(dimension and sub-dimension, two columns under one heading as in the standard), 评价指标, 评分规则,
分值, 得分, 说明 (the engine's explanation lines, overrides with their reason) — one row per
indicator in code order, 序号 and 评价内容 merged per group like the printed table, and a total
row. Sheet 问题清单: the findings. Text never becomes a formula, whatever it starts with.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from services.common.enums import LABELS
from services.evaluation.scorecards.schemas import ItemRead, ScorecardRead

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TITLE = "社区美好生活共同体运营与管理评估表(表C.1)"
TABLE_HEADERS = ("序号", "评价内容", None, "评价指标", "评分规则", "分值", "得分", "说明")
WIDTHS = (6, 10, 10, 12, 60, 8, 8, 70)
COLUMNS = len(TABLE_HEADERS)

_thin = Side(style="thin", color="808080")
BORDER = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)
BOLD = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
WRAP = Alignment(wrap_text=True, vertical="center")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _zh(enum: str, code: str | None) -> str:
    if code is None:
        return ""
    return LABELS.get(enum, {}).get(code, (code, code))[1]


def _set(cell: Cell, value: Any) -> Cell:
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text starts with
    return cell


def _number(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def item_notes(item: ItemRead) -> str:
    """The 说明 of one indicator: how its points were reached."""
    lines: list[str] = []
    if not item.applicable:
        lines.append("不适用(不计入总分)")
    explanation = item.explanation or {}
    lines.extend(str(line) for line in explanation.get("rule", []))
    if explanation.get("message"):
        lines.append(f"未计算:{explanation['message']}")
    if item.override_points is not None:
        auto = "—" if item.auto_points is None else format(item.auto_points.normalize(), "f")
        lines.append(
            f"评估人员调整为 {format(item.override_points.normalize(), 'f')} 分(计算值 {auto}),"
            f"理由:{item.override_reason or ''}"
        )
    excluded = explanation.get("excluded") or []
    if excluded:
        lines.append(f"未计入记录 {len(excluded)} 条(详见系统中的评分说明)")
    return "\n".join(lines)


def _runs(values: Sequence[Any]) -> Iterable[tuple[int, int]]:
    """(first, last) index pairs of runs of equal consecutive values."""
    start = 0
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[start]:
            yield start, index - 1
            start = index


def _header_block(sheet: Worksheet, card: ScorecardRead) -> int:
    last = get_column_letter(COLUMNS)
    sheet.merge_cells(f"A1:{last}1")
    title = _set(sheet["A1"], TITLE)
    title.font = Font(bold=True, size=14)
    title.alignment = CENTER
    sheet.row_dimensions[1].height = 28
    round_ = card.round
    ratio = card.ratio
    rows: list[tuple[str, Any]] = [
        ("站点名称", card.site_name),
        ("评估轮次", f"{round_.year}年 {_zh('round_kind', round_.kind)} {round_.title}".strip()),
        ("评估期间", f"{round_.period_start.isoformat()} 至 {round_.period_end.isoformat()}"),
        ("评估细则版本", round_.rubric_version),
        ("评分表状态", _zh("scorecard_state", card.state)),
        ("总分", _number(card.total)),
        ("适用指标满分", _number(card.max_applicable)),
        ("得分比值", _number(ratio)),
        ("类型", _zh("tier", card.tier) if card.tier else "—(终期评估发布后确定)"),
        ("居民满意率", _number(card.satisfaction_rate)),
    ]
    for offset, (label, value) in enumerate(rows, start=2):
        label_cell = _set(sheet.cell(row=offset, column=1), label)
        label_cell.font = BOLD
        sheet.merge_cells(start_row=offset, start_column=1, end_row=offset, end_column=2)
        sheet.merge_cells(start_row=offset, start_column=3, end_row=offset, end_column=COLUMNS)
        value_cell = _set(sheet.cell(row=offset, column=3), value)
        value_cell.alignment = Alignment(horizontal="left")
        if label in ("得分比值", "居民满意率") and value is not None:
            value_cell.number_format = "0.00%"
    return len(rows) + 2  # the next free row (one blank row left after the block)


def _table(sheet: Worksheet, card: ScorecardRead, first_row: int) -> None:
    header_row = first_row + 1
    for column, header in enumerate(TABLE_HEADERS, start=1):
        cell = _set(sheet.cell(row=header_row, column=column), header)
        cell.font, cell.fill, cell.alignment, cell.border = BOLD, HEADER_FILL, CENTER, BORDER
    sheet.merge_cells(start_row=header_row, start_column=2, end_row=header_row, end_column=3)

    items = sorted(card.items, key=lambda i: i.code)
    top = header_row + 1
    for offset, item in enumerate(items):
        row = top + offset
        values = (
            item.seq,
            item.dimension,
            item.sub_dimension,
            item.name,
            item.rule_text,
            _number(item.max_points),
            _number(item.final_points),
            item_notes(item),
        )
        for column, value in enumerate(values, start=1):
            cell = _set(sheet.cell(row=row, column=column), value)
            cell.border = BORDER
            cell.alignment = CENTER if column in (1, 2, 3, 4, 6, 7) else WRAP
    # Merge 序号 and the sub-dimension per group, the dimension per run — like the printed table.
    for column, key in (
        (1, lambda i: i.seq),
        (2, lambda i: i.dimension),
        (3, lambda i: (i.seq, i.sub_dimension)),
    ):
        for start, end in _runs([key(i) for i in items]):
            if end > start:
                sheet.merge_cells(
                    start_row=top + start, start_column=column, end_row=top + end, end_column=column
                )

    total_row = top + len(items)
    total_label = _set(sheet.cell(row=total_row, column=1), "合计")
    sheet.merge_cells(start_row=total_row, start_column=1, end_row=total_row, end_column=5)
    total_label.font, total_label.alignment = BOLD, CENTER
    maximum = sum((i.max_points for i in items if i.applicable), Decimal(0))
    _set(sheet.cell(row=total_row, column=6), maximum).font = BOLD
    _set(sheet.cell(row=total_row, column=7), _number(card.total)).font = BOLD
    ratio = "—" if card.ratio is None else f"{(card.ratio * 100).quantize(Decimal('0.01'))}%"
    tier = _zh("tier", card.tier) if card.tier else "—"
    _set(sheet.cell(row=total_row, column=8), f"得分比值 {ratio};类型 {tier}")
    for column in range(1, COLUMNS + 1):
        sheet.cell(row=total_row, column=column).border = BORDER
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)


def _findings(workbook: Workbook, card: ScorecardRead) -> None:
    sheet = workbook.create_sheet("问题清单")
    headers = ("评价指标", "严重程度", "问题描述", "记录人", "记录时间")
    for column, header in enumerate(headers, start=1):
        cell = _set(sheet.cell(row=1, column=column), header)
        cell.font, cell.fill, cell.border = BOLD, HEADER_FILL, BORDER
    names = {i.code: i.name for i in card.items}
    for row, finding in enumerate(card.findings, start=2):
        values = (
            f"{finding.indicator_code} {names.get(finding.indicator_code, '')}".strip(),
            _zh("finding_severity", finding.severity),
            finding.text,
            finding.created_by,
            finding.created_at.isoformat(timespec="seconds"),
        )
        for column, value in enumerate(values, start=1):
            cell = _set(sheet.cell(row=row, column=column), value)
            cell.border, cell.alignment = BORDER, WRAP
    for letter, width in zip("ABCDE", (16, 10, 60, 20, 22), strict=True):
        sheet.column_dimensions[letter].width = width


def scorecard_workbook(card: ScorecardRead) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "评分表"
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    next_row = _header_block(sheet, card)
    _table(sheet, card, next_row)
    sheet.print_options.horizontalCentered = True
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    _findings(workbook, card)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def content_disposition(card: ScorecardRead) -> str:
    ascii_name = f"scorecard-{card.round.year}-{card.id.hex[:8]}.xlsx"
    zh_name = f"{card.site_name}-{card.round.year}年{_zh('round_kind', card.round.kind)}-评分表.xlsx"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(zh_name)}"
