"""Operations for every DAG: retries on transient failures only, failure records, notification.

* Transient failures (a dropped or refused database connection, in our code, GX's
  SQLAlchemy or a dbt subprocess) are retried with exponential backoff; everything
  else (bad input, a failed blocking gate, a bug) fails at once: retrying a data error
  only delays the alert.
* Every task failure is recorded in ``audit.pipeline_failures`` (the callback applies the
  audit migrations first: a failure may come before any step ran) and, when an Airflow
  connection ``openecon_notify`` exists, sent by mail through the SMTP provider's notifier.
  Without that connection nothing is sent.

This module is imported by the DAG files at parse time: nothing here touches a
database or the network until a callback runs.
"""

from __future__ import annotations

import html
import logging
import os
import re
from datetime import timedelta

import psycopg
from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy

from core import audit_schema
from core.settings import get_settings
from flows.transform import StepFailed

log = logging.getLogger(__name__)

NOTIFY_CONN_ID = "openecon_notify"
# Base delay of the first retry; the test suite sets it to 1 s (read when a DAG file is parsed).
RETRY_DELAY_ENV = "OPENECON_RETRY_DELAY_SECONDS"

# What a dropped or refused connection looks like in a dbt subprocess's output or a wrapped error.
CONNECTION_LOST = re.compile(
    r"terminating connection due to administrator command|server closed the connection unexpectedly"
    r"|connection to server at .* failed|could not connect to server|connection refused"
    r"|connection already closed|SSL SYSCALL error|consuming input failed|the database system is "
    r"(starting up|shutting down|in recovery mode)|could not receive data from server|EOF detected",
    re.IGNORECASE,
)


def _transient_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ConnectionError, TimeoutError, psycopg.OperationalError]
    try:
        import psycopg2

        types.append(psycopg2.OperationalError)
    except ImportError:  # pragma: no cover
        pass
    try:
        from sqlalchemy.exc import DisconnectionError, OperationalError

        types += [OperationalError, DisconnectionError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def is_transient(exc: BaseException) -> bool:
    """A dropped/refused connection anywhere in the exception chain, or in a dbt failure's output."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _transient_types()):
            return True
        if isinstance(exc, StepFailed) and CONNECTION_LOST.search(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class TransientOnly(RetryPolicy):
    """Retry transient (connection) failures; fail anything else at once.

    Airflow never consults the policy for ``AirflowFailException`` (a failed blocking
    gate), which always fails. Runs in the worker, so it is never serialized.
    """

    def evaluate(self, exception, try_number, max_tries, context=None) -> RetryDecision:
        if is_transient(exception):
            return RetryDecision.retry(reason=f"transient: {type(exception).__name__}; retrying with backoff")
        return RetryDecision.fail(reason=f"not transient ({type(exception).__name__}); not retried")


def retry_delay() -> timedelta:
    return timedelta(seconds=float(os.environ.get(RETRY_DELAY_ENV) or 30))


def default_args(retries: int = 3) -> dict:
    """Task defaults of every openecon DAG: 30 s, 60 s, 120 s … (capped at 10 min) on transient failures."""
    return {
        "retries": retries,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": 2.0,  # a multiplier in Airflow 3.3 (True would mean ×1)
        "max_retry_delay": timedelta(minutes=10),
        "retry_policy": TransientOnly(),
        "on_failure_callback": [record_failure, notify_failure],
    }


# --------------------------------------------------------------------------- failure records
def failure_row(context) -> dict:
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    exc = context.get("exception")
    text = f"{type(exc).__name__}: {exc}" if exc is not None else None
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(run, "dag_id", "?"),
        "run_id": getattr(ti, "run_id", None) or getattr(run, "run_id", "?"),
        "task_id": getattr(ti, "task_id", "?"),
        "map_index": getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1,
        "try_number": getattr(ti, "try_number", None),
        "logical_date": context.get("logical_date"),
        "exception": text[-20000:] if text else None,
    }


def record_failure(context) -> None:
    """on_failure_callback: one row in audit.pipeline_failures. Never raises (the task already failed)."""
    try:
        settings = get_settings()
        row = failure_row(context)
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True, connect_timeout=10) as conn:
            audit_schema.migrate(conn, settings)
            conn.execute(
                """INSERT INTO audit.pipeline_failures
                   (dag_id, run_id, task_id, map_index, try_number, logical_date, exception)
                   VALUES (%(dag_id)s, %(run_id)s, %(task_id)s, %(map_index)s, %(try_number)s,
                           %(logical_date)s, %(exception)s)""", row)
        log.info("failure of %s.%s recorded in audit.pipeline_failures", row["dag_id"], row["task_id"])
    except Exception:  # the warehouse itself may be what failed
        log.exception("could not record the failure in audit.pipeline_failures")


# --------------------------------------------------------------------------- notification
def notify_connection():
    """The ``openecon_notify`` connection, or None when it is not configured (notification off)."""
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(NOTIFY_CONN_ID)
    except Exception:  # AirflowNotFoundException, or no connection source reachable
        return None


def notify_failure(context) -> None:
    """on_failure_callback: mail the failure when connection ``openecon_notify`` (type smtp) exists.

    The connection holds the SMTP server (host, port, login, password) and in its extra
    ``to`` (address or list) and ``from_email``; TLS/SSL as the SMTP provider reads them
    (``disable_tls``, ``disable_ssl``).
    """
    conn = notify_connection()
    if conn is None:
        return
    try:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        extra = conn.extra_dejson or {}
        to = extra.get("to")
        if not to:
            log.warning("connection %s has no 'to' in its extra; not notifying", NOTIFY_CONN_ID)
            return
        row = failure_row(context)
        subject = f"[openecon] 任务失败 task failed: {row['dag_id']}.{row['task_id']} ({row['run_id']})"
        mapped = "" if row["map_index"] == -1 else f" [{row['map_index']}]"
        body = (f"<p>DAG <b>{row['dag_id']}</b>, run {row['run_id']}, task <b>{row['task_id']}</b>"
                f"{mapped}, try {row['try_number']} "
                f"失败 failed.</p><pre>{_html_escape(row['exception'] or '')[:4000]}</pre>"
                "<p>Recorded in audit.pipeline_failures.</p>")
        SmtpNotifier(to=to, from_email=extra.get("from_email"), subject=subject, html_content=body,
                     smtp_conn_id=NOTIFY_CONN_ID)(context)
    except Exception:
        log.exception("could not send the failure notification through %s", NOTIFY_CONN_ID)


def _html_escape(text: str) -> str:

    # braces too: the notifier renders its content with Jinja
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")
