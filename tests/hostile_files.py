"""Hostile and odd workbooks for the intake tests, built byte by byte.

A zip written by hand lets a test say exactly what the directory claims (sizes, CRCs) and
what the data holds, which no well-behaved writer would produce: zip bombs, entries that
lie about their size, sheets whose <dimension> lies, DOCTYPEs, formulas saved without a value.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

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
