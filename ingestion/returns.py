"""The province returns (退回) a submission: the file stops counting, the city sends a new one.

A return is recorded on the file's audit row (returned_at/by/reason, migration 10), which takes
it out of ``audit.submissions_in_force``, so the next build drops its rows from the marts and
``marts.submission_status`` shows the city-period-kind as ``returned`` until a new file arrives.
The receipt in audit and the city's receipt file say so. Returning is not undone: a file sent
again unchanged is rejected (rule returned_unchanged); a corrected one loads as a new file.
"""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import psycopg

from core.constants import TIMEZONE
from core.settings import Settings, get_settings
from ingestion.load import Receipt, _write_receipt_file


def return_file(conn: psycopg.Connection, file_id: int, *, returned_by: str, reason: str,
                settings: Settings | None = None) -> Receipt:
    """Return one file in force; raises ValueError (Chinese / English) when it cannot be."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("退回须说明原因 / a return needs a reason")
    with conn.transaction():
        row = conn.execute(
            """SELECT s.file_name, s.receipt, f.file_id IS NOT NULL, s.returned_at IS NOT NULL
               FROM audit.submissions AS s LEFT JOIN audit.submissions_in_force AS f USING (file_id)
               WHERE s.file_id = %s FOR UPDATE OF s""", [file_id]).fetchone()
        if row is None:
            raise ValueError(f"没有文件编号{file_id} / no file id {file_id}")
        name, data, in_force, returned = row
        if returned:
            raise ValueError(f"{name}（文件编号{file_id}）已退回 / file id {file_id} was returned already")
        if not in_force:
            raise ValueError(f"{name}（文件编号{file_id}）不是现行有效的报送文件，无需退回 / "
                             f"file id {file_id} is not in force (rejected, duplicate or superseded)")
        at = conn.execute(
            """UPDATE audit.submissions SET returned_at = now(), returned_by = %s, returned_reason = %s
               WHERE file_id = %s RETURNING returned_at""", [returned_by, reason, file_id]).fetchone()[0]
        receipt = Receipt.from_json(data)
        receipt.returned = {"at": at.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d %H:%M"),
                            "by": returned_by, "reason": reason}
        conn.execute("UPDATE audit.submissions SET receipt = %s WHERE file_id = %s",
                     [json.dumps(receipt.as_json(), ensure_ascii=False), file_id])
    _write_receipt_file(receipt, settings or get_settings())  # after the commit, like every receipt
    return receipt
