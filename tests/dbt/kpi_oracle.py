"""An oracle for marts.kpi_city_month written apart from the models: pandas over the accepted
submission files themselves (and the reference seeds), following SPEC §1 and §4 and issue 12.

It never reads the warehouse. Given the folder of files that were all accepted, it builds the
complete grid (KPI × city × every month some city has a file for) with, per cell, the report
status, value_ytd, value_month, value_ytd_last_year, yoy_pct / yoy_pp / yoy_basis and, for the
province, cities_reported and is_complete.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core import reference
from ingestion.contract import PARKS, PROJECTS, SERVICES
from ingestion.readers import open_workbook, read_sheet

PROVINCE = "430000"
TRADE_KPIS = ("trade_total", "exports", "imports", "trade_enterprises", "trade_dependence")
PROJECT_FLOWS = ("signed_projects", "signed_investment", "major_projects_signed", "fortune500_projects",
                 "funds_domestic", "fdi_actual", "funds_total")
FLOWS = (*PROJECT_FLOWS, "trade_total", "exports", "imports", "services_trade")
STOCKS = ("park_enterprises", "park_above_scale")
RATIOS = ("performance_rate", "start_rate", "production_rate", "funds_rate", "factory_occupancy", "tax_per_mu",
          "trade_dependence")
DISTINCT = ("trade_enterprises",)
QUARTERLY = ("services_trade", "trade_dependence")
PERCENT = ("performance_rate", "start_rate", "production_rate", "funds_rate", "factory_occupancy",
           "trade_dependence")
ALL_KPIS = (*FLOWS, *STOCKS, *RATIOS, *DISTINCT)
FILE_RE = re.compile(r"^(?:(?P<trade>trade)_)?(?P<city>\d{6})_(?P<y>\d{4})(?P<m>\d{2})\.(?:xlsx|csv)$")


def _seed(name: str) -> list[dict]:
    with open(reference.SEEDS_DIR / f"{name}.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _date(v) -> dt.date | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)):  # an Excel serial
        return dt.date(1899, 12, 30) + dt.timedelta(days=int(v))
    return dt.date.fromisoformat(str(v).strip()[:10])


def _num(v) -> float:
    """A cell as a number: empty is 0; text may carry thousands separators ("66,588.3")."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return 0.0
    return float(re.sub(r"[,，\s]", "", v)) if isinstance(v, str) else float(v)


def _period(y: int, m: int) -> str:
    return f"{y:04d}-{m:02d}"


def _month_end(y: int, m: int) -> dt.date:
    return dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)


def read_trade_csv(path: Path) -> pd.DataFrame:
    """企业代码, 进出口 and 金额（人民币元） of a trade CSV (UTF-8 with or without BOM, or GBK)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gbk")
    from io import StringIO

    frame = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    cny = next(c for c in frame.columns if "人民币元" in c)
    return pd.DataFrame({
        "enterprise": frame["企业代码"].str.strip(),
        "direction": frame["进出口"].str.strip(),
        "cny": pd.to_numeric(frame[cny]),
    })


@dataclass
class Cell:
    report_status: str
    value_ytd: float | None = None
    value_month: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    is_complete: bool = False
    is_combined_jan_feb: bool = False
    cities_reported: int | None = None
    cities_combined: int = 0
    value_ytd_last_year: float | None = None
    yoy_basis: str | None = None
    yoy_pct: float | None = None
    yoy_pp: float | None = None
    extra: dict = field(default_factory=dict)


class Oracle:
    """The expected kpi_city_month, from the files in ``folder`` (every one accepted)."""

    def __init__(self, folder: Path):
        self.cities = sorted(reference.cities())
        self.rates = {r["period"]: float(r["usd_cny"]) for r in _seed("usd_cny_rates")}
        self.gdp = {(int(r["year"]), r["city_code"]): float(r["gdp_100m_cny"]) for r in _seed("city_gdp")}
        self.files: dict[tuple[str, str, str], Path] = {}  # (kind, city, period) -> file
        for p in sorted(Path(folder).rglob("*")):
            m = FILE_RE.match(p.name)
            if p.is_file() and m:
                kind = "trade" if m["trade"] else "workbook"
                self.files[(kind, m["city"], _period(int(m["y"]), int(m["m"])))] = p
        self.periods = sorted({p for _, _, p in self.files})
        self._ledgers: dict[tuple[str, str], pd.DataFrame] = {}
        self._parks: dict[tuple[str, str], pd.DataFrame] = {}
        self._services: dict[tuple[str, str], pd.DataFrame] = {}
        self._trade: dict[tuple[str, str], pd.DataFrame] = {}
        self._read()
        self.cells: dict[tuple[str, str, str], Cell] = {}
        self._build()

    # ------------------------------------------------------------------ reading
    def _read(self) -> None:
        for (kind, city, period), path in self.files.items():
            if kind == "trade":
                self._trade[(city, period)] = read_trade_csv(path)
                continue
            wb = open_workbook(path)
            led, _ = read_sheet(wb, PROJECTS, path.name)
            for c in ("signed_date", "registered_date", "started_date", "production_date"):
                led[c] = led[c].map(_date)
            for c in ("contract_amount", "paid_in_cumulative"):
                led[c] = led[c].map(_num)
            self._ledgers[(city, period)] = led
            parks, _ = read_sheet(wb, PARKS, path.name)
            for c in ("developed_area_mu", "factory_built_10k_m2", "factory_used_10k_m2", "enterprises",
                      "above_scale_enterprises", "tax_ytd_10k_cny"):
                parks[c] = parks[c].map(_num)
            self._parks[(city, period)] = parks
            if SERVICES.sheet_name in wb.sheet_names:
                svc, _ = read_sheet(wb, SERVICES, path.name)
                for c in ("exports_10k_usd", "imports_10k_usd"):
                    svc[c] = svc[c].map(_num)
                self._services[(city, period)] = svc

    # ------------------------------------------------------------------ statuses
    def status(self, kind: str, city: str, period: str) -> str:
        if (kind, city, period) in self.files:
            return "reported"
        y, m = int(period[:4]), int(period[5:])
        nothing_in_january = not any((k, city, period) in self.files for k in ("workbook", "trade"))
        if m == 1 and nothing_in_january and (kind, city, _period(y, 2)) in self.files:
            return "combined"
        return "missing"

    def combined_february(self, kind: str, city: str, y: int) -> bool:
        jan = _period(y, 1)
        return ((kind, city, _period(y, 2)) in self.files
                and not any((k, city, jan) in self.files for k in ("workbook", "trade")))

    def trade_covered(self, city: str, y: int, n: int) -> bool:
        """Every month 1..N of the trade YTD is in a file (January also by a combined February)."""
        for m in range(1, n + 1):
            if ("trade", city, _period(y, m)) in self.files:
                continue
            if m == 1 and n >= 2 and self.combined_february("trade", city, y):
                continue
            return False
        return True

    # ------------------------------------------------------------------ city figures
    def ledger(self, city: str, period: str) -> pd.DataFrame:
        """The 项目台账 rows of the city's workbook for ``period`` (contract names, row_number)."""
        return self._ledgers[(city, period)]

    def parks(self, city: str, period: str) -> pd.DataFrame:
        """The 园区情况 rows of the city's workbook for ``period``."""
        return self._parks[(city, period)]

    def window(self, city: str, y: int, n: int) -> pd.DataFrame:
        """The ledger's projects signed between 1 Jan Y and the end of month N, with their contract
        investment and paid-in in 万元 (美元: contract at the signing month's rate, paid-in at the
        period's) and whether they are major."""
        led = self._ledgers[(city, _period(y, n))]
        start, end = dt.date(y, 1, 1), _month_end(y, n)
        window = led[led["signed_date"].map(lambda d: d is not None and start <= d <= end)].copy()
        usd = window["currency"] == "美元"
        sign_rate = window["signed_date"].map(lambda d: self.rates[_period(d.year, d.month)])
        window["contract_cny"] = window["contract_amount"].where(~usd, window["contract_amount"] * sign_rate)
        window["paid_cny"] = window["paid_in_cumulative"].where(
            ~usd, window["paid_in_cumulative"] * self.rates[_period(y, n)])
        window["major"] = ((~usd) & (window["contract_amount"] >= 20000)) | (usd & (window["contract_amount"] >= 3000))
        return window

    def project_figures(self, city: str, y: int, n: int) -> dict:
        led = self._ledgers[(city, _period(y, n))]
        window = self.window(city, y, n)
        contract_cny, paid_cny, major = window["contract_cny"], window["paid_cny"], window["major"]
        stage = window["stage"]
        out = {
            "signed_projects": float(len(window)),
            "major_projects_signed": float(major.sum()),
            "fortune500_projects": float((window["fortune500"] != "无").sum()),
            "signed_investment": float(contract_cny.sum()) / 1e4,
            "performance_rate": (float(stage.isin(["注册", "开工", "投产"]).sum()), float(len(window))),
            "start_rate": (float(stage.isin(["开工", "投产"]).sum()), float(len(window))),
            "production_rate": (float((stage == "投产").sum()), float(len(window))),
            "funds_rate": (float(paid_cny.sum()) / 1e4, float(contract_cny.sum()) / 1e4),
        }
        dec = self._ledgers.get((city, _period(y - 1, 12)))
        if dec is None:  # no December ledger to measure from: unknown, not zero
            out["funds_domestic"] = out["fdi_actual"] = None
        else:
            before = dict(zip(dec["project_id"], dec["paid_in_cumulative"]))
            delta = led["paid_in_cumulative"] - led["project_id"].map(lambda p: before.get(p, 0.0))
            out["funds_domestic"] = float(delta[led["currency"] == "人民币"].sum()) / 1e4
            out["fdi_actual"] = float(delta[led["currency"] == "美元"].sum()) / 1e4
        return out

    def funds_total(self, city: str, y: int, n: int, figures) -> float | None:
        """Domestic + each month's foreign inflow (change since the previous ledger) at that month's rate."""
        now = figures(city, y, n)
        if now["funds_domestic"] is None:
            return None
        total, previous = now["funds_domestic"], 0.0
        for m in range(1, n + 1):
            if ("workbook", city, _period(y, m)) in self.files:
                fdi = figures(city, y, m)["fdi_actual"]
                total += (fdi - previous) * self.rates[_period(y, m)]
                previous = fdi
        return total

    def trade_ytd(self, city: str, y: int, n: int) -> pd.DataFrame:
        parts = [self._trade[(city, _period(y, m))] for m in range(1, n + 1) if (city, _period(y, m)) in self._trade]
        return pd.concat(parts) if parts else pd.DataFrame(columns=["enterprise", "direction", "cny"])

    def city_values(self, city: str, period: str, cache: dict) -> dict[str, tuple]:
        """kpi -> (value_ytd, numerator, denominator) for the KPIs the city reported in ``period``."""
        y, n = int(period[:4]), int(period[5:])
        out: dict[str, tuple] = {}

        def figures(c, yy, mm):
            key = (c, yy, mm)
            if key not in cache:
                cache[key] = self.project_figures(c, yy, mm)
            return cache[key]

        if ("workbook", city, period) in self.files:
            f = figures(city, y, n)
            for k in ("signed_projects", "major_projects_signed", "fortune500_projects", "signed_investment",
                      "funds_domestic", "fdi_actual"):
                out[k] = (f[k], None, None)
            out["funds_total"] = (self.funds_total(city, y, n, figures), None, None)
            for k in ("performance_rate", "start_rate", "production_rate", "funds_rate"):
                num, den = f[k]
                out[k] = (100 * num / den if den else None, num, den)
            parks = self._parks[(city, period)]
            if len(parks):
                out["park_enterprises"] = (float(parks["enterprises"].sum()), None, None)
                out["park_above_scale"] = (float(parks["above_scale_enterprises"].sum()), None, None)
                used, built = float(parks["factory_used_10k_m2"].sum()), float(parks["factory_built_10k_m2"].sum())
                out["factory_occupancy"] = (100 * used / built if built else None, used, built)
                tax, area = float(parks["tax_ytd_10k_cny"].sum()), float(parks["developed_area_mu"].sum())
                out["tax_per_mu"] = (tax / area if area else None, tax, area)
            svc = self._services.get((city, period))
            if n in (3, 6, 9, 12) and svc is not None and len(svc):
                out["services_trade"] = ((float(svc["exports_10k_usd"].sum() + svc["imports_10k_usd"].sum())) / 1e4,
                                         None, None)
        if ("trade", city, period) in self.files:
            rows = self.trade_ytd(city, y, n)
            exports = float(rows.loc[rows["direction"] == "出口", "cny"].sum()) / 1e8
            imports = float(rows.loc[rows["direction"] == "进口", "cny"].sum()) / 1e8
            out["trade_total"] = (exports + imports, None, None)
            out["exports"] = (exports, None, None)
            out["imports"] = (imports, None, None)
            out["trade_enterprises"] = (float(rows["enterprise"].nunique()), None, None)
            if n in (3, 6, 9, 12):
                gdp = self.gdp.get((y, city), self.gdp.get((y - 1, city)))
                den = gdp * n / 12 if gdp is not None else None
                out["trade_dependence"] = (100 * (exports + imports) / den if den else None, exports + imports, den)
        return out

    # ------------------------------------------------------------------ the grid
    def _build(self) -> None:
        cache: dict = {}
        values = {(c, p): self.city_values(c, p, cache) for c in self.cities for p in self.periods}
        grid_periods = {k: [p for p in self.periods if k not in QUARTERLY or int(p[5:]) in (3, 6, 9, 12)]
                        for k in ALL_KPIS}
        for kpi in ALL_KPIS:
            kind = "trade" if kpi in TRADE_KPIS else "workbook"
            for city in self.cities:
                for period in grid_periods[kpi]:
                    y, n = int(period[:4]), int(period[5:])
                    status = self.status(kind, city, period)
                    cell = Cell(status)
                    cell.is_combined_jan_feb = (status == "combined"
                                                or (n == 2 and status == "reported"
                                                    and self.combined_february(kind, city, y)))
                    if status == "reported" and kpi in values[(city, period)]:
                        cell.value_ytd, cell.numerator, cell.denominator = values[(city, period)][kpi]
                    has_figure = (cell.numerator is not None and cell.denominator is not None) if kpi in RATIOS \
                        else cell.value_ytd is not None
                    covered = kind == "workbook" or self.trade_covered(city, y, n)
                    cell.is_complete = status == "reported" and has_figure and covered
                    cell.extra["has_figure"] = has_figure
                    self.cells[(kpi, city, period)] = cell
            for city in self.cities:  # 当月
                for period in grid_periods[kpi]:
                    self.cells[(kpi, city, period)].value_month = self._city_month(kpi, city, period, grid_periods)
            for period in grid_periods[kpi]:
                self.cells[(kpi, PROVINCE, period)] = self._province(kpi, period)
        for (kpi, city, period), cell in self.cells.items():
            self._compare(kpi, city, period, cell)

    def _city_month(self, kpi: str, city: str, period: str, grid_periods) -> float | None:
        cell = self.cells[(kpi, city, period)]
        if cell.report_status != "reported" or cell.is_combined_jan_feb or kpi in RATIOS:
            return None
        if kpi in STOCKS:
            return cell.value_ytd
        y, n = int(period[:4]), int(period[5:])
        if kpi in DISTINCT:  # distinct in the month's own file
            return float(self._trade[(city, period)]["enterprise"].nunique())
        step = 3 if kpi in QUARTERLY else 1
        if n == step:
            return cell.value_ytd
        before = self.cells.get((kpi, city, _period(y, n - step)))
        if before is None or before.report_status != "reported" or cell.value_ytd is None \
                or before.value_ytd is None:
            return None
        if kpi in ("trade_total", "exports", "imports"):  # the month's own file, not a difference
            rows = self._trade[(city, period)]
            want = {"trade_total": ("出口", "进口"), "exports": ("出口",), "imports": ("进口",)}[kpi]
            return float(rows.loc[rows["direction"].isin(want), "cny"].sum()) / 1e8
        return cell.value_ytd - before.value_ytd

    def _province(self, kpi: str, period: str) -> Cell:
        n = int(period[5:])
        rows = [self.cells[(kpi, c, period)] for c in self.cities]
        fig = [r for r in rows if r.extra["has_figure"]]
        complete = sum(r.is_complete for r in rows) == len(self.cities)
        cell = Cell("reported" if complete else ("partial" if fig else "missing"))
        cell.is_complete = complete
        cell.cities_reported = len(fig)
        cell.cities_combined = sum(r.report_status == "combined" for r in rows)
        cell.is_combined_jan_feb = any(r.is_combined_jan_feb for r in rows)
        if not fig:
            return cell
        if kpi in RATIOS:
            num, den = sum(r.numerator for r in fig), sum(r.denominator for r in fig)
            factor = 1 if kpi == "tax_per_mu" else 100
            cell.value_ytd = factor * num / den if den else None
        elif kpi in DISTINCT:  # distinct over every trade file of months 1..N, all cities
            parts = [f for (c, p), f in self._trade.items() if p[:4] == period[:4] and int(p[5:]) <= n]
            cell.value_ytd = float(pd.concat(parts)["enterprise"].nunique())
        else:
            cell.value_ytd = sum(r.value_ytd for r in fig)
        if kpi not in RATIOS and all(r.value_month is not None for r in fig):
            if kpi in DISTINCT:
                parts = [f for (c, p), f in self._trade.items() if p == period]
                cell.value_month = float(pd.concat(parts)["enterprise"].nunique())
            else:
                cell.value_month = sum(r.value_month for r in fig)
        return cell

    def _compare(self, kpi: str, city: str, period: str, cell: Cell) -> None:
        y = int(period[:4])
        last = self.cells.get((kpi, city, _period(y - 1, int(period[5:]))))
        cell.value_ytd_last_year = last.value_ytd if last else None
        if not cell.is_complete:
            cell.yoy_basis = "incomplete_this_year"
        elif last is None:
            cell.yoy_basis = "no_last_year"
        elif last.report_status == "combined" or (not last.is_complete and last.cities_combined > 0):
            cell.yoy_basis = "combined_last_year"
        elif not last.is_complete:
            cell.yoy_basis = "incomplete_last_year"
        else:
            cell.yoy_basis = "complete"
        if cell.yoy_basis == "complete" and cell.value_ytd is not None and last.value_ytd is not None:
            if last.value_ytd != 0:
                cell.yoy_pct = 100 * (cell.value_ytd - last.value_ytd) / abs(last.value_ytd)
            if kpi in PERCENT:
                cell.yoy_pp = cell.value_ytd - last.value_ytd

