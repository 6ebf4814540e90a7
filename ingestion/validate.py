"""Vectorised validation of one sheet against the contract.

Every problem becomes an :class:`Issue` that names file, sheet, row, column,
value and rule in Chinese and English, so a city clerk can fix it unaided.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ingestion import reference
from ingestion.contract import Column, Sheet, split_unit


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
            where.append(f"值 value {self.value!r}")
        return f"{', '.join(where)}: [{self.rule}] {self.message_zh} / {self.message_en}"


class FileRejected(Exception):
    """A problem that rejects the whole file."""

    def __init__(self, issue: Issue):
        super().__init__(issue.line())
        self.issue = issue


def map_headers(headers: list, sheet: Sheet, file: str) -> dict[str, int]:
    """Column name -> position, matching headers tolerantly and checking units."""
    found: dict[str, tuple[int, str | None, object]] = {}
    for pos, h in enumerate(headers):
        label, unit = split_unit(h)
        if label:
            found.setdefault(label, (pos, unit, h))
    mapping: dict[str, int] = {}
    for col in sheet.columns:
        want_label, want_unit = split_unit(col.header)
        if want_label not in found:
            raise FileRejected(Issue(
                file, sheet.sheet_name, 1, col.header, None, "missing_column",
                f"缺少必需的列「{col.header}」", f"required column '{col.header}' is missing",
            ))
        pos, unit, original = found[want_label]
        if want_unit and unit and unit != want_unit:
            raise FileRejected(Issue(
                file, sheet.sheet_name, 1, col.header, str(original), "wrong_unit",
                f"表头单位应为「{want_unit}」，实际为「{unit}」",
                f"header unit must be '{want_unit}', found '{unit}'",
            ))
        mapping[col.name] = pos
    return mapping


def _as_text(series: pd.Series) -> pd.Series:
    """Cell values as stripped text; empty cells become <NA>."""
    s = series.astype("string").str.strip()
    return s.mask(s == "")


def _parse_number(text: pd.Series) -> pd.Series:
    # Numbers typed as text with thousands separators ("1,234.5") are accepted.
    cleaned = text.str.replace(r"[,，\s]", "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce")


def validate(frame: pd.DataFrame, sheet: Sheet, file: str, city_code: str) -> tuple[pd.DataFrame, list[Issue]]:
    """Return the typed good rows (with ``row_number``) and the row issues.

    ``frame`` holds the data rows as read, one column per contract column name,
    and a ``row_number`` column.
    """
    issues: list[Issue] = []
    bad = np.zeros(len(frame), dtype=bool)
    typed = pd.DataFrame({"row_number": frame["row_number"].to_numpy()})

    def flag(mask: np.ndarray, col: Column, values: pd.Series, rule: str, zh: str, en: str) -> None:
        nonlocal bad
        idx = np.flatnonzero(mask)
        for i in idx:
            v = values.iloc[i]
            issues.append(Issue(file, sheet.sheet_name, int(frame["row_number"].iloc[i]), col.header,
                                None if pd.isna(v) else str(v), rule, zh, en))
        bad |= mask

    for col in sheet.columns:
        text = _as_text(frame[col.name])
        missing = text.isna().to_numpy()
        if col.required:
            flag(missing, col, text, "required", f"「{col.header}」不能为空", f"'{col.header}' is required")
        if col.dtype in ("int", "numeric"):
            num = _parse_number(text)
            not_number = (~missing) & num.isna().to_numpy()
            flag(not_number, col, text, "not_a_number", "应为数字", "must be a number")
            if col.dtype == "int":
                frac = (num.notna() & (num % 1 != 0)).to_numpy()
                flag(frac, col, text, "not_an_integer", "应为整数", "must be a whole number")
            if col.min_value is not None:
                below = (num < col.min_value).fillna(False).to_numpy()
                flag(below, col, text, "below_minimum",
                     f"不得小于{col.min_value:g}", f"must not be less than {col.min_value:g}")
            typed[col.name] = num.round().astype("Int64") if col.dtype == "int" else num
        else:
            if col.code_list:
                allowed = reference.code_list(col.code_list, city_code)
                unknown = ((~missing) & ~text.isin(allowed)).to_numpy()
                flag(unknown, col, text, f"code_list:{col.code_list}",
                     f"代码不在本市州的{col.label}清单中", f"not a valid {col.name} for city {city_code}")
            typed[col.name] = text
        if col.unique:
            dup = ((~missing) & text.duplicated(keep=False)).to_numpy()
            flag(dup, col, text, "duplicate_key", f"「{col.header}」在表内重复", f"'{col.header}' is repeated in the sheet")

    for rule in sheet.row_rules:
        left, right = typed[rule.left], typed[rule.right]
        broken = (left > right).fillna(False).to_numpy()
        col = sheet.column(rule.left)
        flag(broken, col, frame[rule.left].astype("string"), rule.code, rule.message_zh, rule.message_en)

    good = typed.loc[~bad].reset_index(drop=True)
    return good, issues
