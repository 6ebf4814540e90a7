"""The ``raw`` schema, generated from the submission contract and created idempotently.

``audit`` (where every file is recorded) belongs to :mod:`core.audit_schema`; both are
applied at the start of a command or pipeline step (``flows.warehouse.prepare``).
A bulk table (``raw.trade``) is partitioned by the month its files report: each month's
partition is created on its first file (:func:`month_partition`).
"""

from __future__ import annotations

import hashlib
import logging

import psycopg

from core.periods import shift
from ingestion.contract import PARTITION_KEY, SHEETS, TRADE, Sheet, raw_ddl

log = logging.getLogger(__name__)


def ensure_raw(conn: psycopg.Connection) -> None:
    """Create the raw tables the contract declares, if missing, in one transaction
    serialised across processes by an advisory lock (CREATE ... IF NOT EXISTS is not race-free).
    The schema's comment then names the contract's DDL, for ``raw_is_current``."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('openecon.ingestion.ensure_raw'))")
        for sheet in SHEETS:
            if sheet.bulk and _relkind(conn, sheet.raw_table) == "r":
                _partition_existing(conn, sheet)
        for stmt in raw_ddl():
            conn.execute(stmt)
        conn.execute(f"COMMENT ON SCHEMA raw IS '{_contract_comment()}'")


def raw_is_current(conn: psycopg.Connection) -> bool:
    """The raw tables of this contract in place, read from the catalog without a lock: the
    schema's comment names this contract's DDL and every table exists, the bulk ones partitioned.
    Every command checks this first: ``ensure_raw``'s forty statements under the advisory lock made
    each command wait while another created a partition."""
    row = conn.execute(
        "SELECT obj_description(to_regnamespace('raw'), 'pg_namespace'), "
        "       array(SELECT coalesce(c.relkind::text, '') "
        "             FROM unnest(%s::text[]) WITH ORDINALITY AS t(name, i) "
        "             LEFT JOIN pg_class AS c ON c.oid = to_regclass(t.name) ORDER BY t.i)",
        [[s.raw_table for s in SHEETS]]).fetchone()
    return row[0] == _contract_comment() and row[1] == ["p" if s.bulk else "r" for s in SHEETS]


def _contract_comment() -> str:
    ddl = "\n".join(raw_ddl()).encode()
    return f"openecon raw tables, contract {hashlib.sha256(ddl).hexdigest()[:16]}"


def partition_name(sheet: Sheet, period: str) -> str:
    """raw.trade_2025_09 for the period 2025-09."""
    return f"{sheet.raw_table}_{period.replace('-', '_')}"


def month_partition(conn: psycopg.Connection, sheet: Sheet, period: str) -> str:
    """The partition of ``sheet``'s raw table for ``period`` (YYYY-MM), created if missing.

    Created as a table of its own and then attached, in a short transaction of its own:
    attaching locks the parent only against other DDL (readers and the other months' loads
    go on), and the file's load that follows can take minutes. The partition's default for
    the partition key is its month, so a COPY into it names only the file's columns.
    """
    name = partition_name(sheet, period)
    if _relkind(conn, name):
        return name
    start, end = f"{period}-01", f"{shift(period, 1)}-01"
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"openecon.partition|{name}"])
        if _relkind(conn, name):  # another process created it while we waited
            return name
        conn.execute(f"CREATE TABLE {name} (LIKE {sheet.raw_table} INCLUDING DEFAULTS INCLUDING STORAGE)")
        conn.execute(f"ALTER TABLE {name} ALTER COLUMN {PARTITION_KEY} SET DEFAULT '{start}'")
        conn.execute(f"ALTER TABLE {sheet.raw_table} ATTACH PARTITION {name} "
                     f"FOR VALUES FROM ('{start}') TO ('{end}')")
    log.info("created partition %s", name)
    return name


# Statistics counting fewer rows than this share of a partition's rows are stale (autovacuum's
# default analyze scale factor, 0.1, as a share of the rows the statistics counted).
STALE_SHARE = 0.9


def refresh_month_statistics(conn: psycopg.Connection) -> list[str]:
    """ANALYZE each month partition of raw.trade whose statistics miss a tenth of its rows; returns
    the partitions analysed. The build runs it before dbt plans its joins on them.

    Here and not after each ingest: a month's files arrive as one ingest per city (Airflow's
    mapped tasks, two at a time), and each finishing ingest found the month grown by a tenth
    and read most of it again (several times for the 14 files of a month at the province's
    volume, a second or more each, while the other city's load waited for the core). Raw rows are never
    deleted, so a month's rows are the rows of its loaded files in audit; the ANALYZE that last
    counted them left its count in pg_class.reltuples (-1: never analysed).
    """
    rows = dict(conn.execute(
        """SELECT period, sum(rows) FROM audit.submissions
           WHERE kind = 'trade' AND status IN ('accepted', 'partial') AND rows > 0
           GROUP BY period""").fetchall())
    analysed = []
    for period in sorted(rows):
        name = partition_name(TRADE, period)
        counted = conn.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [name]).fetchone()
        if counted is not None and (counted[0] < 0 or counted[0] < STALE_SHARE * rows[period]):
            conn.execute(f"ANALYZE {name}")
            analysed.append(name)
    return analysed


def _relkind(conn: psycopg.Connection, name: str) -> str | None:
    """'r' (table), 'p' (partitioned table), ... or None when ``name`` does not exist."""
    row = conn.execute("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)", [name]).fetchone()
    return row[0] if row else None


def _partition_existing(conn: psycopg.Connection, sheet: Sheet) -> None:
    """A warehouse from before partitioning: move the rows of the plain table into month partitions
    (each row's month from its file's audit row), once, inside ensure_raw's transaction."""
    old = f"{sheet.raw_table}_unpartitioned"
    conn.execute(f"ALTER TABLE {sheet.raw_table} RENAME TO {old.split('.')[1]}")
    conn.execute(f"ALTER INDEX IF EXISTS {sheet.raw_table.split('.')[0]}.{sheet.name}_file_brin "
                 f"RENAME TO {sheet.name}_file_brin_unpartitioned")
    for stmt in raw_ddl():
        conn.execute(stmt)
    periods = [p for (p,) in conn.execute(
        f"""SELECT DISTINCT s.period FROM audit.submissions s
            WHERE s.file_id IN (SELECT DISTINCT file_id FROM {old}) ORDER BY 1""").fetchall()]
    cols = ["file_id", "row_number", *(c.name for c in sheet.columns)]
    moved = 0
    for period in periods:
        name = month_partition(conn, sheet, period)
        moved += conn.execute(
            f"""INSERT INTO {name} ({', '.join(cols)}) SELECT {', '.join('t.' + c for c in cols)} FROM {old} t
                JOIN audit.submissions s ON s.file_id = t.file_id WHERE s.period = %s""", [period]).rowcount
    left = conn.execute(f"SELECT count(*) FROM {old}").fetchone()[0] - moved
    if left:
        raise RuntimeError(f"{old}: {left} rows belong to no file of audit.submissions; not partitioned")
    conn.execute(f"DROP TABLE {old}")
    log.warning("partitioned %s by month: %d rows in %d partitions", sheet.raw_table, moved, len(periods))
