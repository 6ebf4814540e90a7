"""Hostile, malformed and oddly-typed submissions, and a folder of them mixed with good ones.

The first half builds workbooks byte by byte.  A zip written by hand says exactly what its
directory claims (sizes, CRCs) and what its data holds, which no well-behaved writer would
produce: zip bombs, entries that lie about their size, sheets whose <dimension> lies, DOCTYPEs,
formulas saved without a value.  The intake tests use these writers directly.

The second half, :func:`write_hostile_folder`, is the acceptance of issue 13 as data: the
folder a new user might point ``openecon ingest`` at on the first day, every file a
:class:`HostileCase` saying what it is and which receipt it must get.  Good files come from the
sample generator itself (:mod:`samples.workbooks`), so "good" means what the samples mean;
each odd one changes one thing, so a wrong receipt names the habit or attack that caused it.
Each case has a city, period and kind of its own unless it is meant to meet another file
(a duplicate, a correction, the same bytes under another name); corrections sit in
``resubmissions/``, which sorts after the city folders, so they are ingested after what they
correct.  tests/e2e/test_hostile_folder.py and benchmarks/bench_intake.py run it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import random
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import xlsxwriter

from core.settings import Settings
from ingestion.contract import PARKS, PROJECTS, SERVICES, TRADE, Column, Sheet
from samples.trade import TradeRows, enterprise_pool, trade_file_rows
from samples.workbooks import CSV_EOL, TradeTable, WorkbookContent, workbook_content, write_content, write_trade_csv

# --- zips and workbooks built byte by byte --------------------------------------------------------
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_DECL = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


@dataclass
class Part:
    """One zip entry.  ``data`` is deflated by write_zip; ``raw`` is a ready deflate stream with
    its true ``crc`` and ``size``.  ``declared_size`` / ``declared_crc`` override what the
    directory claims (default: the truth)."""

    name: str
    data: bytes | None = None
    raw: bytes | None = None
    crc: int | None = None
    size: int | None = None
    declared_size: int | None = None
    declared_crc: int | None = None
    stored: bool = False


def write_zip(path: Path, parts: Iterable[Part]) -> Path:
    """Local headers, data, central directory and end record, as the parts say."""
    out = io.BytesIO()
    central = []
    for part in parts:
        if part.raw is not None:
            data, crc, size, method = part.raw, part.crc, part.size, 8
        elif part.stored:
            data, crc, size, method = part.data, zlib.crc32(part.data), len(part.data), 0
        else:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = c.compress(part.data) + c.flush()
            crc, size, method = zlib.crc32(part.data), len(part.data), 8
        size = part.declared_size if part.declared_size is not None else size
        crc = part.declared_crc if part.declared_crc is not None else crc
        name = part.name.encode()
        offset = out.tell()
        out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0x800, method, 0, 0x21, crc,
                              len(data), size, len(name), 0))
        out.write(name)
        out.write(data)
        central.append(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0x800, method, 0, 0x21, crc,
                                   len(data), size, len(name), 0, 0, 0, 0, 0, offset) + name)
    start = out.tell()
    for record in central:
        out.write(record)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(central), len(central), out.tell() - start, start, 0))
    path.write_bytes(out.getvalue())
    return path


def cell_ref(row: int, col: int) -> str:
    """(1, 1) -> 'A1'."""
    letters = ""
    while col:
        col, r = divmod(col - 1, 26)
        letters = chr(65 + r) + letters
    return f"{letters}{row}"


def sheet_xml(rows: Iterable[Iterable], dimension: str | None = None, after: bytes = b"",
              before: bytes = b"") -> bytes:
    """A worksheet part: text as inline strings, numbers as numbers, None as no cell."""
    body = []
    for r, values in enumerate(rows, start=1):
        cells = []
        for c, v in enumerate(values, start=1):
            ref = cell_ref(r, c)
            if v is None:
                continue
            if isinstance(v, str):
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{v}</v></c>')
        body.append(f'<row r="{r}">{"".join(cells)}</row>')
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (XML_DECL + before + f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{DOC_REL_NS}">{dim}<sheetData>'.encode()
            + "".join(body).encode() + b"</sheetData>" + after + b"</worksheet>")


def workbook_parts(sheets: dict[str, bytes | Part], workbook_extra: bytes = b"") -> list[Part]:
    """The parts of a minimal workbook holding ``sheets`` (name -> sheet XML or a ready Part)."""
    names = list(sheets)
    wb = (XML_DECL + f'<workbook xmlns="{MAIN_NS}" xmlns:r="{DOC_REL_NS}"><sheets>'.encode()
          + "".join(f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>'
                    for i, n in enumerate(names, start=1)).encode()
          + b"</sheets>" + workbook_extra + b"</workbook>")
    rels = (XML_DECL + f'<Relationships xmlns="{PKG_REL_NS}">'.encode()
            + "".join(f'<Relationship Id="rId{i}" Type="{DOC_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, len(names) + 1)).encode() + b"</Relationships>")
    root = (XML_DECL + f'<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{DOC_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'.encode())
    types = (XML_DECL + b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             b'<Default Extension="xml" ContentType="application/xml"/></Types>')
    parts = [Part("[Content_Types].xml", types), Part("_rels/.rels", root), Part("xl/workbook.xml", wb),
             Part("xl/_rels/workbook.xml.rels", rels)]
    for i, sheet in enumerate(sheets.values(), start=1):
        name = f"xl/worksheets/sheet{i}.xml"
        if isinstance(sheet, Part):
            sheet.name = name
            parts.append(sheet)
        else:
            parts.append(Part(name, sheet))
    return parts


def write_workbook(path: Path, sheets: dict[str, bytes | Part], extra: Iterable[Part] = (),
                   workbook_extra: bytes = b"") -> Path:
    return write_zip(path, [*workbook_parts(sheets, workbook_extra), *extra])


def deflate_repeated(head: bytes, unit: bytes, count: int, tail: bytes) -> tuple[bytes, int, int]:
    """``head + unit * count + tail`` as a raw deflate stream, without ever holding or compressing it
    whole: after a full flush the compressor's state is reset, so ``unit`` compresses to the same
    bytes every time and the stream is those bytes repeated.  Returns (stream, crc32, size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(unit) + c.flush(zlib.Z_FULL_FLUSH)
    last = c.compress(tail) + c.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(unit, crc)
    crc = zlib.crc32(tail, crc)
    return first + block * count + last, crc, len(head) + len(unit) * count + len(tail)


def bomb_sheet(gib: float = 1.0, declared_size: int | None = None) -> Part:
    """A sheet part of ``gib`` GiB of rows (no dimension, rows without r) from a few MB of deflate."""
    row = b"<row><c><v>1</v></c></row>"
    unit = row * ((1 << 20) // len(row))
    head = XML_DECL + f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode()
    raw, crc, size = deflate_repeated(head, unit, int(gib * 1024) + 1, b"</sheetData></worksheet>")
    return Part("", raw=raw, crc=crc, size=size, declared_size=declared_size)


def rewrite(src: Path, dst: Path, edit: dict[str, Callable[[bytes], bytes]] | None = None,
            drop: Iterable[str] = (), add: dict[str, bytes] | None = None) -> Path:
    """A copy of a real workbook with some parts edited, dropped or added (honest sizes)."""
    edit, drop = edit or {}, set(drop)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info.filename)
            if info.filename in edit:
                data = edit[info.filename](data)
            zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst


def ole2_file(path: Path, encrypted: bool = False) -> Path:
    """The first bytes of a Compound File (.xls); an encrypted .xlsx names an EncryptedPackage stream."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    body = b"\x00" * 2000 + ("EncryptedPackage".encode("utf-16-le") if encrypted else b"Workbook\x00") + b"\x00" * 500
    path.write_bytes(header + body)
    return path


# --- the folder a new user might send ------------------------------------------------------------
SEED = 42
PERIOD = "2025-09"  # a quarter-end month: the workbooks hold 服务贸易 too
WORKBOOK_SCALE = 0.05  # 30-80 ledger rows per city: small files with projects at every stage
TRADE_SCALE = 0.01  # the samples' scale the trade rows are taken from (doubled for a small city)
TRADE_ROWS = 20  # data rows of each small trade CSV: one bad row is 5%, under OPENECON_MAX_BAD_ROW_SHARE
RESUBMISSIONS = "resubmissions"  # sorts after the city folders (digits): corrections come after what they correct
MISC = "misc"
LEDGER = PROJECTS.sheet_name
SHEETS = {s.name: s for s in (PROJECTS, PARKS, SERVICES)}
TRADE_HEADER = [c.header for c in TRADE.columns]
TRADE_COL = {c.name: i for i, c in enumerate(TRADE.columns)}
CREATED = dt.datetime(2025, 10, 1)  # fixed document date: the same folder has the same bytes every time


@dataclass(frozen=True)
class Probe:
    """One value that must be in raw as the clerk meant it, however it was typed."""

    table: str  # raw.projects, raw.parks, raw.services_trade, raw.trade
    row: int  # the clerk's row number (the header is row 1 unless a title row is above it)
    column: str  # contract column name
    value: object  # float for numbers, datetime.date for dates, str for text


@dataclass(frozen=True)
class HostileCase:
    """One file of the folder and the receipt it must get."""

    file: str  # path relative to the folder
    what: str  # one line: what the file is
    status: str  # accepted | partial | rejected | duplicate | superseding
    rule: str | None = None  # the file-level issue's rule (rejected), the row issue's (partial), else None
    warnings: tuple[str, ...] = ()  # the warning rules the receipt carries, and no others
    loaded: dict[str, int] = field(default_factory=dict)  # raw table -> rows the file puts there, as built
    rows_rejected: int = 0  # rows planted bad (partial)
    probes: tuple[Probe, ...] = ()

    @property
    def name(self) -> str:
        return Path(self.file).name

    @property
    def stored_name(self) -> str:
        """The name as audit stores it and receipts print it: bytes that are not UTF-8 as \\xNN."""
        return os.fsencode(self.name).decode("utf-8", "backslashreplace")


def _stem(period: str) -> str:
    return period.replace("-", "")


def _workbook_file(city: str, period: str = PERIOD, folder: str | None = None) -> str:
    return f"{folder or city}/{city}_{_stem(period)}.xlsx"


def _trade_file(city: str, period: str = PERIOD, folder: str | None = None) -> str:
    return f"{folder or city}/trade_{city}_{_stem(period)}.csv"


def _at(out: Path, rel: str) -> Path:
    """``out / rel``, its folder made."""
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write(out: Path, rel: str, data: bytes) -> Path:
    path = _at(out, rel)
    path.write_bytes(data)
    return path


def _copy(out: Path, src: str, dst: str) -> None:
    shutil.copyfile(out / src, _at(out, dst))


# --- content: the samples' own rows ---------------------------------------------------------------
def _content(city: str, period: str = PERIOD) -> WorkbookContent:
    return workbook_content(city, period, SEED, WORKBOOK_SCALE)


def _loaded(content: WorkbookContent, bad: dict[str, int] | None = None) -> dict[str, int]:
    """Rows each sheet of ``content`` puts in raw: all it holds, less those planted bad."""
    return {SHEETS[name].raw_table: len(rows) - (bad or {}).get(name, 0) for name, rows in content.sheets.items()}


def _head(rows: TradeRows, n: int) -> TradeRows:
    return TradeRows(*(getattr(rows, f.name)[:n] for f in dataclasses.fields(TradeRows)))


def _trade_table(city: str, period: str = PERIOD, rows: int = TRADE_ROWS, scale: float = TRADE_SCALE) -> TradeTable:
    """The first ``rows`` rows of the samples' trade detail of the city and month."""
    full = trade_file_rows(city, period, SEED, scale)
    while len(full) < rows:  # a small city: a larger scale of the same month
        scale *= 2
        full = trade_file_rows(city, period, SEED, scale)
    return TradeTable(_head(full, rows), enterprise_pool(city, SEED))


def _trade_records(city: str, period: str = PERIOD, rows: int = TRADE_ROWS) -> list[list[str]]:
    """The samples' trade rows as the text of each contract column, in contract order."""
    columns = _trade_table(city, period, rows).arrow().to_pydict()
    return [[str(columns[c.name][i]) for c in TRADE.columns] for i in range(rows)]


def _quote(cell: str, delimiter: str) -> str:
    if any(ch in cell for ch in (delimiter, '"', "\r", "\n")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_bytes(records: Iterable[list[str | bytes]], encoding: str = "utf-8", bom: bytes = b"\xef\xbb\xbf",
              delimiter: str = ",") -> bytes:
    """A CSV as Excel writes it (CRLF, quotes only where needed); a ``bytes`` cell is written as it is,
    so a test can put bytes in it that are no text in any encoding."""
    out = bytearray(bom)
    for record in records:
        cells = [c if isinstance(c, bytes) else _quote(c, delimiter).encode(encoding) for c in record]
        out += delimiter.encode(encoding).join(cells) + CSV_EOL.encode(encoding)
    return bytes(out)


def _trade_probe(row: int, column: str, value: object) -> Probe:
    return Probe(TRADE.raw_table, row, column, value)


# --- workbooks written cell by cell ---------------------------------------------------------------
@dataclass(frozen=True)
class Formula:
    """A cell holding a formula saved with an empty cached value, as programs that never calculate save it."""

    text: str


def write_grid_workbook(path: Path, sheets: dict[str, list[list]], titles: dict[str, str] | None = None) -> Path:
    """One sheet per entry, its rows of cells as given (None: no cell; text, numbers, dates, :class:`Formula`).
    A sheet with a title gets it merged across row 1, which its grid leaves empty."""
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"created": CREATED})
    date_format = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, grid in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(grid):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, Formula):
                    ws.write_formula(r, c, v.text, None, "")
                elif isinstance(v, str):
                    ws.write_string(r, c, v)
                elif isinstance(v, dt.date):
                    ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), date_format)
                else:
                    ws.write_number(r, c, v)
        if title := (titles or {}).get(name):
            ws.merge_range(0, 0, 0, max(len(row) for row in grid) - 1, title)
    wb.close()
    return path


Typing = Callable[[Sheet, Column, object], object]  # a clerk's way of typing a value (None: as it is)


def _grids(content: WorkbookContent, typed: Typing | None = None) -> dict[str, list[list]]:
    """The sheets of ``content`` as grids in the template's layout, each value passed through ``typed``."""
    grids = {}
    for name, rows in content.sheets.items():
        sheet = SHEETS[name]
        grid: list[list] = [[c.header for c in sheet.columns]]
        for row in rows:
            cells = []
            for c in sheet.columns:
                v = row.get(c.name)
                t = typed(sheet, c, v) if typed and v is not None else None
                cells.append(v if t is None else t)
            grid.append(cells)
        grids[sheet.sheet_name] = grid
    return grids


def _typed_probes(content: WorkbookContent, typed: Typing, first_row: int = 2) -> tuple[Probe, ...]:
    """A probe for every cell ``typed`` changed in the first row of each sheet that has it filled."""
    probes = []
    for name, rows in content.sheets.items():
        sheet = SHEETS[name]
        for c in sheet.columns:
            for i, row in enumerate(rows):
                v = row.get(c.name)
                if v is not None and typed(sheet, c, v) is not None:
                    meant = float(v) if c.dtype in ("numeric", "int") else v
                    probes.append(Probe(sheet.raw_table, first_row + i, c.name, meant))
                    break
    return tuple(probes)


_FULL_WIDTH = str.maketrans("0123456789.,/", "０１２３４５６７８９．，／")


def full_width(text: str) -> str:
    """Digits and separators as a Chinese input method types them in full-width mode."""
    return text.translate(_FULL_WIDTH)


def _numbers_typed(sheet: Sheet, col: Column, v: object) -> object:
    """Numbers as text, in full-width digits and with thousands separators; a code in full-width digits."""
    return {
        "contract_amount": lambda: str(v),  # a number typed into a text-formatted cell
        "paid_in_cumulative": lambda: full_width(str(v)),
        "county_code": lambda: full_width(str(v)),
        "land_area_mu": lambda: f"{v:,}",
        "planned_area_mu": lambda: f"{v:,}",
        "revenue_ytd_10k_cny": lambda: full_width(f"{v:,}"),  # ４，２４６，６８４．９
        "enterprises": lambda: str(v),
        "employees": lambda: f"{v:,}",
        "exports_10k_usd": lambda: str(v),
    }.get(col.name, lambda: None)()


def _excel_serial(d: dt.date) -> int:
    return (d - dt.date(1899, 12, 30)).days


def _dates_typed(sheet: Sheet, col: Column, v: object) -> object:
    """Dates typed as Chinese text, with slashes, in full-width digits, and as an Excel serial number."""
    d = v
    return {
        "signed_date": lambda: f"{d.year}年{d.month}月{d.day}日",
        "registered_date": lambda: f"{d.year}/{d.month}/{d.day}",
        "started_date": lambda: _excel_serial(d),  # accepted with the warning excel_serial_date
        "production_date": lambda: full_width(f"{d.year}年{d.month}月{d.day}日"),
    }.get(col.name, lambda: None)()


def _spaces_typed(sheet: Sheet, col: Column, v: object) -> object:
    """Stray spaces (also the ideographic U+3000), tabs and line breaks around values."""
    return {
        "project_name": lambda: f"  {v}\u3000",
        "investor": lambda: f"\n{v}\n",
        "stage": lambda: f" {v} ",
        "industry_chain": lambda: f"{v} \n",
        "paid_in_cumulative": lambda: f" {v} ",
        "park_code": lambda: f" {v}" if sheet is PARKS else None,
        "category": lambda: f"{v}\t",
    }.get(col.name, lambda: None)()


def _plain(v: object) -> object:
    return v.isoformat() if isinstance(v, dt.date) else v


def _xml_rows(sheet: Sheet, rows: list[dict]) -> list[list]:
    return [[c.header for c in sheet.columns], *([_plain(r.get(c.name)) for c in sheet.columns] for r in rows)]


# --- the cases, in the order the test pairs them with audit rows (a correction after its original) --
_BUILDERS: list[Callable[[Path], HostileCase]] = []


def _case(build: Callable[[Path], HostileCase]) -> Callable[[Path], HostileCase]:
    _BUILDERS.append(build)
    return build


@_case
def _good_workbook(out: Path) -> HostileCase:
    content = _content("430100")
    rel = _workbook_file("430100")
    write_content(_at(out, rel), content)
    return HostileCase(rel, "a good workbook, as the sample generator writes it", "accepted",
                       loaded=_loaded(content))


@_case
def _good_trade(out: Path) -> HostileCase:
    rel = _trade_file("430100")
    write_trade_csv(_at(out, rel), _trade_table("430100"), "430100")
    return HostileCase(rel, "a good trade CSV (UTF-8 with BOM), as the sample generator writes it", "accepted",
                       loaded={TRADE.raw_table: TRADE_ROWS})


@_case
def _gbk_trade(out: Path) -> HostileCase:
    rel = _trade_file("430500")
    write_trade_csv(_at(out, rel), _trade_table("430500"), "430500")  # a GBK city of the samples: no BOM
    name = _trade_records("430500")[0][TRADE_COL["enterprise_name"]]
    return HostileCase(rel, "a trade CSV in GBK without BOM (an old Windows export)", "accepted",
                       loaded={TRADE.raw_table: TRADE_ROWS}, probes=(_trade_probe(2, "enterprise_name", name),))


@_case
def _utf16_trade(out: Path) -> HostileCase:
    records = _trade_records("430200")
    rel = _trade_file("430200")
    _write(out, rel, csv_bytes([TRADE_HEADER, *records], "utf-16-le", b"\xff\xfe", "\t"))
    return HostileCase(rel, "a trade CSV in UTF-16 with tabs (Excel's 'Unicode text')", "accepted",
                       loaded={TRADE.raw_table: TRADE_ROWS},
                       probes=(_trade_probe(2, "enterprise_name", records[0][TRADE_COL["enterprise_name"]]),))


def _planted_trade(out: Path, city: str, what: str, status: str, rule: str, plant: Callable[[list], None],
                   row_bad: bool = True) -> HostileCase:
    """A UTF-8 trade CSV whose third data row (row 4) ``plant`` spoils."""
    records = _trade_records(city)
    plant(records[2])
    rel = _trade_file(city)
    _write(out, rel, csv_bytes([TRADE_HEADER, *records]))
    if status == "partial":
        return HostileCase(rel, what, status, rule, loaded={TRADE.raw_table: TRADE_ROWS - 1}, rows_rejected=1)
    return HostileCase(rel, what, status, rule)


def _set(column: str, value: Callable[[str], str | bytes]) -> Callable[[list], None]:
    def plant(record: list) -> None:
        record[TRADE_COL[column]] = value(record[TRADE_COL[column]])
    return plant


@_case
def _nul_in_field(out: Path) -> HostileCase:
    return _planted_trade(out, "430300", "a trade CSV with a NUL byte inside one 企业名称", "partial",
                          "control_character", _set("enterprise_name", lambda v: v[:2] + "\x00" + v[2:]))


@_case
def _invalid_utf8_in_field(out: Path) -> HostileCase:
    return _planted_trade(out, "430400", "a UTF-8 trade CSV with two bytes that are no UTF-8 in one 企业名称",
                          "partial", "invalid_encoding",
                          _set("enterprise_name", lambda v: v[:2].encode() + b"\xff\xfe" + v[2:].encode()))


@_case
def _five_mb_name(out: Path) -> HostileCase:
    return _planted_trade(out, "430600", "a trade CSV whose 企业名称 on one row is 5 MB of text "
                          "(over OPENECON_MAX_CSV_LINE_KB=1024)", "rejected", "line_too_long",
                          _set("enterprise_name", lambda v: v + "测" * ((5 << 20) // 3)))


@_case
def _long_name(out: Path) -> HostileCase:
    return _planted_trade(out, "430700", "a trade CSV whose 企业名称 on one row is 300 characters (limit 200)",
                          "partial", "too_long", _set("enterprise_name", lambda v: (v * 30)[:300]))


@_case
def _extra_field(out: Path) -> HostileCase:
    return _planted_trade(out, "430800", "a trade CSV with one row of 9 fields under a header of 8", "rejected",
                          "column_count", lambda record: record.append("多余"))


@_case
def _habits_trade(out: Path) -> HostileCase:
    """Title row, a blank line, amounts with thousands separators, a full-width HS code, padded names,
    a column the template lacks, UTF-8 without BOM: all read as meant."""
    records = _trade_records("431200")
    rows: list[list[str]] = [["2025年9月外贸进出口明细"], [*TRADE_HEADER, "备注"]]
    probes, row = [], 2
    for i, r in enumerate(records):
        if i == 5:
            rows.append([])  # a blank line: a row of its own, as in Excel
            row += 1
        row += 1
        usd, cny = int(r[TRADE_COL["amount_usd"]]), float(r[TRADE_COL["amount_cny"]])
        typed = list(r)
        typed[TRADE_COL["amount_usd"]] = f"{usd:,}"
        typed[TRADE_COL["amount_cny"]] = f"{cny:,.2f}"
        typed[TRADE_COL["hs_code"]] = full_width(r[TRADE_COL["hs_code"]])
        typed[TRADE_COL["enterprise_name"]] = f"  {r[TRADE_COL['enterprise_name']]} "
        rows.append([*typed, "自营"])
        if i in (0, 6):
            probes += [_trade_probe(row, "amount_usd", float(usd)), _trade_probe(row, "amount_cny", cny),
                       _trade_probe(row, "hs_code", r[TRADE_COL["hs_code"]]),
                       _trade_probe(row, "enterprise_name", r[TRADE_COL["enterprise_name"]])]
    rel = _trade_file("431200")
    _write(out, rel, csv_bytes(rows, bom=b""))
    return HostileCase(rel, "a trade CSV as typed by hand: title row, blank line, 1,234 amounts, full-width HS "
                       "code, padded names, an extra column, no BOM", "accepted", warnings=("extra_column",),
                       loaded={TRADE.raw_table: TRADE_ROWS}, probes=tuple(probes))


@_case
def _same_bytes_other_city(out: Path) -> HostileCase:
    rel = _workbook_file("430200")
    _copy(out, _workbook_file("430100"), rel)
    return HostileCase(rel, "the good workbook's bytes under another city's name", "rejected",
                       "same_content_other_name")


def _typed_workbook(out: Path, city: str, typed: Typing, what: str, warnings: tuple[str, ...] = ()) -> HostileCase:
    content = _content(city)
    rel = _workbook_file(city)
    write_grid_workbook(_at(out, rel), _grids(content, typed))
    return HostileCase(rel, what, "accepted", warnings=warnings, loaded=_loaded(content),
                       probes=_typed_probes(content, typed))


@_case
def _numbers_workbook(out: Path) -> HostileCase:
    return _typed_workbook(out, "430300", _numbers_typed,
                           "a workbook with numbers typed as text, in full-width digits, with thousands separators")


@_case
def _dates_workbook(out: Path) -> HostileCase:
    return _typed_workbook(out, "430400", _dates_typed,
                           "a workbook with dates as 2025年3月5日, 2025/3/5, full-width text and Excel serials",
                           warnings=("excel_serial_date",))


@_case
def _spaces_workbook(out: Path) -> HostileCase:
    return _typed_workbook(out, "430500", _spaces_typed,
                           "a workbook with stray spaces, U+3000, tabs and line breaks around values")


@_case
def _layout_workbook(out: Path) -> HostileCase:
    """Row 1 a merged title, the header in row 2 in reverse order with an untidy unit and a column the
    template lacks, an empty row and a row of spaces among the data; 园区情况 with a title row too."""
    city = "430600"
    content = _content(city)
    columns = list(reversed(PROJECTS.columns))
    headers = [{"land_area_mu": "用地面积 (亩)"}.get(c.name, c.header) for c in columns]
    headers.insert(3, "备注")
    grid: list[list] = [[], headers]
    probes, row = [], 2
    for i, r in enumerate(content.sheets[PROJECTS.name]):
        if i in (2, 5):  # an empty row, then a row holding only spaces: spacing, not data
            spaces = [None] * len(headers)
            spaces[headers.index(PROJECTS.column("project_name").header)] = "   "
            grid.append([] if i == 2 else spaces)
            row += 1
        cells = [r.get(c.name) for c in columns]
        cells.insert(3, "重点项目")
        grid.append(cells)
        row += 1
        if i in (0, 2, 5) or i == len(content.sheets[PROJECTS.name]) - 1:
            probes += [Probe(PROJECTS.raw_table, row, "project_id", r["project_id"]),
                       Probe(PROJECTS.raw_table, row, "contract_amount", float(r["contract_amount"]))]
    grids = _grids(content)
    grids[LEDGER] = grid
    grids[PARKS.sheet_name] = [[], *grids[PARKS.sheet_name]]
    parks = content.sheets[PARKS.name]
    probes.append(Probe(PARKS.raw_table, 3, "park_code", parks[0]["park_code"]))
    rel = _workbook_file(city)
    write_grid_workbook(_at(out, rel), grids, titles={LEDGER: f"{city}招商引资项目台账（2025年9月）",
                                                  PARKS.sheet_name: "园区情况（2025年9月）"})
    return HostileCase(rel, "a workbook with a merged title row, columns in reverse order, an extra column, "
                       "an untidy unit, blank rows", "accepted", warnings=("extra_column",),
                       loaded=_loaded(content), probes=tuple(probes))


@_case
def _formula_workbook(out: Path) -> HostileCase:
    city = "430700"
    content = _content(city)
    grids = _grids(content)
    col = [c.name for c in PROJECTS.columns].index("paid_in_cumulative")
    grids[LEDGER][2][col] = Formula("=4000*2")  # the second project's paid-in: saved without a value
    rel = _workbook_file(city)
    write_grid_workbook(_at(out, rel), grids)
    return HostileCase(rel, "a workbook with one formula saved without its calculated value", "partial",
                       "formula_no_value", loaded=_loaded(content, {PROJECTS.name: 1}), rows_rejected=1)


@_case
def _zip_bomb(out: Path) -> HostileCase:
    rel = _workbook_file("430800")
    write_workbook(_at(out, rel), {LEDGER: bomb_sheet(1.0)})
    return HostileCase(rel, "a zip bomb: 2.6 MB whose sheet inflates to 1 GiB, declared honestly", "rejected",
                       "unzipped_too_large")


@_case
def _zip_bomb_lying(out: Path) -> HostileCase:
    rel = _workbook_file("430900")
    write_workbook(_at(out, rel), {LEDGER: dataclasses.replace(bomb_sheet(1.0), declared_size=1 << 20)})
    return HostileCase(rel, "a zip bomb inflating to 1 GiB whose directory declares 1 MiB", "rejected",
                       "unreadable_file")


@_case
def _zip_bomb_under_limit(out: Path) -> HostileCase:
    rel = _workbook_file("431000")
    write_workbook(_at(out, rel), {LEDGER: dataclasses.replace(bomb_sheet(1.0), declared_size=200 << 20)})
    return HostileCase(rel, "a zip bomb inflating to 1 GiB whose directory declares 200 MiB (under the limit): "
                       "its rows are counted", "rejected", "too_many_rows")


@_case
def _lying_dimension(out: Path) -> HostileCase:
    """<dimension> says A1:R4; one cell far below makes calamine's dense range a million cells wide."""
    content = _content("431100")
    far = Settings({}).max_sheet_rows + 1  # the default limit: the folder is built against the defaults
    ledger = sheet_xml(_xml_rows(PROJECTS, content.sheets[PROJECTS.name][:3]), dimension="A1:R4").replace(
        b"</sheetData>", f'<row r="{far}"><c r="A{far}"><v>1</v></c></row></sheetData>'.encode())
    parks = sheet_xml(_xml_rows(PARKS, content.sheets[PARKS.name]))
    rel = _workbook_file("431100")
    write_workbook(_at(out, rel), {LEDGER: ledger, PARKS.sheet_name: parks})
    return HostileCase(rel, f"a workbook whose dimension says A1:R4 but holds a cell on row {far:,}", "rejected",
                       "too_many_rows")


@_case
def _workbook_named_csv(out: Path) -> HostileCase:
    rel = _trade_file("430900")
    tmp = _at(out, rel.replace(".csv", ".tmp.xlsx"))
    write_content(tmp, _content("430900"))
    tmp.rename(out / rel)
    return HostileCase(rel, "a workbook named .csv", "rejected", "wrong_content")


@_case
def _csv_named_xlsx(out: Path) -> HostileCase:
    rel = _workbook_file("431200")
    _write(out, rel, csv_bytes([TRADE_HEADER, *_trade_records("431300")]))
    return HostileCase(rel, "a trade CSV named .xlsx", "rejected", "wrong_content")


@_case
def _old_xls(out: Path) -> HostileCase:
    rel = _workbook_file("431300")
    ole2_file(_at(out, rel))
    return HostileCase(rel, "an old binary .xls (Compound File header) named .xlsx", "rejected", "wrong_content")


@_case
def _encrypted(out: Path) -> HostileCase:
    rel = _workbook_file("430100", "2025-08")
    ole2_file(_at(out, rel), encrypted=True)
    return HostileCase(rel, "a workbook with an open password (an encrypted Compound File)", "rejected",
                       "wrong_content")


@_case
def _random_xlsx(out: Path) -> HostileCase:
    rel = _workbook_file("433100")
    _write(out, rel, random.Random(13).randbytes(64 << 10))
    return HostileCase(rel, "64 KiB of random bytes named .xlsx", "rejected", "wrong_content")


@_case
def _random_csv(out: Path) -> HostileCase:
    rel = _trade_file("431000")
    _write(out, rel, random.Random(14).randbytes(64 << 10))
    return HostileCase(rel, "64 KiB of random bytes named .csv", "rejected", "encoding")


@_case
def _empty(out: Path) -> HostileCase:
    rel = _trade_file("431100")
    _write(out, rel, b"")
    return HostileCase(rel, "an empty file", "rejected", "empty_file")


def _some_workbook(out: Path, rel: str) -> None:
    """A good workbook of 431300 at ``rel`` (written under a plain name: xlsxwriter titles it by its name)."""
    plain = _at(out, rel).with_name("431300_202509.tmp.xlsx")
    write_content(plain, _content("431300"))
    plain.rename(out / rel)


@_case
def _chinese_name(out: Path) -> HostileCase:
    rel = f"{MISC}/长沙市2025年9月报表.xlsx"
    _some_workbook(out, rel)
    return HostileCase(rel, "a good workbook under a name of the clerk's own", "rejected", "file_name")


@_case
def _gbk_name(out: Path) -> HostileCase:
    rel = f"{MISC}/" + os.fsdecode("长沙市_202509.xlsx".encode("gbk"))  # unzipped from a Windows zip
    _some_workbook(out, rel)
    return HostileCase(rel, "a file name in GBK bytes, not UTF-8 (unzipped from a Windows zip)", "rejected",
                       "file_name")


@_case
def _unknown_city(out: Path) -> HostileCase:
    rel = f"{MISC}/439900_202509.xlsx"
    _some_workbook(out, rel)
    return HostileCase(rel, "a workbook named for a city code that is not of the province", "rejected",
                       "file_name")


@_case
def _duplicate(out: Path) -> HostileCase:
    rel = _workbook_file("430100", folder=f"{RESUBMISSIONS}/430100")
    _copy(out, _workbook_file("430100"), rel)
    return HostileCase(rel, "the good workbook sent again, same name and bytes", "duplicate")


@_case
def _shrinking_correction(out: Path) -> HostileCase:
    rel = _trade_file("430100", folder=f"{RESUBMISSIONS}/430100")
    _write(out, rel, csv_bytes([TRADE_HEADER]))
    return HostileCase(rel, "a 'correction' of the good trade CSV holding the header only", "rejected",
                       "shrinking_correction")


@_case
def _superseding_correction(out: Path) -> HostileCase:
    records = _trade_records("430500")
    for r in records:  # the clerk corrects every amount by 2 %
        r[TRADE_COL["amount_usd"]] = str(round(int(r[TRADE_COL["amount_usd"]]) * 1.02))
        r[TRADE_COL["amount_cny"]] = f"{float(r[TRADE_COL['amount_cny']]) * 1.02:.2f}"
    rel = _trade_file("430500", folder=f"{RESUBMISSIONS}/430500")
    _write(out, rel, csv_bytes([TRADE_HEADER, *records], "gbk", b""))
    return HostileCase(rel, "a GBK correction of the GBK trade CSV, every amount 2 % higher", "superseding",
                       loaded={TRADE.raw_table: TRADE_ROWS},
                       probes=(_trade_probe(2, "amount_cny", float(records[0][TRADE_COL["amount_cny"]])),))


def write_hostile_folder(out: Path) -> list[HostileCase]:
    """Write the folder (``out`` is created; existing files of the same names are overwritten) and
    return its cases, in an order that puts each correction after the file it corrects."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return [build(out) for build in _BUILDERS]


def write_big_trade(out: Path, rows: int = 1_000_000) -> HostileCase:
    """A good trade CSV of ``rows`` rows (Changsha, 2025-10, from the sample generator): beside the
    hostile files it shows that a big good file also loads in flat memory."""
    from samples.trade import TRADE_ROWS_CHANGSHA

    city, period = "430100", "2025-10"
    scale = rows / TRADE_ROWS_CHANGSHA * 1.1
    full = trade_file_rows(city, period, SEED, scale)
    while len(full) < rows:
        scale *= 1.3
        full = trade_file_rows(city, period, SEED, scale)
    rel = _trade_file(city, period)
    write_trade_csv(_at(out, rel), TradeTable(_head(full, rows), enterprise_pool(city, SEED)), city)
    return HostileCase(rel, f"a good trade CSV of {rows:,} rows", "accepted", loaded={TRADE.raw_table: rows})
