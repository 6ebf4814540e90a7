"""Load one monthly workbook: read its due sheets, validate them, COPY the good rows into raw.

Kept apart from ingestion/load.py because it needs pandas, which a trade-CSV ingest should not
pay to import.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from core.settings import Settings
from ingestion.contract import PROJECTS, Sheet, sheets_of_kind
from ingestion.issues import FileRejected, Issue, Loaded
from ingestion.readers import open_workbook, read_sheet
from ingestion.validate import validate


def _copy_frame(conn: psycopg.Connection, sheet: Sheet, file_id: int, frame: pd.DataFrame) -> None:
    # As one CSV block written by Arrow, not row by row: 16 k rows of 长沙's ledger took 0.45 s
    # through write_row. In COPY's CSV an unquoted empty field is NULL, Arrow's "" an empty text.
    cols = [c.name for c in sheet.columns]
    table = pa.Table.from_pandas(frame[["row_number", *cols]], preserve_index=False)
    table = table.add_column(0, "file_id", pa.array(np.full(len(frame), file_id, dtype=np.int64)))
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=False))
    columns = ", ".join(table.column_names)
    with conn.cursor().copy(f"COPY {sheet.raw_table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(sink.getvalue())


def _check_city(frame: pd.DataFrame, sheet: Sheet, file: str, city_code: str) -> None:
    """A file named for one city holding another city's rows is refused as a whole."""
    if sheet.name != PROJECTS.name or frame.empty:
        return
    prefixes = frame["project_id"].astype("string").str.strip().str[:6]
    others = prefixes[prefixes.notna() & (prefixes != city_code)]
    if len(others) > len(frame) / 2:
        top = others.value_counts().index[0]
        raise FileRejected(Issue(
            file, sheet.sheet_name, None, "项目编号", str(top), "city_mismatch",
            f"文件名为市州「{city_code}」，但多数项目编号属于「{top}」，请检查是否报错文件",
            f"file is named for city {city_code} but most project ids belong to {top}"))


def _check_period(issues: list[Issue], rows: int, sheet: Sheet, file: str, period: str) -> None:
    """Many dates after the month-end mean the file is of a later period than its name says."""
    late = {i.row for i in issues if i.rule == "date_after_period"}
    if len(late) >= 3 and len(late) > 0.05 * rows:
        raise FileRejected(Issue(
            file, sheet.sheet_name, min(late), None, None, "period_mismatch",
            f"文件名报告期为{period}，但有{len(late)}行日期晚于该月末，请检查文件名或报告期",
            f"file is named for {period} but {len(late)} rows carry dates after that month"))


def load_workbook(conn, path: Path, file_id: int, city_code: str, period: str, settings: Settings) -> Loaded:
    """Read, check and COPY the due sheets of one monthly workbook (inside the caller's transaction)."""
    wb = open_workbook(path, settings)
    month = int(period[5:])
    frames: list[tuple[Sheet, pd.DataFrame]] = []
    issues: list[Issue] = []
    total = 0
    for sheet in sheets_of_kind("workbook"):
        if not sheet.due_in(month):
            if sheet.sheet_name in wb.sheet_names:
                issues.append(Issue(path.name, sheet.sheet_name, None, None, None, "sheet_not_due",
                                    "本月无需报送该工作表，已忽略", "this sheet is not due this month; ignored",
                                    level="warning"))
            continue
        raw, read_warnings = read_sheet(wb, sheet, path.name)
        _check_city(raw, sheet, path.name, city_code)
        good, sheet_issues = validate(raw, sheet, path.name, city_code, period)
        _check_period(sheet_issues, len(raw), sheet, path.name, period)
        frames.append((sheet, good))
        issues += sheet_issues + read_warnings
        total += len(raw)
    for sheet, good in frames:
        _copy_frame(conn, sheet, file_id, good)
    bad = len({(i.sheet, i.row) for i in issues if i.level == "row"})
    return Loaded(total, sum(len(g) for _, g in frames), bad, issues)
