"""Project history marts (dim_project SCD2, fct_project_month) on a real Postgres.

The history is derived from the ledgers themselves, so it must not depend on
when or in which order things were loaded or built:

* a rebuild from scratch (marts dropped, ``dbt build --full-refresh``) gives the
  same dim_project rows, file ids included;
* loading and building the later months first and the earlier ones afterwards
  (the incremental models then rebuild from the earliest new ledger on) gives the
  same history as loading them in order (file ids aside: they follow the load order);
* a corrected re-submission (superseding file) that changes one project's stage
  rewrites that project's history, and nobody else's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.transform import dbt, dbt_build
from ingestion.contract import PROJECTS
from ingestion.load import ingest_paths, parse_file_name
from samples.generate import generate
from samples.projects import city_projects
from samples.workbooks import workbook_content, write_content
from tests.conftest import reset_warehouse

FIRST, LAST = "2024-11", "2025-03"
SEED, SCALE = 42, 0.02
# Our models, what they are tested against, and every seed (the warehouse may have been reset);
# only the tests whose every parent is selected.
SELECT = ["--indirect-selection", "cautious", "--select", "resource_type:seed",
          "+dim_project", "+fct_project_month", "+dim_investor",
          "dim_city", "dim_park"]
FILE_COLUMNS = {"first_file_id", "last_file_id", "file_id"}
STAGES = ("在谈", "签约", "注册", "开工", "投产")
STAGE_DATE = {"签约": "signed_date", "注册": "registered_date", "开工": "started_date", "投产": "production_date"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("project-history")
    generate(out, FIRST, LAST, seed=SEED, scale=SCALE)
    return out


def files_of(sample: Path, periods: set[str] | None = None) -> list[Path]:
    files = [p for p in sample.rglob("*") if p.is_file() and parse_file_name(p.name)]
    return sorted(p for p in files if periods is None or parse_file_name(p.name)[2] in periods)


def ingest(paths: list[Path], settings) -> None:
    receipts = ingest_paths(paths, settings)
    assert receipts and all(r.ok for r in receipts), [r.text() for r in receipts if not r.ok]


def build(settings, *extra: str) -> None:
    dbt(["build", *extra, *SELECT], settings)


def table(conn, name: str, key: str, with_files: bool = True) -> list[tuple]:
    cols = [c for (c,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = %s "
        "ORDER BY ordinal_position", [name]).fetchall()]
    assert cols, f"marts.{name} is missing"
    if not with_files:
        cols = [c for c in cols if c not in FILE_COLUMNS]
    return conn.execute(f"SELECT {', '.join(cols)} FROM marts.{name} ORDER BY {key}").fetchall()


def test_history_is_the_same_after_a_rebuild_and_in_any_load_order(warehouse, settings, sample):
    late = {"2025-01", "2025-02", "2025-03"}
    ingest(files_of(sample, late), settings)  # later months first, built ...
    dbt_build(settings)
    ingest(files_of(sample, {FIRST, "2024-12"}), settings)  # ... then the earlier ones (a backfill)
    dbt_build(settings)  # incremental: the history is rebuilt from the earliest new ledger on

    dim = table(warehouse, "dim_project", "project_key")
    projects, versions, changed = warehouse.execute(
        "SELECT count(DISTINCT project_id), count(*), count(*) FILTER (WHERE version_number > 1) "
        "FROM marts.dim_project").fetchone()
    assert projects > 50 and changed > 0, (projects, versions)
    assert warehouse.execute("SELECT count(*) FROM marts.dim_project WHERE is_current").fetchone() == (projects,)
    # A 1–2月 city sends no January ledger: February is compared with December, so
    # every version it starts in February is a real change of stage or attributes.
    fake = warehouse.execute("""
        SELECT count(*) FROM marts.fct_project_month f
        JOIN marts.dim_project d ON d.project_key = f.project_key AND d.valid_from = f.period
        WHERE f.months_since_previous_ledger = 2 AND d.version_number > 1 AND NOT f.stage_changed""").fetchone()
    assert fake == (0,)
    assert warehouse.execute("SELECT count(*) FROM marts.fct_project_month "
                             "WHERE months_since_previous_ledger = 2").fetchone()[0] > 0

    # Rebuild from scratch: identical rows, file ids included.
    warehouse.execute("DROP SCHEMA marts CASCADE")
    warehouse.execute("DROP SCHEMA intermediate CASCADE")
    build(settings, "--full-refresh")
    assert table(warehouse, "dim_project", "project_key") == dim

    # Same files loaded in period order into an empty warehouse: the same history.
    dim_no_files = table(warehouse, "dim_project", "project_key", with_files=False)
    fct_no_files = table(warehouse, "fct_project_month", "project_id, period", with_files=False)
    reset_warehouse(settings)
    ingest(files_of(sample), settings)
    build(settings)
    assert table(warehouse, "dim_project", "project_key", with_files=False) == dim_no_files
    assert table(warehouse, "fct_project_month", "project_id, period", with_files=False) == fct_no_files
    expected = investors_of_ledgers(sample)
    assert len(expected) > 10 and investors(warehouse) == expected


def investors(conn) -> dict:
    rows = conn.execute("SELECT investor, investor_origin, project_count, active_project_count, city_count, "
                        "city_codes, project_ids, last_seen_period FROM marts.dim_investor").fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def investors_of_ledgers(sample: Path) -> dict:
    """dim_investor's counts by pandas from the workbooks: each project once, as its latest ledger lists it."""
    import pandas as pd

    from tests.dbt.kpi_oracle import Oracle

    oracle = Oracle(sample)
    ledgers = pd.concat([oracle.ledger(city, period).assign(city=city, period=period)
                         for kind, city, period in oracle.files if kind == "workbook"])
    latest = ledgers.sort_values("period").groupby("project_id").tail(1)
    out = {}
    for (investor, origin), g in latest.groupby(["investor", "investor_origin"]):
        cities = sorted(set(g.city))
        out[(investor, origin)] = (len(g), int((g.stage != "终止").sum()), len(cities), ",".join(cities),
                                   ",".join(sorted(g.project_id)), g.period.max())
    return out


def test_corrected_resubmission_rewrites_the_projects_history(warehouse, settings, sample, tmp_path):
    ingest(files_of(sample), settings)
    build(settings)

    # A project that moved on a stage in month M and stayed there in the city's next ledger.
    row = warehouse.execute("""
        SELECT f.city_code, f.period, f.project_id, f.previous_stage, f.stage, n.period
        FROM marts.fct_project_month f
        JOIN marts.fct_project_month n
          ON n.project_id = f.project_id AND n.previous_ledger_period = f.period AND n.previous_period = f.period
        WHERE f.stage_changed AND n.stage = f.stage
          AND f.previous_stage IN ('在谈', '签约', '注册', '开工') AND f.stage IN ('签约', '注册', '开工', '投产')
        ORDER BY f.period, f.project_id LIMIT 1""").fetchone()
    assert row, "the sample has no stage change to correct"
    city, period, project_id, old_stage, new_stage, next_period = row
    before = warehouse.execute("SELECT valid_from, valid_to, stage FROM marts.dim_project WHERE project_id = %s "
                               "ORDER BY valid_from", [project_id]).fetchall()
    assert any(v[0] == period and v[2] == new_stage for v in before), before
    others = warehouse.execute("SELECT * FROM marts.dim_project WHERE project_id <> %s ORDER BY project_key",
                               [project_id]).fetchall()
    others_cols = [d.name for d in warehouse.execute("SELECT * FROM marts.dim_project LIMIT 0").description]

    # The city re-sends month M: the project had not reached the new stage after all.
    content = workbook_content(city, period, SEED, SCALE, city_projects(city, SEED, SCALE, LAST))
    [ledger_row] = [r for r in content.sheets[PROJECTS.name] if r["project_id"] == project_id]
    assert ledger_row["stage"] == new_stage
    ledger_row["stage"] = old_stage
    for stage in STAGES[STAGES.index(old_stage) + 1:]:
        ledger_row[STAGE_DATE[stage]] = None
    fixed = write_content(tmp_path / f"{city}_{period.replace('-', '')}.xlsx", content)
    [receipt] = ingest_paths([fixed], settings)
    assert receipt.status == "superseding", receipt.text()
    build(settings)

    after = warehouse.execute("SELECT valid_from, valid_to, stage FROM marts.dim_project WHERE project_id = %s "
                              "ORDER BY valid_from", [project_id]).fetchall()
    # The new stage now starts one ledger later; month M belongs to the old stage's version.
    assert any(v[0] == next_period and v[2] == new_stage for v in after), after
    assert not any(v[0] == period for v in after), after
    [holding] = [v for v in after if v[0] <= period and (v[1] is None or v[1] > period)]
    assert holding[2] == old_stage and holding[1] == next_period
    assert len(after) == len(before)
    fact = warehouse.execute(
        "SELECT period, stage, previous_stage, stage_changed FROM marts.fct_project_month "
        "WHERE project_id = %s AND period IN (%s, %s) ORDER BY period", [project_id, period, next_period]).fetchall()
    assert fact == [(period, old_stage, old_stage, False), (next_period, new_stage, old_stage, True)]
    # Both files stay in raw; the marts read the correction.
    assert warehouse.execute(
        "SELECT count(DISTINCT p.file_id) FROM raw.projects p JOIN audit.submissions s USING (file_id) "
        "WHERE s.city_code = %s AND s.period = %s AND p.project_id = %s", [city, period, project_id]).fetchone() == (2,)
    assert warehouse.execute("SELECT file_id FROM marts.fct_project_month WHERE project_id = %s AND period = %s",
                             [project_id, period]).fetchone() == (receipt.file_id,)

    # Nobody else's history moved (their rows of month M now point to the new file).
    drop = [i for i, c in enumerate(others_cols) if c in FILE_COLUMNS]
    strip = lambda rows: [tuple(v for i, v in enumerate(r) if i not in drop) for r in rows]  # noqa: E731
    now = warehouse.execute("SELECT * FROM marts.dim_project WHERE project_id <> %s ORDER BY project_key",
                            [project_id]).fetchall()
    assert strip(now) == strip(others)
