"""Every DAG file imports cleanly, quickly, and without touching a database."""

import time

from openecon.settings import PROJECT_ROOT


def test_dag_folder_has_no_import_errors_and_is_documented(monkeypatch):
    import psycopg
    import psycopg2

    def no_db(*a, **k):  # parse time must not reach a database
        raise AssertionError("DAG parsing tried to connect to a database")

    monkeypatch.setattr(psycopg, "connect", no_db)
    monkeypatch.setattr(psycopg2, "connect", no_db)
    from airflow.dag_processing.dagbag import DagBag

    t0 = time.monotonic()
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    elapsed = time.monotonic() - t0
    print(f"parsed {len(bag.dags)} DAGs in {elapsed:.2f}s")
    assert bag.import_errors == {}
    assert {"submissions_ingest", "warehouse_build"} <= set(bag.dags)
    for dag_id, dag in bag.dags.items():
        assert dag.doc_md and dag.tags, dag_id
        assert dag.max_active_runs == 1, dag_id
