"""What every command and pipeline step does first: the warehouse's own schemas in place."""

from __future__ import annotations

import psycopg

from core import audit_schema
from core.settings import Settings
from ingestion.schema import ensure_raw


def prepare(settings: Settings) -> None:
    """Apply the audit migrations and create the raw tables (idempotent, cheap when done),
    so dbt's sources, intake and the publish register exist even on an empty database."""
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        audit_schema.migrate(conn, settings)
        ensure_raw(conn)
