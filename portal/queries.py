"""What the portal's pages read: the month's checklist, the grid, a file with its receipt,
problems, warnings and 上报说明, the history, documents, DAG runs and the trail.

Statuses use ``marts.submission_status``'s names (on_time, late, superseded, returned, rejected,
combined, missing). The mart is as of the last build, while a clerk expects an upload to show at
once: when the file in force now (``audit.submissions_in_force``) is not the one the mart was built
with, the status is worked out from audit by the mart's rule (:func:`_live_status`, its twin in
Python: tests/portal/test_routes.py checks that both agree on a built warehouse) and marked as not
yet in the marts (``pending_build``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from core import reference
from core.constants import TIMEZONE
from core.periods import is_quarter_end, shift
from core.settings import Settings
from ingestion.contract import sheets_of_kind
from ingestion.template import submission_name

TZ = ZoneInfo(TIMEZONE)
KINDS = ("workbook", "trade")
KIND_ZH = {"workbook": "月报工作簿", "trade": "外贸明细CSV"}
STATUS_ZH = {
    "on_time": "按时报送", "late": "逾期报送", "superseded": "已更正", "rejected": "被拒收",
    "returned": "已退回", "combined": "1–2月合并报送", "missing": "未报送",
}
# What the clerk has to do after each status (None: nothing).
STATUS_TODO = {"rejected": "请按回执修改后重新上传", "returned": "请按退回原因修改后重新上传",
               "missing": "请在截止日前上传"}
RECEIPT_STATUS_ZH = {"accepted": "已接收", "partial": "部分接收（部分行被拒收）", "rejected": "已拒收",
                     "duplicate": "重复文件（未作变更）", "superseding": "更正替换"}


def local(ts: datetime | None) -> str:
    return ts.astimezone(TZ).strftime("%Y-%m-%d %H:%M") if ts else ""


def today() -> date:
    return datetime.now(TZ).date()


def deadline(period: str, settings: Settings) -> date:
    """Day N of the month after ``period`` (OPENECON_SUBMISSION_DEADLINE_DAY, as the mart)."""
    nxt = shift(period, 1)
    return date(int(nxt[:4]), int(nxt[5:7]), settings.submission_deadline_day)


def _has(conn, relation: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [relation]).fetchone()[0]


@dataclass
class Cell:
    """One city × month × kind: its status, the file in force and what came."""

    city_code: str
    period: str
    kind: str
    status: str
    deadline: date
    pending_build: bool = False
    file_id: int | None = None
    file_name: str | None = None
    received_at: datetime | None = None
    returned_reason: str | None = None
    files: list[dict] = field(default_factory=list)
    explanations: int = 0
    warnings: int = 0

    @property
    def status_zh(self) -> str:
        return STATUS_ZH.get(self.status, self.status)

    @property
    def todo(self) -> str | None:
        return STATUS_TODO.get(self.status)

    @property
    def expected_name(self) -> str:
        return submission_name(self.kind, self.city_code, self.period.replace("-", ""))

    @property
    def done(self) -> bool:
        return self.status in ("on_time", "late", "superseded", "combined")


def _files(conn, cities: list[str], periods: list[str]) -> list[dict]:
    # in_force: the one definition, audit.submissions_in_force (loaded, not superseded, not returned)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT s.file_id, s.file_name, s.city_code, s.period, s.kind, s.status, s.received_at,
                      s.superseded_at, s.rows, s.rows_rejected, s.receipt->>'status' AS receipt_status,
                      s.returned_at, s.returned_reason, f.file_id IS NOT NULL AS in_force
               FROM audit.submissions AS s LEFT JOIN audit.submissions_in_force AS f USING (file_id)
               WHERE s.city_code = ANY(%s) AND s.period = ANY(%s) AND s.kind = ANY(%s)
               ORDER BY s.file_id""", [cities, periods, list(KINDS)]).fetchall()


def _mart(conn, cities: list[str], periods: list[str]) -> dict[tuple, dict]:
    if not _has(conn, "marts.submission_status"):
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("""SELECT city_code, period, kind, status, in_force_file_id, files_received
                              FROM marts.submission_status WHERE city_code = ANY(%s) AND period = ANY(%s)""",
                           [cities, periods]).fetchall()
    return {(r["city_code"], r["period"], r["kind"]): r for r in rows}


def _live_status(files: list[dict], dl: date, jan_combined: bool) -> tuple[str, dict | None]:
    """The mart's rules applied to audit as it is now: (status, file in force)."""
    in_force = [f for f in files if f["in_force"]]
    if in_force:
        f = in_force[-1]
        if any(g["superseded_at"] is not None for g in files):
            return "superseded", f
        return ("on_time" if f["received_at"].astimezone(TZ).date() <= dl else "late"), f
    returned = [f for f in files if f["returned_at"] is not None]
    if returned:  # nothing in force and the province returned a file: the city must send a new one
        return "returned", returned[-1]
    if files:
        return "rejected", None
    if jan_combined:
        return "combined", None
    return "missing", None


def cells(conn, cities: list[str], periods: list[str], settings: Settings) -> dict[tuple, Cell]:
    """(city, period, kind) -> Cell for every combination asked for."""
    asked = sorted(set(periods) | {p[:5] + "02" for p in periods if p.endswith("-01")})
    files = _files(conn, cities, asked)
    mart = _mart(conn, cities, periods)
    by_key: dict[tuple, list[dict]] = {}
    for f in files:
        by_key.setdefault((f["city_code"], f["period"], f["kind"]), []).append(f)
    counts = _issue_counts(conn, [f["file_id"] for f in files])
    out = {}
    for city in cities:
        for period in periods:
            any_kind = any(by_key.get((city, period, k)) for k in KINDS)
            for kind in KINDS:
                fs = by_key.get((city, period, kind), [])
                feb = by_key.get((city, period[:5] + "02", kind), [])
                jan_combined = period.endswith("-01") and not any_kind and any(f["in_force"] for f in feb)
                dl = deadline(period, settings)
                status, f = _live_status(fs, dl, jan_combined)
                m = mart.get((city, period, kind))
                pending = True
                if m is not None and m["in_force_file_id"] == (f["file_id"] if f and status != "returned" else None) \
                        and m["files_received"] == len(fs):
                    status, pending = m["status"], False  # the mart agrees with audit: its word
                c = Cell(city, period, kind, status, dl, pending_build=pending and bool(fs), files=fs)
                if f is not None:
                    c.file_id, c.file_name, c.received_at = f["file_id"], f["file_name"], f["received_at"]
                    c.returned_reason = f["returned_reason"] if status == "returned" else None
                    c.warnings, c.explanations = counts.get(f["file_id"], (0, 0))
                out[(city, period, kind)] = c
    return out


def _issue_counts(conn, file_ids: list[int]) -> dict[int, tuple[int, int]]:
    """file_id -> (warnings, warnings with a 上报说明)."""
    if not file_ids:
        return {}
    rows = conn.execute(
        """SELECT w.file_id, count(*), count(e.file_id)
           FROM audit.row_warnings AS w
           LEFT JOIN LATERAL (SELECT x.file_id FROM portal.explanations AS x
                              WHERE x.file_id = w.file_id AND x.rule = w.rule
                                AND x.sheet IS NOT DISTINCT FROM w.sheet
                                AND x.row_number IS NOT DISTINCT FROM w.row_number
                                AND x.column_name IS NOT DISTINCT FROM w.column_name LIMIT 1) AS e ON true
           WHERE w.file_id = ANY(%s) GROUP BY w.file_id""", [file_ids]).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def due_items(city: str, period: str) -> list[dict]:
    """What a city sends for a month (SPEC §2): the workbook (its sheets; 服务贸易 at quarter ends)
    and the trade CSV, with the names they must carry."""
    sheets = [s.sheet_name for s in sheets_of_kind("workbook")
              if s.sheet_name != "服务贸易" or is_quarter_end(period)]
    yyyymm = period.replace("-", "")
    return [{"kind": "workbook", "name": submission_name("workbook", city, yyyymm), "what": "、".join(sheets)},
            {"kind": "trade", "name": submission_name("trade", city, yyyymm), "what": "当月进出口明细（海关口径）"}]


def countdown(dl: date) -> str:
    days = (dl - today()).days
    if days > 0:
        return f"距截止还有{days}天"
    if days == 0:
        return "今天截止"
    return f"已过截止日{-days}天"


def months_with_data(conn, city: str | None = None) -> list[str]:
    """Periods any file was received for (newest first)."""
    where, params = ("WHERE city_code = %s", [city]) if city else ("", [])
    return [r[0] for r in conn.execute(
        f"SELECT DISTINCT period FROM audit.submissions {where} "
        f"{'AND' if where else 'WHERE'} period IS NOT NULL ORDER BY 1 DESC", params).fetchall()]


def file_detail(conn, file_id: int) -> dict | None:
    """One file: its audit row, receipt, rejected rows, warnings with their 上报说明."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute("""SELECT file_id, file_name, city_code, period, kind, status, received_at, rows,
                                    rows_rejected, reason, superseded_at, superseded_by, receipt, returned_at,
                                    returned_by, returned_reason
                             FROM audit.submissions WHERE file_id = %s""", [file_id]).fetchone()
        if row is None:
            return None
        row["problems"] = cur.execute(
            """SELECT sheet, row_number, column_name, value, rule, message_zh, message_en
               FROM audit.rejected_rows WHERE file_id = %s ORDER BY row_number NULLS FIRST, column_name LIMIT 1000""",
            [file_id]).fetchall()
        row["problems_total"] = cur.execute("SELECT count(*) AS n FROM audit.rejected_rows WHERE file_id = %s",
                                            [file_id]).fetchone()["n"]
        row["warnings"] = cur.execute(
            """SELECT w.sheet, w.row_number, w.column_name, w.value, w.rule, w.message_zh, w.message_en,
                      e.text AS explanation, e.by_login AS explained_by, e.at AS explained_at
               FROM audit.row_warnings AS w
               LEFT JOIN LATERAL (SELECT x.text, x.by_login, x.at FROM portal.explanations AS x
                                  WHERE x.file_id = w.file_id AND x.rule = w.rule
                                    AND x.sheet IS NOT DISTINCT FROM w.sheet
                                    AND x.row_number IS NOT DISTINCT FROM w.row_number
                                    AND x.column_name IS NOT DISTINCT FROM w.column_name
                                  ORDER BY x.id DESC LIMIT 1) AS e ON true
               WHERE w.file_id = %s ORDER BY w.row_number NULLS FIRST, w.column_name LIMIT 1000""",
            [file_id]).fetchall()
    row["receipt_status"] = (row["receipt"] or {}).get("status", row["status"])
    return row


def warning_exists(conn, file_id: int, sheet: str | None, row_number: int | None, column: str | None,
                   rule: str) -> bool:
    return conn.execute(
        """SELECT 1 FROM audit.row_warnings WHERE file_id = %s AND rule = %s AND sheet IS NOT DISTINCT FROM %s
           AND row_number IS NOT DISTINCT FROM %s AND column_name IS NOT DISTINCT FROM %s""",
        [file_id, rule, sheet, row_number, column]).fetchone() is not None


def history(conn, city: str, limit: int = 300) -> list[dict]:
    """Every file the city sent, newest first, with corrections, returns and explanation counts."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT s.file_id, s.file_name, s.period, s.kind, s.status, s.received_at, s.rows, s.rows_rejected,
                       s.superseded_at, s.superseded_by, s.receipt->>'status' AS receipt_status,
                       s.returned_at, s.returned_reason,
                       (SELECT count(*) FROM audit.row_warnings AS w WHERE w.file_id = s.file_id) AS warnings,
                       (SELECT count(*) FROM portal.explanations AS e WHERE e.file_id = s.file_id) AS explanations
                FROM audit.submissions AS s WHERE s.city_code = %s ORDER BY s.file_id DESC LIMIT %s""",
            [city, limit]).fetchall()
    return rows


def documents(conn, settings: Settings) -> list[dict]:
    """Published document versions (audit.bulletins), newest first, with paths under output/."""
    if not _has(conn, "audit.bulletins"):
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT id, kind, period, version, created_at, paths FROM audit.bulletins "
                           "ORDER BY created_at DESC LIMIT 50").fetchall()
    out_dir = settings.output_dir.resolve()
    for r in rows:
        links = []
        for p in r["paths"] or []:
            try:
                rel = str(Path(p).resolve().relative_to(out_dir))
            except ValueError:
                continue
            links.append({"name": rel.rsplit("/", 1)[-1], "href": rel})
        r["links"] = links
    return rows


def dag_runs(settings: Settings, limit: int = 15) -> tuple[list[dict] | None, str | None]:
    """The latest DAG runs from Airflow's metadata database (table dag_run), or (None, why)."""
    try:
        with psycopg.connect(**settings.airflow_db.conninfo(), connect_timeout=3) as conn, \
                conn.cursor(row_factory=dict_row) as cur:
            return cur.execute("SELECT dag_id, run_id, state, run_type, start_date, end_date FROM dag_run "
                               "ORDER BY coalesce(start_date, queued_at) DESC NULLS LAST LIMIT %s",
                               [limit]).fetchall(), None
    except psycopg.Error as exc:
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def trail(conn, limit: int = 300) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT id, at, login, role, city_code, action, file_id, ip, detail FROM portal.events "
                           "ORDER BY id DESC LIMIT %s", [limit]).fetchall()


def city_name(code: str | None) -> str:
    return reference.cities().get(code or "", code or "")


# How to fix a problem, by rule (the message says what is wrong; this says what to do).
_FIX = {
    "required": "填写该单元格", "not_a_number": "填写数字（不带单位、不用“万”等字）",
    "not_an_integer": "填写整数", "not_a_date": "按 yyyy-mm-dd 填写日期，如 2025-03-15",
    "below_minimum": "改为不小于下限的数值", "not_positive": "填写大于0的数值",
    "not_in_list": "从模板下拉列表中选择", "pattern": "按填表说明的格式填写",
    "uscc_check": "核对18位统一社会信用代码（末位校验码）", "hs_code": "填写8位HS编码",
    "duplicate_key": "删除或合并重复的行", "date_after_period": "日期不得晚于报告期末",
    "dates_out_of_order": "按签约→注册→开工→投产的先后顺序核对日期", "stage_dates": "按项目阶段补全或删除里程碑日期",
    "city_mismatch": "只填写本市州的数据", "project_city": "项目编号须以本市州代码开头",
    "too_long": "缩短内容", "line_break": "删除单元格内的换行符", "control_character": "删除不可见字符后重新保存",
    "formula_no_value": "在Excel中重新计算并保存", "missing_column": "使用最新模板，补上缺少的列",
    "missing_sheet": "使用最新模板，补上缺少的工作表", "wrong_unit": "按模板的单位填写表头",
    "file_name": "按「市州代码_年月.xlsx」或「trade_市州代码_年月.csv」命名",
    "too_many_bad_rows": "按下列问题修改后重新上传整个文件", "wrong_content": "确认文件类型与扩展名一致后重新上传",
    "shrinking_correction": "如确需大幅删减，请联系省商务厅", "same_content_other_name": "检查是否选错了文件",
    "returned_unchanged": "按退回原因修改后再上传", "paid_in_decrease": "核实后在右侧填写上报说明",
    "extra_column": "无需处理（已忽略该列）", "excel_serial_date": "核实日期是否正确",
}


def how_to_fix(rule: str) -> str:
    return _FIX.get(rule, "按说明修改后重新上传整个文件")
