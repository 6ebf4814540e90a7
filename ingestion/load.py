"""Ingest one submitted file: validate, COPY into raw, record it in audit, return a receipt.

All database writes for a file happen in one transaction, so a killed load
leaves nothing behind; the same bytes twice are a recorded no-op; a new file
for the same city, period and kind supersedes the earlier one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.copy import QueuedLibpqWriter

from core import reference
from core.files import atomic_copy, atomic_write_text
from core.settings import Settings
from ingestion.contract import FILE_PATTERNS, PROJECTS, TRADE, sheets_of_kind
from ingestion.issues import FileRejected, Issue, Loaded, printable
from ingestion.schema import month_partition, partition_name

RECEIPT_ISSUES = 20  # first errors printed on a receipt; all are stored
RECONNECT_SECONDS = 60  # how long a lost database connection is waited for before giving up
UNREADABLE_SHA256 = "0" * 64  # stands for the content of a file whose bytes could not be read
# The rule of a rejection that is the system's fault, not the sender's: the inbox retries such files.
INTERNAL_ERROR = "internal_error"

log = logging.getLogger(__name__)


@dataclass
class Receipt:
    file: str
    status: str  # accepted | partial | rejected | duplicate | superseding
    file_id: int | None = None
    city_code: str | None = None
    period: str | None = None
    kind: str | None = None
    sha256: str = ""
    rows_loaded: int = 0
    rows_rejected: int = 0
    reason: str | None = None
    superseded: list[int] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)  # errors first, then warnings
    allow_shrink: bool = False  # ingested with --allow-shrink: a correction may remove most rows
    error_ref: str | None = None  # set when the system failed; the same reference is in the log
    returned: dict | None = None  # {at, by, reason} once the province returned the file (ingestion.returns)

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "warning"]

    @property
    def ok(self) -> bool:
        return self.status != "rejected"

    def as_json(self) -> dict:
        return {
            "file": self.file, "status": self.status, "file_id": self.file_id,
            "city_code": self.city_code, "period": self.period, "kind": self.kind,
            "sha256": self.sha256, "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected, "warnings": len(self.warnings), "reason": self.reason,
            "superseded_file_ids": self.superseded, "allow_shrink": self.allow_shrink,
            "error_ref": self.error_ref, "returned": self.returned,
            "issues": [i.as_dict() for i in self.issues[:RECEIPT_ISSUES]],
            "issues_total": len(self.issues),
        }

    @classmethod
    def from_json(cls, data: dict) -> Receipt:
        """A receipt as stored in audit.submissions.receipt (the first RECEIPT_ISSUES issues)."""
        return cls(file=data["file"], status=data["status"], file_id=data["file_id"], city_code=data["city_code"],
                   period=data["period"], kind=data["kind"], sha256=data["sha256"],
                   rows_loaded=data["rows_loaded"], rows_rejected=data["rows_rejected"], reason=data["reason"],
                   superseded=data.get("superseded_file_ids") or [], allow_shrink=data.get("allow_shrink", False),
                   error_ref=data.get("error_ref"), returned=data.get("returned"),
                   issues=[Issue(**i) for i in data.get("issues", [])])

    def text(self) -> str:
        labels = {
            "accepted": "已接收 accepted", "partial": "部分接收 accepted with row rejections",
            "rejected": "已拒收 rejected", "duplicate": "重复文件 duplicate (already loaded, nothing changed)",
            "superseding": "更正替换 superseding (replaces an earlier submission)",
        }
        lines = [
            f"回执 Receipt: {self.file}",
            f"  状态 status: {labels.get(self.status, self.status)}",
            f"  市州 city: {self.city_code or '-'}  期别 period: {self.period or '-'}  类别 kind: {self.kind or '-'}",
            f"  入库行数 rows loaded: {self.rows_loaded}  拒收行数 rows rejected: {self.rows_rejected}"
            f"  警告 warnings: {len(self.warnings)}",
        ]
        if self.file_id is not None:
            lines.append(f"  文件编号 file id: {self.file_id}  sha256: {self.sha256}")
        if self.superseded:
            lines.append(f"  替换 supersedes file ids: {', '.join(map(str, self.superseded))}")
        if self.allow_shrink:
            lines.append("  按允许缩减方式导入 ingested with --allow-shrink")
        if self.reason:
            lines.append(f"  原因 reason: {self.reason}")
        if self.error_ref:
            lines.append(f"  错误编号 error reference: {self.error_ref}")
        if self.returned:
            lines.append(f"  已退回 returned by the province {self.returned['at']}: {self.returned['reason']}"
                         "（请修改后重新报送 / correct it and send the file again）")
        for issue in self.issues[:RECEIPT_ISSUES]:
            lines.append(f"  - {issue.line()}")
        if len(self.issues) > RECEIPT_ISSUES:
            lines.append(f"  … 另有 {len(self.issues) - RECEIPT_ISSUES} 条 / {len(self.issues) - RECEIPT_ISSUES} more")
        return "\n".join(lines)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_file_name(name: str) -> tuple[str, str, str] | None:
    """(kind, city_code, period 'YYYY-MM') from a submission file name, or None."""
    for kind, pattern in FILE_PATTERNS.items():
        m = pattern.match(name)
        if m and 1 <= int(m["month"]) <= 12:
            return kind, m["city"], f"{m['year']}-{m['month']}"
    return None


def archive(path: Path, digest: str, settings: Settings) -> Path:
    """Keep the original bytes under a content-addressed path."""
    target = settings.archive_dir / digest[:2] / f"{digest}{path.suffix.lower()}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_copy(path, target)
    return target



def _load_workbook(conn, path: Path, file_id: int, city_code: str, period: str, settings: Settings) -> Loaded:
    # Imported here: the workbook path needs pandas (about 1 s to import), a trade CSV does not.
    from ingestion.workbook import load_workbook

    return load_workbook(conn, path, file_id, city_code, period, settings)


def _load_trade(conn, path: Path, file_id: int, period: str, settings: Settings) -> Loaded:
    # Imported here: Arrow and numpy (about 0.3 s) are what a trade file needs, not every ingest.
    from ingestion.trade import stream_trade

    cols = ["file_id", "row_number", *(c.name for c in TRADE.columns)]
    cur = conn.cursor()
    # Straight into the month's partition (its default fills the partition key); the queued
    # writer sends blocks from a thread, so Postgres parses one block while we validate the next.
    with cur.copy(f"COPY {partition_name(TRADE, period)} ({', '.join(cols)}) FROM STDIN (FORMAT csv)",
                  writer=QueuedLibpqWriter(cur)) as copy:
        r = stream_trade(path, file_id, copy, settings)
    return Loaded(r.rows_total, r.rows_loaded, r.bad_rows, r.issues)


# The rule intake writes to audit.row_warnings for a paid-in decrease: the quality gate
# (expectations/suites.py) and the monthly scheduling report read the flagged revisions by it.
PAID_IN_REVISION = "paid_in_decrease"


def _paid_in_revisions(conn, file_id: int, city_code: str, period: str, file: str) -> list[Issue]:
    """Cumulative paid-in below the project's previous ledger row: accepted, flagged as a revision.

    "Previous" is the project's latest row in the city's earlier workbooks in force, so a
    project missing from a month's ledger is compared with the last ledger that listed it:
    the same comparison as the gate's paid_in_cumulative_non_decreasing, which blocks any
    decrease not flagged here.
    """
    # The last ledger lists nearly every project: read it (one file's rows, by the primary key),
    # and look further back (by the project_id index) only for the projects it does not list,
    # so the cost is the month's, not the city's history. The new rows are uncommitted and have
    # no statistics (the planner would guess one row and nest loops over them, quadratic in the
    # ledger's size): copied into an analysed temporary table, the planner sees their number.
    conn.execute("DROP TABLE IF EXISTS pg_temp.new_ledger")
    conn.execute(
        """CREATE TEMPORARY TABLE new_ledger ON COMMIT DROP AS
           SELECT row_number, project_id, paid_in_cumulative FROM raw.projects WHERE file_id = %s""",
        [file_id])
    conn.execute("ANALYZE pg_temp.new_ledger")
    rows = conn.execute(
        """
        WITH ledgers AS (
            SELECT file_id, period FROM audit.submissions_in_force
            WHERE city_code = %(city)s AND kind = 'workbook' AND period < %(period)s
        ),
        last_ledger AS (
            SELECT project_id, paid_in_cumulative FROM raw.projects
            WHERE file_id = (SELECT file_id FROM ledgers ORDER BY period DESC LIMIT 1)
        ),
        earlier AS (
            SELECT cur.project_id, e.paid_in_cumulative
            FROM pg_temp.new_ledger AS cur
            CROSS JOIN LATERAL (
                SELECT p.paid_in_cumulative FROM raw.projects AS p JOIN ledgers AS l ON l.file_id = p.file_id
                WHERE p.project_id = cur.project_id ORDER BY l.period DESC LIMIT 1
            ) AS e
            WHERE NOT EXISTS (SELECT 1 FROM last_ledger AS x WHERE x.project_id = cur.project_id)
        ),
        prev AS (
            SELECT project_id, paid_in_cumulative FROM last_ledger
            UNION ALL
            SELECT project_id, paid_in_cumulative FROM earlier
        )
        SELECT cur.row_number, cur.paid_in_cumulative, prev.paid_in_cumulative
        FROM pg_temp.new_ledger AS cur
        JOIN prev ON prev.project_id = cur.project_id
        WHERE cur.paid_in_cumulative < prev.paid_in_cumulative
        ORDER BY cur.row_number
        """,
        {"city": city_code, "period": period},
    ).fetchall()
    col = PROJECTS.column("paid_in_cumulative")
    num = lambda d: f"{d.normalize():f}"  # noqa: E731  Decimal('7000.0') -> '7000'
    return [Issue(file, PROJECTS.sheet_name, row, col.header, num(cur), PAID_IN_REVISION,
                  f"累计实际到位资金低于上期（{num(prev)}），按数据修订接收并标记",
                  f"cumulative paid-in is below last period's {num(prev)}; accepted and flagged as a revision",
                  level="warning")
            for row, cur, prev in rows]


def _record(conn, receipt: Receipt, status: str, archive_path: Path | None) -> int:
    return conn.execute(
        """INSERT INTO audit.submissions
             (file_name, sha256, city_code, period, kind, status, rows, rows_rejected, reason, archive_path)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING file_id""",
        [receipt.file, receipt.sha256, receipt.city_code, receipt.period, receipt.kind, status,
         receipt.rows_loaded, receipt.rows_rejected, receipt.reason,
         str(archive_path) if archive_path else None],
    ).fetchone()[0]


def _store_issues(conn, file_id: int, issues: list[Issue]) -> None:
    """Row and file errors go to audit.rejected_rows, warnings to audit.row_warnings."""
    for table, chosen in (("rejected_rows", [i for i in issues if i.level != "warning"]),
                          ("row_warnings", [i for i in issues if i.level == "warning"])):
        if not chosen:
            continue
        with conn.cursor().copy(
            f"COPY audit.{table} (file_id, sheet, row_number, column_name, value, rule, message_zh, message_en)"
            " FROM STDIN"
        ) as copy:
            for i in chosen:
                copy.write_row((file_id, i.sheet, i.row, i.column, i.value, i.rule, i.message_zh, i.message_en))


def _file_checks(path: Path, receipt: Receipt, settings: Settings) -> None:
    if receipt.kind is None:  # the name did not parse (_new_receipt)
        raise FileRejected(Issue(path.name, None, None, None, None, "file_name",
                                 "文件名应为「市州代码_年月.xlsx」或「trade_市州代码_年月.csv」",
                                 "file name must be <city>_<YYYYMM>.xlsx or trade_<city>_<YYYYMM>.csv"))
    if receipt.city_code not in reference.cities():
        raise FileRejected(Issue(path.name, None, None, None, receipt.city_code, "file_name",
                                 "文件名中的市州代码不是本省市州",
                                 "the city code in the file name is not a city of the province"))
    if path.stat().st_size == 0:
        raise FileRejected(Issue(path.name, None, None, None, None, "empty_file", "文件为空", "file is empty"))


def _size_check(path: Path, settings: Settings) -> None:
    """Before the file is hashed or archived: an oversized file costs neither time nor disk."""
    size = path.stat().st_size
    if size / 2**20 > settings.max_file_mb:
        raise FileRejected(Issue(path.name, None, None, None, f"{size / 2**20:.1f} MB", "file_too_large",
                                 f"文件超过{settings.max_file_mb:g} MB上限",
                                 f"file exceeds the {settings.max_file_mb:g} MB limit"))


def _lock(conn, receipt: Receipt) -> None:
    # One writer per content and per city-period-kind at a time.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [receipt.sha256])
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                 [f"{receipt.city_code}|{receipt.period}|{receipt.kind}"])


def ingest_file(path: Path, conn: psycopg.Connection, settings: Settings, *,
                allow_shrink: bool = False) -> Receipt:
    """Validate and load one file in one transaction; always returns a receipt.

    Whatever goes wrong while reading or loading becomes a ``rejected`` receipt and an
    audit row; only a lost database connection is raised, for ``ingest_paths`` to
    reconnect and retry. The receipt file is written after the commit, so a killed load
    leaves neither rows nor a receipt.
    """
    path = Path(path)
    receipt = _new_receipt(path, allow_shrink)
    row_issues: list[Issue] = []
    archived: Path | None = None
    try:
        _size_check(path, settings)
        receipt.sha256 = sha256_of(path)
        archived = archive(path, receipt.sha256, settings)
        _file_checks(path, receipt, settings)
        if receipt.kind == "trade":
            month_partition(conn, TRADE, receipt.period)
        with conn.transaction():
            _load(conn, path, receipt, row_issues, archived, settings)
    except FileRejected as exc:
        # Whatever the load wrote was rolled back with its transaction; record the rejection.
        _record_rejection(conn, receipt, exc.issue, row_issues, archived)
    except Exception as exc:
        if conn.broken or conn.closed:
            raise  # the connection is gone: ingest_paths reconnects and tries the file again
        _record_rejection(conn, receipt, _internal_error(receipt, exc), [], archived)
    _write_receipt_file(receipt, settings)
    return receipt


def _new_receipt(path: Path, allow_shrink: bool) -> Receipt:
    """A receipt (rejected until loaded) with what the file name says, read before anything else
    so that even an oversized file's receipt reaches its city; a name that is not valid UTF-8
    is made printable."""
    receipt = Receipt(file=printable(path.name), status="rejected", allow_shrink=allow_shrink)
    if meta := parse_file_name(path.name):
        receipt.kind, receipt.city_code, receipt.period = meta
    return receipt


def _load(conn, path: Path, receipt: Receipt, row_issues: list[Issue], archived: Path, settings: Settings) -> None:
    """The body of one file's transaction: duplicate check, COPY, checks, supersession."""
    _lock(conn, receipt)
    earlier = conn.execute(
        """SELECT file_id, file_name, city_code, period, kind, returned_reason FROM audit.submissions
           WHERE sha256 = %s AND status IN ('accepted', 'partial')""", [receipt.sha256]).fetchone()
    if earlier:
        _check_duplicate(receipt, *earlier[:5])
        if earlier[5] is not None:
            raise FileRejected(Issue(
                receipt.file, None, None, None, earlier[1], "returned_unchanged",
                f"与已退回的文件编号{earlier[0]}内容相同（退回原因：{earlier[5]}），请修改后重新报送",
                f"the same bytes as file id {earlier[0]}, which the province returned ({earlier[5]}); "
                "correct the file and send it again"))
        receipt.status = "duplicate"
        receipt.reason = f"与文件编号 {earlier[0]} 内容相同 / same bytes as file id {earlier[0]}"
        receipt.file_id = _record(conn, receipt, "duplicate", archived)
        _store_receipt(conn, receipt)
        return
    receipt.file_id = _record(conn, receipt, "accepted", archived)  # provisional; updated below
    if receipt.kind == "trade":
        loaded = _load_trade(conn, path, receipt.file_id, receipt.period, settings)
    else:
        loaded = _load_workbook(conn, path, receipt.file_id, receipt.city_code, receipt.period, settings)
    row_issues += loaded.issues
    share = loaded.bad_rows / loaded.rows_total if loaded.rows_total else 0.0
    if share > settings.max_bad_row_share:
        raise FileRejected(Issue(
            path.name, None, None, None, f"{loaded.bad_rows}/{loaded.rows_total}", "too_many_bad_rows",
            f"错误行占比{share:.0%}，超过{settings.max_bad_row_share:.0%}，整个文件退回",
            f"{share:.0%} of rows are bad, more than {settings.max_bad_row_share:.0%}; file rejected"))
    if receipt.kind == "workbook":
        row_issues += _paid_in_revisions(conn, receipt.file_id, receipt.city_code, receipt.period, path.name)
    replaced = [r[0] for r in conn.execute(
        """SELECT file_id FROM audit.submissions_in_force
           WHERE city_code = %s AND period = %s AND kind = %s AND file_id <> %s""",
        [receipt.city_code, receipt.period, receipt.kind, receipt.file_id]).fetchall()]
    if replaced:
        row_issues += _check_shrink(conn, receipt, replaced, settings)
    receipt.rows_loaded, receipt.rows_rejected = loaded.rows_loaded, loaded.bad_rows
    receipt.issues = sorted(row_issues, key=lambda i: i.level == "warning")
    status = "partial" if loaded.bad_rows else "accepted"
    conn.execute("UPDATE audit.submissions SET status = %s, rows = %s, rows_rejected = %s WHERE file_id = %s",
                 [status, receipt.rows_loaded, receipt.rows_rejected, receipt.file_id])
    _store_issues(conn, receipt.file_id, receipt.issues)
    if replaced:
        conn.execute("UPDATE audit.submissions SET superseded_at = now(), superseded_by = %s WHERE file_id = ANY(%s)",
                     [receipt.file_id, replaced])
    receipt.superseded = replaced
    receipt.status = "superseding" if replaced else status
    _store_receipt(conn, receipt)


def _check_duplicate(receipt: Receipt, file_id: int, name: str, city: str, period: str, kind: str) -> None:
    """The same bytes are a harmless duplicate only under a name meaning the same submission."""
    if (city, period, kind) != (receipt.city_code, receipt.period, receipt.kind):
        raise FileRejected(Issue(
            receipt.file, None, None, None, name, "same_content_other_name",
            f"内容与{name}（文件编号{file_id}）相同，但文件名表示的市州、报告期或类别不同，请检查是否发错文件",
            f"same content as {name} (file id {file_id}), which was sent as another city, period or kind; "
            "check that the right file was sent"))


# Raw tables whose rows a correction of each kind replaces.
_KIND_TABLES = {"workbook": sheets_of_kind("workbook"), "trade": [TRADE]}


def _check_shrink(conn, receipt: Receipt, replaced: list[int], settings: Settings) -> list[Issue]:
    """A correction may not silently remove most of what it replaces (one mistaken upload
    must not wipe a city's month): fewer than min_superseding_share of any sheet's rows
    rejects it, unless ingested with --allow-shrink, which the receipt then records."""
    issues = []
    for sheet in _KIND_TABLES[receipt.kind]:
        # a bulk table's rows of this period are all in its month's partition
        table = partition_name(sheet, receipt.period) if sheet.bulk else sheet.raw_table
        before, after = (conn.execute(f"SELECT count(*) FROM {table} WHERE file_id = ANY(%s)",
                                      [ids]).fetchone()[0] for ids in (replaced, [receipt.file_id]))
        if before == 0 or after >= settings.min_superseding_share * before:
            continue
        where = f"「{sheet.sheet_name}」" if sheet.sheet_name else ""
        zh = f"{where}更正后由{before}行减少为{after}行，将删除{before - after}行"
        en = f"{sheet.sheet_name or 'the file'} would go from {before} to {after} rows, removing {before - after}"
        if not receipt.allow_shrink:
            raise FileRejected(Issue(
                receipt.file, sheet.sheet_name, None, None, f"{after}/{before}", "shrinking_correction",
                f"{zh}（少于原有的{settings.min_superseding_share:.0%}），未予替换；如确需更正，请说明情况，"
                "由省级管理员以允许缩减方式（--allow-shrink）导入",
                f"{en} (less than {settings.min_superseding_share:.0%} of them); not replaced. If this is the "
                "intended correction, the province ingests it with --allow-shrink"))
        issues.append(Issue(receipt.file, sheet.sheet_name, None, None, f"{after}/{before}", "shrink_allowed",
                            f"{zh}（按允许缩减方式导入）", f"{en} (ingested with --allow-shrink)", level="warning"))
    return issues


def _internal_error(receipt: Receipt, exc: Exception, connection_lost: bool = False) -> Issue:
    """An unexpected failure: logged with a reference the engineer can find, told to the clerk plainly."""
    receipt.error_ref = f"E{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
    log.error("ingest of %s failed [%s]", receipt.file, receipt.error_ref, exc_info=exc)
    what_zh, what_en = (("处理该文件时数据库连接中断", "the database connection was lost while processing the file")
                        if connection_lost else ("系统处理该文件时出错", "the system failed while processing the file"))
    return Issue(receipt.file, None, None, None, None, INTERNAL_ERROR,
                 f"{what_zh}（错误编号{receipt.error_ref}），文件未入库；请稍后重新报送，如仍失败请将错误编号告知省商务厅",
                 f"{what_en} (error reference {receipt.error_ref}); nothing was loaded; send it again later, "
                 "and quote the reference if it fails again")


def _record_rejection(conn, receipt: Receipt, issue: Issue, row_issues: list[Issue], archived: Path | None) -> None:
    issue.level = "file"
    receipt.status = "rejected"
    receipt.reason = f"{issue.message_zh} / {issue.message_en}"
    receipt.issues = [issue, *[i for i in row_issues if i.level != "warning"]]
    receipt.rows_loaded, receipt.superseded = 0, []
    receipt.rows_rejected = len({i.row for i in row_issues if i.level == "row"})
    receipt.sha256 = receipt.sha256 or UNREADABLE_SHA256
    with conn.transaction():
        receipt.file_id = _record(conn, receipt, "rejected", archived)
        _store_issues(conn, receipt.file_id, receipt.issues)
        _store_receipt(conn, receipt)


def _store_receipt(conn, receipt: Receipt) -> None:
    """Keep the receipt in audit, inside the file's transaction."""
    conn.execute("UPDATE audit.submissions SET receipt = %s WHERE file_id = %s",
                 [json.dumps(receipt.as_json(), ensure_ascii=False), receipt.file_id])


def _write_receipt_file(receipt: Receipt, settings: Settings) -> None:
    """The receipt as a text file the city can fetch, written once the database has committed."""
    path = settings.receipt_path(receipt.city_code, receipt.file, receipt.file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, receipt.text() + "\n")


def restore_receipt_files(conn, settings: Settings) -> int:
    """Write the receipt files a killed ingest left unwritten (it died between the commit and
    the file write): audit holds every receipt, so the city's copy can always be made again."""
    listed: dict[Path, set[str]] = {}  # one listing per city folder, not a stat per audit row

    def written(path: Path) -> bool:
        if path.parent not in listed:
            try:
                listed[path.parent] = set(os.listdir(path.parent))
            except FileNotFoundError:
                listed[path.parent] = set()
        return path.name in listed[path.parent]

    missing = [file_id for file_id, city, name in conn.execute(
        "SELECT file_id, city_code, file_name FROM audit.submissions WHERE receipt IS NOT NULL").fetchall()
        if not written(settings.receipt_path(city, name, file_id))]
    for (data,) in conn.execute("SELECT receipt FROM audit.submissions WHERE file_id = ANY(%s)", [missing]):
        _write_receipt_file(Receipt.from_json(data), settings)
    return len(missing)


def expand(paths: list[Path]) -> list[Path]:
    """Files named directly, and the files inside folders, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            out.append(p)
    return out


def status_counts(receipts: list[Receipt]) -> dict[str, int]:
    """Receipts per status, for summaries."""
    return dict(sorted(Counter(r.status for r in receipts).items()))


def ingest_paths(paths: list[Path], settings: Settings, *, allow_shrink: bool = False,
                 on_connect: Callable[[psycopg.Connection], None] | None = None) -> list[Receipt]:
    """Ingest files and folders, one receipt each, earlier periods first.

    A lost connection (a Postgres restart) rolls back the file being loaded; it is
    tried once more on a new connection, then recorded as rejected with an error reference.
    ``on_connect`` is told of each connection the loads run on (the portal follows its COPY).
    """
    receipts: list[Receipt] = []
    conn = _connect(settings)
    if on_connect:
        on_connect(conn)
    try:
        if restored := restore_receipt_files(conn, settings):
            log.warning("rewrote %d receipt file(s) an interrupted ingest had not written", restored)
        for p in _in_period_order(expand(paths)):
            for attempt in (1, 2):
                try:
                    receipts.append(ingest_file(p, conn, settings, allow_shrink=allow_shrink))
                    if receipts[-1].kind == "workbook" and receipts[-1].rows_loaded:
                        _analyze_if_stale(conn, PROJECTS.raw_table)
                    break
                except Exception as exc:  # the connection is gone, or recording the rejection failed
                    lost = conn.broken or conn.closed
                    log.warning("%s while ingesting %s (attempt %d): %s", "database connection lost" if lost
                                else "recording failed", printable(p.name), attempt, exc)
                    if lost:
                        conn.close()
                        conn = _connect(settings, wait=RECONNECT_SECONDS)
                        if on_connect:
                            on_connect(conn)
                    if attempt == 2 or not lost:
                        receipts.append(_reject_after_failure(p, conn, settings, exc, allow_shrink, lost))
                        break
    finally:
        conn.close()
    return receipts


def _analyze_if_stale(conn, table: str) -> None:
    """ANALYZE ``table`` once a tenth of it changed since its statistics, as autovacuum would, but
    now: a backfill adds ledgers faster than autovacuum wakes, and the next ledger's paid-in check
    must not be planned on a table the statistics think is a hundred times smaller."""
    row = conn.execute("SELECT s.n_mod_since_analyze, greatest(c.reltuples, 0) FROM pg_stat_user_tables s "
                       "JOIN pg_class c ON c.oid = s.relid WHERE s.relid = %s::regclass", [table]).fetchone()
    if row and row[0] > 0.1 * row[1] + 1000:
        conn.execute(f"ANALYZE {table}")


def _connect(settings: Settings, wait: float = 0) -> psycopg.Connection:
    deadline = time.monotonic() + wait
    while True:
        try:
            return psycopg.connect(**settings.warehouse.conninfo(), autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)


def _reject_after_failure(path: Path, conn, settings: Settings, exc: Exception, allow_shrink: bool,
                          connection_lost: bool) -> Receipt:
    """The last resort: a minimal rejected receipt, from the file name and bytes only."""
    receipt = _new_receipt(path, allow_shrink)
    try:
        receipt.sha256 = sha256_of(path)
    except OSError:
        pass
    _record_rejection(conn, receipt, _internal_error(receipt, exc, connection_lost), [], None)
    _write_receipt_file(receipt, settings)
    return receipt


def _in_period_order(files: list[Path]) -> list[Path]:
    """Load earlier periods first, so checks against the previous month see it."""
    def key(p: Path):
        meta = parse_file_name(p.name)
        return (meta[2], meta[1], meta[0], p.name) if meta else ("9999", "", "", p.name)
    return sorted(files, key=key)
