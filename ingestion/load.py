"""Ingest one submitted file: validate, COPY into raw, record it in audit, return a receipt.

All database writes for a file happen in one transaction, so a killed load
leaves nothing behind; the same bytes twice are a recorded no-op; a new file
for the same city, period and kind supersedes the earlier one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg

from ingestion.contract import FILE_PATTERNS, Sheet, sheets_of_kind
from ingestion.readers import open_workbook, read_sheet
from ingestion.schema import ensure_schema
from ingestion.validate import FileRejected, Issue, validate
from openecon.settings import Settings

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
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "rejected"

    def as_json(self) -> dict:
        return {
            "file": self.file, "status": self.status, "file_id": self.file_id,
            "city_code": self.city_code, "period": self.period, "kind": self.kind,
            "sha256": self.sha256, "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected, "reason": self.reason,
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
            f"  入库行数 rows loaded: {self.rows_loaded}  拒收行数 rows rejected: {self.rows_rejected}",
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
        tmp = target.with_suffix(target.suffix + ".part")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return target


@dataclass
class Parsed:
    """Validated content of a file, ready to load."""

    frames: dict[str, pd.DataFrame]  # sheet name -> good typed rows
    issues: list[Issue]
    total_rows: int


def parse_and_validate(path: Path, kind: str, city_code: str, settings: Settings) -> Parsed:
    if kind != "workbook":
        raise FileRejected(Issue(path.name, None, None, None, None, "unsupported_kind",
                                 "暂不支持该类文件", f"file kind {kind!r} is not supported yet"))
    wb = open_workbook(path)
    frames, issues, total = {}, [], 0
    for sheet in sheets_of_kind(kind):
        raw = read_sheet(wb, sheet, path.name)
        good, sheet_issues = validate(raw, sheet, path.name, city_code)
        frames[sheet.name] = good
        issues += sheet_issues
        total += len(raw)
    return Parsed(frames, issues, total)


def _copy_rows(conn: psycopg.Connection, sheet: Sheet, file_id: int, frame: pd.DataFrame) -> None:
    cols = ["file_id", "row_number", *(c.name for c in sheet.columns)]
    stmt = f"COPY {sheet.raw_table} ({', '.join(cols)}) FROM STDIN"
    with conn.cursor().copy(stmt) as copy:
        values = frame[[c.name for c in sheet.columns]].astype(object).where(frame.notna(), None)
        for row_number, row in zip(frame["row_number"].tolist(), values.itertuples(index=False, name=None)):
            copy.write_row((file_id, int(row_number), *row))


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
    if not issues:
        return
    with conn.cursor().copy(
        "COPY audit.rejected_rows (file_id, sheet, row_number, column_name, value, rule, message_zh, message_en)"
        " FROM STDIN"
    ) as copy:
        for i in issues:
            copy.write_row((file_id, i.sheet, i.row, i.column, i.value, i.rule, i.message_zh, i.message_en))


def ingest_file(path: Path, conn: psycopg.Connection, settings: Settings) -> Receipt:
    path = Path(path)
    receipt = Receipt(file=path.name, status="rejected")
    receipt.sha256 = sha256_of(path)
    archived = archive(path, receipt.sha256, settings)
    parsed: Parsed | None = None
    file_issue: Issue | None = None

    meta = parse_file_name(path.name)
    if meta is None:
        file_issue = Issue(path.name, None, None, None, None, "file_name",
                           "文件名应为「市州代码_年月.xlsx」或「trade_市州代码_年月.csv」",
                           "file name must be <city>_<YYYYMM>.xlsx or trade_<city>_<YYYYMM>.csv")
    else:
        receipt.kind, receipt.city_code, receipt.period = meta
        size_mb = path.stat().st_size / 2**20
        if path.stat().st_size == 0:
            file_issue = Issue(path.name, None, None, None, None, "empty_file", "文件为空", "file is empty")
        elif size_mb > settings.max_file_mb:
            file_issue = Issue(path.name, None, None, None, f"{size_mb:.1f} MB", "file_too_large",
                               f"文件超过{settings.max_file_mb} MB上限",
                               f"file exceeds the {settings.max_file_mb} MB limit")
        else:
            try:
                parsed = parse_and_validate(path, receipt.kind, receipt.city_code, settings)
            except FileRejected as exc:
                file_issue = exc.issue

    if parsed is not None:
        bad_rows = {(i.sheet, i.row) for i in parsed.issues}
        share = len(bad_rows) / parsed.total_rows if parsed.total_rows else 0.0
        if share > settings.max_bad_row_share:
            file_issue = Issue(path.name, None, None, None, f"{share:.0%}", "too_many_bad_rows",
                               f"错误行占比超过{settings.max_bad_row_share:.0%}，整个文件退回",
                               f"more than {settings.max_bad_row_share:.0%} of rows are bad; file rejected")
            receipt.issues = parsed.issues

    with conn.transaction():
        # One writer per content and per city-period-kind at a time.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [receipt.sha256])
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                     [f"{receipt.city_code}|{receipt.period}|{receipt.kind}"])
        if file_issue is not None:
            receipt.status, receipt.reason = "rejected", f"{file_issue.message_zh} / {file_issue.message_en}"
            receipt.issues = [file_issue, *receipt.issues]
            receipt.rows_rejected = parsed.total_rows if parsed else 0
            receipt.file_id = _record(conn, receipt, "rejected", archived)
            _store_issues(conn, receipt.file_id, receipt.issues)
        else:
            earlier = conn.execute(
                "SELECT file_id FROM audit.submissions WHERE sha256 = %s AND status IN ('accepted', 'partial')",
                [receipt.sha256],
            ).fetchone()
            if earlier:
                receipt.status = "duplicate"
                receipt.reason = f"与文件编号 {earlier[0]} 内容相同 / same bytes as file id {earlier[0]}"
                receipt.file_id = _record(conn, receipt, "duplicate", archived)
            else:
                receipt.issues = parsed.issues
                receipt.rows_rejected = len({(i.sheet, i.row) for i in parsed.issues})
                receipt.rows_loaded = sum(len(f) for f in parsed.frames.values())
                status = "partial" if parsed.issues else "accepted"
                receipt.file_id = _record(conn, receipt, status, archived)
                for sheet in sheets_of_kind(receipt.kind):
                    _copy_rows(conn, sheet, receipt.file_id, parsed.frames[sheet.name])
                _store_issues(conn, receipt.file_id, parsed.issues)
                receipt.superseded = [r[0] for r in conn.execute(
                    """UPDATE audit.submissions SET superseded_at = now(), superseded_by = %s
                       WHERE city_code = %s AND period = %s AND kind = %s AND file_id <> %s
                         AND status IN ('accepted', 'partial') AND superseded_at IS NULL
                       RETURNING file_id""",
                    [receipt.file_id, receipt.city_code, receipt.period, receipt.kind, receipt.file_id],
                ).fetchall()]
                receipt.status = "superseding" if receipt.superseded else status
        conn.execute("UPDATE audit.submissions SET receipt = %s WHERE file_id = %s",
                     [json.dumps(receipt.as_json(), ensure_ascii=False), receipt.file_id])
    return receipt


def expand(paths: list[Path]) -> list[Path]:
    """Files named directly, and the files inside folders, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        else:
            out.append(p)
    return out


def ingest_paths(paths: list[Path], settings: Settings) -> list[Receipt]:
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        ensure_schema(conn)
        return [ingest_file(p, conn, settings) for p in expand(paths)]
