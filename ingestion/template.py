"""Blank submission templates, generated from the contract.

One xlsx workbook (填表说明 + one sheet per workbook sheet of the contract +
a hidden 代码表 feeding the drop-downs) and one header-only CSV per file kind
other than the workbook (the trade detail).  Sheets, headers, drop-downs,
checks and the written rules all come from ``ingestion.contract`` and
``core.reference``: change a column there and the templates follow.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from core import reference
from ingestion import contract
from ingestion.contract import Column, Sheet

GUIDE_SHEET = "填表说明"
CODES_SHEET = "代码表"
DATA_ROWS = 5000  # drop-downs and checks cover rows 2..5001
CREATED = datetime(2025, 1, 1)  # fixed document date, so the same contract gives the same bytes
EXAMPLE_PERIOD = "202509"  # only used in the file-naming examples

TYPE_ZH = {"text": "文本", "int": "整数", "numeric": "数值", "date": "日期，格式 yyyy-mm-dd，如 2025-03-15"}
REQUIRED_ZH = {True: "必填", False: "选填（可为空）"}
# Chinese description of each code list; an unknown list falls back to the column label.
LIST_ZH = {
    "county_of_city": "本市州所辖县市区代码（GB/T 2260）",
    "park_of_city": "本市州园区代码（省园区名录）",
    "industry_chain": "全省重点产业链",
    "investor_origin": "国内省份代码（如 440000）或境外国家/地区代码（ISO 3166 两位字母）",
    "source_region": "来源区域",
    "fortune500": "三类500强",
    "currency": "币种",
    "stage": "项目阶段",
    "service_category": "服务贸易12大类（BPM6）",
    "trade_mode": "贸易方式",
    "iso_country": "国家/地区代码（ISO 3166 两位字母）",
    "direction": "进出口方向",
}
CHECK_ZH = {"uscc": "18位统一社会信用代码，末位校验码须正确（GB 32100）"}
INLINE_VALUES = 12  # lists this short are spelled out in 填表说明
NUMERALS = "一二三四五六七八九十"


# --- file names --------------------------------------------------------------
def workbook_name(city_code: str | None) -> str:
    return f"{city_code}_月报模板.xlsx" if city_code else "市州月报模板.xlsx"


def csv_name(sheet: Sheet, city_code: str | None) -> str:
    return f"{sheet.kind}_{city_code}_模板.csv" if city_code else f"{sheet.kind}_模板.csv"


def submission_name(kind: str, city_code: str, yyyymm: str) -> str:
    """The name a filled-in file must carry (see contract.FILE_PATTERNS)."""
    return f"{city_code}_{yyyymm}.xlsx" if kind == "workbook" else f"{kind}_{city_code}_{yyyymm}.csv"


# --- code lists --------------------------------------------------------------
@lru_cache
def _code_names() -> dict[str, str]:
    """Readable name of each code, printed next to it on 代码表."""
    names = dict(reference.division_names())
    names |= {p["park_code"]: p["park_name"] for p in reference.parks()}
    names |= {c: r["name"] for c, r in reference.provinces().items()}
    names |= {c: r["name_zh"] for c, r in reference.countries().items()}
    return names


def _known_order(list_name: str) -> list[str]:
    return contract.ordered_list(list_name)


def list_values(list_name: str, city_code: str | None) -> list[str]:
    """Allowed values of a code list in a stable, readable order.

    A city-specific list is empty without a city; the province-wide template
    then offers the values of every city.
    """
    values = contract.code_list(list_name, city_code)
    if city_code is None and not values:
        values = set().union(*(contract.code_list(list_name, c) for c in reference.cities()))
    order = {v: i for i, v in enumerate(_known_order(list_name))}
    return sorted(values, key=lambda v: (order.get(v, len(order)), v))  # codes sort naturally


# --- rule texts ----------------------------------------------------------------
def _pattern_zh(pattern: str) -> str:
    """\\d{6}-\\d{4}-\\d{4} → NNNNNN-NNNN-NNNN（N 为数字）; anything fancier is shown as is."""
    shape = re.sub(r"\\d\{(\d+)\}", lambda m: "N" * int(m.group(1)), pattern).replace(r"\d", "N")
    if re.search(r"[\\\[\](){}*+?|^$.]", shape):
        return f"须完全匹配正则表达式 {pattern}"
    return f"格式 {shape}（N 为数字）"


def _unit_zh(col: Column) -> str:
    if col.unit:
        return col.unit
    if col.alt_units:
        return "表头可注明：" + "、".join(col.alt_units)
    return "—"


def rule_parts(col: Column, city_code: str | None = None, short: bool = False,
               dropdown: bool = True) -> list[str]:
    """The checks on one column in Chinese, as the validator applies them."""
    parts = [] if short and col.dtype == "text" else [TYPE_ZH[col.dtype]]  # "文本" is noise in a hint
    if col.min_value is not None:
        parts.append(f"须{'>' if col.exclusive_min else '≥'}{col.min_value:g}")
    if col.code_list:
        what = LIST_ZH.get(col.code_list, col.label)
        how = "从下拉列表选择" if dropdown else "须为"
        values = list_values(col.code_list, city_code)
        # Short lists that are the same for every city are spelled out.
        if not short and len(values) <= INLINE_VALUES and values == list_values(col.code_list, None):
            parts.append(f"{how}{what}：{' / '.join(values)}")
        else:
            parts.append(f"{how}{what}（共{len(values)}项，见代码表）")
    if col.pattern:
        parts.append(_pattern_zh(col.pattern))
    if col.check:
        parts.append(CHECK_ZH.get(col.check, f"须通过「{col.check}」校验"))
    if col.dtype == "text" and not col.code_list:
        parts.append("不要以 = + - @ 开头")
    if col.unique:
        parts.append("表内不得重复")
    return parts


def _hint(col: Column, city_code: str | None) -> str:
    """Input message shown when a cell of the column is selected (Excel allows 255 chars)."""
    unit = f"单位：{col.unit}" if col.unit else None
    text = "；".join(p for p in [REQUIRED_ZH[col.required], unit, *rule_parts(col, city_code, short=True)] if p)
    return text[:255]


# --- workbook ------------------------------------------------------------------
def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _validation(col: Column, source: str | None, city_code: str | None) -> dict:
    rule: dict = {"validate": "any"}
    if col.code_list and source:
        rule = {"validate": "list", "source": source}
    elif col.dtype in ("int", "numeric"):
        kind = "integer" if col.dtype == "int" else "decimal"
        if col.min_value is None:
            rule = {"validate": kind, "criteria": "between", "minimum": -1e15, "maximum": 1e15}
        else:
            rule = {"validate": kind, "criteria": ">" if col.exclusive_min else ">=", "value": col.min_value}
    elif col.dtype == "date":
        rule = {"validate": "date", "criteria": "between",
                "minimum": date(1900, 1, 1), "maximum": date(2099, 12, 31)}
    if rule["validate"] != "any":
        rule |= {"error_type": "stop", "error_title": "填写不符合要求",
                 "error_message": f"「{col.header}」：{'；'.join(rule_parts(col, city_code, short=True))}"[:255]}
    return rule | {"input_title": col.header[:32], "input_message": _hint(col, city_code)}


def _write_codes(ws, lists: dict[str, list[str]], head) -> dict[str, str]:
    """Two columns per list (代码, 名称); returns list name → range for the drop-downs."""
    sources, names = {}, _code_names()
    for k, (name, values) in enumerate(lists.items()):
        code_col, name_col = 2 * k, 2 * k + 1
        ws.write_string(0, code_col, f"{LIST_ZH.get(name, name)}（{name}）", head)
        ws.write_string(0, name_col, "名称", head)
        for i, v in enumerate(values, start=1):
            ws.write_string(i, code_col, v)
            ws.write_string(i, name_col, names.get(v, ""))
        ws.set_column(code_col, code_col, 14)
        ws.set_column(name_col, name_col, 24)
        if values:  # an empty range would make Excel reject the whole file
            letter = xl_col_to_name(code_col)
            sources[name] = f"='{CODES_SHEET}'!${letter}$2:${letter}${len(values) + 1}"
    return sources


def _write_data_sheet(ws, sheet: Sheet, lists: dict[str, list[str]], sources: dict[str, str],
                      city_code: str | None, fmt: dict) -> None:
    for j, col in enumerate(sheet.columns):
        ws.write_string(0, j, col.header, fmt["head"])
        longest = max(map(_width, lists.get(col.code_list, [])), default=0)
        ws.set_column(j, j, min(40, max(10, _width(col.header), longest) + 2), fmt[col.dtype])
        ws.data_validation(1, j, DATA_ROWS, j, _validation(col, sources.get(col.code_list), city_code))
    ws.freeze_panes(1, 0)


class _Guide:
    """Writes 填表说明 line by line."""

    HEAD = ("列名", "单位", "是否必填", "填写规则", "说明")

    def __init__(self, ws, fmt: dict):
        self.ws, self.fmt, self.row = ws, fmt, 0
        for j, w in enumerate((26, 22, 14, 70, 60)):
            ws.set_column(j, j, w)

    def line(self, text: str = "", style: str | None = None) -> None:
        if text:
            self.ws.write_string(self.row, 0, text, self.fmt[style] if style else None)
        self.row += 1

    def columns(self, sheet: Sheet, city_code: str | None) -> None:
        for j, h in enumerate(self.HEAD):
            self.ws.write_string(self.row, j, h, self.fmt["head"])
        self.row += 1
        for col in sheet.columns:
            cells = (col.header, _unit_zh(col), REQUIRED_ZH[col.required],
                     "；".join(rule_parts(col, city_code, dropdown=sheet.kind == "workbook")), col.doc)
            for j, text in enumerate(cells):
                self.ws.write_string(self.row, j, text, self.fmt["wrap"])
            self.row += 1
        if sheet.row_rules:
            self.line("跨列规则：", "bold")
            for rule in sheet.row_rules:
                self.line(f"· {rule.message_zh}")


def _write_guide(ws, books: list[Sheet], others: list[Sheet], city_code: str | None, fmt: dict) -> None:
    g = _Guide(ws, fmt)
    city = f"{reference.cities()[city_code]}（{city_code}）" if city_code else "各市州"
    city_eg = city_code or "430100"
    g.line(f"{city}开放型经济数据月报 填表说明", "title")
    g.line()
    g.line("一、报送文件与命名", "section")
    sheet_list = "、".join(f"「{s.sheet_name}」" for s in books)
    g.line(f"1. 每月报送工作簿一个，文件名 <市州代码>_<YYYYMM>.xlsx"
           f"（如 {submission_name('workbook', city_eg, EXAMPLE_PERIOD)}），含工作表 {sheet_list}。")
    n = 2
    for s in others:
        g.line(f"{n}. 每月报送{s.title} CSV 一个，文件名 {s.kind}_<市州代码>_<YYYYMM>.csv"
               f"（如 {submission_name(s.kind, city_eg, EXAMPLE_PERIOD)}），UTF-8 或 GBK 编码，"
               f"第1行为表头；空白模板见 {csv_name(s, city_code)}。")
        n += 1
    g.line(f"{n}. <市州代码> 为6位行政区划代码，<YYYYMM> 为报告期年月（如 {EXAMPLE_PERIOD}）。")
    g.line(f"{n + 1}. 1–2月可合并报送：当年不报送01月文件的市州，其02月文件须同时覆盖1月和2月"
           "（累计数据为1–2月累计，外贸明细 CSV 包含1月和2月的全部记录）。")
    n += 2
    for s in books + others:
        if s.months:
            months = "、".join(f"{m:02d}" for m in s.months)
            g.line(f"{n}. 「{s.sheet_name or s.title}」只在 {months} 月报送；其他月份保留该工作表和表头，不填数据。")
            n += 1
    g.line(f"{n}. 报送截止时间以省商务厅当期通知为准；同一报告期重报的文件将替换此前报送的数据。")
    g.line()
    g.line("二、通用要求", "section")
    g.line("1. 不要修改工作表名称，表头保持在第1行，不要合并单元格，不要增删或调换列。")
    g.line("2. 带下拉箭头的列请从列表中选择；代码对应的名称见隐藏工作表「代码表」（右键工作表标签 → 取消隐藏）。")
    g.line("3. 数值列只填数字，不要填写单位或文字；单位以表头为准。日期列按 yyyy-mm-dd 填写。")
    g.line("4. 每个文件报送后都会收到回执，列明被拒收的行、列及原因，请据此修改后重报。")
    for k, s in enumerate(books + others, start=3):
        g.line()
        label = f"工作表「{s.sheet_name}」" if s.sheet_name else f"CSV 文件 {s.kind}_<市州代码>_<YYYYMM>.csv"
        g.line(f"{NUMERALS[k - 1] if k <= len(NUMERALS) else k}、{label}：{s.title}", "section")
        if s.doc:
            g.line(s.doc)
        g.columns(s, city_code)


def _formats(wb) -> dict:
    return {
        "title": wb.add_format({"bold": True, "font_size": 16}),
        "section": wb.add_format({"bold": True, "font_size": 12}),
        "bold": wb.add_format({"bold": True}),
        "head": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                               "valign": "vcenter"}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top", "border": 1}),
        # Column formats: codes stay text so leading zeros survive; dates show as yyyy-mm-dd.
        "text": wb.add_format({"num_format": "@"}),
        "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
        "int": wb.add_format({"num_format": "0"}),
        "numeric": None,
    }


def _write_workbook(path: Path, books: list[Sheet], others: list[Sheet], city_code: str | None) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": GUIDE_SHEET, "author": "openecon", "created": CREATED})
    fmt = _formats(wb)
    guide = wb.add_worksheet(GUIDE_SHEET)
    data = [(s, wb.add_worksheet(s.sheet_name)) for s in books]
    codes = wb.add_worksheet(CODES_SHEET)
    # Lists of the CSV too: 代码表 is also where clerks look up its codes.
    names = dict.fromkeys(c.code_list for s in books + others for c in s.columns if c.code_list)
    lists = {name: list_values(name, city_code) for name in names}
    sources = _write_codes(codes, lists, fmt["head"])
    codes.hide()
    for sheet, ws in data:
        _write_data_sheet(ws, sheet, lists, sources, city_code, fmt)
    _write_guide(guide, books, others, city_code, fmt)
    guide.activate()
    wb.close()
    return path


def _write_csv(path: Path, sheet: Sheet) -> Path:
    # BOM so that Excel opens the UTF-8 Chinese headers correctly.
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerow([c.header for c in sheet.columns])
    return path


def write_templates(out_dir: Path, city_code: str | None = None,
                    sheets: Sequence[Sheet] | None = None) -> list[Path]:
    """Write the blank templates into ``out_dir``; returns the paths (workbook first).

    With ``city_code`` the drop-downs of city-specific lists (counties, parks)
    hold that city's values; without, those of the whole province.  ``sheets``
    defaults to the contract's ``SHEETS``, read at call time.
    """
    if city_code is not None and city_code not in reference.cities():
        raise ValueError(f"unknown city code {city_code!r}; expected one of {', '.join(reference.cities())}")
    sheets = list(contract.SHEETS if sheets is None else sheets)
    books = [s for s in sheets if s.kind == "workbook"]
    others = [s for s in sheets if s.kind != "workbook"]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [_write_workbook(out_dir / workbook_name(city_code), books, others, city_code)]
    paths += [_write_csv(out_dir / csv_name(s, city_code), s) for s in others]
    return paths
