"""Ingestion against the real Postgres: receipts, raw rows, audit, quarantine, supersession."""

import os
from pathlib import Path

import pytest

from ingestion import reference
from ingestion.load import ingest_paths
from ingestion.sample import park_row
from openecon.settings import Settings
from tests.workbooks import write_parks

CITY = "430300"  # 湘潭市: three parks


def rows_for(period="2025-09"):
    return [park_row(p, period, 42) for p in reference.parks_by_city()[CITY]]


def snapshot(conn):
    raw = conn.execute("SELECT file_id, row_number, park_code, tax_ytd_10k_cny FROM raw.parks ORDER BY 1, 2").fetchall()
    subs = conn.execute(
        "SELECT file_id, status, rows, rows_rejected, superseded_at IS NOT NULL FROM audit.submissions ORDER BY 1"
    ).fetchall()
    return raw, subs


def test_clean_file_is_accepted_and_copied_with_file_id_and_row_number(warehouse, settings, tmp_path):
    f = write_parks(tmp_path / f"{CITY}_202509.xlsx", rows_for())
    [r] = ingest_paths([f], settings)
    assert (r.status, r.rows_loaded, r.rows_rejected) == ("accepted", 3, 0)
    raw = warehouse.execute("SELECT file_id, row_number, park_code FROM raw.parks ORDER BY row_number").fetchall()
    assert raw == [(r.file_id, i + 2, row["park_code"]) for i, row in enumerate(rows_for())]
    sub = warehouse.execute("SELECT city_code, period, kind, status, sha256, receipt->>'status' "
                            "FROM audit.submissions").fetchone()
    assert sub == (CITY, "2025-09", "workbook", "accepted", r.sha256, "accepted")
    assert Path(settings.archive_dir / r.sha256[:2] / f"{r.sha256}.xlsx").read_bytes() == f.read_bytes()


def test_same_bytes_twice_is_a_recorded_no_op(warehouse, settings, tmp_path):
    f = write_parks(tmp_path / f"{CITY}_202509.xlsx", rows_for())
    ingest_paths([f], settings)
    raw_before, _ = snapshot(warehouse)
    [r] = ingest_paths([f], settings)
    raw_after, subs = snapshot(warehouse)
    assert r.status == "duplicate" and r.rows_loaded == 0
    assert raw_after == raw_before
    assert [s[1] for s in subs] == ["accepted", "duplicate"]


def test_corrected_resubmission_supersedes_and_both_stay_in_raw(warehouse, settings, tmp_path):
    (tmp_path / "a").mkdir()
    first = write_parks(tmp_path / "a" / f"{CITY}_202509.xlsx", rows_for())
    [r1] = ingest_paths([first], settings)
    corrected = rows_for()
    corrected[0]["tax_ytd_10k_cny"] += 100
    (tmp_path / "b").mkdir()
    second = write_parks(tmp_path / "b" / f"{CITY}_202509.xlsx", corrected)
    [r2] = ingest_paths([second], settings)
    assert r2.status == "superseding" and r2.superseded == [r1.file_id]
    raw, subs = snapshot(warehouse)
    assert len(raw) == 6  # both versions kept
    assert subs == [(r1.file_id, "accepted", 3, 0, True), (r2.file_id, "accepted", 3, 0, False)]


def test_bad_rows_are_quarantined_and_good_rows_load(warehouse, settings, tmp_path):
    rows = rows_for() + [park_row(reference.parks_by_city()["430100"][0], "2025-09", 42)]  # Changsha's park
    rows += [dict(rows_for()[0], park_code=None)]
    # 5 rows: 3 good, 1 park of another city, 1 missing code -> 40% bad; allow it here
    settings_loose = Settings({**os.environ, "OPENECON_MAX_BAD_ROW_SHARE": "0.5"})
    f = write_parks(tmp_path / f"{CITY}_202509.xlsx", rows)
    [r] = ingest_paths([f], settings_loose)
    assert (r.status, r.rows_loaded, r.rows_rejected) == ("partial", 3, 2)
    rejected = warehouse.execute(
        "SELECT row_number, column_name, value, rule FROM audit.rejected_rows ORDER BY row_number").fetchall()
    assert rejected == [(5, "园区代码", "430100P01", "code_list:park_of_city"), (6, "园区代码", None, "required")]
    assert warehouse.execute("SELECT count(*) FROM raw.parks").fetchone() == (3,)


def test_too_many_bad_rows_reject_the_whole_file(warehouse, settings, tmp_path):
    rows = [dict(r, enterprises=-1) for r in rows_for()]
    f = write_parks(tmp_path / f"{CITY}_202509.xlsx", rows)
    [r] = ingest_paths([f], settings)
    assert r.status == "rejected" and r.rows_loaded == 0 and r.rows_rejected == 3
    assert warehouse.execute("SELECT count(*) FROM raw.parks").fetchone() == (0,)
    assert warehouse.execute("SELECT count(*) FROM audit.rejected_rows WHERE rule = 'below_minimum'").fetchone() == (3,)


@pytest.mark.parametrize("name,content,rule", [
    (f"{CITY}_202509.xlsx", b"", "empty_file"),
    (f"{CITY}_202509.xlsx", b"this is not a spreadsheet", "unreadable_file"),
    ("parks september.xlsx", b"whatever", "file_name"),
])
def test_unusable_files_are_rejected_with_a_reason(warehouse, settings, tmp_path, name, content, rule):
    f = tmp_path / name
    f.write_bytes(content)
    [r] = ingest_paths([f], settings)
    assert r.status == "rejected" and r.issues[0].rule == rule
    assert r.issues[0].message_zh and r.issues[0].message_en
    status, reason = warehouse.execute("SELECT status, reason FROM audit.submissions").fetchone()
    assert status == "rejected" and r.issues[0].message_en in reason
    assert warehouse.execute("SELECT count(*) FROM raw.parks").fetchone() == (0,)


def test_missing_sheet_rejects_the_file(warehouse, settings, tmp_path):
    f = write_parks(tmp_path / f"{CITY}_202509.xlsx", rows_for(), sheet_name="Sheet1")
    [r] = ingest_paths([f], settings)
    assert r.status == "rejected" and r.issues[0].rule == "missing_sheet" and r.issues[0].sheet == "园区情况"


def test_cli_prints_receipts_and_exit_code(warehouse, settings, tmp_path):
    import subprocess
    import sys

    good = write_parks(tmp_path / f"{CITY}_202509.xlsx", rows_for())
    bad = tmp_path / f"{CITY}_202508.xlsx"
    bad.write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "openecon.cli", "ingest", str(good)], capture_output=True, text=True)
    assert proc.returncode == 0 and "已接收 accepted" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "openecon.cli", "ingest", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "已拒收 rejected" in proc.stdout and "unreadable_file" in proc.stdout and f"{CITY}_202508.xlsx" in proc.stdout
