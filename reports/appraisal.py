"""绩效考核: the cities' performance appraisal for a year as of a quarter, as HTML, PDF, DOCX and XLSX.

Read-only from ``marts.performance_appraisal`` (scores, derivations, totals and ranks are
computed there, once) plus ``reference.appraisal_scheme`` / ``appraisal_adjustments`` for
the method text. Published through :mod:`reports.publish` like the bulletins: the versions
are in ``audit.bulletins`` (kind ``appraisal``), files ``appraisal_<YYYYQn>_v<N>.{html,pdf,docx,xlsx}``.
The appraisal is versioned by content (the data version and its rows, ``content_hash``):
rendering again on the same content reuses the version (no file is rewritten); changed
content gives v<N+1> listing the totals that moved. Beside them, ``.json`` is a plain export
of the content hash, data version, totals and changes (the register is audit.bulletins).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from core.periods import Period, parse_period
from reports import completeness, data, docx_writer, phrasing, publish, templating, trace_figures, xlsx
from reports.figures import APPRAISAL, PART_CODES, Figures

QUARTER_CN = {1: "一", 2: "二", 3: "三", 4: "四"}
OVERVIEW, CITY_LINES = "一、考核结果", "三、各市州得分情况"
SUMMARY, DETAIL = "附表1", "附表2"
PART_ORDER = ["目标任务", "工作成效", "加分", "扣分"]

ROWS_SQL = """
select a.year, a.as_of_period, a.city_code, a.city_name, a.part, a.item_code, a.item_name, a.kpi_code,
       cast(a.value as double precision) as value, cast(a.target as double precision) as target,
       cast(a.weight as double precision) as weight, cast(a.score as double precision) as score,
       a.derivation, cast(a.total_score as double precision) as total_score, a.rank, d.unit, k.source_kind
from marts.performance_appraisal as a
left join reference.kpi_definitions as d using (kpi_code)
left join marts.kpi_city_month as k
    on k.kpi_code = a.kpi_code and k.city_code = a.city_code and k.period = a.as_of_period
where a.as_of_period = %(period)s
order by a.city_code, a.item_code
"""


def _num(v, decimals=2) -> str:
    if v is None:
        return "—"
    return f"{float(v):,.{decimals}f}"


def _cell(v, decimals=2) -> dict:
    return {"text": _num(v, decimals), "value": None if v is None else float(v), "decimals": decimals}


def _plain(v):
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    return v


def load(conn, period: Period) -> list[dict]:
    return conn.execute(ROWS_SQL, {"period": period.ym}).fetchall()


def context(conn, period: Period, allow_incomplete: bool = False) -> dict:
    rows = load(conn, period)
    if not rows:
        raise ValueError(f"marts.performance_appraisal has no rows as of {period.ym}")
    # the indicators' figures of the quarter-end month: refuses unless complete or told to publish anyway
    kpis = sorted({r["kpi_code"] for r in rows if r["kpi_code"]})
    found = completeness.require(conn, "appraisal", period.label, period.ym, allow_incomplete, kpis)
    scheme = conn.execute("select item_code, item_name, part, weight, method, description "
                          "from reference.appraisal_scheme order by item_code").fetchall()
    rules = conn.execute("select rule_code, rule_name, kind, points_per_item, cap_points, description "
                         "from reference.appraisal_adjustments order by rule_code").fetchall()
    items = [r for r in rows if r["city_code"] == rows[0]["city_code"] and r["part"] != "合计"]
    items.sort(key=lambda r: (PART_ORDER.index(r["part"]) if r["part"] in PART_ORDER else 9, r["item_code"]))
    by_city = _by_city(rows)
    ranked = sorted(by_city.values(), key=lambda c: (c["rank"], c["code"]))
    total_weight = sum(float(s["weight"]) for s in scheme)
    final = period.month == 12
    title = (f"关于{period.year}年度全省各市州开放型经济工作绩效考核结果的通报" if final else
             f"关于{period.year}年{period.ytd_label}全省各市州开放型经济工作绩效考核情况的通报")
    gaps = {c["city_code"]: c for c in found.cities()}
    printed = Figures()
    summary = _summary_table(ranked, items, period, total_weight, printed)
    if gaps:
        summary["note"] += "".join(f"{c['city_name']}：{'；'.join(c['details_zh'])}，相关指标按现有数据计分。"
                                   for c in gaps.values())
    return {
        "kind": "appraisal", "title": title, "final": final, "period": period,
        "quarter_cn": QUARTER_CN[period.quarter], "ytd": period.ytd_label,
        "overview": _overview(ranked, period, total_weight, printed),
        "city_lines": _city_lines(ranked, printed, gaps), "scheme": scheme, "rules": rules,
        "tables": [summary, _detail_table(by_city, items, period, printed)], "printed": printed,
        "rows": rows, "totals": {c["name"]: {"total": c["total"], "rank": c["rank"]} for c in ranked},
        "cells": _cells(rows, period), "incomplete": found.summary() if found.allowed else None,
        "incomplete_register": found.register(),
    }


def _cells(rows: list[dict], period: Period) -> dict:
    """The indicators' values the appraisal prints (a city's KPI as of the quarter): audit.published_figures."""
    cells: dict = {}
    for r in rows:
        if r["kpi_code"] and r["source_kind"]:
            publish.add_cell(cells, {"kpi_code": r["kpi_code"], "city_code": r["city_code"], "period": period.ym,
                                     "city_name": r["city_name"], "kpi_name_zh": r["item_name"],
                                     "unit": r["unit"] or "", "source_kind": r["source_kind"],
                                     "value_ytd": r["value"]}, 2, ytd=True)
    return cells


def _fig_row(c: dict, code: str, name: str, period: str) -> dict:
    """What a figure of the appraisal is about, as reports.figures registers it: an item (T04), a
    part's subtotal (PART_T) or the total (TOTAL) of city ``c`` as of ``period``."""
    return {"kpi_code": APPRAISAL + code, "city_code": c["code"], "city_name": c["name"], "period": period,
            "kpi_name_zh": name}


def _scored(printed: Figures, c: dict, code: str, name: str, score, place: str, decimals: int = 2) -> dict:
    """A table cell printing a score, registered as the figure it is."""
    cell = _cell(score, decimals)
    cell["figure"] = printed.add(_fig_row(c, code, name, c["period"]), "score", score, cell["text"], place)
    return cell


def _by_city(rows: list[dict]) -> dict[str, dict]:
    """Each city's items by code, its total and rank, and the sum of scores of each part."""
    by_city: dict[str, dict] = {}
    for r in rows:
        c = by_city.setdefault(r["city_code"], {"code": r["city_code"], "name": r["city_name"], "items": {},
                                                "total": r["total_score"], "rank": r["rank"], "parts": {},
                                                "period": r["as_of_period"]})
        c["items"][r["item_code"]] = r
        if r["part"] != "合计":
            c["parts"][r["part"]] = c["parts"].get(r["part"], 0.0) + (r["score"] or 0.0)
    return by_city


def _overview(ranked: list[dict], period: Period, total_weight: float, printed: Figures) -> list[str]:
    """一、考核结果: the scheme in one sentence, the first three and the last three."""
    def name(c):  # the city's name links to its total (ties are told by the score's text alone)
        return printed.mark(_fig_row(c, "TOTAL", "总分", c["period"]), "score", c["total"], score(c), OVERVIEW,
                            shown=c["name"])

    def score(c):
        return f"{_num(c['total'])}分"

    return [
        f"按照全省开放型经济工作绩效考核办法，对{len(ranked)}个市州{period.year}年{period.ytd_label}目标任务完成情况和工作成效"
        f"进行了考核（满分{_num(total_weight, 0)}分，另计加分、扣分）。",
        f"总分排名前三位的是：{phrasing.ranked_list(ranked, 3, name, score)}；"
        f"排名后三位的是：{phrasing.ranked_list(ranked[::-1], 3, name, score)}。",
    ]


def _city_lines(ranked: list[dict], printed: Figures, gaps: dict | None = None) -> list[dict]:
    """三、各市州得分情况: each city's total, rank and parts; a city whose figures are incomplete
    (published with the override) says so beside its score."""
    city_lines = []
    for c in ranked:
        parts = "，".join(_part_text(p, c["parts"][p]) for p in PART_ORDER if p in c["parts"])
        gap = (gaps or {}).get(c["code"])
        note = f"（注：{'；'.join(gap['details_zh'])}，相关指标按现有数据计分）" if gap else ""
        total = _fig_row(c, "TOTAL", "总分", c["period"])
        score = printed.mark(total, "score", c["total"], f"{_num(c['total'])}分", CITY_LINES)
        rank = printed.mark(total, "rank_total", c["rank"], f"第{c['rank']}位", CITY_LINES)
        city_lines.append({"name": c["name"], "text": f"总分{score}{note}，全省{rank}（{parts}）。"})
    return city_lines


def _summary_table(ranked: list[dict], items: list[dict], period: Period, total_weight: float,
                   printed: Figures) -> dict:
    """附表1 得分汇总: cities by rank, one column per item, the parts, total and rank."""
    # (the shared table macro shows the first column by its group, in the first header row)
    cols = [{"header": "市州", "group": "市州"}]
    cols += [{"header": f"{i['item_name']}（{_num(i['weight'], 0 if float(i['weight']).is_integer() else 1)}分"
                        f"{'/个' if i['part'] in ('加分', '扣分') else ''}）", "group": i["part"]} for i in items]
    cols += [{"header": "目标任务小计", "group": "小计"}, {"header": "工作成效小计", "group": "小计"},
             {"header": "总分", "group": "合计"}, {"header": "位次", "group": "合计"}]
    summary_rows = []
    for c in ranked:
        row = [{"text": c["name"]}]
        row += [_scored(printed, c, i["item_code"], i["item_name"], c["items"][i["item_code"]]["score"], SUMMARY)
                if i["item_code"] in c["items"] else _cell(None) for i in items]
        row += [_scored(printed, c, PART_CODES[p], f"{p}小计", c["parts"].get(p, 0.0), SUMMARY) for p in PART_CODES]
        row += [_scored(printed, c, "TOTAL", "总分", c["total"], SUMMARY),
                {"text": str(c["rank"]), "value": float(c["rank"]), "decimals": 0,
                 "figure": printed.add(_fig_row(c, "TOTAL", "总分", c["period"]), "rank_total", c["rank"],
                                       str(c["rank"]), SUMMARY)}]
        summary_rows.append(row)
    return {"sheet": "附表1 得分汇总", "title": f"附表1  {period.year}年{period.ytd_label}各市州绩效考核得分汇总表",
            "columns": cols, "rows": summary_rows,
            "note": f"注：市州按总分排位排列（并列同位次）；满分{_num(total_weight, 0)}分，另有加分、扣分各最多3分。"}


def _detail_table(by_city: dict[str, dict], items: list[dict], period: Period, printed: Figures) -> dict:
    """附表2 计分明细: every city and item with value, target, weight, score and the derivation."""
    detail_cols = [{"header": h} for h in ("市州", "考核部分", "考核项目", "指标值", "年度目标", "权重（分）",
                                           "得分", "计分过程")]
    detail_rows = []
    for c in sorted(by_city.values(), key=lambda c: c["code"]):
        for i in items + [c["items"]["TOTAL"]] if "TOTAL" in c["items"] else items:
            r = c["items"].get(i["item_code"])
            if r is None:
                continue
            unit = r["unit"] or ("个" if r["part"] in ("加分", "扣分") else "")
            value = {"text": f"{_num(r['value'])}{unit}" if r["value"] is not None else "—",
                     "value": r["value"], "decimals": 2}
            if r["value"] is not None:  # a KPI's 累计 (traced to its files), or the count of projects appraised
                about = ({"kpi_code": r["kpi_code"], "city_code": c["code"], "city_name": c["name"],
                          "period": c["period"], "kpi_name_zh": r["item_name"]} if r["kpi_code"]
                         else _fig_row(c, r["item_code"], r["item_name"], c["period"]))
                value["figure"] = printed.add(about, "value_ytd" if r["kpi_code"] else "item_value", r["value"],
                                              value["text"], DETAIL)
            detail_rows.append([
                {"text": c["name"]}, {"text": r["part"]}, {"text": r["item_name"]}, value,
                _cell(r["target"]), _cell(r["weight"], 1),
                _scored(printed, c, r["item_code"], r["item_name"] if r["item_code"] != "TOTAL" else "总分",
                        r["score"], DETAIL),
                {"text": r["derivation"] or ""}])
    return {"sheet": "附表2 计分明细", "title": f"附表2  {period.year}年{period.ytd_label}各市州绩效考核计分明细",
            "columns": detail_cols, "rows": detail_rows, "note": None}


def _part_text(part: str, score: float) -> str:
    if part == "加分":
        return f"加{_num(abs(score))}分"
    if part == "扣分":
        return f"扣{_num(abs(score))}分"
    return f"{part}{_num(score)}分"


def _content_hash(rows: list[dict], dv: dict) -> str:
    payload = json.dumps([{k: _plain(v) for k, v in r.items()} for r in rows], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(f"{dv['hash']}\n{payload}".encode()).hexdigest()[:12]


def render(settings, quarter: str, out_dir: Path | None = None, allow_incomplete: bool = False) -> dict:
    """Render the appraisal as of ``quarter`` (YYYYQn); returns {'version', 'paths', 'reused', 'changes', ...}.

    Refuses (expectations.store.GateNotPassed) unless the latest quality gate run on the
    current data version passed, as the bulletins do (:func:`reports.publish.publish`), and
    (completeness.IncompletePeriod) when the quarter's figures leave cities out, unless
    ``allow_incomplete``: then the cities concerned carry a note.
    """
    period = parse_period(quarter)
    if period.kind != "quarterly":
        raise ValueError(f"the appraisal is as of a quarter (YYYYQn), got {quarter!r}")
    out_dir = Path(out_dir) if out_dir else settings.output_dir / "bulletins"
    out_dir.mkdir(parents=True, exist_ok=True)
    with data.connect(settings) as conn:
        return publish.publish(conn, lambda c: draft(c, settings, period, out_dir, allow_incomplete))


def draft(conn, settings, period: Period, out_dir: Path, allow_incomplete: bool = False) -> publish.Draft:
    ctx = context(conn, period, allow_incomplete)
    # the December ledger of last year is the base of paid-in funds, hence the source range
    srcs = data.sources(conn, f"{period.year - 1:04d}-12", period.ym)
    content = _content_hash(ctx["rows"], publish.data_version(srcs))

    stem, printed = f"appraisal_{period.label}", ctx["printed"]

    def write(edition: publish.Edition):
        ctx.update(**edition.stamp(), content_hash=content, quality_run_id=edition.quality_run_id,
                   house=publish.house(settings, "appraisal", period),
                   correction_table=publish.corrections_table(edition.corrections, edition.version),
                   trace_dir=trace_figures.folder_name(stem, edition.version),
                   doc_key=publish.version_key("appraisal", period.label, edition.version))
        yield "html", templating.render("appraisal.html.j2", **ctx, medium="html")
        printed = templating.render("appraisal.html.j2", **ctx, medium="print")
        yield "pdf", templating.pdf_in_background(printed)  # written once ready, after the rest
        yield "docx", lambda path: docx_writer.write(path, printed)
        yield "xlsx", lambda path: xlsx.write(path, ctx)
        meta = {"content_hash": content, "data_version": edition.data_version, "totals": ctx["totals"],
                "changes": edition.changes, "corrections": edition.corrections}
        yield "json", json.dumps(meta, ensure_ascii=False, indent=1)

    def trace(edition: publish.Edition) -> dict:
        explained = trace_figures.explain_all(conn, settings, printed)
        trace_figures.write_pages(out_dir / trace_figures.folder_name(stem, edition.version),
                                  f"{ctx['title']}（第{edition.version}版）", f"{stem}_v{edition.version}.html",
                                  publish.version_key("appraisal", period.label, edition.version), printed, explained)
        return explained

    return publish.Draft(kind="appraisal", period=period.label, out_dir=out_dir, stem=stem,
                         files=("html", "pdf", "docx", "xlsx"), exports=("json",), sources=srcs, figures=ctx["totals"],
                         diff=_changes, content_hash=content, write=write, cells=ctx["cells"],
                         incomplete=ctx["incomplete_register"], printed=printed, trace=trace)


def _changes(old: dict, new: dict) -> list[str]:
    out = []
    for name, now in new.items():
        before = old.get(name)
        if before is None or before["total"] != now["total"] or before["rank"] != now["rank"]:
            was = f"{_num(before['total'])}分（第{before['rank']}位）" if before else "—"
            out.append(f"{name} 总分 由 {was} 改为 {_num(now['total'])}分（第{now['rank']}位）")
    return out

