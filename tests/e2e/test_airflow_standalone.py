"""A real `airflow standalone` (what `make airflow` starts), driven through its REST API.

One server for the module (start-up is the expensive part): it lists our DAGs, runs
`submissions_ingest` for a month and the asset-triggered `warehouse_build`, then
backfills three months (8 cron runs) and checks the marts equal three single
month-by-month runs, re-runs a month as a no-op, and finally stops with nothing left
running. The month-by-month reference is computed while the server starts up.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import reset_warehouse

pytestmark = pytest.mark.e2e

MONTHS = ["2025-07", "2025-08", "2025-09"]
# Cron "0 8 5-10 * *" Asia/Shanghai fires at 00:00 UTC on days 5-10. This range holds the
# last tick of August (period 2025-07), all of September's (2025-08) and the first of
# October's (2025-09): 8 runs, of which the first of each month receives the month's files
# and the 5 others must be no-ops.
BACKFILL_FROM, BACKFILL_TO = "2025-08-10T00:00:00Z", "2025-10-05T00:00:00Z"
FIRST_OF_MONTH = {"2025-08-10": "2025-07", "2025-09-05": "2025-08", "2025-10-05": "2025-09"}
MART_TABLES = ["fct_park_month", "kpi_city_month", "fct_trade_month", "fct_project_month", "dim_project"]
TERMINAL = {"success", "failed"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """A minimal client of Airflow's public REST API (/api/v2, JWT from /auth/token)."""

    def __init__(self, base: str, user: str, password: str):
        import httpx

        token = httpx.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=30)
        assert token.status_code in (200, 201), token.text
        self.http = httpx.Client(base_url=f"{base}/api/v2", timeout=60,
                                 headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def __call__(self, method: str, path: str, **kw) -> dict:
        resp = self.http.request(method, path, **kw)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else {}

    def runs(self, dag_id: str, **params) -> list[dict]:
        return self("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, **params})["dag_runs"]

    def wait(self, what: str, check, timeout: float = 600, every: float = 1.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := check():
                return result
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

    def wait_run(self, dag_id: str, run_id: str) -> dict:
        run = self.wait(f"{dag_id} run {run_id}",
                        lambda: (r := self("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))["state"] in TERMINAL and r)
        assert run["state"] == "success", \
            f"{dag_id} {run_id} ended {run['state']}:\n{self.failure_logs(dag_id, run_id)}"
        return run

    def failure_logs(self, dag_id: str, run_id: str) -> str:
        """The tail of every failed task's log, so a failure explains itself."""
        out = []
        tis = self("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        for ti in tis["task_instances"]:
            if ti["state"] in ("failed", "upstream_failed", "up_for_retry"):
                resp = self.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/"
                                     f"{max(ti['try_number'], 1)}",
                                     params={"full_content": True, "map_index": ti["map_index"]})
                lines = resp.json().get("content", []) if resp.status_code == 200 else [resp.text]
                text = "\n".join(str(x.get("event", x)) if isinstance(x, dict) else str(x) for x in lines)
                out.append(f"--- {ti['task_id']}[{ti['map_index']}] {ti['state']}:\n{text[-3000:]}")
        return "\n".join(out)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """State per task; a mapped task's when all its instances agree."""
        tis = self("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        states: dict[str, set] = {}
        for ti in tis["task_instances"]:
            states.setdefault(ti["task_id"], set()).add(ti["state"])
        return {t: s.pop() if len(s) == 1 else "/".join(sorted(map(str, s))) for t, s in states.items()}

    def latest_raw_event(self) -> int | None:
        events = self("GET", "/assets/events", params={"limit": 1, "order_by": "-timestamp",
                                                        "source_dag_id": "submissions_ingest"})
        return events["asset_events"][0]["id"] if events["asset_events"] else None

    def wait_build_of(self, event_id: int) -> dict:
        """The warehouse_build run that consumed asset event `event_id`, once it succeeded."""

        def consumed():
            for run in self.runs("warehouse_build", run_type="asset_triggered", order_by="-run_after"):
                events = self("GET", f"/dags/warehouse_build/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
                if any(e["id"] == event_id for e in events["asset_events"]):
                    return run
            return None

        run = self.wait(f"warehouse_build consuming asset event {event_id}", consumed, timeout=300, every=2)
        return self.wait_run("warehouse_build", run["dag_run_id"])


@pytest.fixture(scope="module")
def inbox(tmp_path_factory) -> Path:
    from samples.generate import generate

    out = tmp_path_factory.mktemp("standalone-inbox")
    # All 14 cities: the quality gate blocks a period that misses a city.
    generate(out, MONTHS[0], MONTHS[-1], scale=0.02)
    return out


@pytest.fixture(scope="module")
def standalone(airflow_db, settings, inbox):  # airflow_db: migrated, with the openecon pool
    from orchestration import runtime as airflow_runtime

    port = _free_port()
    # Private ports for the log servers too, so a developer's `make airflow` can run beside the tests.
    extra = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
             "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port())}
    log_path = settings.state_dir / "logs" / "standalone-test.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = airflow_runtime.start_standalone(settings, port, extra_env=extra, stdout=log)
        try:
            # The backfill's reference, computed in-process while the server starts (a minute of
            # waiting otherwise): starting reaches no warehouse (new DAGs are paused, and the first
            # test resets the warehouse before it unpauses any).
            reference = month_by_month(settings, inbox)
            airflow_runtime.wait_healthy(port, timeout=240, proc=proc)
            api = Api(f"http://127.0.0.1:{port}", airflow_runtime.UI_USER, airflow_runtime.ui_password(settings))
            yield {"proc": proc, "api": api, "log": log_path, "month_by_month": reference}
        finally:
            airflow_runtime.stop_standalone(proc)


def marts_fingerprint(settings) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the ordered rows) per mart, without file ids and load timestamps,
    which legitimately differ between two loads of the same files."""
    out = {}
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        for table in MART_TABLES:
            cols = [c for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
                "AND table_name = %s ORDER BY ordinal_position", [table]).fetchall()
                if "file_id" not in c and not c.endswith("_at")]
            assert cols, f"marts.{table} missing"
            collist = ", ".join(f'"{c}"' for c in cols)
            out[table] = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) "
                f"FROM (SELECT ROW({collist}) AS r FROM marts.{table}) t").fetchone()
    return out


def trigger_month(api: Api, inbox: Path, period: str) -> str:
    run = api("POST", "/dags/submissions_ingest/dagRuns",
              json={"logical_date": None, "conf": {"period": period, "inbox": str(inbox)}})
    return run["dag_run_id"]


def test_rest_api_lists_our_dags_and_a_triggered_month_builds_the_warehouse(standalone, settings, inbox):
    from airflow.dag_processing.dagbag import DagBag

    api = standalone["api"]
    ours = set(DagBag(dag_folder=str(settings.dags_dir)).dags)
    assert {"submissions_ingest", "warehouse_build"} <= ours
    listed = api.wait("the DAG processor to register every DAG of dags/",
                      lambda: ours <= (ids := {d["dag_id"] for d in api("GET", "/dags", params={"limit": 100})["dags"]})
                      and ids, timeout=120)
    assert listed == ours
    assert api("GET", "/importErrors")["total_entries"] == 0

    reset_warehouse(settings)
    # Asset events queued by earlier dag.test() runs of this session must not start a build here.
    api.http.delete("/dags/warehouse_build/assets/queuedEvents")
    for dag_id in ("submissions_ingest", "warehouse_build"):
        assert api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})["is_paused"] is False

    run_id = trigger_month(api, inbox, MONTHS[0])
    api.wait_run("submissions_ingest", run_id)
    assert api.task_states("submissions_ingest", run_id) == {
        "share_cities": "success", "ingest_cities": "success", "publish": "success"}
    build = api.wait_build_of(api.latest_raw_event())
    assert api.task_states("warehouse_build", build["dag_run_id"])["quality_gate"] == "success"

    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        periods = conn.execute("SELECT DISTINCT period FROM marts.fct_park_month ORDER BY 1").fetchall()
        subs = conn.execute("SELECT count(*) FROM audit.submissions WHERE status = 'accepted'").fetchone()
    assert periods == [(MONTHS[0],)]
    assert subs == (2 * 14,)  # a workbook and a trade CSV per city


def month_by_month(settings, inbox: Path) -> dict:
    """Reference: three single monthly runs, each ingest then build, as the DAG tasks do them.

    Run in-process with the very functions the tasks call (ingest_cities, dbt_build): the
    quality gate and docs tasks do not write marts, and the scheduler round trips would
    only add minutes.
    """
    from core.constants import WAREHOUSE_POOL_SLOTS
    from flows import intake, transform

    reset_warehouse(settings)
    for period in MONTHS:
        for cities in intake.inbox_shares(inbox, settings, WAREHOUSE_POOL_SLOTS, up_to_period=period):
            intake.ingest_cities(inbox, cities, settings, up_to_period=period)
        transform.dbt_build(settings)
    return marts_fingerprint(settings)


def test_backfill_of_three_months_equals_month_by_month_runs_and_rerun_is_noop(standalone, settings, inbox):
    api = standalone["api"]
    single = standalone["month_by_month"]
    assert single["fct_park_month"][0] == 43 * len(MONTHS) and single["kpi_city_month"][0] > 0

    reset_warehouse(settings)
    backfill = api("POST", "/backfills", json={
        "dag_id": "submissions_ingest", "from_date": BACKFILL_FROM, "to_date": BACKFILL_TO,
        "run_backwards": False, "max_active_runs": 1, "reprocess_behavior": "none",
        "dag_run_conf": {"inbox": str(inbox)}})
    api.wait("the backfill to complete",
             lambda: api("GET", f"/backfills/{backfill['id']}")["completed_at"], timeout=900, every=3)
    runs = api.runs("submissions_ingest", run_type="backfill")
    assert len(runs) == 8 and all(r["state"] == "success" for r in runs), runs
    publish = {r["logical_date"][:10]: api.task_states("submissions_ingest", r["dag_run_id"])["publish"]
               for r in runs}
    # The first run of each month receives that month's files (files of later months wait for
    # their own run); the later runs of the month find nothing new and publish nothing.
    assert {d: s for d, s in publish.items() if s == "success"} == dict.fromkeys(FIRST_OF_MONTH, "success")
    assert all(s == "skipped" for d, s in publish.items() if d not in FIRST_OF_MONTH), publish

    api.wait_build_of(api.latest_raw_event())
    assert marts_fingerprint(settings) == single

    # Re-running the last month on unchanged inputs: nothing received, no asset event, same marts.
    event = api.latest_raw_event()
    builds = len(api.runs("warehouse_build"))
    rerun = trigger_month(api, inbox, MONTHS[-1])
    api.wait_run("submissions_ingest", rerun)
    assert api.task_states("submissions_ingest", rerun)["publish"] == "skipped"
    assert api.latest_raw_event() == event and len(api.runs("warehouse_build")) == builds
    assert marts_fingerprint(settings) == single


def test_standalone_stops_on_ctrl_c_without_leftover_processes(standalone):
    from orchestration import runtime as airflow_runtime

    proc = standalone["proc"]
    assert airflow_runtime.session_pids(proc.pid), "standalone should still be running here"
    # The builds above publish assets that trigger the report DAGs; Ctrl-C lets running tasks
    # finish (the executor waits for them), so this checks the stop of an idle standalone.
    api = standalone["api"]
    api.wait("no DAG run queued or running",
             lambda: not api("GET", "/dags/~/dagRuns", params={"state": ["queued", "running"], "limit": 1})
             ["total_entries"], timeout=600, every=2)
    api.http.close()  # no keep-alive connection for the API server to wait on
    running = {pid: airflow_runtime.process_cmdline(pid) for pid in airflow_runtime.session_pids(proc.pid)}
    print("standalone's processes before Ctrl-C:", *running.items(), sep="\n  ")
    t = time.monotonic()
    left = {}
    forced = airflow_runtime.stop_standalone(proc, timeout=90, on_stragglers=left.update)
    print(f"standalone stopped in {time.monotonic() - t:.1f}s")
    assert forced == [], f"processes outlived Ctrl-C (SIGINT) and had to be killed: {left}"
    assert airflow_runtime.session_pids(proc.pid) == []
    assert proc.returncode is not None
