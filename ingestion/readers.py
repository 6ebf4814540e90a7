"""Readers: cells of a workbook sheet as a frame of raw values (python-calamine)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import python_calamine

from ingestion.contract import Sheet
from ingestion.validate import FileRejected, Issue, map_headers


def open_workbook(path: Path) -> python_calamine.CalamineWorkbook:
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for broken files
        raise FileRejected(Issue(
            path.name, None, None, None, None, "unreadable_file",
            "文件无法读取，不是有效的xlsx工作簿", f"file cannot be read as an xlsx workbook ({exc})",
        )) from exc


def read_sheet(wb: python_calamine.CalamineWorkbook, sheet: Sheet, file: str) -> pd.DataFrame:
    """Data rows of ``sheet`` as a frame: contract column names plus ``row_number``."""
    if sheet.sheet_name not in wb.sheet_names:
        raise FileRejected(Issue(
            file, sheet.sheet_name, None, None, None, "missing_sheet",
            f"缺少工作表「{sheet.sheet_name}」", f"sheet '{sheet.sheet_name}' is missing",
        ))
    rows = wb.get_sheet_by_name(sheet.sheet_name).to_python(skip_empty_area=False)
    if not rows:
        raise FileRejected(Issue(
            file, sheet.sheet_name, 1, None, None, "empty_sheet",
            "工作表为空，缺少表头", "sheet is empty: no header row",
        ))
    mapping = map_headers(rows[0], sheet, file)
    body = rows[1:]
    data = {}
    for name, pos in mapping.items():
        data[name] = [r[pos] if pos < len(r) else None for r in body]
    frame = pd.DataFrame(data, dtype="object")
    frame["row_number"] = range(2, len(body) + 2)
    # Rows where every contract cell is empty are spacing, not data.
    blank = frame[list(mapping)].map(lambda v: v is None or (isinstance(v, str) and not v.strip())).all(axis=1)
    return frame.loc[~blank].reset_index(drop=True)
