"""Build small submission workbooks for tests, from the contract's headers."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from ingestion.contract import PARKS


def write_parks(path: Path, rows: list[dict], headers: list[str] | None = None,
                sheet_name: str = PARKS.sheet_name) -> Path:
    headers = headers or [c.header for c in PARKS.columns]
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(sheet_name)
    for j, h in enumerate(headers):
        ws.write(0, j, h)
    for i, row in enumerate(rows, start=1):
        for j, col in enumerate(PARKS.columns):
            v = row.get(col.name)
            if v is not None:
                ws.write(i, j, v)
    wb.close()
    return path
