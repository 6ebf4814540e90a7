"""溯源: where a figure of ``marts.kpi_city_month`` comes from, down to the cells of the files.

A city's figure is the sum of its contributions (``marts.kpi_contributions``: one row per
contributing file with its partial sum); the province's figure is the sum of its cities'.
:func:`trace` gathers the definition, the figure, the cities (for the province) and the files
with their receipts; :func:`text` prints it in Chinese and English; :func:`write_rows` writes
every contributing source row (file, sheet, row, column, value), whose values sum to the figure.

Traced so far: the goods-trade KPIs (进出口总额, 出口额, 进口额).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from core.constants import PROVINCE_CODE
from ingestion.contract import TRADE

TRACED = ("trade_total", "exports", "imports")
# the column of a trade file a traded amount is read from, as the clerk's template names it
AMOUNT = TRADE.column("amount_cny").header
DIRECTION = TRADE.column("direction").header
YUAN_PER_100M = Decimal(100_000_000)


class NotTraced(ValueError):
    """The figure asked for cannot be traced (not a traced KPI, or no such figure)."""


def trace(conn, settings, kpi: str, city: str, period: str) -> dict:
    """The figure and what it is made of: {definition, cell, cities, files, formula_zh, formula_en}."""
    if kpi not in TRACED:
        raise NotTraced(f"{kpi}: not traced yet (traced: {', '.join(TRACED)}) / 该指标暂不支持溯源")
    definition = conn.execute("SELECT kpi_code, name_zh, unit, kind, definition_zh FROM reference.kpi_definitions "
                              "WHERE kpi_code = %s", [kpi]).fetchone()
    cell = conn.execute(
        "SELECT k.kpi_code, k.city_code, c.city_name, k.period, k.value_ytd, k.report_status, k.is_complete "
        "FROM marts.kpi_city_month AS k JOIN marts.dim_city AS c USING (city_code) "
        "WHERE k.kpi_code = %s AND k.city_code = %s AND k.period = %s", [kpi, city, period]).fetchone()
    if cell is None or cell["value_ytd"] is None:
        raise NotTraced(f"{kpi} {city} {period}: no figure in marts.kpi_city_month / 无此数据")
    cities = []
    if city == PROVINCE_CODE:  # the province: its cities' figures first
        cities = conn.execute(
            "SELECT k.city_code, c.city_name, k.value_ytd FROM marts.kpi_city_month AS k "
            "JOIN marts.dim_city AS c USING (city_code) WHERE k.kpi_code = %s AND k.period = %s "
            "AND k.city_code <> %s AND k.value_ytd IS NOT NULL ORDER BY k.city_code",
            [kpi, period, PROVINCE_CODE]).fetchall()
    files = conn.execute(
        "SELECT c.city_code, d.city_name, c.source_period, c.file_id, c.file_name, c.sha256, c.received_at, "
        "c.direction, c.file_rows, c.value_cny FROM marts.kpi_contributions AS c "
        "JOIN marts.dim_city AS d USING (city_code) WHERE c.kpi_code = %s AND c.period = %s "
        "AND (c.city_code = %s OR %s = %s) ORDER BY c.city_code, c.source_period",
        [kpi, period, city, city, PROVINCE_CODE]).fetchall()
    for f in files:
        f["receipt"] = settings.receipt_path(f["city_code"], f["file_name"], f["file_id"])
    months = "、".join(sorted({f["source_period"] for f in files}))
    if cities:
        terms = " + ".join(f"{c['city_name']} {c['value_ytd']}" for c in cities)
        formula_zh = f"全省{definition['name_zh']} = Σ 各市州{definition['name_zh']} = {terms} = {cell['value_ytd']}"
        formula_en = f"province {kpi} = sum of the cities' figures = {cell['value_ytd']}"
    else:
        terms = " + ".join(f"{Decimal(f['value_cny']) / YUAN_PER_100M:.6f}" for f in files)
        formula_zh = (f"{cell['city_name']}{definition['name_zh']}（1—{int(period[5:])}月）= Σ 各月外贸明细"
                      f"{'（' + files[0]['direction'] + '）' if files and files[0]['direction'] else ''}"
                      f"{AMOUNT} ÷ 10⁸ = {terms} = {cell['value_ytd']} {definition['unit']}")
        formula_en = (f"{kpi} of {city}, {period[:4]} months 1–{int(period[5:])} = sum over the trade files in "
                      f"force ({months}) of the amount column / 1e8 = {cell['value_ytd']}")
    return {"definition": definition, "cell": cell, "cities": cities, "files": files,
            "formula_zh": formula_zh, "formula_en": formula_en}


def text(t: dict) -> str:
    """The trace as a person reads it, in Chinese and English."""
    d, c = t["definition"], t["cell"]
    lines = [f"{c['city_name']} {d['name_zh']} {c['period']}（1—{int(c['period'][5:])}月累计）：{c['value_ytd']} "
             f"{d['unit']}  /  {d['kpi_code']} {c['city_code']} {c['period']} (year to date): {c['value_ytd']}",
             f"定义 definition：{d['definition_zh']}",
             f"公式 formula：{t['formula_zh']}",
             f"        {t['formula_en']}"]
    if t["cities"]:
        lines.append("各市州 cities:")
        lines += [f"  {r['city_code']} {r['city_name']}: {r['value_ytd']}" for r in t["cities"]]
    lines.append("报送文件 files (file id, name, month, rows, partial sum in 元 / yuan, sha256, receipt):")
    for f in t["files"]:
        filt = f"，仅{DIRECTION}={f['direction']}" if f["direction"] else ""
        where = f"{f['city_name']}，{f['source_period']}，{f['file_rows']}行{filt}"
        lines.append(f"  [{f['file_id']}] {f['file_name']}（{where}） {f['value_cny']}")
        lines.append(f"      sha256 {f['sha256'].strip()}  回执 receipt {f['receipt']}")
    total = sum(Decimal(f["value_cny"]) for f in t["files"])
    lines.append(f"合计 total：{total} 元 = {total / YUAN_PER_100M:.6f} {d['unit']}（figure {c['value_ytd']}）")
    return "\n".join(lines)


ROWS_SQL = """
COPY (
    SELECT t.file_id, s.file_name, t.row_number, t.direction, t.enterprise_code, t.hs_code, t.amount_cny
    FROM raw.trade AS t
    JOIN audit.submissions AS s ON s.file_id = t.file_id  -- a published figure's files may be superseded since
    WHERE t.file_id = ANY(%(files)s) AND (%(direction)s::text IS NULL OR t.direction = %(direction)s)
    ORDER BY t.file_id, t.row_number
) TO STDOUT
"""


def write_rows(conn, t: dict, path: Path) -> tuple[int, Decimal]:
    """Every source row the figure sums, as CSV (文件编号 file_id, 文件名 file, 工作表 sheet, 行号 row,
    列 column, 值 value, and the row's keys); returns (rows, Σ value in yuan)."""
    files = [f["file_id"] for f in t["files"]]
    direction = t["files"][0]["direction"] if t["files"] else None
    n, total = 0, Decimal(0)
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        w = csv.writer(out)
        w.writerow(["文件编号 file_id", "文件名 file", "工作表 sheet", "行号 row", "列 column", "值 value",
                    "进出口 direction", "企业代码 enterprise", "HS编码 hs_code"])
        with conn.cursor() as cur, cur.copy(ROWS_SQL, {"files": files, "direction": direction}) as copy:
            for row in copy.rows():
                file_id, name, row_number, dirn, enterprise, hs, amount = row
                w.writerow([file_id, name, TRADE.sheet_name or "", row_number, AMOUNT, amount, dirn, enterprise, hs])
                n += 1
                total += Decimal(amount)
    return n, total
