"""Every DAG file imports cleanly, quickly, and without touching a database or the network."""

import socket
import time

from core.settings import PROJECT_ROOT

DAGS = {"submissions_ingest", "warehouse_build", "bulletin_monthly", "bulletin_quarterly", "appraisal",
        "submissions_watch"}
# Tasks that write to the warehouse Postgres: they must share the openecon_warehouse pool.
WRITERS = {
    "submissions_ingest": {"ingest_cities"},
    "warehouse_build": {"dbt_build", "quality_gate", "dbt_docs"},
    "bulletin_monthly": {"render_scheduling_report"},
    "bulletin_quarterly": {"render_quarterly_bulletin"},
    "appraisal": {"render_appraisal"},
    "submissions_watch": set(),  # reads the data version only
}


def test_dag_folder_has_no_import_errors_and_is_documented(monkeypatch):
    import psycopg
    import psycopg2

    def no_db(*a, **k):  # parse time must not reach a database
        raise AssertionError("DAG parsing tried to connect to a database")

    def no_network(*a, **k):  # nor any other server
        raise AssertionError(f"DAG parsing tried to open a connection: {a[1:]}")

    monkeypatch.setattr(psycopg, "connect", no_db)
    monkeypatch.setattr(psycopg2, "connect", no_db)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Param

    from core.constants import WAREHOUSE_POOL
    from orchestration.callbacks import TransientOnly, notify_failure, record_failure

    t0 = time.monotonic()
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    elapsed = time.monotonic() - t0
    print(f"parsed {len(bag.dags)} DAGs in {elapsed:.2f}s")
    assert bag.import_errors == {}
    assert set(bag.dags) == DAGS
    for dag_id, dag in bag.dags.items():
        assert dag.doc_md and dag.tags and "openecon" in dag.tags, dag_id
        assert any("\u4e00" <= ch <= "\u9fff" for ch in dag.doc_md), f"{dag_id}: doc_md needs the Chinese summary"
        assert dag.max_active_runs == 1, dag_id
        if dag_id not in ("warehouse_build", "submissions_watch"):  # the build rebuilds every period; the watch
            # compares the files in force with the last build's, whatever their period
            assert isinstance(dag.params.get_param("period"), Param), f"{dag_id}: explicit period param"
            assert dag.params["period"] == "", f"{dag_id}: the default period is computed at run time"
        if dag_id in ("bulletin_monthly", "bulletin_quarterly", "appraisal"):
            # publishing over an incomplete period is an explicit choice, off by default
            assert dag.params.get_param("allow_incomplete").schema["type"] == "boolean", dag_id
            assert dag.params["allow_incomplete"] is False, dag_id
        in_pool = {t.task_id for t in dag.tasks if t.pool == WAREHOUSE_POOL}
        assert in_pool == WRITERS[dag_id], dag_id
        for t in dag.tasks:
            assert t.retries >= 1 and t.retry_exponential_backoff > 1, (dag_id, t.task_id)
            assert isinstance(t.retry_policy, TransientOnly), (dag_id, t.task_id)
            assert record_failure in t.on_failure_callback and notify_failure in t.on_failure_callback


def test_report_dags_run_on_the_marts_asset_or_the_calendar():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    for dag_id in ("bulletin_monthly", "bulletin_quarterly", "appraisal"):
        tt = bag.dags[dag_id].timetable
        assert isinstance(tt, AssetOrTimeSchedule), dag_id
        assert isinstance(tt.timetable, CronTriggerTimetable), dag_id
        assert "openecon_marts" in repr(tt.asset_condition), dag_id


def test_only_transient_failures_are_retried():
    import psycopg
    import sqlalchemy.exc
    from airflow.sdk.definitions.retry_policy import RetryAction

    from flows.transform import StepFailed
    from orchestration.callbacks import TransientOnly

    policy = TransientOnly()

    def action(exc):
        return policy.evaluate(exc, try_number=1, max_tries=3).action

    shutdown = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert action(shutdown) == RetryAction.RETRY
    assert action(psycopg.OperationalError("connection to server at 127.0.0.1 failed: refused")) == RetryAction.RETRY
    assert action(sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("closed"))) == RetryAction.RETRY
    # dbt runs as a subprocess: its dropped connection is recognised in its output
    assert action(StepFailed("dbt build failed (exit 1):\nDatabase Error in model kpi_city_month\n"
                             "  server closed the connection unexpectedly")) == RetryAction.RETRY
    wrapped = RuntimeError("load failed")
    wrapped.__cause__ = psycopg.OperationalError("consuming input failed: EOF detected")
    assert action(wrapped) == RetryAction.RETRY
    # data errors fail at once
    assert action(StepFailed("dbt build failed (exit 1):\nFailure in test not_null_kpi_city_month_value")) \
        == RetryAction.FAIL
    assert action(psycopg.errors.CheckViolation("new row violates check constraint")) == RetryAction.FAIL
    assert action(ValueError("period must be YYYY-MM")) == RetryAction.FAIL


def test_openecon_airflow_runs_airflows_cli_on_our_dags(airflow_db, settings):
    """`openecon airflow ARGS` (the README's backfill command) reaches our DAG folder and metadata DB."""
    import json
    import re
    import subprocess
    import sys

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "openecon.cli", "airflow", *args, "--output", "json"],
                              env=settings.child_env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        start = re.search(r"^\[\s*[{\]]", proc.stdout, re.M)  # after Airflow's log lines on stdout
        assert start, proc.stdout[-3000:]
        return json.loads(proc.stdout[start.start():])

    assert {d["dag_id"] for d in cli("dags", "list", "--local")} == DAGS
    from core.constants import WAREHOUSE_POOL

    assert WAREHOUSE_POOL in {p["pool"] for p in cli("pools", "list")}
