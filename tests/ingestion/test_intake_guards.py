"""Intake guards against files that would mislead or wipe: the same bytes under another name,
content that is not what the name says, a correction that removes most of a month, and a
failure of the system itself (receipt and audit row whatever happens, the batch goes on)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import pytest

from ingestion import load, workbook
from ingestion.load import ingest_paths
from tests.workbooks import city_workbook, project_row, trade_row, write_trade

CITY, OTHER = "430100", "430500"


def ingest_one(path, settings, **kw):
    [r] = ingest_paths([path], settings, **kw)
    return r


def submissions(conn):
    return conn.execute("SELECT file_id, file_name, status, superseded_by FROM audit.submissions ORDER BY 1").fetchall()


def in_force(conn, city, period, kind):
    return [r[0] for r in conn.execute(
        "SELECT file_id FROM audit.submissions_in_force WHERE city_code = %s AND period = %s AND kind = %s",
        [city, period, kind]).fetchall()]


def receipt_file(settings, r):
    return settings.receipt_path(r.city_code, r.file, r.file_id)


# --- no misleading duplicates -----------------------------------------------------------
@pytest.mark.parametrize("new_name", [f"{OTHER}_202509.xlsx", f"{CITY}_202508.xlsx", f"trade_{CITY}_202509.csv"],
                         ids=["another city", "another period", "another kind"])
def test_same_bytes_under_a_name_meaning_another_submission_is_rejected_naming_the_earlier_file(
        warehouse, settings, tmp_path, new_name):
    first = ingest_one(city_workbook(tmp_path / "a", CITY, "2025-09"), settings)
    assert first.status == "accepted", first.text()
    copy = tmp_path / "b" / new_name
    copy.parent.mkdir()
    shutil.copy(tmp_path / "a" / f"{CITY}_202509.xlsx", copy)
    r = ingest_one(copy, settings)
    assert r.status == "rejected" and r.issues[0].rule == "same_content_other_name", r.text()
    assert f"内容与{CITY}_202509.xlsx（文件编号{first.file_id}）相同" in r.reason
    assert r.rows_loaded == 0 and r.file_id != first.file_id
    assert submissions(warehouse)[-1][1:3] == (new_name, "rejected")
    if new_name.startswith(OTHER):
        assert in_force(warehouse, OTHER, "2025-09", "workbook") == []  # what the sender meant is not there
    assert in_force(warehouse, CITY, "2025-09", "workbook") == [first.file_id]  # the earlier file untouched
    assert receipt_file(settings, r).exists()


def test_same_bytes_under_the_same_name_is_a_duplicate(warehouse, settings, tmp_path):
    f = city_workbook(tmp_path, CITY, "2025-09")
    first = ingest_one(f, settings)
    r = ingest_one(f, settings)
    assert (r.status, r.ok) == ("duplicate", True) and str(first.file_id) in r.reason


# --- corrections cannot silently wipe data --------------------------------------------------
def _trade(path, n):
    return write_trade(path, [trade_row(i) for i in range(1, n + 1)])


@pytest.mark.parametrize("kept", [0, 9], ids=["header only", "fewer than half"])
def test_a_correction_removing_most_rows_is_rejected_and_the_month_stays(warehouse, settings, tmp_path, kept):
    first = ingest_one(_trade(tmp_path / "a" / f"trade_{CITY}_202509.csv", 20), settings)
    r = ingest_one(_trade(tmp_path / "b" / f"trade_{CITY}_202509.csv", kept), settings)
    assert r.status == "rejected" and r.issues[0].rule == "shrinking_correction", r.text()
    assert f"由20行减少为{kept}行，将删除{20 - kept}行" in r.reason and f"removing {20 - kept}" in r.reason
    assert in_force(warehouse, CITY, "2025-09", "trade") == [first.file_id]
    assert warehouse.execute("SELECT count(*) FROM raw.trade WHERE file_id = %s", [r.file_id]).fetchone() == (0,)


def test_allow_shrink_lets_the_correction_through_and_the_receipt_records_it(warehouse, settings, tmp_path):
    first = ingest_one(_trade(tmp_path / "a" / f"trade_{CITY}_202509.csv", 20), settings)
    r = ingest_one(_trade(tmp_path / "b" / f"trade_{CITY}_202509.csv", 0), settings, allow_shrink=True)
    assert r.status == "superseding" and r.superseded == [first.file_id], r.text()
    assert r.allow_shrink and "--allow-shrink" in r.text()
    assert [i.rule for i in r.warnings] == ["shrink_allowed"] and "将删除20行" in r.warnings[0].message_zh
    assert in_force(warehouse, CITY, "2025-09", "trade") == [r.file_id]
    stored = warehouse.execute("SELECT receipt->>'allow_shrink' FROM audit.submissions WHERE file_id = %s",
                               [r.file_id]).fetchone()
    assert stored == ("true",)


def test_a_workbook_correction_is_checked_sheet_by_sheet(warehouse, settings, tmp_path):
    """Dropping the whole ledger is caught even though the parks sheet is unchanged."""
    ingest_one(city_workbook(tmp_path / "a", CITY, "2025-09",
                             projects=[project_row(CITY, i) for i in range(1, 11)]), settings)
    r = ingest_one(city_workbook(tmp_path / "b", CITY, "2025-09",
                                 projects=[project_row(CITY, i) for i in range(1, 4)]), settings)
    assert r.status == "rejected" and r.issues[0].sheet == "项目台账" and "由10行减少为3行" in r.reason
    ok = ingest_one(city_workbook(tmp_path / "c", CITY, "2025-09",
                                  projects=[project_row(CITY, i) for i in range(1, 6)]), settings)
    assert ok.status == "superseding", ok.text()  # 5 of 10 is not fewer than half


# --- whatever happens: a receipt, an audit row, and the batch goes on ---------------------------
def test_an_unexpected_failure_becomes_a_rejected_receipt_with_an_error_reference(
        warehouse, settings, tmp_path, monkeypatch, caplog):
    bad = city_workbook(tmp_path / "a", CITY, "2025-08")
    good = _trade(tmp_path / "b" / f"trade_{CITY}_202509.csv", 5)
    real = workbook.validate

    def failing(frame, sheet, file, *a, **kw):  # a defect in one file's processing, injected
        if file == bad.name:
            raise ZeroDivisionError("injected")
        return real(frame, sheet, file, *a, **kw)

    monkeypatch.setattr(workbook, "validate", failing)
    with caplog.at_level(logging.ERROR, logger="ingestion.load"):
        r_bad, r_good = ingest_paths([bad, good], settings)
    assert r_bad.status == "rejected" and r_bad.issues[0].rule == load.INTERNAL_ERROR
    assert r_bad.error_ref and r_bad.error_ref in r_bad.reason and "错误编号" in r_bad.reason
    assert any(r_bad.error_ref in rec.getMessage() and rec.exc_info for rec in caplog.records)
    assert (r_good.status, r_good.rows_loaded) == ("accepted", 5)
    rows = {name: status for _, name, status, _ in submissions(warehouse)}
    assert rows == {bad.name: "rejected", good.name: "accepted"}
    assert warehouse.execute("SELECT count(*) FROM raw.projects").fetchone() == (0,)
    assert receipt_file(settings, r_bad).exists() and receipt_file(settings, r_good).exists()


def test_the_inbox_takes_a_file_again_after_a_system_failure(warehouse, settings, tmp_path, monkeypatch):
    from flows.intake import new_inbox_files

    inbox = tmp_path / "inbox"
    f = city_workbook(inbox / CITY, CITY, "2025-09")
    monkeypatch.setattr(workbook, "validate", lambda *a, **k: 1 / 0)
    assert ingest_one(f, settings).status == "rejected"
    assert new_inbox_files(inbox, settings) == [f]  # the sender is not at fault: try again
    monkeypatch.undo()
    assert ingest_one(f, settings).status == "accepted"
    assert new_inbox_files(inbox, settings) == []


def test_cli_exit_code_is_one_when_a_file_is_rejected_and_every_file_has_a_receipt(warehouse, settings, tmp_path):
    good = _trade(tmp_path / "in" / f"trade_{CITY}_202509.csv", 3)
    (tmp_path / "in" / f"{CITY}_202509.xlsx").write_text("企业代码,企业名称\n", encoding="utf-8")  # CSV named .xlsx
    (tmp_path / "in" / "notes.txt").write_text("hello", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "openecon.cli", "ingest", str(tmp_path / "in")],
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    rows = {name: status for _, name, status, _ in submissions(warehouse)}
    assert rows == {good.name: "accepted", f"{CITY}_202509.xlsx": "rejected", "notes.txt": "rejected"}
    assert proc.stdout.count("回执 Receipt:") == 3


def test_a_receipt_file_an_interrupted_ingest_did_not_write_is_written_by_the_next_ingest(
        warehouse, settings, tmp_path):
    """A kill between the commit and the receipt file leaves audit with the receipt; the next run
    writes the city's copy again, word for word."""
    rows = [trade_row(i) for i in range(1, 6)]
    rows[2]["hs_code"] = "8429"  # one row rejected, so the receipt carries an issue
    first = ingest_one(write_trade(tmp_path / "a" / f"trade_{CITY}_202509.csv", rows), settings)
    path = receipt_file(settings, first)
    text = path.read_text(encoding="utf-8")
    assert first.status == "partial" and "第4行 row 4" in text
    path.unlink()
    ingest_one(_trade(tmp_path / "b" / f"trade_{OTHER}_202509.csv", 3), settings)
    assert path.read_text(encoding="utf-8") == text


# --- the inbox shared out to the pool's slots ----------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_the_cities_are_shared_out_once_each_and_no_share_is_far_above_the_best_split(seed):
    import itertools
    import random

    from flows.intake import share_out

    rng = random.Random(seed)
    cities = [f"43{i:02d}00" for i in range(1, rng.randint(1, 8) + 1)]
    work = {c: rng.choice([1, 5, 20, 100]) * rng.randint(1, 50) for c in cities}
    shares = rng.randint(1, 3)
    got = share_out(work, shares)
    assert sorted(c for share in got for c in share) == sorted(cities)
    assert len(got) == min(shares, len(cities)) and all(share == sorted(share) for share in got)
    # The best split, by trying every assignment: most work first to the lightest share stays
    # within 4/3 of it (Graham's bound for that rule).
    best = min(max(sum(work[c] for c, s in zip(cities, pick) if s == k) for k in range(shares))
               for pick in itertools.product(range(shares), repeat=len(cities)))
    assert max(sum(work[c] for c in share) for share in got) <= best * 4 / 3


def test_a_share_of_the_inbox_ingests_its_cities_new_files_only(warehouse, settings, tmp_path):
    from flows.intake import inbox_shares, ingest_cities

    inbox = tmp_path / "inbox"
    for city, rows in ((CITY, 3), (OTHER, 2), ("430700", 1)):
        (inbox / city).mkdir(parents=True)
        city_workbook(inbox / city, city, "2025-09", [project_row(city, i + 1) for i in range(rows)])
        write_trade(inbox / city / f"trade_{city}_202509.csv", [trade_row(i) for i in range(rows * 400)])
    shares = inbox_shares(inbox, settings, 2, up_to_period="2025-09")
    assert sorted(c for s in shares for c in s) == sorted([CITY, OTHER, "430700"]) and len(shares) == 2
    first = ingest_cities(inbox, shares[0], settings, up_to_period="2025-09")
    assert first["files"] == 2 * len(shares[0]) and not first["rejected"]
    # what is left is the other share; a second run of the first share finds nothing new
    left = inbox_shares(inbox, settings, 2, up_to_period="2025-09")
    assert sorted(c for s in left for c in s) == sorted(shares[1])
    assert ingest_cities(inbox, shares[0], settings, up_to_period="2025-09")["files"] == 0
    cities = {r[0] for r in warehouse.execute("SELECT city_code FROM audit.submissions").fetchall()}
    assert cities == set(shares[0])
