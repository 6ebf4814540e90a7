"""The auditor's report for one period: what was received, rejected, corrected, checked and published.

`render(settings, "2025Q3")` writes ``audit_2025Q3.html`` and ``audit_2025Q3.xlsx`` (default
folder ``output/audit``).  Each section is one table, the same in both formats: the HTML
(Jinja2, opens offline) for reading, the XLSX (one sheet per section, every row, no
formulas: the bulletin's writer and its injection guard) for filtering and sampling.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import xlsxwriter

from core import reference
from core.files import atomic_path, atomic_write_text
from core.periods import parse_period
from reports import audit_data as data
from reports import templating
from reports.trace import YUAN_PER_100M
from reports.xlsx import Sheet, _formats, write_table

HTML_ROWS = 1000  # longer tables are cut in the HTML; the XLSX has every row

STATUS_ZH = {"accepted": "已接收", "partial": "部分接收", "rejected": "已拒收", "duplicate": "重复文件",
             "superseding": "更正替换"}
KIND_ZH = {"workbook": "月报工作簿", "trade": "外贸明细", "quarterly": "季度通报", "monthly": "月度调度",
           "appraisal": "绩效考核"}
CN_NUM = "〇一二三四五六七八九"


def _col(key: str, zh: str, **kw) -> dict:
    return {"key": key, "header": f"{zh} {key}", **kw}


# --------------------------------------------------------------------------- cells
def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, datetime):
        return data.local(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v).strip()


def _cell(v, href: str | None = None) -> dict:
    c = {"text": _text(v)}
    if isinstance(v, int) and not isinstance(v, bool):
        c.update(value=v, decimals=0)
    if href:
        c["href"] = href
    return c


class Links:
    """Links from the report to files on disk, relative to the report's folder so the set opens offline."""
    def __init__(self, out_dir: Path):
        self.out_dir = out_dir

    def __call__(self, path) -> str | None:
        if not path:
            return None
        p = Path(path)
        try:
            return Path(os.path.relpath(p.resolve(), self.out_dir.resolve())).as_posix()
        except ValueError:  # another drive (Windows): an absolute URI still opens
            return p.resolve().as_uri()


# --------------------------------------------------------------------------- sections
def _section(key, title, sheet, cols, rows, note="", absent=None):
    return {"key": key, "title": title, "sheet": sheet, "columns": cols, "rows": rows, "note": note,
            "absent": absent}


def _absent(what: str) -> str:
    return f"{what} 尚不存在（not created yet）：本节无数据。请先运行 openecon ingest / openecon build。"


def receipt_path(settings, f: dict) -> Path:
    return settings.receipt_path(f["city_code"], f["file_name"], f["file_id"])


def build_context(conn, settings, period_text: str, out_dir: Path) -> dict:
    period = parse_period(period_text)
    months = period.months
    link = Links(out_dir)
    notices = []
    files, files_absent = _read_files(conn, months, notices)
    status_rows, status_absent = _read(lambda: data.submission_status(conn, months))
    sections = [
        _files_section(files, files_absent),
        _receipts_section(settings, files, files_absent, link),
        _issues_section(conn, "rejected_rows", files),
        _superseded_section(files, files_absent),
        _status_section(status_rows, status_absent),
        _issues_section(conn, "row_warnings", files),
    ]
    # the bulletins before quality: the gate runs they were published on are part of the quality section
    bulls, bull_absent = _read(lambda: data.bulletins(conn, months))
    runs, results, q_absent = _read_quality(conn, files, bulls)
    sections += [*_quality_sections(runs, results, q_absent, files, bulls),
                 _bulletins_section(bulls, bull_absent, runs, link),
                 _trace_sample_section(conn, bulls)]
    docs = settings.data_docs_dir / "index.html"
    dv_now = data.in_force_now(conn)  # the version of no files on an empty warehouse
    title = (f"{period.year}年{CN_NUM[period.quarter]}季度报送与数据质量审计报告" if period.kind == "quarterly"
             else f"{period.year}年{period.month}月报送与数据质量审计报告")
    return {
        "title": title, "period": period, "label": period.label, "months": months, "sections": sections,
        "summary": _summary(files, sections, status_rows, runs, bulls), "notices": notices,
        "data_version_now": dv_now, "data_docs": {"path": str(docs), "href": link(docs), "exists": docs.exists()},
        "generated_at": datetime.now(data.LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        "html_rows": HTML_ROWS,
    }


def _read(query) -> tuple[list[dict], str | None]:
    """A section's rows, or none and why when its table does not exist yet."""
    try:
        return query(), None
    except data.Absent as e:
        return [], _absent(str(e))


def _read_files(conn, months: list[str], notices: list[str]) -> tuple[list[dict], str | None]:
    files, absent = _read(lambda: data.files(conn, months))
    if absent:
        notices.append("仓库中尚无任何报送记录（audit.submissions 不存在）/ no submission has been received yet: "
                       "run `openecon ingest` first.")
    return files, absent


def _files_section(files: list[dict], absent: str | None) -> dict:
    """一、收到的报送文件: every file received for the months, any status."""
    names = _city_names()
    cols = [_col("file_id", "文件编号"), _col("file_name", "文件名"), _col("city_code", "市州代码"),
            _col("city_name", "市州"), _col("period", "报告期"), _col("kind", "类型"),
            _col("sha256", "SHA-256", mono=True), _col("received_at", "接收时间"), _col("status", "状态"),
            _col("rows", "入库行数"), _col("rows_rejected", "拒收行数"), _col("reason", "原因"),
            _col("superseded_at", "被更正时间"), _col("superseded_by", "更正文件编号"),
            _col("returned_at", "退回时间"), _col("returned_by", "退回人"), _col("returned_reason", "退回原因")]
    rows = [[_cell(f["file_id"]), _cell(f["file_name"]), _cell(f["city_code"]),
             _cell(names.get(f["city_code"] or "", "")), _cell(f["period"] or "—（文件名无法识别）"),
             _cell(KIND_ZH.get(f["kind"], f["kind"])), _cell((f["sha256"] or "").strip()),
             _cell(f["received_at"]), _cell(f"{STATUS_ZH.get(f['status'], f['status'])} {f['status']}"),
             _cell(f["rows"]), _cell(f["rows_rejected"]), _cell(f["reason"]), _cell(f["superseded_at"]),
             _cell(f["superseded_by"]), _cell(f["returned_at"]), _cell(f["returned_by"]),
             _cell(f["returned_reason"])] for f in files]
    return _section(
        "files", "一、收到的报送文件", "报送文件", cols, rows, absent=absent,
        note="本期各月收到的全部文件（含拒收、重复、被更正和被省厅退回的文件）；文件名无法识别的文件按接收时间（本期首日至次月末）列入。"
             "SHA-256 为文件内容哈希，原文件按哈希存档。时间为北京时间。")


def _receipts_section(settings, files: list[dict], absent: str | None, link: Links) -> dict:
    """二、回执: each file's receipt on disk, linked."""
    rows = []
    for f in files:
        p = receipt_path(settings, f)
        st = f["receipt_status"] or f["status"]
        rows.append([_cell(f["file_id"]), _cell(f["file_name"]), _cell(f"{STATUS_ZH.get(st, st)} {st}"),
                     _cell(str(p), link(p) if p.exists() else None), _cell("是" if p.exists() else "否（文件缺失）")])
    return _section(
        "receipts", "二、回执", "回执",
        [_col("file_id", "文件编号"), _col("file_name", "文件名"), _col("receipt_status", "回执状态"),
         _col("receipt_path", "回执文件"), _col("receipt_exists", "回执文件存在")], rows, absent=absent,
        note=f"每个文件的回执（中英文）存于 {settings.receipts_dir}，同一内容也在 audit.submissions.receipt。")


ISSUE_COLS = [_col("file_id", "文件编号"), _col("file_name", "文件名"), _col("sheet", "工作表"),
              _col("row_number", "行号"), _col("column_name", "列"), _col("value", "值"), _col("rule", "规则"),
              _col("message_zh", "说明"), _col("message_en", "message")]
ISSUE_SECTIONS = {
    "rejected_rows": ("三、拒收的行与文件问题", "拒收行",
                      "audit.rejected_rows：被拒收的行（工作表、行号、列、值、规则）以及整份文件被拒收的原因（工作表、行号为空）。"),
    "row_warnings": ("六、接收但提示核实的行", "行警告",
                     "audit.row_warnings：已入库但需核实的行，例如累计实际到位资金低于上期（按修订接收）。"),
}


def _issues_section(conn, table: str, files: list[dict]) -> dict:
    """三、拒收的行 (audit.rejected_rows) or 六、行警告 (audit.row_warnings) of the period's files."""
    file_ids = [f["file_id"] for f in files]
    found, absent = _read(lambda: data.row_issues(conn, table, file_ids) if files else [])
    rows = [[_cell(r[c["key"]]) for c in ISSUE_COLS] for r in found]
    title, sheet, note = ISSUE_SECTIONS[table]
    return _section(table, title, sheet, ISSUE_COLS, rows, absent=absent, note=note)


def _superseded_section(files: list[dict], absent: str | None) -> dict:
    """四、被更正替换的报送: files a later one of the same city, period and kind replaced."""
    sup = [f for f in files if f["superseded_at"] is not None]
    return _section(
        "superseded", "四、被更正替换的报送", "被更正报送",
        [_col("file_id", "文件编号"), _col("file_name", "文件名"), _col("city_code", "市州代码"),
         _col("period", "报告期"), _col("kind", "类型"), _col("sha256", "SHA-256", mono=True),
         _col("received_at", "接收时间"),
         _col("superseded_at", "被更正时间"), _col("superseded_by", "更正文件编号"),
         _col("superseded_by_name", "更正文件名")],
        [[_cell(f["file_id"]), _cell(f["file_name"]), _cell(f["city_code"]), _cell(f["period"]),
          _cell(KIND_ZH.get(f["kind"], f["kind"])), _cell((f["sha256"] or "").strip()), _cell(f["received_at"]),
          _cell(f["superseded_at"]), _cell(f["superseded_by"]), _cell(f["superseded_by_name"])] for f in sup],
        absent=absent,
        note="被更正的文件仍保留在 raw 与 audit 中（可追溯），汇总表只使用更正后的文件。")


def _status_section(status_rows: list[dict], absent: str | None) -> dict:
    """五、报送完整性与及时性: marts.submission_status of the months."""
    cols = [_col("city_code", "市州代码"), _col("city_name", "市州"), _col("period", "报告期"), _col("kind", "类型"),
            _col("deadline_date", "截止日"), _col("status", "报送状态"), _col("timeliness", "时效"),
            _col("in_force_file_id", "现行文件编号"), _col("in_force_received_at", "现行文件接收时间"),
            _col("days_late", "逾期天数"), _col("files_received", "收到文件数"), _col("files_rejected", "退回文件数"),
            _col("files_superseded", "被更正文件数"), _col("combined_with_period", "合并报送期")]
    rows = []
    for r in status_rows:
        cells = []
        for c in cols:
            v = r[c["key"]]
            if c["key"] == "status":
                v = f"{r['status_zh']} {v}"
            elif c["key"] == "kind":
                v = KIND_ZH.get(v, v)
            cells.append(_cell(v))
        rows.append(cells)
    return _section(
        "submission_status", "五、报送完整性与及时性", "报送情况", cols, rows, absent=absent,
        note="marts.submission_status：14个市州 × 月份 × 类型。按时＝现行文件在截止日（次月"
             f"{_deadline_day(status_rows)}日，北京时间）当日或之前收到；"
             "已更正＝现行文件替换了此前入库的文件（其时效见“时效”列）；"
             "1–2月合并＝该市州当年未报1月、2月文件覆盖1–2月。")


def _read_quality(conn, files: list[dict], bulls: list[dict]) -> tuple[list[dict], list[dict], str | None]:
    """Gate runs since the period's first file arrived or named by a bulletin, and their results."""
    since = _first_received(files)
    bull_runs = [b["quality_run_id"] for b in bulls if b["quality_run_id"]]
    try:
        runs = data.quality_runs(conn, since, bull_runs)
        results = data.quality_results(conn, [r["run_id"] for r in runs]) if runs else []
        return runs, results, None
    except data.Absent as e:
        return [], [], _absent(str(e))
    except psycopg.Error as e:  # a schema this report does not know: say so, keep the rest of the report
        return [], [], f"质量检查结果无法读取（unreadable）：{e}"


def _first_received(files: list[dict]):
    return min((f["received_at"] for f in files if f["period"]), default=None)


RUN_COLS = [_col("run_id", "检查批次"), _col("started_at", "开始时间"), _col("triggered_by", "触发方"),
            _col("data_hash", "数据版本哈希"), _col("max_file_id", "最大文件编号"),
            _col("covers_current", "覆盖本期现行数据"), _col("success", "阻断性检查通过"),
            _col("evaluated", "检查项数"), _col("blocking_failures", "阻断性失败"), _col("warnings", "警告"),
            _col("used_by_bulletin", "通报所依据")]
RESULT_COLS = [_col("run_id", "检查批次"), _col("suite", "检查套件"), _col("table_name", "表"),
               _col("expectation", "检查项"), _col("column_name", "列"), _col("severity", "级别"),
               _col("success", "通过"), _col("observed_value", "观测值"), _col("unexpected_count", "不符合行数"),
               _col("element_count", "检查行数"), _col("unexpected_sample", "不符合样例")]


def _quality_sections(runs: list[dict], results: list[dict], absent: str | None, files: list[dict],
                      bulls: list[dict]) -> list[dict]:
    """七、数据质量检查: the runs, and 七（续） their results (the HTML: key runs in full, else failures)."""
    since = _first_received(files)
    bull_runs = [b["quality_run_id"] for b in bulls if b["quality_run_id"]]
    in_force_ids = [f["file_id"] for f in files if f["status"] in ("accepted", "partial") and not f["superseded_at"]]
    max_in_force = max(in_force_ids, default=None)
    run_rows, key_runs = [], set(bull_runs)
    for r in runs:
        mfi = (r["data_version"] or {}).get("max_file_id") if isinstance(r["data_version"], dict) else None
        covers = max_in_force is not None and mfi is not None and int(mfi) >= max_in_force
        r["covers_current"] = covers
        run_rows.append([_cell(r["run_id"]), _cell(r["started_at"]), _cell(r["triggered_by"]), _cell(r["data_hash"]),
                         _cell(mfi), _cell(covers), _cell(r["success"]), _cell(r["evaluated"]),
                         _cell(r["blocking_failures"]), _cell(r["warnings"]), _cell(r["run_id"] in bull_runs)])
    covering = [r for r in runs if r["covers_current"]]
    if covering:
        key_runs.add(covering[-1]["run_id"])
    res_all = [[_cell(x[c["key"]]) for c in RESULT_COLS] for x in results]
    # the HTML shows the key runs in full and only the failures of the others; the XLSX has all
    res_html = [row for row, x in zip(res_all, results) if x["run_id"] in key_runs or not x["success"]]
    window = (f"自本期首个文件接收（{data.local(since)}）以来的检查批次" if since else "本期尚无文件，无对应检查批次")
    details = _section(
        "quality_results", "七（续）、检查结果明细", "质量检查结果", RESULT_COLS, res_all, absent=absent,
        note="网页版列出通报所依据批次和最新覆盖批次的全部检查项，以及其他批次中未通过的检查项；"
             "XLSX 列出全部批次的全部检查项。")
    details["html_rows"] = res_html
    return [_section(
        "quality_runs", "七、数据质量检查（Great Expectations）", "质量检查批次", RUN_COLS, run_rows, absent=absent,
        note=f"{window}，以及本期通报所依据的批次。汇总表保存全部历史，因此这些批次都检查了本期数据；"
             "“覆盖本期现行数据”＝该批次检查时已包含本期现行文件（数据版本的最大文件编号不小于本期现行文件的最大编号）。"),
        details]


def _bulletins_section(bulls: list[dict], absent: str | None, runs: list[dict], link: Links) -> dict:
    """八、已发布的通报版本: every version of every document kind in audit.bulletins for the period."""
    cols = [_col("kind", "类型"), _col("period", "报告期"), _col("version", "版本"),
            _col("data_hash", "数据版本哈希"), _col("data_files", "依据文件数"), _col("max_file_id", "最大文件编号"),
            _col("quality_run_id", "质量检查批次"), _col("gate_passed", "检查通过"), _col("created_at", "生成时间"),
            _col("incomplete", "未包含市州"), _col("corrections", "更正项数"), _col("paths", "文件")]
    run_ok = {r["run_id"]: r["success"] for r in runs}
    rows = []
    for b in bulls:
        dv = b["data_version"] or {}
        paths = b["paths"] or []
        rows.append([_cell(f"{KIND_ZH.get(b['kind'], b['kind'])} {b['kind']}"), _cell(b["period"]), _cell(b["version"]),
                     _cell(b["data_hash"]), _cell(dv.get("files")), _cell(dv.get("max_file_id")),
                     _cell(b["quality_run_id"]), _cell(run_ok.get(b["quality_run_id"])),
                     _cell(b["created_at"]),
                     _cell("、".join(c["city_name"] for c in b["incomplete"] or [] if "city_name" in c) or "—"),
                     _cell(len(b["corrections"] or [])),
                     {"text": "\n".join(paths), "links": [(Path(p).name, link(p)) for p in paths]}])
    return _section(
        "bulletins", "八、已发布的通报版本", "通报版本", cols, rows, absent=absent,
        note="audit.bulletins：本期各月的月度调度、以本期月份为截止的季度通报和绩效考核，"
             "每一版依据的数据版本（文件数、最大文件编号、哈希）及发布前通过的质量检查批次；按不完整数据发布"
             "（--allow-incomplete）时未包含或未完整包含的市州；对上一版已发布数据的更正项数（明细见 "
             "audit.bulletins.corrections 及该版文件的“更正说明”）。")


def _trace_sample_section(conn, bulls: list[dict]) -> dict:
    """九、数据溯源抽查: for a sample of the figures of each published version, the trace stored at
    publication reconciled: a province figure = Σ its cities, a city figure = Σ its files' partial sums."""
    by_id = {b["id"]: b for b in bulls}
    cols = [_col("document", "文件版本"), _col("figure_id", "数据编号"), _col("label", "数据项"),
            _col("printed", "文中数值"), _col("value", "数值"), _col("parts", "组成合计"), _col("n", "组成项数"),
            _col("ok", "核对一致")]
    rows = []
    for f in data.figure_samples(conn, list(by_id)):
        b, t = by_id[f["bulletin_id"]], f["trace"] or {}
        if t.get("cities"):
            parts = [Decimal(str(c["value"])) for c in t["cities"]]
        else:
            parts = [Decimal(str(x["value_cny"])) / YUAN_PER_100M for x in t.get("files", [])]
        total = sum(parts, Decimal(0))
        ok = bool(parts) and abs(total - Decimal(str(t.get("value", f["value"])))) <= Decimal("0.000001") * len(parts)
        rows.append([_cell(f"{b['kind']}/{b['period']}/v{b['version']}"), _cell(f["figure_id"]), _cell(f["label"]),
                     _cell(f["printed_text"]), _cell(t.get("value", f["value"])), _cell(f"{total:.6f}"),
                     _cell(len(parts)), _cell(ok)])
    return _section(
        "trace_sample", "九、数据溯源抽查", "溯源抽查", cols, rows,
        note="每个已发布版本中全省及长沙市进出口总额、出口额、进口额（累计）按发布时保存的溯源（audit.document_figures）核对："
             "全省＝各市州之和，市州＝各报送文件分项合计（元）÷10⁸，差额不超过每项0.000001亿元（保存精度）。"
             "任一数据的完整溯源：openecon trace --figure <文件版本>/<数据编号>。")


def _summary(files: list[dict], sections: list[dict], status_rows: list[dict], runs: list[dict],
             bulls: list[dict]) -> dict:
    by_key = {s["key"]: s for s in sections}
    counts = {}
    for r in status_rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {
        "files": len(files),
        "by_status": {s: sum(1 for f in files if f["status"] == s) for s in STATUS_ZH if s != "superseding"},
        "superseded": sum(1 for f in files if f["superseded_at"] is not None),
        "rejected_rows": len(by_key["rejected_rows"]["rows"]),
        "row_warnings": len(by_key["row_warnings"]["rows"]),
        "status_counts": counts,
        "quality_runs": len(runs),
        "failed_runs": sum(1 for r in runs if not r["success"]),
        "bulletins": len(bulls),
    }


def _city_names() -> dict[str, str]:
    return dict(reference.cities())


def _deadline_day(status_rows: list[dict]) -> str:
    """The deadline day the mart was built with (the setting may have changed since)."""
    if status_rows:
        return str(status_rows[0]["deadline_date"].day)
    return os.environ.get("OPENECON_SUBMISSION_DEADLINE_DAY", "10")


# --------------------------------------------------------------------------- outputs
def write_html(path: Path, ctx: dict) -> None:
    atomic_write_text(path, templating.render("audit.html.j2", stylesheet="audit.css", **ctx))


def write_xlsx(path: Path, ctx: dict) -> None:
    """The 说明 sheet, then one sheet per section (the bulletin's writer: every string through its
    formula-injection guard)."""
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                            "strings_to_numbers": False})
        fmts = _formats(wb)
        ws = wb.add_worksheet("说明")
        sh = Sheet(wb, ws, fmts)
        lines = _readme_lines(ctx)
        sh.text(0, 0, lines[0], fmts["title"])
        for i, line in enumerate(lines[1:], start=1):
            sh.text(i, 0, line)
        for i, sec in enumerate(ctx["sections"], start=len(lines) + 1):
            sh.text(i, 0, f"{sec['sheet']}：{sec['title']}（{len(sec['rows'])}行）"
                          + (f" — {sec['absent']}" if sec["absent"] else ""))
        ws.set_column(0, 0, 120)
        for sec in ctx["sections"]:
            _section_sheet(wb, fmts, sec)
        wb.close()


def _readme_lines(ctx: dict) -> list[str]:
    s = ctx["summary"]
    by_status = "，".join(f"{STATUS_ZH[k]} {k} {v}" for k, v in s["by_status"].items())
    lines = [ctx["title"], f"报告期 period: {ctx['label']}（{'、'.join(ctx['months'])}）",
             f"生成时间: {ctx['generated_at']}",
             *ctx["notices"],
             f"收到文件 files: {s['files']}（" + by_status + "）",
             f"被更正文件 superseded: {s['superseded']}；拒收行 rejected rows: {s['rejected_rows']}；"
             f"行警告 row warnings: {s['row_warnings']}",
             "报送状态 submission status: "
             + ("，".join(f"{k} {v}" for k, v in sorted(s["status_counts"].items())) or "—"),
             f"质量检查批次 quality runs: {s['quality_runs']}（未通过 {s['failed_runs']}）；"
             f"通报版本 bulletins: {s['bulletins']}",
             f"Great Expectations Data Docs: {ctx['data_docs']['path']}"]
    if ctx["data_version_now"] and ctx["data_version_now"]["files"]:
        dv = ctx["data_version_now"]
        lines.append(f"当前数据版本 data version now: 文件 {dv['files']}，最大文件编号 {dv['max_file_id']}，"
                     f"哈希 {dv['hash']}")
    return lines


WIDE_COLUMNS = ("file_name", "message_zh", "message_en", "reason", "receipt_path", "paths", "observed_value",
                "unexpected_sample", "expectation", "superseded_by_name")


def _section_sheet(wb, fmts, sec: dict) -> None:
    rows = [[{k: v for k, v in c.items() if k in ("text", "value", "decimals")} for c in r] for r in sec["rows"]]
    empty = [[{"text": sec["absent"] or "无 none"}] + [{"text": ""}] * (len(sec["columns"]) - 1)]
    write_table(wb, fmts, {"sheet": sec["sheet"], "title": sec["title"],
                           "columns": [{"header": c["header"]} for c in sec["columns"]],
                           "rows": rows or empty, "note": sec["note"]})
    sheet = wb.get_worksheet_by_name(sec["sheet"])
    for ci, c in enumerate(sec["columns"]):
        if c.get("mono"):
            sheet.set_column(ci, ci, 66)
        elif c["key"] in WIDE_COLUMNS:
            sheet.set_column(ci, ci, 36)


def render(settings, period_text: str, out_dir: Path | None = None) -> dict:
    """Write audit_<period>.html and .xlsx; returns {'paths', 'summary', 'notices'}."""
    out_dir = Path(out_dir) if out_dir else settings.output_dir / "audit"
    out_dir.mkdir(parents=True, exist_ok=True)
    with data.connect(settings) as conn:
        ctx = build_context(conn, settings, period_text, out_dir)
    stem = out_dir / f"audit_{ctx['label']}"
    html, xlsx = stem.with_suffix(".html"), stem.with_suffix(".xlsx")
    write_html(html, ctx)
    write_xlsx(xlsx, ctx)
    return {"paths": [str(html), str(xlsx)], "summary": ctx["summary"], "notices": ctx["notices"]}
