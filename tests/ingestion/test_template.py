"""The blank templates are generated from the contract and read back by the real readers."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import pytest
import python_calamine
from xlsxwriter.utility import xl_col_to_name

from core import reference
from ingestion import contract, template
from ingestion.contract import PARKS, TRADE, Column, sheets_of_kind
from ingestion.readers import open_workbook, read_sheet
from ingestion.validate import validate

M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
CITY = "430100"
WORKBOOK_SHEETS = sheets_of_kind("workbook")


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> list[Path]:
    return template.write_templates(tmp_path_factory.mktemp("province"))


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> list[Path]:
    return template.write_templates(tmp_path_factory.mktemp("city"), CITY)


# --- helpers: the xlsx is a zip of XML parts ------------------------------------
def sheet_parts(path: Path) -> dict[str, tuple[str, str | None]]:
    """Sheet name -> (zip member of its XML, state such as 'hidden')."""
    with zipfile.ZipFile(path) as z:
        book = ET.fromstring(z.read("xl/workbook.xml"))
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = {r.get("Id"): r.get("Target") for r in rels}
    return {s.get("name"): ("xl/" + target[s.get(R_ID)].removeprefix("/xl/"), s.get("state"))
            for s in book.iter(f"{M}sheet")}


def sheet_xml(path: Path, name: str) -> ET.Element:
    with zipfile.ZipFile(path) as z:
        return ET.fromstring(z.read(sheet_parts(path)[name][0]))


def validations(path: Path, name: str) -> dict[str, list[ET.Element]]:
    """Column letter -> the dataValidation entries covering rows 2..5001 of it."""
    out: dict[str, list[ET.Element]] = {}
    for dv in sheet_xml(path, name).iter(f"{M}dataValidation"):
        first, last = dv.get("sqref").split(":")
        letter = re.match(r"[A-Z]+", first).group()
        assert (first, last) == (f"{letter}2", f"{letter}{template.DATA_ROWS + 1}")
        out.setdefault(letter, []).append(dv)
    return out


def dropdown_values(path: Path, dv: ET.Element) -> list[str]:
    """The values a list validation offers, read from the range it points at."""
    formula = dv.find(f"{M}formula1").text
    m = re.fullmatch(r"'?(.+?)'?!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", formula)
    assert m, formula
    name, col, r0, col1, r1 = m.groups()
    assert col == col1
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()
    j = sum((ord(ch) - 64) * 26 ** i for i, ch in enumerate(reversed(col))) - 1
    return [rows[i][j] for i in range(int(r0) - 1, int(r1))]


def column_formats(path: Path, name: str) -> dict[str, str]:
    """Column letter -> number format code of the column's default style."""
    with zipfile.ZipFile(path) as z:
        styles = ET.fromstring(z.read("xl/styles.xml"))
    codes = {49: "@", 0: "General"} | {int(f.get("numFmtId")): f.get("formatCode")
                                        for f in styles.iter(f"{M}numFmt")}
    xfs = list(styles.find(f"{M}cellXfs"))
    out = {}
    for col in sheet_xml(path, name).iter(f"{M}col"):
        fmt = codes.get(int(xfs[int(col.get("style", 0))].get("numFmtId", 0)))
        for j in range(int(col.get("min")), int(col.get("max")) + 1):
            out[xl_col_to_name(j - 1)] = fmt
    return out


def fill(template_path: Path, out: Path, rows: dict[str, list]) -> Path:
    """Type one data row into sheets of the template, as a clerk would (no openpyxl here)."""
    parts = sheet_parts(template_path)
    with zipfile.ZipFile(template_path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            for name, values in rows.items():
                if item.filename == parts[name][0]:
                    cells = "".join(
                        f'<c r="{xl_col_to_name(j)}2"><v>{v}</v></c>' if isinstance(v, (int, float))
                        else f'<c r="{xl_col_to_name(j)}2" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
                        for j, v in enumerate(values) if v is not None)
                    data = data.decode().replace("</row>", f'</row><row r="2">{cells}</row>', 1).encode()
            dst.writestr(item, data)
    return out


def guide_text(path: Path) -> str:
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name(template.GUIDE_SHEET).to_python()
    return "\n".join(" | ".join(str(v) for v in r) for r in rows)


# --- tests -------------------------------------------------------------------------
def test_file_names(province, city):
    assert [p.name for p in province] == ["市州月报模板.xlsx", "trade_模板.csv"]
    assert [p.name for p in city] == [f"{CITY}_月报模板.xlsx", f"trade_{CITY}_模板.csv"]
    # The names the guide tells clerks to use are the ones ingestion accepts.
    for kind, pattern in contract.FILE_PATTERNS.items():
        assert pattern.match(template.submission_name(kind, CITY, "202509"))


def test_unknown_city_is_refused(tmp_path):
    with pytest.raises(ValueError, match="999999"):
        template.write_templates(tmp_path, "999999")


@pytest.mark.parametrize("which", ["province", "city"])
def test_sheets_and_headers_follow_the_contract(which, request):
    xlsx = request.getfixturevalue(which)[0]
    wb = python_calamine.CalamineWorkbook.from_path(str(xlsx))
    assert wb.sheet_names == [template.GUIDE_SHEET, *(s.sheet_name for s in WORKBOOK_SHEETS),
                              template.CODES_SHEET]
    for sheet in WORKBOOK_SHEETS:
        rows = wb.get_sheet_by_name(sheet.sheet_name).to_python()
        assert rows == [[c.header for c in sheet.columns]]  # header row only, no data
    assert sheet_parts(xlsx)[template.CODES_SHEET][1] == "hidden"


def test_header_row_is_frozen(city):
    for sheet in WORKBOOK_SHEETS:
        pane = sheet_xml(city[0], sheet.sheet_name).find(f".//{M}pane")
        assert (pane.get("ySplit"), pane.get("state")) == ("1", "frozen")


def test_guide_covers_every_column_rule_and_file(city):
    text = guide_text(city[0])
    for sheet in contract.SHEETS:  # the CSV's columns too
        for col in sheet.columns:
            assert col.header in text, col.header
        for rule in sheet.row_rules:
            assert rule.message_zh in text
    for needle in ("<市州代码>_<YYYYMM>.xlsx", "trade_<市州代码>_<YYYYMM>.csv", f"trade_{CITY}_模板.csv",
                   "1–2月", "03、06、09、12", "截止", "是否必填", "填写规则", "须>0", "表内不得重复"):
        assert needle in text, needle


@pytest.mark.parametrize("which", ["province", "city"])
def test_a_dropdown_for_each_code_list_column(which, request):
    xlsx = request.getfixturevalue(which)[0]
    for sheet in WORKBOOK_SHEETS:
        dvs = validations(xlsx, sheet.sheet_name)
        lists = {letter for letter, entries in dvs.items() for dv in entries if dv.get("type") == "list"}
        expected = {xl_col_to_name(j) for j, c in enumerate(sheet.columns) if c.code_list}
        assert lists == expected, sheet.sheet_name


def test_dropdowns_offer_exactly_the_allowed_codes(province, city):
    for xlsx, city_code in ((city[0], CITY), (province[0], None)):
        for sheet in WORKBOOK_SHEETS:
            dvs = validations(xlsx, sheet.sheet_name)
            for j, col in enumerate(sheet.columns):
                if not col.code_list:
                    continue
                offered = dropdown_values(xlsx, dvs[xl_col_to_name(j)][0])
                codes = [city_code] if city_code else list(reference.cities())
                allowed = set().union(*(contract.code_list(col.code_list, c) for c in codes))
                assert len(offered) == len(set(offered)) and set(offered) == allowed, (sheet.name, col.name)


def test_code_sheet_holds_stages_and_the_city_parks(city, province):
    def code_sheet(xlsx):
        rows = python_calamine.CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_name(
            template.CODES_SHEET).to_python()
        return {rows[0][j]: [r[j] for r in rows[1:] if r[j] != ""] for j in range(0, len(rows[0]), 2)}

    lists = code_sheet(city[0])
    assert next(v for k, v in lists.items() if "（stage）" in k) == list(contract.STAGES)
    parks = next(v for k, v in lists.items() if "park_of_city" in k)
    assert parks == sorted(p["park_code"] for p in reference.parks_by_city()[CITY])
    province_parks = next(v for k, v in code_sheet(province[0]).items() if "park_of_city" in k)
    assert set(province_parks) == {p["park_code"] for p in reference.parks()}


def test_type_checks_formats_and_input_messages(city):
    xlsx = city[0]
    for sheet in WORKBOOK_SHEETS:
        dvs, formats = validations(xlsx, sheet.sheet_name), column_formats(xlsx, sheet.sheet_name)
        for j, col in enumerate(sheet.columns):
            letter = xl_col_to_name(j)
            assert len(dvs[letter]) == 1, col.header
            dv = dvs[letter][0]
            assert dv.get("showInputMessage") == "1" and dv.get("prompt"), col.header
            if col.dtype in ("int", "numeric"):
                assert dv.get("type") == ("whole" if col.dtype == "int" else "decimal")
                if col.min_value is not None:
                    op = "greaterThan" if col.exclusive_min else "greaterThanOrEqual"
                    assert dv.get("operator") == op and float(dv.find(f"{M}formula1").text) == col.min_value
            elif col.dtype == "date":
                assert dv.get("type") == "date" and formats[letter] == "yyyy-mm-dd"
            else:
                assert formats[letter] == "@", col.header  # codes keep their leading zeros
    # 合同投资额 must be > 0, not merely ≥ 0.
    amount = xl_col_to_name([c.name for c in contract.PROJECTS.columns].index("contract_amount"))
    assert validations(xlsx, contract.PROJECTS.sheet_name)[amount][0].get("operator") == "greaterThan"


def test_csv_template_is_bom_utf8_with_the_trade_headers(province, city):
    for path in (province[1], city[1]):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows == [[c.header for c in TRADE.columns]]


def test_blank_template_reads_back_with_every_column(city):
    wb = open_workbook(city[0])
    for sheet in WORKBOOK_SHEETS:
        frame, _ = read_sheet(wb, sheet, city[0].name)  # map_headers raises on any missing column
        assert list(frame.columns) == [c.name for c in sheet.columns] + ["row_number"]
        assert frame.empty


def test_filled_template_passes_validation(city, tmp_path):
    xlsx = city[0]
    rows, offered = {}, {}
    for sheet in WORKBOOK_SHEETS:
        dvs = validations(xlsx, sheet.sheet_name)
        values = {}
        for j, col in enumerate(sheet.columns):
            if col.code_list:  # pick the first entry of the drop-down, as a clerk would
                values[col.name] = offered[col.name] = dropdown_values(xlsx, dvs[xl_col_to_name(j)][0])[0]
            elif col.dtype == "text":
                values[col.name] = f"测试{col.label}"
            elif col.dtype in ("int", "numeric"):
                values[col.name] = 1
            else:
                values[col.name] = None  # dates: the first stage (在谈) needs none
        if sheet is contract.PROJECTS:  # cross-column rules of the project ledger
            values["project_id"] = f"{CITY}-2025-0001"
            values["source_region"] = reference.provinces()[values["investor_origin"]]["source_region"]
            assert values["stage"] == contract.STAGES[0]
        rows[sheet.sheet_name] = [values[c.name] for c in sheet.columns]
    filled = fill(xlsx, tmp_path / f"{CITY}_202509.xlsx", rows)

    wb = open_workbook(filled)
    for sheet in WORKBOOK_SHEETS:
        frame, _ = read_sheet(wb, sheet, filled.name)
        good, issues = validate(frame, sheet, filled.name, CITY)
        assert issues == [], [i.line() for i in issues]
        assert len(good) == 1 and good["row_number"].tolist() == [2]


def test_same_contract_gives_the_same_bytes(tmp_path):
    first = template.write_templates(tmp_path / "a", CITY)
    second = template.write_templates(tmp_path / "b", CITY)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    with zipfile.ZipFile(first[0]) as z:  # not today's date, which would change every run
        assert template.CREATED.strftime("%Y-%m-%dT%H:%M:%SZ") in z.read("docProps/core.xml").decode()


EXTRA = Column("extra_metric", "新增指标", "int", "个", min_value=0, doc="Added in a test.")
EXTRA_LIST = Column("extra_stage", "新增阶段", "text", code_list="stage", doc="Added in a test.")


def test_a_changed_contract_changes_the_templates(tmp_path):
    parks = replace(PARKS, columns=PARKS.columns + (EXTRA, EXTRA_LIST))
    xlsx = template.write_templates(tmp_path, sheets=[parks, TRADE])[0]
    wb = python_calamine.CalamineWorkbook.from_path(str(xlsx))
    assert wb.sheet_names == [template.GUIDE_SHEET, PARKS.sheet_name, template.CODES_SHEET]
    assert wb.get_sheet_by_name(PARKS.sheet_name).to_python()[0][-2:] == ["新增指标（个）", "新增阶段"]
    assert "新增指标（个）" in guide_text(xlsx)
    dvs = validations(xlsx, PARKS.sheet_name)
    letter = xl_col_to_name(len(parks.columns) - 1)
    assert dropdown_values(xlsx, dvs[letter][0]) == list(contract.STAGES)


def test_default_sheets_are_read_from_the_contract_at_call_time(tmp_path, monkeypatch):
    parks = replace(PARKS, columns=PARKS.columns + (EXTRA,))
    monkeypatch.setattr(contract, "SHEETS", (parks, TRADE))
    xlsx = template.write_templates(tmp_path)[0]
    headers = python_calamine.CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_name(
        PARKS.sheet_name).to_python()[0]
    assert headers[-1] == "新增指标（个）"
