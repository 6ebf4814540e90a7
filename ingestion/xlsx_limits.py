"""Workbook intake limits: what an .xlsx may cost is checked before calamine parses any of it.

calamine reads a whole sheet into one dense in-memory range, so a 38 MB upload whose sheet
unzips to 1 GB of XML cost 2.5 GB before it was refused.  ``check_workbook`` uses the
standard library and numpy only: it sniffs the first bytes (an .xls, a renamed CSV or random bytes get
a message a clerk can act on), checks the zip directory against the settings before anything
is decompressed, then streams every part calamine will read through zlib and expat, in
constant memory.  Parts are inflated here, not by ``zipfile``: its reader stops at the
declared size without checking that the deflate stream ends there, so an entry whose
declared size and CRC describe only a prefix would pass, and calamine would inflate all of it.

Part names are resolved as calamine resolves them (``_rels/.rels`` names the workbook,
lookups ignore case), so the parts scanned are the parts calamine reads.  The XML is read
with expat directly rather than ``ElementTree.iterparse``: iterparse cannot see a DOCTYPE
(entity-expansion tricks need one, and no workbook part ever has one), and handlers that
build no elements scan a sheet in half the time.
"""

from __future__ import annotations

import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NoReturn
from xml.parsers import expat

import numpy as np

from core.settings import Settings
from ingestion.contract import sheets_of_kind
from ingestion.issues import CONTROL_CHARACTERS, FileRejected, Issue

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # Compound File: .xls, .doc, and password-protected .xlsx
SNIFF_BYTES = 64 << 10
SMALL_PART_BYTES = 4 << 20  # _rels/.rels, workbook.xml and its rels are refused above this, unread
READ_BYTES = 64 << 10  # compressed bytes read at a time
INFLATE_STEP = 1 << 20  # most bytes one zlib call may produce: a bomb never inflates in one go
CD_BYTES_PER_ENTRY = 1024  # a zip directory larger than this per allowed entry is refused unparsed
MAX_UNCACHED_FORMULAS = 10_000  # per sheet: more means the workbook was saved without calculating
# expat holds a whole tag, comment or processing instruction in memory before it reports it (a
# 200 MB attribute cost 600 MB) and keeps every open element (10 M nested tags, 30 MB of XML,
# cost 1.2 GB); no workbook part comes near these bounds.
MAX_TOKEN_BYTES = 1 << 20  # bytes between two "<": no tag, attribute or text run is longer
MAX_XML_DEPTH = 256
# calamine reserves memory for sharedStrings' declared uniqueCount before reading a string, and
# aborts the process when that allocation fails; beyond this the count must be backed by <si>s.
SST_SLACK = 1_000_000
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


@dataclass(frozen=True)
class SheetScan:
    name: str
    part: str  # the zip entry holding the sheet
    dimension: str | None  # <dimension ref>, as the writer declared it (it can lie)
    last_row: int  # highest Excel row holding a value, inline string or formula (0: none)
    last_column: int  # highest column (1 = A) likewise
    uncached_formulas: frozenset[tuple[int, int]]  # (Excel row, 0-based column) of formulas without a value


@dataclass(frozen=True)
class WorkbookScan:
    file: str
    sheet_names: tuple[str, ...]  # in workbook order
    sheets: dict[str, SheetScan] = field(default_factory=dict)  # the sheets scanned (those present)
    entries: int = 0
    unzipped_bytes: int = 0  # sum of the declared uncompressed sizes


class _Broken(Exception):
    """The zip or its XML is damaged or inconsistent; the detail goes into the English message."""


def workbook_sheet_names() -> list[str]:
    """The sheets the contract reads from a monthly workbook."""
    return [s.sheet_name for s in sheets_of_kind("workbook")]


def check_workbook(path: Path, settings: Settings, sheet_names: Iterable[str] | None = None) -> WorkbookScan:
    """Refuse the file (``FileRejected``) unless calamine can parse it within the settings' limits.

    ``sheet_names`` are the sheets that will be read (default: the contract's workbook sheets);
    each one present is streamed: real row and column extent, and formulas without a cached value.
    """
    path = Path(path)
    file = path.name
    wanted = list(workbook_sheet_names() if sheet_names is None else sheet_names)
    size = path.stat().st_size
    if size / 2**20 > settings.max_file_mb:
        raise FileRejected(Issue(file, None, None, None, f"{size / 2**20:.1f} MB", "file_too_large",
                                 f"文件超过{settings.max_file_mb:g} MB上限",
                                 f"file exceeds the {settings.max_file_mb:g} MB limit"))
    _sniff(path, file)
    try:
        _check_end_record(path, file, settings)
        with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
            return _Package(zf, raw, file, settings).scan(wanted)
    except FileRejected:
        raise
    except (_Broken, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, expat.ExpatError, EOFError,
            ValueError, struct.error, NotImplementedError) as exc:
        raise FileRejected(_unreadable(file, str(exc) or type(exc).__name__)) from exc


# --- messages ----------------------------------------------------------------------
def _unreadable(file: str, detail: str, sheet: str | None = None) -> Issue:
    return Issue(file, sheet, None, None, None, "unreadable_file",
                 "文件已损坏或结构异常，无法读取，请在Excel中重新保存为.xlsx后上传",
                 f"the file is damaged or inconsistent and cannot be read ({detail}); "
                 "save it again as .xlsx in Excel")


def _wrong_content(file: str, zh: str, en: str) -> FileRejected:
    return FileRejected(Issue(file, None, None, None, None, "wrong_content", zh, en))


def _column_letters(n: int) -> str:
    letters = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _too_many_rows(file: str, sheet: str, row: int, limit: int, declared: bool) -> FileRejected:
    how = ("表格范围声明到第{n}行", "its declared range reaches row {n}") if declared else \
        ("第{n}行仍有内容", "row {n} still holds cells")
    return FileRejected(Issue(
        file, sheet, None, None, str(row), "too_many_rows",
        f"工作表「{sheet}」超过{limit}行的上限（{how[0].format(n=row)}），"
        "请删除表格下方多余的行（包括只有格式的空行）后重新保存",
        f"sheet '{sheet}' has more than the limit of {limit} rows ({how[1].format(n=row)}); "
        "delete the surplus rows below the table (including empty rows that only carry formatting) and save again"))


def _too_many_columns(file: str, sheet: str, col: int, limit: int, declared: bool) -> FileRejected:
    where = f"{_column_letters(col)}"
    how = ("表格范围声明到{c}列", "its declared range reaches column {c}") if declared else \
        ("{c}列仍有内容", "column {c} still holds cells")
    return FileRejected(Issue(
        file, sheet, None, None, where, "too_many_columns",
        f"工作表「{sheet}」超过{limit}列的上限（{how[0].format(c=where)}），请删除模板以外多余的列后重新保存",
        f"sheet '{sheet}' has more than the limit of {limit} columns ({how[1].format(c=where)}); "
        "delete the columns beyond the template and save again"))


# --- sniffing ------------------------------------------------------------------------
def _sniff(path: Path, file: str) -> None:
    """A file that is not a zip at all: say what it is, so the clerk knows what to do."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(ZIP_MAGIC):
        return
    if head.startswith(OLE2_MAGIC):
        if _encrypted_ole(path):
            raise _wrong_content(file, "工作簿设置了打开密码（已加密），请取消密码后另存为.xlsx再上传",
                                 "the workbook is password-protected (encrypted): remove the password, "
                                 "save it as .xlsx and upload again")
        raise _wrong_content(file, "文件是旧版Excel（.xls）格式，请在Excel中另存为.xlsx后重新上传",
                             "the file is an old-format Excel workbook (.xls): save it as .xlsx in Excel "
                             "and upload again")
    text = _as_text(head, complete=len(head) < SNIFF_BYTES)
    if text is not None and text.lstrip().startswith("<"):
        raise _wrong_content(file, "文件内容是网页或XML文本（如系统导出的表格），不是xlsx工作簿，"
                                   "请在Excel中打开后另存为.xlsx",
                             "the file holds HTML or XML text (such as a table exported by a web system), "
                             "not an xlsx workbook: open it in Excel and save it as .xlsx")
    if text is not None:
        raise _wrong_content(file, "文件内容是文本（CSV），不是xlsx工作簿，请检查文件名"
                                   "（外贸明细应命名为trade_市州代码_年月.csv）",
                             "the file holds text (CSV), not an xlsx workbook: check the file name "
                             "(trade detail is named trade_<city>_<YYYYMM>.csv)")
    raise _wrong_content(file, "文件无法读取，不是有效的xlsx工作簿，请在Excel中重新保存为.xlsx",
                         "the file is not a readable xlsx workbook: save it again as .xlsx in Excel")


def _as_text(head: bytes, complete: bool) -> str | None:
    """The first bytes as text (UTF-8, GBK/GB18030 or UTF-16 with BOM) without control characters."""
    if not head.strip():
        return None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = [("utf-16", head if complete else head[: len(head) // 2 * 2])]
    else:
        cut = len(head) if complete else head.rfind(b"\n")  # never split a multi-byte character
        sample = head[: cut if cut > 0 else len(head)]
        candidates = [("utf-8-sig", sample), ("gb18030", sample)]
    for encoding, sample in candidates:
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not re.search(CONTROL_CHARACTERS, text):
            return text
    return None


def _encrypted_ole(path: Path) -> bool:
    """An OOXML workbook with an open password is a Compound File holding 'EncryptedPackage'."""
    needle = "EncryptedPackage".encode("utf-16-le")
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
        fh.seek(0, 2)
        size = fh.tell()
        tail = b""
        if size > len(head):
            fh.seek(max(len(head), size - (1 << 20)))
            tail = fh.read()
    return needle in head or needle in tail


# --- the zip directory ---------------------------------------------------------------
def _check_end_record(path: Path, file: str, settings: Settings) -> None:
    """Entry count and directory size from the end record, before zipfile parses the directory.

    zipfile builds an object per entry it finds, so a directory of millions of tiny entries would
    cost gigabytes before any limit could be applied to ``infolist()``.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        n = min(size, _EOCD.size + 0xFFFF)
        fh.seek(size - n)
        tail = fh.read(n)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + _EOCD.size > len(tail):
            raise _Broken("no zip end-of-directory record")
        _sig, _disk, _cd_disk, _disk_entries, entries, cd_size, cd_offset, comment = _EOCD.unpack_from(tail, at)
        if at + _EOCD.size + comment != len(tail):
            raise _Broken("the zip end-of-directory record is not at the end of the file")
        if entries == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
            if at < _ZIP64_LOCATOR.size:
                raise _Broken("zip64 locator missing")
            sig, _disk, record_at, _disks = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
            if sig != b"PK\x06\x07" or record_at + _ZIP64_EOCD.size > size:
                raise _Broken("zip64 locator damaged")
            fh.seek(record_at)
            record = fh.read(_ZIP64_EOCD.size)
            fields = _ZIP64_EOCD.unpack(record)
            if fields[0] != b"PK\x06\x06":
                raise _Broken("zip64 end record damaged")
            entries, cd_size = fields[7], fields[8]
    limit = settings.max_zip_entries
    if entries > limit:
        raise FileRejected(Issue(file, None, None, None, str(entries), "too_many_entries",
                                 f"xlsx压缩包内有{entries}个文件，超过{limit}个的上限",
                                 f"the xlsx package holds {entries} entries, more than the limit of {limit}"))
    if cd_size > CD_BYTES_PER_ENTRY * max(limit, 1):
        raise FileRejected(Issue(file, None, None, None, f"{cd_size / 1024:.0f} KB", "too_many_entries",
                                 f"xlsx压缩包的文件目录过大（{cd_size / 1024:.0f} KB），超过{limit}个文件的上限",
                                 f"the xlsx package's directory is {cd_size / 1024:.0f} KB, too large for "
                                 f"the limit of {limit} entries"))


class _Package:
    """The zip as calamine will see it: entries by lower-case name, parts verified as inflated."""

    def __init__(self, zf: zipfile.ZipFile, raw: BinaryIO, file: str, settings: Settings):
        self.raw, self.file, self.settings = raw, file, settings
        infos = zf.infolist()
        limit = settings.max_zip_entries
        if len(infos) > limit:
            raise FileRejected(Issue(file, None, None, None, str(len(infos)), "too_many_entries",
                                     f"xlsx压缩包内有{len(infos)}个文件，超过{limit}个的上限",
                                     f"the xlsx package holds {len(infos)} entries, more than the limit of {limit}"))
        self.unzipped = sum(i.file_size for i in infos)
        if self.unzipped > settings.max_unzipped_mb * 2**20:
            mb = self.unzipped / 2**20
            raise FileRejected(Issue(
                file, None, None, None, f"{mb:.0f} MB", "unzipped_too_large",
                f"工作簿解压后共{mb:.0f} MB，超过{settings.max_unzipped_mb:g} MB的上限，"
                "请删除多余的工作表、图片或格式后重新保存",
                f"the workbook unzips to {mb:.0f} MB, more than the {settings.max_unzipped_mb:g} MB limit; "
                "remove extra sheets, pictures or formatting and save again"))
        self.entries: dict[str, zipfile.ZipInfo] = {}
        for info in infos:  # calamine finds parts by lower-case name: two alike would be ambiguous
            key = info.filename.replace("\\", "/").lower()
            if key in self.entries:
                raise _Broken(f"the zip holds two entries named {info.filename!r}")
            self.entries[key] = info

    def find(self, name: str) -> zipfile.ZipInfo | None:
        return self.entries.get(name.lower())

    # --- reading parts
    def inflate(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The entry's bytes in bounded chunks; its declared size, CRC and stream end are enforced."""
        if info.flag_bits & 0x1:
            raise _Broken(f"{info.filename} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Broken(f"{info.filename} uses unsupported compression method {info.compress_type}")
        raw = self.raw
        raw.seek(info.header_offset)
        header = raw.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != ZIP_MAGIC:
            raise _Broken(f"local header of {info.filename} damaged")
        name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
        name = raw.read(name_len)
        if name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
            raise _Broken(f"local header of {info.filename} names another file")
        raw.seek(extra_len, 1)
        inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        left, out, crc = info.compress_size, 0, 0

        def checked(data: bytes) -> bytes:
            nonlocal out, crc
            out += len(data)
            if out > info.file_size:
                raise _Broken(f"{info.filename} inflates beyond its declared size of {info.file_size} bytes")
            crc = zlib.crc32(data, crc)
            return data

        while left > 0 and not (inflater and inflater.eof):
            chunk = raw.read(min(READ_BYTES, left))
            if not chunk:
                raise _Broken(f"{info.filename} is truncated")
            left -= len(chunk)
            if inflater is None:
                yield checked(chunk)
                continue
            while chunk and not inflater.eof:
                data = inflater.decompress(chunk, INFLATE_STEP)
                chunk = inflater.unconsumed_tail
                if data:
                    yield checked(data)
        while inflater is not None and not inflater.eof:  # output still held back by INFLATE_STEP
            data = inflater.decompress(b"", INFLATE_STEP)
            if not data:
                raise _Broken(f"the data of {info.filename} does not end where the directory says")
            yield checked(data)
        if out != info.file_size or crc != info.CRC:
            raise _Broken(f"{info.filename} does not match its declared size or CRC")

    def parse(self, info: zipfile.ZipInfo, install: Callable[[expat.XMLParserType], None],
              sheet: str | None = None) -> None:
        """Stream the part through a guarded expat parser; ``install`` sets the element handlers."""
        parser = _parser(self.file, info.filename, sheet)
        install(parser)
        guard = _XmlGuard(self.file, info.filename, sheet)
        try:
            for chunk in self.inflate(info):
                guard.check(chunk)
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise _Broken(f"{info.filename}: {exc}") from exc

    def parse_small(self, info: zipfile.ZipInfo, start: Callable[[str, dict], None]) -> None:
        """A part read once at open (relationships, workbook.xml): size-bounded before it is read."""
        if info.file_size > SMALL_PART_BYTES:
            raise _Broken(f"{info.filename} is {info.file_size} bytes, more than a workbook part of its kind needs")
        self.parse(info, _by_local_name(start, self.file, info.filename))

    # --- the workbook
    def scan(self, wanted: list[str]) -> WorkbookScan:
        base = self._workbook_base()
        workbook = self.find(f"{base}workbook.xml")
        if workbook is None:
            self._not_a_workbook(base)
        rels_info = self.find(f"{base}_rels/workbook.xml.rels")
        if rels_info is None:
            raise _Broken(f"{base}_rels/workbook.xml.rels is missing")
        rels: dict[str, str] = {}

        def on_rel(name: str, attrs: dict) -> None:
            if name == "Relationship" and "Id" in attrs:
                rels[attrs["Id"]] = attrs.get("Target", "")

        self.parse_small(rels_info, on_rel)
        sheets: list[tuple[str, str | None]] = []

        def on_sheet(name: str, attrs: dict) -> None:
            if name == "sheet":
                rid = None
                for key, value in attrs.items():
                    if key.rpartition(":")[2] == "id":
                        rid = value
                sheets.append((attrs.get("name", ""), rid))

        self.parse_small(workbook, on_sheet)
        limit = self.settings.max_sheets
        if len(sheets) > limit:
            raise FileRejected(Issue(self.file, None, None, None, str(len(sheets)), "too_many_sheets",
                                     f"工作簿有{len(sheets)}个工作表，超过{limit}个的上限，请删除多余的工作表",
                                     f"the workbook has {len(sheets)} sheets, more than the limit of {limit}; "
                                     "delete the extra sheets"))
        names = [n for n, _ in sheets]
        if len(set(names)) != len(names):
            raise _Broken("two sheets have the same name")
        self._check_shared_strings(base)
        styles = self.find(f"{base}styles.xml")
        if styles is not None:
            for _ in self.inflate(styles):  # calamine reads it at open: it must be what it says it is
                pass
        scans: dict[str, SheetScan] = {}
        for name, rid in sheets:
            if name not in wanted:
                continue
            target = rels.get(rid)
            if target is None:
                raise _Broken(f"sheet {name!r} has no relationship {rid!r}")
            part = target[1:] if target.startswith("/") else f"{base}{target}"  # as calamine joins them
            info = self.find(part)
            if info is None:
                raise _Broken(f"the part {part} of sheet {name!r} is missing")
            try:
                scans[name] = _fast_scan_sheet(self, info, name)
            except _Irregular:
                scans[name] = _scan_sheet(self, info, name)
        return WorkbookScan(self.file, tuple(names), scans, len(self.entries), self.unzipped)

    def _workbook_base(self) -> str:
        """The folder of the workbook part, from the package relationships (calamine's xl_path)."""
        info = self.find("_rels/.rels")
        if info is None:
            self._not_a_workbook("xl/")
        targets: list[str] = []

        def on_rel(name: str, attrs: dict) -> None:
            if name == "Relationship" and attrs.get("Type", "").endswith("/relationships/officeDocument"):
                targets.append(attrs.get("Target", ""))

        self.parse_small(info, on_rel)
        if not targets:
            self._not_a_workbook("xl/")
        folder = posixpath.dirname(targets[-1])
        return (folder + "/").lstrip("/") if folder else ""

    def _not_a_workbook(self, base: str) -> NoReturn:
        if self.find(f"{base}workbook.bin") or self.find("xl/workbook.bin"):
            raise _wrong_content(self.file, "文件是Excel二进制工作簿（.xlsb），请在Excel中另存为.xlsx后重新上传",
                                 "the file is an Excel binary workbook (.xlsb): save it as .xlsx in Excel and "
                                 "upload again")
        if self.find("content.xml") and self.find("mimetype"):
            raise _wrong_content(self.file, "文件是OpenDocument表格（.ods），请另存为Excel工作簿（.xlsx）后重新上传",
                                 "the file is an OpenDocument spreadsheet (.ods): save it as an Excel workbook "
                                 "(.xlsx) and upload again")
        raise _wrong_content(self.file, "文件是压缩包，但其中没有Excel工作簿（缺少xl/workbook.xml），"
                                        "请在Excel中另存为.xlsx后重新上传",
                             "the file is a zip archive without an Excel workbook in it (no xl/workbook.xml): "
                             "save it as .xlsx in Excel and upload again")

    def _check_shared_strings(self, base: str) -> None:
        """calamine reserves ``uniqueCount`` strings up front: the count must be backed by real entries."""
        info = self.find(f"{base}sharedStrings.xml")
        if info is None:
            return
        try:
            return _fast_shared_strings(self, info)
        except _Irregular:
            pass
        declared: list[int] = []
        strings = 0

        def on_element(name: str, attrs: dict) -> None:
            nonlocal strings
            if name == "si":
                strings += 1
            elif name == "sst" and not declared:
                count = attrs.get("uniqueCount", "").strip().lstrip("+")
                # calamine ignores a count that is no 64-bit number; so do we, without int() on 4 MB of digits
                declared.append(int(count) if count.isdigit() and len(count) <= 20 else 0)

        self.parse(info, _by_local_name(on_element, self.file, info.filename))
        if declared and declared[0] > SST_SLACK and declared[0] > strings:
            raise _Broken(f"sharedStrings.xml declares {declared[0]} strings but holds {strings}")


def _unsafe(file: str, sheet: str | None, part: str, what_zh: str, what_en: str) -> FileRejected:
    return FileRejected(Issue(
        file, sheet, None, None, part, "unsafe_xml",
        f"文件含有工作簿不应有的XML内容（{what_zh}），已拒收，请在Excel中重新保存为.xlsx后上传",
        f"the file contains XML that a workbook never has ({what_en}); rejected: save it again as .xlsx in Excel"))


def _parser(file: str, part: str, sheet: str | None = None) -> expat.XMLParserType:
    """An expat parser that refuses any DOCTYPE or entity declaration instead of expanding it."""
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def refuse(*_args) -> None:
        raise _unsafe(file, sheet, part, "DOCTYPE或实体声明", "a DOCTYPE or entity declaration")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    return parser


class _XmlGuard:
    """Bounds, on the bytes before expat sees them, what expat would have to hold at once.

    "<" cannot occur inside a tag or in text, so the distance between two "<" bounds every tag
    and attribute; comments and processing instructions may contain "<" and are held whole,
    so they are refused outright (no workbook writer puts them in these parts).  The checks
    need an ASCII-compatible encoding: UTF-16 parts are refused too.
    """

    def __init__(self, file: str, part: str, sheet: str | None):
        self.file, self.part, self.sheet = file, part, sheet
        self.run = 0  # bytes since the last "<"
        self.seen = 0  # bytes checked so far
        self.tail = b""  # the last bytes of the previous chunk, for markers split across chunks
        self.declaration_at = 0  # where an XML declaration may stand: 3 after a UTF-8 byte-order mark

    def refuse(self, zh: str, en: str) -> None:
        raise _unsafe(self.file, self.sheet, self.part, zh, en)

    def check(self, chunk: bytes) -> None:
        if not self.seen:
            if chunk[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in chunk[:4]:
                self.refuse("UTF-16编码", "UTF-16 encoded XML")
            self.declaration_at = 3 if chunk.startswith(b"\xef\xbb\xbf") else 0
        first = chunk.find(b"<")
        # Runs inside the chunk are shorter than the chunk (at most INFLATE_STEP); check the edges.
        if self.run + (len(chunk) if first < 0 else first) > MAX_TOKEN_BYTES:
            mb = MAX_TOKEN_BYTES >> 20
            self.refuse(f"超过{mb} MB的单个标记", f"a single XML token over {mb} MB")
        self.run = self.run + len(chunk) if first < 0 else len(chunk) - chunk.rfind(b"<") - 1
        window = self.tail + chunk
        base = self.seen - len(self.tail)
        if b"<!--" in window:
            self.refuse("XML注释", "an XML comment")
        at = window.find(b"<?")
        while at >= 0:
            if base + at != self.declaration_at:  # only the XML declaration may open with "<?"
                self.refuse("XML处理指令", "an XML processing instruction")
            at = window.find(b"<?", at + 1)
        self.seen += len(chunk)
        self.tail = window[-3:]


def _by_local_name(start: Callable[[str, dict], None], file: str, part: str) -> Callable[[expat.XMLParserType], None]:
    """Handlers calling ``start(local_name, attrs)``, with the nesting depth bounded."""
    depth = 0

    def on_start(name: str, attrs: dict) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_XML_DEPTH:
            raise _unsafe(file, None, part, f"嵌套超过{MAX_XML_DEPTH}层", f"elements nested over {MAX_XML_DEPTH} deep")
        start(name.rpartition(":")[2], attrs)

    def on_end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    def install(parser: expat.XMLParserType) -> None:
        parser.StartElementHandler, parser.EndElementHandler = on_start, on_end

    return install


# --- the fast path ---------------------------------------------------------------------
# Python handlers make expat call into Python four times a cell: most of the intake's time on a
# large ledger.  An ordinary part is decided at C speed instead: numpy finds the tags, their
# nesting and the cells' references, and expat, with no element handlers, checks that it is
# well-formed XML.  Anything out of the ordinary (a formula, a DOCTYPE or CDATA, a prefixed
# element, a quote that makes a tag's end uncertain, a cell whose first attribute is not r, a
# limit reached) is left to the exact scan below, which alone rejects.
class _Irregular(Exception):
    """The part is not of the ordinary kind the fast scan decides: the exact scan decides."""


_PAD = b" " * 16  # so that looking a few bytes past a tag's start never leaves the array
_REF_BYTES = 13  # 3 letters and 9 digits at most, as the exact scan allows, and the closing quote
_LT, _GT, _SLASH, _QUESTION, _QUOTE, _APOSTROPHE, _COLON, _EQUALS = (ord(c) for c in "<>/?\"':=")
_IS_SPACE = np.zeros(256, bool)
_IS_SPACE[list(b" \t\r\n")] = True
_TAG_NAME_ENDS = np.frombuffer(b" \t\r\n/>", np.uint8)
_KIND = np.zeros(256, np.int8)  # 2 a letter, 1 a digit, 0 anything else
_KIND[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")] = 2
_KIND[list(b"0123456789")] = 1
_VALUE = np.zeros(256, np.int64)  # a letter's column value (A = 1), a digit's value
_VALUE[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")] = _VALUE[list(b"abcdefghijklmnopqrstuvwxyz")] = np.arange(1, 27)
_VALUE[list(b"0123456789")] = np.arange(10)
# The place value of the byte ``k`` places before the end of a run, at index _REF_BYTES + k; 0 from
# the end on (k <= 0), so one lookup both weighs a byte and drops it when it lies past the run.
_PLACE10 = np.concatenate([np.zeros(_REF_BYTES + 1, np.int64), 10 ** np.arange(_REF_BYTES, dtype=np.int64)])
_PLACE26 = np.concatenate([np.zeros(_REF_BYTES + 1, np.int64), 26 ** np.arange(_REF_BYTES, dtype=np.int64)])
_DIMENSION = re.compile(rb'<dimension ref="([^"]*)"')


@dataclass
class _Tags:
    """The tags of a run of whole tags: where each starts and ends, the bytes after its "<"."""
    a: np.ndarray
    lt: np.ndarray
    gt: np.ndarray
    second: np.ndarray  # the byte after "<"
    third: np.ndarray  # the byte after that
    selfclose: np.ndarray

    def named(self, first: str, *, only: bool = True) -> np.ndarray:
        """Tags whose name is the single letter ``first`` (``only``) or starts with it."""
        hit = self.second == ord(first)
        if only:
            hit &= (self.third == _GT) | (self.third == _SLASH) | _IS_SPACE[self.third]
        return hit


def _analyse(buf: bytes, depth: int) -> tuple[_Tags, int]:
    """The tags of ``buf`` (which starts at a "<" and ends before one) and the depth after them."""
    if b"<!" in buf:  # DOCTYPE, CDATA (comments are refused by the guard)
        raise _Irregular
    a = np.frombuffer(buf + _PAD, np.uint8)
    n = len(buf)
    lt = np.flatnonzero(a[:n] == _LT)
    gt = np.flatnonzero(a[:n] == _GT)
    if len(lt) == 0 or lt[0] != 0:
        raise _Irregular
    end = np.searchsorted(gt, lt)
    if end[-1] == len(gt):
        raise _Irregular
    gt = gt[end]  # each tag ends at the first ">" after its "<" ...
    if np.any(gt[:-1] > lt[1:]):  # ... before the next "<"
        raise _Irregular
    # ... unless that ">" is inside a quoted value: only '"' may quote in a tag, an even number
    if b"'" in buf:
        apostrophes = np.cumsum(a == _APOSTROPHE, dtype=np.int32)
        if np.any(apostrophes[gt] != apostrophes[lt]):
            raise _Irregular
    quotes = np.cumsum(a == _QUOTE, dtype=np.int32)
    if np.any((quotes[gt] - quotes[lt]) % 2):
        raise _Irregular
    # A colon before a tag's first space is in its name: a prefixed element, for the exact scan.
    colons = np.flatnonzero(a[:n] == _COLON)
    if len(colons):
        tag = np.searchsorted(lt, colons, side="right") - 1
        in_tag = colons < gt[tag]
        if in_tag.any():
            colons, tag = colons[in_tag], tag[in_tag]
            spaces = np.flatnonzero(_IS_SPACE[a[:n]])
            first = np.searchsorted(spaces, lt[tag])
            if np.any((first == len(spaces)) | (spaces[np.minimum(first, len(spaces) - 1)] > colons)):
                raise _Irregular
    second, third = a[lt + 1], a[lt + 2]
    selfclose = a[gt - 1] == _SLASH
    step = np.where(second == _SLASH, -1, np.where(selfclose | (second == _QUESTION), 0, 1))
    levels = depth + np.cumsum(step)
    # a self-closing element is one deeper while it lasts, as the exact scan counts it
    if levels.min() < 0 or (levels + selfclose).max() > MAX_XML_DEPTH:
        raise _Irregular
    return _Tags(a, lt, gt, second, third, selfclose), int(levels[-1])


def _fast_part(pkg: _Package, info: zipfile.ZipInfo, sheet: str | None,
               on_tags: Callable[[bytes, _Tags], None]) -> None:
    """Stream a part through the byte guard, numpy and a handler-less expat, handing ``on_tags``
    runs of whole tags; raises ``_Irregular`` where the fast scan cannot decide."""
    guard = _XmlGuard(pkg.file, info.filename, sheet)
    parser = _parser(pkg.file, info.filename, sheet)
    carry, depth = b"", 0

    def run(buf: bytes) -> None:
        nonlocal depth
        tags, depth = _analyse(buf, depth)  # depth is bounded before expat holds any of it
        on_tags(buf, tags)
        parser.Parse(buf, False)

    try:
        for chunk in pkg.inflate(info):
            guard.check(chunk)
            data = carry + chunk
            cut = data.rfind(b"<")  # the tag opened there may go on in the next chunk
            if cut <= 0:
                carry = data
                continue
            run(data[:cut])
            carry = data[cut:]
        if carry:
            run(carry)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _Irregular from exc
    if depth != 0:
        raise _Irregular


def _fast_scan_sheet(pkg: _Package, info: zipfile.ZipInfo, sheet: str) -> SheetScan:
    """The exact scan's result for an ordinary sheet without formulas: dimension and extent."""
    max_rows, max_cols = pkg.settings.max_sheet_rows, pkg.settings.max_sheet_cols
    last_row = last_col = 0
    dimension: list[str] = []
    ref_offsets = np.arange(_REF_BYTES)

    def on_tags(buf: bytes, t: _Tags) -> None:
        nonlocal last_row, last_col
        if t.named("f").any():
            raise _Irregular
        for at in t.lt[t.named("d", only=False)]:  # <dimension>, <drawing>, <dataValidations>
            if buf.startswith(b"<dimension", at):
                found = _DIMENSION.match(buf, at)
                if found is None or b"&" in found[1]:  # an entity: the exact scan reads it as expat decodes it
                    raise _Irregular
                ref = found[1].decode("utf-8", "replace")
                dimension.append(ref)
                try:
                    end_row, end_col = _reference(ref.rpartition(":")[2])
                except _Broken:
                    continue  # calamine judges a malformed dimension itself, as the exact scan lets it
                if end_row > max_rows or end_col > max_cols:
                    raise _Irregular
        cell = np.flatnonzero(t.named("c"))
        if not len(cell):
            return
        a, start = t.a, t.lt[cell]
        # r first, written r="...": anything else, or a second r, goes to the exact scan
        if not (np.all(a[start + 2] == ord(" ")) and np.all(a[start + 3] == ord("r"))
                and np.all(a[start + 4] == _EQUALS) and np.all(a[start + 5] == _QUOTE)):
            raise _Irregular
        # A cell holds something when its first child is a <v> or an <is>, as the exact scan counts
        # (text before it does not matter; any other child calamine refuses).
        child = np.minimum(cell + 1, len(t.lt) - 1)
        value_next = (t.second[child] == ord("v")) & ((t.third[child] == _GT) | (t.third[child] == _SLASH)
                                                      | _IS_SPACE[t.third[child]])
        inline_next = ((t.second[child] == ord("i")) & (t.third[child] == ord("s"))
                       & np.isin(a[t.lt[child] + 3], _TAG_NAME_ENDS))
        held = start[~t.selfclose[cell] & (value_next | inline_next) & (cell + 1 < len(t.lt))] + 6
        if not len(held):
            return
        ref = a[held[:, None] + ref_offsets]
        kind = _KIND[ref]  # 2 a letter, 1 a digit, 0 anything else
        letters = np.argmin(kind == 2, axis=1)  # the letters come first ...
        length = np.argmin(kind > 0, axis=1)  # ... then the digits, then the closing quote
        digits_only = (kind * (ref_offsets < length[:, None])).sum(axis=1) == letters + length  # no letter after one
        if not (np.all(ref[np.arange(len(held)), length] == _QUOTE) and np.all((letters >= 1) & (letters <= 3))
                and np.all(length > letters) and np.all(digits_only)):
            raise _Irregular  # (a second r attribute is expat's to refuse)
        value = _VALUE[ref]
        # each byte times its place value (zero outside the letters, or the digits)
        col = (value[:, :3] * _PLACE26[letters[:, None] - ref_offsets[:3] + _REF_BYTES]).sum(axis=1)
        row = (value * _PLACE10[length[:, None] - ref_offsets + _REF_BYTES]
               * (ref_offsets >= letters[:, None])).sum(axis=1)
        last_row, last_col = max(last_row, int(row.max())), max(last_col, int(col.max()))
        if last_row > max_rows or last_col > max_cols:
            raise _Irregular

    _fast_part(pkg, info, sheet, on_tags)
    return SheetScan(sheet, info.filename, dimension[0] if dimension else None, last_row, last_col, frozenset())


def _fast_shared_strings(pkg: _Package, info: zipfile.ZipInfo) -> None:
    """An ordinary sharedStrings part whose declared count needs no backing (up to SST_SLACK)."""
    checked = False

    def on_tags(buf: bytes, t: _Tags) -> None:
        nonlocal checked
        if checked:
            return
        root = np.flatnonzero(t.second != _QUESTION)
        if not len(root) or not buf.startswith(b"<sst", t.lt[root[0]]):
            raise _Irregular
        count: list[str] = []
        parser = expat.ParserCreate()  # the root tag alone, through expat: its attributes as parsed
        parser.StartElementHandler = lambda _name, attrs: count.append(attrs.get("uniqueCount", ""))
        try:
            parser.Parse(buf[: t.gt[root[0]] + 1], False)
        except expat.ExpatError as exc:
            raise _Irregular from exc
        digits = count[0].strip().lstrip("+") if count else ""
        if digits.isdigit() and (len(digits) > 20 or int(digits) > SST_SLACK):
            raise _Irregular
        checked = True

    _fast_part(pkg, info, None, on_tags)
    if not checked:
        raise _Irregular


# --- one sheet -----------------------------------------------------------------------
_COLUMNS: dict[str, int] = {}


def _column_number(letters: str) -> int:
    """'A' -> 1, 'AB' -> 28 (cached: a sheet uses a handful of columns; only the 18,278 canonical
    upper-case names are kept, so no file can grow the cache)."""
    n = _COLUMNS.get(letters)
    if n is None:
        if not (0 < len(letters) <= 3 and letters.isascii() and letters.isalpha()):
            raise _Broken(f"bad cell reference column {letters!r}")
        n = 0
        for ch in letters.upper():
            n = n * 26 + ord(ch) - 64
        if letters.isupper():
            _COLUMNS[letters] = n
    return n


def _reference(ref: str) -> tuple[int, int]:
    """'B12' -> (row 12, column 2)."""
    letters = ref.rstrip(_DIGITS)
    return _row_number(ref, ref[len(letters):]), _column_number(letters)


def _row_number(ref: str, digits: str) -> int:
    if not digits.isdigit() or len(digits) > 9:
        raise _Broken(f"bad cell reference {ref!r}")
    return int(digits)


_DIGITS = "0123456789"


def _scan_sheet(pkg: _Package, info: zipfile.ZipInfo, sheet: str) -> SheetScan:
    """Stream one sheet: the declared dimension, the real extent (aborting once over a limit) and
    formulas saved without a cached value.  Only cells holding something count, as calamine's
    range does: an empty cell that merely carries formatting costs calamine nothing."""
    file, settings = pkg.file, pkg.settings
    max_rows, max_cols = settings.max_sheet_rows, settings.max_sheet_cols
    row = col = cell_row = 0
    row_text: str | None = None  # the current <row>'s r, to skip parsing the row out of each cell's
    last_row = last_col = 0
    in_cell = counted = False
    cell_attrs: dict = {}
    formula: tuple[int, int] | None = None  # the current cell's position while it holds <f>
    value_seen = value_text = watching = False
    depth = 0
    dimension: list[str] = []
    uncached: set[tuple[int, int]] = set()
    parser: expat.XMLParserType | None = None

    def settle() -> None:
        """The current cell is complete: record its formula if it had no value to show."""
        nonlocal formula
        if formula is not None:
            if not value_seen or (not value_text and cell_attrs.get("t") != "str"):
                uncached.add(formula)
                if len(uncached) > MAX_UNCACHED_FORMULAS:
                    raise FileRejected(Issue(
                        file, sheet, None, None, str(len(uncached)), "formula_no_value",
                        f"工作表「{sheet}」有超过{MAX_UNCACHED_FORMULAS}个公式没有计算结果（文件可能由程序生成），"
                        "请在Excel中打开、重新计算并保存后上传",
                        f"sheet '{sheet}' has more than {MAX_UNCACHED_FORMULAS} formulas without a calculated value "
                        "(the file was probably written by a program): open it in Excel, recalculate and save"))
            formula = None

    def holds_something() -> None:
        nonlocal counted, last_row, last_col
        counted = True
        if cell_row > last_row:
            if cell_row > max_rows:
                raise _too_many_rows(file, sheet, cell_row, max_rows, declared=False)
            last_row = cell_row
        if col > last_col:
            if col > max_cols:
                raise _too_many_columns(file, sheet, col, max_cols, declared=False)
            last_col = col

    def value_text_seen(_text: str) -> None:
        nonlocal value_text
        value_text = True

    def end(_name: str) -> None:
        nonlocal depth, watching
        depth -= 1
        if watching:  # the end of the formula's <v>
            watching = False
            parser.CharacterDataHandler = None

    def start(name: str, attrs: dict) -> None:
        nonlocal depth, watching, row, row_text, col, cell_row, in_cell, counted, cell_attrs, formula, value_seen, \
            value_text
        depth += 1
        if depth > MAX_XML_DEPTH:
            raise _unsafe(file, sheet, info.filename, f"嵌套超过{MAX_XML_DEPTH}层",
                          f"elements nested over {MAX_XML_DEPTH} deep")
        if name == "c":  # the hot path: written out, no calls for an ordinary cell
            if formula is not None:
                settle()
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip(_DIGITS)
                col = _COLUMNS.get(letters) or _column_number(letters)
                digits = ref[len(letters):]
                cell_row = row if digits == row_text else _row_number(ref, digits)
            else:
                cell_row, col = row, col + 1
            in_cell, counted, cell_attrs = True, False, attrs
        elif name == "v":
            if in_cell:
                if not counted:
                    counted = True
                    if cell_row > last_row or col > last_col:
                        holds_something()
                if formula is not None:  # does the formula carry a value? watch this <v>'s text
                    value_seen = watching = True
                    parser.CharacterDataHandler = value_text_seen
        elif name == "row":
            if formula is not None:
                settle()
            in_cell = False
            row_text = attrs.get("r")
            row = _row_number(row_text, row_text) if row_text else row + 1
            col = 0
        elif name == "f":
            if in_cell:
                if not counted:
                    holds_something()
                formula, value_seen, value_text = (cell_row, col - 1), False, False
        elif ":" in name:  # a prefixed main namespace (x:c): the same elements by their local name
            depth -= 1
            start(name.rpartition(":")[2], attrs)
        elif name == "is":
            if in_cell and not counted:
                holds_something()
            in_cell = False  # an inline string ends what matters in a cell; its <t>s are not cells
        elif name == "dimension":
            ref = attrs.get("ref", "")
            dimension.append(ref)
            try:
                end_row, end_col = _reference(ref.rpartition(":")[2])
            except _Broken:
                return  # calamine judges a malformed dimension itself
            if end_row > max_rows:
                raise _too_many_rows(file, sheet, end_row, max_rows, declared=True)
            if end_col > max_cols:
                raise _too_many_columns(file, sheet, end_col, max_cols, declared=True)
        elif in_cell:
            settle()
            in_cell = False  # <extLst> and the like: an <f> there is not a cell's formula

    def install(p: expat.XMLParserType) -> None:
        nonlocal parser
        parser = p
        p.StartElementHandler, p.EndElementHandler = start, end

    pkg.parse(info, install, sheet)
    settle()
    return SheetScan(sheet, info.filename, dimension[0] if dimension else None, last_row, last_col,
                     frozenset(uncached))
