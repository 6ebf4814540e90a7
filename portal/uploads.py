"""Uploads: the name checked against the contract and the clerk's city, the body streamed to disk
under the size limit, then the same intake as ``openecon ingest`` in a worker thread.

The uploaded name is only parsed (``ingestion.load.parse_file_name``) to learn kind, city and
period; the file is saved as ``<portal dir>/uploads/<random>/<canonical name>``, the canonical
name rebuilt from those parts, so nothing the browser sends becomes a path. The body is counted
while it streams: past ``OPENECON_MAX_FILE_MB`` the upload stops with 413 and the partial file is
deleted; nothing is held in memory beyond one chunk.

The ingest is ``ingestion.load.ingest_paths``, as ``openecon ingest`` runs it (reconnect and retry
after a lost connection, fresh statistics after the load); its connection's backend pid is kept in
``portal.upload_jobs``, so the page can follow the COPY in ``pg_stat_progress_copy``. The receipt,
the audit.submissions row, the archived original and the receipt file are what the CLI makes.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from core import reference
from core.settings import Settings
from ingestion.load import Receipt, ingest_paths, parse_file_name
from ingestion.template import submission_name
from portal import events, pipeline
from portal.accounts import User

log = logging.getLogger(__name__)
LOADED = ("accepted", "partial", "superseding")


class UploadRefused(Exception):
    """An upload refused before intake: HTTP status, the Chinese message, and the event to record."""

    def __init__(self, status: int, message: str, action: str = "upload_refused"):
        super().__init__(message)
        self.status, self.action = status, action


@dataclass(frozen=True)
class Target:
    kind: str
    city_code: str
    period: str

    @property
    def canonical_name(self) -> str:
        return submission_name(self.kind, self.city_code, self.period.replace("-", ""))


def check_name(name: str, user: User) -> Target:
    """What the name says, or UploadRefused: not a submission name (400), another city's (403)."""
    meta = parse_file_name(name or "")
    if meta is None:
        raise UploadRefused(400, f"文件名「{name}」不符合报送要求：月报工作簿应为「市州代码_年月.xlsx」（如 "
                                 f"{user.city_code}_202509.xlsx），外贸明细应为「trade_市州代码_年月.csv」（如 "
                                 f"trade_{user.city_code}_202509.csv）。请按模板命名后重新上传。")
    kind, city, period = meta
    if not user.is_clerk:
        raise UploadRefused(403, "只有市州填报员可以上传报送文件", "forbidden")
    if city != user.city_code:
        other = reference.cities().get(city, "未知市州")
        mine = reference.cities().get(user.city_code, user.city_code)
        raise UploadRefused(403, f"文件名中的市州代码 {city}（{other}）不是本账户所属的{mine}（{user.city_code}），"
                                 "只能报送本市州的文件。请检查是否选错了文件。", "forbidden")
    return Target(kind, city, period)


def new_upload_dir(settings: Settings) -> Path:
    d = settings.portal_dir / "uploads" / secrets.token_hex(16)
    d.mkdir(parents=True, mode=0o700)
    return d


def limit_bytes(settings: Settings) -> int:
    return int(settings.max_file_mb * 2**20)


def too_large_message(settings: Settings) -> str:
    return f"文件超过{settings.max_file_mb:g} MB上限，未予接收。请检查是否选错了文件，或联系省商务厅。"


async def receive(stream, dest: Path, limit: int) -> int:
    """Write the request body to ``dest`` chunk by chunk; UploadRefused(413) once past ``limit``
    (the partial file removed). Returns the size."""
    size = 0
    try:
        with open(dest, "xb") as fh:
            async for chunk in stream:
                size += len(chunk)
                if size > limit:
                    raise UploadRefused(413, "")
                fh.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if size == 0:
        dest.unlink(missing_ok=True)
        raise UploadRefused(400, "文件为空，未予接收")
    return size


def create_job(conn, user: User, target: Target, size: int) -> str:
    job_id = secrets.token_hex(12)
    conn.execute("""INSERT INTO portal.upload_jobs (id, login, city_code, period, kind, file_name, size_bytes, status)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, 'queued')""",
                 [job_id, user.login, target.city_code, target.period, target.kind, target.canonical_name, size])
    return job_id


def run_job(settings: Settings, job_id: str, path: Path, user: User, ip: str | None) -> Receipt | None:
    """The worker: ingest the saved file, record the outcome (job, event), publish the asset."""
    try:
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as book:
            def running(conn) -> None:  # the load's connection (again after a reconnect): its COPY is followed
                book.execute("UPDATE portal.upload_jobs SET status = 'running', started_at = coalesce(started_at, "
                             "now()), backend_pid = %s WHERE id = %s", [conn.info.backend_pid, job_id])

            try:
                receipt = ingest_paths([path], settings, on_connect=running)[0]
            except Exception as exc:  # a bug: the job says so, with a reference in the log
                log.exception("upload %s failed", job_id)
                book.execute("UPDATE portal.upload_jobs SET status = 'failed', finished_at = now(), error = %s "
                             "WHERE id = %s", [f"{type(exc).__name__}: {exc}", job_id])
                events.record(book, "upload", user=user, ip=ip, job=job_id, file=path.name, error=str(exc))
                return None
            book.execute("UPDATE portal.upload_jobs SET status = 'done', finished_at = now(), file_id = %s "
                         "WHERE id = %s", [receipt.file_id, job_id])
            events.record(book, "upload", user=user, file_id=receipt.file_id, ip=ip, job=job_id,
                          file=receipt.file, status=receipt.status, rows_loaded=receipt.rows_loaded,
                          rows_rejected=receipt.rows_rejected, size=path.stat().st_size)
            if receipt.status in LOADED:
                publish(book, settings, user, receipt)
            return receipt
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)  # the archive keeps the bytes (by sha256)


def publish(conn, settings: Settings, user: User, receipt: Receipt) -> None:
    """Tell Airflow (REST API) that raw submissions changed; recorded either way. Without the API
    configured nothing is sent: submissions_watch follows on its schedule."""
    if not settings.airflow_api_url:
        return
    extra = {"source": "portal", "file_id": receipt.file_id, "file": receipt.file, "status": receipt.status}
    try:
        result = pipeline.publish_raw_submissions(settings, extra)
        events.record(conn, "asset_published", user=user, file_id=receipt.file_id, **result)
    except Exception as exc:  # the upload stands; the schedule-based DAG will follow
        log.warning("publishing openecon_raw_submissions failed: %s", exc)
        events.record(conn, "asset_publish_failed", user=user, file_id=receipt.file_id,
                      error=f"{type(exc).__name__}: {exc}"[:500])


class Worker:
    """The portal's ingest threads (two: the warehouse pool's size)."""

    def __init__(self, settings: Settings, threads: int = 2):
        self.settings = settings
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="portal-ingest")

    def submit(self, job_id: str, path: Path, user: User, ip: str | None) -> Future:
        return self.pool.submit(run_job, self.settings, job_id, path, user, ip)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


def abandon_stale_jobs(conn) -> int:
    """At start: jobs a previous portal process left queued or running did not finish here."""
    return conn.execute("""UPDATE portal.upload_jobs SET status = 'failed', finished_at = now(),
                             error = 'portal restarted during the ingest'
                           WHERE status IN ('queued', 'running')""").rowcount


def job(conn, job_id: str) -> dict | None:
    """A job with the progress of its COPY (bytes and rows processed so far) while it runs."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("SELECT * FROM portal.upload_jobs WHERE id = %s", [job_id]).fetchone()
        if row is None:
            return None
        row["bytes_processed"] = row["rows_processed"] = None
        if row["status"] == "running" and row["backend_pid"]:
            p = cur.execute("SELECT bytes_processed, tuples_processed FROM pg_stat_progress_copy WHERE pid = %s",
                            [row["backend_pid"]]).fetchone()
            if p:
                row["bytes_processed"], row["rows_processed"] = p["bytes_processed"], p["tuples_processed"]
    return row
