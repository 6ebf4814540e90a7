"""The ``raw`` schema, generated from the submission contract and created idempotently.

``audit`` (where every file is recorded) belongs to :mod:`core.audit_schema`; both are
applied at the start of a command or pipeline step (``flows.warehouse.prepare``).
"""

from __future__ import annotations

import psycopg

from ingestion.contract import raw_ddl


def ensure_raw(conn: psycopg.Connection) -> None:
    """Create the raw tables the contract declares, if missing, in one transaction
    serialised across processes by an advisory lock (CREATE ... IF NOT EXISTS is not race-free)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('openecon.ingestion.ensure_raw'))")
        for stmt in raw_ddl():
            conn.execute(stmt)
