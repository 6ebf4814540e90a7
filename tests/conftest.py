"""Test session: a private embedded Postgres and Airflow home in a temp folder.

Airflow reads its configuration when first imported, so the environment is set
here, at import time, before any test module imports airflow.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# /tmp: every parent is enterable by the postgres account when we run as root.
STATE = Path(tempfile.mkdtemp(prefix="openecon-test-"))
os.chmod(STATE, 0o755)
os.environ.pop("OPENECON_DATABASE_URL", None)  # tests always use their own cluster
os.environ["OPENECON_STATE_DIR"] = str(STATE / "state")
os.environ["OPENECON_OUTPUT_DIR"] = str(STATE / "output")
os.environ["OPENECON_PG_PORT"] = str(_free_port())
os.environ["GX_ANALYTICS_ENABLED"] = "False"

from core.settings import Settings  # noqa: E402

os.environ.update(Settings().airflow_env())
os.environ.update(Settings().dbt_env())


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def pg(settings):
    from core.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(settings)
    server.start()
    yield server
    server.stop()


def pytest_collection_modifyitems(items):
    """Tests that need the embedded Postgres carry the marker ``pg`` (``make test-fast`` skips them)."""
    for item in items:
        if "pg" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pg)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(STATE, ignore_errors=True)


WAREHOUSE_SCHEMAS = ("portal", "raw", "audit", "staging", "intermediate", "marts", "reference")


def reset_warehouse(settings, prepare: bool = True) -> None:
    """Drop every schema we own; then, unless ``prepare`` is False, apply what every command
    applies first (the audit migrations and the raw tables: flows.warehouse.prepare)."""
    import psycopg

    from flows.warehouse import prepare as prepare_warehouse

    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        for schema in WAREHOUSE_SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    if prepare:
        prepare_warehouse(settings)


def build_warehouse(settings, paths) -> list:
    """An empty warehouse with ``paths`` ingested, every file accepted, and `dbt build` run
    once: what the modules that read the marts start from. Returns the receipts."""
    from flows.transform import dbt_build
    from ingestion.load import ingest_paths

    reset_warehouse(settings)
    receipts = ingest_paths(paths, settings)
    assert receipts and all(r.status == "accepted" for r in receipts), [r.text() for r in receipts if not r.ok]
    dbt_build(settings)
    return receipts


@pytest.fixture(scope="module")
def sample_warehouse(request, pg, settings, tmp_path_factory):
    """A connection to a warehouse built from the module's ``SAMPLE = (first, last, scale)``:
    sample files of the 14 cities for those months, all ingested and accepted, `dbt build` once."""
    import psycopg

    from samples.generate import generate

    first, last, scale = request.module.SAMPLE
    out = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    generate(out, first, last, scale=scale)
    build_warehouse(settings, sorted(out.iterdir()))
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def warehouse(pg, settings):
    """A connection to an empty warehouse (every schema we own dropped, then prepared)."""
    import psycopg

    reset_warehouse(settings)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def airflow_db(pg, settings):
    from orchestration import runtime as airflow_runtime

    airflow_runtime.migrate(settings)
    return settings


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """Sample submissions of all 14 cities for two months (read-only for tests)."""
    from samples.generate import generate

    out = tmp_path_factory.mktemp("sample")
    generate(out, "2025-08", "2025-09", scale=0.05)
    return out
