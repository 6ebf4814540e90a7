"""`openecon demo` on an external server (OPENECON_DATABASE_URL), twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg

from core.postgres import EmbeddedPostgres
from core.settings import Settings
from tests.conftest import _free_port


def test_demo_twice_on_external_server_creates_no_embedded_cluster(tmp_path, pg):
    os.chmod(tmp_path, 0o755)
    server = EmbeddedPostgres(Settings({"OPENECON_STATE_DIR": str(tmp_path / "server"),
                                         "OPENECON_PG_PORT": str(_free_port())}))
    server.start()
    try:
        info = server._super_conninfo()
        url = f"postgresql://{info['user']}:{info['password']}@127.0.0.1:{info['port']}/ext_warehouse"
        state = tmp_path / "client"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OPENECON_", "DBT_"))}
        env |= {"OPENECON_DATABASE_URL": url, "OPENECON_STATE_DIR": str(state),
                "OPENECON_OUTPUT_DIR": str(tmp_path / "output"),
                "OPENECON_DEMO_FROM": "2025-07", "OPENECON_DEMO_TO": "2025-09", "OPENECON_DEMO_SCALE": "0.02"}
        outputs = []
        for _ in range(2):
            proc = subprocess.run([sys.executable, "-m", "openecon.cli", "demo"], env=env,
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            outputs.append(proc.stdout)
        counts = [re.search(r"marts\.fct_park_month: (\d+) rows", o).group(1) for o in outputs]
        assert counts[0] == counts[1] == str(3 * 43)
        assert "external Postgres" in outputs[0]
        assert not (state / "pg").exists() and not (state / "pg.secret").exists()
        assert (tmp_path / "output" / "data_docs" / "index.html").exists()
        with psycopg.connect(**(info | {"dbname": "ext_warehouse"})) as conn:
            assert conn.execute("SELECT count(DISTINCT city_code) FROM marts.fct_park_month").fetchone() == (14,)
        with psycopg.connect(**(info | {"dbname": "airflow"})) as conn:
            runs = conn.execute("SELECT dag_id, count(*) FROM dag_run WHERE state = 'success' "
                                "GROUP BY 1 ORDER BY 1").fetchall()
        assert runs == [("appraisal", 2), ("bulletin_monthly", 2), ("bulletin_quarterly", 2),
                        ("submissions_ingest", 2), ("warehouse_build", 2)]
        # the documents of the latest quarter and month, written once: the second run reuses v1
        out = tmp_path / "output"
        assert sorted(p.name for p in (out / "bulletins").glob("*.pdf")) == [
            "appraisal_2025Q3_v1.pdf", "bulletin_2025Q3_v1.pdf", "scheduling_2025-09_v1.pdf"]
        assert sorted(p.name for p in (out / "bulletins").glob("*.docx")) == [
            "appraisal_2025Q3_v1.docx", "bulletin_2025Q3_v1.docx", "scheduling_2025-09_v1.docx"]
        audit = (out / "audit" / "audit_2025Q3.html").read_text(encoding="utf-8")
        assert "data_docs/index.html" in audit and "bulletin_2025Q3_v1" in audit
    finally:
        server.remove()
