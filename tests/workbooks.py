"""Build small, controlled submission files for tests, from the contract's headers."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import xlsxwriter

from core import reference
from ingestion.codes import uscc_check_char
from ingestion.contract import PARKS, PROJECTS, SERVICES, TRADE, Sheet
from samples.entities import park_row


def project_row(city: str, n: int, **overrides) -> dict:
    """A valid 开工-stage domestic project of ``city``."""
    row = {
        "project_id": f"{city}-2025-{n:04d}", "project_name": f"测试项目{n}",
        "county_code": sorted(reference.counties_by_city()[city])[0],
        "park_code": reference.parks_by_city()[city][0]["park_code"], "industry_chain": "装备制造",
        "investor": f"测试投资有限公司{n}", "investor_origin": "440000", "source_region": "粤港澳大湾区",
        "fortune500": "无", "currency": "人民币", "contract_amount": 25000.0, "stage": "开工",
        "signed_date": dt.date(2025, 1, 10), "registered_date": dt.date(2025, 2, 20),
        "started_date": dt.date(2025, 4, 1), "production_date": None,
        "paid_in_cumulative": 8000.0, "land_area_mu": 120.0,
    }
    row.update(overrides)
    return row


def park_rows(city: str, period: str = "2025-09") -> list[dict]:
    return [park_row(p, period, 42) for p in reference.parks_by_city()[city]]


def services_rows() -> list[dict]:
    return [{"category": c, "exports_10k_usd": 100.0 + i, "imports_10k_usd": 50.0 + i}
            for i, c in enumerate(reference.service_categories())]


def write_workbook(path: Path, sheets: dict[Sheet, list[dict]], headers: dict[Sheet, list[str]] | None = None,
                   sheet_names: dict[Sheet, str] | None = None) -> Path:
    """One sheet per entry; values written with their Excel type (dates as date cells)."""
    wb = xlsxwriter.Workbook(str(path))
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for sheet, rows in sheets.items():
        ws = wb.add_worksheet((sheet_names or {}).get(sheet, sheet.sheet_name))
        for j, h in enumerate((headers or {}).get(sheet) or [c.header for c in sheet.columns]):
            ws.write(0, j, h)
        for i, row in enumerate(rows, start=1):
            for j, col in enumerate(sheet.columns):
                v = row.get(col.name)
                if isinstance(v, dt.date):
                    ws.write_datetime(i, j, dt.datetime(v.year, v.month, v.day), date_fmt)
                elif isinstance(v, str):
                    ws.write_string(i, j, v)
                elif v is not None:
                    ws.write(i, j, v)
    wb.close()
    return path


def city_workbook(folder: Path, city: str, period: str = "2025-09", projects: list[dict] | None = None,
                  parks: list[dict] | None = None, **kw) -> Path:
    """A complete, valid monthly workbook unless the caller passes bad rows."""
    sheets = {PROJECTS: projects if projects is not None else [project_row(city, n) for n in (1, 2, 3)],
              PARKS: parks if parks is not None else park_rows(city, period)}
    if int(period[5:]) in (3, 6, 9, 12):
        sheets[SERVICES] = services_rows()
    folder.mkdir(parents=True, exist_ok=True)
    return write_workbook(folder / f"{city}_{period.replace('-', '')}.xlsx", sheets, **kw)


def uscc(n: int) -> str:
    body = f"91430100{n:09d}"[:17]
    return body + uscc_check_char(body)


def trade_row(n: int, **overrides) -> dict:
    row = {"enterprise_code": uscc(n), "enterprise_name": f"湖南测试贸易有限公司{n}", "hs_code": "84295200",
           "trade_mode": "一般贸易", "partner_country": "US", "direction": "出口",
           "amount_usd": 1000.0 + n, "amount_cny": round((1000.0 + n) * 7.1, 2)}
    row.update(overrides)
    return row


def write_trade(path: Path, rows: list[dict], encoding: str = "utf-8-sig", header: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header or [c.header for c in TRADE.columns])
        for r in rows:
            w.writerow([r.get(c.name, "") for c in TRADE.columns])
    return path


def corrected_trade_csv(src: Path, dest: Path, factor: float) -> Path:
    """The same CSV with every amount × factor (a superseding re-submission)."""
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    head = lines[0].split(",")
    i_cny, i_usd = head.index("金额（人民币元）"), head.index("金额（美元）")
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        for i in (i_cny, i_usd):
            cells[i] = f"{float(cells[i]) * factor:.2f}"
        out.append(",".join(cells))
    dest.write_text("\n".join(out) + "\n", encoding="utf-8-sig")
    return dest
