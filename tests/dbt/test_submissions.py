"""marts.submission_status: every city × month × kind with on time / late / superseded / rejected /
combined / missing, against files really ingested (receipt times backdated to make history)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest

from flows import transform
from ingestion.load import ingest_paths
from samples.generate import generate
from tests.conftest import reset_warehouse

CITIES = ["430100", "430200", "430800"]  # 430800 reports 1–2月 together (no January files)
# received_at per file name, UTC: 23:00 and 01:00 Beijing time either side of midnight on 10 Feb
RECEIVED = {
    "430100_202501.xlsx": "2025-02-10 15:00+00",        # 23:00 on the deadline day: on time
    "trade_430100_202501.csv": "2025-02-10 17:00+00",   # 01:00 the day after: 1 day late
    "430100_202502.xlsx": "2025-03-03 02:00+00",
    "trade_430100_202502.csv": "2025-03-03 02:00+00",
    "trade_430100_202503.csv": "2025-04-25 02:00+00",   # 15 days late
    "430200_202501.xlsx": "2025-02-07 02:00+00",
    "trade_430200_202501.csv": "2025-02-07 02:00+00",
    "trade_430200_202502.csv": "2025-03-09 02:00+00",
    "430200_202503.xlsx": "2025-04-09 02:00+00",
    "430800_202502.xlsx": "2025-03-08 02:00+00",
    "trade_430800_202502.csv": "2025-03-08 02:00+00",
    "430800_202503.xlsx": "2025-04-08 02:00+00",
    "trade_430800_202503.csv": "2025-04-08 02:00+00",
}
ORIGINAL_AT, CORRECTED_AT = "2025-04-08 02:00+00", "2025-04-15 02:00+00"  # 430100_202503.xlsx and its correction
REJECTED_AT = "2025-03-06 02:00+00"  # 430200_202502.xlsx, unreadable, never sent again


def dbt_status(settings):
    transform.dbt(["build", "--select", "+submission_status", "--indirect-selection", "cautious"], settings)


def rows(conn) -> dict:
    cur = conn.execute("SELECT * FROM marts.submission_status")
    cols = [c.name for c in cur.description]
    return {(r["city_code"], r["period"], r["kind"]): r for r in (dict(zip(cols, x)) for x in cur.fetchall())}


@pytest.fixture(scope="module")
def built(pg, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("status_sample")
    generate(out, "2025-01", "2025-03", scale=0.01, cities=CITIES)
    # 430200 sends nothing usable for 2025-02 (a broken workbook) and no March trade file
    (out / "430200" / "trade_430200_202503.csv").unlink()
    bad = tmp_path_factory.mktemp("status_bad") / "430200_202502.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not a workbook")
    (out / "430200" / "430200_202502.xlsx").unlink()
    # 430100 corrects its March workbook (regenerated with another seed: other bytes, other figures)
    fix_dir = tmp_path_factory.mktemp("status_fix")
    generate(fix_dir, "2025-03", "2025-03", scale=0.01, seed=7, cities=["430100"])
    fix = fix_dir / "430100" / "430100_202503.xlsx"

    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        reset_warehouse(settings)
        first = ingest_paths(sorted(out.rglob("*.*")) + [bad], settings)
        assert {r.status for r in first} == {"accepted", "rejected"}
        second = ingest_paths([fix], settings)
        assert [r.status for r in second] == ["superseding"]
        for name, at in RECEIVED.items():
            assert conn.execute("UPDATE audit.submissions SET received_at = %s WHERE file_name = %s",
                                [at, name]).rowcount == 1
        conn.execute("UPDATE audit.submissions SET received_at = %s, superseded_at = %s "
                     "WHERE file_name = '430100_202503.xlsx' AND superseded_at IS NOT NULL",
                     [ORIGINAL_AT, CORRECTED_AT])
        conn.execute("UPDATE audit.submissions SET received_at = %s "
                     "WHERE file_name = '430100_202503.xlsx' AND superseded_at IS NULL", [CORRECTED_AT])
        conn.execute("UPDATE audit.submissions SET received_at = %s WHERE status = 'rejected'", [REJECTED_AT])
        # the model, its unit tests (the status rule; the deadline setting) and data tests: dbt fails on any failure
        dbt_status(settings)
        yield {"conn": conn, "rows": rows(conn), "out": out}


def test_one_row_per_city_month_and_kind(built, settings):
    r = built["rows"]
    assert len(r) == 14 * 3 * 2
    assert {k[1] for k in r} == {"2025-01", "2025-02", "2025-03"}
    cities = {c for (c,) in built["conn"].execute("SELECT code FROM reference.hunan_divisions WHERE level = 'city'")}
    assert len(cities) == 14 and {k[0] for k in r} == cities
    assert {k[2] for k in r} == {"workbook", "trade"}


def test_each_status_from_the_files(built):
    r = built["rows"]
    s = {k: v["status"] for k, v in r.items()}
    # on time on the deadline day (23:00 Beijing), late from 00:00 the day after
    on = r[("430100", "2025-01", "workbook")]
    assert (on["status"], on["days_late"], on["deadline_date"]) == ("on_time", 0, date(2025, 2, 10))
    late = r[("430100", "2025-01", "trade")]
    assert (late["status"], late["timeliness"], late["days_late"]) == ("late", "late", 1)
    assert r[("430100", "2025-03", "trade")]["days_late"] == 15
    # the correction is in force; it came after the deadline, which stays visible
    sup = r[("430100", "2025-03", "workbook")]
    assert (sup["status"], sup["is_correction"], sup["timeliness"], sup["days_late"]) == ("superseded", True, "late", 5)
    assert (sup["files_received"], sup["files_superseded"]) == (2, 1)
    assert sup["in_force_received_at"] == datetime(2025, 4, 15, 2, tzinfo=UTC)
    # a broken workbook and nothing after it
    rej = r[("430200", "2025-02", "workbook")]
    assert (rej["status"], rej["files_received"], rej["files_rejected"], rej["in_force_file_id"]) \
        == ("rejected", 1, 1, None)
    assert s[("430200", "2025-03", "trade")] == "missing"
    # 430800 sent no January: its February files cover 1–2月
    for kind in ("workbook", "trade"):
        jan = r[("430800", "2025-01", kind)]
        assert (jan["status"], jan["combined_with_period"], jan["files_received"]) == ("combined", "2025-02", 0)
    # cities that sent nothing are missing, not absent, in every month
    assert {v for k, v in s.items() if k[0] not in CITIES} == {"missing"}
    assert set(s.values()) == {"on_time", "late", "superseded", "rejected", "combined", "missing"}
    # the file in force is the one the marts read
    cur = dict(built["conn"].execute(
        "SELECT city_code || period || kind, file_id FROM staging.stg_audit__current_submissions").fetchall())
    for (c, p, k), v in r.items():
        assert v["in_force_file_id"] == cur.get(c + p + k)


def test_auditor_report_lists_the_status_grid(built, settings, tmp_path):
    """The status section of `openecon audit` shows every city-month of the period, missing ones included."""
    from reports.audit_report import render

    res = render(settings, "2025-02", tmp_path)
    html = (tmp_path / "audit_2025-02.html").read_text("utf-8")
    assert res["paths"] == [str(tmp_path / "audit_2025-02.html"), str(tmp_path / "audit_2025-02.xlsx")]
    assert res["summary"]["status_counts"] == {"missing": 22, "on_time": 5, "rejected": 1}
    section = html.split('id="submission_status"')[1].split("<h2")[0]
    assert section.count("<tr>") == 1 + 28  # header + 14 cities × 2 kinds
    assert section.count("被拒收 rejected") == 1 and section.count("未报送 missing") == 22
    assert section.count("按时报送 on_time") == 5
    # the broken file is listed with its reason, and it is the one rejected file of the month
    files = html.split('id="files"')[1].split("<h2")[0]
    assert files.count("已拒收 rejected") == 1 and "430200_202502.xlsx" in files
