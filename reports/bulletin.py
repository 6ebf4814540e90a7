"""Build, render and register the bulletins: quarterly 通报 and monthly 调度 (HTML, PDF, DOCX, XLSX).

Each document's context is built one section at a time (one helper per section of the
printed text); :func:`render` publishes it through :mod:`reports.publish` (gate, version,
atomic files, register).
"""

from __future__ import annotations

import base64
import html
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from core.constants import PROVINCE_CODE
from core.periods import Period, months_between, parse_period, shift
from ingestion.contract import PROJECTS
from ingestion.load import PAID_IN_REVISION
from reports import charts, completeness, data, docx_writer, maps, phrasing, publish, templating, trace_figures, xlsx
from reports.figures import Figures
from reports.phrasing import DECIMALS

CN_NUM = "〇一二三四五六七八九"
PROVINCE = {"city_code": PROVINCE_CODE, "city_name": "全省"}
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
# 同比 not given (kpi_city_month.yoy_basis): what the document says instead of a growth rate
# (an incomplete figure of this year carries the note naming the cities left out beside it)
YOY_REASONS = {"incomplete_this_year": "不计算同比", "no_last_year": "无上年同期数",
               "combined_last_year": "上年同期为1–2月合并数，不计算同比",
               "incomplete_last_year": "上年同期数据不完整，不计算同比"}


# --------------------------------------------------------------------------- formatting
fmt = phrasing.number


def fmt_rank(v, rank, unit) -> str:
    return fmt(v, unit) + (f"（{rank}）" if v is not None and rank else "")


def growth_phrase(r: dict) -> str:
    """同比增长2.8% / 同比下降1.2% / 同比提高1.5个百分点 (ratios in 个百分点): reports.phrasing."""
    return phrasing.change(growth_key(r), r["unit"] == "%")


def growth_or_reason(r: dict, printed: Figures | None = None, place: str = "") -> str:
    """The growth phrase, or why there is none (本期数据不完整 / 上年同期数据不完整 / 无上年同期数);
    the phrase marked as the figure it prints when ``printed`` registers the document's figures."""
    phrase = growth_phrase(r)
    if phrase and printed is not None:
        return printed.mark(r, growth_measure(r), growth_key(r), phrase, place)
    return phrase or YOY_REASONS.get(r.get("yoy_basis"), "")


def growth_measure(r: dict) -> str:
    """The measure a row's 同比 is: yoy_pp for a ratio (个百分点), yoy_pct otherwise."""
    return "yoy_pp" if r["unit"] == "%" else "yoy_pct"


def progress_phrase(r: dict, printed: Figures | None = None, place: str = "") -> str:
    """完成年度目标的X%，超/欠序时进度…; the X% marked as the figure it prints when ``printed`` registers them."""
    if r["target_progress_pct"] is None:
        return ""
    if r["unit"] == "%":  # a rate has a target level, not a 序时进度
        return f"年度目标{fmt(r['annual_target'])}%"
    phrase = phrasing.versus_time_progress(r["target_progress_pct"], r["time_progress_pct"])
    done = f"{phrasing.number(r['target_progress_pct'])}%"
    if printed is None or not phrase.startswith(f"完成年度目标的{done}"):
        return phrase
    # registered as the tables print it (the register keeps one text per figure), shown with its %
    marked = printed.mark(r, "target_progress_pct", r["target_progress_pct"], fmt(r["target_progress_pct"]), place,
                          shown=done)
    return f"完成年度目标的{marked}{phrase[len('完成年度目标的' + done):]}"


def growth_key(r: dict):
    return r["yoy_pp"] if r["unit"] == "%" else r["yoy_pct"]


def gl(r: dict) -> str:
    return r["city_name"] + "（" + bare_growth(r) + "）"


def bare_growth(r: dict) -> str:
    return phrasing.bare_change(growth_key(r), r["unit"] == "%")


def cn_list(items: list[str]) -> str:
    return "、".join(items)


def svg_img(chart: charts.Chart, alt: str) -> str:
    """The chart as an <img>: the SVG shown, the PNG beside it for the DOCX (reports/docx_writer)."""
    svg = base64.b64encode(chart.svg.encode("utf-8")).decode()
    png = base64.b64encode(chart.png).decode()
    return (f'<img class="chart" alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{svg}" '
            f'data-png="{png}">')


@dataclass
class Kpis:
    """One period's KPI rows by (kpi, city), with the cities in code order and, published over an
    incomplete period, the notes of the incomplete province figures."""
    rows: list[dict]
    cities: list[dict]
    found: completeness.Completeness | None = None
    by: dict = field(init=False)

    def __post_init__(self):
        self.by = {(r["kpi_code"], r["city_code"]): r for r in self.rows}

    def note(self, r: dict | None) -> str | None:
        """The note beside a province figure that leaves cities out (全省合计不含衡阳市（未报送）)."""
        if not r or r["city_code"] != PROVINCE_CODE or r["value_ytd"] is None or self.found is None:
            return None
        return self.found.note(r["kpi_code"])

    def get(self, kpi: str, city_code: str = PROVINCE_CODE) -> dict | None:
        return self.by.get((kpi, city_code))

    def city_rows(self, kpi: str) -> list[dict]:
        return [self.by[(kpi, c["city_code"])] for c in self.cities if (kpi, c["city_code"]) in self.by]

    @property
    def areas(self) -> list[dict]:
        """The province first, then the cities: the rows of every table."""
        return [PROVINCE] + self.cities

    def cells(self, kpis: list[str]) -> dict:
        """The KPI cells the document prints (the year to date of every area): audit.published_figures."""
        cells: dict = {}
        for k in kpis:
            for c in self.areas:
                r = self.get(k, c["city_code"])
                if r:
                    publish.add_cell(cells, r, DECIMALS.get(r["unit"], 1), ytd=True)
        return cells


class Notes:
    """The notes beside the province figures of one paragraph: the first figure with a note carries
    it in brackets (with 下同 when later figures of the paragraph share it), the later ones nothing."""

    def __init__(self, k: Kpis):
        self.k, self.marks = k, []

    def mark(self, r: dict | None) -> str:
        note = self.k.note(r)
        if not note:
            return ""
        self.marks.append(note)
        return f"\x00{len(self.marks) - 1}\x00"

    def paragraph(self, text: str) -> str:
        marks, seen = self.marks, set()
        self.marks = []

        def sub(m):
            note = marks[int(m.group(1))]
            if note in seen:
                return ""
            seen.add(note)
            return f"（{note}{'，下同' if marks.count(note) > 1 else ''}）"

        return re.sub("\x00(\\d+)\x00", sub, text)


def table_notes(k: Kpis, rows: list[dict | None]) -> dict[str, str]:
    """note -> its marker (①, ②, …) for the incomplete province figures of a table."""
    notes: dict[str, str] = {}
    for r in rows:
        n = k.note(r)
        if n and n not in notes:
            notes[n] = CIRCLED[min(len(notes), len(CIRCLED) - 1)]
    return notes


def with_table_notes(note: str | None, notes: dict[str, str]) -> str | None:
    if not notes:
        return note
    return (note or "") + "".join(f"{m}{n}。" for n, m in notes.items())


# --------------------------------------------------------------------------- quarterly
def quarterly_context(conn, period: Period, allow_incomplete: bool = False) -> dict:
    rows = data.quarter_table(conn, period.ym)
    if not rows:
        raise RuntimeError(f"marts.quarterly_bulletin has no rows for {period.ym}: ingest and build first")
    # refuses (completeness.IncompletePeriod) before anything is written, unless told to publish anyway
    found = completeness.require(conn, "quarterly", period.label, period.ym, allow_incomplete)
    q = Kpis(rows, data.cities(conn), found)
    qn = CN_NUM[period.quarter]
    cells = q.cells(_kpis_present(q))
    printed = Figures()
    charts_, trend_note = _quarterly_charts(conn, q, period, cells, printed)
    return {
        "kind": "quarterly",
        "title": f"关于{period.year}年{qn}季度全省开放型经济主要指标完成情况的通报",
        "period": period, "ytd": period.ytd_label, "time_progress": fmt(rows[0]["time_progress_pct"]),
        "overview": _overview(q, period.ytd_label, printed), "city_sections": _city_sections(q, printed),
        "features": _features(q), "problems": _problems(q), "tables": _appendix(q, period, printed),
        "charts": charts_, "trend_note": trend_note, "figures": _quarterly_figures(q, period.ytd_label),
        "cells": cells, "incomplete": found.summary() if found.allowed else None,
        "incomplete_register": found.register(), "printed": printed,
        "source_range": (f"{period.year - 1}-01", period.ym),
    }


def _names(q: Kpis) -> dict[str, str]:
    return {r["kpi_code"]: r["kpi_name_zh"] for r in q.rows}


def _units(q: Kpis) -> dict[str, str]:
    return {r["kpi_code"]: r["unit"] for r in q.rows}


def _kpis_present(q: Kpis) -> list[str]:
    return list(dict.fromkeys(r["kpi_code"] for r in q.rows))


OVERVIEW_GROUPS = (["trade_total", "exports", "imports", "trade_enterprises", "services_trade"],
                   ["signed_projects", "signed_investment", "major_projects_signed", "fortune500_projects"],
                   ["funds_total", "funds_domestic", "fdi_actual"],
                   data.RATE_KPIS)


def _overview(q: Kpis, ytd: str, printed: Figures) -> list[str]:
    """一、总体情况: one paragraph per group of KPIs, the first sentence led by the period; a province
    figure that leaves cities out carries the note naming them, a missing 同比 the reason."""
    notes = Notes(q)

    def sentence(k, lead=False):
        r = q.get(k)
        if not r or r["value_ytd"] is None:
            return None
        head = f"{ytd}，全省" if lead else ""
        value = fmt(r["value_ytd"]) + "%" if r["unit"] == "%" else fmt(r["value_ytd"], r["unit"]) + r["unit"]
        s = f"{head}{r['kpi_name_zh']}{printed.mark(r, 'value_ytd', r['value_ytd'], value, OVERVIEW)}"
        parts = [s + notes.mark(r)] + [p for p in (growth_or_reason(r, printed, OVERVIEW),
                                                         progress_phrase(r, printed, OVERVIEW)) if p]
        return "，".join(parts)

    overview = []
    present = by_kpi(q.rows)
    for group in OVERVIEW_GROUPS:
        ss = [s for i, k in enumerate(g for g in group if g in present) if (s := sentence(k, lead=(i == 0)))]
        if ss:
            overview.append(notes.paragraph("；".join(ss) + "。"))
    return overview


OVERVIEW, CITY_SECTIONS = "一、总体情况", "二、各市州情况"


def _city_sections(q: Kpis, printed: Figures) -> list[dict]:
    """二、各市州情况: per main KPI the cities first and last by total and by growth (each city's
    name the link to the figure it is listed by)."""
    names, units = _names(q), _units(q)
    city_sections = []
    for k in data.MAIN_KPIS:
        rs = [r for r in q.city_rows(k) if r["value_ytd"] is not None]
        if not rs:
            continue
        u = units[k]
        by_val = sorted(rs, key=lambda r: -r["value_ytd"])

        def total(r, u=u):
            return fmt(r["value_ytd"], u) + u

        def by_total(r):
            return printed.mark(r, "value_ytd", r["value_ytd"], total(r), CITY_SECTIONS, shown=r["city_name"])

        def by_growth(r):
            return printed.mark(r, growth_measure(r), growth_key(r), bare_growth(r), CITY_SECTIONS,
                                shown=r["city_name"])

        lines = [f"总量居前三位的是{phrasing.ranked_list(by_val, 3, by_total, total)}，"
                 f"居后三位的是{phrasing.ranked_list(by_val[::-1], 3, by_total, total)}"]
        gs = sorted([r for r in rs if growth_key(r) is not None], key=lambda r: -growth_key(r))
        if gs:
            lines.append(f"增速居前三位的是{phrasing.ranked_list(gs, 3, by_growth, bare_growth)}，"
                         f"居后三位的是{phrasing.ranked_list(gs[::-1], 3, by_growth, bare_growth)}")
        absent = [r for r in q.city_rows(k) if r["value_ytd"] is None]
        if absent:  # a city without a figure is named, never ranked as zero
            lines.append(f"{cn_list([r['city_name'] for r in absent])}无数据"
                         f"（{cn_list(sorted({_absent_reason(r) for r in absent}))}），未参加排位")
        city_sections.append({"name": names[k], "unit": u, "text": "；".join(lines) + "。"})
    return city_sections


def _absent_reason(r: dict) -> str:
    return {"missing": "未报送", "combined": "1–2月合并报送"}.get(r["report_status"], "无法计算")


def _features(q: Kpis) -> list[str]:
    """三、主要特点: trade growth, trade structure, target progress, investment quality, FDI."""
    features = []
    notes = Notes(q)
    tt = [r for r in q.city_rows("trade_total") if r["value_ytd"] is not None]
    comparable = [r for r in tt if r["yoy_pct"] is not None]  # 同比 like for like only
    up = [r for r in comparable if phrasing.is_up(r["yoy_pct"])]
    if comparable and q.get("trade_total"):
        leaders = phrasing.join([r["city_name"] for r in sorted(up, key=lambda r: -r["yoy_pct"])[:3]])
        scope = f"{len(comparable)}个市州" if len(comparable) == len(q.cities) else f"可比的{len(comparable)}个市州"
        named = [r["city_name"] for r in up] if len(up) <= 3 else []
        grew = ("进出口总额均同比增长" if len(up) == len(comparable)
                else "中" + phrasing.cities_that(len(up), len(comparable), "进出口总额同比增长", named))
        features.append(f"外贸增长面。{scope}{grew}"
                        + (f"，其中{leaders}增速居前" if len(up) > 3 else "") + "。")
    pe, pi = q.get("exports"), q.get("imports")
    if pe and pi and pe["yoy_pct"] is not None and pi["yoy_pct"] is not None:
        d = pe["yoy_pct"] - pi["yoy_pct"]
        features.append(f"进出口结构。全省出口{growth_phrase(pe)}，进口{growth_phrase(pi)}，出口增速"
                        f"{phrasing.higher_or_lower(d, '进口')}。")
    ahead = [r for r in tt if r["target_progress_pct"] is not None
             and r["target_progress_pct"] >= r["time_progress_pct"]]
    with_target = [r for r in tt if r["target_progress_pct"] is not None]
    if with_target:
        features.append("目标进度。进出口总额" + phrasing.cities_that(
            len(ahead), len(with_target), "达到或超过序时进度", [r["city_name"] for r in ahead]) + "。")
    sp, mp, fp = q.get("signed_projects"), q.get("major_projects_signed"), q.get("fortune500_projects")
    if sp and mp and sp["value_ytd"]:
        features.append(notes.paragraph(
            f"招商质量。全省签约项目{fmt(sp['value_ytd'], '个')}个{notes.mark(sp)}，"
            f"其中重大项目{fmt(mp['value_ytd'], '个')}个{notes.mark(mp)}，"
            f"占{fmt(100 * (mp['value_ytd'] or 0) / sp['value_ytd'])}%"
            + (f"；三类500强项目{fmt(fp['value_ytd'], '个')}个{notes.mark(fp)}" if fp else "") + "。"))
    pf = q.get("fdi_actual")
    if pf and pf["value_ytd"] is not None:
        features.append(notes.paragraph(f"利用外资。全省实际使用外资{fmt(pf['value_ytd'], '亿美元')}亿美元"
                                        f"{notes.mark(pf)}，{growth_or_reason(pf) or '无上年同期数'}。"))
    return features


def _problems(q: Kpis) -> list[str]:
    """四、存在问题: cities behind 序时进度 by more than 10 points, province KPIs down, trade down."""
    names, units = _names(q), _units(q)
    kpis = _kpis_present(q)
    problems = []
    for k in kpis:
        if units[k] == "%":
            continue
        behind = [r for r in q.city_rows(k) if r["target_progress_pct"] is not None
                  and r["time_progress_pct"] - r["target_progress_pct"] > 10]
        if behind:
            behind.sort(key=lambda r: r["target_progress_pct"] - r["time_progress_pct"])
            gaps = cn_list([fmt(r["time_progress_pct"] - r["target_progress_pct"]) for r in behind])
            problems.append(f"{names[k]}：{cn_list([r['city_name'] for r in behind])}欠序时进度超过10个百分点"
                            f"（分别欠{gaps}个百分点）。")
    neg = [q.get(k) for k in kpis if q.get(k) and phrasing.is_down(growth_key(q.get(k)))]
    if neg:
        problems.append("部分指标同比下降："
                        + "；".join(f"全省{r['kpi_name_zh']}{growth_phrase(r)}" for r in neg) + "。")
    down = [r for r in q.city_rows("trade_total") if phrasing.is_down(r["yoy_pct"])]
    if down:
        problems.append(f"{len(down)}个市州进出口总额同比下降：" + cn_list(
            [gl(r) for r in sorted(down, key=lambda r: r["yoy_pct"])]) + "。")
    if not problems:
        problems.append("各项指标未发现欠序时进度超过10个百分点或同比下降的情况。")
    return problems


APPENDIX_NOTE = ("注：括号内为全省14个市州位次；序时进度{tp}%；“—”表示无年度目标、无数据或不计算同比"
                 "（无上年同期数，或本期、上年同期数据不完整）；"
                 "红/黄/绿为通报等级：达到序时进度为绿，落后不足10个百分点为黄，落后10个百分点及以上为红"
                 "（比率类指标以年度目标为准）。")


def _appendix(q: Kpis, period: Period, printed: Figures) -> list[dict]:
    """附表1..3: one table per KPI group, the province first, three columns per KPI."""
    names, units, ytd = _names(q), _units(q), period.ytd_label
    tables = []
    for gi, (gname, codes) in enumerate(data.GROUPS, start=1):
        codes = [k for k in codes if q.get(k)]
        cols = []
        for k in codes:
            u = units[k]
            cols += [{"group": f"{names[k]}（{u}）", "header": f"{ytd}累计（{u}）"},
                     {"group": f"{names[k]}（{u}）", "header": "同比（个百分点）" if u == "%" else "同比（%）"},
                     {"group": f"{names[k]}（{u}）", "header": "完成年度目标（%）"}]
        notes = table_notes(q, [q.get(k) for k in codes])
        place = f"附表{gi}"
        body = [[{"text": c["city_name"]}] + [cell for k in codes for cell in _appendix_cells(
                    q.get(k, c["city_code"]), q, notes, printed, place)]
                for c in q.areas]
        tables.append({"sheet": f"附表{gi}", "title": f"附表{gi}  {period.year}年{ytd}各市州{gname}主要指标",
                       "columns": [{"header": "地区", "group": "地区"}] + cols, "rows": body,
                       "note": with_table_notes(APPENDIX_NOTE.format(tp=fmt(q.rows[0]["time_progress_pct"])), notes)})
    return tables


def _appendix_cells(r: dict | None, q: Kpis | None = None, notes: dict | None = None,
                    printed: Figures | None = None, place: str = "") -> list[dict]:
    """A KPI's three cells in a 附表 row: total (with the marker of its note when it leaves cities
    out), growth and target progress, each with its rank (and card), each registered as printed."""
    if not r:
        return [{"text": "—"}] * 3
    u = r["unit"]
    gv = growth_key(r)
    card = f" {r['card']}" if r.get("card") and r["target_progress_pct"] is not None else ""
    marker = (notes or {}).get(q.note(r), "") if q is not None else ""
    cells = [{"text": fmt_rank(r["value_ytd"], r["rank_in_province"], u) + marker, "value": r["value_ytd"],
              "rank": r["rank_in_province"], "decimals": DECIMALS.get(u, 1)},
             {"text": fmt_rank(gv, r["rank_growth"], "%"), "value": gv, "rank": r["rank_growth"], "decimals": 1},
             {"text": fmt_rank(r["target_progress_pct"], r["rank_target"], "%") + card,
              "value": r["target_progress_pct"], "rank": r["rank_target"], "decimals": 1}]
    if printed is not None:
        for cell, measure, rank in zip(cells, ("value_ytd", growth_measure(r), "target_progress_pct"),
                                       ("rank_in_province", "rank_growth", "rank_target")):
            if cell["value"] is None:
                continue
            cell["figure"] = printed.add(r, measure, cell["value"], fmt(cell["value"]), place)
            if cell["rank"] is not None:
                printed.add(r, rank, cell["rank"], str(cell["rank"]), place)
        if card:
            printed.add(r, "card", r["card"], r["card"], place)
    return cells


def trend_points(rows: list[dict], n_cities: int, notes: dict[str, str] | None = None) -> list[dict]:
    """The points of a province's monthly trend (当月值) from its kpi_city_month rows, in period order.

    A year in which some city reports 1–2月 together has no January of its own: January and
    February are one point labelled 1–2月 (February's year to date), never a partial January.
    A point is complete when every city has a figure in it (January–February: the February year to
    date is complete); otherwise it is drawn hollow with the note naming the cities left out.
    """
    by = {r["period"]: r for r in rows}
    points = []
    for r in rows:
        y, m = int(r["period"][:4]), int(r["period"][5:])
        feb = by.get(f"{y:04d}-02")
        if m == 1 and r["is_combined_jan_feb"] and feb is not None:
            continue  # shown with February, as 1–2月
        if m == 2 and r["is_combined_jan_feb"]:
            value, complete, measure, label = r["value_ytd"], bool(r["is_complete"]), "ytd", f"{y % 100:02d}.1–2月"
        else:
            value, measure, label = r["value_month"], "month", f"{y % 100:02d}.{m:02d}"
            complete = value is not None and (r["cities_reported"] or 0) >= n_cities
        note = None if complete or value is None else (notes or {}).get(r["period"]) or "全省合计不完整"
        points.append({"period": r["period"], "label": label, "value": value, "complete": complete,
                       "measure": measure, "note": note, "row": r})
    return points


def _quarterly_charts(conn, q: Kpis, period: Period, cells: dict,
                      printed: Figures) -> tuple[list[str], str | None]:
    """The city ranking bars, the province's monthly trend and the map of the 14 市州; and the note
    under the trend naming the cities a hollow point leaves out."""
    ytd = period.ytd_label
    tt = q.city_rows("trade_total")
    ch = []
    bars = [{"city_name": r["city_name"], "value": r["value_ytd"]} for r in tt]
    for r in tt:  # a chart's data are printed figures too
        if r["value_ytd"] is not None:
            printed.add(r, "value_ytd", r["value_ytd"], fmt(r["value_ytd"], "亿元"), "图1")
    ch.append(svg_img(charts.ranking_bars(bars, f"{period.year}年{ytd}各市州进出口总额", "亿元"), "各市州进出口总额"))
    tr = data.trend(conn, "trade_total", shift(period.ym, -14), period.ym)
    partial = [t["period"] for t in tr if t["value_month"] is not None and (t["cities_reported"] or 0) < len(q.cities)]
    points = trend_points(tr, len(q.cities), completeness.month_notes(conn, "trade_total", partial))
    for p in points:  # the plotted values are printed figures too
        if p["value"] is not None:
            publish.add_cell(cells, p["row"], 1, ytd=p["measure"] == "ytd", month=p["measure"] == "month")
            printed.add(p["row"], f"value_{p['measure']}", p["value"], fmt(p["value"], "亿元"), "图2")
    title = "全省进出口总额月度走势（当月值）"
    alt = f"{title}，亿元：" + "；".join(
        f"{p['label']} {fmt(p['value'], '亿元')}" + ("" if p["complete"] or p["value"] is None else "*")
        for p in points)
    ch.append(svg_img(charts.trend_lines(points, title, "亿元", "进出口总额（当月）"), alt))
    incomplete = [p for p in points if p["note"]]
    combined = any(p["measure"] == "ytd" for p in points)
    trend_note = "注：部分市州1–2月合并报送，1–2月合为一个点（1–2月累计）。" if combined else ""
    if incomplete:
        trend_note += "空心点（*）为不完整数据：" + "；".join(f"{p['label']}{p['note']}" for p in incomplete) + "。"
    use_target = any(r["target_progress_pct"] is not None for r in tt)
    vals = {r["city_code"]: (r["target_progress_pct"] if use_target else r["yoy_pct"]) for r in tt}
    for r in tt:
        if vals[r["city_code"]] is not None:
            measure = "target_progress_pct" if use_target else "yoy_pct"
            printed.add(r, measure, vals[r["city_code"]], fmt(vals[r["city_code"]]), "图3")
    ch.append(svg_img(maps.choropleth(
        vals, f"各市州进出口总额{'完成年度目标' if use_target else '同比增速'}",
        f"{'完成年度目标' if use_target else '同比'}（%）"), "市州分布图"))
    return ch, trend_note or None


def _quarterly_figures(q: Kpis, ytd: str) -> dict:
    """Every printed figure (total, growth, target progress) by KPI and area: the next version's changes."""
    figures = {}
    order = 0
    for k in _kpis_present(q):
        for c in q.areas:
            r = q.get(k, c["city_code"])
            if not r:
                continue
            for fld, label, unit in (("value_ytd", f"{ytd}", r["unit"]),
                                     ("yoy_pct", "同比", "%"),
                                     ("target_progress_pct", "完成年度目标", "%")):
                order += 1
                figures[f"{k}|{c['city_code']}|{fld}"] = {
                    "order": order, "label": f"{c['city_name']} {r['kpi_name_zh']} {label}",
                    "value": r[fld], "text": fmt(r[fld], unit), "unit": unit}
    return figures


def by_kpi(rows):
    return {r["kpi_code"] for r in rows if r["city_code"] == PROVINCE_CODE}


# --------------------------------------------------------------------------- monthly scheduling
STAGE_ORDER = ["在谈", "签约", "注册", "开工", "投产", "终止"]
SCHEDULING_KPIS = ["signed_projects", "signed_investment"] + data.RATE_KPIS
BASE_COLS = ["市州", "项目编号", "项目名称", "投资方", "当前阶段", "合同投资额（亿元）"]


def marks(p: dict) -> str:
    return ("★" if p["is_major"] else "") + ("◆" if p["is_fortune500"] else "")


def monthly_context(conn, period: Period, allow_incomplete: bool = False, as_of: date | None = None) -> dict:
    rows = data.kpi_table(conn, period.ym)
    in_ledger, led = data.ledger(conn, period.ym)
    if not rows or not in_ledger:
        raise RuntimeError(f"no KPI rows or project ledger for {period.ym}: ingest and build first")
    # the report's province figures (表1 and the summary): refuses unless complete or told to publish anyway
    found = completeness.require(conn, "monthly", period.label, period.ym, allow_incomplete, SCHEDULING_KPIS)
    k = Kpis(rows, data.cities(conn), found)
    as_of = as_of or date.today()
    projects = {"overdue": _overdue(led, period.month_end), "stalled": _stalled(led),
                "changes": _stage_changes(led), "terminated": _terminated(conn, period, led),
                "revisions": _paid_in_revisions(conn, period),
                "not_reported": completeness.not_reported(conn, period.ym, as_of)}
    printed = Figures()
    return {
        "kind": "monthly", "title": f"{period.year}年{period.month}月全省招商引资项目调度情况",
        "period": period, "ytd": period.ytd_label,
        "summary": _monthly_summary(k, in_ledger, projects, period.ytd_label, printed),
        **dict(zip(("doc_tables", "tables"), _monthly_tables(k, projects, period, as_of, printed))),
        "charts": _monthly_charts(k, period, printed), "printed": printed,
        "figures": _monthly_figures(k, projects, period.ytd_label), "cells": k.cells(SCHEDULING_KPIS),
        "incomplete": found.summary() if found.allowed else None, "incomplete_register": found.register(),
        "source_range": (shift(period.ym, -15), period.ym),
    }


def _project_cells(p: dict, extra: list[dict]) -> list[dict]:
    # the first cell also carries the city's code and whether the project is major (表1's counts, 表2)
    return [{"text": p["city_name"], "city_code": p["city_code"], "is_major": bool(p["is_major"])},
            {"text": p["project_id"]}, {"text": marks(p) + p["project_name"]},
            {"text": p["investor"]}, {"text": p["stage"]},
            {"text": fmt(p["contract_100m_cny"], "亿元", 2), "value": p["contract_100m_cny"], "decimals": 2}] + extra


def _overdue(led: list[dict], end) -> list[list[dict]]:
    """表2 逾期项目 (the overdue rules live once, in marts.monthly_scheduling)."""
    overdue = []
    for p in led:
        if p["is_overdue_not_started"]:
            label, since = "签约超6个月未开工", p["signed_date"]
        elif p["is_overdue_not_producing"]:
            label, since = "注册超12个月未投产", p["registered_date"]
        else:
            continue
        months = months_between(since, end)
        overdue.append(_project_cells(p, [{"text": label}, {"text": str(since)},
                                          {"text": str(months), "value": months, "decimals": 0}]))
    return overdue


def _stalled(led: list[dict]) -> list[list[dict]]:
    """表3 资金到位停滞 (the stalled-funds rule lives once, in marts.monthly_scheduling)."""
    stalled = []
    for p in led:
        if p["is_stalled_funds"]:
            unit = "万美元" if p["currency"] == "美元" else "万元"
            share = 100 * p["paid_in_10k"] / p["contract_amount_10k"]
            stalled.append(_project_cells(p, [{"text": f"{fmt(p['paid_in_10k'], '亿元', 0)}{unit}",
                                               "value": p["paid_in_10k"], "decimals": 0},
                                              {"text": fmt(share), "value": share, "decimals": 1}]))
    return stalled


def _stage_changes(led: list[dict]) -> list[list[dict]]:
    """表4 阶段变化 and new in the ledger (a termination is in 表5)."""
    return [_project_cells(p, [{"text": p["previous_stage"] or "—"},
                               {"text": "新入库" if p["is_new_in_ledger"] else ""}])
            for p in led if (p["stage_changed"] and p["stage"] != "终止") or p["is_new_in_ledger"]]


def _terminated(conn, period: Period, led: list[dict]) -> list[list[dict]]:
    """表5 the year's terminated projects still in the month's ledger."""
    term = {t["project_key"]: t for t in data.terminated_this_year(conn, period.year, period.ym)}
    return [_project_cells(p, [{"text": term[p["project_key"]]["previous_stage"] or "—"},
                               {"text": term[p["project_key"]]["terminated_in"]}])
            for p in led if p["project_key"] in term]


# The month's flagged paid-in revisions: rows of the month's ledgers in force whose 累计实际到位资金 is
# below the project's previous ledger row and that intake flagged (audit.row_warnings); the same rows
# as the gate's warning paid_in_flagged_revisions (expectations/suites.py) for the month.
PAID_IN_REVISIONS_SQL = """
select m.city_code, m.city_name, m.project_id, m.project_name, m.currency, m.is_major, m.is_fortune500,
       p.period                                              as previous_period,
       cast(p.paid_in_cumulative_10k as double precision)   as previous_paid_in_10k,
       cast(f.paid_in_cumulative_10k as double precision)   as paid_in_10k,
       s.file_name, f.file_id, f.row_number
from marts.fct_project_month as f
join audit.submissions_in_force as s on s.file_id = f.file_id and s.period = f.period
join marts.fct_project_month as p on p.project_id = f.project_id and p.period = f.previous_period
join marts.monthly_scheduling as m on m.project_id = f.project_id and m.period = f.period
where f.period = %(period)s
  and f.paid_in_cumulative_10k < p.paid_in_cumulative_10k
  and exists (select 1 from audit.row_warnings as w
              where w.file_id = f.file_id and w.row_number = f.row_number
                and w.sheet = %(sheet)s and w.rule = %(rule)s)
order by m.city_code, m.project_id
"""


def _paid_in_revisions(conn, period: Period) -> list[list[dict]]:
    """表6 到位资金更正（核减）: the month's decreases of 累计实际到位资金 accepted as flagged revisions."""
    rows = conn.execute(PAID_IN_REVISIONS_SQL, {"period": period.ym, "sheet": PROJECTS.sheet_name,
                                                "rule": PAID_IN_REVISION}).fetchall()
    return [[{"text": r["city_name"]}, {"text": r["project_id"]}, {"text": marks(r) + r["project_name"]},
             {"text": r["previous_period"]},
             {"text": fmt(r["previous_paid_in_10k"], decimals=2), "value": r["previous_paid_in_10k"], "decimals": 2},
             {"text": fmt(r["paid_in_10k"], decimals=2), "value": r["paid_in_10k"], "decimals": 2},
             {"text": fmt(r["previous_paid_in_10k"] - r["paid_in_10k"], decimals=2),
              "value": r["previous_paid_in_10k"] - r["paid_in_10k"], "decimals": 2},
             {"text": "万美元" if r["currency"] == "美元" else "万元"},
             {"text": f"{r['file_name']}（第{r['row_number']}行）"}]
            for r in rows]


def _monthly_summary(k: Kpis, in_ledger: int, projects: dict, ytd: str, printed: Figures) -> list[str]:
    """The opening paragraphs: signed projects, the province's 四率, the counts of each list, the
    cities not reported."""
    summary = []
    notes = Notes(k)
    sp, si = k.get("signed_projects"), k.get("signed_investment")
    if sp and si:
        summary.append(notes.paragraph(
            f"{ytd}，全省在库项目{in_ledger}个；年内签约项目"
            f"{printed.mark(sp, 'value_ytd', sp['value_ytd'], fmt(sp['value_ytd'], '个') + '个', SUMMARY)}"
            f"{notes.mark(sp)}，{growth_or_reason(sp, printed, SUMMARY)}，合同投资额"
            f"{printed.mark(si, 'value_ytd', si['value_ytd'], fmt(si['value_ytd'], '亿元') + '亿元', SUMMARY)}"
            f"{notes.mark(si)}，{growth_or_reason(si, printed, SUMMARY)}。"))
    prov_rates = [k.get(kpi) for kpi in data.RATE_KPIS if k.get(kpi)]
    if prov_rates:
        summary.append(notes.paragraph("全省“四率”：" + "，".join(
            f"{r['kpi_name_zh']}{printed.mark(r, 'value_ytd', r['value_ytd'], fmt(r['value_ytd']) + '%', SUMMARY)}"
            f"{notes.mark(r)}（{growth_or_reason(r, printed, SUMMARY)}）" for r in prov_rates) + "。"))
    summary.append(phrasing.found_counts("本月", [
        ("逾期项目", len(projects["overdue"])), ("资金到位停滞项目", len(projects["stalled"])),
        ("阶段变化（含新入库）项目", len(projects["changes"])), ("年内终止项目", len(projects["terminated"])),
        ("到位资金更正（核减）项目", len(projects["revisions"]))], "个") + "★为重大项目，◆为三类500强投资项目。")
    late = [r for r in projects["not_reported"] if r["status"] != "combined"]
    if late:
        names = list(dict.fromkeys(r["city_name"] for r in late))
        summary.append(f"截至本报告生成，{cn_list(names)}共{len(names)}个市州本月报送文件未到"
                       "（未报送、被拒收或被退回，逾期天数见表3），请抓紧报送。")
    return summary


SUMMARY = "一、总体情况"


def _kpi_cell(r: dict, notes: dict, k: Kpis, printed: Figures, place: str) -> dict:
    """A KPI's year to date with its rank, as 表1 and the 四率 sheet print it, registered as printed."""
    cell = {"text": fmt_rank(r["value_ytd"], r["rank_in_province"], r["unit"]) + notes.get(k.note(r), ""),
            "value": r["value_ytd"], "rank": r["rank_in_province"], "decimals": DECIMALS.get(r["unit"], 1)}
    if r["value_ytd"] is not None:
        cell["figure"] = printed.add(r, "value_ytd", r["value_ytd"], fmt(r["value_ytd"]), place)
        if r["rank_in_province"] is not None:
            printed.add(r, "rank_in_province", r["rank_in_province"], str(r["rank_in_province"]), place)
    return cell


def _rate_table(k: Kpis, period: Period, printed: Figures) -> dict:
    """四率 with 同比 (an XLSX sheet): signed projects, investment and the 四率 of every area, with ranks and growth."""
    cols = [{"header": "地区"}]
    kpis = [kpi for kpi in SCHEDULING_KPIS if k.get(kpi)]
    notes = table_notes(k, [k.get(kpi) for kpi in kpis])
    for kpi in kpis:
        r = k.get(kpi)
        cols.append({"header": f"{r['kpi_name_zh']}（{r['unit']}）"})
        cols.append({"header": "同比（个百分点）" if r["unit"] == "%" else "同比（%）"})
    body = []
    for c in k.areas:
        cells = [{"text": c["city_name"]}]
        for kpi in kpis:
            r = k.get(kpi, c["city_code"])
            if not r:
                cells += [{"text": "—"}, {"text": "—"}]
                continue
            cells.append(_kpi_cell(r, notes, k, printed, "XLSX 四率"))
            g = growth_key(r)
            cells.append({"text": fmt(g), "value": g, "decimals": 1})
            if g is not None:
                cells[-1]["figure"] = printed.add(r, growth_measure(r), g, fmt(g), "XLSX 四率")
        body.append(cells)
    return {"sheet": "四率", "title": f"{period.year}年{period.ytd_label}各市州项目“四率”", "columns": cols,
            "rows": body, "note": with_table_notes("注：括号内为全省14个市州位次；四率同比为个百分点；“—”表示无数据"
                                                   "或不计算同比。", notes)}


def _not_reported_rows(rows: list[dict]) -> list[list[dict]]:
    """表7: each file not in force for the month, with the deadline and the days overdue."""
    out = []
    for r in rows:
        if r["status"] == "combined":
            overdue = {"text": f"随{r['combined_with_period']}报送"}
        elif r["days_overdue"] is None:
            overdue = {"text": "未到截止日"}
        else:
            overdue = {"text": str(r["days_overdue"]), "value": r["days_overdue"], "decimals": 0}
        out.append([{"text": r["city_name"]}, {"text": r["kind_zh"]}, {"text": r["status_zh"]},
                    {"text": str(r["deadline_date"])}, overdue,
                    {"text": str(r["files_received"]), "value": r["files_received"], "decimals": 0}])
    return out


# The scheduling report's PDF is what a leader reads and acts on: the summary, the per-city table
# and the major (重大) overdue projects by city, at most MAJOR_PER_CITY of each city (the largest
# by 合同投资额). Every list in full goes to the XLSX, one sheet each, with filters: at the
# province's real volume a list runs to thousands of projects, which no one reads on paper.
MAJOR_PER_CITY = 5
_CONTRACT = BASE_COLS.index("合同投资额（亿元）")


def project_list(sheet: str, title: str, rows: list[list[dict]], extra: list[str], note: str | None = None) -> dict:
    """A full project list for the XLSX (a sheet with filters on)."""
    return {"sheet": sheet, "title": title, "rows": rows, "columns": [{"header": h} for h in BASE_COLS + extra],
            "note": note, "filters": True}


def _city_summary_table(k: Kpis, projects: dict, period: Period, printed: Figures) -> dict:
    """表1 各市州项目调度汇总: the year's signed projects and investment, the 四率 (with ranks) and the
    month's counts of overdue, stalled and terminated projects and of files not in force."""
    def per_city(rows):
        return Counter(r[0]["city_code"] for r in rows)

    late = Counter(r["city_code"] for r in projects["not_reported"] if r["status"] != "combined")
    counts = [("逾期项目", per_city(projects["overdue"])), ("资金停滞", per_city(projects["stalled"])),
              ("年内终止", per_city(projects["terminated"])), ("未报送文件", late)]
    kpis = [kpi for kpi in SCHEDULING_KPIS if k.get(kpi)]
    notes = table_notes(k, [k.get(kpi) for kpi in kpis])
    cols = [{"header": "地区", "group": "地区"}]
    for kpi in kpis:
        r = k.get(kpi)
        group = "“四率”（%）" if r["unit"] == "%" else f"{period.ytd_label}签约"
        cols.append({"header": r["kpi_name_zh"] + ("" if r["unit"] == "%" else f"（{r['unit']}）"), "group": group})
    cols += [{"header": name, "group": "本月调度（个）"} for name, _ in counts]
    body = []
    for c in k.areas:
        cells = [{"text": c["city_name"]}]
        for kpi in kpis:
            r = k.get(kpi, c["city_code"])
            cells.append({"text": "—"} if not r else _kpi_cell(r, notes, k, printed, "表1"))
        for _, by_city in counts:
            n = sum(by_city.values()) if c["city_code"] == PROVINCE_CODE else by_city.get(c["city_code"], 0)
            cells.append({"text": str(n), "value": n, "decimals": 0})
        body.append(cells)
    return {"sheet": "调度汇总", "title": f"表1  {period.year}年{period.month}月各市州项目调度汇总", "columns": cols,
            "rows": body, "note": with_table_notes(
                "注：括号内为全省14个市州位次；“—”表示无数据；逾期、资金停滞、年内终止项目清单及“四率”同比见XLSX"
                "同名各表；未报送文件为本月报送文件未在用的个数（1–2月合并报送的1月不计）。", notes)}


def _major_overdue_table(projects: dict) -> dict:
    """表2 重大逾期项目: the major overdue projects by city, the largest MAJOR_PER_CITY of each city."""
    by_city: dict[str, list] = {}
    for row in projects["overdue"]:
        if row[0]["is_major"]:
            by_city.setdefault(row[0]["city_code"], []).append(row)
    rows, cut = [], []
    for code in sorted(by_city):
        lst = sorted(by_city[code], key=lambda r: -(r[_CONTRACT].get("value") or 0))
        rows += lst[:MAJOR_PER_CITY]
        if len(lst) > MAJOR_PER_CITY:
            cut.append(f"{lst[0][0]['text']}{len(lst)}个")
    note = ("按市州排列，各市州内按合同投资额从大到小；逾期规则：签约超过6个月仍处于签约或注册阶段，"
            "注册超过12个月仍未投产。")
    if cut:
        note += (f"重大逾期项目较多的市州只列合同投资额最大的{MAJOR_PER_CITY}个（{cn_list(cut)}），"
                 "全部逾期项目见XLSX“逾期项目”表。")
    # the investor is left to the XLSX: a row of the printed table stays on one or two lines
    keep = [i for i, h in enumerate(BASE_COLS) if h != "投资方"]
    rows = [[r[i] for i in keep] + r[len(BASE_COLS):] for r in rows]
    return {"sheet": "重大逾期项目", "title": "表2  重大逾期项目（按市州）", "rows": rows,
            "columns": [{"header": h} for h in [BASE_COLS[i] for i in keep] + ["逾期类型", "起算日期", "已历月数"]],
            "note": note}


def _not_reported_table(projects: dict, period: Period, as_of: date) -> dict:
    return {"sheet": "未报送市州", "title": f"表3  {period.year}年{period.month}月未报送市州",
            "rows": _not_reported_rows(projects["not_reported"]),
            "columns": [{"header": h}
                        for h in ("市州", "报送类型", "报送状态", "报送截止日", "逾期天数", "收到文件数")],
            "note": f"据报送情况表（marts.submission_status）：本月报送文件未在用的市州（未报送、被拒收、被退回；"
                    f"1–2月合并报送的1月随2月报送）；逾期天数截至{as_of.isoformat()}。"}


def _monthly_tables(k: Kpis, projects: dict, period: Period, as_of: date,
                    printed: Figures) -> tuple[list[dict], list[dict]]:
    """(the document's tables 表1..3, the XLSX's sheets: those, then every list in full)."""
    document = [_city_summary_table(k, projects, period, printed), _major_overdue_table(projects),
                _not_reported_table(projects, period, as_of)]
    lists = [
        _rate_table(k, period, printed),
        project_list("逾期项目", "逾期项目清单", projects["overdue"], ["逾期类型", "起算日期", "已历月数"],
                     "签约超过6个月仍处于签约或注册阶段；注册超过12个月仍未投产（终止项目除外）。"),
        project_list("资金停滞", "资金到位停滞项目清单", projects["stalled"], ["累计实际到位资金", "资金到位率（%）"],
                     f"累计实际到位资金与{shift(period.ym, -3)}台账相同且未足额到位的在建项目。"),
        project_list("阶段变化", "本月阶段变化及新入库项目", projects["changes"], ["上月阶段", "备注"]),
        project_list("终止项目", f"{period.year}年终止项目", projects["terminated"], ["终止前阶段", "终止月份"]),
        {"sheet": "到位资金更正", "title": "到位资金更正（核减）项目清单", "rows": projects["revisions"],
         "filters": True,
         "columns": [{"header": h} for h in ("市州", "项目编号", "项目名称", "上期台账", "上期累计实际到位资金",
                                             "本月累计实际到位资金", "核减额", "单位", "报送文件")],
         "note": "本月台账累计实际到位资金低于该项目上期台账、报送时已按数据修订接收并标记的项目"
                 "（数据质量检查列为警告，不影响发布）；人民币项目单位为万元，美元项目为万美元。"},
    ]
    return document, document + lists


def _monthly_charts(k: Kpis, period: Period, printed: Figures) -> list[str]:
    """The cities' 履约率 bars and the map of their 开工率 (their data registered as printed)."""
    for kpi, place in (("performance_rate", "图1"), ("start_rate", "图2")):
        for r in k.city_rows(kpi):
            if r["value_ytd"] is not None:
                printed.add(r, "value_ytd", r["value_ytd"], fmt(r["value_ytd"]), place)
    bars = [{"city_name": c["city_name"], "value": (k.get("performance_rate", c["city_code"]) or {}).get("value_ytd")}
            for c in k.cities]
    ch = [svg_img(charts.ranking_bars(bars, f"{period.year}年{period.ytd_label}各市州履约率", "%"), "履约率")]
    vals = {c["city_code"]: (k.get("start_rate", c["city_code"]) or {}).get("value_ytd") for c in k.cities}
    ch.append(svg_img(maps.choropleth(vals, "各市州开工率", "开工率（%）"), "开工率分布"))
    return ch


def _monthly_figures(k: Kpis, projects: dict, ytd: str) -> dict:
    """Every printed KPI of every area and the province's project counts: the next version's changes."""
    figures, order = {}, 0
    for c in k.areas:
        for kpi in SCHEDULING_KPIS:
            r = k.get(kpi, c["city_code"])
            if r:
                order += 1
                figures[f"{kpi}|{c['city_code']}"] = {
                    "order": order, "label": f"{c['city_name']} {r['kpi_name_zh']} {ytd}",
                    "value": r["value_ytd"], "text": fmt(r["value_ytd"], r["unit"]), "unit": r["unit"]}
    not_in = [r for r in projects["not_reported"] if r["status"] != "combined"]
    for name, lst in (("逾期项目数", projects["overdue"]), ("资金停滞项目数", projects["stalled"]),
                      ("终止项目数", projects["terminated"]), ("到位资金更正项目数", projects["revisions"]),
                      ("未报送文件数", not_in)):
        order += 1
        figures[name] = {"order": order, "label": f"全省 {name}", "value": float(len(lst)), "text": str(len(lst)),
                         "unit": "个"}
    return figures


# --------------------------------------------------------------------------- publishing
def quality_context(settings, out_dir: Path, run_id: str) -> dict:
    """The passing gate run behind a bulletin and links to its Data Docs, for 数据来源."""
    index = (settings.data_docs_dir / "index.html").resolve()
    # relative, and only in the HTML (a document for officials carries no path of the server)
    return {"run_id": run_id, "data_docs_href": Path(os.path.relpath(index, out_dir.resolve())).as_posix()}


def render(settings, period_text: str, out_dir: Path | None = None, allow_incomplete: bool = False) -> dict:
    """Render one bulletin; returns {'version', 'paths', 'reused', 'changes', 'corrections', 'incomplete',
    'data_version', 'timings', 'quality_run_id'}.

    Refuses (expectations.store.GateNotPassed) unless the latest quality gate run on the
    current data version (every submission in force) passed: nothing is published over a
    failed blocking check, or over data the gate has not seen (:func:`reports.publish.publish`).
    Refuses (completeness.IncompletePeriod, naming the cities) when a province total of the period
    would leave cities out, unless ``allow_incomplete``: then each such figure carries a note.
    Both refusals come before any file is written.
    """
    period = parse_period(period_text)
    out_dir = Path(out_dir) if out_dir else settings.output_dir / "bulletins"
    out_dir.mkdir(parents=True, exist_ok=True)
    with data.connect(settings) as conn:
        return publish.publish(conn, lambda c: draft(c, settings, period, out_dir, allow_incomplete))


def draft(conn, settings, period: Period, out_dir: Path, allow_incomplete: bool = False) -> publish.Draft:
    ctx = (quarterly_context(conn, period, allow_incomplete) if period.kind == "quarterly"
           else monthly_context(conn, period, allow_incomplete))

    stem = ("bulletin_" if period.kind == "quarterly" else "scheduling_") + period.label
    printed = ctx["printed"]

    def write(edition: publish.Edition):
        ctx.update(**edition.stamp(), quality=quality_context(settings, out_dir, edition.quality_run_id),
                   house=publish.house(settings, period.kind, period),
                   correction_table=publish.corrections_table(edition.corrections, edition.version),
                   trace_dir=trace_figures.folder_name(stem, edition.version),
                   doc_key=publish.version_key(period.kind, period.label, edition.version))
        yield "html", templating.render(f"{period.kind}.html.j2", **ctx, medium="html")
        printed = templating.render(f"{period.kind}.html.j2", **ctx, medium="print")
        yield "pdf", templating.pdf_in_background(printed)  # written once ready, after the rest
        yield "docx", lambda path: docx_writer.write(path, printed)
        yield "xlsx", lambda path: xlsx.write(path, ctx)

    def trace(edition: publish.Edition) -> dict:
        explained = trace_figures.explain_all(conn, settings, printed)
        trace_figures.write_pages(out_dir / trace_figures.folder_name(stem, edition.version),
                                  f"{ctx['title']}（第{edition.version}版）", f"{stem}_v{edition.version}.html",
                                  publish.version_key(period.kind, period.label, edition.version), printed, explained)
        return explained

    return publish.Draft(
        kind=period.kind, period=period.label, out_dir=out_dir, stem=stem,
        files=("html", "pdf", "docx", "xlsx"), sources=data.sources(conn, *ctx["source_range"]),
        figures=ctx["figures"], diff=publish.diff, write=write, cells=ctx["cells"],
        incomplete=ctx["incomplete_register"], printed=printed, trace=trace)
