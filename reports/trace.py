"""溯源: where a figure of ``marts.kpi_city_month`` comes from, down to the cells of the files.

A city's figure is computed from its contributions (``marts.kpi_contributions``: one row per
contributing file or seed and part, with its partial); the province's figure from its cities'.
:func:`trace` gathers the definition, the figure, the cities (for the province) and the files
with their receipts; :func:`text` prints it in Chinese and English; :func:`write_rows` writes
every contributing source row (file, sheet, row, column, value, what it adds), which reproduce
the figure:

* a flow or a stock: the rows' contributions sum to it (rounded as the mart rounds: 6 decimals
  for 亿元 / 亿美元 amounts);
* a ratio: the rows of the numerator and of the denominator (column 部分 part) sum to them;
  the figure is factor × numerator / denominator;
* a distinct count (有进出口实绩企业数): one row per key counted, its first row in the year.

Every KPI of ``kpi_definitions`` is traced (TRACED).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from core import reference
from core.constants import PROVINCE_CODE
from ingestion.contract import PARKS, PROJECTS, SERVICES, TRADE

TRACED = ("signed_projects", "signed_investment", "major_projects_signed", "fortune500_projects",
          "funds_domestic", "fdi_actual", "funds_total", "performance_rate", "start_rate", "production_rate",
          "funds_rate", "trade_total", "exports", "imports", "trade_enterprises", "park_enterprises",
          "park_above_scale", "factory_occupancy", "tax_per_mu", "services_trade", "trade_dependence")
TRADE_AMOUNTS = ("trade_total", "exports", "imports")
# the column of a trade file a traded amount is read from, as the clerk's template names it
AMOUNT = TRADE.column("amount_cny").header
DIRECTION = TRADE.column("direction").header
ENTERPRISE = TRADE.column("enterprise_code").header
YUAN_PER_100M = Decimal(100_000_000)
GDP_SEED = "city_gdp.csv"
PART_ZH = {"value": "部分和", "numerator": "分子", "denominator": "分母", "distinct": "去重计数"}
SHEETS = {s.sheet_name: s for s in (PROJECTS, PARKS, SERVICES)}

# How each KPI is computed from its parts (zh, en): the rule the formula's numbers fill in.
RULES = {
    "trade_total": ("Σ 各月外贸明细{amount} ÷ 10⁸", "sum over the months' trade files of the yuan amount / 1e8"),
    "exports": ("Σ 各月外贸明细（出口）{amount} ÷ 10⁸", "sum over the months' trade files of exports in yuan / 1e8"),
    "imports": ("Σ 各月外贸明细（进口）{amount} ÷ 10⁸", "sum over the months' trade files of imports in yuan / 1e8"),
    "trade_enterprises": ("Σ 各月外贸明细中当年首次出现的企业代码个数（去重，不跨月相加）",
                          "sum over the months of the enterprises first seen that month (distinct)"),
    "signed_projects": ("Σ 报告期项目台账中签约日期在年内的项目（每个计1）",
                        "projects of the period's ledger signed since 1 January (1 each)"),
    "major_projects_signed": ("Σ 年内签约的重大项目（每个计1）", "major projects signed since 1 January"),
    "fortune500_projects": ("Σ 年内签约且投资方为三类500强的项目（每个计1）",
                            "projects signed since 1 January with a 三类500强 investor"),
    "signed_investment": ("Σ 年内签约项目合同投资额（美元按签约当月汇率折算）÷ 10⁴",
                          "sum of the contract investment of projects signed since 1 January "
                          "(USD at the signing month's rate) / 1e4"),
    "funds_domestic": ("Σ 报告期台账人民币项目累计实际到位资金 ÷ 10⁴ − Σ 上年12月台账同一项目累计实际到位资金 ÷ 10⁴",
                       "CNY projects' cumulative paid-in in the period's ledger less last December's, / 1e4"),
    "fdi_actual": ("Σ 报告期台账美元项目累计实际到位资金 ÷ 10⁴ − Σ 上年12月台账同一项目累计实际到位资金 ÷ 10⁴",
                   "USD projects' cumulative paid-in in the period's ledger less last December's, / 1e4"),
    "funds_total": ("实际到位省外境内资金 + Σ 各月当月实际使用外资 × 当月汇率",
                    "domestic funds + each month's foreign inflow at that month's rate"),
    "performance_rate": ("100 × 年内签约且处于注册、开工或投产阶段的项目数 / 年内签约项目数",
                         "100 × signed projects at 注册 or beyond / signed projects"),
    "start_rate": ("100 × 年内签约且处于开工或投产阶段的项目数 / 年内签约项目数",
                   "100 × signed projects at 开工 or beyond / signed projects"),
    "production_rate": ("100 × 年内签约且处于投产阶段的项目数 / 年内签约项目数",
                        "100 × signed projects at 投产 / signed projects"),
    "funds_rate": ("100 × Σ 年内签约项目累计实际到位资金（亿元） / Σ 其合同投资额（亿元）",
                   "100 × paid-in / contract investment of the projects signed since 1 January (亿元)"),
    "park_enterprises": ("Σ 各园区入驻企业数", "sum over the city's parks of settled enterprises"),
    "park_above_scale": ("Σ 各园区规模以上工业企业数", "sum over the city's parks of above-scale enterprises"),
    "factory_occupancy": ("100 × Σ 标准厂房已使用面积 / Σ 标准厂房建成面积", "100 × factory space used / built"),
    "tax_per_mu": ("Σ 本年累计税收（万元） / Σ 已开发面积（亩）", "tax year to date / developed area"),
    "services_trade": ("Σ 服务贸易各类别（出口 + 进口）（万美元） ÷ 10⁴",
                       "sum of the 服务贸易 sheet's exports and imports (万美元) / 1e4"),
    "trade_dependence": ("100 × 1—N月进出口总额（亿元） / （地区生产总值 × N/12）",
                         "100 × trade year to date / (GDP × N/12)"),
}

# The window components of 项目台账 (macros/kpi_measures.sql), as a clerk reads them.
COMPONENTS_ZH = {
    "signed_projects": "年内签约项目数", "major_projects": "年内签约重大项目数",
    "fortune500_projects": "年内签约三类500强项目数", "signed_investment_100m": "年内签约项目合同投资额",
    "performed_projects": "注册/开工/投产阶段项目数", "started_projects": "开工/投产阶段项目数",
    "producing_projects": "投产阶段项目数", "paid_in_100m_cny": "年内签约项目累计实际到位资金",
    "contract_100m_cny": "年内签约项目合同投资额",
}


class NotTraced(ValueError):
    """The figure asked for cannot be traced (not a traced KPI, or no such figure)."""


def _round(d: Decimal, scale: int | None) -> Decimal:
    return d if scale is None else d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


def show(d) -> str:
    """A number as people write it: no exponent, no trailing zeros."""
    d = Decimal(d)
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "") else s


def like(d: Decimal | None, figure) -> str:
    """``d`` written with as many decimals as ``figure`` (a ratio recomputed here, as the mart prints it)."""
    if d is None:
        return "—"
    exp = Decimal(figure).as_tuple().exponent
    return str(d.quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_UP)) if isinstance(exp, int) else show(d)


def _header(sheet: str | None, column: str) -> str:
    """The template's header of a raw column (项目台账, 园区情况, 服务贸易 or the trade CSV)."""
    contract = SHEETS.get(sheet, TRADE)
    try:
        return contract.column(column).header
    except KeyError:
        return column


def _window(kind: str, kpi: str, period: str) -> tuple[str, str]:
    n = int(period[5:])
    if kind == "stock" or kpi in ("factory_occupancy", "tax_per_mu"):
        return f"{n}月末", "month-end"
    return f"1—{n}月累计", "year to date"


def label(f: dict, period: str) -> tuple[str, str]:
    """What one contribution is, in Chinese and English."""
    term, sp = f["term"], f["source_period"]
    if term == "amount_cny":
        d = f"（{f['direction']}）" if f["direction"] else ""
        en = f" {f['direction']}" if f["direction"] else ""
        return f"{sp}外贸明细{d}{AMOUNT} ÷ 10⁸", f"trade file {sp}{en} / 1e8"
    if term == "new_enterprises":
        return f"{sp}外贸明细中当年首次出现的企业", f"enterprises first seen in {sp}"
    if term == "gdp_prorated":
        line, row = gdp_seed()[(sp, f["city_code"])]
        n = int(period[5:])
        return (f"{sp}年地区生产总值 {show(row['gdp_100m_cny'])} 亿元（{GDP_SEED} 第{line}行）× {n}/12",
                f"GDP {sp} {show(row['gdp_100m_cny'])} ({GDP_SEED} line {line}) × {n}/12")
    if term in COMPONENTS_ZH:
        return f"{sp}项目台账{COMPONENTS_ZH[term]}", f"ledger {sp}: {term}"
    paid = PROJECTS.column("paid_in_cumulative").label
    if term.endswith("paid_in"):
        cur = "人民币" if term.startswith("domestic") or f["unit"] == "亿元" else "美元"
        return f"{sp}项目台账{cur}项目{paid} ÷ 10⁴", f"ledger {sp}: paid-in of {cur} projects / 1e4"
    if term.endswith("december_base"):
        return f"减 {sp}台账同一项目{paid} ÷ 10⁴", f"less the same projects in ledger {sp} / 1e4"
    if term == "fdi_inflow":
        return (f"{sp}当月实际使用外资 {show(f['value_100m_usd'])} 亿美元 × 汇率 {show(f['fx_rate'])}",
                f"{sp} foreign inflow {show(f['value_100m_usd'])} 100m USD × {show(f['fx_rate'])}")
    header = _header(f["sheet"], term)
    if f["sheet"] == SERVICES.sheet_name:
        return f"{sp}{f['sheet']}{header} ÷ 10⁴", f"{sp} services {term} / 1e4"
    return f"{sp}{f['sheet']}各园区{header}之和", f"{sp} parks: sum of {term}"


def signed_sum(values) -> str:
    """a + b − c: the terms of a sum as written by hand."""
    out = ""
    for i, v in enumerate(values):
        out += (show(v) if i == 0 else f" + {show(v)}") if v >= 0 else (f"−{show(-v)}" if i == 0 else f" − {show(-v)}")
    return out


def gdp_seed() -> dict[tuple[str, str], tuple[int, dict]]:
    """(year, city) -> (line in the seed file, its row): the GDP a trade_dependence figure reads."""
    with open(reference.SEEDS_DIR / GDP_SEED, encoding="utf-8", newline="") as fh:
        return {(r["year"], r["city_code"]): (i, r) for i, r in enumerate(csv.DictReader(fh), start=2)}


def part_totals(files: list[dict]) -> dict[str, dict[str, Decimal]]:
    """city -> part -> Σ value rounded as the mart rounds it (part_scale)."""
    sums: dict = defaultdict(lambda: defaultdict(Decimal))
    scales: dict = {}
    for f in files:
        sums[f["city_code"]][f["part"]] += Decimal(f["value"])
        scales[f["part"]] = f["part_scale"]
    return {c: {p: _round(v, scales[p]) for p, v in parts.items()} for c, parts in sums.items()}


def _ratio(factor, num: Decimal, den: Decimal) -> Decimal | None:
    return Decimal(factor) * num / den if den else None


def trace(conn, settings, kpi: str, city: str, period: str) -> dict:
    """The figure and what it is made of: {definition, cell, cities, files, formula_zh, formula_en}
    (plus parts: part -> total over the files, as the mart rounds it)."""
    if kpi not in TRACED:
        raise NotTraced(f"{kpi}: not a KPI (traced: {', '.join(TRACED)}) / 无此指标")
    definition = conn.execute("SELECT kpi_code, name_zh, unit, kind, frequency, definition_zh "
                              "FROM reference.kpi_definitions WHERE kpi_code = %s", [kpi]).fetchone()
    cell = conn.execute(
        "SELECT k.kpi_code, k.city_code, c.city_name, k.period, k.value_ytd, k.report_status, k.is_complete, "
        "k.is_combined_jan_feb "
        "FROM marts.kpi_city_month AS k JOIN marts.dim_city AS c USING (city_code) "
        "WHERE k.kpi_code = %s AND k.city_code = %s AND k.period = %s", [kpi, city, period]).fetchone()
    if definition is None or cell is None or cell["value_ytd"] is None:
        raise NotTraced(f"{kpi} {city} {period}: no figure in marts.kpi_city_month / 无此数据")
    files = conn.execute(
        "SELECT c.city_code, d.city_name, c.part, c.term, c.source_period, c.file_id, c.file_name, c.sha256, "
        "c.received_at, c.source_kind, c.sheet, c.direction, c.file_rows, c.rows_used, c.value, c.unit, "
        "c.part_scale, c.ratio_factor, c.fx_rate, c.value_100m_usd, c.value_cny "
        "FROM marts.kpi_contributions AS c JOIN marts.dim_city AS d USING (city_code) "
        "WHERE c.kpi_code = %s AND c.period = %s AND (c.city_code = %s OR %s = %s) "
        "ORDER BY c.city_code, c.part DESC, c.source_period, c.term",
        [kpi, period, city, city, PROVINCE_CODE]).fetchall()
    for f in files:
        f["receipt"] = (settings.receipt_path(f["city_code"], f["file_name"], f["file_id"])
                        if f["file_id"] is not None else reference.SEEDS_DIR / GDP_SEED)
    by_city = part_totals(files)
    ratio = definition["kind"] == "ratio"
    factor = next((f["ratio_factor"] for f in files if f["ratio_factor"] is not None), None)
    cities = []
    if city == PROVINCE_CODE:  # the province: its cities' figures first
        cities = conn.execute(
            "SELECT k.city_code, c.city_name, k.value_ytd FROM marts.kpi_city_month AS k "
            "JOIN marts.dim_city AS c USING (city_code) WHERE k.kpi_code = %s AND k.period = %s "
            "AND k.city_code <> %s AND k.value_ytd IS NOT NULL ORDER BY k.city_code",
            [kpi, period, PROVINCE_CODE]).fetchall()
        for c in cities:
            c.update(by_city.get(c["city_code"], {}))
    parts: dict[str, Decimal] = defaultdict(Decimal)
    for totals in by_city.values():
        for p, v in totals.items():
            parts[p] += v
    formula_zh, formula_en = _formula(definition, cell, cities, files, dict(parts), factor)
    return {"definition": definition, "cell": cell, "cities": cities, "files": files,
            "formula_zh": formula_zh, "formula_en": formula_en, "parts": dict(parts), "ratio_factor": factor,
            "is_ratio": ratio}


def _formula(d: dict, cell: dict, cities: list, files: list, parts: dict, factor) -> tuple[str, str]:
    kpi, period, value = d["kpi_code"], cell["period"], cell["value_ytd"]
    rule_zh, rule_en = RULES[kpi]
    rule_zh = rule_zh.format(amount=AMOUNT)
    window_zh, window_en = _window(d["kind"], kpi, period)
    unit = d["unit"]
    if cities:  # the province
        name = f"全省{d['name_zh']}"
        if d["kind"] == "ratio":
            num, den = parts.get("numerator", Decimal(0)), parts.get("denominator", Decimal(0))
            return (f"{name} = {show(factor)} × Σ 各市州分子 / Σ 各市州分母 = {show(factor)} × {show(num)} / "
                    f"{show(den)} = {value} {unit}",
                    f"province {kpi} = {show(factor)} × sum of the cities' numerators / sum of their "
                    f"denominators = {show(factor)} × {show(num)} / {show(den)} = {value}")
        if d["kind"] == "distinct":
            total = sum(Decimal(c["value_ytd"]) for c in cities)
            return (f"{name} = 全省外贸明细{ENTERPRISE}去重计数（同一企业跨市州、跨月只计一次，"
                    f"不是各市州相加；各市州之和为 {show(total)}）= {value} {unit}",
                    f"province {kpi} = distinct enterprises over every city's trade files of 1..N "
                    f"(not the sum of the cities, {show(total)}) = {value}")
        terms = " + ".join(f"{c['city_name']} {c['value_ytd']}" for c in cities)
        return (f"{name} = Σ 各市州{d['name_zh']} = {terms} = {value}",
                f"province {kpi} = sum of the cities' figures = {value}")
    head = f"{cell['city_name']}{d['name_zh']}（{window_zh}）"
    months = "、".join(sorted({f["source_period"] for f in files if f["source_kind"] != "seed"}))
    if d["kind"] == "ratio":
        def side(part: str) -> tuple[str, Decimal]:
            fs = [f for f in files if f["part"] == part]
            total = parts.get(part, Decimal(0))
            return (show(total) if len(fs) <= 1 else f"({' + '.join(show(f['value']) for f in fs)})"), total

        (n_expr, num), (d_expr, den) = side("numerator"), side("denominator")
        filled = f"{show(factor)} × {n_expr} / {d_expr}"
        if (n_expr, d_expr) != (show(num), show(den)):
            filled += f" = {show(factor)} × {show(num)} / {show(den)}"
        return (f"{head} = {rule_zh} = {filled} = {value} {unit}",
                f"{kpi} of {cell['city_code']}, {period} ({window_en}) = {rule_en} = {show(factor)} × "
                f"{show(num)} / {show(den)} = {value}")
    if kpi in TRADE_AMOUNTS:  # as the files list them: each month's partial in 亿元
        terms = " + ".join(f"{Decimal(f['value_cny']) / YUAN_PER_100M:.6f}" for f in files)
    else:
        terms = signed_sum(Decimal(f["value"]) for f in files)
    filled = f" = {terms}" if len(files) > 1 else ""
    return (f"{head} = {rule_zh}{filled} = {value} {unit}",
            f"{kpi} of {cell['city_code']}, {period} ({window_en}) = {rule_en} "
            f"(files in force: {months}) = {value}")


def text(t: dict) -> str:
    """The trace as a person reads it, in Chinese and English."""
    d, c = t["definition"], t["cell"]
    window_zh, window_en = _window(d["kind"], d["kpi_code"], c["period"])
    if c.get("is_combined_jan_feb"):
        window_zh, window_en = f"{window_zh}，含1—2月合并报送", f"{window_en}, with a combined 1–2月 report"
    lines = [f"{c['city_name']} {d['name_zh']} {c['period']}（{window_zh}）：{c['value_ytd']} "
             f"{d['unit']}  /  {d['kpi_code']} {c['city_code']} {c['period']} ({window_en}): {c['value_ytd']}",
             f"定义 definition：{d['definition_zh']}",
             f"公式 formula：{t['formula_zh']}",
             f"        {t['formula_en']}"]
    if t["cities"]:
        lines.append("各市州 cities:")
        for r in t["cities"]:
            extra = (f"（分子 numerator {show(r['numerator'])} / 分母 denominator {show(r['denominator'])}）"
                     if t["is_ratio"] and "numerator" in r else "")
            lines.append(f"  {r['city_code']} {r['city_name']}: {r['value_ytd']}{extra}")
    lines.append("报送文件 files (file id, name, month, sheet, rows used, part: what it is = partial, "
                 "sha256, receipt):")
    for f in t["files"]:
        zh, en = label(f, c["period"])
        if f["source_kind"] == "seed":
            lines.append(f"  [参考数据 seed] {f['file_name']}（{f['city_name']}，{f['source_period']}年）"
                         f"{PART_ZH[f['part']]} {zh} = {show(f['value'])} {f['unit']}")
            lines.append(f"      {f['receipt']}")
            continue
        sheet = f["sheet"] or "外贸明细"
        used = f"，计入{f['rows_used']}行" if f["rows_used"] is not None else ""
        filt = f"，仅{DIRECTION}={f['direction']}" if f["direction"] else ""
        where = f"{f['city_name']}，{f['source_period']}，{sheet}，文件共{f['file_rows']}行{used}{filt}"
        if f["value_cny"] is not None:  # a trade file: its partial in yuan
            amount = f"{f['value_cny']} 元 = {show(f['value'])} {f['unit']}"
        else:
            amount = f"{show(f['value'])} {f['unit']}"
        lines.append(f"  [{f['file_id']}] {f['file_name']}（{where}） {PART_ZH[f['part']]} {zh}：{amount}")
        lines.append(f"      ({en})  sha256 {f['sha256'].strip()}  回执 receipt {f['receipt']}")
    unit = d["unit"]
    if t["is_ratio"]:
        num, den = t["parts"].get("numerator", Decimal(0)), t["parts"].get("denominator", Decimal(0))
        units = {f["part"]: f["unit"] for f in t["files"]}
        lines.append(f"合计 total：分子 numerator {show(num)} {units.get('numerator', '')}，分母 denominator "
                     f"{show(den)} {units.get('denominator', '')}；{show(t['ratio_factor'])} × {show(num)} / "
                     f"{show(den)} = {like(_ratio(t['ratio_factor'], num, den), c['value_ytd'])} {unit}"
                     f"（figure {c['value_ytd']}）")
    elif t["cities"] and d["kind"] == "distinct":
        lines.append(f"合计 total：全省去重 {c['value_ytd']} {unit}（各市州之和 {show(t['parts'].get('distinct', 0))}，"
                     f"同一企业在多个市州只计一次 / distinct over all rows, not the sum of the cities）")
    elif d["kpi_code"] in TRADE_AMOUNTS:
        total = sum(Decimal(f["value_cny"]) for f in t["files"])
        lines.append(f"合计 total：{total} 元 = {total / YUAN_PER_100M:.6f} {unit}（figure {c['value_ytd']}）")
    else:
        total = sum(t["parts"].values(), Decimal(0))
        lines.append(f"合计 total：{show(total)} {unit}（figure {c['value_ytd']}）")
    return "\n".join(lines)


# ------------------------------------------------------------------ rows
HEADER = ["文件编号 file_id", "文件名 file", "工作表 sheet", "行号 row", "列 column", "值 value", "部分 part",
          "计入值 contribution", "单位 unit", "市州 city", "编号 key", "构成项 term", "汇率 fx_rate",
          "汇率月份 rate month", "进出口 direction", "企业代码 enterprise", "HS编码 hs_code"]

TRADE_ROWS_SQL = """
COPY (
    SELECT t.file_id, s.file_name, s.city_code, t.row_number, t.direction, t.enterprise_code, t.hs_code, t.amount_cny
    FROM raw.trade AS t
    JOIN audit.submissions AS s ON s.file_id = t.file_id  -- a published figure's files may be superseded since
    WHERE t.file_id = ANY(%(files)s) AND (%(direction)s::text IS NULL OR t.direction = %(direction)s)
    ORDER BY t.file_id, t.row_number
) TO STDOUT
"""

# 有进出口实绩企业数: each enterprise counted once, at its first row of the year (earliest month,
# then row); over the files given (one city's, or every city's for the province).
ENTERPRISE_ROWS_SQL = """
COPY (
    SELECT DISTINCT ON (t.enterprise_code)
           t.file_id, s.file_name, s.city_code, t.row_number, t.direction, t.enterprise_code, t.hs_code
    FROM raw.trade AS t
    JOIN audit.submissions AS s ON s.file_id = t.file_id
    WHERE t.file_id = ANY(%(files)s)
    ORDER BY t.enterprise_code, s.period, t.row_number
) TO STDOUT
"""

WORKBOOK_ROWS_SQL = """
COPY (
    SELECT r.file_id, s.file_name, r.city_code, r.sheet, r.row_number, r.column_name, r.cell, r.part, r.value,
           r.unit, r.row_key, r.term, r.fx_rate, r.inflow_period
    FROM marts.kpi_contribution_rows AS r
    JOIN audit.submissions AS s ON s.file_id = r.file_id
    WHERE r.kpi_code = %(kpi)s AND r.period = %(period)s AND r.city_code = ANY(%(cities)s)
      AND r.file_id = ANY(%(files)s)
    ORDER BY r.city_code, r.part DESC, r.term, r.file_id, r.row_number
) TO STDOUT
"""


def _gdp_rows(t: dict) -> list[list]:
    """The GDP seed rows of a trade_dependence figure: one per city, with its line in the seed file."""
    lines = gdp_seed()
    out = []
    for f in t["files"]:
        if f["source_kind"] != "seed":
            continue
        line, row = lines[(f["source_period"], f["city_code"])]
        out.append(["", GDP_SEED, "", line, "gdp_100m_cny", row["gdp_100m_cny"], f["part"], show(f["value"]),
                    f["unit"], f["city_code"], f"{row['year']} {row['city_code']}", f["term"], "", "", "", "", ""])
    return out


def rows_left_force(conn, t: dict) -> bool:
    """A trace (a published figure's, stored as JSON) resting on workbook rows of a file no longer in
    force: marts.kpi_contribution_rows holds the files in force only, so those rows are read from
    the marts as of the version (flows.reproduce.rebuild_as_of). Trade rows are read from raw."""
    ids = [int(f["file_id"]) for f in t.get("files") or () if f.get("source_kind") == "workbook" and f["file_id"]]
    if not ids:
        return False
    now = conn.execute("SELECT count(*) FROM audit.submissions_in_force WHERE file_id = ANY(%s)", [ids]).fetchone()
    return (now["count"] if isinstance(now, dict) else now[0]) < len(set(ids))


def write_rows(conn, t: dict, path: Path) -> tuple[int, Decimal]:
    """Every source row the figure is computed from, as CSV (文件编号 file_id, 文件名 file, 工作表 sheet,
    行号 row, 列 column, 值 value as submitted, 部分 part, 计入值 contribution in 单位 unit, and the row's
    keys). Returns (rows, the figure the rows reproduce, in the KPI's unit): flows and stocks Σ of the
    contributions (per city, rounded as the mart rounds); ratios factor × Σ numerator / Σ denominator;
    distinct counts the number of keys. ``t`` may be a trace stored as JSON with a published figure
    (definition, cell, files): the rows are those of its files, in force or superseded since (the
    workbook rows only while their file is in force: marts.kpi_contribution_rows holds those; else
    ``conn`` is the marts as of the version, see :func:`rows_left_force`)."""
    kpi = t["definition"]["kpi_code"]
    files = t["files"]
    scales = {f["part"]: f["part_scale"] for f in files}
    sums: dict = defaultdict(lambda: defaultdict(Decimal))
    n, keys = 0, set()
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        w = csv.writer(out)
        w.writerow(HEADER)
        if kpi in (*TRADE_AMOUNTS, "trade_dependence"):
            trade = [int(f["file_id"]) for f in files if f["source_kind"] == "trade"]
            direction = next((f["direction"] for f in files if f["direction"]), None)
            part = "numerator" if kpi == "trade_dependence" else "value"
            with conn.cursor() as cur, cur.copy(TRADE_ROWS_SQL, {"files": trade, "direction": direction}) as copy:
                for file_id, name, city, row_number, dirn, enterprise, hs, amount in copy.rows():
                    amount = Decimal(amount)
                    share = amount / YUAN_PER_100M
                    w.writerow([file_id, name, "", row_number, AMOUNT, amount, part, show(share), "亿元", city,
                                enterprise, "amount_cny", "", "", dirn, enterprise, hs])
                    sums[city][part] += share
                    n += 1
            for row in _gdp_rows(t):
                w.writerow(row)
                sums[row[9]]["denominator"] += Decimal(row[7])
                n += 1
        elif kpi == "trade_enterprises":
            trade = [int(f["file_id"]) for f in files]
            with conn.cursor() as cur, cur.copy(ENTERPRISE_ROWS_SQL, {"files": trade}) as copy:
                for file_id, name, city, row_number, dirn, enterprise, hs in copy.rows():
                    w.writerow([file_id, name, "", row_number, ENTERPRISE, enterprise, "distinct", 1, "家", city,
                                enterprise, "new_enterprises", "", "", dirn, enterprise, hs])
                    keys.add(enterprise)
                    n += 1
        else:
            cities = sorted({f["city_code"] for f in files})
            params = {"kpi": kpi, "period": t["cell"]["period"], "cities": cities,
                      "files": [int(f["file_id"]) for f in files if f["file_id"] is not None]}
            with conn.cursor() as cur, cur.copy(WORKBOOK_ROWS_SQL, params) as copy:
                for (file_id, name, city, sheet, row_number, column, cell, part, value, unit, key, term, rate,
                     rate_month) in copy.rows():
                    w.writerow([file_id, name, sheet, row_number, _header(sheet, column), cell, part, show(value), unit,
                                city, key, term, rate or "", rate_month or "", "", "", ""])
                    sums[city][part] += Decimal(value)
                    n += 1
    if kpi == "trade_enterprises":
        return n, Decimal(len(keys))
    parts: dict[str, Decimal] = defaultdict(Decimal)
    for city_parts in sums.values():
        for p, v in city_parts.items():
            parts[p] += _round(v, scales.get(p))
    if t["definition"]["kind"] == "ratio":
        factor = next(f["ratio_factor"] for f in files if f["ratio_factor"] is not None)
        return n, _ratio(factor, parts["numerator"], parts["denominator"])
    return n, parts["value"]
