"""Vectorised validation of one sheet against the contract.

Every problem becomes an :class:`Issue` that names file, sheet, row, column,
value and rule in Chinese and English, so a city clerk can fix it unaided.
Rules are evaluated on whole columns; Python only loops over the rows that
failed, to word their messages.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from core import reference
from core.periods import month_end
from ingestion import contract
from ingestion.codes import uscc_valid
from ingestion.contract import STAGES, Column, Sheet
from ingestion.issues import (
    CONTROL_CHARACTERS,
    FORMULA_PREFIXES,
    LINE_BREAKS,
    NUMBER_PATTERN,
    UNCACHED_FORMULA,
    Issue,
    cell_rule,
)

EXCEL_EPOCH = pd.Timestamp("1899-12-30")
SERIAL_RANGE = (20000, 80000)  # Excel serials of 1954..2119: plausible dates typed as numbers

# 项目阶段 order and the milestone each stage requires (终止 may stop anywhere).
STAGE_RANK = {s: i for i, s in enumerate(STAGES)}
MILESTONES = (("签约", "signed_date"), ("注册", "registered_date"), ("开工", "started_date"),
              ("投产", "production_date"))


# --- cell parsing ----------------------------------------------------------------
# Cells arrive as Python objects of mixed types; a comprehension over the array is several
# times faster than Series.map for these per-cell type tests.
def _is(series: pd.Series, sentinel: object) -> np.ndarray:
    values = series.to_numpy()
    return np.fromiter((v is sentinel for v in values), bool, len(values))


def _is_date(series: pd.Series) -> np.ndarray:
    values = series.to_numpy()
    return np.fromiter((isinstance(v, dt.date) for v in values), bool, len(values))


def as_text(series: pd.Series) -> pd.Series:
    """Cell values as stripped text; empty cells become <NA>; 12.0 read from Excel becomes '12'."""
    values = [str(int(v)) if isinstance(v, float) and v.is_integer() else v for v in series.to_numpy()]
    s = pd.Series(values, index=series.index, dtype="string").str.strip()
    return s.mask(s == "")


def nfkc(text: pd.Series) -> pd.Series:
    """``text.str.normalize("NFKC")`` at C speed: pandas normalises an Arrow-backed string column
    one element at a time in Python (a third of a second for the 长沙 ledger's 29 code columns)."""
    import pyarrow as pa  # pandas' Arrow strings have imported it already
    import pyarrow.compute as pc

    if not isinstance(text.array, pd.arrays.ArrowStringArray):
        return text.str.normalize("NFKC")
    return pd.Series(pd.arrays.ArrowStringArray(pc.utf8_normalize(pa.array(text.array), "NFKC")),
                     index=text.index, name=text.name)


def parse_number(text: pd.Series) -> pd.Series:
    """Numbers, also typed as text with thousands separators ("1,234.5"), from the trimmed,
    NFKC-normalised text validate() made (so full-width digits are already ASCII).

    Anything else (a decimal comma, spaces inside, a unit) is not a number rather than
    a guess."""
    ok = text.str.fullmatch(NUMBER_PATTERN).fillna(False)
    return pd.to_numeric(text.where(ok).str.replace(",", "", regex=False), errors="coerce")


def parse_date(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Dates from date cells, 'YYYY-MM-DD' / 'YYYY/M/D' / 'YYYY年M月D日' text, or Excel serials.

    Returns the parsed dates (NaT where unparseable) and a mask of the cells
    that were Excel serial numbers (accepted, with a warning on the receipt).
    """
    is_date = pd.Series(_is_date(raw), index=raw.index)
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if is_date.any():
        out[is_date] = pd.to_datetime([dt.datetime(v.year, v.month, v.day) for v in raw[is_date].to_numpy()])
    text = as_text(raw.where(~is_date, None))
    num = pd.to_numeric(text, errors="coerce")
    serial = (num >= SERIAL_RANGE[0]) & (num <= SERIAL_RANGE[1]) & (num % 1 == 0)
    if serial.any():
        out[serial] = EXCEL_EPOCH + pd.to_timedelta(num[serial], unit="D")
    rest = text.notna() & ~serial.fillna(False) & ~is_date
    if rest.any():
        # 2025-03-05, 2025/3/5, 2025.3.5, 2025年3月5日 (full-width digits too), with or without
        # a midnight time as Excel exports it; anything else is not a date.
        norm = nfkc(text[rest]).str.replace(
            r"^(\d{4})\s*([年/.\-])\s*(\d{1,2})\s*(?:月|\2)\s*(\d{1,2})\s*日?(?:\s+0{1,2}:00(?::00)?)?$",
            r"\1-\3-\4", regex=True)
        out[rest] = pd.to_datetime(norm, format="%Y-%m-%d", errors="coerce")
    return out, serial.fillna(False).to_numpy()


class _Collector:
    """Accumulates issues and the rows they reject."""

    def __init__(self, frame: pd.DataFrame, sheet: Sheet, file: str):
        self.frame, self.sheet, self.file = frame, sheet, file
        self.rows = frame["row_number"].to_numpy()
        self.bad = np.zeros(len(frame), dtype=bool)
        self.issues: list[Issue] = []
        # Cells whose first problem says all (a formula without value, a control character):
        # later rules on the same cell would only add noise to the receipt.
        self.explained: set[tuple[int, str]] = set()

    def flag(self, mask, col: Column | None, values, rule: str, zh: str, en: str, level: str = "row",
             explains: bool = False) -> None:
        mask = np.asarray(mask, dtype=bool)
        for i in np.flatnonzero(mask):
            key = (int(self.rows[i]), col.header if col else "")
            if key in self.explained:
                continue
            if explains:
                self.explained.add(key)
            v = values.iloc[i] if values is not None else None
            self.issues.append(Issue(
                self.file, self.sheet.sheet_name, int(self.rows[i]), col.header if col else None,
                None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v), rule, zh, en, level))
        if level == "row":
            self.bad |= mask


def validate(frame: pd.DataFrame, sheet: Sheet, file: str, city_code: str,
             period: str | None = None) -> tuple[pd.DataFrame, list[Issue]]:
    """Return the typed good rows (with ``row_number``) and the issues found.

    ``frame`` holds the data rows as read, one column per contract column name,
    and a ``row_number`` column.  Row issues reject their row; warnings don't.
    """
    c = _Collector(frame, sheet, file)
    typed = pd.DataFrame({"row_number": frame["row_number"].to_numpy()})
    originals: dict[str, pd.Series] = {}

    for col in sheet.columns:
        raw = frame[col.name]
        uncached = _is(raw, UNCACHED_FORMULA)
        if uncached.any():
            c.flag(uncached, col, pd.Series([None] * len(raw)), "formula_no_value", *cell_rule("formula_no_value"),
                   explains=True)
            raw = raw.where(~uncached, None)
        if col.dtype == "date":
            values = [v.isoformat() if isinstance(v, dt.date) else v for v in raw.to_numpy()]
            text = as_text(pd.Series(values, index=raw.index, dtype=object))
        else:
            text = as_text(raw)
        _cell_characters(c, col, text)
        if not col.free_text:
            text = nfkc(text)  # full-width digits and letters in codes
        originals[col.name] = text
        missing = text.isna().to_numpy()
        if col.required:
            c.flag(missing, col, text, "required", f"「{col.header}」不能为空", f"'{col.header}' is required")
        present = ~missing

        if col.dtype in ("int", "numeric"):
            num = parse_number(text)
            c.flag(present & num.isna().to_numpy(), col, text, "not_a_number", "应为数字", "must be a number")
            if col.dtype == "int":
                c.flag((num.notna() & (num % 1 != 0)).to_numpy(), col, text, "not_an_integer",
                       "应为整数", "must be a whole number")
            if col.min_value is not None:
                if col.exclusive_min:
                    c.flag((num <= col.min_value).fillna(False).to_numpy(), col, text, "not_positive",
                           f"应大于{col.min_value:g}", f"must be greater than {col.min_value:g}")
                else:
                    c.flag((num < col.min_value).fillna(False).to_numpy(), col, text, "below_minimum",
                           f"不得小于{col.min_value:g}", f"must not be less than {col.min_value:g}")
            typed[col.name] = num.round().astype("Int64") if col.dtype == "int" else num.astype("Float64")
        elif col.dtype == "date":
            dates, serial = parse_date(raw)
            c.flag(present & dates.isna().to_numpy(), col, text, "not_a_date",
                   "应为日期，如2025-03-15", "must be a date such as 2025-03-15")
            c.flag(serial, col, text, "excel_serial_date", "日期以数字形式填写，已按Excel日期序号转换，请核对",
                   "date given as a number; read as an Excel date serial, please check", level="warning")
            if period:
                late = (dates > pd.Timestamp(month_end(period))).fillna(False).to_numpy()
                c.flag(late, col, text, "date_after_period", f"日期晚于报告期末（{month_end(period)}）",
                       f"date is after the end of the reported period ({month_end(period)})")
            typed[col.name] = dates  # datetime64 for the rules; turned into dates at the end
        else:
            formula = present & text.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy()
            c.flag(formula, col, text, "formula", "内容不得以 = + - @ 开头（疑似公式）",
                   "text must not start with = + - @ (looks like a formula)")
            if col.pattern:
                ok = text.str.fullmatch(col.pattern).fillna(False).to_numpy()
                c.flag(present & ~ok & ~formula, col, text, "pattern", f"格式不符（应为{_pattern_zh(col)}）",
                       f"does not match the required format {col.pattern}")
            if col.code_list:
                allowed = contract.code_list(col.code_list, city_code)
                unknown = present & ~text.isin(allowed).to_numpy() & ~formula
                c.flag(unknown, col, text, f"code_list:{col.code_list}",
                       f"不在{_list_zh(col)}清单中", f"not in the list of {col.code_list.replace('_', ' ')}")
            if col.check == "uscc":
                bad = present & ~uscc_valid(text.tolist()) & ~formula
                c.flag(bad, col, text, "uscc_check", "统一社会信用代码校验位错误或格式不符（GB 32100）",
                       "unified social credit code fails the GB 32100 check")
            typed[col.name] = text
        if col.unique:
            dup = present & text.duplicated(keep=False).to_numpy()
            c.flag(dup, col, text, "duplicate_key", f"「{col.header}」在表内重复",
                   f"'{col.header}' is repeated in the sheet")

    for rule in sheet.row_rules:
        broken = (typed[rule.left] > typed[rule.right]).fillna(False).to_numpy()
        c.flag(broken, sheet.column(rule.left), originals[rule.left], rule.code, rule.message_zh, rule.message_en)

    if sheet.name == "projects":
        _project_rules(c, typed, originals, city_code)

    good = typed.loc[~c.bad].reset_index(drop=True)
    for col in sheet.columns:
        if col.dtype == "date":
            stamps = good[col.name]
            good[col.name] = pd.Series(stamps.dt.date, dtype=object).where(stamps.notna(), None)
    return good, c.issues


def _cell_characters(c: _Collector, col: Column, text: pd.Series) -> None:
    """What no value may hold: control characters, a line break inside it, more than max_length."""
    for rule, pattern in (("control_character", CONTROL_CHARACTERS), ("line_break", LINE_BREAKS)):
        c.flag(text.str.contains(pattern, regex=True).fillna(False).to_numpy(), col, text, rule, *cell_rule(rule),
               explains=True)
    c.flag((text.str.len() > col.max_length).fillna(False).to_numpy(), col, text, "too_long",
           *cell_rule("too_long", n=col.max_length), explains=True)


def _project_rules(c: _Collector, typed: pd.DataFrame, originals: dict, city_code: str) -> None:
    sheet = c.sheet
    pid = originals["project_id"]
    other_city = pid.notna() & ~pid.str.startswith(f"{city_code}-").fillna(True)
    c.flag(other_city.to_numpy(), sheet.column("project_id"), pid, "project_city",
           f"项目编号应以本市州代码「{city_code}-」开头", f"project id must start with the city code '{city_code}-'")

    stage = typed["stage"]
    rank = stage.map(STAGE_RANK)
    for name, colname in MILESTONES:
        needed = (rank >= STAGE_RANK[name]) & (stage != "终止")
        missing = (needed & typed[colname].isna()).fillna(False).to_numpy()
        col = sheet.column(colname)
        c.flag(missing, col, stage, "stage_dates", f"项目已到该阶段，须填写{col.label}",
               f"{col.label} is required at this stage")
        beyond = (rank < STAGE_RANK[name]) & (stage != "终止") & typed[colname].notna()
        c.flag(beyond.fillna(False).to_numpy(), col, originals[colname], "stage_dates",
               "项目尚未到达该阶段，不应填写此日期", "date given for a stage the project has not reached")
    for (_, earlier), (_, later) in zip(MILESTONES, MILESTONES[1:]):
        a, b = typed[earlier], typed[later]
        out_of_order = (b < a).fillna(False).to_numpy()
        col = sheet.column(later)
        c.flag(out_of_order, col, originals[later], "dates_out_of_order",
               f"{col.label}早于{sheet.column(earlier).label}", f"{col.label} is before {sheet.column(earlier).label}")

    origin, region = typed["investor_origin"], typed["source_region"]
    provinces, countries = reference.provinces(), reference.countries()
    expected = origin.map(lambda o: provinces[o]["source_region"] if o in provinces
                          else "境外" if o in countries else None)
    mismatch = (expected.notna() & region.notna() & (expected != region)).fillna(False).to_numpy()
    c.flag(mismatch, sheet.column("source_region"), region, "region_mismatch",
           "来源区域与投资方来源地不一致", "source region does not match the investor's origin")


def _list_zh(col: Column) -> str:
    return {"county_of_city": "本市州县市区", "park_of_city": "本市州园区", "iso_country": "国家和地区代码（ISO 3166）",
            "investor_origin": "省份代码或国家代码"}.get(col.code_list, col.label)


def _pattern_zh(col: Column) -> str:
    return {"hs_code": "8位数字", "project_id": "市州代码-年份-4位序号"}.get(col.name, col.pattern)
