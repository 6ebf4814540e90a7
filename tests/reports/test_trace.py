"""溯源 (openecon trace, marts.kpi_contributions): a figure down to its files and their rows.

Expectations come from the input files themselves (pandas over the CSVs: tests.dbt.kpi_oracle),
never from the marts being traced.
"""

from __future__ import annotations

import csv
from decimal import Decimal

import psycopg
import pytest

from flows import transform
from ingestion.load import ingest_paths
from openecon.cli import main
from reports.trace import trace, write_rows
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
        assert f["file_rows"] == len(frame) and f["receipt"].exists()
    assert "Σ" in t["formula_zh"] and str(t["cell"]["value_ytd"]) in t["formula_zh"]
    n, total = write_rows(wh["conn"], t, tmp_path / "rows.csv")
    rows = rows_of(tmp_path / "rows.csv")
    assert n == len(rows) == sum(len(read_trade_csv(p)) for p in inputs)
    assert float(sum(Decimal(r["值 value"]) for r in rows)) / 1e8 == pytest.approx(expected, abs=1e-6)
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
    n, total = write_rows(wh["conn"], t, tmp_path / "rows.csv")
    rows = rows_of(tmp_path / "rows.csv")
    assert {r["进出口 direction"] for r in rows} == {"出口"}  # the KPI's filter, applied to the rows
    exports = sum(int((read_trade_csv(p).direction == "出口").sum()) for c in oracle.cities
                  for p in trade_files(wh["sample"], c, PERIOD))
    assert n == exports
    assert float(total) / 1e8 == pytest.approx(float(t["cell"]["value_ytd"]), abs=1e-5)


def test_the_cli_prints_the_trace_and_writes_the_rows(wh, tmp_path, capsys):
    assert main(["trace", "--kpi", "imports", "--city", CITY, "--period", PERIOD,
                 "--rows", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    figure = wh["oracle"].cells[("imports", CITY, PERIOD)].value_ytd
    assert f"{figure:.6f}" in out and "定义 definition" in out and "公式 formula" in out
    assert all(p.name in out for p in trade_files(wh["sample"], CITY, PERIOD))
    assert (tmp_path / "r.csv").exists()
    assert main(["trace", "--kpi", "signed_projects", "--city", CITY, "--period", PERIOD]) == 2  # not traced yet


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
