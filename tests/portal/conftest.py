"""One small warehouse for the portal's tests (per xdist worker): four cities' sample files for
2025-08..2025-09 ingested and the submission-status mart built, the 2025-10 files kept back for
uploads, and an account per role. Modules use different cities, so they do not depend on each
other's uploads when they share it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from core.settings import Settings

# 长沙 (browser test), 株洲 and 湘潭 (route tests), 衡阳 (pipeline tests)
CITIES = ("430100", "430200", "430300", "430400")
PASSWORD = "portal-test-password"  # every test account's


@dataclass
class PortalWarehouse:
    settings: Settings
    later: dict[str, Path]  # canonical name -> a sample file of 2025-10 not ingested yet
    conn: psycopg.Connection


def portal_settings(base: Settings, **extra) -> Settings:
    """The session's settings for the portal on plain http (TestClient, 127.0.0.1): no Secure cookie."""
    env = {**os.environ, "OPENECON_STATE_DIR": str(base.state_dir), "OPENECON_OUTPUT_DIR": str(base.output_dir),
           "OPENECON_PG_PORT": str(base.pg_port), "OPENECON_PORTAL_SECURE_COOKIE": "0", **extra}
    return Settings(env)


@pytest.fixture(scope="package")
def portal_warehouse(pg, settings, tmp_path_factory) -> PortalWarehouse:
    from flows.transform import dbt
    from ingestion.load import ingest_paths
    from portal import accounts
    from portal.server import migrate
    from samples.generate import generate
    from tests.conftest import reset_warehouse

    out = tmp_path_factory.mktemp("portal_sample")
    files = generate(out, "2025-08", "2025-10", scale=0.05, cities=list(CITIES))
    files = [Path(f) for f in files]
    first, later = [f for f in files if "202510" not in f.name], [f for f in files if "202510" in f.name]
    reset_warehouse(settings)  # as tests.conftest.build_warehouse, with a build of the status mart only
    receipts = ingest_paths(first, settings)
    assert receipts and all(r.status == "accepted" for r in receipts), [r.text() for r in receipts if not r.ok]
    # only what the portal reads: the status mart and the models under it (a full build is not needed)
    dbt(["build", "--select", "+submission_status", "--indirect-selection", "cautious"], settings)
    ps = portal_settings(settings)
    migrate(ps)
    with psycopg.connect(**ps.warehouse.conninfo(), autocommit=True) as conn:
        for city in CITIES:
            accounts.add_user(conn, f"clerk_{city}", "city_clerk", city, PASSWORD)
        accounts.add_user(conn, "prov", "province", None, PASSWORD)
        accounts.add_user(conn, "audit1", "auditor", None, PASSWORD)
        yield PortalWarehouse(ps, {f.name: f for f in later}, conn)
