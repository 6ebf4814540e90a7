"""What every command and pipeline step does first: the warehouse's own schemas in place."""

from __future__ import annotations

import psycopg

from core import audit_schema
from core.settings import Settings
from ingestion.schema import ensure_raw, raw_is_current


def prepare(settings: Settings) -> None:
    """Apply the audit migrations and create the raw tables (idempotent, cheap when done),
    so dbt's sources, intake and the publish register exist even on an empty database."""
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        if audit_schema.is_current(conn) and raw_is_current(conn):
            return  # the usual case: two catalog reads, no lock, no DDL
        audit_schema.migrate(conn, settings)
        ensure_raw(conn)
