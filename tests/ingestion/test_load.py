"""Ingestion against the real Postgres: receipts, raw rows, audit, quarantine, supersession.

Each bad input of the issue is fed here; the test checks the receipt (rule and
location) and that nothing else in the warehouse changed.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from ingestion.contract import PARKS, PROJECTS
from ingestion.load import ingest_paths
from tests.workbooks import city_workbook, park_rows, project_row, trade_row, write_trade

CITY = "430100"  # 长沙市: 9 parks


def projects(n=10, **bad_by_index):
    rows = [project_row(CITY, i) for i in range(1, n + 1)]
    for idx, overrides in bad_by_index.items():
        rows[int(idx[1:])].update(overrides)
    return rows


def state(conn):
    """Everything ingestion may change, to prove that nothing else changed."""
    q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
    return {
        "projects": q("SELECT file_id, row_number, project_id, paid_in_cumulative FROM raw.projects ORDER BY 1, 2"),
        "parks": q("SELECT file_id, row_number, park_code FROM raw.parks ORDER BY 1, 2"),
        "services": q("SELECT file_id, row_number, category FROM raw.services_trade ORDER BY 1, 2"),
        "trade": q("SELECT file_id, row_number, enterprise_code FROM raw.trade ORDER BY 1, 2"),
        "submissions": q("SELECT file_id, status, superseded_at FROM audit.submissions ORDER BY 1"),
    }


def ingest_one(path, settings):
    [r] = ingest_paths([path], settings)
    return r


@pytest.fixture
def baseline(warehouse, settings, tmp_path):
    """An earlier accepted submission (another month), so 'nothing else changed' has something to guard."""
    r = ingest_one(city_workbook(tmp_path / "base", CITY, "2025-08", projects=projects()), settings)
    assert r.status == "accepted", r.text()
    return state(warehouse)


def assert_only_new_submission(conn, before, status):
    after = state(conn)
    for key in ("projects", "parks", "services", "trade"):
        if status == "rejected":
            assert after[key] == before[key], key
    assert after["submissions"][:-1] == before["submissions"]
    assert after["submissions"][-1][1] == status


def test_clean_workbook_is_accepted_with_file_id_and_row_numbers(warehouse, settings, tmp_path):
    f = city_workbook(tmp_path, CITY, "2025-09", projects=projects())
    r = ingest_one(f, settings)
    assert (r.status, r.rows_loaded, r.rows_rejected) == ("accepted", 10 + 9 + 12, 0), r.text()
    raw = warehouse.execute("SELECT file_id, row_number, project_id FROM raw.projects ORDER BY row_number").fetchall()
    assert raw == [(r.file_id, i + 1, f"{CITY}-2025-{i:04d}") for i in range(1, 11)]
    assert warehouse.execute("SELECT count(*) FROM raw.parks WHERE file_id = %s", [r.file_id]).fetchone() == (9,)
    sub = warehouse.execute("SELECT city_code, period, kind, status, sha256, receipt->>'status' "
                            "FROM audit.submissions").fetchone()
    assert sub == (CITY, "2025-09", "workbook", "accepted", r.sha256, "accepted")
    assert Path(settings.archive_dir / r.sha256[:2] / f"{r.sha256}.xlsx").read_bytes() == f.read_bytes()
    receipt_file = settings.receipts_dir / CITY / f"{f.name}.{r.file_id}.receipt.txt"
    assert "已接收 accepted" in receipt_file.read_text(encoding="utf-8")


def test_same_bytes_twice_is_a_recorded_no_op(baseline, warehouse, settings, tmp_path):
    f = city_workbook(tmp_path, CITY, "2025-09", projects=projects())
    ingest_one(f, settings)
    before = state(warehouse)
    r = ingest_one(f, settings)
    assert r.status == "duplicate" and r.rows_loaded == 0 and "same bytes" in r.reason
    assert_only_new_submission(warehouse, before, "duplicate")
    assert state(warehouse)["projects"] == before["projects"]


def test_corrected_resubmission_supersedes_and_both_stay_in_raw(baseline, warehouse, settings, tmp_path):
    r1 = ingest_one(city_workbook(tmp_path / "a", CITY, "2025-09", projects=projects()), settings)
    fixed = projects(**{"r0": {"paid_in_cumulative": 9000.0}})
    r2 = ingest_one(city_workbook(tmp_path / "b", CITY, "2025-09", projects=fixed), settings)
    assert r2.status == "superseding" and r2.superseded == [r1.file_id]
    rows = warehouse.execute("SELECT file_id, superseded_at IS NOT NULL, superseded_by FROM audit.submissions "
                             "WHERE period = '2025-09' ORDER BY 1").fetchall()
    assert rows == [(r1.file_id, True, r2.file_id), (r2.file_id, False, None)]
    assert warehouse.execute("SELECT count(*) FROM raw.projects WHERE file_id IN (%s, %s)",
                             [r1.file_id, r2.file_id]).fetchone() == (20,)


ROW_CASES = [
    # (case, sheet, projects overrides {index: {...}}, parks override (index, {...}),
    #  expected (sheet, row, column, rule, value))
    ("negative paid-in", {"r2": {"paid_in_cumulative": -5.0}}, None,
     ("项目台账", 4, "累计实际到位资金", "below_minimum", "-5")),
    ("zero contract", {"r3": {"contract_amount": 0.0}}, None, ("项目台账", 5, "合同投资额", "not_positive", "0")),
    ("future start date", {"r1": {"started_date": dt.date(2025, 10, 3)}}, None,
     ("项目台账", 3, "开工日期", "date_after_period", "2025-10-03")),
    ("dates out of order", {"r4": {"started_date": dt.date(2024, 12, 1)}}, None,
     ("项目台账", 6, "开工日期", "dates_out_of_order", "2024-12-01")),
    ("unknown county", {"r5": {"county_code": "430299"}}, None,
     ("项目台账", 7, "所在县市区", "code_list:county_of_city", "430299")),
    ("park of another city", {"r6": {"park_code": "430200P01"}}, None,
     ("项目台账", 8, "承接园区", "code_list:park_of_city", "430200P01")),
    ("stage without its date", {"r7": {"stage": "投产"}}, None, ("项目台账", 9, "投产日期", "stage_dates", "投产")),
    ("used above built", None, (2, {"factory_used_10k_m2": 999.0}),
     ("园区情况", 4, "标准厂房已使用面积（万平方米）", "used_le_built", "999")),
    ("text in a number", None, (3, {"employees": "约3000"}),
     ("园区情况", 5, "从业人员（人）", "not_a_number", "约3000")),
    ("unknown park", None, (4, {"park_code": "430100P99"}),
     ("园区情况", 6, "园区代码", "code_list:park_of_city", "430100P99")),
]


@pytest.mark.parametrize("case,proj,park,expected", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_bad_row_is_quarantined_and_the_rest_loads(baseline, warehouse, settings, tmp_path, case, proj, park, expected):
    parks = park_rows(CITY)
    if park:
        parks[park[0]].update(park[1])
    f = city_workbook(tmp_path, CITY, "2025-09", projects=projects(**(proj or {})), parks=parks)
    r = ingest_one(f, settings)
    assert r.status == "partial" and r.rows_rejected == 1, r.text()
    assert r.rows_loaded == 10 + 9 + 12 - 1
    sheet, row, column, rule, value = expected
    issue = next(i for i in r.issues if i.rule == rule)
    assert (issue.file, issue.sheet, issue.row, issue.value) == (f.name, sheet, row, value)
    assert issue.column.startswith(column) and issue.message_zh and issue.message_en
    stored = warehouse.execute("SELECT sheet, row_number, rule, value FROM audit.rejected_rows WHERE file_id = %s",
                               [r.file_id]).fetchall()
    assert (sheet, row, rule, value) in stored
    table = "raw.projects" if sheet == "项目台账" else "raw.parks"
    assert warehouse.execute(f"SELECT count(*) FROM {table} WHERE file_id = %s AND row_number = %s",
                             [r.file_id, row]).fetchone() == (0,)
    assert f"第{row}行 row {row}" in r.text() and rule in r.text()
    assert_only_new_submission(warehouse, baseline, "partial")


def test_duplicate_project_id_rejects_both_rows(baseline, warehouse, settings, tmp_path):
    rows = projects(12)
    rows[5]["project_id"] = rows[4]["project_id"]
    r = ingest_one(city_workbook(tmp_path, CITY, "2025-09", projects=rows), settings)
    assert r.status == "partial" and r.rows_rejected == 2
    assert sorted((i.row, i.rule) for i in r.issues) == [(6, "duplicate_key"), (7, "duplicate_key")]


def test_thousands_separators_and_excel_serial_dates_are_read(baseline, warehouse, settings, tmp_path):
    parks = park_rows(CITY)
    parks[0]["revenue_ytd_10k_cny"] = "1,234,567.5"
    rows = projects(**{"r0": {"signed_date": "45667"}})  # 2025-01-10 typed as a number
    r = ingest_one(city_workbook(tmp_path, CITY, "2025-09", projects=rows, parks=parks), settings)
    assert r.status == "accepted", r.text()
    assert [(w.row, w.rule) for w in r.warnings] == [(2, "excel_serial_date")]
    assert warehouse.execute("SELECT revenue_ytd_10k_cny FROM raw.parks WHERE file_id = %s AND row_number = 2",
                             [r.file_id]).fetchone()[0] == 1234567.5
    assert warehouse.execute("SELECT signed_date FROM raw.projects WHERE file_id = %s AND row_number = 2",
                             [r.file_id]).fetchone()[0] == dt.date(2025, 1, 10)


def test_paid_in_decrease_is_accepted_and_flagged_as_revision(baseline, warehouse, settings, tmp_path):
    rows = projects(**{"r0": {"paid_in_cumulative": 7000.0}})  # August had 8000
    r = ingest_one(city_workbook(tmp_path, CITY, "2025-09", projects=rows), settings)
    assert r.status == "accepted"
    assert [(w.row, w.rule, w.value) for w in r.warnings] == [(2, "paid_in_decrease", "7000")]
    assert warehouse.execute("SELECT row_number, rule FROM audit.row_warnings WHERE file_id = %s",
                             [r.file_id]).fetchall() == [(2, "paid_in_decrease")]


def test_paid_in_decrease_after_a_gap_compares_with_the_last_ledger_listing_the_project(baseline, settings,
                                                                                         tmp_path):
    # project 11 is in July's ledger (9000), missing from August's, back in September lower (8500):
    # the same comparison as the gate's paid_in_cumulative_non_decreasing, so the gate sees it flagged
    july = projects(11, r10={"paid_in_cumulative": 9000.0})
    assert ingest_one(city_workbook(tmp_path / "jul", CITY, "2025-07", projects=july), settings).status == "accepted"
    r = ingest_one(city_workbook(tmp_path, CITY, "2025-09", projects=projects(11, r10={"paid_in_cumulative": 8500.0})),
                   settings)
    assert r.status == "accepted", r.text()
    assert [(w.row, w.rule, w.value) for w in r.warnings] == [(12, "paid_in_decrease", "8500")]
    assert "9000" in r.warnings[0].message_zh


FILE_CASES = [
    ("empty file", lambda d: _bytes(d / f"{CITY}_202509.xlsx", b""), "empty_file"),
    ("not a spreadsheet", lambda d: _bytes(d / f"{CITY}_202509.xlsx", b"PK\x03\x04 not really"), "unreadable_file"),
    ("bad file name", lambda d: _bytes(d / "园区9月.xlsx", b"x"), "file_name"),
    ("missing sheet", lambda d: city_workbook(d, CITY, sheet_names={PARKS: "Sheet2"}), "missing_sheet"),
    ("renamed header",
     lambda d: city_workbook(d, CITY, headers={PARKS: ["园区名称", *[c.header for c in PARKS.columns[1:]]]}),
     "missing_column"),
    ("亿元 header", lambda d: city_workbook(d, CITY, headers={PARKS: [
        c.header.replace("（万元）", "（亿元）") for c in PARKS.columns]}), "wrong_unit"),
    ("another city's rows", lambda d: city_workbook(d, CITY, projects=[project_row("430200", i) for i in (1, 2, 3)]),
     "city_mismatch"),
    ("a later month's ledger", lambda d: city_workbook(d, CITY, "2025-08", projects=projects(
        **{f"r{i}": {"started_date": dt.date(2025, 9, 2)} for i in range(4)})), "period_mismatch"),
    ("too many bad rows", lambda d: city_workbook(d, CITY, parks=[dict(p, enterprises=-1) for p in park_rows(CITY)]),
     "too_many_bad_rows"),
]


def _bytes(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case,make,rule", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_unusable_file_is_rejected_whole(baseline, warehouse, settings, tmp_path, case, make, rule):
    r = ingest_one(make(tmp_path), settings)
    assert r.status == "rejected" and r.rows_loaded == 0, r.text()
    assert r.issues[0].rule == rule and r.issues[0].level == "file"
    assert r.issues[0].message_zh and r.issues[0].message_en and rule in r.text()
    status, reason = warehouse.execute("SELECT status, reason FROM audit.submissions WHERE file_id = %s",
                                       [r.file_id]).fetchone()
    assert status == "rejected" and r.issues[0].message_en in reason
    assert_only_new_submission(warehouse, baseline, "rejected")


def test_merged_header_cells_reject_the_file(baseline, warehouse, settings, tmp_path):
    import xlsxwriter

    f = city_workbook(tmp_path / "ok", CITY)  # then build one whose park header is a merged two-row header
    bad = tmp_path / f"{CITY}_202509.xlsx"
    wb = xlsxwriter.Workbook(str(bad))
    for sheet in (PROJECTS,):
        ws = wb.add_worksheet(sheet.sheet_name)
        for j, c in enumerate(sheet.columns):
            ws.write(0, j, c.header)
    ws = wb.add_worksheet(PARKS.sheet_name)
    ws.merge_range(0, 3, 0, 4, "标准厂房（万平方米）")
    ws.write(1, 3, "建成")
    ws.write(1, 4, "已使用")
    wb.close()
    assert f.exists()
    r = ingest_one(bad, settings)
    assert r.status == "rejected" and r.issues[0].rule == "merged_header" and r.issues[0].row == 1
    assert_only_new_submission(warehouse, baseline, "rejected")


def test_file_over_size_limit_is_rejected(baseline, warehouse, settings, tmp_path):
    small = Settings({**os.environ, "OPENECON_MAX_FILE_MB": "0.001"})
    r = ingest_one(city_workbook(tmp_path, CITY), small)
    assert r.status == "rejected" and r.issues[0].rule == "file_too_large"
    assert_only_new_submission(warehouse, baseline, "rejected")


# --- trade CSV -----------------------------------------------------------------------
def test_gbk_trade_csv_is_detected_and_loaded(baseline, warehouse, settings, tmp_path):
    rows = [trade_row(i) for i in range(1, 51)]
    f = write_trade(tmp_path / f"trade_{CITY}_202509.csv", rows, encoding="gbk")
    r = ingest_one(f, settings)
    assert (r.status, r.rows_loaded) == ("accepted", 50), r.text()
    names = warehouse.execute("SELECT enterprise_name FROM raw.trade WHERE file_id = %s ORDER BY row_number",
                              [r.file_id]).fetchall()
    assert names[0] == ("湖南测试贸易有限公司1",)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_trade_csv_encodings(warehouse, settings, tmp_path, encoding):
    f = write_trade(tmp_path / f"trade_{CITY}_202509.csv", [trade_row(i) for i in range(1, 4)], encoding=encoding)
    r = ingest_one(f, settings)
    assert r.status == "accepted" and r.rows_loaded == 3
    assert warehouse.execute("SELECT count(*) FROM raw.trade WHERE enterprise_name LIKE '湖南%'").fetchone() == (3,)


TRADE_CASES = [
    ("formula cell", {"enterprise_name": "=cmd|' /C calc'!A0"}, "企业名称", "formula"),
    ("wrong check digit", {"enterprise_code": "91430100000000012X"}, "企业代码", "uscc_check"),
    ("six-digit HS", {"hs_code": "842952"}, "HS编码", "pattern"),
    ("unknown country", {"partner_country": "XX"}, "贸易国别", "code_list:iso_country"),
    ("negative amount", {"amount_usd": -10}, "金额（美元）", "below_minimum"),
]


@pytest.mark.parametrize("case,bad,column,rule", TRADE_CASES, ids=[c[0] for c in TRADE_CASES])
def test_bad_trade_row_is_quarantined(baseline, warehouse, settings, tmp_path, case, bad, column, rule):
    rows = [trade_row(i) for i in range(1, 21)]
    rows[6].update(bad)
    r = ingest_one(write_trade(tmp_path / f"trade_{CITY}_202509.csv", rows), settings)
    assert (r.status, r.rows_loaded, r.rows_rejected) == ("partial", 19, 1), r.text()
    [issue] = [i for i in r.issues if i.level == "row"]
    assert (issue.row, issue.column, issue.rule, issue.sheet) == (8, column, rule, None)
    assert warehouse.execute("SELECT count(*) FROM raw.trade WHERE file_id = %s AND row_number = 8",
                             [r.file_id]).fetchone() == (0,)
    assert_only_new_submission(warehouse, baseline, "partial")


def test_trade_row_with_extra_field_rejects_file_and_names_the_line(baseline, warehouse, settings, tmp_path):
    f = write_trade(tmp_path / f"trade_{CITY}_202509.csv", [trade_row(i) for i in range(1, 6)])
    lines = f.read_text(encoding="utf-8-sig").splitlines()
    lines[3] += ",extra"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    r = ingest_one(f, settings)
    assert r.status == "rejected" and r.issues[0].rule == "column_count" and r.issues[0].row == 4
    assert_only_new_submission(warehouse, baseline, "rejected")


def test_cli_prints_receipts_and_exit_code(warehouse, settings, tmp_path):
    good = city_workbook(tmp_path / "g", CITY)
    bad = _bytes(tmp_path / "b" / f"{CITY}_202508.xlsx", b"garbage")
    run = lambda *p: subprocess.run([sys.executable, "-m", "openecon.cli", "ingest", *map(str, p)],  # noqa: E731
                                    capture_output=True, text=True)
    proc = run(good)
    assert proc.returncode == 0 and "已接收 accepted" in proc.stdout
    proc = run(bad)
    assert proc.returncode == 1
    assert "已拒收 rejected" in proc.stdout and "wrong_content" in proc.stdout
    assert f"{CITY}_202508.xlsx" in proc.stdout
    # a mistyped path beside a good file: said by name, and neither is ingested
    before = warehouse.execute("SELECT count(*) FROM audit.submissions").fetchone()[0]
    again = city_workbook(tmp_path / "g2", CITY)
    proc = run(again, tmp_path / "nope.xlsx")
    assert proc.returncode == 2 and f"no such file or folder: {tmp_path / 'nope.xlsx'}" in proc.stdout, proc.stdout
    assert warehouse.execute("SELECT count(*) FROM audit.submissions").fetchone()[0] == before


def test_the_ingest_command_imports_no_data_library_before_it_meets_a_file():
    """Start-up is paid by every ingest (and every mapped Airflow task): what only one kind of file
    needs (Arrow and numpy for trade CSVs, pandas for workbooks) is imported when one arrives."""
    heavy = ("numpy", "pyarrow", "pandas", "python_calamine", "great_expectations", "dbt")
    code = ("import sys, openecon.cli; from ingestion.load import ingest_paths; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == ""
