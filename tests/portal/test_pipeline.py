"""After a portal upload the build follows: through Airflow's REST API when it is configured (a real
`airflow api-server` here), and on the schedule of the DAG submissions_watch (a real dag.test())."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from core.constants import RAW_SUBMISSIONS_URI
from core.settings import PROJECT_ROOT
from tests.portal.conftest import portal_settings
from tests.portal.files import read_workbook, write_workbook
from tests.portal.test_routes import csrf_of, login

CITY = "430400"  # 衡阳 (the other modules use other cities)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "submissions_watch.py")).dags["submissions_watch"]


def asset_events(settings, source: str) -> list[dict]:
    with psycopg.connect(**settings.airflow_db.conninfo()) as conn:
        return [e for (e,) in conn.execute(
            "SELECT e.extra FROM asset_event AS e JOIN asset AS a ON a.id = e.asset_id WHERE a.uri = %s ORDER BY e.id",
            [RAW_SUBMISSIONS_URI]).fetchall() if (e or {}).get("source") == source]


def mark_built(conn) -> None:
    """What a finished warehouse_build leaves for this purpose: a gate run over the data version now
    (the real build is dbt + GX on the whole project, a minute; tests/e2e/test_dags.py runs it)."""
    from core import in_force

    dv = in_force.current(conn)
    conn.execute("""INSERT INTO audit.quality_runs (run_id, started_at, finished_at, data_version, data_hash, success,
                                                    triggered_by)
                    VALUES (%s, now(), now(), %s, %s, true, 'test: stands for a warehouse_build')""",
                 [f"test-{uuid.uuid4().hex[:8]}", json.dumps(dv), dv["hash"]])


def upload(app_settings, name: str, body: bytes) -> dict:
    from portal.app import create_app

    with TestClient(create_app(app_settings), follow_redirects=False) as c:
        assert login(c, f"clerk_{CITY}").status_code == 303
        token = csrf_of(c, f"/city/{CITY}")
        answer = c.post(f"/city/{CITY}/upload", params={"name": name}, content=body,
                        headers={"X-CSRF-Token": token}).json()
        while answer["status"] not in ("done", "failed"):
            time.sleep(0.2)
            answer = c.get(f"/city/{CITY}/jobs/{answer['job']}").json()
    return answer


def test_submissions_watch_publishes_when_the_files_in_force_changed(airflow_db, portal_warehouse):
    from airflow.utils.state import DagRunState, TaskInstanceState

    from flows.intake import unbuilt_data_version

    settings, conn = portal_warehouse.settings, portal_warehouse.conn
    mark_built(conn)
    assert unbuilt_data_version(settings) is None
    run = watch_dag().test()
    assert run.state == DagRunState.SUCCESS
    assert [ti.state for ti in run.get_task_instances()] == [TaskInstanceState.SKIPPED]  # nothing new: no build
    before = len(asset_events(settings, "submissions_watch"))

    src = portal_warehouse.later[f"trade_{CITY}_202510.csv"]
    corrected = src.read_bytes().replace(b"\r\n", b"\n")  # other bytes, same rows: a correction, or a first file
    answer = upload(settings, src.name, corrected)
    assert answer["receipt_status"] in ("accepted", "superseding"), answer
    changed = unbuilt_data_version(settings)
    assert changed is not None and changed["max_file_id"] == answer["file_id"]
    run = watch_dag().test()
    assert [ti.state for ti in run.get_task_instances()] == [TaskInstanceState.SUCCESS]
    published = asset_events(settings, "submissions_watch")
    assert len(published) == before + 1 and published[-1]["data_version"] == changed


@pytest.fixture(scope="module")
def api_server(airflow_db, portal_warehouse):
    """Airflow's own API server (simple auth manager, admin's generated password) on a free port."""
    from orchestration import runtime

    settings = portal_warehouse.settings
    runtime.airflow(["dags", "reserialize"], settings)  # the DAGs and their assets in the metadata DB
    port = _free_port()
    runtime.ui_password(settings)
    env = runtime.standalone_env(settings, port)
    log = open(settings.state_dir / "api-server.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "api-server", "--host", "127.0.0.1",
                             "--port", str(port), "--apps", "core"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (settings.state_dir / "api-server.log").read_text()[-3000:]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "airflow api-server did not start"
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_an_accepted_upload_publishes_the_asset_through_the_rest_api(api_server, portal_warehouse, tmp_path):
    settings, conn = portal_warehouse.settings, portal_warehouse.conn
    with_api = portal_settings(settings, OPENECON_AIRFLOW_API_URL=api_server)  # password: the generated file
    # the October ledger with a title row above the header: other bytes (never a duplicate of a file another
    # module of this worker sent), the same rows
    sheets = read_workbook(portal_warehouse.later[f"{CITY}_202510.xlsx"])
    sheets["项目台账"].insert(0, ["衡阳市2025年10月承接产业转移项目台账"])
    src = write_workbook(tmp_path / f"{CITY}_202510.xlsx", sheets)
    # warehouse_build runs on the asset once unpaused (`make airflow` unpauses the project's DAGs)
    from orchestration import runtime

    token = runtime.api_token(int(api_server.rsplit(":", 1)[1]), runtime.ui_password(settings))
    api = httpx.Client(base_url=f"{api_server}/api/v2", timeout=30, headers={"Authorization": f"Bearer {token}"})
    assert api.patch("/dags/warehouse_build", json={"is_paused": False}).json()["is_paused"] is False
    try:
        answer = upload(with_api, src.name, src.read_bytes())
        queued = api.get("/dags/warehouse_build/assets/queuedEvents").json()["queued_events"]
    finally:  # no scheduler here; later modules of this worker must not inherit a queued build
        api.delete("/dags/warehouse_build/assets/queuedEvents")
        api.patch("/dags/warehouse_build", json={"is_paused": True})
    assert answer["receipt_status"] in ("accepted", "superseding")
    # warehouse_build is scheduled on that asset: the event queued a run of it for the scheduler
    assert [(q["dag_id"], q["asset_id"]) for q in queued] == [("warehouse_build", queued[0]["asset_id"])]
    deadline = time.monotonic() + 30
    while not (events := conn.execute("SELECT action, detail FROM portal.events WHERE file_id = %s AND action LIKE "
                                      "'asset_%%'", [answer["file_id"]]).fetchall()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [a for a, _ in events] == ["asset_published"], events
    published = asset_events(settings, "portal")
    assert published[-1]["file_id"] == answer["file_id"] and published[-1]["file"] == src.name


def test_a_failed_publication_is_recorded_and_the_upload_stands(portal_warehouse, tmp_path):
    settings, conn = portal_warehouse.settings, portal_warehouse.conn
    closed = f"http://127.0.0.1:{_free_port()}"
    unreachable = portal_settings(settings, OPENECON_AIRFLOW_API_URL=closed, OPENECON_AIRFLOW_API_PASSWORD="x")
    src = portal_warehouse.later[f"trade_{CITY}_202510.csv"]
    head, *rows = src.read_bytes().splitlines(keepends=True)
    body = head + b"".join(reversed(rows))  # yet other bytes of the same rows
    answer = upload(unreachable, src.name, body)
    assert answer["receipt_status"] == "superseding", answer
    [(action, detail)] = conn.execute("SELECT action, detail FROM portal.events WHERE file_id = %s AND action LIKE "
                                      "'asset_%%'", [answer["file_id"]]).fetchall()
    assert action == "asset_publish_failed" and "Connection refused" in detail["error"]
