"""Readers: the cells of a workbook sheet as a frame of raw values (python-calamine).

Row numbers are the ones the clerk sees in Excel.  The header row is found
among the first rows (a title line above it is common), matched tolerantly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import python_calamine

from ingestion.contract import Sheet, split_unit
from ingestion.validate import FileRejected, Issue, map_headers

HEADER_SEARCH_ROWS = 10


def open_workbook(path: Path) -> python_calamine.CalamineWorkbook:
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for broken files
        raise FileRejected(Issue(
            path.name, None, None, None, None, "unreadable_file",
            "文件无法读取，不是有效的xlsx工作簿", f"file cannot be read as an xlsx workbook ({type(exc).__name__})",
        )) from exc


def find_header_row(rows: list[list], sheet: Sheet) -> int:
    """Index of the row holding most of the contract's labels (0 if none does)."""
    labels = {split_unit(c.header)[0] for c in sheet.columns}
    best, best_hits = 0, 0
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        hits = len(labels & {split_unit(v)[0] for v in row if v not in (None, "")})
        if hits > best_hits:
            best, best_hits = i, hits
    return best


def read_sheet(wb: python_calamine.CalamineWorkbook, sheet: Sheet, file: str) -> pd.DataFrame:
    """Data rows of ``sheet`` as a frame: contract column names plus ``row_number``."""
    if sheet.sheet_name not in wb.sheet_names:
        raise FileRejected(Issue(
            file, sheet.sheet_name, None, None, None, "missing_sheet",
            f"缺少工作表「{sheet.sheet_name}」", f"sheet '{sheet.sheet_name}' is missing",
        ))
    ws = wb.get_sheet_by_name(sheet.sheet_name)
    rows = ws.to_python(skip_empty_area=False)
    if not rows:
        raise FileRejected(Issue(
            file, sheet.sheet_name, 1, None, None, "empty_sheet",
            "工作表为空，缺少表头", "sheet is empty: no header row",
        ))
    h = find_header_row(rows, sheet)
    for (r0, c0), (r1, _c1) in ws.merged_cell_ranges or []:
        if r0 <= h + 1 and r1 >= h:  # a merged cell in, or spanning into, the header row
            value = rows[r0][c0] if r0 < len(rows) and c0 < len(rows[r0]) else None
            raise FileRejected(Issue(
                file, sheet.sheet_name, r0 + 1, None, None if value is None else str(value), "merged_header",
                "表头不得使用合并单元格，请按模板使用单行表头",
                "header cells must not be merged; use the template's single header row",
            ))
    mapping = map_headers(rows[h], sheet, file)
    body = rows[h + 1:]
    data = {name: [r[pos] if pos < len(r) else None for r in body] for name, pos in mapping.items()}
    frame = pd.DataFrame(data, dtype="object")
    frame["row_number"] = range(h + 2, h + 2 + len(body))
    # Rows where every contract cell is empty are spacing, not data.
    blank = frame[list(mapping)].map(lambda v: v is None or (isinstance(v, str) and not v.strip())).all(axis=1)
    return frame.loc[~blank].reset_index(drop=True)
