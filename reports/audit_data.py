"""Read-only queries behind the auditor's report (audit.*, marts.submission_status).

Nothing here creates or changes anything in the database: a table that does not
exist yet (an empty warehouse, a gate never run) reads as "absent", and the report
says so instead of failing.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from core.constants import TIMEZONE
from core.in_force import current
from core.periods import quarter_labels, shift

LOCAL_TZ = ZoneInfo(TIMEZONE)


class Absent(Exception):
    """A table the section reads does not exist (yet)."""


def collection_window(month_list: list[str]) -> tuple[datetime, datetime]:
    """From the first day of the first month to the end of the month after the last one (local time).

    Files whose names could not be read carry no period; those received in this window
    are listed with the period's files so nothing received goes unreported.
    """
    start = date.fromisoformat(month_list[0] + "-01")
    nxt = date.fromisoformat(shift(month_list[-1], 2) + "-01")
    return (datetime.combine(start, time.min, LOCAL_TZ), datetime.combine(nxt, time.min, LOCAL_TZ))


def connect(settings) -> psycopg.Connection:
    return psycopg.connect(**settings.warehouse.conninfo(), autocommit=True, row_factory=dict_row)


def exists(conn, *tables: str) -> bool:
    return all(conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", [t]).fetchone()["ok"] for t in tables)


def columns(conn, table: str) -> set[str]:
    schema, name = table.split(".")
    return {r["column_name"] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        [schema, name]).fetchall()}


def files(conn, month_list: list[str]) -> list[dict]:
    """Every file received for the months (any status), plus unreadable names received in the window."""
    if not exists(conn, "audit.submissions"):
        raise Absent("audit.submissions")
    start, end = collection_window(month_list)
    return conn.execute(
        """SELECT s.file_id, s.file_name, s.city_code, s.period, s.kind, s.sha256, s.received_at, s.status,
                  s.receipt ->> 'status' AS receipt_status, s.rows, s.rows_rejected, s.reason,
                  s.superseded_at, s.superseded_by, n.file_name AS superseded_by_name, s.archive_path,
                  s.returned_at, s.returned_by, s.returned_reason
           FROM audit.submissions AS s
           LEFT JOIN audit.submissions AS n ON n.file_id = s.superseded_by
           WHERE s.period = ANY(%(months)s)
              OR (s.period IS NULL AND s.received_at >= %(start)s AND s.received_at < %(end)s)
           ORDER BY s.city_code NULLS LAST, s.period, s.kind, s.file_id""",
        {"months": month_list, "start": start, "end": end}).fetchall()


def row_issues(conn, table: str, file_ids: list[int]) -> list[dict]:
    """audit.rejected_rows or audit.row_warnings of these files, in file and row order."""
    if not exists(conn, f"audit.{table}"):
        raise Absent(f"audit.{table}")
    return conn.execute(
        f"""SELECT r.file_id, s.file_name, s.city_code, s.period, r.sheet, r.row_number, r.column_name,
                   r.value, r.rule, r.message_zh, r.message_en
            FROM audit.{table} AS r JOIN audit.submissions AS s USING (file_id)
            WHERE r.file_id = ANY(%s)
            ORDER BY r.file_id, r.sheet NULLS FIRST, r.row_number NULLS FIRST, r.column_name""",
        [file_ids]).fetchall()


def submission_status(conn, month_list: list[str]) -> list[dict]:
    if not exists(conn, "marts.submission_status"):
        raise Absent("marts.submission_status")
    return conn.execute(
        """SELECT city_code, city_name, period, kind, deadline_date, status, status_zh, timeliness,
                  is_correction, combined_with_period, first_received_at, in_force_file_id,
                  in_force_file_name, in_force_received_at, files_received, files_rejected,
                  files_superseded, days_late
           FROM marts.submission_status WHERE period = ANY(%s)
           ORDER BY city_code, period, kind DESC""", [month_list]).fetchall()


def bulletins(conn, month_list: list[str]) -> list[dict]:
    """Document versions published for the months, of every kind in audit.bulletins: those whose period
    is one of the months (the monthly scheduling report) or a quarter ending in one of them (the
    quarterly bulletin, the appraisal as of that quarter)."""
    if not exists(conn, "audit.bulletins"):
        raise Absent("audit.bulletins")
    present = columns(conn, "audit.bulletins")
    optional = ", ".join(c if c in present else f"NULL::text AS {c}" for c in ("quality_run_id", "content_hash"))
    optional += "".join(f", {c}" if c in present else f", '[]'::jsonb AS {c}" for c in ("corrections", "incomplete"))
    return conn.execute(
        f"""SELECT id, kind, period, version, data_version, data_hash, {optional}, created_at, paths
            FROM audit.bulletins
            WHERE period = ANY(%s)
            ORDER BY kind DESC, period, version""",
        [month_list + quarter_labels(month_list)]).fetchall()


# 数据溯源抽查: the goods-trade figures of the province and of 长沙 (the capital) in every version
SAMPLE_KPIS, SAMPLE_AREAS = ("trade_total", "exports", "imports"), ("430000", "430100")


def figure_samples(conn, bulletin_ids: list[int]) -> list[dict]:
    """The sampled printed figures of the versions, with their traces as published."""
    if not bulletin_ids or not exists(conn, "audit.document_figures"):
        return []
    return conn.execute(
        """SELECT bulletin_id, figure_id, label, printed_text, value, trace FROM audit.document_figures
           WHERE bulletin_id = ANY(%s) AND measure = 'value_ytd' AND printed_text IS NOT NULL
             AND kpi_code = ANY(%s) AND city_code = ANY(%s)
           ORDER BY bulletin_id, kpi_code, city_code""",
        [bulletin_ids, list(SAMPLE_KPIS), list(SAMPLE_AREAS)]).fetchall()


RUN_COLUMNS = ("run_id", "started_at", "finished_at", "data_version", "data_hash", "success", "evaluated",
               "blocking_failures", "warnings", "data_docs_index", "triggered_by")
RESULT_COLUMNS = ("run_id", "data_hash", "suite", "layer", "table_name", "expectation", "expectation_id",
                  "column_name", "severity", "success", "observed_value", "unexpected_count", "element_count",
                  "unexpected_sample", "checked_at")


def quality_runs(conn, since: datetime | None, run_ids: list[str]) -> list[dict]:
    """Gate runs that checked the period's data: started after its first file arrived, or named by a bulletin.

    The marts hold the whole history, so every gate run after the period's first file was
    received checked (a version of) the period's rows.
    """
    if not exists(conn, "audit.quality_runs", "audit.quality_results"):
        raise Absent("audit.quality_runs / audit.quality_results")
    return conn.execute(
        f"""SELECT {', '.join(RUN_COLUMNS)} FROM audit.quality_runs
            WHERE (%(since)s::timestamptz IS NOT NULL AND started_at >= %(since)s) OR run_id = ANY(%(ids)s)
            ORDER BY started_at, run_id""", {"since": since, "ids": run_ids}).fetchall()


def quality_results(conn, run_ids: list[str]) -> list[dict]:
    return conn.execute(
        f"""SELECT {', '.join(RESULT_COLUMNS)} FROM audit.quality_results WHERE run_id = ANY(%s)
            ORDER BY checked_at, run_id, suite, expectation, column_name NULLS FIRST""", [run_ids]).fetchall()


def in_force_now(conn) -> dict:
    """The data version of the warehouse at report time (every file in force)."""
    return current(conn)


def local(ts: datetime | None) -> str:
    return ts.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


