"""Readers: the cells of a workbook sheet as a frame of raw values (python-calamine).

A workbook is checked by ``ingestion.xlsx_limits.check_workbook`` before calamine opens it,
so no file, hostile or not, costs more than the settings allow.  Row numbers are the ones
the clerk sees in Excel.  The header row is found among the first rows (a title line above
it is common), matched tolerantly.
"""

from __future__ import annotations

from itertools import chain, islice
from pathlib import Path

import numpy as np
import pandas as pd
import python_calamine

from core.settings import Settings
from ingestion.contract import Sheet
from ingestion.issues import (
    HEADER_SEARCH_ROWS,
    UNCACHED_FORMULA,
    FileRejected,
    Issue,
    extra_columns,
    find_header_row,
    map_headers,
)
from ingestion.xlsx_limits import SheetScan, WorkbookScan, check_workbook


class Workbook:
    """A workbook that passed the intake limits; calamine parses a sheet only when it is read."""

    def __init__(self, path: Path, settings: Settings, scan: WorkbookScan, book: python_calamine.CalamineWorkbook):
        self.path, self.settings, self.scan, self.book = path, settings, scan, book
        self._scans = dict(scan.sheets)

    @property
    def sheet_names(self) -> list[str]:
        return list(self.book.sheet_names)

    def sheet_scan(self, name: str) -> SheetScan:
        """The scan of one sheet; a sheet the contract does not list is scanned on first use."""
        if name not in self._scans:
            scanned = check_workbook(self.path, self.settings, [name]).sheets
            if name not in scanned:  # calamine lists a sheet that workbook.xml, as we read it, does not
                raise FileRejected(Issue(self.path.name, name, None, None, None, "unreadable_file",
                                         "文件无法读取，不是有效的xlsx工作簿",
                                         f"file cannot be read as an xlsx workbook (sheet '{name}' not found)"))
            self._scans[name] = scanned[name]
        return self._scans[name]

    def close(self) -> None:
        self.book.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _calamine(call, file: str, sheet: str | None = None):
    """Run a calamine call; whatever it raises for a broken file rejects the file."""
    try:
        return call()
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise FileRejected(Issue(
            file, sheet, None, None, None, "unreadable_file",
            "文件无法读取，不是有效的xlsx工作簿", f"file cannot be read as an xlsx workbook ({type(exc).__name__})",
        )) from exc


def open_workbook(path: Path, settings: Settings | None = None) -> Workbook:
    """Check the file against the intake limits, then open it with calamine (sheets stay unparsed)."""
    path = Path(path)
    settings = settings or Settings()
    scan = check_workbook(path, settings)
    book = _calamine(lambda: python_calamine.CalamineWorkbook.from_path(str(path)), path.name)
    return Workbook(path, settings, scan, book)


def read_sheet(wb: Workbook, sheet: Sheet, file: str) -> tuple[pd.DataFrame, list[Issue]]:
    """Data rows of ``sheet`` as a frame (contract column names plus ``row_number``), and warnings.

    Rows are streamed from calamine and only the contract's columns are kept.  A cell the scan
    found to hold a formula saved without a value becomes ``UNCACHED_FORMULA`` (calamine shows
    it as empty, which would read as a value left blank).
    """
    name = sheet.sheet_name
    if name not in wb.sheet_names:
        raise FileRejected(Issue(
            file, name, None, None, None, "missing_sheet",
            f"缺少工作表「{name}」", f"sheet '{name}' is missing",
        ))
    scan = wb.sheet_scan(name)
    ws = _calamine(lambda: wb.book.get_sheet_by_name(name), file, name)
    start = ws.start
    if start is None:  # calamine's iterator cannot start an empty range
        raise FileRejected(Issue(
            file, name, 1, None, None, "empty_sheet",
            "工作表为空，缺少表头", "sheet is empty: no header row",
        ))
    # iter_rows yields every row from Excel row 1, each starting at the range's first column.
    first_col = start[1]
    rows = iter(ws.iter_rows())
    head = list(islice(rows, HEADER_SEARCH_ROWS + 1))
    h = find_header_row(head, sheet)
    for (r0, c0), (r1, _c1) in ws.merged_cell_ranges or []:
        if r0 <= h + 1 and r1 >= h:  # a merged cell in, or spanning into, the header row
            cells = head[r0] if r0 < len(head) else []
            value = cells[c0 - first_col] if 0 <= c0 - first_col < len(cells) else None
            raise FileRejected(Issue(
                file, name, r0 + 1, None, None if value is None else str(value), "merged_header",
                "表头不得使用合并单元格，请按模板使用单行表头",
                "header cells must not be merged; use the template's single header row",
            ))
    header = head[h]
    mapping = map_headers(header, sheet, file, row=h + 1)
    warnings = extra_columns(header, mapping, sheet, file, row=h + 1)
    names, positions = list(mapping), list(mapping.values())

    # Formulas without a value, by Excel row: (index in the record, column name's slot).
    slot = {pos: i for i, pos in enumerate(positions)}
    uncached: dict[int, list[int]] = {}
    for excel_row, col in scan.uncached_formulas:
        if excel_row > h + 1 and col - first_col in slot:
            uncached.setdefault(excel_row, []).append(slot[col - first_col])

    records: list[list] = []
    numbers: list[int] = []
    excel_row = h + 1
    for r in chain(head[h + 1:], rows):
        excel_row += 1
        record = [r[p] if p < len(r) else None for p in positions]
        for i in uncached.pop(excel_row, ()):
            record[i] = UNCACHED_FORMULA
        records.append(record)
        numbers.append(excel_row)
    # A row holding only such formulas lies past calamine's range (it saw nothing there).
    for excel_row in sorted(uncached):
        record = [None] * len(positions)
        for i in uncached[excel_row]:
            record[i] = UNCACHED_FORMULA
        records.append(record)
        numbers.append(excel_row)

    frame = pd.DataFrame(records, columns=names, dtype="object")
    frame["row_number"] = pd.Series(numbers, index=frame.index, dtype="int64")
    # Rows where every contract cell is empty are spacing, not data.
    blank = np.ones(len(frame), dtype=bool)
    for values in zip(*records) if records else ():
        blank &= np.fromiter((v is None or (isinstance(v, str) and not v.strip()) for v in values), bool, len(values))
    return frame.loc[~blank].reset_index(drop=True), warnings
