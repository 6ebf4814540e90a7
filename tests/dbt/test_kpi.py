"""The KPI table against the statistical conventions officials check it with (SPEC §1, §4)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest

from flows import transform
from ingestion.contract import PROJECTS
from ingestion.load import ingest_paths
from ingestion.returns import return_file
from samples.calendar import COMBINED_JAN_FEB
from samples.generate import generate
from samples.projects import city_projects
from samples.workbooks import workbook_content, write_content
from tests.spec import SPEC_KPI_UNITS
from tests.workbooks import city_workbook, project_row

CITIES = 14


SAMPLE = ("2023-12", "2025-03", 0.03)  # the warehouse the module reads (1–2月 cities included)


@pytest.fixture(scope="module")
def built(sample_warehouse):
    return sample_warehouse


def test_every_spec_kpi_for_every_city_and_the_province(built):
    rows = built.execute("SELECT kpi_code, unit, count(DISTINCT city_code) FROM marts.kpi_city_month "
                         "WHERE period = '2025-03' GROUP BY 1, 2").fetchall()
    assert {k: u for k, u, _ in rows} == SPEC_KPI_UNITS
    assert {n for _, _, n in rows} == {CITIES + 1}


def test_province_ratios_are_recomputed_not_averaged(built):
    want = built.execute("SELECT 100 * sum(factory_used_10k_m2) / sum(factory_built_10k_m2) "
                         "FROM marts.fct_park_month WHERE period = '2025-03'").fetchone()[0]
    got = built.execute("SELECT value_ytd FROM marts.kpi_city_month WHERE kpi_code = 'factory_occupancy' "
                        "AND city_code = '430000' AND period = '2025-03'").fetchone()[0]
    assert got == pytest.approx(want, abs=1e-6)


def test_december_ytd_equals_the_year(built):
    year = dict(built.execute("SELECT city_code, sum(amount_cny) / 1e8 FROM marts.fct_trade_month "
                              "WHERE period LIKE '2024-%' GROUP BY 1").fetchall())
    dec = dict(built.execute("SELECT city_code, value_ytd FROM marts.kpi_city_month WHERE kpi_code = 'trade_total' "
                             "AND period = '2024-12' AND city_code <> '430000'").fetchall())
    assert len(dec) == CITIES
    for city, value in dec.items():
        assert float(value) == pytest.approx(float(year[city]), abs=1e-5)
    total = built.execute("SELECT value_ytd FROM marts.kpi_city_month WHERE kpi_code = 'trade_total' "
                          "AND period = '2024-12' AND city_code = '430000'").fetchone()[0]
    assert 4000 < total < 7500  # the province's goods trade: some 5–6 thousand 亿元 a year


def test_trade_cells_match_a_pandas_group_by_of_the_files(built):
    """fct_trade_month against the city-month's trade CSV as archived: per cell (direction ×
    trade mode × partner × HS chapter) the sums, the detail rows and the distinct enterprises."""
    import pandas as pd

    from ingestion.contract import TRADE

    header = {c.name: c.header for c in TRADE.columns}
    files = built.execute(
        "SELECT archive_path, file_id, city_code, period FROM audit.submissions WHERE period = '2025-03' "
        "AND kind = 'trade' AND status = 'accepted' AND superseded_at IS NULL").fetchall()
    assert len(files) >= 10
    cells = shared = 0
    for path, file_id, city, period in files:
        raw = Path(path).read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gbk")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        frame = frame.assign(hs_chapter=frame[header["hs_code"]].str[:2],
                             cny=pd.to_numeric(frame[header["amount_cny"]]))
        keys = [header["direction"], header["trade_mode"], header["partner_country"], "hs_chapter"]
        want = frame.groupby(keys).agg(cny=("cny", "sum"), rows=("cny", "size"),
                                       enterprises=(header["enterprise_code"], "nunique"))
        got = pd.DataFrame(built.execute(
            "SELECT direction, trade_mode, partner_country, hs_chapter, amount_cny::float8, detail_rows, enterprises "
            "FROM marts.fct_trade_month WHERE city_code = %s AND period = %s AND source_file_id = %s",
            [city, period, file_id]).fetchall(), columns=[*keys, "cny", "rows", "enterprises"]).set_index(keys)
        cells, shared = cells + len(want), shared + int((want["enterprises"] > 1).sum())
        assert sorted(got.index) == sorted(want.index)
        got = got.loc[want.index]
        assert (got["rows"].to_numpy() == want["rows"].to_numpy()).all()
        assert (got["enterprises"].to_numpy() == want["enterprises"].to_numpy()).all()
        assert got["cny"].to_numpy() == pytest.approx(want["cny"].to_numpy(), rel=1e-9)
    assert cells > 200 and shared > 20  # many cells, and many with several enterprises to count once each


# The province against independent figures (province totals, Σ当月 and YTD, 同比 for complete and
# incomplete periods) is tests/dbt/test_kpi_grid.py, an oracle over the accepted files.


def test_combined_jan_feb_city_has_a_combined_january_and_a_null_month(built):
    city = sorted(COMBINED_JAN_FEB)[0]
    january = built.execute("SELECT DISTINCT report_status, value_ytd, value_month, is_combined_jan_feb "
                            "FROM marts.kpi_city_month WHERE city_code = %s AND period = '2025-01'",
                            [city]).fetchall()
    assert january == [("combined", None, None, True)]  # a row for every KPI, no January invented
    feb = built.execute("""SELECT value_month, value_ytd, value_ytd_last_year, yoy_pct, is_combined_jan_feb,
                                  time_progress_pct
                           FROM marts.kpi_city_month WHERE kpi_code = 'trade_total' AND city_code = %s
                             AND period = '2025-02'""", [city]).fetchone()
    month, ytd, last_year, yoy, combined, time_progress = feb
    assert month is None and combined is True and time_progress == Decimal("16.67")
    raw_total = built.execute("""SELECT sum(t.amount_cny) / 1e8 FROM raw.trade t
                                 JOIN audit.submissions s ON s.file_id = t.file_id
                                 WHERE s.city_code = %s AND s.period = '2025-02' AND s.kind = 'trade'""",
                              [city]).fetchone()[0]
    assert float(ytd) == pytest.approx(float(raw_total), abs=1e-5)  # both months, from the 02 file
    assert float(yoy) == pytest.approx(100 * (float(ytd) - float(last_year)) / float(last_year), abs=1e-6)
    # The province's 02 has no 当月 either when a city reported 1–2月 together.
    prov = built.execute("SELECT value_month, is_combined_jan_feb FROM marts.kpi_city_month WHERE kpi_code = "
                         "'trade_total' AND city_code = '430000' AND period = '2025-02'").fetchone()
    assert prov == (None, True)


def test_distinct_enterprises_are_not_summed(built):
    prov, cities_sum = built.execute("""
        SELECT max(value_ytd) FILTER (WHERE city_code = '430000'), sum(value_ytd) FILTER (WHERE city_code <> '430000')
        FROM marts.kpi_city_month WHERE kpi_code = 'trade_enterprises' AND period = '2024-12'""").fetchone()
    distinct = built.execute("SELECT count(DISTINCT enterprise_code) FROM marts.fct_trade_enterprise_month "
                             "WHERE period LIKE '2024-%'").fetchone()[0]
    assert prov == distinct and prov <= cities_sum


def test_ranks_targets_and_time_progress(built):
    rows = built.execute("SELECT city_code, value_ytd, rank_in_province, annual_target, target_progress_pct, "
                         "time_progress_pct FROM marts.kpi_city_month WHERE kpi_code = 'trade_total' "
                         "AND period = '2024-09' ORDER BY rank_in_province").fetchall()
    cities = [r for r in rows if r[0] != "430000"]
    assert [r[2] for r in cities] == list(range(1, CITIES + 1))
    assert cities[0][0] == "430100"  # Changsha leads
    assert [r[1] for r in cities] == sorted((r[1] for r in cities), reverse=True)
    for _, value, _, target, progress, time_progress in rows:
        assert time_progress == Decimal("75.00")
        if target:
            assert float(progress) == pytest.approx(100 * float(value) / float(target), abs=1e-6)
    assert next(r for r in rows if r[0] == "430000")[2] is None


def test_published_case_four_rates(pg, warehouse, settings, tmp_path):
    """247 signed, 244 履约, 222 开工, 370亿元 paid in of 1077亿元 → 98.8%, 89.9%, 34.4%."""
    city = "430100"
    rows = []
    for i in range(247):
        stage = "签约" if i < 3 else ("注册" if i < 25 else "开工")
        rows.append(project_row(
            city, i + 1, stage=stage,
            contract_amount=44400.0 if i == 246 else 43600.0,  # Σ = 10,770,000 万元 = 1077 亿元
            paid_in_cumulative=10000.0 if i == 246 else 15000.0,  # Σ = 3,700,000 万元 = 370 亿元
            signed_date=dt.date(2025, 2, 1),
            registered_date=None if stage == "签约" else dt.date(2025, 3, 1),
            started_date=dt.date(2025, 5, 1) if stage == "开工" else None,
        ))
    r = ingest_paths([city_workbook(tmp_path, city, "2025-09", projects=rows)], settings)[0]
    assert r.status == "accepted", r.text()
    transform.dbt_build(settings)
    got = dict(warehouse.execute(
        "SELECT kpi_code, round(value_ytd, 1) FROM marts.kpi_city_month WHERE city_code = %s AND period = '2025-09' "
        "AND kpi_code IN ('signed_projects', 'performance_rate', 'start_rate', 'funds_rate', 'signed_investment')",
        [city]).fetchall())
    assert got == {"signed_projects": Decimal("247.0"), "performance_rate": Decimal("98.8"),
                   "start_rate": Decimal("89.9"), "funds_rate": Decimal("34.4"),
                   "signed_investment": Decimal("1077.0")}


def test_full_refresh_equals_incremental_path(pg, warehouse, settings, tmp_path):
    """Months built one by one, one of them late, then corrections and returns: the incremental
    models (trade facts by file, project history and contributions by ledger) equal a full refresh."""
    out = tmp_path / "s"
    generate(out, "2024-12", "2025-04", scale=0.02, cities=["430100", "430200", "430800"])
    by_period = lambda p: [f for f in sorted(out.rglob("*")) if f.is_file() and p in f.name]  # noqa: E731
    # February comes after April was built; December is the base of the year's funds paid in
    for periods in (("202412", "202501", "202503"), ("202504",), ("202502",)):
        assert all(r.ok for r in ingest_paths([f for p in periods for f in by_period(p)], settings))
        transform.dbt_build(settings)
    # A corrected trade file for February supersedes the one already built.
    src = out / "430200" / "trade_430200_202502.csv"
    fixed = tmp_path / "fix" / src.name
    fixed.parent.mkdir()
    lines = src.read_text(encoding="utf-8-sig").splitlines()
    fixed.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8-sig")  # one row withdrawn
    assert ingest_paths([fixed], settings)[0].status == "superseding"
    # And a corrected March ledger of 430100: one project withdrawn, one paid-in revised.
    content = workbook_content("430100", "2025-03", 42, 0.02, city_projects("430100", 42, 0.02, "2025-04"))
    rows = content.sheets[PROJECTS.name]
    withdrawn = rows.pop(0)["project_id"]
    rows[0]["paid_in_cumulative"] = float(rows[0]["paid_in_cumulative"] or 0) + 123
    ledger = write_content(tmp_path / "fix" / "430100_202503.xlsx", content)
    assert ingest_paths([ledger], settings)[0].status == "superseding"
    # And a corrected December ledger of 430200 (the base of 2025's funds): one paid-in revised.
    content = workbook_content("430200", "2024-12", 42, 0.02, city_projects("430200", 42, 0.02, "2025-04"))
    rows = content.sheets[PROJECTS.name]
    rows[0]["paid_in_cumulative"] = float(rows[0]["paid_in_cumulative"] or 0) + 77
    ledger = write_content(tmp_path / "fix" / "430200_202412.xlsx", content)
    assert ingest_paths([ledger], settings)[0].status == "superseding"
    transform.dbt_build(settings)
    # The province returns (退回) 430800's March trade file and 430100's January ledger: both stop counting,
    # and the months they fed are rebuilt without them (the ledgers after January follow December).
    for name in ("trade_430800_202503.csv", "430100_202501.xlsx"):
        (file_id,), = warehouse.execute("SELECT file_id FROM audit.submissions_in_force WHERE file_name = %s",
                                        [name]).fetchall()
        receipt = return_file(warehouse, file_id, returned_by="province", reason="数据有误，请核实后重报",
                              settings=settings)
        assert receipt.returned["reason"] == "数据有误，请核实后重报"
        with pytest.raises(ValueError, match="已退回"):
            return_file(warehouse, file_id, returned_by="province", reason="again", settings=settings)
    assert ingest_paths([out / "430800" / "trade_430800_202503.csv"], settings)[0].issues[0].rule == \
        "returned_unchanged"
    transform.dbt_build(settings)
    status = dict(warehouse.execute("SELECT kind, status FROM marts.submission_status "
                                    "WHERE (city_code, period, kind) IN (('430800', '2025-03', 'trade'), "
                                    "('430100', '2025-01', 'workbook'))").fetchall())
    assert status == {"trade": "returned", "workbook": "returned"}
    assert warehouse.execute("SELECT count(*) FROM marts.fct_trade_month WHERE city_code = '430800' "
                             "AND period = '2025-03'").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM marts.fct_project_month WHERE city_code = '430100' "
                             "AND period = '2025-01'").fetchone() == (0,)

    # Then a new month for all three cities: dim_project continues the versions it built (its
    # append path) instead of working the cities out again, and still equals a full refresh.
    may = tmp_path / "may"
    generate(may, "2025-05", "2025-05", scale=0.02, cities=["430100", "430200", "430800"])
    assert all(r.ok for r in ingest_paths(sorted(f for f in may.rglob("*") if f.is_file()), settings))
    current_before = dict(warehouse.execute("SELECT project_key, last_seen_period FROM marts.dim_project "
                                            "WHERE is_in_latest_ledger").fetchall())
    transform.dbt_build(settings)
    flipped = warehouse.execute("SELECT count(*) FROM marts.dim_project WHERE project_key = ANY(%s) "
                                "AND NOT is_in_latest_ledger", [list(current_before)]).fetchone()[0]
    assert current_before and flipped > 0  # projects the May ledgers no longer list

    marts = ("fct_trade_month", "fct_trade_enterprise_month", "kpi_city_month", "fct_project_month",
             "dim_project", "monthly_scheduling", "dim_investor", "kpi_contributions")
    tables = [f"marts.{t}" for t in marts] + [f"intermediate.{t}" for t in (
        "int_projects__versioned", "int_kpi__project_window", "int_kpi__project_contributions",
        "int_kpi__trade_city_month", "int_kpi__trade_enterprises")]
    snap = lambda: {t: sorted(map(repr, warehouse.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}  # noqa: E731
    incremental = snap()
    feb = warehouse.execute("SELECT sum(detail_rows) FROM marts.fct_trade_month WHERE city_code = '430200' "
                            "AND period = '2025-02'").fetchone()[0]
    assert feb == len(lines) - 2  # header and the withdrawn row
    assert warehouse.execute("SELECT count(*) FROM marts.fct_project_month WHERE project_id = %s "
                             "AND period = '2025-03'", [withdrawn]).fetchone() == (0,)
    assert all(incremental[t] for t in tables), [t for t in tables if not incremental[t]]
    transform.dbt(["build", "--full-refresh"], settings)
    full = snap()
    assert [t for t in tables if full[t] != incremental[t]] == []
