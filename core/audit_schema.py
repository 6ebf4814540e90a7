"""The ``audit`` schema: every table, view and grant, as ordered migrations.

This module is the one owner of ``audit``. Each migration is a list of idempotent
statements applied once, in order, and recorded in ``audit.schema_migrations``; the
statements stay idempotent (IF NOT EXISTS, OR REPLACE) so a database created before
migrations were numbered upgrades in place. :func:`migrate` runs at the start of every
command and pipeline step (``flows.warehouse.prepare``), never lazily from call sites.

The read grant goes to the auditor role named in the settings (the same value dbt uses
as ``var('openecon_auditor_role')``), when that role exists: dbt's build creates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from core.settings import Settings


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _row_issue_table(table: str) -> tuple[str, ...]:
    """Rejections and warnings have the same shape, kept in two tables."""
    return (
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
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "submissions and row issues", (
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
        "CREATE INDEX IF NOT EXISTS submissions_city_period_kind ON audit.submissions (city_code, period, kind)",
        *_row_issue_table("rejected_rows"),
        *_row_issue_table("row_warnings"),
        "COMMENT ON TABLE audit.submissions IS "
        "'One row per received file: status, rows loaded and rejected, supersession'",
        "COMMENT ON TABLE audit.rejected_rows IS 'Quarantined rows with file, sheet, row, column, value and rule'",
        "COMMENT ON TABLE audit.row_warnings IS 'Accepted rows flagged for review, e.g. paid-in revisions'",
    )),
    Migration(2, "the files in force", (
        # The one definition of "in force": loaded and not superseded by a later file of the
        # same city, period and kind. Python (data versions, documents, intake) and dbt read it.
        """
        CREATE OR REPLACE VIEW audit.submissions_in_force AS
        SELECT * FROM audit.submissions
        WHERE status IN ('accepted', 'partial') AND superseded_at IS NULL
        """,
        "COMMENT ON VIEW audit.submissions_in_force IS "
        "'The submission files in force: loaded and not superseded by a later file'",
    )),
    Migration(3, "quality gate runs and results", (
        """
        CREATE TABLE IF NOT EXISTS audit.quality_runs (
          run_id            text PRIMARY KEY,
          started_at        timestamptz NOT NULL,
          finished_at       timestamptz,
          data_version      jsonb NOT NULL,
          data_hash         text NOT NULL,
          success           boolean,
          evaluated         integer,
          blocking_failures integer,
          warnings          integer,
          data_docs_index   text,
          triggered_by      text,
          raw_scope         jsonb,
          skipped_suites    jsonb NOT NULL DEFAULT '[]'
        )
        """,
        "CREATE INDEX IF NOT EXISTS quality_runs_data_hash ON audit.quality_runs (data_hash, finished_at)",
        """
        CREATE TABLE IF NOT EXISTS audit.quality_results (
          run_id            text NOT NULL REFERENCES audit.quality_runs (run_id),
          data_hash         text NOT NULL,
          suite             text NOT NULL,
          layer             text NOT NULL,
          table_name        text NOT NULL,
          expectation       text NOT NULL,
          expectation_id    text,
          column_name       text,
          severity          text NOT NULL,
          success           boolean NOT NULL,
          observed_value    jsonb,
          unexpected_count  bigint,
          element_count     bigint,
          unexpected_sample jsonb,
          checked_at        timestamptz NOT NULL,
          expectation_type  text,
          description       text,
          exception         text
        )
        """,
        "CREATE INDEX IF NOT EXISTS quality_results_run ON audit.quality_results (run_id)",
        "COMMENT ON TABLE audit.quality_runs IS 'One row per Great Expectations gate run: the data version "
        "(submissions in force) it checked, the outcome and where its Data Docs are'",
        "COMMENT ON TABLE audit.quality_results IS 'One row per expectation evaluated in a gate run: suite, "
        "severity, success, observed value, unexpected count and a sample of failing rows'",
    )),
    Migration(4, "register of published documents", (
        """
        CREATE TABLE IF NOT EXISTS audit.bulletins (
          id            bigserial PRIMARY KEY,
          kind          text NOT NULL CHECK (kind IN ('quarterly', 'monthly')),
          period        text NOT NULL,
          version       integer NOT NULL,
          data_version  jsonb NOT NULL,
          data_hash     text NOT NULL,
          created_at    timestamptz NOT NULL DEFAULT now(),
          paths         jsonb NOT NULL DEFAULT '[]',
          changes       jsonb NOT NULL DEFAULT '[]',
          figures       jsonb NOT NULL DEFAULT '{}',
          UNIQUE (kind, period, version)
        )
        """,
        # the passing quality gate run (audit.quality_runs.run_id) the version was published on
        "ALTER TABLE audit.bulletins ADD COLUMN IF NOT EXISTS quality_run_id text",
        "COMMENT ON TABLE audit.bulletins IS 'One row per published document version: data version "
        "(submissions used), output files and the figures changed since the previous version'",
    )),
    Migration(5, "pipeline failures", (
        """
        CREATE TABLE IF NOT EXISTS audit.pipeline_failures (
          id             bigserial PRIMARY KEY,
          dag_id         text NOT NULL,
          run_id         text NOT NULL,
          task_id        text NOT NULL,
          map_index      integer NOT NULL DEFAULT -1,
          try_number     integer,
          logical_date   timestamptz,
          exception      text,
          recorded_at    timestamptz NOT NULL DEFAULT now()
        )
        """,
        "COMMENT ON TABLE audit.pipeline_failures IS 'One row per failed Airflow task instance "
        "(after its last try): DAG, run, task, try, logical date and the exception'",
    )),
    Migration(6, "every document kind in the register (the appraisal too)", (
        "ALTER TABLE audit.bulletins DROP CONSTRAINT IF EXISTS bulletins_kind_check",
        "ALTER TABLE audit.bulletins ADD CONSTRAINT bulletins_kind_check "
        "CHECK (kind IN ('quarterly', 'monthly', 'appraisal'))",
        # what a version was published from when it is not a data-version change alone
        "ALTER TABLE audit.bulletins ADD COLUMN IF NOT EXISTS content_hash text",
    )),
    Migration(7, "figures each published version printed; corrections and incomplete periods", (
        # One row per KPI cell (kpi_city_month's key) a published version printed, with the values it
        # printed: the next version lists those that changed (更正说明), and dbt compares them with the
        # current marts (kpi_city_month.revised_since_publication). Written in the transaction of the
        # version's register row; kind/period/version/published_at repeat audit.bulletins' for dbt.
        """
        CREATE TABLE IF NOT EXISTS audit.published_figures (
          bulletin_id   bigint NOT NULL REFERENCES audit.bulletins (id),
          kind          text NOT NULL,
          period        text NOT NULL,
          version       integer NOT NULL,
          published_at  timestamptz NOT NULL,
          kpi_code      text NOT NULL,
          city_code     text NOT NULL,
          kpi_period    text NOT NULL,
          value_ytd     numeric,
          value_month   numeric,
          prints_ytd    boolean NOT NULL,
          prints_month  boolean NOT NULL,
          PRIMARY KEY (bulletin_id, kpi_code, city_code, kpi_period)
        )
        """,
        "CREATE INDEX IF NOT EXISTS published_figures_cell "
        "ON audit.published_figures (kpi_code, city_code, kpi_period, published_at)",
        # the printed figures of the previous version that this version corrects (figure, old, new,
        # difference, the superseding files), and the cities a version published over an incomplete
        # period (--allow-incomplete) left out or counted incompletely
        "ALTER TABLE audit.bulletins ADD COLUMN IF NOT EXISTS corrections jsonb NOT NULL DEFAULT '[]'",
        "ALTER TABLE audit.bulletins ADD COLUMN IF NOT EXISTS incomplete jsonb NOT NULL DEFAULT '[]'",
        "COMMENT ON TABLE audit.published_figures IS 'One row per KPI cell (kpi, city, period) a published "
        "document version printed, with the values printed (value_ytd / value_month where prints_*)'",
        "COMMENT ON COLUMN audit.bulletins.corrections IS '更正说明: printed figures of the previous version "
        "that changed (figure, old, new, difference, the superseding files in force)'",
        "COMMENT ON COLUMN audit.bulletins.incomplete IS 'Published over an incomplete period (--allow-incomplete): "
        "the cities not included or incomplete, with the reason; [] when complete'",
    )),
    Migration(8, "the files a passing quality gate covered", (
        # One definition for the gate's raw window (expectations.runner) and the dbt tests over raw
        # rows (their `where`): the rows of files up to this id were checked; file ids only grow.
        """
        CREATE OR REPLACE VIEW audit.quality_checked_files AS
        SELECT (SELECT (data_version->>'max_file_id')::bigint FROM audit.quality_runs
                WHERE success ORDER BY finished_at DESC LIMIT 1) AS up_to_file_id
        """,
        "COMMENT ON VIEW audit.quality_checked_files IS 'The highest file id the latest passing quality gate "
        "covered (NULL before any pass): raw rows of files up to it were checked'",
    )),
    Migration(9, "every figure a published version printed, with its id and trace", (
        # One row per figure a document version prints (tables, sentences, charts' data): its id
        # (<kpi>.<city>.<period>.<measure>, reports.figures), what it is, the text printed, where, and
        # its trace as of publication (the formula with its numbers, the cities, the files in force
        # then): `openecon trace --figure` reads a figure of any version from here, after corrections too.
        # The figures a printed one rests on (a city of a province total, last year's 累计 of a 同比)
        # are rows too, with printed_text NULL: every link of a trace leads to a row.
        """
        CREATE TABLE IF NOT EXISTS audit.document_figures (
          bulletin_id   bigint NOT NULL REFERENCES audit.bulletins (id),
          figure_id     text NOT NULL,
          kpi_code      text NOT NULL,
          city_code     text NOT NULL,
          kpi_period    text NOT NULL,
          measure       text NOT NULL,
          value         text,
          printed_text  text,
          label         text NOT NULL,
          places        jsonb NOT NULL DEFAULT '[]',
          trace         jsonb,
          PRIMARY KEY (bulletin_id, figure_id)
        )
        """,
        # what the version was computed with besides its files (reports.fingerprint): seeds, rules, layout
        "ALTER TABLE audit.bulletins ADD COLUMN IF NOT EXISTS build jsonb",
        "COMMENT ON TABLE audit.document_figures IS 'One row per figure a published document version printed: "
        "its id (kpi.city.period.measure), value, printed text, places and trace as of publication'",
    )),
    Migration(10, "a submission the province returned (退回) is no longer in force", (
        # A return is the province's word that a file in force is wrong: it stops counting, the
        # earlier file it superseded stays superseded, and the city must send a new one.
        "ALTER TABLE audit.submissions ADD COLUMN IF NOT EXISTS returned_at timestamptz",
        "ALTER TABLE audit.submissions ADD COLUMN IF NOT EXISTS returned_by text",
        "ALTER TABLE audit.submissions ADD COLUMN IF NOT EXISTS returned_reason text",
        """
        CREATE OR REPLACE VIEW audit.submissions_in_force AS
        SELECT * FROM audit.submissions
        WHERE status IN ('accepted', 'partial') AND superseded_at IS NULL AND returned_at IS NULL
        """,
        "COMMENT ON VIEW audit.submissions_in_force IS "
        "'The submission files in force: loaded, not superseded by a later file, not returned'",
    )),
)

LATEST = MIGRATIONS[-1].version
_LOCK = "openecon.audit_schema.migrate"


def is_current(conn: psycopg.Connection) -> bool:
    """Every migration recorded as applied: one read, no lock (``migrate`` when not).
    On an autocommit connection: a missing audit schema fails the read, not a transaction."""
    try:
        row = conn.execute("SELECT max(version) FROM audit.schema_migrations").fetchone()
    except psycopg.errors.UndefinedTable:
        return False
    return row[0] == LATEST


def migrate(conn: psycopg.Connection, settings: Settings) -> list[int]:
    """Apply the migrations not applied yet, in one transaction under an advisory lock
    (CREATE ... IF NOT EXISTS is not race-free); returns the versions applied now."""
    with conn.transaction():
        applied = apply_migrations(conn, "audit", MIGRATIONS, _LOCK)
        if applied:  # later tables get the grant from dbt's default privileges and on-run-end
            _grant_auditor(conn, settings.auditor_role)
    return applied


def apply_migrations(conn: psycopg.Connection, schema: str, migrations: tuple[Migration, ...], lock: str) -> list[int]:
    """Inside the caller's transaction: ``schema`` and its ``schema_migrations`` record, then each
    migration not recorded yet, in order, under the advisory lock ``lock``; returns those applied.
    The one runner of the schemas owned by migrations (audit here, portal in portal.schema)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    record = sql.Identifier(schema, "schema_migrations")
    conn.execute(sql.SQL("""CREATE TABLE IF NOT EXISTS {} (
                              version    integer PRIMARY KEY,
                              name       text NOT NULL,
                              applied_at timestamptz NOT NULL DEFAULT now())""").format(record))
    done = {r[0] for r in conn.execute(sql.SQL("SELECT version FROM {}").format(record)).fetchall()}
    applied = []
    for m in migrations:
        if m.version in done:
            continue
        for stmt in m.statements:
            conn.execute(stmt)
        conn.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(record), [m.version, m.name])
        applied.append(m.version)
    return applied


def _grant_auditor(conn: psycopg.Connection, role: str) -> None:
    """SELECT on all of audit for the auditor role, when it exists (dbt's build creates it)."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
        return
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA audit TO {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA audit TO {}").format(sql.Identifier(role)))
