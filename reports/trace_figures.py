"""The trace of every figure a document prints, as data and as static pages beside the document.

:func:`explain` says what one figure is made of, as of the marts it is published from: a value
(1–N月累计, 当月) is its cell's trace (:func:`reports.trace.trace`: the cities for the province,
the files with their partial sums); a derived figure (同比, 完成年度目标, 位次, 等级) is its
formula with the numbers filled in and the figures it is computed from. Each explanation names
the figures it rests on (``inputs``, ``cities``): :func:`explain_all` follows them, so every
link of every page has a page. :func:`write_pages` writes them, offline (relative links, one
folder: ``<document>_v<N>_trace/``), with each contributing file's receipt as a page of its own.

The explanations are stored with the published version (``audit.document_figures.trace``), so
``openecon trace --figure`` prints a figure of any version as it was published.
"""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from psycopg.rows import dict_row

from core.constants import PROVINCE_CODE
from core.periods import shift
from reports import data, templating, trace
from reports.figures import APPRAISAL, MEASURES, PART_CODES, VALUES, Figures, figure_id, parse_id

RANKED = {"rank_in_province": "value_ytd", "rank_growth": "growth", "rank_target": "target_progress_pct"}


def _cell(conn, kpi: str, city: str, period: str) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT k.*, d.name_zh, d.kind, d.definition_zh FROM marts.kpi_city_month AS k "
            "JOIN reference.kpi_definitions AS d USING (kpi_code) "
            "WHERE k.kpi_code = %s AND k.city_code = %s AND k.period = %s", [kpi, city, period]).fetchone()


def _area(c: dict) -> str:
    return "全省" if c["city_code"] == PROVINCE_CODE else c["city_name"]


def _num(v) -> str:
    """A number as a trace prints it: exact up to 6 decimals (a rate's float digits cut there)."""
    if v is None:
        return "—"
    if isinstance(v, (float, Decimal)) and abs(Decimal(str(v)).as_tuple().exponent) > 6:
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v)


def explain(conn, settings, fid: str, memo: dict | None = None) -> dict:
    """What the figure ``fid`` is made of (JSON-ready): label, definition, value, formula (zh, en),
    the figures it rests on (``inputs``: [{figure_id, label, value}]) and, for a value, its cities
    and files."""
    kpi, city, period, measure = parse_id(fid)
    if kpi.startswith(APPRAISAL):
        return _jsonable(_appraisal(conn, fid, kpi[len(APPRAISAL):], city, period, measure))
    c = _cell(conn, kpi, city, period)
    if c is None:
        raise trace.NotTraced(f"{fid}: no cell in marts.kpi_city_month / 无此数据")
    ytd_label = "1月" if period.endswith("-01") else f"1—{int(period[5:])}月"
    out = {"figure_id": fid, "kpi_code": kpi, "city_code": city, "period": period, "measure": measure,
           "measure_zh": MEASURES[measure][0], "measure_en": MEASURES[measure][1],
           "label": f"{_area(c)} {c['name_zh']} {period[:4]}年{ytd_label} {MEASURES[measure][0]}",
           "definition_zh": c["definition_zh"], "unit": c["unit"], "inputs": [], "cities": [], "files": [],
           "ranking": []}
    this = figure_id(kpi, city, period, "value_ytd")
    if measure == "value_ytd":
        out["value"] = c["value_ytd"]
        try:
            t = trace.trace(conn, settings, kpi, city, period)
        except trace.NotTraced as e:
            out["formula_zh"], out["formula_en"] = f"（该指标暂未分解到报送文件：{e}）", "not decomposed into files yet"
        else:
            out["formula_zh"], out["formula_en"] = t["formula_zh"], t["formula_en"]
            out["definition"], out["cell"] = t["definition"], t["cell"]  # what write_rows reads
            out["cities"] = [{"figure_id": figure_id(kpi, r["city_code"], period, "value_ytd"),
                              "city_code": r["city_code"], "label": r["city_name"], "value": r["value_ytd"]}
                             for r in t["cities"]]
            out["files"] = [{k: v for k, v in f.items()} for f in t["files"]]
    elif measure == "value_month":
        out["value"] = c["value_month"]
        month = int(period[5:])
        if c["kind"] == "flow" and month > 1 and not c["is_combined_jan_feb"]:
            prev = _cell(conn, kpi, city, shift(period, -1))
            before = prev["value_ytd"] if prev else None
            out["formula_zh"] = (f"当月 = 1—{month}月累计 − 1—{month - 1}月累计 = {_num(c['value_ytd'])} − "
                                 f"{_num(before)} = {_num(c['value_month'])}")
            out["formula_en"] = "month = year to date minus the previous month's year to date"
            out["inputs"] = [_input(this, "本期累计", c["value_ytd"]),
                             _input(figure_id(kpi, city, shift(period, -1), "value_ytd"), "上月累计", before)]
        else:
            out["formula_zh"] = f"当月 = 本月数（{'1月即累计' if month == 1 else '月末数'}） = {_num(c['value_month'])}"
            out["formula_en"] = "month = the month's own figure"
            out["inputs"] = [_input(this, "本期", c["value_ytd"])]
    elif measure in ("yoy_pct", "yoy_pp"):
        out["value"] = c[measure]
        last = figure_id(kpi, city, shift(period, -12), "value_ytd")
        if measure == "yoy_pct":
            out["formula_zh"] = (f"同比增速 = (本期累计 ÷ 上年同期累计 − 1) × 100 = ({_num(c['value_ytd'])} ÷ "
                                 f"{_num(c['value_ytd_last_year'])} − 1) × 100 = {_num(c['yoy_pct'])}%")
            out["formula_en"] = "growth = (this year to date / last year's same period - 1) x 100"
        else:
            out["formula_zh"] = (f"同比增减 = 本期 − 上年同期 = {_num(c['value_ytd'])} − "
                                 f"{_num(c['value_ytd_last_year'])} = {_num(c['yoy_pp'])}个百分点")
            out["formula_en"] = "change = this year's rate minus last year's, in percentage points"
        out["formula_zh"] += f"（同比口径 yoy basis: {c['yoy_basis']}）"
        out["inputs"] = [_input(this, "本期累计", c["value_ytd"]),
                         _input(last, "上年同期累计", c["value_ytd_last_year"])]
    elif measure == "target_progress_pct":
        out["value"] = c["target_progress_pct"]
        out["formula_zh"] = (f"完成年度目标 = 本期累计 ÷ 年度目标 × 100 = {_num(c['value_ytd'])} ÷ "
                             f"{_num(c['annual_target'])} × 100 = {_num(c['target_progress_pct'])}%"
                             f"（年度目标见种子表 annual_targets；序时进度 {_num(c['time_progress_pct'])}%）")
        out["formula_en"] = "progress = year to date / annual target (seed annual_targets) x 100"
        out["inputs"] = [_input(this, "本期累计", c["value_ytd"])]
    elif measure in RANKED:
        out.update(_ranking(conn, c, measure, {} if memo is None else memo))
    elif measure == "card":
        q = _quarter_row(conn, kpi, city, period)
        out["value"] = q["card"] if q else None
        out["formula_zh"] = f"通报等级 {_num(out['value'])}：{(q or {}).get('card_rule') or '—'}"
        out["formula_en"] = "card from target progress against time progress (marts.quarterly_bulletin.card_rule)"
        out["inputs"] = [_input(figure_id(kpi, city, period, "target_progress_pct"), "完成年度目标",
                                c["target_progress_pct"])]
    if measure not in VALUES and isinstance(out.get("value"), (float, Decimal)):
        out["value"] = _num(out["value"])
    return _jsonable(out)


def _input(fid: str, label: str, value) -> dict:
    return {"figure_id": fid, "label": label, "value": _num(value) if value is not None else None}


def _quarter_row(conn, kpi, city, period) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM marts.quarterly_bulletin WHERE kpi_code = %s AND city_code = %s "
                           "AND period = %s", [kpi, city, period]).fetchone()


def _ranking(conn, c: dict, measure: str, memo: dict) -> dict:
    """A rank: the cities in the order the document ranks them (the ranks of :mod:`reports.data`,
    the quarter's from marts.quarterly_bulletin), each linked to the figure ranked."""
    period = c["period"]
    if ("table", period) not in memo:
        rows = data.quarter_table(conn, period) or data.kpi_table(conn, period)
        memo[("table", period)] = rows
    rows = [r for r in memo[("table", period)] if r["kpi_code"] == c["kpi_code"] and r["city_code"] != PROVINCE_CODE
            and r[measure] is not None]
    rows.sort(key=lambda r: (r[measure], r["city_code"]))
    ranked = RANKED[measure]
    field = ("yoy_pp" if c["unit"] == "%" else "yoy_pct") if ranked == "growth" else ranked
    me = next((r[measure] for r in rows if r["city_code"] == c["city_code"]), None)
    ranking = [{"figure_id": figure_id(c["kpi_code"], r["city_code"], period, field), "city_code": r["city_code"],
                "label": r["city_name"], "value": _num(r[field]), "rank": r[measure]}
               for r in rows]
    what = {"value_ytd": "累计值", "growth": "同比", "target_progress_pct": "完成年度目标"}[ranked]
    return {"value": me, "ranking": ranking,
            "formula_zh": f"位次 = 在{len(rows)}个有数据的市州中按{what}从高到低排列的名次 = {_num(me)}",
            "formula_en": f"rank = place among the {len(rows)} cities with a figure, highest {field} first"}


SCHEME = "全省开放型经济工作绩效考核（reference.appraisal_scheme、appraisal_adjustments；marts.performance_appraisal）"


def _appraisal(conn, fid: str, code: str, city: str, period: str, measure: str) -> dict:
    """An appraisal figure (marts.performance_appraisal, as of ``period``): an item's score with its
    derivation and the KPI figure it scores, a part's subtotal or the total as the sum of its items'
    scores, the total's rank among the cities, or a count of projects appraised (加分 / 扣分)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT a.*, s.description, s.method FROM marts.performance_appraisal AS a "
            "LEFT JOIN reference.appraisal_scheme AS s USING (item_code) "
            "WHERE a.as_of_period = %s ORDER BY a.city_code, a.item_code", [period]).fetchall()
    mine = [r for r in rows if r["city_code"] == city]
    parts = {v: k for k, v in PART_CODES.items()}
    item = next((r for r in mine if r["item_code"] == code), None)
    if not mine or (item is None and code not in parts):
        raise trace.NotTraced(f"{fid}: no row in marts.performance_appraisal / 无此考核数据")
    any_row = item or mine[0]
    ytd_label = "1月" if period.endswith("-01") else f"1—{int(period[5:])}月"
    name = parts[code] + "小计" if code in parts else ("总分" if code == "TOTAL" else item["item_name"])
    out = {"figure_id": fid, "kpi_code": APPRAISAL + code, "city_code": city, "period": period, "measure": measure,
           "measure_zh": MEASURES[measure][0], "measure_en": MEASURES[measure][1],
           "label": f"{any_row['city_name']} 绩效考核 {name} {period[:4]}年{ytd_label} {MEASURES[measure][0]}",
           "definition_zh": (item or {}).get("description") or SCHEME,
           "unit": "分" if measure == "score" else "", "inputs": [], "cities": [], "files": [], "ranking": []}

    def score_of(r):
        return _input(figure_id(APPRAISAL + r["item_code"], city, period, "score"), r["item_name"], r["score"])

    if measure == "rank_total":
        totals = sorted({r["city_code"]: r for r in rows}.values(), key=lambda r: (r["rank"], r["city_code"]))
        out["value"] = _num(item["rank"])
        out["ranking"] = [{"figure_id": figure_id(APPRAISAL + "TOTAL", r["city_code"], period, "score"),
                           "city_code": r["city_code"], "label": r["city_name"], "value": _num(r["total_score"]),
                           "rank": r["rank"]} for r in totals]
        out["formula_zh"] = f"位次 = 在{len(totals)}个市州中按总分从高到低排列的名次（并列同位次） = {item['rank']}"
        out["formula_en"] = "rank = place among the cities by total score, highest first (ties share a place)"
    elif measure == "item_value":
        out["value"] = _num(item["value"])
        out["unit"] = "个"
        out["formula_zh"] = (f"{item['item_name']}：{_num(item['value'])}个"
                             "（据项目台账：marts.monthly_scheduling、fct_project_month）")
        out["formula_en"] = "a count of projects of the ledger in force (marts.monthly_scheduling)"
    elif code in parts or code == "TOTAL":
        members = [r for r in mine if r["item_code"] != "TOTAL" and (code == "TOTAL" or r["part"] == parts[code])]
        total = sum((r["score"] for r in members), Decimal(0))
        out["value"] = _num(item["score"] if item else total)
        out["inputs"] = [score_of(r) for r in members]
        terms = "".join(f"{' − ' if r['score'] < 0 else ' + '}{_num(abs(r['score']))}" for r in members)
        terms = terms[3:] if terms.startswith(" + ") else "−" + terms[3:]
        out["formula_zh"] = (f"{name} = 各项得分之和 = {terms} = "
                             f"{_num(item['score'] if item else total)}"
                             + (f"（{item['derivation']}）" if item is not None and item["derivation"] else ""))
        out["formula_en"] = "the sum of the items' scores"
    else:
        out["value"] = _num(item["score"])
        out["formula_zh"] = item["derivation"] or ""
        out["formula_en"] = ("score against time progress (target_vs_time) or by rank among the cities (rank); "
                             "a bonus or deduction per project, capped")
        if item["kpi_code"]:
            out["inputs"] = [_input(figure_id(item["kpi_code"], city, period, "value_ytd"), item["item_name"],
                                    item["value"])]
            if item["method"] == "target_vs_time":
                kpi = _cell(conn, item["kpi_code"], city, period) or {}
                out["inputs"].append(_input(figure_id(item["kpi_code"], city, period, "target_progress_pct"),
                                            "完成年度目标", kpi.get("target_progress_pct")))
            else:  # 全省第N位 is the KPI's rank among the cities by value (kpi_city_month.rank_in_province)
                kpi = _cell(conn, item["kpi_code"], city, period) or {}
                out["inputs"].append(_input(figure_id(item["kpi_code"], city, period, "rank_in_province"),
                                            "全省位次", kpi.get("rank_in_province")))
        else:
            out["inputs"] = [_input(figure_id(APPRAISAL + code, city, period, "item_value"), item["item_name"],
                                    item["value"])]
    return out


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, Path):
        return str(v)
    return v


def explain_all(conn, settings, printed: Figures) -> dict[str, dict]:
    """The explanation of every printed figure and of every figure they rest on, by id."""
    out: dict[str, dict] = {}
    memo: dict = {}
    todo = [f.figure_id for f in printed]
    while todo:
        fid = todo.pop(0)
        if fid in out:
            continue
        try:
            e = explain(conn, settings, fid, memo)
        except trace.NotTraced:
            continue  # a figure the marts do not hold (last year before the history starts): no page
        out[fid] = e
        todo += [x["figure_id"] for x in (*e["inputs"], *e["cities"], *e["ranking"]) if x["figure_id"] not in out]
    return out


# --------------------------------------------------------------------------- the pages
def folder_name(stem: str, version: int) -> str:
    """The trace pages' folder beside a document's files: ``bulletin_2025Q3_v1_trace``."""
    return f"{stem}_v{version}_trace"


def page_name(fid: str) -> str:
    return f"{fid}.html"


def receipt_page(file_id) -> str:
    return f"receipt_{file_id}.html"


def write_pages(target: Path, title: str, document: str, doc_key: str, printed: Figures,
                explained: dict[str, dict]) -> None:
    """The trace pages of one document version in ``target`` (replaced whole, never half-written):
    index.html (every printed figure), one page per explained figure, one per receipt.
    ``document`` is the HTML's file name (beside the folder), ``doc_key`` its version's key
    (``quarterly/2025Q3/v1``, for ``openecon trace --figure``)."""
    common = {"stylesheet": "trace.css", "title": title, "document": document, "doc_key": doc_key}
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    known = set(explained)
    receipts: dict = {}
    for fid, e in explained.items():
        for f in e["files"]:
            receipts[f["file_id"]] = f
        page = templating.render("trace.html.j2", **common, e=e, known=known,
                                 page=page_name, receipt=receipt_page, printed=printed.by.get(fid))
        (tmp / page_name(fid)).write_text(page, encoding="utf-8")
    for file_id, f in receipts.items():
        path = Path(f["receipt"])
        body = path.read_text(encoding="utf-8") if path.exists() else "（回执文件不存在 receipt file not found）"
        page = templating.render("trace_receipt.html.j2", **common, f=f, body=body)
        (tmp / receipt_page(file_id)).write_text(page, encoding="utf-8")
    index = templating.render("trace_index.html.j2", **common, figures=list(printed), known=known,
                              page=page_name)
    (tmp / "index.html").write_text(index, encoding="utf-8")
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


# --------------------------------------------------------------------------- a published figure
def published(conn, key: str, fid: str) -> dict:
    """A figure of a published version as it was published: its register row with the trace
    stored then (``audit.document_figures``), whatever was corrected since."""
    from reports.publish import parse_version_key

    kind, period, version = parse_version_key(key)
    parse_id(fid)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT f.*, b.kind, b.period AS document_period, b.version, b.created_at AS published_at, "
            "b.data_version FROM audit.document_figures AS f JOIN audit.bulletins AS b ON b.id = f.bulletin_id "
            "WHERE b.kind = %s AND b.period = %s AND b.version = %s AND f.figure_id = %s",
            [kind, period, version, fid]).fetchone()
    if row is None:
        raise trace.NotTraced(f"{key}/{fid}: no such figure in the published versions (audit.document_figures) "
                              "/ 已发布文件中无此数据")
    return row


def published_text(row: dict) -> str:
    """A published figure's trace as a person reads it, in Chinese and English."""
    from reports.publish import local_time, version_key

    e = row["trace"] or {}
    key = version_key(row["kind"], row["document_period"], row["version"])
    dv = row["data_version"] or {}
    printed = (f"文中 printed：{row['printed_text']}（{'、'.join(row['places'])}）" if row["printed_text"]
               else "文中未直接列示（为已列示数据的组成部分） not printed: an input of a printed figure")
    lines = [f"{row['label']}：{e.get('value', row['value'])}  /  {row['figure_id']}",
             f"文件 document：{key}，发布于 published {local_time(row['published_at'])}（北京时间），"
             f"数据版本 data version {dv.get('hash')}（{dv.get('files')} files）",
             printed,
             f"定义 definition：{e.get('definition_zh', '')}",
             f"公式 formula：{e.get('formula_zh', '')}",
             f"        {e.get('formula_en', '')}"]
    if e.get("inputs"):
        lines.append("计算依据 inputs:")
        lines += [f"  {i['label']}: {i['value']}  ({i['figure_id']})" for i in e["inputs"]]
    if e.get("cities"):
        lines.append("各市州 cities:")
        lines += [f"  {c['city_code']} {c['label']}: {c['value']}  ({c['figure_id']})" for c in e["cities"]]
    if e.get("ranking"):
        lines.append("排位 ranking:")
        lines += [f"  {c['rank']:>2} {c['label']}: {c['value']}" for c in e["ranking"]]
    if e.get("files"):
        lines.append("报送文件 files as published (file id, name, month, rows, partial sum, sha256):")
        for f in e["files"]:
            partial = (f"{f['value_cny']} 元" if f.get("value_cny") is not None
                       else f"{f.get('value')} {f.get('unit', '')}")
            lines.append(f"  [{f['file_id']}] {f['file_name']}（{f.get('city_name', '')}，{f['source_period']}，"
                         f"{f['file_rows']}行） {partial}")
            lines.append(f"      sha256 {(f['sha256'] or '').strip()}  回执 receipt {f['receipt']}")
    return "\n".join(lines)
