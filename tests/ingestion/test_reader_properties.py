"""Property-based tests (hypothesis) of the readers (issue 13): random mixes of clerks' habits
never raise, never load a value different from the one written, and row numbers on receipts
always point at the row in the file the clerk opens, embedded newlines in quoted fields included.

Each file is built here record by record (a CSV) or row by row (a workbook) from the values
meant, and the expectations come from how it was built, never from the code under test: the
clerk's row of CSV record i is i + 1 (Excel and WPS show one row per record, a quoted line break
included, and blank lines as rows); a workbook's rows are its Excel rows. The USCC check digit,
thousands grouping and full-width forms are written independently of the validators.

No database: the trade CSV is streamed into an in-memory sink standing in for the COPY, whose
CSV is parsed back with the csv module. A defect found on the way (a GBK sequence cut short at
the very end of the file lost the bytes after it) is pinned by its own example.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import reference
from core.settings import Settings
from ingestion.contract import CURRENCIES, DIRECTIONS, FORTUNE500, PROJECTS, STAGES, TRADE, TRADE_MODES
from ingestion.issues import HEADER_SEARCH_ROWS
from ingestion.readers import open_workbook, read_sheet
from ingestion.trade import stream_trade
from ingestion.validate import validate

CITY = "430100"
PERIOD = "2025-09"
CSV_NAME = f"trade_{CITY}_202509.csv"
BOOK_NAME = f"{CITY}_202509.xlsx"
SETTINGS = Settings()
HEADER_OF = {c.name: c.header for c in TRADE.columns}
PROPS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                   HealthCheck.large_base_example])

NAME_CHARS = st.characters(categories=["Lo", "Lu", "Ll", "Nd"])  # no spaces, marks or symbols
SPACES = st.sampled_from(["", "", " ", "  ", "\u3000"])
CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)]
MAX_NAME = TRADE.column("enterprise_name").max_length
assert MAX_NAME == PROJECTS.column("project_name").max_length == PROJECTS.column("investor").max_length
TOO_LONG = st.sampled_from([MAX_NAME + 1, MAX_NAME + 1, MAX_NAME + 2, MAX_NAME + 40])
NOT_NUMBERS = ["1,5", "12,34", "1,2345", "1.234,5", "1 234", "1e5", "12元", "1.", ",123"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for every example (hypothesis and function-scoped tmp_path do not mix)."""
    return tmp_path_factory.mktemp("reader_properties")


# --- clerks' ways of writing a value (independent of the validators) ------------------------
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, Z, S, V
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]  # W_i = 3^(i-1) mod 31


def base31(n: int) -> str:
    """The first 17 characters of a code: ``n`` in base 31, in the code's alphabet."""
    digits = []
    for _ in range(17):
        n, d = divmod(n, 31)
        digits.append(USCC_ALPHABET[d])
    return "".join(reversed(digits))


def uscc_check(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def full_width(text: str) -> str:
    """ASCII letters, digits and punctuation as their full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def grouped(plain: str) -> str:
    """'1234567.50' -> '1,234,567.50'."""
    whole, dot, frac = plain.partition(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return ",".join([whole, *groups]) + dot + frac


@st.composite
def written_amount(draw, value: Decimal) -> str:
    """An amount as a clerk types it: plain, trimmed of zeros, grouped, full-width, signed, padded."""
    plain = format(value, "f")
    short = plain.rstrip("0").rstrip(".") if "." in plain else plain
    base = draw(st.sampled_from([plain, short or "0"]))
    text = draw(st.sampled_from([base, grouped(base), full_width(base), full_width(grouped(base)), "+" + base]))
    return draw(SPACES) + text + draw(SPACES)


@st.composite
def written_code(draw, code: str) -> str:
    return draw(SPACES) + (full_width(code) if draw(st.booleans()) else code) + draw(SPACES)


@st.composite
def name(draw) -> str:
    """A free-text name; sometimes with a comma, a quote or a space inside (quoting needed), or
    exactly as long as a value may be."""
    if draw(st.integers(0, 15)) == 0:
        return "名" * (MAX_NAME - 1) + draw(NAME_CHARS)
    text = draw(st.text(NAME_CHARS, min_size=1, max_size=12))
    if len(text) > 1 and draw(st.booleans()):
        k = draw(st.integers(1, len(text) - 1))
        text = text[:k] + draw(st.sampled_from([",", '"', "，", " ", "、", '""'])) + text[k:]
    return text


def inside(draw, core: str, ch: str) -> str:
    """``ch`` strictly inside ``core`` (trimming a value must not remove it)."""
    if len(core) < 2:
        return core + ch + core
    k = draw(st.integers(1, len(core) - 1))
    return core[:k] + ch + core[k:]


# --- the trade CSV ------------------------------------------------------------------------
ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "utf-16-le", "utf-16-be"]
BOMS = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}
# A character the encoder turns into bytes that are not text in the file's encoding:
# surrogateescape writes U+DC80+b as the byte b; surrogatepass writes a lone UTF-16 surrogate.
BAD_BYTES = {"utf-8": ["\udcff", "\udc80", "\udcc3"], "utf-8-sig": ["\udcff", "\udce5"],
             "gb18030": ["\udcff", "\udc80"], "utf-16-le": ["\udc00"], "utf-16-be": ["\udfff"]}
TITLES = [["湖南省外贸进出口明细（2025年9月）"], ["填报单位：长沙市商务局", "", ""],
          ["多行\n标题（单位：美元、人民币元）"], ["制表日期", "2025-10-05"]]
COUNTRIES = sorted(reference.countries())
TRADE_FAULTS = ["control_character", "invalid_encoding", "line_break", "too_long", "not_a_number", "uscc_check",
                "pattern"]


@dataclass
class CsvFile:
    data: bytes
    header_row: int
    good: dict[int, dict] = field(default_factory=dict)  # row -> values meant
    faults: list[tuple[int, str, str]] = field(default_factory=list)  # (row, column header, rule)
    named_extra: bool = False  # an extra column with a header: a warning at the header row
    habits: dict = field(default_factory=dict)  # how the file was written, for the failure report


GAP = st.sampled_from([0, 0, 0, 0, 1, 1, 2])  # blank records between two records
NAME_PAD = st.sampled_from(["", " ", "\u3000", "\n", "\r\n", " \n "])
HEADER_PAD = st.sampled_from(["", " ", "\n"])
OPEN_PAREN = st.sampled_from(["(", " （", "\n（"])
CLOSE_PAREN = st.sampled_from(["）", ")"])
INNER_BREAK = st.sampled_from(["\n", "\r\n", "\r", "\t"])
CUT_GBK = st.sampled_from(["\udc81", "\udc810", "\udcfe"])  # a lead byte before a delimiter or quote
TRADE_KEYS = st.sampled_from([c.name for c in TRADE.columns])
AMOUNT_KEYS = st.sampled_from(["amount_usd", "amount_cny"])
FAULT = st.sampled_from([None] * 5 + TRADE_FAULTS)
NOTE = st.sampled_from(["", "备注文字", "含,逗号", "有\n换行"])
BLANK_KINDS = st.sampled_from(["empty", "delimiters", "spaces", "space cells", "note"])


@st.composite
def trade_values(draw) -> dict:
    """One valid trade row, as meant."""
    body = base31(draw(st.integers(0, 31**17 - 1)))
    return {
        "enterprise_code": body + uscc_check(body),
        "enterprise_name": draw(name()),
        "hs_code": f"{draw(st.integers(0, 10**8 - 1)):08d}",
        "trade_mode": draw(st.sampled_from(TRADE_MODES)),
        "partner_country": draw(st.sampled_from(COUNTRIES)),
        "direction": draw(st.sampled_from(DIRECTIONS)),
        "amount_usd": Decimal(draw(st.integers(0, 10**11))).scaleb(-2),
        "amount_cny": Decimal(draw(st.integers(0, 10**12))).scaleb(-2),
    }


def written_trade(draw, meant: dict, fault: str | None, encoding: str) -> tuple[dict, str | None]:
    """(cells as written, the column the fault is in) of one row."""
    cells = {}
    for key, value in meant.items():
        if key.startswith("amount"):
            cells[key] = draw(written_amount(value))
        elif key == "enterprise_name":
            cells[key] = draw(NAME_PAD) + value + draw(NAME_PAD)
        elif key in ("enterprise_code", "hs_code", "partner_country"):
            cells[key] = draw(written_code(value))
        else:
            cells[key] = draw(SPACES) + value + draw(SPACES)
    column = None
    if fault == "control_character":
        column = draw(TRADE_KEYS)
        cells[column] = inside(draw, str(meant[column]), draw(st.sampled_from(CONTROL)))
    elif fault == "invalid_encoding":
        column = draw(TRADE_KEYS)
        cells[column] = inside(draw, str(meant[column]), draw(st.sampled_from(BAD_BYTES[encoding])))
        if encoding == "gb18030" and draw(st.booleans()):  # a GBK sequence cut short at the end of the cell
            cells[column] = str(meant[column]) + draw(CUT_GBK)
    elif fault == "line_break":
        column = "enterprise_name"
        cells[column] = draw(SPACES) + inside(draw, meant[column], draw(INNER_BREAK))
    elif fault == "too_long":
        column = "enterprise_name"
        n, chars = draw(TOO_LONG), draw(st.sampled_from(["湖南长沙贸易有限公司Ab1", "Trading Co 1"]))
        cells[column] = "T" + draw(st.text(st.sampled_from(chars), min_size=n - 2, max_size=n - 2)) + "d"
    elif fault == "not_a_number":
        column = draw(AMOUNT_KEYS)
        cells[column] = draw(SPACES) + draw(st.sampled_from(NOT_NUMBERS))
    elif fault == "uscc_check":
        column = "enterprise_code"
        code = meant[column]
        cells[column] = code[:17] + USCC_ALPHABET[(USCC_ALPHABET.index(code[17]) + draw(st.integers(1, 30))) % 31]
    elif fault == "pattern":
        column = "hs_code"
        cells[column] = draw(st.sampled_from([meant[column][:6], meant[column] + "1", "8429.52"]))
    return cells, column


@st.composite
def trade_file(draw) -> CsvFile:
    encoding = draw(st.sampled_from(ENCODINGS))
    delimiter = draw(st.sampled_from([",", ",", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quote_all = draw(st.booleans())
    order = draw(st.permutations([c.name for c in TRADE.columns]))
    extra = draw(st.sampled_from([None, None, "备注", ""]))  # "": a column without a header
    if extra is not None:
        order.insert(draw(st.integers(0, len(order))), "extra")
    ncols = len(order)

    def header_cell(key: str) -> str:
        if key == "extra":
            return extra
        label = HEADER_OF[key]
        if "（" in label and draw(st.booleans()):
            label = label.replace("（", draw(OPEN_PAREN)).replace("）", draw(CLOSE_PAREN))
        return draw(SPACES) + label + draw(HEADER_PAD)

    records: list = []  # a list of cells, written as CSV, or a raw line written as it is

    def blanks() -> None:
        """Records a clerk sees as empty rows: an empty line, only delimiters, only spaces, or
        (the template's columns all empty) only a note in the extra column."""
        for _ in range(draw(GAP)):
            kind = draw(BLANK_KINDS)
            records.append({"empty": "", "delimiters": delimiter * (ncols - 1), "spaces": "   ",
                            "space cells": [" "] * ncols,
                            "note": ["备注：本行无数据" if k == "extra" else "" for k in order]}[kind])

    blanks()
    for title in draw(st.lists(st.sampled_from(TITLES), max_size=3)):
        records.append(title)
        blanks()
    del records[: len(records) - (HEADER_SEARCH_ROWS - 1)]  # the header is looked for in the first rows only
    records.append([header_cell(k) for k in order])
    header_row = len(records)
    built = CsvFile(b"", header_row, named_extra=bool(extra))
    n_bad_bytes = 0
    for _ in range(draw(st.integers(1, 12))):
        blanks()
        meant = draw(trade_values())
        fault = draw(FAULT)
        if fault == "invalid_encoding":
            n_bad_bytes += 1
            if n_bad_bytes > 2:  # a few bad bytes reject rows; many would make the file not this encoding
                fault = None
        cells, column = written_trade(draw, meant, fault, encoding)
        cells["extra"] = draw(NOTE)
        records.append([cells[k] for k in order])
        row = len(records)
        if column is None:
            built.good[row] = meant
        else:
            built.faults.append((row, HEADER_OF[column], fault))
    blanks()

    def cell(value: str) -> str:
        if quote_all or any(c in value for c in (delimiter, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [r if isinstance(r, str) else delimiter.join(map(cell, r)) for r in records]
    text = newline.join(lines)
    if not lines[-1] or draw(st.booleans()):  # without the last line break only when no record is lost
        text += newline
    errors = "surrogatepass" if encoding.startswith("utf-16") else "surrogateescape"
    built.data = BOMS.get(encoding, b"") + text.encode(encoding, errors)
    built.habits = dict(encoding=encoding, delimiter=delimiter, newline=newline, quote_all=quote_all,
                        order=order, records=records)
    return built


class Sink:
    """Stands in for the COPY: keeps what would have been sent to Postgres."""

    def __init__(self):
        self.data = bytearray()

    def write(self, chunk) -> None:
        self.data += chunk


@settings(max_examples=200, **PROPS)
@given(built=trade_file())
def test_trade_csv_loads_the_values_written_and_names_each_fault_at_the_clerks_row(folder, built):
    check_csv(folder, built)


def check_csv(folder, built: CsvFile) -> None:
    """stream_trade never raises on ``built``, sends every good row once with the values meant and
    no faulty row, names each fault at its row with the rule injected, and counts consistently."""
    path = folder / CSV_NAME
    path.write_bytes(built.data)
    sink = Sink()
    result = stream_trade(path, 7, sink, SETTINGS)  # never raises: no file here is to be refused

    text = bytes(sink.data).decode("utf-8")  # strict: never invalid UTF-8, never a NUL
    assert "\x00" not in text
    sent = list(csv.reader(io.StringIO(text)))
    assert all(len(r) == 2 + len(TRADE.columns) and r[0] == "7" for r in sent)
    rows = Counter(int(r[1]) for r in sent)
    assert [r for r, k in rows.items() if k > 1] == []  # every good row exactly once
    assert sorted(rows) == sorted(built.good)  # and no faulty row
    for r in sent:
        got, meant = dict(zip((c.name for c in TRADE.columns), r[2:])), built.good[int(r[1])]
        for key, value in meant.items():
            if key.startswith("amount"):
                assert Decimal(got[key]) == value, (r[1], key, got[key], value)
            else:
                assert got[key] == value, (r[1], key, got[key], value)

    row_issues = sorted((i.row, i.column, i.rule) for i in result.issues if i.level == "row")
    assert row_issues == sorted(built.faults)
    warnings = [(i.row, i.rule) for i in result.issues if i.level == "warning"]
    assert warnings == ([(built.header_row, "extra_column")] if built.named_extra else [])
    assert all(i.file == CSV_NAME for i in result.issues)
    assert (result.rows_total, result.rows_loaded, result.bad_rows) == (
        len(built.good) + len(built.faults), len(built.good), len(built.faults))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Arrow's handler on bad bytes
def test_a_gbk_sequence_cut_short_at_the_very_end_of_the_file_rejects_only_its_row(folder):
    order = [c.name for c in TRADE.columns if c.name != "enterprise_name"] + ["enterprise_name"]
    rows = [{**fixed_trade_values(n), "enterprise_name": firm} for n, firm in ((1, "株洲贸易"), (2, "长沙\udc810"))]
    lines = [",".join([*(HEADER_OF[k] for k in order), "备注"]),
             *(",".join([*(str(r[k]) for k in order), ""]) for r in rows)]  # the note column left empty
    data = "\r\n".join(lines).encode("gb18030", "surrogateescape")  # no line break after the last record
    built = CsvFile(data, header_row=1, good={2: rows[0]}, faults=[(3, "企业名称", "invalid_encoding")],
                    named_extra=True)
    check_csv(folder, built)


def fixed_trade_values(n: int) -> dict:
    body = base31(n * 7919)
    return {"enterprise_code": body + uscc_check(body), "enterprise_name": f"测试贸易{n}", "hs_code": "84295200",
            "trade_mode": "一般贸易", "partner_country": "US", "direction": "出口",
            "amount_usd": Decimal("1000.50"), "amount_cny": Decimal("7103.55")}


# --- the workbook (项目台账) ----------------------------------------------------------------
PROVINCES = reference.provinces()
FOREIGN = [c for c in ("US", "DE", "JP", "SG", "GB") if c in reference.countries() and c not in PROVINCES]
ORIGINS = [(code, p["source_region"]) for code, p in sorted(PROVINCES.items())] + [(c, "境外") for c in FOREIGN]
COUNTIES = sorted(reference.counties_by_city()[CITY])
PARKS = [p["park_code"] for p in reference.parks_by_city()[CITY]]
CHAINS = reference.industry_chains()
DATES = ("signed_date", "registered_date", "started_date", "production_date")
LAST_DAY = dt.date(2025, 9, 30)
EXCEL_EPOCH = dt.date(1899, 12, 30)
LEDGER_FAULTS = ["control_character", "line_break", "too_long", "not_a_number"]
LEDGER_FAULT = st.sampled_from([None] * 4 + LEDGER_FAULTS)
CELL_PAD = st.sampled_from(["", " ", "\u3000", "\n", " \n", "\t"])
DATE_WAYS = st.sampled_from(["date", "datetime", "serial", "iso", "slash", "zh", "full"])
TEXT_KEYS = st.sampled_from(["project_name", "investor"])
LEDGER_AMOUNT_KEYS = st.sampled_from(["contract_amount", "paid_in_cumulative"])


@st.composite
def project(draw, n: int) -> dict:
    """A valid project, as meant: dates as the stage requires them, in order, before the period ends."""
    stage = draw(st.sampled_from(STAGES))
    reached = STAGES.index(stage) if stage != "终止" else draw(st.integers(0, len(DATES)))
    days = sorted(draw(st.lists(st.integers(0, (LAST_DAY - dt.date(2018, 1, 1)).days),
                                min_size=reached, max_size=reached)))
    dates = [dt.date(2018, 1, 1) + dt.timedelta(d) for d in days] + [None] * (len(DATES) - reached)
    origin, region = draw(st.sampled_from(ORIGINS))
    row = {
        "project_id": f"{CITY}-2025-{n:04d}", "project_name": draw(name()),
        "county_code": draw(st.sampled_from(COUNTIES)), "park_code": draw(st.sampled_from([None, *PARKS])),
        "industry_chain": draw(st.sampled_from(CHAINS)), "investor": draw(name()),
        "investor_origin": origin, "source_region": region,
        "fortune500": draw(st.sampled_from(FORTUNE500)), "currency": draw(st.sampled_from(CURRENCIES)),
        "contract_amount": Decimal(draw(st.integers(1, 10**10))).scaleb(-2), "stage": stage,
        "paid_in_cumulative": Decimal(draw(st.integers(0, 10**10))).scaleb(-2),
        "land_area_mu": draw(st.one_of(st.none(), st.integers(0, 10**7).map(lambda x: Decimal(x).scaleb(-2)))),
    }
    row.update(zip(DATES, dates))
    return row


@dataclass
class Cell:
    """A cell as written: ``kind`` is how (string, number, date, datetime or blank)."""

    kind: str
    value: object = None


EMPTY_CELLS = st.sampled_from([Cell("blank"), Cell("string", ""), Cell("string", " ")])


@st.composite
def written_cell(draw, key: str, value) -> Cell:
    col = PROJECTS.column(key)
    if value is None:
        return draw(EMPTY_CELLS)
    if col.dtype == "numeric":
        if draw(st.booleans()):
            return Cell("number", float(value))
        return Cell("string", draw(written_amount(value)))
    if col.dtype == "date":
        way = draw(DATE_WAYS)
        if way in ("date", "datetime"):
            return Cell(way, dt.datetime(value.year, value.month, value.day))
        if way == "serial":  # a date typed as its Excel number: accepted, with a warning
            return Cell("number", (value - EXCEL_EPOCH).days)
        return Cell("string", {"iso": value.isoformat(), "slash": f"{value.year}/{value.month}/{value.day}",
                               "zh": f"{value.year}年{value.month}月{value.day}日",
                               "full": full_width(value.isoformat())}[way])
    if col.free_text:
        return Cell("string", draw(CELL_PAD) + value + draw(CELL_PAD))
    if value.isdigit() and draw(st.booleans()):  # 430102 typed as a number: Excel keeps it as one
        return Cell("number", int(value))
    return Cell("string", draw(written_code(value)))


@dataclass
class Ledger:
    cells: dict[tuple[int, int], Cell]  # (Excel row - 1, column index) -> cell
    header_row: int
    good: dict[int, dict] = field(default_factory=dict)
    faults: list[tuple[int, str, str]] = field(default_factory=list)
    serials: list[tuple[int, str]] = field(default_factory=list)  # dates typed as numbers: warnings
    named_extra: bool = False


@st.composite
def ledger(draw) -> Ledger:
    first_col = draw(st.integers(0, 2))
    order = draw(st.permutations([c.name for c in PROJECTS.columns]))
    extra = draw(st.sampled_from([None, None, "备注", "联系人"]))
    if extra:
        order.insert(draw(st.integers(0, len(order))), "extra")
    cells: dict[tuple[int, int], Cell] = {}
    at = {k: first_col + j for j, k in enumerate(order)}
    r = 0
    for _ in range(draw(st.integers(0, 3))):  # title rows, or rows left empty, above the header
        if draw(st.booleans()):
            cells[r, draw(st.sampled_from([0, first_col]))] = Cell("string", "长沙市招商引资项目台账（2025年9月）")
        r += 1
    for k in order:
        header = extra if k == "extra" else PROJECTS.column(k).header
        if "（" in header and draw(st.booleans()):
            header = header.replace("（", draw(OPEN_PAREN)).replace("）", draw(CLOSE_PAREN))
        cells[r, at[k]] = Cell("string", draw(SPACES) + header + draw(HEADER_PAD))
    r += 1
    book = Ledger(cells, header_row=r, named_extra=bool(extra))
    for n in range(1, draw(st.integers(1, 10)) + 1):
        for _ in range(draw(GAP)):  # a row left empty, or holding only spaces or a note
            way = draw(st.sampled_from(["empty", "spaces", "note"] if extra else ["empty", "spaces"]))
            if way == "spaces":
                cells[r, at[draw(st.sampled_from(order))]] = Cell("string", "  ")
            elif way == "note":
                cells[r, at["extra"]] = Cell("string", "本行无数据")
            r += 1
        meant = draw(project(n))
        written = {k: draw(written_cell(k, v)) for k, v in meant.items()}
        fault = draw(LEDGER_FAULT)
        column = None
        if fault == "control_character":
            column = draw(TEXT_KEYS)
            written[column] = Cell("string", inside(draw, meant[column], draw(st.sampled_from(CONTROL))))
        elif fault == "line_break":
            column = "project_name"
            written[column] = Cell("string", inside(draw, meant[column], draw(INNER_BREAK)))
        elif fault == "too_long":
            column = draw(TEXT_KEYS)
            written[column] = Cell("string", "项" * draw(TOO_LONG))
        elif fault == "not_a_number":
            column = draw(LEDGER_AMOUNT_KEYS)
            written[column] = Cell("string", draw(st.sampled_from(NOT_NUMBERS)))
        if extra:
            written["extra"] = Cell("string", draw(st.sampled_from(["", "张三", "备注文字"])))
        for k, c in written.items():
            cells[r, at[k]] = c
        r += 1
        book.serials += [(r, PROJECTS.column(k).header) for k in DATES
                         if written[k].kind == "number" and k != column]
        if column is None:
            book.good[r] = meant
        else:
            book.faults.append((r, PROJECTS.column(column).header, fault))
    return book


def write_ledger(path, book: Ledger) -> None:
    wb = xlsxwriter.Workbook(str(path))
    formats = {"date": wb.add_format({"num_format": "yyyy-mm-dd"}),
               "datetime": wb.add_format({"num_format": "yyyy/m/d h:mm"})}
    ws = wb.add_worksheet(PROJECTS.sheet_name)
    for (r, c), cell in book.cells.items():
        if cell.kind == "string":
            ws.write_string(r, c, cell.value)
        elif cell.kind == "number":
            ws.write_number(r, c, cell.value)
        elif cell.kind in formats:
            ws.write_datetime(r, c, cell.value, formats[cell.kind])
    wb.close()


def loaded(good: pd.DataFrame) -> dict[int, dict]:
    """The typed good rows by row number, missing values as None, numbers as Decimal."""
    out = {}
    for rec in good.to_dict("records"):
        row = {k: None if v is None or v is pd.NaT or (not isinstance(v, dt.date) and pd.isna(v)) else v
               for k, v in rec.items()}
        for c in PROJECTS.columns:
            if c.dtype == "numeric" and row[c.name] is not None:
                row[c.name] = Decimal(repr(float(row[c.name])))
        out[int(row.pop("row_number"))] = row
    return out


def meant_as_loaded(meant: dict) -> dict:
    """Amounts as the nearest double (what a float column can hold), compared as decimals."""
    return {k: Decimal(repr(float(v))) if isinstance(v, Decimal) else v for k, v in meant.items()}


@settings(max_examples=40, **PROPS)
@given(book=ledger())
def test_workbook_loads_the_values_written_and_names_each_fault_at_its_excel_row(folder, book):
    check_ledger(folder, book)


def check_ledger(folder, book: Ledger) -> None:
    """open_workbook + read_sheet + validate load the values meant at their Excel rows and name each
    fault, each date typed as a number and the extra column at theirs."""
    path = folder / BOOK_NAME
    write_ledger(path, book)
    with open_workbook(path, SETTINGS) as wb:
        frame, warnings = read_sheet(wb, PROJECTS, BOOK_NAME)
    assert frame["row_number"].tolist() == sorted([*book.good, *(r for r, _, _ in book.faults)])
    good, issues = validate(frame, PROJECTS, BOOK_NAME, CITY, PERIOD)

    assert loaded(good) == {r: meant_as_loaded(m) for r, m in book.good.items()}
    assert sorted((i.row, i.column, i.rule) for i in issues if i.level == "row") == sorted(book.faults)
    assert sorted((i.row, i.column) for i in issues if i.rule == "excel_serial_date") == sorted(book.serials)
    assert {i.rule for i in issues if i.level == "warning"} <= {"excel_serial_date"}
    assert [(w.row, w.rule, w.level) for w in warnings] == (
        [(book.header_row, "extra_column", "warning")] if book.named_extra else [])
