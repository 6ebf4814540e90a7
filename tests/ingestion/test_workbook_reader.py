"""The workbook reader and the intake limits it applies before calamine parses anything.

Real files throughout: written with xlsxwriter, or built byte by byte (samples/hostile.py)
where a file must lie in a way no writer would.  Only the last test needs Postgres.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import random
import re
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import xlsxwriter

import ingestion.xlsx_limits as xl
from core.settings import PROJECT_ROOT, Settings
from ingestion.contract import PARKS, PROJECTS, Column, Sheet
from ingestion.issues import UNCACHED_FORMULA, FileRejected
from ingestion.readers import open_workbook, read_sheet
from ingestion.validate import validate
from ingestion.xlsx_limits import MAX_UNCACHED_FORMULAS, check_workbook
from samples import hostile as hf
from tests.processes import run_measured
from tests.workbooks import city_workbook, project_row, write_trade, write_workbook

CITY = "430100"
LEDGER = PROJECTS.sheet_name


def limits(**overrides) -> Settings:
    """Settings with some intake limits changed, e.g. limits(max_sheet_rows=100)."""
    return Settings({**os.environ, **{f"OPENECON_{k.upper()}": str(v) for k, v in overrides.items()}})


def rejection(path: Path, settings: Settings | None = None):
    """The issue ``open_workbook`` rejects the file with (the scan runs before calamine opens it)."""
    with pytest.raises(FileRejected) as exc:
        open_workbook(path, settings or Settings())
    issue = exc.value.issue
    assert issue.level == "file" and issue.message_zh and issue.message_en
    return issue


def ledger_xml(n_rows: int, dimension: str | None = None) -> bytes:
    return hf.sheet_xml([["项目编号", "项目名称"], *([f"{CITY}-2025-{i:04d}", f"项目{i}"] for i in range(n_rows))],
                        dimension)


# --- reading: the frame as the contract names it -----------------------------------------
def test_reads_the_ledger_as_contract_columns_with_excel_row_numbers(tmp_path):
    path = city_workbook(tmp_path, CITY, projects=[project_row(CITY, n) for n in (1, 2, 3)])
    wb = open_workbook(path, Settings())
    assert set(wb.sheet_names) >= {PROJECTS.sheet_name, PARKS.sheet_name}
    frame, warnings = read_sheet(wb, PROJECTS, path.name)
    assert list(frame.columns) == [c.name for c in PROJECTS.columns] + ["row_number"]
    assert frame["row_number"].tolist() == [2, 3, 4] and warnings == []
    assert frame["project_id"].tolist() == [f"{CITY}-2025-{n:04d}" for n in (1, 2, 3)]
    good, issues = validate(frame, PROJECTS, path.name, CITY, "2025-09")
    assert len(good) == 3 and not [i for i in issues if i.level == "row"]


def test_title_rows_other_column_order_and_untidy_headers_still_map(tmp_path):
    """Column A left empty, a title and a blank line above the header, columns reversed, headers
    with stray spaces and line breaks, a blank spacing row: values land under the contract names
    and row numbers stay the ones the clerk sees."""
    headers = {c.name: c.header for c in PROJECTS.columns}
    headers["project_id"] = "项目编号\n"
    headers["contract_amount"] = " 合同投资额（万元） "
    order = list(reversed(PROJECTS.columns))
    rows = [project_row(CITY, 1), None, project_row(CITY, 2, contract_amount=123.5)]
    path = tmp_path / f"{CITY}_202509.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(LEDGER)
    ws.write(0, 1, "长沙市招商引资项目台账（2025年9月）")
    for j, col in enumerate(order, start=1):
        ws.write(2, j, headers[col.name])
    for i, row in enumerate(rows, start=3):
        for j, col in enumerate(order, start=1):
            if row is not None and row[col.name] is not None and not hasattr(row[col.name], "year"):
                ws.write(i, j, row[col.name])
    wb.close()
    frame, warnings = read_sheet(open_workbook(path, Settings()), PROJECTS, path.name)
    assert warnings == []
    assert frame["row_number"].tolist() == [4, 6]  # header on Excel row 3, row 5 blank
    assert frame["project_id"].tolist() == [f"{CITY}-2025-0001", f"{CITY}-2025-0002"]
    assert frame["contract_amount"].tolist() == [25000.0, 123.5]
    assert frame["investor"].tolist() == ["测试投资有限公司1", "测试投资有限公司2"]


def test_a_column_the_template_lacks_is_a_warning_and_ignored(tmp_path):
    headers = [c.header for c in PROJECTS.columns] + ["备注"]
    path = city_workbook(tmp_path, CITY, headers={PROJECTS: headers})
    frame, warnings = read_sheet(open_workbook(path, Settings()), PROJECTS, path.name)
    assert [(w.rule, w.level, w.value, w.sheet) for w in warnings] == [("extra_column", "warning", "备注", LEDGER)]
    assert "备注" not in frame.columns and len(frame) == 3


def test_merged_header_cells_reject_the_file(tmp_path):
    path = tmp_path / f"{CITY}_202509.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(LEDGER)
    ws.merge_range(0, 0, 0, 1, "项目编号")
    for j, col in enumerate(PROJECTS.columns[2:], start=2):
        ws.write(0, j, col.header)
    wb.close()
    with pytest.raises(FileRejected) as exc:
        read_sheet(open_workbook(path, Settings()), PROJECTS, path.name)
    assert exc.value.issue.rule == "merged_header" and exc.value.issue.row == 1


def test_missing_and_empty_sheets(tmp_path):
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: hf.sheet_xml([])})
    wb = open_workbook(path, Settings())
    with pytest.raises(FileRejected) as exc:
        read_sheet(wb, PARKS, path.name)
    assert exc.value.issue.rule == "missing_sheet"
    with pytest.raises(FileRejected) as exc:
        read_sheet(wb, PROJECTS, path.name)
    assert exc.value.issue.rule == "empty_sheet"


# --- formulas saved without a value ----------------------------------------------------
def _ledger_with_formulas(path: Path) -> Path:
    """Rows 2-4 of a ledger; 累计实际到位资金 is a formula: cached on row 2, saved with an empty
    <v> on row 3 (xlsxwriter's value ""), with no <v> at all on row 4, and alone on row 6 (past
    every value calamine sees)."""
    col = [c.name for c in PROJECTS.columns].index("paid_in_cumulative")
    wb = xlsxwriter.Workbook(str(path))
    date = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet(LEDGER)
    for j, c in enumerate(PROJECTS.columns):
        ws.write(0, j, c.header)
    for i, n in enumerate((1, 2, 3), start=1):
        for j, c in enumerate(PROJECTS.columns):
            v = project_row(CITY, n)[c.name]
            if hasattr(v, "year"):
                ws.write_datetime(i, j, dt.datetime(v.year, v.month, v.day), date)
            elif v is not None and j != col:
                ws.write(i, j, v)
    ws.write_formula(1, col, "=4000*2", None, 8000)
    ws.write_formula(2, col, "=4000*2", None, "")
    ws.write_formula(3, col, "=4000*3", None, "")
    ws.write_formula(5, col, "=4000*4", None, "")
    wb.close()
    # Row 4 and 6: drop the empty <v> too, as programs that never calculate write it.
    return hf.rewrite(path, path.with_name("f_" + path.name), edit={
        "xl/worksheets/sheet1.xml": lambda x: re.sub(rb"(<c r=\"Q[46]\"[^>]*><f>[^<]*</f>)<v></v>", rb"\1", x)})


def test_formula_without_cached_value_is_marked_and_its_row_quarantined(tmp_path):
    path = _ledger_with_formulas(tmp_path / f"{CITY}_202509.xlsx")
    sheet_xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    assert b"<f>4000*3</f></c>" in sheet_xml and b"<f>4000*2</f><v></v>" in sheet_xml  # both forms
    wb = open_workbook(path, Settings())
    assert wb.scan.sheets[LEDGER].uncached_formulas == {(3, 16), (4, 16), (6, 16)}
    frame, _ = read_sheet(wb, PROJECTS, path.name)
    by_row = dict(zip(frame["row_number"], frame["paid_in_cumulative"]))
    assert by_row[2] == 8000 and by_row[3] is UNCACHED_FORMULA and by_row[4] is UNCACHED_FORMULA
    assert by_row[6] is UNCACHED_FORMULA  # kept although calamine's range ends on row 4
    good, issues = validate(frame, PROJECTS, path.name, CITY, "2025-09")
    flagged = sorted(i.row for i in issues if i.rule == "formula_no_value")
    assert flagged == [3, 4, 6]
    assert all(i.column == "累计实际到位资金" for i in issues if i.rule == "formula_no_value")
    assert good["row_number"].tolist() == [2]


def test_a_workbook_never_calculated_is_rejected_whole(tmp_path):
    cells = "".join(f'<row r="{r}"><c r="A{r}"><f>1+1</f></c></row>' for r in range(2, MAX_UNCACHED_FORMULAS + 3))
    sheet = hf.sheet_xml([["项目编号"]]).replace(b"</sheetData>", cells.encode() + b"</sheetData>")
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: sheet})
    issue = rejection(path)
    assert issue.rule == "formula_no_value" and issue.sheet == LEDGER


def test_a_sheet_outside_the_contract_is_scanned_when_first_read(tmp_path):
    other = Sheet(kind="workbook", name="annex", sheet_name="附表", title="附表",
                  columns=(Column("code", "编码", "text"),))
    sheet = hf.sheet_xml([["编码"], ["A1"]]).replace(
        b"</sheetData>", b'<row r="3"><c r="A3"><f>1+1</f></c></row></sheetData>')
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: ledger_xml(2), "附表": sheet})
    wb = open_workbook(path, Settings())
    assert "附表" not in wb.scan.sheets
    frame, _ = read_sheet(wb, other, path.name)
    assert frame["code"].tolist() == ["A1", UNCACHED_FORMULA] and frame["row_number"].tolist() == [2, 3]


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors, as streaming writers do."""

    def __init__(self, fh):
        self.fh = fh

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.fh.write(data)


def test_unusual_but_valid_packaging_is_read_not_refused(tmp_path):
    """Stored entries; data descriptors with zip64 extra fields; a prefixed main namespace with
    rows and cells that carry no r: all valid, all read."""
    two_columns = Sheet(kind="workbook", name="t", sheet_name=LEDGER, title="t",
                        columns=(Column("project_id", "项目编号", "text"), Column("project_name", "项目名称", "text")))
    plain = hf.workbook_parts({LEDGER: ledger_xml(3)})
    stored = hf.write_zip(tmp_path / "stored.xlsx", [dataclasses.replace(p, stored=True) for p in plain])
    streamed = tmp_path / "streamed.xlsx"
    with open(streamed, "wb") as fh, zipfile.ZipFile(_Unseekable(fh), "w", zipfile.ZIP_DEFLATED) as zf:
        for part in plain:
            with zf.open(part.name, "w", force_zip64=True) as w:
                w.write(part.data)
    assert all(i.flag_bits & 0x08 for i in zipfile.ZipFile(streamed).infolist())
    for path in (stored, streamed):
        frame, _ = read_sheet(open_workbook(path, Settings()), two_columns, path.name)
        assert frame["project_name"].tolist() == ["项目0", "项目1", "项目2"]
        assert frame["row_number"].tolist() == [2, 3, 4]
    prefixed = hf.XML_DECL + (f'<x:worksheet xmlns:x="{hf.MAIN_NS}"><x:sheetData>'
                              '<x:row><x:c t="inlineStr"><x:is><x:t>项目编号</x:t></x:is></x:c>'
                              '<x:c t="inlineStr"><x:is><x:t>项目名称</x:t></x:is></x:c></x:row>'
                              '<x:row><x:c t="inlineStr"><x:is><x:t>A</x:t></x:is></x:c><x:c><x:f>1+1</x:f></x:c>'
                              '</x:row></x:sheetData></x:worksheet>').encode()
    path = hf.write_workbook(tmp_path / "prefixed.xlsx", {LEDGER: prefixed})
    wb = open_workbook(path, limits(max_sheet_rows=2, max_sheet_cols=2))
    assert wb.scan.sheets[LEDGER].uncached_formulas == {(2, 1)}
    frame, _ = read_sheet(wb, two_columns, path.name)
    assert frame["project_id"].tolist() == ["A"] and frame["project_name"].tolist() == [UNCACHED_FORMULA]


# --- what the file is ------------------------------------------------------------------
def _csv(path: Path, encoding: str) -> Path:
    return write_trade(path, [], encoding=encoding)


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


WRONG_CONTENT = {
    "xls": (lambda p: hf.ole2_file(p), "旧版Excel（.xls）", ".xls"),
    "password": (lambda p: hf.ole2_file(p, encrypted=True), "密码", "password"),
    "csv_utf8": (lambda p: _csv(p, "utf-8-sig"), "文件内容是文本（CSV）", "CSV"),
    "csv_gbk": (lambda p: _csv(p, "gbk"), "文件内容是文本（CSV）", "CSV"),
    "html": (lambda p: _bytes(p, "<html><table><tr><td>项目编号</td></tr></table></html>".encode()), "网页", "HTML"),
    "random": (lambda p: _bytes(p, random.Random(7).randbytes(5000)), "不是有效的xlsx", "not a readable"),
    "zip_without_workbook": (lambda p: hf.write_zip(p, [hf.Part("readme.txt", b"hello")]), "没有Excel工作簿",
                             "without an Excel workbook"),
    "xlsb": (lambda p: hf.write_zip(p, [hf.Part("_rels/.rels", (
        f'<Relationships xmlns="{hf.PKG_REL_NS}"><Relationship Id="rId1" Type="{hf.DOC_REL_NS}/officeDocument" '
        'Target="xl/workbook.bin"/></Relationships>').encode()), hf.Part("xl/workbook.bin", b"\x00" * 64)]),
        ".xlsb", ".xlsb"),
    "ods": (lambda p: hf.write_zip(p, [hf.Part("mimetype", b"application/vnd.oasis.opendocument.spreadsheet",
                                               stored=True), hf.Part("content.xml", b"<x/>")]), ".ods", ".ods"),
}


@pytest.mark.parametrize("kind", list(WRONG_CONTENT))
def test_wrong_content_is_named_for_the_clerk(tmp_path, kind):
    make, zh, en = WRONG_CONTENT[kind]
    path = make(tmp_path / f"{CITY}_202509.xlsx")
    issue = rejection(path)
    assert issue.rule == "wrong_content"
    assert zh in issue.message_zh and en in issue.message_en


def test_a_damaged_zip_is_unreadable(tmp_path):
    good = city_workbook(tmp_path, CITY)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert rejection(cut).rule == "unreadable_file"


# --- the zip directory, before anything is inflated --------------------------------------
def test_too_many_entries(tmp_path):
    extra = [hf.Part(f"xl/media/image{i}.png", b"x") for i in range(21)]
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: ledger_xml(2)}, extra)
    issue = rejection(path, limits(max_zip_entries=20))
    assert (issue.rule, issue.value) == ("too_many_entries", "26")
    assert "20" in issue.message_zh and "20" in issue.message_en


def test_too_large_unzipped(tmp_path):
    extra = [hf.Part("xl/media/image1.png", b"\x00" * (2 << 20))]
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: ledger_xml(2)}, extra)
    issue = rejection(path, limits(max_unzipped_mb=1))
    assert (issue.rule, issue.value) == ("unzipped_too_large", "2 MB")
    assert "1 MB" in issue.message_zh and "1 MB" in issue.message_en


def test_too_many_sheets(tmp_path):
    path = hf.write_workbook(tmp_path / "w.xlsx", {f"表{i}": ledger_xml(1) for i in range(4)})
    issue = rejection(path, limits(max_sheets=3))
    assert (issue.rule, issue.value) == ("too_many_sheets", "4")


# --- the sheet's extent -----------------------------------------------------------------
def test_declared_dimension_over_the_limits(tmp_path):
    rows = hf.write_workbook(tmp_path / "r.xlsx", {LEDGER: ledger_xml(3, dimension="A1:B5000")})
    issue = rejection(rows, limits(max_sheet_rows=100))
    assert (issue.rule, issue.sheet, issue.value) == ("too_many_rows", LEDGER, "5000")
    assert LEDGER in issue.message_zh and "100" in issue.message_en
    cols = hf.write_workbook(tmp_path / "c.xlsx", {LEDGER: ledger_xml(3, dimension="A1:CW4")})
    issue = rejection(cols)  # default limit: 100 columns; CW is the 101st
    assert (issue.rule, issue.sheet, issue.value) == ("too_many_columns", LEDGER, "CW")


def test_a_lying_dimension_is_caught_by_the_streaming_count(tmp_path):
    """Says A1:B2, holds 150 rows: refused at row 101.  The XML is broken after row 120, so a
    scan that read on would have failed differently: the count aborts as soon as it is over."""
    sheet = ledger_xml(150, dimension="A1:B2").replace(b'<row r="121">', b'<row r="121"><<broken')
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: sheet})
    issue = rejection(path, limits(max_sheet_rows=100))
    assert (issue.rule, issue.sheet, issue.value) == ("too_many_rows", LEDGER, "101")
    wide = hf.sheet_xml([["项目编号", *([None] * 99), "x"]], dimension="A1:B2")
    issue = rejection(hf.write_workbook(tmp_path / "c.xlsx", {LEDGER: wide}))
    assert (issue.rule, issue.value) == ("too_many_columns", "CW")


def test_one_far_away_cell_counts_as_the_rows_above_it(tmp_path):
    """calamine's range is dense: a single value on row 1,000,000 costs a million rows."""
    sheet = ledger_xml(2).replace(b"</sheetData>", b'<row r="1000000"><c r="A1000000"><v>1</v></c></row></sheetData>')
    issue = rejection(hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: sheet}))
    assert (issue.rule, issue.value) == ("too_many_rows", "1000000")


def test_empty_cells_that_only_carry_formatting_do_not_count(tmp_path):
    styled = "".join(f'<row r="{r}"><c r="A{r}" s="1"/><c r="B{r}" s="1"/></row>' for r in range(4, 500))
    sheet = ledger_xml(2).replace(b"</sheetData>", styled.encode() + b"</sheetData>")
    scan = check_workbook(hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: sheet}), limits(max_sheet_rows=100))
    assert (scan.sheets[LEDGER].last_row, scan.sheets[LEDGER].last_column) == (3, 2)


# --- XML that would make the parser pay -------------------------------------------------
LAUGHS = (b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
          b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n')
UNSAFE = {
    "doctype_in_sheet": lambda: {LEDGER: hf.sheet_xml([["项目编号"], ["&lol3;"]], before=LAUGHS)
                                 .replace(b"<t>&amp;lol3;</t>", b"<t>&lol3;</t>")},
    "comment": lambda: {LEDGER: hf.sheet_xml([["项目编号"]], after=b"<!-- " + b"<x>" * 100 + b" -->")},
    "processing_instruction": lambda: {LEDGER: hf.sheet_xml([["项目编号"]], after=b"<?pi <x> ?>")},
    "instruction_at_offset_3": lambda: {LEDGER: b"<r><?pi <x> ?>" + hf.sheet_xml([["项目编号"]])[len(hf.XML_DECL):]},
    "deep_nesting": lambda: {LEDGER: hf.sheet_xml([["项目编号"]], after=b"<extLst>" + b"<a>" * 300 + b"</a>" * 300
                                                  + b"</extLst>")},
    "huge_attribute": lambda: {LEDGER: hf.sheet_xml([["项目编号"]], after=b'<extLst x="' + b">" * (3 << 20) + b'"/>')},
    "utf16_sheet": lambda: {LEDGER: hf.sheet_xml([["项目编号"]]).replace(b"UTF-8", b"UTF-16").decode()
                            .encode("utf-16")},
}


@pytest.mark.parametrize("kind", list(UNSAFE))
def test_xml_tricks_are_refused_not_expanded(tmp_path, kind):
    issue = rejection(hf.write_workbook(tmp_path / "w.xlsx", UNSAFE[kind]()))
    assert issue.rule == "unsafe_xml" and issue.sheet == LEDGER


def test_a_doctype_in_the_workbook_part_is_refused(tmp_path):
    parts = hf.workbook_parts({LEDGER: ledger_xml(2)})
    wb = next(p for p in parts if p.name == "xl/workbook.xml")
    wb.data = wb.data.replace(hf.XML_DECL, hf.XML_DECL + LAUGHS)
    issue = rejection(hf.write_zip(tmp_path / "w.xlsx", parts))
    assert (issue.rule, issue.value) == ("unsafe_xml", "xl/workbook.xml")


# --- zips that lie ------------------------------------------------------------------------
def _sheet_part(data: bytes, **declared) -> hf.Part:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return hf.Part("", raw=c.compress(data) + c.flush(), crc=zlib.crc32(data), size=len(data), **declared)


def test_an_entry_larger_than_declared_is_refused_although_zipfile_reads_it(tmp_path):
    """Declared size and CRC describe only the first KB: zipfile stops there and is satisfied,
    while calamine would inflate all of it.  Inflating it ourselves catches the lie."""
    data = ledger_xml(100)
    part = _sheet_part(data, declared_size=1024, declared_crc=zlib.crc32(data[:1024]))
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: part})
    assert zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml") == data[:1024]
    issue = rejection(path)
    assert issue.rule == "unreadable_file" and "declared size" in issue.message_en


@pytest.mark.parametrize("declared", [{"declared_crc": 1234}, {"declared_size": 10 ** 5}])
def test_a_wrong_crc_or_a_short_entry_is_refused(tmp_path, declared):
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: _sheet_part(ledger_xml(100), **declared)})
    assert rejection(path).rule == "unreadable_file"


def test_two_entries_calamine_cannot_tell_apart_are_refused(tmp_path):
    extra = [hf.Part("XL/worksheets/SHEET1.xml", ledger_xml(5000))]
    assert rejection(hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: ledger_xml(2)}, extra)).rule == "unreadable_file"


def test_a_shared_strings_count_calamine_would_reserve_is_refused(tmp_path):
    """calamine reserves uniqueCount strings before reading one; 10^11 aborts the process."""
    good = city_workbook(tmp_path, CITY)
    bad = hf.rewrite(good, tmp_path / "bad.xlsx", edit={
        "xl/sharedStrings.xml": lambda x: re.sub(rb'uniqueCount="\d+"', b'uniqueCount="100000000000"', x)})
    issue = rejection(bad)
    assert issue.rule == "unreadable_file" and "sharedStrings" in issue.message_en


# --- a real zip bomb, in a child process whose memory is measured ----------------------------
BOMB_CHILD = """
import json, sys
import ingestion.xlsx_limits
scan_imports_calamine = "python_calamine" in sys.modules
from core.settings import Settings
from ingestion.readers import open_workbook
from ingestion.issues import FileRejected
rules = {}
for path in sys.argv[1:]:
    try:
        open_workbook(path, Settings())
        rules[path] = None
    except FileRejected as exc:
        rules[path] = exc.issue.rule
print(json.dumps({"rules": rules, "calamine": scan_imports_calamine}))
"""


def test_a_one_gigabyte_zip_bomb_is_refused_in_bounded_memory(tmp_path):
    """2.6 MB files whose sheet inflates to 1 GiB (calamine alone: 2.9 GB RSS): declared honestly,
    declared as 1 MiB, and declared as 200 MiB (under the limit, so the rows are streamed)."""
    bomb = hf.bomb_sheet(1.0)
    bombs = {
        "unzipped_too_large": bomb,
        "unreadable_file": dataclasses.replace(bomb, declared_size=1 << 20),
        "too_many_rows": dataclasses.replace(bomb, declared_size=200 << 20),
    }
    paths = {rule: hf.write_workbook(tmp_path / f"{CITY}_{rule}.xlsx", {LEDGER: part}) for rule, part in bombs.items()}
    assert all(p.stat().st_size < 3 << 20 for p in paths.values())
    assert bomb.size >= 1 << 30
    proc, peak_mb = run_measured([sys.executable, "-c", BOMB_CHILD, *map(str, paths.values())],
                                 capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rules"] == {str(p): rule for rule, p in paths.items()}
    assert not out["calamine"]  # the scan is stdlib only: nothing was handed to calamine
    assert peak_mb < 300, peak_mb  # the interpreter with pandas imported is ~120 MB


# --- the fast scan: the exact scan's result, or the exact scan decides ----------------------
def _both_scans(path: Path, part: str = "xl/worksheets/sheet1.xml", settings: Settings | None = None):
    """(the fast scan's result, or None where it leaves the part to the exact scan; the exact scan's)."""
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        pkg = xl._Package(zf, raw, path.name, settings or Settings())
        info = pkg.find(part)
        try:
            fast = xl._fast_scan_sheet(pkg, info, LEDGER)
        except xl._Irregular:
            fast = None
        return fast, xl._scan_sheet(pkg, info, LEDGER)


def _with_cells(cells: str) -> bytes:
    return ledger_xml(2, dimension="A1:B3").replace(b"</sheetData>", f'<row r="4">{cells}</row></sheetData>'.encode())


ORDINARY = {
    "xlsxwriter, shared strings": lambda tmp: city_workbook(tmp, CITY),
    "inline strings": lambda tmp: hf.write_workbook(tmp / "w.xlsx", {LEDGER: ledger_xml(300)}),
    "formatted empty cells below": lambda tmp: hf.write_workbook(tmp / "w.xlsx", {LEDGER: _with_cells(
        '<c r="A4" s="1"/><c r="C4" s="1"></c><c r="D4" s="1"> </c>')}),
    "lower-case reference, value after a line break": lambda tmp: hf.write_workbook(
        tmp / "w.xlsx", {LEDGER: _with_cells('<c r="ab4">\n<v>1</v></c>')}),
    "a far cell past a chunk": lambda tmp: hf.write_workbook(tmp / "w.xlsx", {LEDGER: ledger_xml(40_000).replace(
        b"</sheetData>", b'<row r="90000"><c r="CV90000"><v>1</v></c></row></sheetData>')}),
}


@pytest.mark.parametrize("kind", list(ORDINARY))
def test_the_fast_scan_finds_what_the_exact_scan_finds(tmp_path, kind):
    fast, exact = _both_scans(ORDINARY[kind](tmp_path))
    assert fast is not None, "an ordinary sheet went to the exact scan"
    assert fast == exact


FAR = 'r="A1000000"><v>1</v></c>'
IRREGULAR = {  # each hides a cell on row 1,000,000 (or a depth of 300) from a scan that reads too little
    "r not the first attribute, a fake r before it": (f'<c t=" r=\'A4\'" {FAR}', "too_many_rows"),
    "r quoted with apostrophes": ("<c r='A1000000'><v>1</v></c>", "too_many_rows"),
    "a prefixed cell": (f'<x:c xmlns:x="{hf.MAIN_NS}" r="A1000000"><x:v>1</x:v></x:c>', "too_many_rows"),
    "a second r attribute": (f'<c r="A4" {FAR}', "unreadable_file"),
    "a self-closing look inside a value": ('<c r="A4"><v>1</v></c></row><row r="5">' + '<a b="/>">' * 300
                                           + "</a>" * 300, "unsafe_xml"),
    "a dimension spelt with an entity": (None, "too_many_rows"),
    "a CDATA section": ('<c r="A4" t="inlineStr"><is><t><![CDATA[x]]></t></is></c>', None),
}


@pytest.mark.parametrize("kind", list(IRREGULAR))
def test_what_the_fast_scan_cannot_vouch_for_goes_to_the_exact_scan(tmp_path, kind):
    cells, rule = IRREGULAR[kind]
    sheet = _with_cells(cells) if cells else ledger_xml(2, dimension="A1:B1&#48;00000")
    path = hf.write_workbook(tmp_path / "w.xlsx", {LEDGER: sheet})
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        pkg = xl._Package(zf, raw, path.name, Settings())
        with pytest.raises(xl._Irregular):
            xl._fast_scan_sheet(pkg, pkg.find("xl/worksheets/sheet1.xml"), LEDGER)
    if rule is None:
        assert check_workbook(path, Settings()).sheets[LEDGER].last_row == 4
    else:
        assert rejection(path).rule == rule


# --- a normal workbook stays fast --------------------------------------------------------
def test_the_scan_of_a_7000_row_ledger_takes_well_under_a_second(tmp_path):
    rows = [project_row(CITY, n % 10_000) for n in range(7000)]
    path = write_workbook(tmp_path / f"{CITY}_202509.xlsx", {PROJECTS: rows})
    best = min(_timed(lambda: check_workbook(path, Settings())) for _ in range(3))
    scan = check_workbook(path, Settings())
    assert scan.sheets[LEDGER].last_row == 7001 and scan.sheets[LEDGER].last_column == len(PROJECTS.columns)
    assert best < 1.0, f"scan took {best:.2f}s"


def _timed(call) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


# --- through the intake ----------------------------------------------------------------------
def test_intake_quarantines_an_uncached_formula_row_and_rejects_hostile_workbooks(warehouse, settings, tmp_path):
    from ingestion.load import ingest_paths

    headers = [c.header for c in PROJECTS.columns] + ["备注"]
    made = city_workbook(tmp_path / "src", CITY, projects=[project_row(CITY, n) for n in range(1, 11)],
                         headers={PROJECTS: headers})
    (tmp_path / "in").mkdir()
    uncache = lambda x: re.sub(rb'<c r="Q4"([^>]*)><v>[^<]*</v></c>', rb'<c r="Q4"\1><f>4000*2</f></c>', x)  # noqa: E731
    good = hf.rewrite(made, tmp_path / "in" / made.name, edit={"xl/worksheets/sheet1.xml": uncache})  # 3rd project
    bomb = hf.write_workbook(tmp_path / "in" / f"{CITY}_202510.xlsx", {LEDGER: hf.bomb_sheet(1.0)})
    xls = hf.ole2_file(tmp_path / "in" / f"{CITY}_202511.xlsx")
    receipts = {r.file: r for r in ingest_paths([good, bomb, xls], settings)}

    r = receipts[good.name]
    assert (r.status, r.rows_rejected) == ("partial", 1), r.text()
    ledger_rows = warehouse.execute("SELECT row_number FROM raw.projects WHERE file_id = %s ORDER BY 1",
                                    [r.file_id]).fetchall()
    assert [n for (n,) in ledger_rows] == [2, 3, *range(5, 12)]
    assert [(i.rule, i.row, i.column) for i in r.issues if i.level == "row"] == [
        ("formula_no_value", 4, "累计实际到位资金")]
    assert [(w.rule, w.value) for w in r.warnings] == [("extra_column", "备注")]
    assert receipts[bomb.name].status == "rejected" and receipts[bomb.name].issues[0].rule == "unzipped_too_large"
    assert receipts[xls.name].status == "rejected" and receipts[xls.name].issues[0].rule == "wrong_content"
    assert "另存为.xlsx" in receipts[xls.name].reason
    stored = warehouse.execute("SELECT s.file_name, r.rule FROM audit.rejected_rows r JOIN audit.submissions s "
                               "USING (file_id) ORDER BY s.file_name").fetchall()
    assert stored == [(good.name, "formula_no_value"), (bomb.name, "unzipped_too_large"), (xls.name, "wrong_content")]
