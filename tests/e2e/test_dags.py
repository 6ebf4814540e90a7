"""The DAGs run for real with dag.test() against the embedded Postgres: ingest, then build."""

from __future__ import annotations

import psycopg
import pytest

from ingestion import reference
from ingestion.sample import park_row

PARK_COLUMNS = ["planned_area_mu", "developed_area_mu", "factory_built_10k_m2", "factory_used_10k_m2",
                "enterprises", "above_scale_enterprises", "tax_ytd_10k_cny", "revenue_ytd_10k_cny", "employees"]


def dag(dag_id):
    from airflow.dag_processing.dagbag import DagBag

    from openecon.settings import PROJECT_ROOT

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / f"{dag_id}.py")).dags[dag_id]


def run_dag(inbox, period="2025-09"):
    """Ingest, then build (in production the build runs on the ingest's asset event)."""
    from airflow.utils.state import DagRunState

    ingest = dag("submissions_ingest").test(run_conf={"period": period, "inbox": str(inbox)})
    assert ingest.state == DagRunState.SUCCESS
    return dag("warehouse_build").test()


def mart(conn):
    return conn.execute(
        f"SELECT park_code, period, city_code, {', '.join(PARK_COLUMNS)}, factory_occupancy_pct, "
        "tax_per_mu_10k_cny FROM marts.fct_park_month ORDER BY period, park_code"
    ).fetchall()


def test_pipeline_builds_mart_equal_to_submissions_and_rerun_is_noop(airflow_db, warehouse, settings, sample_dir):
    from airflow.utils.state import DagRunState

    run = run_dag(sample_dir)
    assert run.state == DagRunState.SUCCESS

    rows = mart(warehouse)
    expected = []
    for period in ("2025-08", "2025-09"):
        for park in sorted(reference.parks(), key=lambda p: p["park_code"]):
            want = park_row(park, period, 42)
            expected.append((park["park_code"], period, park["city_code"], *(want[c] for c in PARK_COLUMNS)))
    assert len(rows) == len(expected) == 2 * 43
    for got, want in zip(rows, expected):
        assert got[:3] == want[:3]
        assert [float(x) for x in got[3:12]] == pytest.approx([float(x) for x in want[3:]], abs=1e-6)
        built, used, developed, tax = want[5], want[6], want[4], want[9]
        assert float(got[12]) == pytest.approx(100 * used / built, abs=0.01)
        assert float(got[13]) == pytest.approx(tax / developed, abs=1e-4)

    subs = warehouse.execute("SELECT kind, status, count(*) FROM audit.submissions GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert subs == [("trade", "accepted", 28), ("workbook", "accepted", 28)]
    assert (settings.data_docs_dir / "index.html").exists()
    assert "marts.fct_park_month" in (settings.data_docs_dir / "index.html").read_text()

    # Same inbox again: nothing new is received, the asset is not updated, the mart is unchanged.
    from airflow.utils.state import TaskInstanceState

    again = dag("submissions_ingest").test(run_conf={"period": "2025-09", "inbox": str(sample_dir)})
    states = {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert states["publish"] == TaskInstanceState.SKIPPED
    assert warehouse.execute("SELECT count(*) FROM audit.submissions").fetchone() == (56,)
    assert dag("warehouse_build").test().state == DagRunState.SUCCESS
    assert mart(warehouse) == rows


def test_ingest_maps_over_cities(airflow_db, warehouse, settings, sample_dir):
    from airflow.utils.state import DagRunState

    run = dag("submissions_ingest").test(run_conf={"period": "2025-09", "inbox": str(sample_dir)})
    assert run.state == DagRunState.SUCCESS
    mapped = sorted(ti.map_index for ti in run.get_task_instances() if ti.task_id == "ingest_city")
    assert mapped == list(range(14))


def test_gate_blocks_when_a_mart_rule_breaks(airflow_db, warehouse, settings, sample_dir, capfd):
    from airflow.utils.state import DagRunState, TaskInstanceState

    assert run_dag(sample_dir).state == DagRunState.SUCCESS
    # Corrupt a mart input behind intake's back: more above-scale firms than firms.
    warehouse.execute("UPDATE raw.parks SET above_scale_enterprises = enterprises + 5 "
                      "WHERE park_code = '430100P01'")
    run = run_dag(sample_dir)
    assert run.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["dbt_build"] == TaskInstanceState.SUCCESS
    assert states["quality_gate"] == TaskInstanceState.FAILED
    out = capfd.readouterr()
    text = out.out + out.err
    assert "expect_column_pair_values_a_to_be_greater_than_b" in text
    assert "marts.fct_park_month" in text and "enterprises,above_scale_enterprises" in text
