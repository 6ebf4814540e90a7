"""core.audit_schema: ordered, idempotent migrations; core.in_force: the one "in force" rule.

Each test works in a database of its own on the session's cluster, so it never
disturbs the warehouse the other modules build.
"""

from __future__ import annotations

import os
import threading
import uuid

import psycopg
import pytest
from psycopg import sql

from core import audit_schema, in_force
from core.settings import Settings

# The tables and views every part of the product reads or writes in audit.
EXPECTED = {"submissions", "rejected_rows", "row_warnings", "quality_runs", "quality_results", "bulletins",
            "pipeline_failures", "schema_migrations", "submissions_in_force", "published_figures",
            "quality_checked_files", "document_figures"}


@pytest.fixture
def scratch(pg, settings):
    """A fresh, empty database on the test cluster; dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    owner = settings.warehouse.user
    with psycopg.connect(**pg._super_conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
    info = settings.warehouse.conninfo(dbname=name)
    yield info
    with psycopg.connect(**pg._super_conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def relations(conn) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'audit'").fetchall()}


def test_fresh_database_gets_every_migration_once_in_order(scratch, settings):
    with psycopg.connect(**scratch, autocommit=True) as conn:
        first = audit_schema.migrate(conn, settings)
        again = audit_schema.migrate(conn, settings)
        recorded = [r[0] for r in conn.execute("SELECT version FROM audit.schema_migrations ORDER BY applied_at, "
                                               "version").fetchall()]
        assert relations(conn) == EXPECTED
    versions = [m.version for m in audit_schema.MIGRATIONS]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert first == versions and again == [] and recorded == versions


def test_database_made_before_migrations_were_numbered_upgrades_in_place(scratch, settings):
    """The DDL of the earlier releases (tables there, no schema_migrations, the two-kind
    check on audit.bulletins): migrating keeps the rows and lets the appraisal register."""
    with psycopg.connect(**scratch, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA audit")
        conn.execute("""CREATE TABLE audit.bulletins (
            id bigserial PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('quarterly', 'monthly')),
            period text NOT NULL, version integer NOT NULL, data_version jsonb NOT NULL, data_hash text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(), paths jsonb NOT NULL DEFAULT '[]',
            changes jsonb NOT NULL DEFAULT '[]', figures jsonb NOT NULL DEFAULT '{}',
            UNIQUE (kind, period, version))""")
        conn.execute("INSERT INTO audit.bulletins (kind, period, version, data_version, data_hash) "
                     "VALUES ('quarterly', '2025Q3', 1, '{}', 'abc')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO audit.bulletins (kind, period, version, data_version, data_hash) "
                         "VALUES ('appraisal', '2025Q3', 1, '{}', 'abc')")
        audit_schema.migrate(conn, settings)
        conn.execute("INSERT INTO audit.bulletins (kind, period, version, data_version, data_hash, content_hash) "
                     "VALUES ('appraisal', '2025Q3', 1, '{}', 'abc', 'def')")
        assert conn.execute("SELECT kind, quality_run_id FROM audit.bulletins ORDER BY id").fetchall() == [
            ("quarterly", None), ("appraisal", None)]
        assert relations(conn) == EXPECTED


def test_concurrent_migrations_apply_each_version_once(scratch, settings):
    errors: list[BaseException] = []

    def run():
        try:
            with psycopg.connect(**scratch, autocommit=True) as conn:
                audit_schema.migrate(conn, settings)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(**scratch) as conn:
        rows = conn.execute("SELECT version, count(*) FROM audit.schema_migrations GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [(m.version, 1) for m in audit_schema.MIGRATIONS]


def test_auditor_role_from_settings_reads_audit(scratch, settings):
    role = f"auditor_{uuid.uuid4().hex[:6]}"
    renamed = Settings({**os.environ, "OPENECON_AUDITOR_ROLE": role})
    assert renamed.auditor_role == role and renamed.dbt_env()["OPENECON_AUDITOR_ROLE"] == role
    with psycopg.connect(**scratch, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        try:
            audit_schema.migrate(conn, renamed)
            granted = conn.execute(
                "SELECT has_schema_privilege(%s, 'audit', 'USAGE'), "
                "has_table_privilege(%s, 'audit.submissions', 'SELECT'), "
                "has_table_privilege(%s, 'audit.submissions_in_force', 'SELECT'), "
                "has_table_privilege(%s, 'audit.submissions', 'INSERT')", [role] * 4).fetchone()
            assert granted == (True, True, True, False)
        finally:
            ident = sql.Identifier(role)
            conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM {}").format(ident))
            conn.execute(sql.SQL("REVOKE ALL ON SCHEMA audit FROM {}").format(ident))
            conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_in_force_is_loaded_and_not_superseded(scratch, settings):
    """The view is the one definition: loaded (accepted or partial) and not superseded;
    the data version summarises exactly those files, in any order."""
    rows = [  # (file_name, status, superseded)
        ("430100_202509.xlsx", "accepted", True),    # replaced by the correction below
        ("430100_202509b.xlsx", "accepted", False),
        ("430200_202509.xlsx", "partial", False),
        ("430300_202509.xlsx", "rejected", False),
        ("430300_202509c.xlsx", "duplicate", False),
    ]
    with psycopg.connect(**scratch, autocommit=True) as conn:
        audit_schema.migrate(conn, settings)
        assert in_force.current(conn)["files"] == 0
        for i, (name, status, superseded) in enumerate(rows, start=1):
            conn.execute("INSERT INTO audit.submissions (file_name, sha256, city_code, period, kind, status, "
                         "superseded_at) VALUES (%s, %s, %s, '2025-09', 'workbook', %s, "
                         "CASE WHEN %s THEN now() END)", [name, f"{i:064d}", name[:6], status, superseded])
        got = in_force.in_force(conn)
        ids = conn.execute("SELECT file_id FROM audit.submissions WHERE file_name IN "
                           "('430100_202509b.xlsx', '430200_202509.xlsx') ORDER BY file_id").fetchall()
        assert [r["file_id"] for r in got] == [i for (i,) in ids]
        version = in_force.current(conn)
        assert version == in_force.summarize(list(reversed(got)))
        assert (version["files"], version["max_file_id"]) == (2, ids[-1][0])
        assert in_force.in_force(conn, "2025-10", "2025-12") == []
