"""Trade-detail CSV: streamed, validated per block with Arrow compute, COPY'd as CSV.

A city-month may hold 10^5–10^6 rows, so nothing here materialises the whole
file: Arrow's streaming reader yields blocks, every rule is a vectorised
kernel over a block, and good rows go straight into ``COPY ... FROM STDIN``.
Memory stays bounded by the block size, whatever the file size.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingestion import contract
from ingestion.codes import _VALUE, USCC_WEIGHTS
from ingestion.contract import TRADE, Column
from ingestion.validate import FORMULA_PREFIXES, FileRejected, Issue, map_headers

BLOCK_SIZE = 4 << 20  # bytes of CSV per block (~35k rows): small blocks keep Postgres and us busy at once
SNIFF_BYTES = 4 << 20


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GB18030 (a superset of GBK/GB2312); anything else is refused.

    Decided on the first megabytes: valid UTF-8 Chinese text is practically never
    valid the other way round, and a later undecodable byte still fails the read.
    """
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    cut = head.rfind(b"\n") if len(head) == SNIFF_BYTES else len(head)
    sample = head[: cut if cut > 0 else len(head)]
    for enc in ("utf-8", "gb18030"):
        try:
            sample.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    raise FileRejected(Issue(path.name, None, None, None, None, "encoding",
                             "无法识别文件编码，请使用UTF-8或GBK保存CSV",
                             "unknown text encoding: save the CSV as UTF-8 or GBK"))


def read_header(path: Path, encoding: str) -> list[str]:
    with open(path, encoding=encoding, newline="") as fh:
        try:
            return next(csv.reader(fh))
        except StopIteration:
            return []


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
    offsets = np.frombuffer(fixed.buffers()[1], dtype=np.int32)[fixed.offset: fixed.offset + len(fixed) + 1]
    data = np.frombuffer(fixed.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]].reshape(-1, 18)
    values = _VALUE[data]
    expected = (31 - (values[:, :17] @ USCC_WEIGHTS) % 31) % 31
    result[np.flatnonzero(ok)] = (values >= 0).all(axis=1) & (values[:, 17] == expected)
    return result


@dataclass
class StreamResult:
    rows_total: int = 0
    rows_loaded: int = 0
    issues: list[Issue] = field(default_factory=list)
    bad_rows: int = 0


def _empty_to_null(arr: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _to_number(arr: pa.Array) -> pa.Array:
    """Cast text to float64; values that are not numbers become null (the caller flags them)."""
    try:
        return pc.cast(arr, pa.float64())
    except pa.ArrowInvalid:
        cleaned = pc.replace_substring_regex(arr, r"[,，\s]", "")
        try:
            return pc.cast(cleaned, pa.float64())
        except pa.ArrowInvalid:
            import pandas as pd

            return pa.array(pd.to_numeric(cleaned.to_pandas(), errors="coerce"), type=pa.float64())


class _BlockCheck:
    def __init__(self, file: str, rows: np.ndarray):
        self.file, self.rows = file, rows
        self.bad = np.zeros(len(rows), dtype=bool)
        self.issues: list[Issue] = []

    def flag(self, mask: np.ndarray, col: Column, values: pa.Array, rule: str, zh: str, en: str) -> None:
        idx = np.flatnonzero(mask)
        if len(idx):
            shown = values.take(pa.array(idx)).to_pylist()
            self.issues += [Issue(self.file, None, int(self.rows[i]), col.header, v, rule, zh, en)
                            for i, v in zip(idx, shown)]
            self.bad |= mask


def _np(mask) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def stream_trade(path: Path, file_id: int, copy, settings=None) -> StreamResult:
    """Validate ``path`` block by block and write good rows to ``copy`` (COPY ... FORMAT csv)."""
    encoding = detect_encoding(path)
    header = read_header(path, encoding)
    if not header:
        raise FileRejected(Issue(path.name, None, 1, None, None, "empty_sheet",
                                 "文件没有表头", "file has no header row"))
    mapping = map_headers(header, TRADE, path.name)
    names = [f"c{i}" for i in range(len(header))]
    result = StreamResult()
    invalid: list[Issue] = []

    def on_invalid(row) -> str:
        # The streaming reader cannot tell where the row was; it is located after the read.
        invalid.append(Issue(path.name, None, None, None, (row.text or "")[:200], "column_count",
                             f"该行应有{row.expected_columns}列，实际为{row.actual_columns}列；整个文件退回",
                             f"row should have {row.expected_columns} fields, found {row.actual_columns}; "
                             "file rejected"))
        return "skip"

    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(encoding="utf8" if encoding.startswith("utf-8") else encoding,
                                       skip_rows=1, column_names=names, block_size=BLOCK_SIZE),
        # Keep empty lines as rows so row numbers stay the clerk's line numbers.
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False,
            include_columns=[names[mapping[c.name]] for c in TRADE.columns]),
    )
    code_sets = {c.name: pa.array(sorted(contract.code_list(c.code_list))) for c in TRADE.columns if c.code_list}
    next_row = 2  # header is row 1
    try:
        for batch in reader:
            n = batch.num_rows
            # Row numbers: skipped invalid rows shift later rows; Arrow reports their line numbers.
            rows = np.arange(next_row, next_row + n)
            next_row += n
            result.rows_total += n
            chk = _BlockCheck(path.name, rows)
            blank = np.ones(n, dtype=bool)
            for col in TRADE.columns:
                blank &= _np(pc.equal(pc.utf8_trim_whitespace(batch.column(names[mapping[col.name]])), ""))
            result.rows_total -= int(blank.sum())
            out = {"file_id": pa.array(np.full(n, file_id, dtype=np.int64)),
                   "row_number": pa.array(rows.astype(np.int32))}
            for col in TRADE.columns:
                raw = batch.column(names[mapping[col.name]])
                val = _empty_to_null(raw)
                missing = _np(pc.is_null(val))
                if col.required:
                    chk.flag(missing, col, raw, "required", f"「{col.header}」不能为空", f"'{col.header}' is required")
                if col.dtype == "numeric":
                    num = _to_number(val)
                    chk.flag(~missing & _np(pc.is_null(num)), col, raw, "not_a_number", "应为数字", "must be a number")
                    if col.min_value is not None:
                        chk.flag(_np(pc.less(num, col.min_value)), col, raw, "below_minimum",
                                 f"不得小于{col.min_value:g}", f"must not be less than {col.min_value:g}")
                    out[col.name] = num
                    continue
                formula = _np(pc.match_substring_regex(val, "^[" + "".join("\\" + p for p in FORMULA_PREFIXES) + "]"))
                chk.flag(formula, col, raw, "formula", "内容不得以 = + - @ 开头（疑似公式）",
                         "text must not start with = + - @ (looks like a formula)")
                checked = ~missing & ~formula
                if col.pattern:
                    ok = _np(pc.match_substring_regex(val, f"^(?:{col.pattern})$"))
                    chk.flag(checked & ~ok, col, raw, "pattern", "格式不符（应为8位数字）",
                             f"does not match the required format {col.pattern}")
                if col.code_list:
                    ok = _np(pc.is_in(val, value_set=code_sets[col.name]))
                    chk.flag(checked & ~ok, col, raw, f"code_list:{col.code_list}", f"不在{col.label}代码清单中",
                             f"not in the list of {col.code_list.replace('_', ' ')}")
                if col.check == "uscc":
                    chk.flag(checked & ~uscc_valid_arrow(val), col, raw, "uscc_check",
                             "统一社会信用代码校验位错误或格式不符（GB 32100）",
                             "unified social credit code fails the GB 32100 check")
                out[col.name] = val
            result.issues += [i for i in chk.issues if not blank[i.row - rows[0]]]
            result.bad_rows += int((chk.bad & ~blank).sum())
            good = pa.table(out).filter(pa.array(~chk.bad & ~blank))
            if good.num_rows:
                sink = io.BytesIO()
                pacsv.write_csv(good, sink, write_options=pacsv.WriteOptions(include_header=False))
                copy.write(sink.getvalue())
                result.rows_loaded += good.num_rows
    except pa.ArrowInvalid as exc:
        raise FileRejected(Issue(path.name, None, None, None, None, "unreadable_file",
                                 "CSV文件无法解析（编码或格式错误）", f"CSV cannot be parsed: {exc}")) from exc
    if invalid:
        _locate(path, encoding, len(header), invalid)
        raise FileRejected(invalid[0])
    return result


def _locate(path: Path, encoding: str, expected: int, invalid: list[Issue]) -> None:
    """Fill in the line numbers of rows with a wrong field count (failure path only)."""
    wanted = len(invalid)
    with open(path, encoding=encoding, newline="") as fh:
        for line_no, fields in enumerate(csv.reader(fh), start=1):
            if fields and len(fields) != expected:
                invalid[len(invalid) - wanted].row = line_no
                wanted -= 1
                if not wanted:
                    break
