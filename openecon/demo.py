"""`openecon demo` / `make demo`: the main job end to end on the configured Postgres."""

from __future__ import annotations

import os
import sys
import time

import psycopg

from core.periods import latest_quarter
from core.postgres import ensure_database
from core.settings import get_settings
from flows.transform import dbt_docs_dir
from orchestration import runtime as airflow_runtime
from reports.audit_report import render as audit_report
from samples.generate import generate

# Enough history for year-on-year figures of the latest quarter (and the December ledger
# that 2024's funds are measured from), at the sample's realistic scale.
DEMO_FROM, DEMO_TO, DEMO_SCALE = "2023-12", "2025-09", 1.0
# In production each DAG after the first runs on the asset its predecessor publishes
# (openecon_raw_submissions, then openecon_marts); `airflow dags test` runs them one by one.
REPORT_DAGS = ("bulletin_quarterly", "bulletin_monthly", "appraisal")
DAGS = ("submissions_ingest", "warehouse_build", "bulletin_quarterly", "bulletin_monthly", "appraisal")


def _say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def run() -> int:
    t0 = time.monotonic()
    settings = get_settings()
    where = "embedded Postgres in " + str(settings.pg_dir) if settings.embedded else \
        f"external Postgres {settings.warehouse.host}:{settings.warehouse.port} (OPENECON_DATABASE_URL)"
    _say(f"database: {where}")
    ensure_database(settings)

    _say("migrating Airflow's metadata database")
    airflow_runtime.migrate(settings)

    start = os.environ.get("OPENECON_DEMO_FROM", DEMO_FROM)
    end = os.environ.get("OPENECON_DEMO_TO", DEMO_TO)
    scale = float(os.environ.get("OPENECON_DEMO_SCALE", DEMO_SCALE))
    files = generate(settings.inbox_dir, start, end, scale=scale)
    _say(f"sample: {len(files)} city files {start}..{end} (scale {scale:g}) in {settings.inbox_dir}")
    # A sample that starts after January of the reported year cannot give complete year-to-date
    # figures: the documents would (rightly) refuse, so the demo publishes them with the override.
    partial_year = start > f"{end[:4]}-01"
    if partial_year:
        _say(f"the sample starts after {end[:4]}-01: documents are published with allow_incomplete")

    logs = settings.state_dir / "logs"
    quarter = latest_quarter(end)
    report_period = {"submissions_ingest": end, "warehouse_build": None, "bulletin_quarterly": quarter,
               "bulletin_monthly": end, "appraisal": quarter}
    for dag_id in DAGS:
        log_file = logs / f"{dag_id}.log"
        _say(f"running DAG {dag_id} with `airflow dags test` (log: {log_file})")
        conf = {"period": report_period[dag_id]} if report_period[dag_id] else None
        if conf and dag_id in REPORT_DAGS and partial_year:
            conf["allow_incomplete"] = True  # the notes beside the figures name what the short sample lacks
        proc = airflow_runtime.dags_test(dag_id, settings, conf=conf, log_file=log_file)
        if airflow_runtime.run_state(proc) != "success":
            _say(f"DAG run {dag_id} FAILED (exit {proc.returncode}); see {log_file}")
            print((proc.stdout + proc.stderr)[-4000:], file=sys.stderr)
            return 1

    from portal.server import demo_accounts

    accounts_file, created = demo_accounts(settings)
    _say(f"portal accounts: {len(created)} created (a clerk per city clerk_<code>, province, auditor); "
         f"passwords in {accounts_file} (mode 0600); start the portal with `openecon portal`")

    _say(f"writing the auditor's report for {quarter}")
    audit = audit_report(settings, quarter)["paths"]
    # the newest version of each document the report DAGs wrote (its PDF; the DOCX, HTML, XLSX beside it)
    documents = [max(settings.output_dir.glob(f"bulletins/{stem}_v*.pdf"), key=lambda p: p.stat().st_mtime,
                     default=None)
                 for stem in (f"bulletin_{quarter}", f"scheduling_{end}", f"appraisal_{quarter}")]

    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        total, periods, first, last, parks, cities = conn.execute(
            "SELECT count(*), count(DISTINCT period), min(period), max(period), count(DISTINCT park_code), "
            "count(DISTINCT city_code) FROM marts.fct_park_month").fetchone()
        kpi_rows, kpis = conn.execute("SELECT count(*), count(DISTINCT kpi_code) FROM marts.kpi_city_month").fetchone()
        raw = {t: conn.execute(f"SELECT count(*) FROM raw.{t}").fetchone()[0] for t in ("projects", "trade")}
        by_status = conn.execute(
            "SELECT status, count(*) FROM audit.submissions GROUP BY 1 ORDER BY 1"
        ).fetchall()
    _say(f"done in {time.monotonic() - t0:.0f}s. Results:")
    print(f"  marts.fct_park_month: {total} rows ({periods} months {first}..{last}, {parks} parks, {cities} cities)")
    print(f"  raw.projects: {raw['projects']} rows, raw.trade: {raw['trade']} rows")
    print("  audit.submissions: " + ", ".join(f"{s} {n}" for s, n in by_status))
    print(f"  marts.kpi_city_month: {kpi_rows} rows ({kpis} KPIs × 14 cities + province × months)")
    print(f"  Data Docs (GX):     {settings.data_docs_dir / 'index.html'}")
    print(f"  dbt docs:           {dbt_docs_dir(settings) / 'static_index.html'}")
    print("  reports:            " + "\n                      ".join(str(p) for p in documents if p))
    print("  auditor's report:   " + "\n                      ".join(str(p) for p in audit))
    print(f"  receipts:           {settings.receipts_dir}")
    print(f"  DAG run logs:       {logs}")
    print(f"  portal accounts:    {accounts_file}  (`openecon portal`, http://127.0.0.1:8800)")
    print(f"  archived originals: {settings.archive_dir}")
    print("  warehouse URL:      `openecon db url` (psql-compatible)")
    return 0
