"""The DAGs run for real with dag.test() against the embedded Postgres: ingest, build, publish.

Also the operations: a dropped connection is retried without duplicates, a failure is
recorded in audit.pipeline_failures and mailed through the openecon_notify connection.
"""

from __future__ import annotations

import shutil
import socketserver
import threading
import time

import psycopg
import pytest

from core import reference
from samples.entities import park_row

PARK_COLUMNS = ["planned_area_mu", "developed_area_mu", "factory_built_10k_m2", "factory_used_10k_m2",
                "enterprises", "above_scale_enterprises", "tax_ytd_10k_cny", "revenue_ytd_10k_cny", "employees"]


def dag(dag_id):
    from airflow.dag_processing.dagbag import DagBag

    from core.settings import PROJECT_ROOT

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

    # The chain goes on on the marts asset: the reports default to the newest period with figures
    # (2025-09, a quarter end), since the run's trigger time (now) is long after it.
    out = settings.output_dir / "bulletins"
    shutil.rmtree(out, ignore_errors=True)  # audit.bulletins was dropped with the warehouse: start afresh
    # The sample starts in 2025-08: the 1—9月 trade of every city misses 1—7月. The scheduling report
    # prints workbook figures only (complete) and publishes; the bulletin and the appraisal refuse: their
    # task fails at once (no retry) with the cities named and how to override, and nothing is written.
    from airflow.utils.state import TaskInstanceState

    assert report("bulletin_monthly").state == DagRunState.SUCCESS
    for dag_id in ("bulletin_quarterly", "appraisal"):
        refused = report(dag_id)
        assert refused.state == DagRunState.FAILED, dag_id
        assert [(ti.state, ti.try_number) for ti in refused.get_task_instances()] == [(TaskInstanceState.FAILED, 1)]
        [exception] = warehouse.execute("SELECT exception FROM audit.pipeline_failures WHERE dag_id = %s AND "
                                        "run_id = %s", [dag_id, refused.run_id]).fetchone()
        assert exception.startswith("AirflowFailException: 拒绝发布：2025Q3"), exception
        assert "长沙市（430100）：外贸明细2025年1—7月未报送" in exception and "allow_incomplete = true" in exception
        assert "trade CSV 2025-01..2025-07 not reported" in exception
    assert sorted(p.name for p in out.iterdir()) == [f"scheduling_2025-09_v1{e}"
                                                     for e in (".docx", ".html", ".pdf", ".xlsx", "_trace")]
    # with the DAG param allow_incomplete they publish, each province total noting what it lacks
    for dag_id in REPORTS:
        assert report(dag_id, allow_incomplete=True).state == DagRunState.SUCCESS, dag_id
    assert "全省合计中各市州累计数均缺1—7月外贸明细" in (out / "bulletin_2025Q3_v1.html").read_text("utf-8")
    published = sorted(p.name for p in out.iterdir())
    assert published == sorted(
        [f"scheduling_2025-09_v1{e}" for e in (".html", ".pdf", ".docx", ".xlsx", "_trace")]
        + [f"bulletin_2025Q3_v1{e}" for e in (".html", ".pdf", ".docx", ".xlsx", "_trace")]
        + [f"appraisal_2025Q3_v1{e}" for e in (".html", ".pdf", ".docx", ".xlsx", ".json", "_trace")])
    assert "2025年9月全省招商引资项目调度情况" in (out / "scheduling_2025-09_v1.html").read_text("utf-8")
    bulletin_html = (out / "bulletin_2025Q3_v1.html").read_text("utf-8")
    assert "关于2025年三季度全省开放型经济主要指标完成情况的通报" in bulletin_html
    appraisal_html = (out / "appraisal_2025Q3_v1.html").read_text("utf-8")
    assert "关于2025年1—9月全省各市州开放型经济工作绩效考核情况的通报" in appraisal_html
    assert "长沙市" in appraisal_html and "计分过程" in appraisal_html
    snapshot = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    # Same inbox again: nothing new is received, the asset is not updated, the mart is unchanged.
    again = dag("submissions_ingest").test(run_conf={"period": "2025-09", "inbox": str(sample_dir)})
    states = {ti.task_id: ti.state for ti in again.get_task_instances()}
    assert states["publish"] == TaskInstanceState.SKIPPED
    assert warehouse.execute("SELECT count(*) FROM audit.submissions").fetchone() == (56,)
    assert dag("warehouse_build").test().state == DagRunState.SUCCESS
    assert mart(warehouse) == rows
    # ...and the reports on unchanged data are the same versions: no file written again.
    for dag_id in REPORTS:
        assert report(dag_id, allow_incomplete=True).state == DagRunState.SUCCESS, dag_id
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == snapshot
    assert warehouse.execute("SELECT kind, period, version FROM audit.bulletins ORDER BY 1").fetchall() == [
        ("appraisal", "2025Q3", 1), ("monthly", "2025-09", 1), ("quarterly", "2025Q3", 1)]

    # A period the marts have no figures for is skipped with the reason, not published empty.
    empty = report("bulletin_monthly", period="2024-03")
    assert [ti.state for ti in empty.get_task_instances()] == [TaskInstanceState.SKIPPED]
    assert {p.name for p in out.iterdir()} == set(snapshot)


REPORTS = {"bulletin_monthly": "render_scheduling_report", "bulletin_quarterly": "render_quarterly_bulletin",
           "appraisal": "render_appraisal"}


def report(dag_id, period="", allow_incomplete=False):
    return dag(dag_id).test(run_conf={"period": period, "allow_incomplete": allow_incomplete})


def test_ingest_for_a_period_takes_that_month_and_late_files_not_later_ones(warehouse, settings, sample_dir):
    from flows.intake import new_inbox_files
    from ingestion.load import parse_file_name

    august = new_inbox_files(sample_dir, settings, up_to_period="2025-08")
    assert len(august) == 28 and {parse_file_name(f.name)[2] for f in august} == {"2025-08"}
    assert len(new_inbox_files(sample_dir, settings, up_to_period="2025-09")) == 56
    assert new_inbox_files(sample_dir, settings, up_to_period="2025-07") == []


def test_warehouse_pool_exists_after_migrate(airflow_db):
    from airflow.models.pool import Pool

    from core.constants import WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS

    pool = Pool.get_pool(WAREHOUSE_POOL)
    assert pool is not None and pool.slots == WAREHOUSE_POOL_SLOTS == 2


def test_ingest_shares_the_cities_out_to_the_pool_slots(airflow_db, warehouse, settings, sample_dir):
    from airflow.utils.state import DagRunState

    from core.constants import WAREHOUSE_POOL_SLOTS

    run = dag("submissions_ingest").test(run_conf={"period": "2025-09", "inbox": str(sample_dir)})
    assert run.state == DagRunState.SUCCESS
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "ingest_cities"]
    assert sorted(ti.map_index for ti in mapped) == list(range(WAREHOUSE_POOL_SLOTS))
    # Each city in one task (its map index lists them), and every city's files received.
    shares = [ti.rendered_map_index.split(",") for ti in mapped]
    cities = sorted(p.name for p in sample_dir.iterdir() if p.is_dir())
    assert sorted(c for share in shares for c in share) == cities and len(cities) == 14
    received = warehouse.execute("SELECT city_code, count(*) FROM audit.submissions WHERE status = 'accepted' "
                                 "GROUP BY city_code ORDER BY 1").fetchall()
    assert received == [(c, 4) for c in cities]  # a workbook and a trade CSV of 2025-08 and of 2025-09


def test_gate_blocks_when_a_mart_rule_breaks(airflow_db, warehouse, settings, sample_dir, monkeypatch):
    import json

    from airflow.utils.state import DagRunState, TaskInstanceState

    assert run_dag(sample_dir).state == DagRunState.SUCCESS
    # Notification is on once the openecon_notify connection exists: here a mail sink on loopback.
    sink = MailSink()
    monkeypatch.setenv("AIRFLOW_CONN_OPENECON_NOTIFY", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": sink.port,
        "extra": {"to": "duty@example.org", "from_email": "airflow@example.org",
                  "disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 10}}))
    # Corrupt a mart input behind intake's back: more above-scale firms than firms.
    warehouse.execute("UPDATE raw.parks SET above_scale_enterprises = enterprises + 5 "
                      "WHERE park_code = '430100P01'")
    run = run_dag(sample_dir)
    assert run.state == DagRunState.FAILED
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["dbt_build"] == TaskInstanceState.SUCCESS
    assert states["quality_gate"] == TaskInstanceState.FAILED

    # The failed gate is recorded once (a failed blocking gate is not retried), naming the rule,
    # the table and the columns (what the task's log shows; read here from the record, because
    # the task log's capture was seen to miss it once under load), and mailed.
    failures = warehouse.execute("SELECT dag_id, run_id, task_id, try_number, logical_date IS NOT NULL, exception "
                                 "FROM audit.pipeline_failures").fetchall()
    assert len(failures) == 1, failures
    dag_id, run_id, task_id, try_number, has_date, exception = failures[0]
    assert (dag_id, run_id, task_id, try_number, has_date) == ("warehouse_build", run.run_id, "quality_gate", 1, True)
    assert exception.startswith("AirflowFailException"), exception
    assert "expect_column_pair_values_a_to_be_greater_than_b" in exception, exception
    assert "marts.fct_park_month" in exception and "enterprises,above_scale_enterprises" in exception, exception
    gate = warehouse.execute("SELECT success, blocking_failures FROM audit.quality_runs "
                             "ORDER BY started_at DESC LIMIT 1").fetchone()
    assert gate == (False, 1)
    sink.close()
    assert len(sink.messages) == 1
    assert "duty@example.org" in sink.messages[0] and "warehouse_build.quality_gate" in sink.messages[0]


class MailSink(socketserver.ThreadingTCPServer):
    """The smallest SMTP server that accepts mail on loopback and keeps the messages (no relay)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.messages: list[str] = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(h):
                h.wfile.write(b"220 sink ESMTP\r\n")
                rcpt = []
                while line := h.rfile.readline():
                    cmd = line.decode("ascii", "replace").strip()
                    verb = cmd.split(" ")[0].upper()
                    if verb == "DATA":
                        h.wfile.write(b"354 go ahead\r\n")
                        body = []
                        while (chunk := h.rfile.readline()) not in (b".\r\n", b""):
                            body.append(chunk)
                        import email

                        msg = email.message_from_bytes(b"".join(body))
                        subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
                        self.messages.append(" ".join(rcpt) + "\n" + subject)
                        h.wfile.write(b"250 queued\r\n")
                    elif verb == "QUIT":
                        h.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        if verb == "RCPT":
                            rcpt.append(cmd)
                        h.wfile.write(b"250 ok\r\n")

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()


def raw_counts(conn) -> dict:
    from ingestion.contract import SHEETS

    counts = {s.raw_table: conn.execute(f"SELECT count(*) FROM {s.raw_table}").fetchone()[0] for s in SHEETS}
    # file ids differ between runs (a rolled-back load uses up a sequence value): compare the rest
    counts["audit.submissions"] = conn.execute(
        "SELECT file_name, sha256, status, rows, rows_rejected, superseded_at IS NULL FROM audit.submissions "
        "ORDER BY file_name").fetchall()
    return counts


def test_dropped_connection_is_retried_and_leaves_no_duplicates(airflow_db, warehouse, settings, sample_dir,
                                                                tmp_path, monkeypatch):
    from airflow.utils.state import DagRunState, TaskInstanceState

    from flows import intake
    from tests.conftest import reset_warehouse

    inbox = tmp_path / "inbox"
    for city in ("430100", "430200"):
        shutil.copytree(sample_dir / city, inbox / city)
    # A clean run of the same files, for the counts to compare with.
    for city in ("430100", "430200"):
        intake.ingest_inbox(inbox / city, settings, up_to_period="2025-09")
    clean = raw_counts(warehouse)
    assert clean["raw.trade"] > 0 and len(clean["audit.submissions"]) == 8
    reset_warehouse(settings)

    # Hold the second trade COPY after its 5th row (that city's August files are then committed),
    # so a helper can find it in pg_stat_activity and drop its connection. A sequence is not rolled
    # back, so the retry's COPY passes.
    warehouse.execute("CREATE SEQUENCE audit.test_trade_copies")
    warehouse.execute("""CREATE FUNCTION audit.test_hold_copy() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF nextval('audit.test_trade_copies') = 2 THEN PERFORM pg_sleep(120); END IF; RETURN NEW; END $$""")
    warehouse.execute("CREATE TRIGGER test_hold_copy BEFORE INSERT ON raw.trade FOR EACH ROW "
                      "WHEN (NEW.row_number = 5) EXECUTE FUNCTION audit.test_hold_copy()")
    killed: list[str] = []

    def drop_the_copy():
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                found = conn.execute("SELECT pid, query FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                                     "AND query LIKE 'COPY raw.trade%'").fetchall()
                for pid, query in found:
                    conn.execute("SELECT pg_terminate_backend(%s)", [pid])
                    killed.append(query)
                time.sleep(0.05)

    killer = threading.Thread(target=drop_the_copy, daemon=True)
    killer.start()
    monkeypatch.setenv("OPENECON_RETRY_DELAY_SECONDS", "1")  # read when the DAG file is parsed
    run = dag("submissions_ingest").test(run_conf={"period": "2025-09", "inbox": str(inbox)})
    killer.join(timeout=5)

    assert len(killed) == 1, "the COPY was never caught mid-run"
    assert run.state == DagRunState.SUCCESS
    # The intake reconnects and loads the file again itself (ingestion.load.ingest_paths), inside the
    # task's first try; Airflow's retries are left for a database that stays away longer.
    tries = sorted((ti.state, ti.try_number) for ti in run.get_task_instances() if ti.task_id == "ingest_cities")
    assert tries == [(TaskInstanceState.SUCCESS, 1), (TaskInstanceState.SUCCESS, 1)]
    assert raw_counts(warehouse) == clean
    # A try that was retried and then succeeded is no failure.
    if warehouse.execute("SELECT to_regclass('audit.pipeline_failures')").fetchone()[0] is not None:
        assert warehouse.execute("SELECT count(*) FROM audit.pipeline_failures").fetchone() == (0,)
