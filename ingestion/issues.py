"""What intake tells a clerk: an :class:`Issue` names file, sheet, row, column, value and
rule in Chinese and English; :class:`FileRejected` rejects a whole file. Also the rules on a
cell's characters and the header matching that the workbook and the CSV readers share.

Free of pandas, so a trade-CSV ingest does not pay for importing it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import NamedTuple

from ingestion.contract import Sheet, split_unit

FORMULA_PREFIXES = ("=", "+", "-", "@")
# A number as a clerk types it, after NFKC (full-width digits and ，become ASCII): commas only
# as thousands separators in groups of three ("1,234.5"), so "1,5" is never read as 15.
NUMBER_PATTERN = r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?|[+-]?\.\d+"
# C0 control characters and DEL, except tab, line feed and carriage return (rule line_break).
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
LINE_BREAKS = r"[\t\r\n]"
SHOWN_VALUE_CHARS = 100  # a value quoted on a receipt or in audit is clipped to this length

# Rules on the characters of a cell, worded once for the workbook and the CSV validators.
CELL_RULES = {
    "control_character": ("含有不可见的控制字符（如NUL），请删除后重新保存",
                          "contains an invisible control character (such as NUL); remove it and save again"),
    "invalid_encoding": ("含有无法识别的字节（编码错误），请用UTF-8或GBK重新保存",
                         "contains bytes that are not valid text; save the file again as UTF-8 or GBK"),
    "line_break": ("单元格内含换行符或制表符，请删除后重新保存",
                   "the cell contains a line break or tab inside the value; remove it and save again"),
    "too_long": ("内容过长（超过{n}个字符）", "longer than {n} characters"),
    "formula_no_value": ("公式无计算结果，请在Excel中重新计算后保存",
                         "formula without a calculated value: recalculate in Excel and save again"),
}


def cell_rule(rule: str, **fmt) -> tuple[str, str]:
    zh, en = CELL_RULES[rule]
    return zh.format(**fmt), en.format(**fmt)


_VISIBLE = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: str | None) -> str | None:
    """Text as it can be stored and printed: bytes of a name that is not UTF-8 (kept by Python
    as lone surrogates) become \\xNN."""
    if text is None:
        return None
    return str(text).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") \
        .encode("utf-8", "backslashreplace").decode("utf-8")


def shown(value: str | None) -> str | None:
    """A value as quoted on a receipt: control characters and line breaks made visible,
    clipped, always storable."""
    if value is None:
        return None
    value = re.sub(CONTROL_CHARACTERS + "|" + LINE_BREAKS,
                   lambda m: _VISIBLE.get(m.group(), f"\\x{ord(m.group()):02x}"), printable(value))
    return value if len(value) <= SHOWN_VALUE_CHARS else value[:SHOWN_VALUE_CHARS] + "…"


class _UncachedFormula:
    """Placed by the workbook reader in a cell holding a formula with no calculated value."""

    def __repr__(self) -> str:
        return "<formula without value>"


UNCACHED_FORMULA = _UncachedFormula()

@dataclass
class Issue:
    file: str
    sheet: str | None
    row: int | None  # as the clerk sees it: header is row 1
    column: str | None  # the Chinese header
    value: str | None
    rule: str  # stable rule code
    message_zh: str
    message_en: str
    level: str = "row"  # row (row rejected) | file (file rejected) | warning (accepted, flagged)

    def __post_init__(self):
        self.value = shown(self.value)  # a 5 MB or NUL-bearing value never reaches a receipt or audit
        self.file, self.sheet, self.column = map(printable, (self.file, self.sheet, self.column))

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        where = [f"文件 file {self.file}"]
        if self.sheet:
            where.append(f"工作表 sheet {self.sheet}")
        if self.row is not None:
            where.append(f"第{self.row}行 row {self.row}")
        if self.column:
            where.append(f"列 column {self.column}")
        if self.value is not None:
            where.append(f"值 value '{self.value}'")  # already escaped by shown()
        tag = "警告 warning " if self.level == "warning" else ""
        return f"{', '.join(where)}: {tag}[{self.rule}] {self.message_zh} / {self.message_en}"


class FileRejected(Exception):
    """A problem that rejects the whole file."""

    def __init__(self, issue: Issue):
        issue.level = "file"
        super().__init__(issue.line())
        self.issue = issue


# --- headers -------------------------------------------------------------------
HEADER_SEARCH_ROWS = 10  # a header is looked for in the first rows (title rows above it are common)


def find_header_row(rows: list[list], sheet: Sheet) -> int:
    """Index of the row holding most of the contract's labels (0 if none does)."""
    labels = {split_unit(c.header)[0] for c in sheet.columns}
    best, best_hits = 0, 0
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        hits = len(labels & {split_unit(v)[0] for v in row if v not in (None, "")})
        if hits > best_hits:
            best, best_hits = i, hits
    return best


def map_headers(headers: list, sheet: Sheet, file: str, row: int = 1) -> dict[str, int]:
    """Column name -> position, matching headers tolerantly and checking stated units.

    Headers are matched on their label; where two columns share a label
    (金额（美元） and 金额（人民币元）) the unit decides.
    """
    found: list[tuple[int, str, str | None, object]] = []
    for pos, h in enumerate(headers):
        label, unit = split_unit(h)
        if label:
            found.append((pos, label, unit, h))
    mapping: dict[str, int] = {}
    where = sheet.sheet_name
    for col in sheet.columns:
        want_label, _ = split_unit(col.header)
        accepted = {split_unit(f"x({u})")[1] for u in col.accepted_units}
        same_label = [f for f in found if f[1] == want_label and f[0] not in mapping.values()]
        exact = [f for f in same_label if f[2] in accepted or (f[2] is None and not accepted)]
        shared = sum(1 for c in sheet.columns if split_unit(c.header)[0] == want_label) > 1
        if exact:
            mapping[col.name] = exact[0][0]
        elif same_label and same_label[0][2] is None and not shared:
            mapping[col.name] = same_label[0][0]  # unit omitted: the template's unit applies
        elif same_label and not shared:
            pos, _, unit, original = same_label[0]
            units = "」或「".join(col.accepted_units)
            raise FileRejected(Issue(
                file, where, row, col.header, str(original), "wrong_unit",
                f"表头单位应为「{units}」，实际为「{unit}」",
                f"header unit must be '{'/'.join(col.accepted_units)}', found '{unit}'",
            ))
        else:
            raise FileRejected(Issue(
                file, where, row, col.header, None, "missing_column",
                f"缺少必需的列「{col.header}」", f"required column '{col.header}' is missing",
            ))
    return mapping


def extra_columns(headers: list, mapping: dict[str, int], sheet: Sheet, file: str, row: int = 1) -> list[Issue]:
    """Warnings for header cells the contract does not know (the column is ignored)."""
    used = set(mapping.values())
    return [Issue(file, sheet.sheet_name, row, None, str(h).strip(), "extra_column",
                  f"模板外的列「{str(h).strip()}」已忽略", f"column '{str(h).strip()}' is not in the template; ignored",
                  level="warning")
            for pos, h in enumerate(headers) if pos not in used and split_unit(h)[0]]


class Loaded(NamedTuple):
    """What loading one file gave, whichever reader: rows read, rows loaded, bad rows, issues."""

    rows_total: int
    rows_loaded: int
    bad_rows: int
    issues: list[Issue]
