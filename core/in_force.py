"""The data version: which submission files are in force.

"In force" is defined once, in the database: the view ``audit.submissions_in_force``
(:mod:`core.audit_schema`), which dbt reads too. The quality gate (audit.quality_runs) and
the published documents (audit.bulletins) summarise those files as a count, the highest
file_id, the latest received_at and a short hash of the sorted (file_id, sha256) pairs.
Two summaries of the same files are equal, whatever the order they were read in.
"""

from __future__ import annotations

import hashlib

from psycopg.rows import dict_row, tuple_row


def summarize(sources) -> dict:
    """Data version of a list of files: dicts (or rows) with file_id, sha256 and received_at."""
    pairs = sorted((int(s["file_id"]), (s["sha256"] or "").strip()) for s in sources)
    digest = hashlib.sha256("\n".join(f"{i}:{h}" for i, h in pairs).encode()).hexdigest()
    received = max((s["received_at"] for s in sources if s["received_at"] is not None), default=None)
    return {
        "files": len(pairs),
        "max_file_id": pairs[-1][0] if pairs else None,
        "max_received_at": received.isoformat(timespec="seconds") if received else None,
        "hash": digest[:12],
    }


def in_force(conn, first: str | None = None, last: str | None = None) -> list[dict]:
    """The submission files in force, optionally only for periods first..last (YYYY-MM)."""
    where, params = "", []
    if first is not None and last is not None:
        where, params = "WHERE period BETWEEN %s AND %s", [first, last]
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT file_id, sha256, received_at, period, kind FROM audit.submissions_in_force "
                           f"{where} ORDER BY file_id", params).fetchall()


def current(conn) -> dict:
    """The data version of the whole warehouse: every submission file in force.

    Returns {files, max_file_id, max_received_at, hash}; on a database where nothing
    was ever received (no audit schema yet) it is the version of no files.
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        exists = cur.execute("SELECT to_regclass('audit.submissions_in_force') IS NOT NULL").fetchone()[0]
    return summarize(in_force(conn) if exists else [])
