"""Trade-detail CSV: streamed, validated per block with Arrow compute, COPY'd as CSV.

A city-month may hold 10^5–10^6 rows, so nothing here materialises the whole
file: Arrow's streaming reader yields blocks, every rule is a vectorised
kernel over a block, and good rows go straight into ``COPY ... FROM STDIN``.
Memory stays bounded by the block size, whatever the file size.

Cells are read as bytes, not text: one undecodable byte then rejects its row
(rule ``invalid_encoding``) instead of the file. UTF-8 files are read by Arrow
as they are; GBK/GB18030 and UTF-16 files are transcoded to UTF-8 on the way
in, each bad source byte kept as an (invalid) encoded surrogate, so the same
per-block UTF-8 check finds it and the receipt can name the byte.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.settings import Settings
from ingestion import contract
from ingestion.codes import uscc_valid_bytes
from ingestion.contract import TRADE, Column, split_unit
from ingestion.issues import (
    CONTROL_CHARACTERS,
    FORMULA_PREFIXES,
    HEADER_SEARCH_ROWS,
    LINE_BREAKS,
    NUMBER_PATTERN,
    FileRejected,
    Issue,
    cell_rule,
    extra_columns,
    find_header_row,
    map_headers,
)

BLOCK_SIZE = 4 << 20  # bytes of CSV per block (~35k rows): small blocks keep Postgres and us busy at once
SNIFF_BYTES = 4 << 20  # bytes the encoding is decided on
HEAD_BYTES = 1 << 20  # bytes the header row is looked for in (title rows above it are common)
SCAN_BYTES = 1 << 20  # chunk of the failure-path scan for an over-long record
DELIMITERS = (",", "\t")  # comma; tab from Excel's "Unicode text" export
# More invalid sequences than this share of the non-ASCII characters: the file is not in that encoding.
BAD_SHARE = 0.1
WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # xlsx (a zip) and the old binary xls
ESCAPE = "openecon.escape"  # decode error handler: a bad byte becomes the lone surrogate U+DC00+byte
_SURROGATE = re.compile("[\udc00-\udcff]")
_WHOLE_NUMBER = f"^(?:{NUMBER_PATTERN})$"
_FORMULA_BYTES = "".join(FORMULA_PREFIXES).encode("ascii")


def _escape_bytes(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    # One byte at a time in GB18030: its decoder may report a cut multi-byte sequence together
    # with the ASCII after it (b"\x81\x30," at the end of the input is one error), and a comma or
    # quote swallowed that way would merge two fields. UTF-16 errors are whole code units.
    end = exc.end if exc.encoding.replace("_", "-").startswith("utf-16") else exc.start + 1
    return "".join(chr(0xDC00 + b) for b in exc.object[exc.start:end]), end


codecs.register_error(ESCAPE, _escape_bytes)


def _rejected(path: Path, rule: str, zh: str, en: str, row: int | None = None, value: str | None = None):
    return FileRejected(Issue(path.name, None, row, None, value, rule, zh, en))


# --- encoding ------------------------------------------------------------------------
@dataclass(frozen=True)
class Encoding:
    codec: str  # Python codec name: utf-8, gb18030, utf-16-le, utf-16-be
    bom: int = 0  # bytes of byte-order mark before the text

    @property
    def transcoded(self) -> bool:
        """Arrow reads UTF-8 files as they are; the others pass through :class:`_Utf8Stream`."""
        return self.codec != "utf-8"


def _bad_share(sample: bytes, codec: str) -> float:
    """Invalid sequences per valid non-ASCII character of ``sample`` decoded as ``codec``."""
    try:
        sample.decode(codec)
        return 0.0
    except UnicodeDecodeError:
        pass
    text = sample.decode(codec, "replace")  # C speed; genuine U+FFFD in the text are not errors
    bad = text.count("\ufffd") - sample.count("\ufffd".encode(codec))
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return bad / (non_ascii - bad) if non_ascii > bad else float("inf")


def sniff(path: Path) -> Encoding:
    """UTF-8 (with or without BOM), GB18030 (a superset of GBK/GB2312) or UTF-16 (BOM, as Excel's
    "Unicode text" export writes it); a workbook named .csv, or text in none of these, is refused.

    Decided on the first megabytes, UTF-8 first: GBK Chinese text is practically never valid
    UTF-8. A few bad bytes do not decide against an encoding (they reject only their rows); more
    than BAD_SHARE of the non-ASCII text does.
    """
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(WORKBOOK_MAGIC):
        raise _rejected(path, "wrong_content",
                        "文件内容是Excel工作簿，不是CSV文本：请在Excel中「另存为」「CSV UTF-8（逗号分隔）」后重新报送",
                        "the file is an Excel workbook, not CSV text: in Excel use Save As "
                        "'CSV UTF-8 (Comma delimited)' and send the saved file")
    if head.startswith(codecs.BOM_UTF8):
        candidates, bom = ["utf-8"], len(codecs.BOM_UTF8)
        cut = head.rfind(b"\n") if len(head) == SNIFF_BYTES else len(head)
        sample = head[bom: cut if cut > bom else len(head)]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        candidates, bom, sample = [codec], 2, head[2: len(head) & ~1]
    else:
        cut = head.rfind(b"\n") if len(head) == SNIFF_BYTES else len(head)
        sample = head[: cut if cut > 0 else len(head)]
        candidates, bom = ["utf-8", "gb18030"], 0
        odd, even = sample[1::2].count(0), sample[0::2].count(0)
        if max(odd, even) > len(sample) // 8 and max(odd, even) > 3 * min(odd, even):
            # UTF-16 without a BOM: its ASCII characters leave every other byte 0
            candidates = ["utf-16-le" if odd > even else "utf-16-be"]
            sample = sample[: len(sample) & ~1]
    for codec in candidates:
        if _bad_share(sample, codec) <= BAD_SHARE:
            return Encoding(codec, bom)
    raise _rejected(path, "encoding", "无法识别文件编码，请使用UTF-8或GBK保存CSV",
                    "unknown text encoding: save the CSV as UTF-8 or GBK")


def detect_encoding(path: Path) -> str:
    """The Python codec name of ``path`` (utf-8-sig when it starts with a BOM)."""
    enc = sniff(path)
    return "utf-8-sig" if enc.codec == "utf-8" and enc.bom else enc.codec


class _Utf8Stream(io.RawIOBase):
    """A GBK/GB18030 or UTF-16 file as UTF-8 bytes for Arrow's reader.

    A byte the codec cannot decode becomes U+DC00+byte, encoded with surrogatepass: invalid
    UTF-8, so the per-block check finds the cell, and :func:`_escaped` shows the original byte.
    Reads return exactly the size asked for until the end (Arrow's blocks stay full-sized).
    """

    def __init__(self, path: Path, enc: Encoding, skip: int = 0):
        self._fh = open(path, "rb")
        self._fh.seek(enc.bom)
        self._codec = enc.codec
        self._decoder = codecs.getincrementaldecoder(enc.codec)(ESCAPE)
        self._buf = bytearray()
        self._eof = False
        self._skip = skip  # UTF-8 bytes not to return (the records above the data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (self._skip or size < 0 or len(self._buf) < size):
            raw = self._fh.read(max(size, 1 << 20))
            self._eof = not raw
            text = self._decoder.decode(raw)
            if self._eof:
                # The final flush of CPython's GB18030 decoder takes what it still holds (b"\x81\x30,")
                # as one error and drops the bytes after the first: decode them in one go instead.
                text += self._decoder.getstate()[0].decode(self._codec, ESCAPE)
            self._buf += text.encode("utf-8", "surrogatepass")
            if self._skip:
                drop = min(self._skip, len(self._buf))
                del self._buf[:drop]
                self._skip -= drop
        size = len(self._buf) if size < 0 else size
        out = bytes(self._buf[:size])
        del self._buf[:size]
        return out

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open_text(path: Path, enc: Encoding, skip: int = 0):
    """The file as a stream of UTF-8 bytes, from ``skip`` bytes after the BOM."""
    if enc.transcoded:
        return _Utf8Stream(path, enc, skip)
    fh = open(path, "rb")
    fh.seek(enc.bom + skip)
    return fh


def _escaped(value: bytes, transcoded: bool) -> str:
    """A cell with bad bytes as the clerk can read it: the bytes as \\xNN, the rest as text."""
    if transcoded:
        text = value.decode("utf-8", "surrogatepass")
        return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)
    return value.decode("utf-8", "backslashreplace")


# --- header --------------------------------------------------------------------------
def _cells(record: bytes, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(record.decode("utf-8", "replace"), newline=""), delimiter=delimiter), [])
    except csv.Error:  # a field over the csv module's limit: not a header
        return []


def find_header(path: Path, enc: Encoding) -> tuple[str, int, list[str], int]:
    """(delimiter, index of the header record, its cells, offset of the data in the UTF-8 stream).

    The header is the record holding most of the contract's labels, as in a workbook; title
    rows and blank lines above it count as rows, so the clerk's row numbers stay as in Excel.
    Records are split by :func:`_record_spans`, as Arrow splits them (Arrow's own skip_rows
    counts physical lines, so a quoted line break above the data would shift every row).
    """
    with _open_text(path, enc) as stream:
        head = stream.read(HEAD_BYTES)
        whole = not stream.read(1)
    labels = {split_unit(c.header)[0] for c in TRADE.columns}
    best: tuple[int, str, int, list[str], int] = (-1, ",", 0, [], 0)
    for delimiter in DELIMITERS:
        rows, ends = [], []
        for begin, end, after in _record_spans(io.BytesIO(head), delimiter):
            if len(rows) == HEADER_SEARCH_ROWS or (end == len(head) and not whole):
                break
            rows.append(_cells(head[begin:end], delimiter))
            ends.append(after)
        if not rows:
            continue
        h = find_header_row(rows, TRADE)
        hits = len(labels & {split_unit(v)[0] for v in rows[h] if v})
        if hits > best[0]:
            best = (hits, delimiter, h, rows[h], ends[h])
    return best[1:]


# --- checks over Arrow arrays --------------------------------------------------------
def uscc_valid_arrow(arr: pa.Array) -> np.ndarray:
    """GB 32100 check over an Arrow string array without leaving C for the happy path."""
    n = len(arr)
    length_ok = pc.fill_null(pc.and_(pc.equal(pc.binary_length(arr), 18), pc.string_is_ascii(arr)), False)
    ok = length_ok.to_numpy(zero_copy_only=False)
    result = np.zeros(n, dtype=bool)
    if not ok.any():
        return result
    fixed = pc.filter(arr, length_ok).cast(pa.binary()).combine_chunks() if isinstance(arr, pa.ChunkedArray) \
        else pc.filter(arr, length_ok).cast(pa.binary())
    offsets = _offsets(fixed)
    data = np.frombuffer(fixed.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    result[np.flatnonzero(ok)] = uscc_valid_bytes(data.reshape(-1, 18))
    return result


def _offsets(arr: pa.Array) -> np.ndarray:
    """The value offsets of a string or binary array (len + 1 of them), without a copy."""
    return np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset: arr.offset + len(arr) + 1]


def _value_bytes(arr: pa.Array) -> np.ndarray:
    """The bytes of every value of a string or binary array, without a copy (may include null slots)."""
    if len(arr) == 0 or arr.buffers()[2] is None:
        return np.empty(0, dtype=np.uint8)
    offsets = _offsets(arr)
    return np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]


def _starts_with_any(arr: pa.Array, prefixes: bytes) -> np.ndarray:
    """Which values begin with one of the single ASCII bytes ``prefixes`` (nulls do not): the
    first byte of each value read off the offsets, 5× faster than a regular expression."""
    n = len(arr)
    if not n or arr.buffers()[2] is None or arr.buffers()[2].size == 0:  # no value has a byte (all null or "")
        return np.zeros(n, dtype=bool)
    offsets = _offsets(arr)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    starts = offsets[:-1]
    hit = (offsets[1:] > starts) & np.isin(data[np.minimum(starts, len(data) - 1)],
                                            np.frombuffer(prefixes, dtype=np.uint8))
    if arr.null_count:
        hit &= _np(pc.is_valid(arr))
    return hit


def _has_control_bytes(data: np.ndarray) -> bool:
    """Any C0 control byte or DEL (also tab and line breaks): the cheap test before the regexes."""
    return bool(len(data)) and (data.min() < 0x20 or bool((data == 0x7F).any()))


def _plain_decimal_bytes(data: np.ndarray) -> bool:
    """Only the bytes + - . 0-9 (0x2B..0x39 without , and /)."""
    return not len(data) or (data.min() >= 0x2B and data.max() <= 0x39
                             and not ((data == 0x2C) | (data == 0x2F)).any())


def _np(mask) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _as_text(raw: pa.Array, transcoded: bool) -> tuple[pa.Array, np.ndarray | None, list[str]]:
    """The cells as UTF-8 text; undecodable cells become "" and are returned with their escaped bytes."""
    try:
        return raw.cast(pa.string()), None, []
    except pa.ArrowInvalid:  # failure path: find the cells in Python
        pass
    bad = np.zeros(len(raw), dtype=bool)
    shown = []
    for i, value in enumerate(raw.to_pylist()):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            bad[i] = True
            shown.append(_escaped(value, transcoded))
    text = pc.if_else(pa.array(bad), pa.scalar(b"", pa.binary()), raw).cast(pa.string())
    return text, bad, shown


def _nfkc(val: pa.Array, skip: pa.Array | None = None) -> pa.Array:
    """NFKC (full-width digits and letters as ASCII) where it can change something: ASCII is already
    normal, and so is a value found in its code list (``skip``)."""
    todo = pc.invert(pc.string_is_ascii(val))
    if skip is not None:
        todo = pc.and_(todo, pc.invert(skip))
    todo = _np(todo)
    if not todo.any():
        return val
    if todo.all():
        return pc.utf8_normalize(val, "NFKC")
    return pc.replace_with_mask(val, pa.array(todo), pc.utf8_normalize(val.filter(pa.array(todo)), "NFKC"))


def _amount(val: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(text written to COPY, float64 for the checks) of amounts following NUMBER_PATTERN; null where not.

    The text keeps every digit as written (Postgres numeric, no float rounding), commas removed."""
    data = _value_bytes(val)
    if _plain_decimal_bytes(data) and not _np(pc.ends_with(val, ".")).any():
        # Only digits, signs and points, no trailing point: there Arrow's float parser accepts
        # exactly NUMBER_PATTERN (it would also take 1e5, inf or "1."), so one cast decides.
        try:
            return val, pc.cast(val, pa.float64())
        except pa.ArrowInvalid:
            pass
    ok = pc.match_substring_regex(val, _WHOLE_NUMBER)
    text = pc.if_else(ok, pc.replace_substring(val, ",", ""), pa.scalar(None, pa.string()))
    return text, pc.cast(text, pa.float64())


# --- streaming -----------------------------------------------------------------------
@dataclass
class StreamResult:
    rows_total: int = 0
    rows_loaded: int = 0
    issues: list[Issue] = field(default_factory=list)
    bad_rows: int = 0


class _BlockCheck:
    def __init__(self, file: str, rows: np.ndarray):
        self.file, self.rows = file, rows
        self.bad = np.zeros(len(rows), dtype=bool)
        self.issues: list[Issue] = []

    def flag(self, mask: np.ndarray, col: Column, values: pa.Array | list, rule: str, zh: str, en: str) -> None:
        """Reject the rows in ``mask``; ``values`` are the cells to show (or, as a list, those of the mask)."""
        idx = np.flatnonzero(mask)
        if len(idx):
            shown = values if isinstance(values, list) else values.take(pa.array(idx)).to_pylist()
            self.issues += [Issue(self.file, None, int(self.rows[i]), col.header, v, rule, zh, en)
                            for i, v in zip(idx, shown)]
            self.bad |= mask


def _column_count(path: Path, row: int | None, text: str | None, expected: int, actual: int) -> Issue:
    return Issue(path.name, None, row, None, (text or "")[:200], "column_count",
                 f"该行应有{expected}列，实际为{actual}列；整个文件退回",
                 f"row should have {expected} fields, found {actual}; file rejected")


def _line_too_long(path: Path, row: int | None, limit: int) -> FileRejected:
    kb = f"{limit / 1024:g}"
    where = f"第{row}行" if row else "有一行"
    return _rejected(path, "line_too_long",
                     f"{where}超过{kb} KB，整个文件退回：请检查是否缺少引号，或单元格中粘贴了大段文字",
                     f"{'row ' + str(row) if row else 'a row'} is longer than {kb} KB; file rejected "
                     "(a missing quote, or a long text pasted into a cell?)", row=row)


def stream_trade(path: Path, file_id: int, copy, settings: Settings) -> StreamResult:
    """Validate ``path`` block by block and write good rows to ``copy`` (COPY ... FORMAT csv).

    ``settings`` gives the record limit (OPENECON_MAX_CSV_LINE_KB).
    """
    limit = int(settings.max_csv_line_kb * 1024)
    enc = sniff(path)
    delimiter, h, header, data_start = find_header(path, enc)
    if not any(c.strip() for c in header):
        raise _rejected(path, "empty_sheet", "文件没有表头", "file has no header row", row=1)
    header_row = h + 1  # rows as the clerk sees them in Excel: one per CSV record, from 1
    mapping = map_headers(header, TRADE, path.name, row=header_row)
    result = StreamResult()
    result.issues += extra_columns(header, mapping, TRADE, path.name, row=header_row)
    names = [f"c{i}" for i in range(len(header))]
    skip_at: list[int] = []  # data index before which a record was skipped (it keeps its row number)
    invalid: list[Issue] = []

    def on_invalid(row) -> str:
        # The serial reader numbers the records it read (from 1): the clerk's row is header_row + that.
        if row.number is not None:
            skip_at.append(row.number - 1 - len(skip_at))
            if not (row.text or "").strip():
                return "skip"  # a line of spaces is spacing, like an empty line
        where = None if row.number is None else header_row + row.number
        invalid.append(_column_count(path, where, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    if enc.transcoded:
        source = _Utf8Stream(path, enc, skip=data_start)
    else:
        source = pa.OSFile(str(path))
        source.seek(enc.bom + data_start)
    reader_opts = dict(
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                       block_size=max(BLOCK_SIZE, limit + (64 << 10))),
        # Empty lines stay rows (all cells empty), so row numbers stay the clerk's; a quoted field
        # may hold a line break and is still one row, as in Excel.
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.binary() for n in names},
                                             strings_can_be_null=False),
    )
    code_sets = {c.name: pa.array(sorted(contract.code_list(c.code_list))) for c in TRADE.columns if c.code_list}
    seen = 0  # data records read so far
    try:
        for batch in pacsv.open_csv(source, **reader_opts):
            n = batch.num_rows
            index = np.arange(seen, seen + n)
            rows = header_row + 1 + index
            if skip_at:
                rows = rows + np.searchsorted(np.asarray(skip_at), index, side="right")
            seen += n
            # A record over the limit, though Arrow read it (it fitted in two blocks).
            length = sum(np.diff(_offsets(c)) for c in batch.columns) + len(names) - 1
            if n and length.max() > limit:
                raise _line_too_long(path, int(rows[np.argmax(length > limit)]), limit)
            good, bad, blank, issues = _check_block(batch, rows, file_id, names, mapping, code_sets, path.name,
                                                    enc.transcoded)
            result.rows_total += n - int(blank.sum())
            result.issues += issues
            result.bad_rows += int(bad.sum())
            if good.num_rows:
                sink = io.BytesIO()
                pacsv.write_csv(good, sink, write_options=pacsv.WriteOptions(include_header=False))
                copy.write(sink.getvalue())
                result.rows_loaded += good.num_rows
            if invalid:
                break
    except pa.ArrowInvalid as exc:
        if not seen and str(exc).startswith("Empty CSV file"):  # the header alone: no trade this month
            return result
        # Arrow builds the handler's text as UTF-8 and, when that fails, raises instead.
        if m := re.search(r"Row #(\d+): Expected (\d+) columns, got (\d+): ", str(exc)):
            raise FileRejected(_column_count(path, header_row + int(m[1]), str(exc)[m.end():], int(m[2]),
                                             int(m[3]))) from exc
        if "straddl" in str(exc):  # a record bigger than a block: locate it without holding it
            with _open_text(path, enc) as stream:
                raise _line_too_long(path, _first_long_record(stream, limit, delimiter), limit) from exc
        raise _rejected(path, "unreadable_file", "CSV文件无法解析（编码或格式错误）",
                        f"CSV cannot be parsed: {exc}") from exc
    finally:
        source.close()
    if invalid:
        raise FileRejected(invalid[0])
    return result


def _check_block(batch: pa.RecordBatch, rows: np.ndarray, file_id: int, names: list[str], mapping: dict,
                 code_sets: dict, file: str, transcoded: bool):
    """(good rows as the COPY table, bad mask, blank mask, issues) of one block; blank rows are neither."""
    n = batch.num_rows
    chk = _BlockCheck(file, rows)
    blank = np.ones(n, dtype=bool)
    out = {"file_id": pa.array(np.full(n, file_id, dtype=np.int64)), "row_number": pa.array(rows.astype(np.int32))}
    null = pa.scalar(None, pa.string())
    for col in TRADE.columns:
        raw = batch.column(names[mapping[col.name]])
        text, undecodable, shown = _as_text(raw, transcoded)
        unusable = np.zeros(n, dtype=bool) if undecodable is None else undecodable
        if undecodable is not None:
            chk.flag(undecodable, col, shown, "invalid_encoding", *cell_rule("invalid_encoding"))
        written = pc.utf8_trim_whitespace(text)  # the value as written (spaces, U+3000, newlines trimmed)
        empty = _np(pc.equal(written, "")) & ~unusable
        blank &= empty
        # What no value may hold; such a cell is flagged once and kept out of the rules below.
        if _has_control_bytes(_value_bytes(raw)):
            for rule, pattern in (("control_character", CONTROL_CHARACTERS), ("line_break", LINE_BREAKS)):
                hit = _np(pc.match_substring_regex(written, pattern)) & ~unusable
                chk.flag(hit, col, written, rule, *cell_rule(rule))
                unusable |= hit
        if n and pc.max(pc.binary_length(written)).as_py() > col.max_length:
            hit = _np(pc.greater(pc.utf8_length(written), col.max_length)) & ~unusable
            chk.flag(hit, col, written, "too_long", *cell_rule("too_long", n=col.max_length))
            unusable |= hit
        val = pc.if_else(pa.array(empty | unusable), null, written)
        checked = ~empty & ~unusable
        if col.required:
            chk.flag(empty, col, written, "required", f"「{col.header}」不能为空", f"'{col.header}' is required")
        if col.dtype == "numeric":
            out[col.name], num = _amount(_nfkc(val))
            chk.flag(checked & _np(pc.is_null(num)), col, written, "not_a_number", "应为数字", "must be a number")
            if col.min_value is not None:
                chk.flag(_np(pc.less(num, col.min_value)), col, written, "below_minimum",
                         f"不得小于{col.min_value:g}", f"must not be less than {col.min_value:g}")
            continue
        listed = None
        if col.code_list:
            listed = pc.is_in(val, value_set=code_sets[col.name])
        if not col.free_text:  # codes as meant: full-width digits and letters read as ASCII
            normal = _nfkc(val, listed)
            if listed is not None and normal is not val:
                listed = pc.is_in(normal, value_set=code_sets[col.name])
            val = normal
        formula = _starts_with_any(val, _FORMULA_BYTES)
        chk.flag(formula, col, written, "formula", "内容不得以 = + - @ 开头（疑似公式）",
                 "text must not start with = + - @ (looks like a formula)")
        checked &= ~formula
        if col.pattern:
            ok = _np(pc.match_substring_regex(val, f"^(?:{col.pattern})$"))
            chk.flag(checked & ~ok, col, written, "pattern", "格式不符（应为8位数字）",
                     f"does not match the required format {col.pattern}")
        if listed is not None:
            chk.flag(checked & ~_np(listed), col, written, f"code_list:{col.code_list}",
                     f"不在{col.label}代码清单中", f"not in the list of {col.code_list.replace('_', ' ')}")
        if col.check == "uscc":
            chk.flag(checked & ~uscc_valid_arrow(val), col, written, "uscc_check",
                     "统一社会信用代码校验位错误或格式不符（GB 32100）",
                     "unified social credit code fails the GB 32100 check")
        out[col.name] = val
    issues = sorted((i for i in chk.issues if not blank[np.searchsorted(rows, i.row)]), key=lambda i: i.row)
    bad = chk.bad & ~blank
    good = pa.table(out)
    if bad.any() or blank.any():  # most blocks are clean: no copy of them
        good = good.filter(pa.array(~bad & ~blank))
    return good, bad, blank, issues


def _first_long_record(stream, limit: int, delimiter: str) -> int | None:
    """Row number of the first record longer than ``limit`` bytes (failure path only)."""
    for row, (start, end, _after) in enumerate(_record_spans(stream, delimiter), start=1):
        if end - start > limit:
            return row
    return None


def _record_spans(stream, delimiter: str):
    """(start, end, start of the next) of each record of a UTF-8 CSV stream, as offsets in it.

    A small CSV lexer with Arrow's rules: a quote opens a field only at its start, "" inside
    quotes is a quote, CR, LF and CRLF end a record, an empty line is a record. It reads chunks
    and keeps only the offset where the current record began, never the record, so a gigabyte
    without a line break costs no memory.
    """
    outside = re.compile(b"[\r\n]|" + re.escape(delimiter.encode()) + b'"')
    buf, base, start = b"", 0, 0  # base: offset of buf[0]; start: of the current record
    quoted, field_start, eof = False, True, False
    while not eof:
        chunk = stream.read(SCAN_BYTES)
        eof = not chunk
        buf += chunk
        i, end = 0, len(buf)
        while i < end:
            if quoted:
                j = buf.find(b'"', i)
                if j < 0 or (j + 1 == end and not eof):  # "" may straddle the chunks
                    i = end if j < 0 else j
                    break
                escaped = buf[j + 1: j + 2] == b'"'
                quoted, i = escaped, j + (2 if escaped else 1)
                continue
            if field_start and buf[i] == 0x22:
                quoted, field_start, i = True, False, i + 1
                continue
            field_start = False
            m = outside.search(buf, i)
            if m is None:
                i = end if eof else max(i, end - 1)  # a delimiter at the end may open a quote
                break
            k = m.start()
            if buf[k] not in b"\r\n":
                quoted, i = True, m.end()
                continue
            if buf[k] == 0x0D and k + 1 == end and not eof:  # CR LF may straddle the chunks
                i = k
                break
            i = k + (2 if buf[k: k + 2] == b"\r\n" else 1)
            yield start, base + k, base + i
            start, field_start = base + i, True
        buf, base = buf[i:], base + i
    if base > start:  # the last record, without a line break
        yield start, base, base
