"""Writing the sample files: the city-month workbooks (xlsx) and trade CSVs, byte for byte reproducible.

The content is built first as Python values (:class:`WorkbookContent`, :class:`TradeTable`) so
that planted mistakes can be applied to it before anything is written.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import xlsxwriter

from core.periods import parse_period
from ingestion.contract import PARKS, PROJECTS, SERVICES, TRADE, Sheet
from samples.entities import park_rows
from samples.projects import Project, ledger_rows
from samples.trade import PARTNER_CODES, EnterprisePool, TradeRows, hs_codes, services_rows

# Cities whose trade CSV comes out of an old Windows export: GBK, no BOM.
GBK_CITIES = ("430500", "431200")
CSV_EOL = "\r\n"


def city_file(city: str, period: str, kind: str) -> str:
    """Where a city's ``workbook`` or ``trade`` file of a month goes, relative to the output folder."""
    stem = period.replace("-", "")
    return f"{city}/{city}_{stem}.xlsx" if kind == "workbook" else f"{city}/trade_{city}_{stem}.csv"


# --- workbooks (xlsx) ---------------------------------------------------------------------
def _fixed_datetime(period: str) -> datetime:
    """The first of the month: the workbook's creation date, fixed so the bytes are too."""
    p = parse_period(period)
    return datetime(p.year, p.month, 1)


def _write_sheet(wb: xlsxwriter.Workbook, sheet: Sheet, rows: list[dict],
                 headers: dict[str, str] | None = None) -> None:
    ws = wb.add_worksheet(sheet.sheet_name)
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for j, col in enumerate(sheet.columns):
        text = (headers or {}).get(col.name, col.header)
        ws.write_string(0, j, text, head)
        ws.set_column(j, j, max(12, len(text) * 2))
    for i, row in enumerate(rows, start=1):
        for j, col in enumerate(sheet.columns):
            value = row.get(col.name)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                ws.write_string(i, j, value)
            elif isinstance(value, date):
                ws.write_datetime(i, j, datetime(value.year, value.month, value.day), date_fmt)
            else:
                ws.write_number(i, j, value)


@dataclass
class WorkbookContent:
    """The sheets of one city-month workbook as rows of Python values."""

    city: str
    period: str
    sheets: dict[str, list[dict]]  # contract sheet name -> rows (insertion order = sheet order)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet -> column -> header text


SHEET_BY_NAME = {s.name: s for s in (PROJECTS, PARKS, SERVICES)}


def workbook_content(city: str, period: str, seed: int = 42, scale: float = 1.0,
                     projects: tuple[Project, ...] | None = None) -> WorkbookContent:
    """The clean sheets of a city's workbook for ``period`` (服务贸易 only in quarter-end months)."""
    sheets = {
        PROJECTS.name: ledger_rows(city, period, seed, scale, projects),
        PARKS.name: park_rows(city, period, seed),
    }
    if SERVICES.due_in(parse_period(period).month):
        sheets[SERVICES.name] = services_rows(city, period, seed)
    return WorkbookContent(city, period, sheets)


def write_content(path: Path, content: WorkbookContent, title: str | None = None) -> Path:
    # Fixed document dates: the same arguments give the same bytes (and sha256).
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"created": _fixed_datetime(content.period), "author": "openecon sample",
                       "title": title or path.stem})
    for name, rows in content.sheets.items():
        _write_sheet(wb, SHEET_BY_NAME[name], rows, content.headers.get(name))
    wb.close()
    return path


def write_workbook(path: Path, city_code: str, period: str, seed: int, scale: float = 1.0) -> Path:
    """Write the clean workbook of one city and month."""
    return write_content(path, workbook_content(city_code, period, seed, scale))


# --- trade CSVs ----------------------------------------------------------------------------
@dataclass
class TradeTable:
    """Text columns of a trade file ready to write, with room for planted overrides."""

    rows: TradeRows
    pool: EnterprisePool
    overrides: dict[tuple[str, int], str] = field(default_factory=dict)  # (column name, index) -> text

    def text(self, column: str, i: int) -> str:
        if (column, i) in self.overrides:
            return self.overrides[(column, i)]
        r = self.rows
        return {
            "enterprise_code": lambda: self.pool.codes[r.enterprise[i]],
            "enterprise_name": lambda: self.pool.names[r.enterprise[i]],
            "hs_code": lambda: hs_codes()[r.hs[i]],
            "trade_mode": lambda: ("一般贸易", "加工贸易", "其他")[r.mode[i]],
            "partner_country": lambda: PARTNER_CODES[r.partner[i]],
            "direction": lambda: ("出口", "进口")[r.direction[i]],
        }[column]()

    def arrow(self) -> pa.Table:
        r = self.rows
        sources = {
            "enterprise_code": (self.pool.codes, r.enterprise), "enterprise_name": (self.pool.names, r.enterprise),
            "hs_code": (hs_codes(), r.hs), "trade_mode": (("一般贸易", "加工贸易", "其他"), r.mode),
            "partner_country": (PARTNER_CODES, r.partner), "direction": (("出口", "进口"), r.direction),
        }
        arrays = {}
        for name, (values, idx) in sources.items():
            values, idx = list(values), idx.copy()
            for (col, i), text in sorted(self.overrides.items()):
                if col == name:
                    values.append(text)
                    idx[i] = len(values) - 1
            arrays[name] = pc.take(pa.array(values, pa.string()), pa.array(idx))
        arrays["amount_usd"] = pa.array(r.usd)
        whole = pc.cast(pa.array(r.fen // 100), pa.string())
        cents = pc.utf8_lpad(pc.cast(pa.array(r.fen % 100), pa.string()), width=2, padding="0")
        arrays["amount_cny"] = pc.binary_join_element_wise(whole, cents, ".")
        return pa.table([arrays[c.name] for c in TRADE.columns], names=[c.name for c in TRADE.columns])


def write_trade_csv(path: Path, table: TradeTable, city: str) -> Path:
    """Write a trade CSV: CRLF lines, UTF-8 with BOM, or GBK without BOM for :data:`GBK_CITIES`."""
    buf = io.BytesIO()
    pacsv.write_csv(table.arrow(), buf, pacsv.WriteOptions(include_header=False, quoting_style="none",
                                                           eol=CSV_EOL))
    header = ",".join(c.header for c in TRADE.columns) + CSV_EOL
    body = buf.getvalue()
    if city in GBK_CITIES:
        data = header.encode("gbk") + body.decode("utf-8").encode("gbk")
    else:
        data = b"\xef\xbb\xbf" + header.encode("utf-8") + body
    path.write_bytes(data)
    return path
