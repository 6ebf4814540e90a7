"""Deterministic, realistic sample submissions for all 14 cities.

Every figure is a function of (seed, entity, month), so the same arguments
always write the same bytes and months stay consistent with each other
(parks fill up over time, year-to-date flows restart each January).
"""

from __future__ import annotations

import random
import zlib
from datetime import date
from pathlib import Path

import xlsxwriter

from ingestion import reference
from ingestion.contract import PARKS, Sheet

LEVEL_SIZE = {  # typical planned area in 亩 by park level
    "国家级经开区": 30000, "国家级高新区": 25000, "省级经开区": 12000,
    "省级高新区": 10000, "综合保税区": 3000,
}
EPOCH = date(2020, 1, 1)


def months(start: str, end: str) -> list[str]:
    """Inclusive list of 'YYYY-MM' between two 'YYYY-MM' strings."""
    y, m = map(int, start.split("-"))
    ey, em = map(int, end.split("-"))
    if (y, m) > (ey, em):
        raise ValueError(f"--from {start} is after --to {end}")
    out = []
    while (y, m) <= (ey, em):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _rng(seed: int, *key: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(map(str, (seed, *key))).encode()))


def park_row(park: dict, period: str, seed: int) -> dict:
    """One park's 园区情况 figures for a month."""
    year, month = map(int, period.split("-"))
    t = (year - EPOCH.year) * 12 + month - 1  # months since the epoch
    base = _rng(seed, park["park_code"])
    size = LEVEL_SIZE.get(park["level"], 8000) * base.uniform(0.6, 1.5)
    if park["city_code"] == "430100":
        size *= 1.8  # Changsha's parks are the province's largest
    growth = 1 + 0.006 * t
    planned = round(size, 0)
    developed = round(planned * min(0.95, base.uniform(0.35, 0.55) + 0.004 * t), 1)
    built = round(developed * base.uniform(0.010, 0.018) * growth, 2)  # 万平方米
    occupancy = min(0.97, base.uniform(0.62, 0.80) + 0.002 * t)
    used = round(built * occupancy, 2)
    enterprises = int(developed / base.uniform(25, 45) * growth)
    above = int(enterprises * base.uniform(0.25, 0.40))
    tax_per_mu_year = base.uniform(8, 20) * growth  # 万元/亩/年
    ytd_share = month / 12 * _rng(seed, park["park_code"], period).uniform(0.9, 1.1)
    tax = round(developed * tax_per_mu_year * ytd_share, 1)
    revenue = round(tax * base.uniform(12, 20), 1)
    employees = int(enterprises * base.uniform(40, 90))
    return {
        "park_code": park["park_code"], "planned_area_mu": planned, "developed_area_mu": developed,
        "factory_built_10k_m2": built, "factory_used_10k_m2": used, "enterprises": enterprises,
        "above_scale_enterprises": above, "tax_ytd_10k_cny": tax, "revenue_ytd_10k_cny": revenue,
        "employees": employees,
    }


def _write_sheet(wb: xlsxwriter.Workbook, sheet: Sheet, rows: list[dict]) -> None:
    ws = wb.add_worksheet(sheet.sheet_name)
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    for j, col in enumerate(sheet.columns):
        ws.write_string(0, j, col.header, head)
        ws.set_column(j, j, max(12, len(col.header) * 2))
    for i, row in enumerate(rows, start=1):
        for j, col in enumerate(sheet.columns):
            value = row[col.name]
            if col.dtype == "text":
                ws.write_string(i, j, str(value))
            else:
                ws.write_number(i, j, value)


def write_workbook(path: Path, city_code: str, period: str, seed: int) -> Path:
    rows = [park_row(p, period, seed) for p in reference.parks_by_city()[city_code]]
    # Fixed creation date: the same arguments give the same bytes (and sha256).
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": False})
    wb.set_properties({"created": _fixed_datetime(period), "author": "openecon sample"})
    _write_sheet(wb, PARKS, rows)
    wb.close()
    return path


def _fixed_datetime(period: str):
    from datetime import datetime

    year, month = map(int, period.split("-"))
    return datetime(year, month, 1)


def generate(out: Path, start: str, end: str, seed: int = 42, cities: list[str] | None = None) -> list[Path]:
    """Write one workbook per city per month into ``out/<city_code>/``."""
    out = Path(out)
    written = []
    for period in months(start, end):
        for city in cities or list(reference.cities()):
            folder = out / city
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{city}_{period.replace('-', '')}.xlsx"
            written.append(write_workbook(folder / name, city, period, seed))
    return written
