"""XLSX export: one sheet per table plus 数据来源 (and 版本说明).  Never writes a formula.

Every string goes through :func:`safe_text`: a cell text starting with = + - @ (or a
tab / carriage return) is prefixed with an apostrophe, so a spreadsheet never reads
it as a formula (CSV/XLSX injection); numbers are written as numbers.
"""

from __future__ import annotations

from pathlib import Path

import xlsxwriter
from xlsxwriter.utility import xl_rowcol_to_cell

from reports.publish import local_time

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value) -> str:
    s = "" if value is None else str(value)
    return "'" + s if s.startswith(DANGEROUS) else s


class Sheet:
    def __init__(self, wb, ws, fmts):
        self.wb, self.ws, self.f = wb, ws, fmts

    def text(self, r, c, value, fmt=None):
        self.ws.write_string(r, c, safe_text(value), fmt or self.f["cell"])

    def number(self, r, c, value, decimals=1):
        if value is None:
            self.ws.write_string(r, c, "—", self.f["cell"])
        else:
            self.ws.write_number(r, c, float(value), self.f[f"n{min(decimals, 4)}"])


def _formats(wb):
    base = {"font_name": "Noto Sans CJK SC", "font_size": 10, "border": 1, "valign": "vcenter"}
    f = {"cell": wb.add_format(base),
         "head": wb.add_format({**base, "bold": True, "align": "center", "text_wrap": True, "bg_color": "#F2F2F2"}),
         "title": wb.add_format({"font_name": "Noto Sans CJK SC", "bold": True, "font_size": 13}),
         "note": wb.add_format({"font_name": "Noto Sans CJK SC", "font_size": 9, "italic": True})}
    for d in range(5):
        f[f"n{d}"] = wb.add_format({**base, "num_format": "0" if d == 0 else "0." + "0" * d})
    return f


def write_table(wb, fmts, table: dict, traced: list | None = None) -> None:
    """One table as a sheet; each cell printing a registered figure is noted in ``traced``
    as (sheet, cell, figure id), for the 溯源 sheet."""
    name = safe_text(table["sheet"])[:31]
    ws = wb.add_worksheet(name)
    sh = Sheet(wb, ws, fmts)
    sh.text(0, 0, table["title"], fmts["title"])
    cols = table["columns"]
    # a column whose cells carry a rank becomes two columns: value and 位次
    ranked = [any(isinstance(row[i], dict) and row[i].get("rank") is not None for row in table["rows"])
              for i in range(len(cols))]
    has_group = any(c.get("group") for c in cols)
    hr = 2 if has_group else 1
    x = 0
    for i, c in enumerate(cols):
        width = 2 if ranked[i] else 1
        if has_group:
            sh.text(1, x, c.get("group", ""), fmts["head"])
            if width == 2:
                sh.text(1, x + 1, c.get("group", ""), fmts["head"])
        sh.text(hr, x, c["header"], fmts["head"])
        if width == 2:
            sh.text(hr, x + 1, "位次", fmts["head"])
        x += width
    for ri, row in enumerate(table["rows"], start=hr + 1):
        x = 0
        for i, cell in enumerate(row):
            if "value" in cell:
                sh.number(ri, x, cell["value"], cell.get("decimals", 1))
            else:
                sh.text(ri, x, cell["text"])
            if traced is not None and cell.get("figure"):
                traced.append((name, xl_rowcol_to_cell(ri, x), cell["figure"]))
            if ranked[i]:
                if cell.get("rank") is not None:
                    ws.write_number(ri, x + 1, cell["rank"], fmts["n0"])
                else:
                    sh.text(ri, x + 1, "")
                x += 2
            else:
                x += 1
    if table.get("note"):
        sh.text(hr + 2 + len(table["rows"]), 0, table["note"], fmts["note"])
    ws.set_column(0, 0, 12)
    ws.set_column(1, x, 13)
    ws.freeze_panes(hr + 1, 1)
    if table.get("filters") and table["rows"]:  # a list to sort and filter: filters on its header row
        ws.autofilter(hr, 0, hr + len(table["rows"]), x - 1)


def write(path: Path, ctx: dict) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False})
    fmts = _formats(wb)
    traced: list = []
    for t in ctx["tables"]:
        write_table(wb, fmts, t, traced)
    fix = ctx.get("correction_table")
    if fix:  # 更正说明: the printed figures of the previous version this one corrects
        write_table(wb, fmts, {**fix, "title": f"{fix['title']}：{fix['intro']}"})
    # 数据来源: the submission files in force behind every figure
    ws = wb.add_worksheet("数据来源")
    sh = Sheet(wb, ws, fmts)
    dl = ctx["data_label"]
    sh.text(0, 0, f"{ctx['title']}（第{ctx['version']}版）数据来源：数据版本{dl['id']}，报送文件{dl['files']}个，"
                  f"最晚接收于{dl['date']}（接收时间为北京时间）", fmts["title"])
    heads = ["文件编号 file_id", "文件名 file_name", "市州代码 city", "市州", "报告期 period", "类型 kind",
             "sha256", "接收时间 received_at", "状态 status", "入库行数 rows", "拒收行数 rows_rejected"]
    for c, h in enumerate(heads):
        sh.text(1, c, h, fmts["head"])
    for r, s in enumerate(ctx["sources"], start=2):
        ws.write_number(r, 0, s["file_id"], fmts["n0"])
        sh.text(r, 1, s["file_name"])
        sh.text(r, 2, s["city_code"])
        sh.text(r, 3, s["city_name"])
        sh.text(r, 4, s["period"])
        sh.text(r, 5, s["kind"])
        sh.text(r, 6, (s["sha256"] or "").strip())
        sh.text(r, 7, local_time(s["received_at"]))
        sh.text(r, 8, s["status"])
        ws.write_number(r, 9, s["rows"] or 0, fmts["n0"])
        ws.write_number(r, 10, s["rows_rejected"] or 0, fmts["n0"])
    quality = ctx.get("quality")
    if quality:  # the passing gate run this version was published on (its Data Docs: linked from the HTML)
        r = len(ctx["sources"]) + 3
        sh.text(r, 0, f"数据质量检查 quality gate run：{quality['run_id']}（通过 passed）", fmts["title"])
    ws.set_column(0, 0, 10)
    ws.set_column(1, 1, 28)
    ws.set_column(6, 6, 66)
    ws.set_column(7, 7, 22)
    if ctx.get("printed") is not None:
        write_trace_sheet(wb, fmts, ctx, traced)
    # 版本说明
    ws = wb.add_worksheet("版本说明")
    sh = Sheet(wb, ws, fmts)
    sh.text(0, 0, f"第{ctx['version']}版，生成于{ctx['generated_at']}（北京时间）", fmts["title"])
    lines = ctx["changes"] or (["首版"] if ctx["version"] == 1 else ["数据未变化"])
    for i, line in enumerate(lines, start=1):
        sh.text(i, 0, line)
    ws.set_column(0, 0, 90)
    wb.close()


def write_trace_sheet(wb, fmts, ctx: dict, traced: list) -> None:
    """溯源: every table cell that prints a figure, with the figure's id, its trace page (beside the
    HTML) and the command that prints its trace."""
    ws = wb.add_worksheet("溯源")
    sh = Sheet(wb, ws, fmts)
    title = (f"{ctx['title']}（第{ctx['version']}版）数据溯源：各表单元格对应的数据编号；溯源页面在HTML文件旁的"
             f"“{ctx['trace_dir']}”文件夹，或运行 openecon trace --figure {ctx['doc_key']}/<数据编号>")
    sh.text(0, 0, title, fmts["title"])
    heads = ["工作表 sheet", "单元格 cell", "数据项 figure", "文中数值 printed", "数据编号 figure id",
             "溯源页面 trace page"]
    for c, h in enumerate(heads):
        sh.text(1, c, h, fmts["head"])
    printed = ctx["printed"].by
    for r, (sheet, cell, fid) in enumerate(traced, start=2):
        f = printed[fid]
        for c, v in enumerate((sheet, cell, f.label, f.text, fid, f"{ctx['trace_dir']}/{fid}.html")):
            sh.text(r, c, v)
    ws.set_column(0, 1, 10)
    ws.set_column(2, 2, 40)
    ws.set_column(4, 5, 48)
    ws.freeze_panes(2, 0)
    if traced:
        ws.autofilter(1, 0, 1 + len(traced), len(heads) - 1)
