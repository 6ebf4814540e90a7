"""The ``portal`` schema: accounts, sessions, the portal's audit trail, 上报说明 and upload jobs.

This module is the one owner of ``portal``, the way ``core.audit_schema`` owns ``audit``: ordered
migrations, each a list of idempotent statements applied once and recorded in
``portal.schema_migrations``. :func:`migrate` runs when the portal starts and in
``openecon portal user add`` (after the audit migrations: explanations refer to audit's files).

The auditor role reads the trail (events), the explanations and the upload jobs; never the
password hashes or the sessions.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from core.audit_schema import Migration, apply_migrations
from core.settings import Settings

ROLES = ("city_clerk", "province", "auditor")
# What portal.events records (README "The cities' portal"): every login, upload, explanation,
# return, download and refusal.
ACTION_ZH = {
    "login_ok": "登录", "login_failed": "登录失败", "login_locked": "登录被锁定", "logout": "退出",
    "upload": "上传", "upload_refused": "上传被拒", "explanation": "上报说明", "return": "退回",
    "return_refused": "退回未成功", "download": "下载", "forbidden": "拒绝访问",
    "asset_published": "触发建仓", "asset_publish_failed": "触发建仓失败", "user_added": "新建账户",
}
ACTIONS = tuple(ACTION_ZH)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "accounts, sessions, events, explanations, upload jobs", (
        """
        CREATE TABLE IF NOT EXISTS portal.users (
          login         text PRIMARY KEY CHECK (login ~ '^[A-Za-z0-9_.@-]{2,64}$'),
          role          text NOT NULL CHECK (role IN ('city_clerk', 'province', 'auditor')),
          city_code     text,
          password_hash text NOT NULL,
          created_at    timestamptz NOT NULL DEFAULT now(),
          disabled      boolean NOT NULL DEFAULT false,
          -- a clerk belongs to exactly one city; the province and auditors to none
          CHECK ((role = 'city_clerk') = (city_code IS NOT NULL))
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS portal.login_attempts (
          id     bigserial PRIMARY KEY,
          login  text NOT NULL,
          ip     text,
          at     timestamptz NOT NULL DEFAULT now(),
          ok     boolean NOT NULL
        )
        """,
        "CREATE INDEX IF NOT EXISTS login_attempts_login ON portal.login_attempts (login, at)",
        "CREATE INDEX IF NOT EXISTS login_attempts_ip ON portal.login_attempts (ip, at)",
        # The cookie carries a signed random id; only its SHA-256 is stored, so reading this
        # table does not let anyone take over a session.
        """
        CREATE TABLE IF NOT EXISTS portal.sessions (
          id_sha256    text PRIMARY KEY,
          login        text NOT NULL REFERENCES portal.users (login),
          csrf_token   text NOT NULL,
          created_at   timestamptz NOT NULL DEFAULT now(),
          last_seen_at timestamptz NOT NULL DEFAULT now(),
          ip           text,
          user_agent   text
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS portal.events (
          id        bigserial PRIMARY KEY,
          at        timestamptz NOT NULL DEFAULT now(),
          login     text,
          role      text,
          city_code text,
          action    text NOT NULL,
          file_id   bigint,
          ip        text,
          detail    jsonb NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX IF NOT EXISTS events_at ON portal.events (at)",
        "CREATE INDEX IF NOT EXISTS events_file ON portal.events (file_id)",
        # 上报说明: one row per text entered for a warning of a file (audit.row_warnings has no key:
        # a warning is identified by its file, sheet, row, column and rule); the latest is current,
        # earlier ones stay as history.
        """
        CREATE TABLE IF NOT EXISTS portal.explanations (
          id          bigserial PRIMARY KEY,
          file_id     bigint NOT NULL REFERENCES audit.submissions (file_id),
          sheet       text,
          row_number  integer,
          column_name text,
          rule        text NOT NULL,
          text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
          by_login    text NOT NULL,
          at          timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX IF NOT EXISTS explanations_file ON portal.explanations (file_id)",
        """
        CREATE TABLE IF NOT EXISTS portal.upload_jobs (
          id          text PRIMARY KEY,
          login       text NOT NULL,
          city_code   text NOT NULL,
          period      text NOT NULL,
          kind        text NOT NULL,
          file_name   text NOT NULL,
          size_bytes  bigint NOT NULL,
          status      text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
          backend_pid integer,
          file_id     bigint,
          error       text,
          created_at  timestamptz NOT NULL DEFAULT now(),
          started_at  timestamptz,
          finished_at timestamptz
        )
        """,
        "COMMENT ON TABLE portal.users IS 'Portal accounts: city clerks (one city), the province, auditors'",
        "COMMENT ON TABLE portal.events IS 'Audit trail of the portal: logins, uploads, explanations, returns, "
        "downloads, refused requests, asset publications'",
        "COMMENT ON TABLE portal.explanations IS '上报说明: what a city says about a warning of its file'",
        "COMMENT ON TABLE portal.upload_jobs IS 'One row per upload: the ingest in progress or done, its file id'",
    )),
)

LATEST = MIGRATIONS[-1].version
_LOCK = "openecon.portal_schema.migrate"
# What the auditor role may read (never password hashes or sessions).
AUDITOR_TABLES = ("events", "explanations", "upload_jobs")


def migrate(conn: psycopg.Connection, settings: Settings) -> list[int]:
    """Apply the migrations not applied yet, in one transaction under an advisory lock; grant the
    auditor role its read access (every time: the role may have been created since)."""
    with conn.transaction():
        applied = apply_migrations(conn, "portal", MIGRATIONS, _LOCK)
        _grant_auditor(conn, settings.auditor_role)
    return applied


def _grant_auditor(conn: psycopg.Connection, role: str) -> None:
    """SELECT on the trail, the explanations and the jobs for the auditor role, when it exists."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
        return
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA portal TO {}").format(sql.Identifier(role)))
    for table in AUDITOR_TABLES:
        conn.execute(sql.SQL("GRANT SELECT ON portal.{} TO {}").format(sql.Identifier(table), sql.Identifier(role)))
