"""溯源 (openecon trace, marts.kpi_contributions): a figure down to its files and their rows.

Expectations come from the input files themselves (pandas over the CSVs: tests.dbt.kpi_oracle),
never from the marts being traced.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import psycopg
import pytest

from core import reference
from flows import transform
from ingestion.contract import PARKS, PROJECTS
from ingestion.load import ingest_paths
from openecon.cli import main
from reports.trace import TRACED, text, trace, write_rows
from samples.generate import generate
from tests.dbt.kpi_oracle import Oracle, read_trade_csv
from tests.workbooks import corrected_trade_csv

CITY, PERIOD = "430100", "2025-03"


@pytest.fixture(scope="module")
def wh(pg, settings, tmp_path_factory):
    from tests.conftest import build_warehouse

    out = tmp_path_factory.mktemp("trace_sample")
    generate(out, "2024-12", PERIOD, scale=0.02)
    build_warehouse(settings, sorted(p for p in out.rglob("*") if p.is_file()))
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        from psycopg.rows import dict_row

        conn.row_factory = dict_row
        yield {"conn": conn, "sample": out, "oracle": Oracle(out)}


def trade_files(folder, city: str, period: str) -> list:
    """The city's trade CSVs of the year up to ``period``, as generated (a combined 1–2月 is one file)."""
    year, month = period[:4], int(period[5:])
    return sorted(p for p in folder.rglob(f"trade_{city}_{year}*.csv") if int(p.stem[-2:]) <= month)


def rows_of(path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_a_city_figure_is_its_files_and_the_rows_sum_to_it(wh, settings, tmp_path):
    expected = wh["oracle"].cells[("trade_total", CITY, PERIOD)].value_ytd
    t = trace(wh["conn"], settings, "trade_total", CITY, PERIOD)
    assert float(t["cell"]["value_ytd"]) == pytest.approx(expected, abs=1e-6)
    inputs = trade_files(wh["sample"], CITY, PERIOD)
    assert [f["file_name"] for f in t["files"]] == [p.name for p in inputs]
    for f, path in zip(t["files"], inputs):  # each file's partial sum is the file's own total
        frame = read_trade_csv(path)
        assert Decimal(f["value_cny"]) == Decimal(str(round(frame.cny.sum(), 2)))
        assert f["file_rows"] == len(frame) and f["rows_used"] == len(frame) and f["receipt"].exists()
    assert "Σ" in t["formula_zh"] and str(t["cell"]["value_ytd"]) in t["formula_zh"]
    n, figure = write_rows(wh["conn"], t, tmp_path / "rows.csv")
    rows = rows_of(tmp_path / "rows.csv")
    assert n == len(rows) == sum(len(read_trade_csv(p)) for p in inputs)
    assert float(sum(Decimal(r["值 value"]) for r in rows)) / 1e8 == pytest.approx(expected, abs=1e-6)
    assert figure == t["cell"]["value_ytd"]  # the rows reproduce the figure, at the mart's rounding
    assert len({(r["文件编号 file_id"], r["行号 row"]) for r in rows}) == n  # every row once
    assert {r["列 column"] for r in rows} == {"金额（人民币元）"}


def test_a_province_figure_lists_its_cities_then_every_file_and_row(wh, settings, tmp_path):
    oracle = wh["oracle"]
    t = trace(wh["conn"], settings, "exports", "430000", PERIOD)
    cities = {c["city_code"]: float(c["value_ytd"]) for c in t["cities"]}
    assert cities == pytest.approx({c: oracle.cells[("exports", c, PERIOD)].value_ytd for c in oracle.cities},
                                   abs=1e-6)
    assert float(t["cell"]["value_ytd"]) == pytest.approx(sum(cities.values()), abs=1e-5)
    assert {f["city_code"] for f in t["files"]} == set(oracle.cities)
    # each file counts its export rows only
    used = {f["file_name"]: f["rows_used"] for f in t["files"]}
    assert used == {p.name: int((read_trade_csv(p).direction == "出口").sum())
                    for c in oracle.cities for p in trade_files(wh["sample"], c, PERIOD)}
    n, figure = write_rows(wh["conn"], t, tmp_path / "rows.csv")
    rows = rows_of(tmp_path / "rows.csv")
    assert {r["进出口 direction"] for r in rows} == {"出口"}  # the KPI's filter, applied to the rows
    exports = sum(int((read_trade_csv(p).direction == "出口").sum()) for c in oracle.cities
                  for p in trade_files(wh["sample"], c, PERIOD))
    assert n == exports
    total = float(sum(Decimal(r["值 value"]) for r in rows))
    assert total / 1e8 == pytest.approx(float(t["cell"]["value_ytd"]), abs=1e-5)
    assert figure == t["cell"]["value_ytd"]


def test_the_cli_prints_the_trace_and_writes_the_rows(wh, tmp_path, capsys):
    assert main(["trace", "--kpi", "imports", "--city", CITY, "--period", PERIOD,
                 "--rows", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    figure = wh["oracle"].cells[("imports", CITY, PERIOD)].value_ytd
    assert f"{figure:.6f}" in out and "定义 definition" in out and "公式 formula" in out
    assert all(p.name in out for p in trade_files(wh["sample"], CITY, PERIOD))
    assert (tmp_path / "r.csv").exists()
    assert main(["trace", "--kpi", "no_such_kpi", "--city", CITY, "--period", PERIOD]) == 2


# ---------------------------------------------------------------- every KPI (issue 16, items 2 and 3)
YEAR, MONTH = int(PERIOD[:4]), int(PERIOD[5:])


def traced_rows(wh, settings, tmp_path, kpi: str, city: str = CITY, period: str = PERIOD):
    """The trace of a figure, the figure its rows reproduce and the rows written."""
    t = trace(wh["conn"], settings, kpi, city, period)
    path = tmp_path / f"{kpi}_{city}.csv"
    n, figure = write_rows(wh["conn"], t, path)
    rows = rows_of(path)
    assert n == len(rows)
    return t, figure, rows


def workbook(city: str, period: str) -> str:
    return f"{city}_{period.replace('-', '')}.xlsx"


def header(sheet, name: str) -> str:
    return sheet.column(name).header


def test_a_project_flow_is_its_ledger_and_the_rows_of_the_projects_signed(wh, settings, tmp_path):
    oracle = wh["oracle"]
    window = oracle.window(CITY, YEAR, MONTH)  # the ledger's projects signed since 1 January, from the file
    t, figure, rows = traced_rows(wh, settings, tmp_path, "signed_investment")
    assert float(t["cell"]["value_ytd"]) == pytest.approx(oracle.cells[("signed_investment", CITY, PERIOD)].value_ytd,
                                                          abs=1e-4)  # 美元 rows are rounded to 10⁻⁶ 亿元 each
    [f] = t["files"]
    assert (f["file_name"], f["sheet"], f["part"], f["rows_used"]) == (workbook(CITY, PERIOD), "项目台账", "value",
                                                                       len(window))
    assert f["receipt"].exists()
    assert {(int(r["行号 row"]), r["编号 key"]) for r in rows} == set(zip(window["row_number"], window["project_id"]))
    assert {r["列 column"] for r in rows} == {header(PROJECTS, "contract_amount")}
    as_submitted = dict(zip(window["project_id"], window["contract_amount"]))
    assert all(float(r["值 value"]) == pytest.approx(as_submitted[r["编号 key"]]) for r in rows)
    assert {r["汇率 fx_rate"] != "" for r in rows if r["编号 key"] in
            set(window.loc[window["currency"] == "美元", "project_id"])} <= {True}
    assert sum(Decimal(r["计入值 contribution"]) for r in rows) == figure == t["cell"]["value_ytd"]
    assert "Σ" in t["formula_zh"] and str(t["cell"]["value_ytd"]) in t["formula_zh"]

    t, figure, rows = traced_rows(wh, settings, tmp_path, "signed_projects")
    assert figure == t["cell"]["value_ytd"] == len(window) == len(rows)
    assert {r["列 column"] for r in rows} == {header(PROJECTS, "signed_date")}


def test_a_ratio_is_its_numerator_rows_over_its_denominator_rows(wh, settings, tmp_path):
    oracle = wh["oracle"]
    window = oracle.window(CITY, YEAR, MONTH)
    cell = oracle.cells[("performance_rate", CITY, PERIOD)]
    t, figure, rows = traced_rows(wh, settings, tmp_path, "performance_rate")
    assert (t["parts"]["numerator"], t["parts"]["denominator"]) == (cell.numerator, cell.denominator)
    performed = window[window["stage"].isin(["注册", "开工", "投产"])]
    numerator = [r for r in rows if r["部分 part"] == "numerator"]
    denominator = [r for r in rows if r["部分 part"] == "denominator"]
    assert {r["编号 key"] for r in numerator} == set(performed["project_id"])
    assert {r["值 value"] for r in numerator} <= {"注册", "开工", "投产"}  # the 项目阶段 cell that makes it count
    assert {r["编号 key"] for r in denominator} == set(window["project_id"])  # 终止 too: denominator only
    assert float(figure) == pytest.approx(float(t["cell"]["value_ytd"]), rel=1e-12)
    assert float(t["cell"]["value_ytd"]) == pytest.approx(cell.value_ytd, rel=1e-9)

    cell = oracle.cells[("funds_rate", CITY, PERIOD)]
    t, figure, rows = traced_rows(wh, settings, tmp_path, "funds_rate")
    assert float(t["parts"]["numerator"]) == pytest.approx(cell.numerator, abs=1e-4)
    assert float(t["parts"]["denominator"]) == pytest.approx(cell.denominator, abs=1e-4)
    assert {r["列 column"] for r in rows if r["部分 part"] == "numerator"} == {header(PROJECTS, "paid_in_cumulative")}
    assert {r["列 column"] for r in rows if r["部分 part"] == "denominator"} == {header(PROJECTS, "contract_amount")}
    for part in ("numerator", "denominator"):
        assert sum(Decimal(r["计入值 contribution"]) for r in rows if r["部分 part"] == part) == t["parts"][part]
    assert float(figure) == pytest.approx(float(t["cell"]["value_ytd"]), rel=1e-12)
    assert "100 ×" in t["formula_zh"] and str(t["cell"]["value_ytd"]) in t["formula_zh"]


def test_a_province_ratio_is_recomputed_from_the_cities_parts(wh, settings, tmp_path):
    oracle = wh["oracle"]
    t, figure, rows = traced_rows(wh, settings, tmp_path, "funds_rate", "430000")
    assert float(t["cell"]["value_ytd"]) == pytest.approx(oracle.cells[("funds_rate", "430000", PERIOD)].value_ytd,
                                                          rel=1e-6)
    num = sum(oracle.cells[("funds_rate", c, PERIOD)].numerator for c in oracle.cities)
    assert float(t["parts"]["numerator"]) == pytest.approx(num, abs=1e-3)
    with_figure = {c for c in oracle.cities if oracle.cells[("funds_rate", c, PERIOD)].value_ytd is not None}
    assert {c["city_code"] for c in t["cities"]} == with_figure  # 0 / 0: no figure, adds nothing to the sums
    assert float(figure) == pytest.approx(float(t["cell"]["value_ytd"]), rel=1e-12)


def test_park_kpis_are_the_rows_of_the_parks_sheet(wh, settings, tmp_path):
    parks = wh["oracle"].parks(CITY, PERIOD)
    t, figure, rows = traced_rows(wh, settings, tmp_path, "park_enterprises")
    [f] = t["files"]
    assert (f["file_name"], f["sheet"], f["rows_used"]) == (workbook(CITY, PERIOD), "园区情况", len(parks))
    assert {(int(r["行号 row"]), r["编号 key"]) for r in rows} == set(zip(parks["row_number"], parks["park_code"]))
    assert {r["列 column"] for r in rows} == {header(PARKS, "enterprises")}
    assert figure == t["cell"]["value_ytd"] == int(parks["enterprises"].sum())

    t, figure, rows = traced_rows(wh, settings, tmp_path, "factory_occupancy")
    assert float(t["parts"]["numerator"]) == pytest.approx(parks["factory_used_10k_m2"].sum())
    assert float(t["parts"]["denominator"]) == pytest.approx(parks["factory_built_10k_m2"].sum())
    assert {r["列 column"] for r in rows} == {header(PARKS, "factory_used_10k_m2"),
                                              header(PARKS, "factory_built_10k_m2")}
    assert len(rows) == 2 * len(parks)
    assert float(figure) == pytest.approx(wh["oracle"].cells[("factory_occupancy", CITY, PERIOD)].value_ytd, rel=1e-9)


def test_fdi_is_the_usd_rows_of_the_ledger_less_last_december(wh, settings, tmp_path):
    oracle = wh["oracle"]
    expected = oracle.cells[("fdi_actual", CITY, PERIOD)].value_ytd
    december = f"{YEAR - 1}-12"
    t, figure, rows = traced_rows(wh, settings, tmp_path, "fdi_actual")
    assert float(t["cell"]["value_ytd"]) == pytest.approx(expected, abs=1e-6) and t["definition"]["unit"] == "亿美元"
    assert {(f["file_name"], f["term"]) for f in t["files"]} == {(workbook(CITY, december), "december_base"),
                                                                 (workbook(CITY, PERIOD), "paid_in")}
    ledger, dec = oracle.ledger(CITY, PERIOD), oracle.ledger(CITY, december)
    usd = ledger[ledger["currency"] == "美元"]
    paid = [r for r in rows if r["构成项 term"] == "paid_in"]
    base = [r for r in rows if r["构成项 term"] == "december_base"]
    assert {r["编号 key"] for r in paid} == set(usd["project_id"])
    assert {r["编号 key"] for r in base} == set(usd["project_id"]) & set(dec["project_id"])
    assert {r["文件名 file"] for r in base} == {workbook(CITY, december)}
    assert float(sum(Decimal(r["值 value"]) for r in paid)) == pytest.approx(usd["paid_in_cumulative"].sum())
    assert all(Decimal(r["计入值 contribution"]) <= 0 for r in base)
    assert figure == t["cell"]["value_ytd"]


def test_trade_dependence_is_the_trade_files_over_the_gdp_seed(wh, settings, tmp_path):
    cell = wh["oracle"].cells[("trade_dependence", CITY, PERIOD)]
    t, figure, rows = traced_rows(wh, settings, tmp_path, "trade_dependence")
    [seed] = [f for f in t["files"] if f["source_kind"] == "seed"]
    assert (seed["file_name"], seed["part"], seed["source_period"]) == ("city_gdp.csv", "denominator", str(YEAR))
    assert float(seed["value"]) == pytest.approx(cell.denominator)
    trade = [f for f in t["files"] if f["source_kind"] == "trade"]
    assert [f["file_name"] for f in trade] == [p.name for p in trade_files(wh["sample"], CITY, PERIOD)]
    assert float(t["parts"]["numerator"]) == pytest.approx(cell.numerator, abs=1e-6)
    [gdp] = [r for r in rows if r["部分 part"] == "denominator"]
    assert gdp["文件名 file"] == "city_gdp.csv"
    assert float(gdp["值 value"]) * MONTH / 12 == pytest.approx(cell.denominator)
    assert len(rows) - 1 == sum(len(read_trade_csv(p)) for p in trade_files(wh["sample"], CITY, PERIOD))
    assert float(figure) == pytest.approx(cell.value_ytd, rel=1e-9)
    assert float(figure) == pytest.approx(float(t["cell"]["value_ytd"]), rel=1e-12)


def test_trade_enterprises_are_the_distinct_enterprises_first_seen_in_each_file(wh, settings, tmp_path):
    oracle = wh["oracle"]
    # a city that sent 1–2月 as one February file too, when the sample has one
    combined = [c for c in oracle.cities if oracle.combined_february("trade", c, YEAR)]
    for city in [CITY, *combined[:1]]:
        inputs = trade_files(wh["sample"], city, PERIOD)
        t, figure, rows = traced_rows(wh, settings, tmp_path, "trade_enterprises", city)
        assert [f["file_name"] for f in t["files"]] == [p.name for p in inputs]
        seen: set = set()
        for f, path in zip(t["files"], inputs):  # each file adds the enterprises first seen in it
            new = set(read_trade_csv(path)["enterprise"]) - seen
            assert (f["part"], f["value"]) == ("distinct", len(new))
            seen |= new
        assert {r["企业代码 enterprise"] for r in rows} == seen and len(rows) == len(seen)
        expected = oracle.cells[("trade_enterprises", city, PERIOD)].value_ytd
        assert figure == t["cell"]["value_ytd"] == len(seen) == expected
    t, figure, rows = traced_rows(wh, settings, tmp_path, "trade_enterprises", "430000")
    assert figure == t["cell"]["value_ytd"] == oracle.cells[("trade_enterprises", "430000", PERIOD)].value_ytd


def test_every_kpi_traces_and_its_rows_reproduce_the_figure(wh, settings, tmp_path):
    with open(reference.SEEDS_DIR / "kpi_definitions.csv", encoding="utf-8") as f:
        codes = [r["kpi_code"] for r in csv.DictReader(f)]
    assert sorted(codes) == sorted(TRACED)
    oracle = wh["oracle"]
    for kpi in codes:  # PERIOD is a quarter-end: the quarterly KPIs have figures too
        # a city whose figure is not 0 (at this small scale some count no major project), else CITY
        city = next((c for c in [CITY, *oracle.cities] if oracle.cells[(kpi, c, PERIOD)].value_ytd), CITY)
        expected = oracle.cells[(kpi, city, PERIOD)].value_ytd
        assert expected is not None, kpi
        t, figure, rows = traced_rows(wh, settings, tmp_path, kpi, city)
        value = t["cell"]["value_ytd"]
        assert float(value) == pytest.approx(expected, rel=1e-6, abs=1e-4), kpi
        assert (rows or value == 0) and t["files"] and all(f["receipt"].exists() for f in t["files"]), kpi
        assert float(figure) == pytest.approx(float(value), rel=1e-12, abs=1e-12), kpi
        out = text(t)
        assert str(value) in out and "公式 formula" in out, kpi



def test_the_rows_of_a_trace_stored_as_json(wh, settings, tmp_path):
    """A published figure keeps its trace (definition, cell, files) as JSON: its rows are written from it."""
    for kpi in ("trade_total", "funds_rate", "trade_dependence", "trade_enterprises", "tax_per_mu"):
        t = trace(wh["conn"], settings, kpi, CITY, PERIOD)
        stored = json.loads(json.dumps({k: t[k] for k in ("definition", "cell", "files")}, default=str))
        n, figure = write_rows(wh["conn"], stored, tmp_path / f"{kpi}.csv")
        assert (n, figure) == write_rows(wh["conn"], t, tmp_path / f"{kpi}_live.csv"), kpi
        assert n and float(figure) == pytest.approx(float(t["cell"]["value_ytd"]), rel=1e-12), kpi

# Last: it supersedes a file of the sample, which the expectations above read as generated.
def test_a_correction_is_traced_to_the_file_in_force(wh, settings, tmp_path):
    """A superseding file for the month: the trace names it, with its own total (1.1× the old)."""
    src = next(wh["sample"].rglob(f"trade_{CITY}_{PERIOD.replace('-', '')}.csv"))
    fixed = tmp_path / src.name
    corrected_trade_csv(src, fixed, 1.1)
    [receipt] = ingest_paths([fixed], settings)
    assert receipt.status == "superseding"
    transform.dbt_build(settings)  # the build's tests include assert_kpi_contributions_reconcile
    t = trace(wh["conn"], settings, "trade_total", CITY, PERIOD)
    last = t["files"][-1]
    assert last["file_id"] == receipt.file_id and last["source_period"] == PERIOD
    assert Decimal(last["value_cny"]) == Decimal(str(round(read_trade_csv(fixed).cny.sum(), 2)))
    others = trade_files(wh["sample"], CITY, PERIOD)[:-1]
    expected = (sum(read_trade_csv(p).cny.sum() for p in others) + read_trade_csv(fixed).cny.sum()) / 1e8
    assert float(t["cell"]["value_ytd"]) == pytest.approx(expected, abs=1e-6)
