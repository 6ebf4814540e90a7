"""Ingest one submitted file: validate, COPY into raw, record it in audit, return a receipt.

All database writes for a file happen in one transaction, so a killed load
leaves nothing behind; the same bytes twice are a recorded no-op; a new file
for the same city, period and kind supersedes the earlier one.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg
from psycopg.copy import QueuedLibpqWriter

from core import reference
from core.files import atomic_copy, atomic_write_text
from core.settings import Settings
from ingestion.contract import FILE_PATTERNS, PROJECTS, TRADE, Sheet, sheets_of_kind
from ingestion.readers import open_workbook, read_sheet
from ingestion.trade import stream_trade
from ingestion.validate import FileRejected, Issue, validate

RECEIPT_ISSUES = 20  # first errors printed on a receipt; all are stored


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
            "superseded_file_ids": self.superseded,
            "issues": [i.as_dict() for i in self.issues[:RECEIPT_ISSUES]],
            "issues_total": len(self.issues),
        }

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
        if self.reason:
            lines.append(f"  原因 reason: {self.reason}")
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



@dataclass
class Loaded:
    rows_total: int
    rows_loaded: int
    bad_rows: int
    issues: list[Issue]


def _copy_frame(conn: psycopg.Connection, sheet: Sheet, file_id: int, frame: pd.DataFrame) -> None:
    cols = ["file_id", "row_number", *(c.name for c in sheet.columns)]
    values = frame[[c.name for c in sheet.columns]].astype(object).where(frame.notna(), None)
    with conn.cursor().copy(f"COPY {sheet.raw_table} ({', '.join(cols)}) FROM STDIN") as copy:
        for row_number, row in zip(frame["row_number"].tolist(), values.itertuples(index=False, name=None)):
            copy.write_row((file_id, int(row_number), *row))


def _check_city(frame: pd.DataFrame, sheet: Sheet, file: str, city_code: str) -> None:
    """A file named for one city holding another city's rows is refused as a whole."""
    if sheet.name != PROJECTS.name or frame.empty:
        return
    prefixes = frame["project_id"].astype("string").str.strip().str[:6]
    others = prefixes[prefixes.notna() & (prefixes != city_code)]
    if len(others) > len(frame) / 2:
        top = others.value_counts().index[0]
        raise FileRejected(Issue(
            file, sheet.sheet_name, None, "项目编号", str(top), "city_mismatch",
            f"文件名为市州「{city_code}」，但多数项目编号属于「{top}」，请检查是否报错文件",
            f"file is named for city {city_code} but most project ids belong to {top}"))


def _check_period(issues: list[Issue], rows: int, sheet: Sheet, file: str, period: str) -> None:
    """Many dates after the month-end mean the file is of a later period than its name says."""
    late = {i.row for i in issues if i.rule == "date_after_period"}
    if len(late) >= 3 and len(late) > 0.05 * rows:
        raise FileRejected(Issue(
            file, sheet.sheet_name, min(late), None, None, "period_mismatch",
            f"文件名报告期为{period}，但有{len(late)}行日期晚于该月末，请检查文件名或报告期",
            f"file is named for {period} but {len(late)} rows carry dates after that month"))


def _load_workbook(conn, path: Path, file_id: int, city_code: str, period: str) -> Loaded:
    wb = open_workbook(path)
    month = int(period[5:])
    frames: list[tuple[Sheet, pd.DataFrame]] = []
    issues: list[Issue] = []
    total = 0
    for sheet in sheets_of_kind("workbook"):
        if not sheet.due_in(month):
            if sheet.sheet_name in wb.sheet_names:
                issues.append(Issue(path.name, sheet.sheet_name, None, None, None, "sheet_not_due",
                                    "本月无需报送该工作表，已忽略", "this sheet is not due this month; ignored",
                                    level="warning"))
            continue
        raw = read_sheet(wb, sheet, path.name)
        _check_city(raw, sheet, path.name, city_code)
        good, sheet_issues = validate(raw, sheet, path.name, city_code, period)
        _check_period(sheet_issues, len(raw), sheet, path.name, period)
        frames.append((sheet, good))
        issues += sheet_issues
        total += len(raw)
    for sheet, good in frames:
        _copy_frame(conn, sheet, file_id, good)
    bad = len({(i.sheet, i.row) for i in issues if i.level == "row"})
    return Loaded(total, sum(len(g) for _, g in frames), bad, issues)


def _load_trade(conn, path: Path, file_id: int) -> Loaded:
    cols = ["file_id", "row_number", *(c.name for c in TRADE.columns)]
    cur = conn.cursor()
    # The queued writer sends blocks from a thread, so Postgres parses one block
    # while we validate the next: the two cores work at once.
    with cur.copy(f"COPY {TRADE.raw_table} ({', '.join(cols)}) FROM STDIN (FORMAT csv)",
                  writer=QueuedLibpqWriter(cur)) as copy:
        r = stream_trade(path, file_id, copy)
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
    rows = conn.execute(
        """
        WITH prev AS (
            SELECT DISTINCT ON (p.project_id) p.project_id, p.paid_in_cumulative
            FROM audit.submissions_in_force AS s
            JOIN raw.projects AS p ON p.file_id = s.file_id
            WHERE s.city_code = %(city)s AND s.kind = 'workbook' AND s.period < %(period)s
              AND p.project_id IN (SELECT project_id FROM raw.projects WHERE file_id = %(file_id)s)
            ORDER BY p.project_id, s.period DESC, s.file_id DESC
        )
        SELECT cur.row_number, cur.paid_in_cumulative, prev.paid_in_cumulative
        FROM raw.projects AS cur
        JOIN prev ON prev.project_id = cur.project_id
        WHERE cur.file_id = %(file_id)s AND cur.paid_in_cumulative < prev.paid_in_cumulative
        ORDER BY cur.row_number
        """,
        {"city": city_code, "period": period, "file_id": file_id},
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
    meta = parse_file_name(path.name)
    if meta is None:
        raise FileRejected(Issue(path.name, None, None, None, None, "file_name",
                                 "文件名应为「市州代码_年月.xlsx」或「trade_市州代码_年月.csv」",
                                 "file name must be <city>_<YYYYMM>.xlsx or trade_<city>_<YYYYMM>.csv"))
    receipt.kind, receipt.city_code, receipt.period = meta

    if receipt.city_code not in reference.cities():
        raise FileRejected(Issue(path.name, None, None, None, receipt.city_code, "file_name",
                                 "文件名中的市州代码不是本省市州",
                                 "the city code in the file name is not a city of the province"))
    size = path.stat().st_size
    if size == 0:
        raise FileRejected(Issue(path.name, None, None, None, None, "empty_file", "文件为空", "file is empty"))
    if size / 2**20 > settings.max_file_mb:
        raise FileRejected(Issue(path.name, None, None, None, f"{size / 2**20:.1f} MB", "file_too_large",
                                 f"文件超过{settings.max_file_mb:g} MB上限",
                                 f"file exceeds the {settings.max_file_mb:g} MB limit"))


def _lock(conn, receipt: Receipt) -> None:
    # One writer per content and per city-period-kind at a time.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [receipt.sha256])
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                 [f"{receipt.city_code}|{receipt.period}|{receipt.kind}"])


def ingest_file(path: Path, conn: psycopg.Connection, settings: Settings) -> Receipt:
    """Validate and load one file in one transaction; always returns a receipt."""
    path = Path(path)
    receipt = Receipt(file=path.name, status="rejected")
    receipt.sha256 = sha256_of(path)
    archived = archive(path, receipt.sha256, settings)
    row_issues: list[Issue] = []
    try:
        _file_checks(path, receipt, settings)
        with conn.transaction():
            _lock(conn, receipt)
            earlier = conn.execute(
                "SELECT file_id FROM audit.submissions WHERE sha256 = %s AND status IN ('accepted', 'partial')",
                [receipt.sha256]).fetchone()
            if earlier:
                receipt.status = "duplicate"
                receipt.reason = f"与文件编号 {earlier[0]} 内容相同 / same bytes as file id {earlier[0]}"
                receipt.file_id = _record(conn, receipt, "duplicate", archived)
                _store_receipt(conn, receipt, settings)
                return receipt
            receipt.file_id = _record(conn, receipt, "accepted", archived)  # provisional; updated below
            if receipt.kind == "trade":
                loaded = _load_trade(conn, path, receipt.file_id)
            else:
                loaded = _load_workbook(conn, path, receipt.file_id, receipt.city_code, receipt.period)
            row_issues = loaded.issues
            share = loaded.bad_rows / loaded.rows_total if loaded.rows_total else 0.0
            if share > settings.max_bad_row_share:
                raise FileRejected(Issue(
                    path.name, None, None, None, f"{loaded.bad_rows}/{loaded.rows_total}", "too_many_bad_rows",
                    f"错误行占比{share:.0%}，超过{settings.max_bad_row_share:.0%}，整个文件退回",
                    f"{share:.0%} of rows are bad, more than {settings.max_bad_row_share:.0%}; file rejected"))
            if receipt.kind == "workbook":
                row_issues += _paid_in_revisions(conn, receipt.file_id, receipt.city_code, receipt.period, path.name)
            receipt.rows_loaded, receipt.rows_rejected = loaded.rows_loaded, loaded.bad_rows
            receipt.issues = sorted(row_issues, key=lambda i: i.level == "warning")
            status = "partial" if loaded.bad_rows else "accepted"
            conn.execute("UPDATE audit.submissions SET status = %s, rows = %s, rows_rejected = %s WHERE file_id = %s",
                         [status, receipt.rows_loaded, receipt.rows_rejected, receipt.file_id])
            _store_issues(conn, receipt.file_id, receipt.issues)
            receipt.superseded = [r[0] for r in conn.execute(
                """UPDATE audit.submissions SET superseded_at = now(), superseded_by = %s
                   WHERE file_id IN (SELECT file_id FROM audit.submissions_in_force
                                     WHERE city_code = %s AND period = %s AND kind = %s AND file_id <> %s)
                   RETURNING file_id""",
                [receipt.file_id, receipt.city_code, receipt.period, receipt.kind, receipt.file_id],
            ).fetchall()]
            receipt.status = "superseding" if receipt.superseded else status
            _store_receipt(conn, receipt, settings)
    except FileRejected as exc:
        # Whatever the load wrote was rolled back with its transaction; record the rejection.
        receipt.status, receipt.file_id = "rejected", None
        receipt.reason = f"{exc.issue.message_zh} / {exc.issue.message_en}"
        receipt.issues = [exc.issue, *[i for i in row_issues if i.level != "warning"]]
        receipt.rows_loaded = 0
        receipt.rows_rejected = len({i.row for i in row_issues if i.level == "row"})
        with conn.transaction():
            receipt.file_id = _record(conn, receipt, "rejected", archived)
            _store_issues(conn, receipt.file_id, receipt.issues)
            _store_receipt(conn, receipt, settings)
    return receipt


def _store_receipt(conn, receipt: Receipt, settings: Settings) -> None:
    """Keep the receipt in audit and as a text file the city can fetch."""
    conn.execute("UPDATE audit.submissions SET receipt = %s WHERE file_id = %s",
                 [json.dumps(receipt.as_json(), ensure_ascii=False), receipt.file_id])
    path = settings.receipt_path(receipt.city_code, receipt.file, receipt.file_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, receipt.text() + "\n")


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


def ingest_paths(paths: list[Path], settings: Settings) -> list[Receipt]:
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        return [ingest_file(p, conn, settings) for p in _in_period_order(expand(paths))]


def _in_period_order(files: list[Path]) -> list[Path]:
    """Load earlier periods first, so checks against the previous month see it."""
    def key(p: Path):
        meta = parse_file_name(p.name)
        return (meta[2], meta[1], meta[0], p.name) if meta else ("9999", "", "", p.name)
    return sorted(files, key=key)
