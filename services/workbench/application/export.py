"""The filtered list as an Excel sheet (.xlsx) with Chinese headers: exactly the rows the
list shows for the same filter and order, every one of them (not one page)."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from backbone.text import NOT_XML
from services.workbench.domain.listing import CHINA
from services.workbench.domain.words import (
    CHANNEL_ZH,
    COUNTY_ZH,
    RATING_ZH,
    STATUS_ZH,
    URGENCY_ZH,
    zh,
)


def _time(value: datetime | None) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value else ""


COLUMNS: list[tuple[str, Callable[[dict[str, Any]], Any], int]] = [
    ("诉求码", lambda r: r["code"], 22),
    ("登记时间", lambda r: _time(r["submitted_at"]), 17),
    ("来源渠道", lambda r: zh(CHANNEL_ZH, r["channel"]), 12),
    ("县区", lambda r: zh(COUNTY_ZH, r["county"]), 10),
    ("承办单位", lambda r: r["unit"], 16),
    ("协办单位", lambda r: "、".join(r["co_units"] or []), 16),
    ("诉求类别", lambda r: r["category"], 12),
    ("诉求小类", lambda r: r["subcategory"], 12),
    ("紧急程度", lambda r: zh(URGENCY_ZH, r["urgency"]), 8),
    ("标题", lambda r: r["title_masked"], 24),
    ("诉求内容（已脱敏）", lambda r: r["text_masked"], 60),
    ("地点（已脱敏）", lambda r: r["address_masked"], 24),
    ("办理状态", lambda r: zh(STATUS_ZH, r["status"]), 12),
    ("办理时限", lambda r: _time(r["due_at"]), 17),
    ("是否超期", lambda r: "是" if r["overdue"] else "否", 8),
    ("评价", lambda r: zh(RATING_ZH, r["rating"]), 8),
    ("重办次数", lambda r: r["reopen_count"], 8),
]


def named(rows: Iterable[dict[str, Any]], names: dict[str, dict[str, str]]
          ) -> Iterable[dict[str, Any]]:
    """Rows with units and categories by their Chinese names (codes when a name is unknown)."""
    units, categories = names.get("units", {}), names.get("categories", {})
    for r in rows:
        yield {**r, "unit": units.get(r["unit"], r["unit"]),
               "co_units": [units.get(u, u) for u in r["co_units"] or []],
               "category": categories.get(r["category"], r["category"]),
               "subcategory": categories.get(r["subcategory"], r["subcategory"])}


@functools.cache
def _openpyxl() -> tuple[Any, Any]:
    """openpyxl's workbook and write-only cell, imported by the first export, not
    at start: with the numpy and lxml it imports, ~15 MB of every workbench process's memory
    for a sheet a user asks for now and then (docs/profiles/memory.md)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import WriteOnlyCell

    return Workbook, WriteOnlyCell


def _cell(sheet: Any, value: Any) -> Any:
    """A cell as text: characters the xlsx format cannot hold (control characters, U+FFFE,
    U+FFFF, lone surrogates) dropped, and a citizen's text beginning with "=" kept as text,
    never made a formula."""
    if not isinstance(value, str):
        return value
    _, write_only_cell = _openpyxl()
    cell = write_only_cell(sheet, value=NOT_XML.sub("", value))  # backbone.text
    cell.data_type = "s"
    return cell


def to_xlsx(rows: Iterable[dict[str, Any]], *, title: str = "工单列表") -> bytes:
    book = _openpyxl()[0](write_only=True)  # streams rows: 100,000 rows in bounded memory
    sheet = book.create_sheet(title)
    for i, (_, _, width) in enumerate(COLUMNS):
        sheet.column_dimensions[chr(ord("A") + i)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([name for name, _, _ in COLUMNS])
    for row in rows:
        sheet.append([_cell(sheet, value(row)) for _, value, _ in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
