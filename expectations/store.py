"""Quality results as data: audit.quality_runs and audit.quality_results.

Every gate run writes one row to audit.quality_runs and one row per evaluated
expectation to audit.quality_results, with the data version it checked, so BI
tools chart quality over time and the bulletins can prove they were published on
a passing run of the data they print. The tables are created by core.audit_schema.
"""

from __future__ import annotations

import json

from psycopg.rows import dict_row


def _json(value) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def start_run(conn, run_id: str, started_at, data_version: dict, triggered_by: str, raw_scope: dict) -> None:
    conn.execute(
        """INSERT INTO audit.quality_runs (run_id, started_at, data_version, data_hash, triggered_by, raw_scope)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        [run_id, started_at, _json(data_version), data_version["hash"], triggered_by, _json(raw_scope)])


def finish_run(conn, run_id: str, result, rows: list[dict], finished_at) -> None:
    with conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO audit.quality_results (run_id, data_hash, suite, layer, table_name, expectation,
                     expectation_id, column_name, severity, success, observed_value, unexpected_count,
                     element_count, unexpected_sample, checked_at, expectation_type, description, exception)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [[run_id, r["data_hash"], r["suite"], r["layer"], r["table_name"], r["expectation"],
                  r["expectation_id"], r["column_name"], r["severity"], r["success"], _json(r["observed_value"]),
                  r["unexpected_count"], r["element_count"], _json(r["unexpected_sample"]), finished_at,
                  r["expectation_type"], r["description"], r["exception"]] for r in rows])
        conn.execute(
            """UPDATE audit.quality_runs SET finished_at = %s, success = %s, evaluated = %s,
                 blocking_failures = %s, warnings = %s, data_docs_index = %s, skipped_suites = %s
               WHERE run_id = %s""",
            [finished_at, result.success, result.evaluated, len(result.blocking),
             len(result.failures) - len(result.blocking), result.data_docs_index, _json(result.skipped), run_id])


def last_passed_max_file_id(conn) -> int | None:
    """The highest file id covered by the latest passing run: raw rows up to it were checked."""
    row = conn.execute("SELECT up_to_file_id FROM audit.quality_checked_files").fetchone()
    return None if row is None else _first(row)


def last_passed_scope(conn) -> dict | None:
    """What the latest passing run checked (audit.quality_runs.raw_scope), or None before any pass."""
    row = conn.execute("SELECT raw_scope FROM audit.quality_runs WHERE success "
                       "ORDER BY finished_at DESC LIMIT 1").fetchone()
    return None if row is None else _first(row)


def _first(row):
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


class GateNotPassed(RuntimeError):
    """Publishing refused: no passing quality gate run on the current data version."""


def require_passed(conn, data_version: dict) -> str:
    """The run id of the latest gate run on ``data_version``; raises unless that run passed."""
    with conn.cursor(row_factory=dict_row) as cur:
        exists = cur.execute("SELECT to_regclass('audit.quality_runs') IS NOT NULL AS t").fetchone()["t"]
        run = cur.execute(
            """SELECT run_id, success, finished_at FROM audit.quality_runs
               WHERE data_hash = %s AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1""",
            [data_version["hash"]]).fetchone() if exists else None
        if run is None:
            raise GateNotPassed(
                f"refusing to publish: no quality gate run on the current data version {data_version['hash']} "
                f"({data_version['files']} submission files in force); run `openecon build` first "
                f"(拒绝发布：当前数据版本尚未通过质量检查，请先运行 openecon build)")
        if run["success"]:
            return run["run_id"]
        fails = cur.execute(
            """SELECT expectation, table_name, column_name, unexpected_count, unexpected_sample
               FROM audit.quality_results WHERE run_id = %s AND severity = 'blocking' AND NOT success
               ORDER BY suite, expectation""", [run["run_id"]]).fetchall()
    lines = [f"  {f['expectation']} on {f['table_name']}"
             + (f" column {f['column_name']}" if f["column_name"] else "")
             + f": {f['unexpected_count']} failing, sample "
             + json.dumps((f["unexpected_sample"] or [])[:3], ensure_ascii=False, default=str)
             for f in fails]
    raise GateNotPassed(
        f"refusing to publish: the latest quality gate run {run['run_id']} on data version {data_version['hash']} "
        f"FAILED with {len(fails)} blocking expectation(s) (拒绝发布：质量检查未通过):\n" + "\n".join(lines)
        + "\nfix the data (or the submissions) and run `openecon build` again")
