"""Build, render and register the bulletins: quarterly 通报 and monthly 调度 (HTML, PDF, XLSX)."""

from __future__ import annotations

import base64
import os
import time
from datetime import date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bulletin import charts, data, maps, versions, xlsx
from bulletin.data import PROVINCE

TEMPLATES = Path(__file__).parent / "templates"
CN_NUM = "〇一二三四五六七八九"
DECIMALS = {"亿元": 1, "亿美元": 1, "%": 1, "个": 0, "家": 0, "万元/亩": 2}


# --------------------------------------------------------------------------- formatting
def fmt(v, unit: str = "%", decimals: int | None = None) -> str:
    if v is None:
        return "—"
    d = DECIMALS.get(unit, 1) if decimals is None else decimals
    return f"{v:.{d}f}"


def fmt_rank(v, rank, unit) -> str:
    return fmt(v, unit) + (f"（{rank}）" if v is not None and rank else "")


def growth_phrase(r: dict) -> str:
    """同比增长2.8% / 同比下降1.2% / 同比提高1.5个百分点 (ratios in 个百分点)."""
    if r["unit"] == "%":
        pp = r["yoy_pp"]
        if pp is None:
            return ""
        return f"同比{'提高' if pp >= 0 else '下降'}{fmt(abs(pp))}个百分点"
    y = r["yoy_pct"]
    if y is None:
        return ""
    return f"同比{'增长' if y >= 0 else '下降'}{fmt(abs(y))}%"


def progress_phrase(r: dict) -> str:
    if r["target_progress_pct"] is None:
        return ""
    if r["unit"] == "%":  # a rate has a target level, not a 序时进度
        return f"年度目标{fmt(r['annual_target'])}%"
    gap = r["target_progress_pct"] - r["time_progress_pct"]
    word = "超" if gap >= 0 else "欠"
    return f"完成年度目标的{fmt(r['target_progress_pct'])}%，{word}序时进度{fmt(abs(gap))}个百分点"


def growth_key(r: dict):
    return r["yoy_pp"] if r["unit"] == "%" else r["yoy_pct"]


def vl(r: dict, u: str) -> str:
    return r["city_name"] + "（" + fmt(r["value_ytd"], u) + u + "）"


def gl(r: dict) -> str:
    return r["city_name"] + "（" + growth_phrase(r).replace("同比", "") + "）"


def cn_list(items: list[str]) -> str:
    return "、".join(items)


def svg_img(svg: str, alt: str) -> str:
    b64 = base64.b64encode(svg.encode("utf-8")).decode()
    return f'<img class="chart" alt="{alt}" src="data:image/svg+xml;base64,{b64}">'


# --------------------------------------------------------------------------- quarterly
def quarterly_context(conn, period: data.Period) -> dict:
    rows = data.quarter_table(conn, period.ym)
    if not rows:
        raise RuntimeError(f"marts.quarterly_bulletin has no rows for {period.ym}: ingest and build first")
    by = {(r["kpi_code"], r["city_code"]): r for r in rows}
    city_list = data.cities(conn)
    ytd = period.ytd_label
    names = {r["kpi_code"]: r["kpi_name_zh"] for r in rows}
    units = {r["kpi_code"]: r["unit"] for r in rows}
    kpis_present = [k for k in dict.fromkeys(r["kpi_code"] for r in rows)]

    def prov(k):
        return by.get((k, PROVINCE))

    def city_rows(k):
        return [by[(k, c["city_code"])] for c in city_list if (k, c["city_code"]) in by]

    # 一、总体情况
    def sentence(k, lead=False):
        r = prov(k)
        if not r or r["value_ytd"] is None:
            return None
        head = f"{ytd}，全省" if lead else ""
        if r["unit"] == "%":
            s = f"{head}{r['kpi_name_zh']}{fmt(r['value_ytd'])}%"
        else:
            s = f"{head}{r['kpi_name_zh']}{fmt(r['value_ytd'], r['unit'])}{r['unit']}"
        parts = [s] + [p for p in (growth_phrase(r), progress_phrase(r)) if p]
        return "，".join(parts)

    overview = []
    for group in (["trade_total", "exports", "imports", "trade_enterprises", "services_trade"],
                  ["signed_projects", "signed_investment", "major_projects_signed", "fortune500_projects"],
                  ["funds_total", "funds_domestic", "fdi_actual"],
                  data.RATE_KPIS):
        ss = [s for i, k in enumerate(g for g in group if g in by_kpi(rows)) if (s := sentence(k, lead=(i == 0)))]
        if ss:
            overview.append("；".join(ss) + "。")

    # 二、各市州情况
    city_sections = []
    for k in data.MAIN_KPIS:
        rs = [r for r in city_rows(k) if r["value_ytd"] is not None]
        if not rs:
            continue
        u = units[k]
        by_val = sorted(rs, key=lambda r: -r["value_ytd"])
        lines = [
            f"总量居前三位的是{cn_list([vl(r, u) for r in by_val[:3]])}，"
            f"居后三位的是{cn_list([vl(r, u) for r in by_val[-3:][::-1]])}"]
        gs = sorted([r for r in rs if growth_key(r) is not None], key=lambda r: -growth_key(r))
        if gs:
            lines.append(f"增速居前三位的是{cn_list([gl(r) for r in gs[:3]])}，"
                         f"居后三位的是{cn_list([gl(r) for r in gs[-3:][::-1]])}")
        city_sections.append({"name": names[k], "unit": u, "text": "；".join(lines) + "。"})

    # 三、主要特点
    features = []
    tt = city_rows("trade_total")
    up = [r for r in tt if (r["yoy_pct"] or 0) > 0]
    if tt and prov("trade_total"):
        features.append(f"外贸增长面。{len(tt)}个市州中有{len(up)}个市州进出口总额同比增长"
                        + (f"，其中{cn_list([r['city_name'] for r in sorted(up, key=lambda r: -r['yoy_pct'])[:3]])}增速居前" if up else "")
                        + "。")
    pe, pi = prov("exports"), prov("imports")
    if pe and pi and pe["yoy_pct"] is not None and pi["yoy_pct"] is not None:
        d = pe["yoy_pct"] - pi["yoy_pct"]
        features.append(f"进出口结构。全省出口{growth_phrase(pe)}，进口{growth_phrase(pi)}，出口增速"
                        f"{'高于' if d >= 0 else '低于'}进口{fmt(abs(d))}个百分点。")
    ahead = [r for r in tt if r["target_progress_pct"] is not None
             and r["target_progress_pct"] >= r["time_progress_pct"]]
    if tt and any(r["target_progress_pct"] is not None for r in tt):
        features.append(f"目标进度。进出口总额有{len(ahead)}个市州达到或超过序时进度"
                        + (f"（{cn_list([r['city_name'] for r in ahead])}）" if ahead else "") + "。")
    sp, mp, fp = prov("signed_projects"), prov("major_projects_signed"), prov("fortune500_projects")
    if sp and mp and sp["value_ytd"]:
        features.append(f"招商质量。全省签约项目{fmt(sp['value_ytd'], '个')}个，其中重大项目{fmt(mp['value_ytd'], '个')}个，"
                        f"占{fmt(100 * (mp['value_ytd'] or 0) / sp['value_ytd'])}%"
                        + (f"；三类500强项目{fmt(fp['value_ytd'], '个')}个" if fp else "") + "。")
    pf = prov("fdi_actual")
    if pf and pf["value_ytd"] is not None:
        features.append(f"利用外资。全省实际使用外资{fmt(pf['value_ytd'], '亿美元')}亿美元，{growth_phrase(pf) or '无上年同期数'}。")

    # 四、存在问题
    problems = []
    for k in kpis_present:
        if units[k] == "%":
            continue
        behind = [r for r in city_rows(k) if r["target_progress_pct"] is not None
                  and r["time_progress_pct"] - r["target_progress_pct"] > 10]
        if behind:
            behind.sort(key=lambda r: r["target_progress_pct"] - r["time_progress_pct"])
            problems.append(f"{names[k]}：{cn_list([r['city_name'] for r in behind])}欠序时进度超过10个百分点"
                            f"（分别欠{cn_list([fmt(r['time_progress_pct'] - r['target_progress_pct']) for r in behind])}个百分点）。")
    neg = [prov(k) for k in kpis_present if prov(k) and growth_key(prov(k)) is not None and growth_key(prov(k)) < 0]
    if neg:
        problems.append("部分指标同比下降：" + "；".join(f"全省{r['kpi_name_zh']}{growth_phrase(r)}" for r in neg) + "。")
    down = [r for r in tt if r["yoy_pct"] is not None and r["yoy_pct"] < 0]
    if down:
        problems.append(f"{len(down)}个市州进出口总额同比下降：" + cn_list(
            [gl(r) for r in sorted(down, key=lambda r: r["yoy_pct"])]) + "。")
    if not problems:
        problems.append("各项指标未发现欠序时进度超过10个百分点或同比下降的情况。")

    # 附表
    tables = []
    for gi, (gname, codes) in enumerate(data.GROUPS, start=1):
        codes = [k for k in codes if prov(k)]
        cols = []
        for k in codes:
            u = units[k]
            cols += [{"group": f"{names[k]}（{u}）", "header": f"{ytd}累计（{u}）"},
                     {"group": f"{names[k]}（{u}）", "header": "同比（个百分点）" if u == "%" else "同比（%）"},
                     {"group": f"{names[k]}（{u}）", "header": "完成年度目标（%）"}]
        body = []
        for c in [{"city_code": PROVINCE, "city_name": "全省"}] + city_list:
            cells = [{"text": c["city_name"]}]
            for k in codes:
                r = by.get((k, c["city_code"]))
                if not r:
                    cells += [{"text": "—"}] * 3
                    continue
                u = r["unit"]
                cells.append({"text": fmt_rank(r["value_ytd"], r["rank_in_province"], u), "value": r["value_ytd"],
                              "rank": r["rank_in_province"], "decimals": DECIMALS.get(u, 1)})
                gv = growth_key(r)
                cells.append({"text": fmt_rank(gv, r["rank_growth"], "%"), "value": gv, "rank": r["rank_growth"],
                              "decimals": 1})
                card = f" {r['card']}" if r.get("card") and r["target_progress_pct"] is not None else ""
                cells.append({"text": fmt_rank(r["target_progress_pct"], r["rank_target"], "%") + card,
                              "value": r["target_progress_pct"], "rank": r["rank_target"], "decimals": 1})
            body.append(cells)
        tables.append({"sheet": f"附表{gi}", "title": f"附表{gi}  {period.year}年{ytd}各市州{gname}主要指标",
                       "columns": [{"header": "地区", "group": "地区"}] + cols, "rows": body,
                       "note": f"注：括号内为全省14个市州位次；序时进度{fmt(rows[0]['time_progress_pct'])}%；“—”表示无年度目标或无上年同期数；"
                               "红/黄/绿为通报等级：达到序时进度为绿，落后不足10个百分点为黄，落后10个百分点及以上为红（比率类指标以年度目标为准）。"})

    # charts
    ch = []
    bars = [{"city_name": r["city_name"], "value": r["value_ytd"]} for r in tt]
    ch.append(svg_img(charts.ranking_bars(bars, f"{period.year}年{ytd}各市州进出口总额", "亿元"), "各市州进出口总额"))
    tr = data.trend(conn, "trade_total", data.shift(period.ym, -14), period.ym)
    ch.append(svg_img(charts.trend_lines([{"period": t["period"], "value": t["value_month"]} for t in tr],
                                         "全省进出口总额月度走势（当月值）", "亿元", "进出口总额（当月）"), "月度走势"))
    use_target = any(r["target_progress_pct"] is not None for r in tt)
    vals = {r["city_code"]: (r["target_progress_pct"] if use_target else r["yoy_pct"]) for r in tt}
    ch.append(svg_img(maps.choropleth(
        vals, f"各市州进出口总额{'完成年度目标' if use_target else '同比增速'}",
        f"{'完成年度目标' if use_target else '同比'}（%）"), "市州分布图"))

    figures = {}
    order = 0
    for k in kpis_present:
        for c in [{"city_code": PROVINCE, "city_name": "全省"}] + city_list:
            r = by.get((k, c["city_code"]))
            if not r:
                continue
            for field, label, unit in (("value_ytd", f"{ytd}", r["unit"]),
                                       ("yoy_pct", "同比", "%"),
                                       ("target_progress_pct", "完成年度目标", "%")):
                order += 1
                figures[f"{k}|{c['city_code']}|{field}"] = {
                    "order": order, "label": f"{c['city_name']} {r['kpi_name_zh']} {label}",
                    "value": r[field], "text": fmt(r[field], unit), "unit": unit}
    qn = CN_NUM[period.quarter]
    return {
        "kind": "quarterly",
        "title": f"关于{period.year}年{qn}季度全省开放型经济主要指标完成情况的通报",
        "period": period, "ytd": ytd, "time_progress": fmt(rows[0]["time_progress_pct"]),
        "overview": overview, "city_sections": city_sections, "features": features, "problems": problems,
        "tables": tables, "charts": ch, "figures": figures,
        "source_range": (f"{period.year - 1}-01", period.ym),
    }


def by_kpi(rows):
    return {r["kpi_code"] for r in rows if r["city_code"] == PROVINCE}


# --------------------------------------------------------------------------- monthly scheduling
STAGE_ORDER = ["在谈", "签约", "注册", "开工", "投产", "终止"]


def marks(p: dict) -> str:
    return ("★" if p["is_major"] else "") + ("◆" if p["is_fortune500"] else "")


def months_between(d: date, end: date) -> int:
    return (end.year - d.year) * 12 + end.month - d.month - (1 if end.day < d.day else 0)


def monthly_context(conn, period: data.Period) -> dict:
    rows = data.kpi_table(conn, period.ym)
    led = data.ledger(conn, period.ym)
    if not rows or not led:
        raise RuntimeError(f"no KPI rows or project ledger for {period.ym}: ingest and build first")
    by = {(r["kpi_code"], r["city_code"]): r for r in rows}
    city_list = data.cities(conn)
    end = period.month_end
    ytd = period.ytd_label

    def proj_cells(p, extra):
        return [{"text": p["city_name"]}, {"text": p["project_id"]}, {"text": marks(p) + p["project_name"]},
                {"text": p["investor"]}, {"text": p["stage"]},
                {"text": fmt(p["contract_100m_cny"], "亿元", 2), "value": p["contract_100m_cny"], "decimals": 2}] + extra

    base_cols = ["市州", "项目编号", "项目名称", "投资方", "当前阶段", "合同投资额（亿元）"]

    # The overdue and stalled-funds rules live once, in marts.monthly_scheduling.
    overdue = []
    for p in led:
        if p["is_overdue_not_started"]:
            label, since = "签约超6个月未开工", p["signed_date"]
        elif p["is_overdue_not_producing"]:
            label, since = "注册超12个月未投产", p["registered_date"]
        else:
            continue
        months = months_between(since, end)
        overdue.append(proj_cells(p, [{"text": label}, {"text": str(since)},
                                      {"text": str(months), "value": months, "decimals": 0}]))
    stalled = []
    for p in led:
        if p["is_stalled_funds"]:
            unit = "万美元" if p["currency"] == "美元" else "万元"
            stalled.append(proj_cells(p, [{"text": f"{fmt(p['paid_in_10k'], '亿元', 0)}{unit}",
                                           "value": p["paid_in_10k"], "decimals": 0},
                                          {"text": fmt(100 * p["paid_in_10k"] / p["contract_amount_10k"]),
                                           "value": 100 * p["paid_in_10k"] / p["contract_amount_10k"], "decimals": 1}]))
    changes = [proj_cells(p, [{"text": p["previous_stage"] or "—"}, {"text": "新入库" if p["is_new_in_ledger"] else ""}])
               for p in led if (p["stage_changed"] and p["stage"] != "终止") or p["is_new_in_ledger"]]
    term_keys = {t["project_key"]: t for t in data.terminated_this_year(conn, period.year, period.ym)}
    terminated = [proj_cells(p, [{"text": term_keys[p["project_key"]]["previous_stage"] or "—"},
                                 {"text": term_keys[p["project_key"]]["terminated_in"]}])
                  for p in led if p["project_key"] in term_keys]

    rate_cols = [{"header": "地区"}]
    for k in ["signed_projects", "signed_investment"] + data.RATE_KPIS:
        r = by.get((k, PROVINCE))
        if r:
            rate_cols.append({"header": f"{r['kpi_name_zh']}（{r['unit']}）"})
            rate_cols.append({"header": "同比（个百分点）" if r["unit"] == "%" else "同比（%）"})
    city_rows_ = []
    overdue_n = {}
    for o in overdue:
        overdue_n[o[0]["text"]] = overdue_n.get(o[0]["text"], 0) + 1
    for c in [{"city_code": PROVINCE, "city_name": "全省"}] + city_list:
        cells = [{"text": c["city_name"]}]
        for k in ["signed_projects", "signed_investment"] + data.RATE_KPIS:
            r = by.get((k, c["city_code"]))
            if not by.get((k, PROVINCE)):
                continue
            if not r:
                cells += [{"text": "—"}, {"text": "—"}]
                continue
            cells.append({"text": fmt_rank(r["value_ytd"], r["rank_in_province"], r["unit"]), "value": r["value_ytd"],
                          "rank": r["rank_in_province"], "decimals": DECIMALS.get(r["unit"], 1)})
            g = growth_key(r)
            cells.append({"text": fmt(g), "value": g, "decimals": 1})
        city_rows_.append(cells)

    prov_rates = [by[(k, PROVINCE)] for k in data.RATE_KPIS if (k, PROVINCE) in by]
    summary = []
    sp, si = by.get(("signed_projects", PROVINCE)), by.get(("signed_investment", PROVINCE))
    if sp and si:
        summary.append(f"{ytd}，全省在库项目{len(led)}个；年内签约项目{fmt(sp['value_ytd'], '个')}个，{growth_phrase(sp)}，"
                       f"合同投资额{fmt(si['value_ytd'], '亿元')}亿元，{growth_phrase(si)}。")
    if prov_rates:
        summary.append("全省“四率”：" + "，".join(f"{r['kpi_name_zh']}{fmt(r['value_ytd'])}%（{growth_phrase(r)}）"
                                            for r in prov_rates) + "。")
    summary.append(f"本月发现逾期项目{len(overdue)}个、资金到位停滞项目{len(stalled)}个，"
                   f"阶段变化（含新入库）项目{len(changes)}个，年内终止项目{len(terminated)}个。"
                   "★为重大项目，◆为三类500强投资项目。")
    tables = [
        {"sheet": "四率", "title": f"表1  {period.year}年{ytd}各市州项目“四率”", "columns": rate_cols, "rows": city_rows_,
         "note": "注：括号内为全省14个市州位次；四率同比为个百分点。"},
        {"sheet": "逾期项目", "title": "表2  逾期项目清单", "rows": overdue,
         "columns": [{"header": h} for h in base_cols + ["逾期类型", "起算日期", "已历月数"]],
         "note": "签约超过6个月仍处于签约或注册阶段；注册超过12个月仍未投产（终止项目除外）。"},
        {"sheet": "资金停滞", "title": "表3  资金到位停滞项目清单", "rows": stalled,
         "columns": [{"header": h} for h in base_cols + ["累计实际到位资金", "资金到位率（%）"]],
         "note": f"累计实际到位资金与{data.shift(period.ym, -3)}台账相同且未足额到位的在建项目。"},
        {"sheet": "阶段变化", "title": "表4  本月阶段变化及新入库项目", "rows": changes,
         "columns": [{"header": h} for h in base_cols + ["上月阶段", "备注"]]},
        {"sheet": "终止项目", "title": f"表5  {period.year}年终止项目", "rows": terminated,
         "columns": [{"header": h} for h in base_cols + ["终止前阶段", "终止月份"]]},
    ]
    bars = [{"city_name": c["city_name"], "value": (by.get(("performance_rate", c["city_code"])) or {}).get("value_ytd")}
            for c in city_list]
    ch = [svg_img(charts.ranking_bars(bars, f"{period.year}年{ytd}各市州履约率", "%"), "履约率")]
    vals = {c["city_code"]: (by.get(("start_rate", c["city_code"])) or {}).get("value_ytd") for c in city_list}
    ch.append(svg_img(maps.choropleth(vals, "各市州开工率", "开工率（%）"), "开工率分布"))

    figures, order = {}, 0
    for c in [{"city_code": PROVINCE, "city_name": "全省"}] + city_list:
        for k in ["signed_projects", "signed_investment"] + data.RATE_KPIS:
            r = by.get((k, c["city_code"]))
            if r:
                order += 1
                figures[f"{k}|{c['city_code']}"] = {"order": order, "label": f"{c['city_name']} {r['kpi_name_zh']} {ytd}",
                                                   "value": r["value_ytd"], "text": fmt(r["value_ytd"], r["unit"]),
                                                   "unit": r["unit"]}
    for name, lst in (("逾期项目数", overdue), ("资金停滞项目数", stalled), ("终止项目数", terminated)):
        order += 1
        figures[name] = {"order": order, "label": f"全省 {name}", "value": float(len(lst)), "text": str(len(lst)), "unit": "个"}
    return {
        "kind": "monthly", "title": f"{period.year}年{period.month}月全省招商引资项目调度情况",
        "period": period, "ytd": ytd, "summary": summary, "tables": tables, "charts": ch, "figures": figures,
        "source_range": (data.shift(period.ym, -15), period.ym),
    }


# --------------------------------------------------------------------------- orchestration
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]))
    return env


def quality_context(settings, out_dir: Path, run_id: str) -> dict:
    """The passing gate run behind a bulletin and links to its Data Docs, for 数据来源."""
    index = (settings.data_docs_dir / "index.html").resolve()
    return {"run_id": run_id, "data_docs_path": str(index), "data_docs_uri": index.as_uri(),
            "data_docs_href": Path(os.path.relpath(index, out_dir.resolve())).as_posix()}


def render(settings, period_text: str, out_dir: Path | None = None) -> dict:
    """Render one bulletin; returns {'version', 'paths', 'reused', 'changes', 'data_version', 'timings',
    'quality_run_id'}.

    Refuses (expectations.store.GateNotPassed) unless the latest quality gate run on the
    current data version (every submission in force) passed: nothing is published over a
    failed blocking check, or over data the gate has not seen.
    """
    from expectations.store import require_passed
    from openecon.data_version import current

    period = data.parse_period(period_text)
    out_dir = Path(out_dir) if out_dir else settings.output_dir / "bulletins"
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    timings = {}
    with data.connect(settings) as conn:
        versions.ensure_table(conn)
        quality_run_id = require_passed(conn, current(conn))
        ctx = quarterly_context(conn, period) if period.kind == "quarterly" else monthly_context(conn, period)
        srcs = data.sources(conn, *ctx["source_range"])
        dv = versions.data_version(srcs)
        prev = versions.latest(conn, period.kind, period.label)
        stem = ("bulletin_" if period.kind == "quarterly" else "scheduling_") + period.label
        timings["data"] = round(time.monotonic() - t0, 2)
        if prev and prev["data_hash"] == dv["hash"]:
            version, changes = prev["version"], prev["changes"]
            paths = [out_dir / f"{stem}_v{version}.{ext}" for ext in ("html", "pdf", "xlsx")]
            if all(p.exists() for p in paths):
                return {"version": version, "paths": [str(p) for p in paths], "reused": True,
                        "changes": changes, "data_version": dv, "timings": timings,
                        "quality_run_id": prev["quality_run_id"]}
        else:
            version = (prev["version"] + 1) if prev else 1
            changes = versions.diff(prev["figures"], ctx["figures"]) if prev else []
        ctx.update(version=version, changes=changes, data_version=dv, sources=srcs,
                   previous_version=(version - 1 if version > 1 else None),
                   issued=date.today(), generated_at=datetime.now().strftime("%Y-%m-%d %H:%M"),
                   quality=quality_context(settings, out_dir, quality_run_id))
        base = out_dir / f"{stem}_v{version}"
        html = _env().get_template(f"{period.kind}.html.j2").render(**ctx, css=(TEMPLATES / "style.css").read_text("utf-8"))
        base.with_suffix(".html").write_text(html, encoding="utf-8")
        timings["html"] = round(time.monotonic() - t0, 2)
        from weasyprint import HTML

        # resolve relative links (the Data Docs) from where the files are written; the CSS is inlined
        HTML(string=html, base_url=str(out_dir.resolve()) + "/").write_pdf(str(base.with_suffix(".pdf")))
        timings["pdf"] = round(time.monotonic() - t0, 2)
        xlsx.write(base.with_suffix(".xlsx"), ctx)
        timings["xlsx"] = round(time.monotonic() - t0, 2)
        paths = [str(base.with_suffix(s)) for s in (".html", ".pdf", ".xlsx")]
        versions.record(conn, period.kind, period.label, version, dv, paths, changes,
                        {k: {kk: vv for kk, vv in v.items()} for k, v in ctx["figures"].items()},
                        quality_run_id=quality_run_id)
    return {"version": version, "paths": paths, "reused": False, "changes": changes, "data_version": dv,
            "timings": timings, "quality_run_id": quality_run_id}
