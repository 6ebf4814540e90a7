"""Schemas and tables owned by ingestion, created idempotently on any database."""

from __future__ import annotations

import psycopg

from ingestion.contract import raw_ddl

AUDIT_DDL = [
    "CREATE SCHEMA IF NOT EXISTS audit",
    """
    CREATE TABLE IF NOT EXISTS audit.submissions (
      file_id       bigserial PRIMARY KEY,
      file_name     text NOT NULL,
      sha256        char(64) NOT NULL,
      city_code     text,
      period        text,
      kind          text,
      received_at   timestamptz NOT NULL DEFAULT now(),
      status        text NOT NULL CHECK (status IN ('accepted', 'partial', 'rejected', 'duplicate')),
      rows          integer NOT NULL DEFAULT 0,
      rows_rejected integer NOT NULL DEFAULT 0,
      reason        text,
      superseded_at timestamptz,
      superseded_by bigint REFERENCES audit.submissions (file_id),
      archive_path  text,
      receipt       jsonb
    )
    """,
    # At most one loaded copy of any byte content: a second one is a duplicate.
    """
    CREATE UNIQUE INDEX IF NOT EXISTS submissions_loaded_sha256
      ON audit.submissions (sha256) WHERE status IN ('accepted', 'partial')
    """,
    """
    CREATE INDEX IF NOT EXISTS submissions_city_period_kind
      ON audit.submissions (city_code, period, kind)
    """,
    # Row issues: rejections and warnings have the same shape, kept in two tables.
    *(stmt for table in ("rejected_rows", "row_warnings") for stmt in (
        f"""
        CREATE TABLE IF NOT EXISTS audit.{table} (
          file_id     bigint NOT NULL REFERENCES audit.submissions (file_id),
          sheet       text,
          row_number  integer,
          column_name text,
          value       text,
          rule        text NOT NULL,
          message_zh  text NOT NULL,
          message_en  text NOT NULL
        )
        """,
        f"CREATE INDEX IF NOT EXISTS {table}_file ON audit.{table} (file_id)",
    )),
    "COMMENT ON TABLE audit.submissions IS 'One row per received file: status, rows loaded and rejected, supersession'",
    "COMMENT ON TABLE audit.rejected_rows IS 'Quarantined rows with file, sheet, row, column, value and rule'",
    "COMMENT ON TABLE audit.row_warnings IS 'Accepted rows flagged for review, e.g. paid-in revisions'",
]


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create audit and raw tables if missing (safe to call every time)."""
    run_ddl_once(conn, "openecon.ensure_schema", AUDIT_DDL + raw_ddl())


def run_ddl_once(conn: psycopg.Connection, lock: str, ddl: list[str], auditor_reads: list[str] = ()) -> None:
    """Run idempotent DDL in one transaction, serialised across processes by an advisory lock
    (CREATE ... IF NOT EXISTS is not race-free), and let the ``auditor`` role read
    ``auditor_reads`` when that role exists (it may not on a bare database)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
        for stmt in ddl:
            conn.execute(stmt)
        if auditor_reads:
            tables = ", ".join(auditor_reads)
            conn.execute(f"""DO $$ BEGIN
                IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'auditor') THEN
                  GRANT USAGE ON SCHEMA audit TO auditor;
                  GRANT SELECT ON {tables} TO auditor;
                END IF; END $$""")


def ensure_warehouse_schema(settings) -> None:
    """Connect to the configured warehouse and ensure the ingestion-owned tables exist."""
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        ensure_schema(conn)
