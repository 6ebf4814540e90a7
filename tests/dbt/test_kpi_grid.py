"""marts.kpi_city_month as a complete grid (issue 12), against an oracle written apart from the
models: pandas over the accepted files (tests/dbt/kpi_oracle.py), never the marts.

One warehouse for the module: the sample of the 14 cities for 2023-12..2025-03, in which the three
1–2月 cities of the sample calendar combine January and February every year, and besides:
- MISSING_CITY sends nothing for the last month (2025-03);
- LAST_YEAR_COMBINED sends nothing for January 2024 (so its February 2024 is a combined 1–2月),
  but reports January 2025 normally;
- TRADE_GAP_CITY sends no trade file for 2024-06 (its workbook comes): its trade YTD from June on
  misses a month;
- PROJECT_CITY's ledgers from 2024-12 on have a project signed in 2024 at 投产 and one at 终止 (the
  sample at this scale has neither in a window), beside its 美元 projects.
"""

from __future__ import annotations

import datetime as dt
import math

import psycopg
import pytest

from flows import quality
from ingestion.contract import PROJECTS
from samples.calendar import COMBINED_JAN_FEB
from samples.generate import generate
from samples.projects import city_projects
from samples.workbooks import city_file, workbook_content, write_content
from tests.dbt.kpi_oracle import PERCENT, PROVINCE, RATIOS, Oracle, _period

FIRST, LAST, SCALE = "2023-12", "2025-03", 0.02
MISSING_CITY = "430300"  # 湘潭市: nothing for 2025-03
LAST_YEAR_COMBINED = "430200"  # 株洲市: nothing for 2024-01
TRADE_GAP_CITY = "430500"  # 邵阳市: no trade file for 2024-06
PROJECT_CITY = "430100"  # 长沙市: a 投产 and a 终止 project signed in 2024
CITIES = 14

COLUMNS = ("report_status", "is_combined_jan_feb", "cities_reported", "is_complete", "value_month", "value_ytd",
           "value_ytd_last_year", "yoy_pct", "yoy_pp", "yoy_basis")


def plant_project_stages(out, seed=42) -> tuple[str, str]:
    """PROJECT_CITY's ledgers 2024-12..LAST rewritten with one 2024 project at 投产 (since 2024-12-31)
    and one at 终止; returns their ids."""
    projects = city_projects(PROJECT_CITY, seed, SCALE, LAST)
    rows = workbook_content(PROJECT_CITY, "2024-12", seed, SCALE, projects).sheets[PROJECTS.name]
    window = [r for r in rows if r["signed_date"] and r["signed_date"].year == 2024]
    produced = next(r["project_id"] for r in window if r["stage"] == "开工")
    terminated = next(r["project_id"] for r in window if r["stage"] == "注册")
    for period in ("2024-12", "2025-01", "2025-02", LAST):
        content = workbook_content(PROJECT_CITY, period, seed, SCALE, projects)
        for r in content.sheets[PROJECTS.name]:
            if r["project_id"] == produced:
                r["stage"], r["production_date"] = "投产", dt.date(2024, 12, 31)
            elif r["project_id"] == terminated:
                r["stage"] = "终止"
        write_content(out / city_file(PROJECT_CITY, period, "workbook"), content)
    return produced, terminated


@pytest.fixture(scope="module")
def grid(pg, settings, tmp_path_factory):
    from tests.conftest import build_warehouse

    out = tmp_path_factory.mktemp("kpi_grid")
    generate(out, FIRST, LAST, scale=SCALE)
    for pattern in (f"{MISSING_CITY}/*202503*", f"{LAST_YEAR_COMBINED}/*202401*",
                    f"{TRADE_GAP_CITY}/trade_{TRADE_GAP_CITY}_202406.csv"):
        gone = list(out.glob(pattern))
        assert gone, pattern
        for f in gone:
            f.unlink()
    plant_project_stages(out)
    build_warehouse(settings, sorted(out.iterdir()))
    oracle = Oracle(out)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        cur = conn.execute(f"SELECT kpi_code, city_code, period, {', '.join(COLUMNS)} FROM marts.kpi_city_month")
        mart = {(r[0], r[1], r[2]): dict(zip(COLUMNS, r[3:])) for r in cur.fetchall()}
        yield {"conn": conn, "oracle": oracle, "mart": mart, "settings": settings}


def close(got, want, rel=1e-6, abs_tol=1e-4) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(float(got), float(want), rel_tol=rel, abs_tol=abs_tol)


def row(grid, kpi, city, period):
    return grid["mart"][(kpi, city, period)], grid["oracle"].cells[(kpi, city, period)]


def test_the_grid_has_a_row_and_a_status_for_every_cell(grid):
    mart, cells = grid["mart"], grid["oracle"].cells
    assert set(mart) == set(cells)  # every KPI × (14 cities + province) × period with data, nothing else
    wrong = [(k, m["report_status"], cells[k].report_status) for k, m in mart.items()
             if m["report_status"] != cells[k].report_status
             or m["is_combined_jan_feb"] != cells[k].is_combined_jan_feb]
    assert wrong == []
    statuses = {(k[1] == PROVINCE, m["report_status"]) for k, m in mart.items()}
    # (the province's funds of 2023-12 are missing: no city has a December 2022 ledger to measure from)
    assert statuses == {(False, "reported"), (False, "combined"), (False, "missing"),
                        (True, "reported"), (True, "partial"), (True, "missing")}
    # a row not reported has null values, never zero
    for k, m in mart.items():
        if m["report_status"] in ("missing", "combined"):
            assert (m["value_ytd"], m["value_month"], m["yoy_pct"], m["yoy_pp"]) == (None, None, None, None), k
    # the combined 1–2月 cities have a January row now: combined, no values
    for city in COMBINED_JAN_FEB:
        jan, _ = row(grid, "trade_total", city, "2025-01")
        assert (jan["report_status"], jan["is_combined_jan_feb"], jan["value_ytd"]) == ("combined", True, None)


def test_every_figure_matches_the_oracle(grid):
    mart, cells = grid["mart"], grid["oracle"].cells
    compared: dict[tuple[str, bool], int] = {}
    problems = []
    for key, want in cells.items():
        got = mart[key]
        kpi, city, _ = key
        yoy_tol = {"rel": 1e-4, "abs_tol": 0.01}  # 同比 of values rounded to 10⁻⁶ in the mart
        checks = {
            "cities_reported": got["cities_reported"] == want.cities_reported,
            "is_complete": got["is_complete"] == want.is_complete,
            "yoy_basis": got["yoy_basis"] == want.yoy_basis,
            "value_ytd": close(got["value_ytd"], want.value_ytd),
            "value_month": close(got["value_month"], want.value_month),
            "value_ytd_last_year": close(got["value_ytd_last_year"], want.value_ytd_last_year),
            "yoy_pct": close(got["yoy_pct"], want.yoy_pct, **yoy_tol),
            "yoy_pp": close(got["yoy_pp"], want.yoy_pp, **yoy_tol),
        }
        problems += [(key, name, got[name], getattr(want, name)) for name, ok in checks.items() if not ok]
        if want.value_ytd is not None and city == PROVINCE:
            compared[(kpi, want.is_complete)] = compared.get((kpi, want.is_complete), 0) + 1
    assert problems == []
    # province figures of complete and incomplete periods alike, for every KPI
    kpis = {k for k, _, _ in cells}
    assert {k for k, complete in compared if complete} == kpis
    assert {k for k, complete in compared if not complete} == kpis
    yoys = [k for k, m in mart.items() if m["yoy_pct"] is not None]
    assert len(yoys) > 500 and any(k[1] == PROVINCE for k in yoys)
    assert any(mart[k]["yoy_pp"] is not None for k in yoys if k[0] in PERCENT)


def test_province_total_with_a_city_missing(grid):
    cells = grid["oracle"].cells
    for kpi in ("trade_total", "park_enterprises", "signed_projects", "park_above_scale"):
        got, want = row(grid, kpi, PROVINCE, "2025-03")
        reporting = [c for c in grid["oracle"].cities if c != MISSING_CITY]
        assert cells[(kpi, MISSING_CITY, "2025-03")].report_status == "missing"
        assert close(got["value_ytd"], sum(cells[(kpi, c, "2025-03")].value_ytd for c in reporting))
        assert (got["report_status"], got["cities_reported"], got["is_complete"]) == ("partial", CITIES - 1, False)
        assert (got["yoy_pct"], got["yoy_basis"]) == (None, "incomplete_this_year")
        # last year's province row was complete: its value is still shown, the 同比 is not
        last, _ = row(grid, kpi, PROVINCE, "2024-03")
        assert last["is_complete"] and close(got["value_ytd_last_year"], last["value_ytd"])
    # the month before, all 14 came: complete, with a 同比 like for like
    feb, want = row(grid, "trade_total", PROVINCE, "2025-02")
    assert (feb["report_status"], feb["cities_reported"], feb["is_complete"]) == ("reported", CITIES, True)


def test_province_january_and_february_with_combined_cities(grid):
    cells = grid["oracle"].cells
    cities = grid["oracle"].cities
    for kpi in ("trade_total", "park_enterprises", "signed_projects"):
        jan, _ = row(grid, kpi, PROVINCE, "2025-01")
        reporting = [c for c in cities if c not in COMBINED_JAN_FEB]
        # computed over the 11 cities that reported January (BI users may want it), never complete
        assert close(jan["value_ytd"], sum(cells[(kpi, c, "2025-01")].value_ytd for c in reporting))
        assert (jan["report_status"], jan["cities_reported"], jan["is_complete"], jan["is_combined_jan_feb"]) \
            == ("partial", CITIES - len(COMBINED_JAN_FEB), False, True)
        assert jan["yoy_pct"] is None and jan["yoy_basis"] == "incomplete_this_year"
        # February: 1–2月 covered by every city (a January report or a combined February)
        feb, want = row(grid, kpi, PROVINCE, "2025-02")
        assert (feb["report_status"], feb["cities_reported"], feb["is_complete"]) == ("reported", CITIES, True)
        assert close(feb["value_ytd"], sum(cells[(kpi, c, "2025-02")].value_ytd for c in cities))
        assert feb["value_month"] is None and feb["is_combined_jan_feb"]
    feb, want = row(grid, "trade_total", PROVINCE, "2025-02")
    assert feb["yoy_basis"] == "complete" and feb["yoy_pct"] is not None and close(feb["yoy_pct"], want.yoy_pct)
    # the combined cities' February covers 1–2月: complete, compared with last year's 1–2月
    for city in COMBINED_JAN_FEB:
        got, want = row(grid, "trade_total", city, "2025-02")
        assert got["is_combined_jan_feb"] and got["value_month"] is None and got["yoy_basis"] == "complete"
        assert close(got["yoy_pct"], want.yoy_pct, rel=1e-4, abs_tol=0.01)


def test_yoy_is_null_unless_like_for_like(grid):
    mart = grid["mart"]
    # a city that combined 1–2月 last year and reports January this year: no January to compare with
    jan, _ = row(grid, "trade_total", LAST_YEAR_COMBINED, "2025-01")
    assert jan["report_status"] == "reported" and jan["is_complete"]
    assert (jan["value_ytd_last_year"], jan["yoy_pct"], jan["yoy_basis"]) == (None, None, "combined_last_year")
    feb, _ = row(grid, "trade_total", LAST_YEAR_COMBINED, "2025-02")  # 1–2月 with 1–2月
    assert feb["yoy_basis"] == "complete" and feb["yoy_pct"] is not None
    # a trade YTD that misses a month is reported but incomplete, and so is the province
    jul, want = row(grid, "trade_total", TRADE_GAP_CITY, "2024-07")
    assert (jul["report_status"], jul["is_complete"]) == ("reported", False) and want.value_ytd is not None
    assert close(jul["value_ytd"], want.value_ytd) and jul["value_month"] is None
    assert row(grid, "trade_total", TRADE_GAP_CITY, "2024-06")[0]["report_status"] == "missing"
    wb, _ = row(grid, "park_enterprises", TRADE_GAP_CITY, "2024-06")  # its workbook came
    assert (wb["report_status"], wb["is_complete"]) == ("reported", True)
    for period in ("2024-06", "2024-07", "2024-12"):
        prov, _ = row(grid, "trade_total", PROVINCE, period)
        assert prov["report_status"] == "partial" and not prov["is_complete"] and prov["yoy_pct"] is None
    # December 2023 is the first month received: a trade YTD of one month is no 1–12月
    dec, _ = row(grid, "trade_total", "430100", "2024-12")
    assert (dec["is_complete"], dec["yoy_basis"], dec["yoy_pct"]) == (True, "incomplete_last_year", None)
    assert mart[("trade_total", "430100", "2023-12")]["value_ytd"] is not None
    # stocks come from the month's own workbook: December 2023 is complete, so 2024-12 compares
    parks, want = row(grid, "park_enterprises", PROVINCE, "2024-12")
    assert parks["yoy_basis"] == "complete" and close(parks["yoy_pct"], want.yoy_pct, rel=1e-9, abs_tol=1e-9)
    # whatever the basis, a 同比 is there only when it is complete
    assert all(m["yoy_basis"] == "complete" for m in mart.values() if m["yoy_pct"] is not None
               or m["yoy_pp"] is not None)


def _ledger_window(oracle, city, period):
    y, n = int(period[:4]), int(period[5:])
    led = oracle._ledgers[(city, period)]
    end = dt.date(y + n // 12, n % 12 + 1, 1) - dt.timedelta(days=1)
    return led[led["signed_date"].map(lambda d: d is not None and dt.date(y, 1, 1) <= d <= end)]


def test_rates_terminated_project_in_the_denominator_only_and_dollars_converted(grid):
    oracle, mart = grid["oracle"], grid["mart"]
    city, period = PROJECT_CITY, "2024-12"
    w = _ledger_window(oracle, city, period)
    assert {"终止", "投产", "开工", "注册"} <= set(w["stage"]) and {"美元", "人民币"} <= set(w["currency"])
    for kpi, stages in (("production_rate", ["投产"]), ("start_rate", ["开工", "投产"]),
                        ("performance_rate", ["注册", "开工", "投产"])):
        got = float(mart[(kpi, city, period)]["value_ytd"])
        assert got == pytest.approx(100 * w["stage"].isin(stages).sum() / len(w), abs=1e-6)
        # not with the 终止 project left out of the denominator
        assert got != pytest.approx(100 * w["stage"].isin(stages).sum() / (w["stage"] != "终止").sum(), abs=1e-6)
        prov, want = row(grid, kpi, PROVINCE, period)
        assert close(prov["value_ytd"], want.value_ytd) and prov["is_complete"]
    got = float(mart[("funds_rate", city, period)]["value_ytd"])
    assert got == pytest.approx(oracle.cells[("funds_rate", city, period)].value_ytd, abs=1e-4)
    unconverted = 100 * w["paid_in_cumulative"].sum() / w["contract_amount"].sum()
    assert got != pytest.approx(unconverted, abs=1e-3)  # 美元 amounts converted, not added as 万元


def test_quarterly_park_and_ratio_kpis_for_complete_and_incomplete_quarters(grid):
    oracle = grid["oracle"]
    for kpi in ("services_trade", "trade_dependence", "tax_per_mu", "park_above_scale", "factory_occupancy",
                "funds_rate", "production_rate"):
        for period, complete in (("2024-09", True), ("2025-03", False)):
            got, want = row(grid, kpi, PROVINCE, period)
            if kpi == "trade_dependence" and period == "2024-09":
                complete = False  # 邵阳市's trade YTD misses June
            assert got["is_complete"] is complete, (kpi, period)
            assert want.value_ytd is not None and close(got["value_ytd"], want.value_ytd), (kpi, period)
            if kpi in RATIOS:  # recomputed from the reporting cities' numerators and denominators
                cities = [oracle.cells[(kpi, c, period)] for c in oracle.cities]
                nums = [c.numerator for c in cities if c.extra["has_figure"]]
                assert len(nums) == got["cities_reported"]


def test_value_ytd_last_year_is_last_years_row(grid):
    mart = grid["mart"]
    checked = 0
    for (kpi, city, period), m in mart.items():
        last = mart.get((kpi, city, _period(int(period[:4]) - 1, int(period[5:]))))
        want = last["value_ytd"] if last else None
        assert close(m["value_ytd_last_year"], want), (kpi, city, period)
        checked += want is not None
    assert checked > 1000


def test_the_gate_states_missing_data_and_blocks_a_grid_that_misstates_it(grid):
    conn, settings = grid["conn"], grid["settings"]
    gate = quality.quality_gate(settings, triggered_by="pytest")
    assert gate.success, gate.summary()  # a missing city stated honestly does not block...
    [warn] = [f for f in gate.failures if f.expectation == "province_incomplete_latest_period"]
    assert warn.severity == "warning" and all(s["period"] == LAST and s["cities_reported"] == CITIES - 1
                                              for s in warn.sample)
    # ...a grid that misstates it does
    key = "kpi_code = 'trade_total' AND period = '2025-03'"
    conn.execute(f"UPDATE marts.kpi_city_month SET value_ytd = 0 WHERE {key} AND city_code = %s", [MISSING_CITY])
    conn.execute(f"UPDATE marts.kpi_city_month SET is_complete = true, report_status = 'reported' "
                 f"WHERE {key} AND city_code = %s", [PROVINCE])
    try:
        gate = quality.quality_gate(settings, triggered_by="pytest")
        failed = {f.expectation for f in gate.blocking}
        assert {"not_reported_rows_have_no_values", "completeness_agrees_with_statuses"} <= failed, gate.summary()
    finally:
        conn.execute(f"UPDATE marts.kpi_city_month SET value_ytd = null WHERE {key} AND city_code = %s",
                     [MISSING_CITY])
        conn.execute(f"UPDATE marts.kpi_city_month SET is_complete = false, report_status = 'partial' "
                     f"WHERE {key} AND city_code = %s", [PROVINCE])
