"""Submission files the portal tests upload, derived from sample files so that the expected
receipt lines are known from how the test changed them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter
from python_calamine import CalamineWorkbook

PAID_IN = "累计实际到位资金"


def read_workbook(path: Path) -> dict[str, list[list]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {s: wb.get_sheet_by_name(s).to_python() for s in wb.sheet_names}


def write_workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if isinstance(v, dt.date):
                    ws.write_datetime(i, j, dt.datetime(v.year, v.month, v.day), date_fmt)
                elif isinstance(v, str):
                    if v:
                        ws.write_string(i, j, v)
                elif v is not None:
                    ws.write(i, j, v)
    wb.close()
    return path


def next_month_with_paid_in_decrease(src: Path, dest: Path) -> dict:
    """``src``'s ledger as next month's workbook (no 服务贸易: not a quarter end), with the paid-in of
    the first project that has one lowered by half: the one warning (paid_in_decrease) intake
    must flag. Returns where the warning is (sheet, row as the clerk sees it, column, value)."""
    sheets = read_workbook(src)
    ledger = sheets["项目台账"]
    col = ledger[0].index(PAID_IN)
    i = next(i for i, r in enumerate(ledger[1:], start=1) if isinstance(r[col], float) and r[col] >= 10)
    new = round(ledger[i][col] / 2, 2)
    ledger[i][col] = new
    write_workbook(dest, {"项目台账": ledger, "园区情况": sheets["园区情况"]})
    return {"sheet": "项目台账", "row": i + 1, "column": PAID_IN, "value": f"{new:g}"}


def trade_with_bad_cells(src: Path, dest: Path) -> list[dict]:
    """``src`` (a trade CSV) with three cells spoiled in rows 3, 5 and 8 (header = row 1): an HS code
    with letters, an unknown direction, a negative-looking amount in words. Returns the cells."""
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    head = lines[0].split(",")
    spoil = [(3, "HS编码", "84AB5200"), (5, "进出口", "出囗"), (8, "金额（人民币元）", "一百元")]
    cells = []
    for row, column, value in spoil:
        parts = lines[row - 1].split(",")
        parts[head.index(column)] = value
        lines[row - 1] = ",".join(parts)
        cells.append({"row": row, "column": column, "value": value})
    dest.write_text("\ufeff" + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    return cells
