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

from openecon.settings import Settings  # noqa: E402

os.environ.update(Settings().airflow_env())
os.environ.update(Settings().dbt_env())


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def pg(settings):
    from openecon.pg import EmbeddedPostgres

    server = EmbeddedPostgres(settings)
    server.start()
    yield server
    server.stop()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(STATE, ignore_errors=True)


WAREHOUSE_SCHEMAS = ("raw", "audit", "staging", "intermediate", "marts", "reference")


@pytest.fixture
def warehouse(pg, settings):
    """A connection to an empty warehouse (every schema we own dropped first)."""
    import psycopg

    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        for schema in WAREHOUSE_SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        yield conn


@pytest.fixture(scope="session")
def airflow_db(pg, settings):
    from openecon import airflow_runtime

    airflow_runtime.migrate(settings)
    return settings


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """Sample submissions of all 14 cities for two months (read-only for tests)."""
    from ingestion.sample import generate

    out = tmp_path_factory.mktemp("sample")
    generate(out, "2025-08", "2025-09", scale=0.05)
    return out
