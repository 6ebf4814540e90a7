"""`openecon audit`: the auditor's report lists what was received, rejected, corrected, checked and
published for a period, in HTML and XLSX, from a warehouse built end to end (ingest, dbt, GX gate,
bulletin)."""

from __future__ import annotations

import shutil
import zipfile
from html.parser import HTMLParser

import psycopg
import pytest
from python_calamine import CalamineWorkbook

from flows import quality, transform
from flows.warehouse import prepare
from ingestion.load import ingest_paths
from openecon.cli import main as cli
from reports.appraisal import render as render_appraisal
from reports.audit_report import render as render_audit
from tests.conftest import WAREHOUSE_SCHEMAS, reset_warehouse

PERIOD = "2025Q3"
BAD_ROW = 5  # row 5 of the corrected trade CSV (header is row 1): a formula typed as HS code, rejected by intake
BAD_HS = "=1+2"
LATE = "430200_202509.xlsx"


class Tables(HTMLParser):
    """Cells of each section's table: {section id: [[cell text, ...], ...]} (header row first)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self.section, self.row, self.cell = {}, None, None, None
        self.links: dict[str, list[str]] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self.section = a.get("id")
        elif tag == "tr" and self.section:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        elif tag == "a":
            self.links.setdefault(self.section, []).append(a["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables.setdefault(self.section, []).append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def records(self, section: str) -> list[dict]:
        head, *body = self.tables[section]
        return [dict(zip(head, r)) for r in body]


def xlsx_records(path, sheet: str) -> list[dict]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    head = [str(h) for h in rows[1]]  # row 0 is the title; the table ends at the first empty row
    out = []
    for r in rows[2:]:
        if all(v == "" for v in r):
            break
        out.append(dict(zip(head, r)))
    return out


@pytest.fixture(scope="module")
def built(pg, settings, sample_dir, tmp_path_factory):
    """The session's clean sample (14 cities, 2025-08..09) with a broken file, a late file and a correction."""
    work = tmp_path_factory.mktemp("audit_work")
    fixes = work / "fixes"
    # a corrected September trade file for 430100 with one bad row: superseding, and partial
    fixes.mkdir()
    src = (sample_dir / "430100" / "trade_430100_202509.csv").read_text("utf-8-sig").splitlines()
    cells = src[BAD_ROW - 1].split(",")
    cells[2] = BAD_HS
    src[BAD_ROW - 1] = ",".join(cells)
    (fixes / "trade_430100_202509.csv").write_text("\ufeff" + "\r\n".join(src) + "\r\n", encoding="utf-8")
    # 431000's first August workbook is unreadable; the city sends it again
    broken = work / "431000_202508.xlsx"
    broken.write_bytes(b"not a workbook")
    audit_out = settings.output_dir / "audit_test"

    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        reset_warehouse(settings, prepare=False)
        # the report on an empty warehouse: a clear message, nothing created
        empty = render_audit(settings, PERIOD, work / "empty")
        schemas_after_empty = {s for (s,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [list(WAREHOUSE_SCHEMAS)])}

        prepare(settings)  # what `openecon ingest` applies first
        assert [r.status for r in ingest_paths([broken], settings)] == ["rejected"]
        files = sorted(p for p in sample_dir.rglob("*") if p.suffix in (".xlsx", ".csv"))
        assert all(r.status == "accepted" for r in ingest_paths(files, settings))
        assert [r.status for r in ingest_paths([fixes / "trade_430100_202509.csv"], settings)] == ["superseding"]
        # history: everything arrived on the 5th of the next month, except one late workbook
        conn.execute("""UPDATE audit.submissions SET received_at =
                          to_date(period || '-05', 'YYYY-MM-DD') + interval '1 month 9 hours'
                          + file_id * interval '1 second'
                        WHERE period IS NOT NULL""")
        conn.execute("UPDATE audit.submissions SET received_at = timestamptz '2025-10-18 10:00+08' "
                     "WHERE file_name = %s",
                     [LATE])
        conn.execute("UPDATE audit.submissions SET superseded_at = n.received_at FROM audit.submissions n "
                     "WHERE audit.submissions.superseded_by = n.file_id")
        # the models' own tests run in their modules; here the marts are inputs
        prepare(settings)
        transform.dbt(["build", "--exclude-resource-type", "test", "unit_test"], settings)
        gate = quality.quality_gate(settings)
        assert gate.success, gate.summary()
        from reports.bulletin import render as render_bulletin

        # the sample starts in 2025-08 (its 1—9月 trade misses 1—7月): published with the override
        bulletin = render_bulletin(settings, PERIOD, work / "bulletins", allow_incomplete=True)
        assert cli(["audit", "--period", PERIOD, "--out", str(audit_out)]) == 0
        html = (audit_out / f"audit_{PERIOD}.html").read_text("utf-8")
        yield {"conn": conn, "html": html, "tables": Tables(html), "xlsx": audit_out / f"audit_{PERIOD}.xlsx",
               "empty": empty, "empty_dir": work / "empty", "schemas_after_empty": schemas_after_empty,
               "bulletin": bulletin, "gate": gate, "out": audit_out}
    shutil.rmtree(audit_out, ignore_errors=True)


def test_empty_warehouse_gives_a_report_that_says_so(built):
    e = built["empty"]
    assert e["summary"]["files"] == 0
    assert any("no submission has been received yet" in n for n in e["notices"])
    html = (built["empty_dir"] / f"audit_{PERIOD}.html").read_text("utf-8")
    assert "audit.submissions 尚不存在" in html and "audit.quality_runs / audit.quality_results 尚不存在" in html
    assert (built["empty_dir"] / f"audit_{PERIOD}.xlsx").stat().st_size > 0
    assert built["schemas_after_empty"] == set()  # the report created nothing in the database


def test_every_file_received_with_its_hash(built):
    conn, t = built["conn"], built["tables"]
    expected = conn.execute(
        "SELECT file_id, file_name, sha256, status FROM audit.submissions "
        "WHERE period BETWEEN '2025-07' AND '2025-09' ORDER BY file_id").fetchall()
    assert len(expected) == 14 * 2 * 2 + 2  # August and September, + the broken file and the correction
    listed = {int(r["文件编号 file_id"]): r for r in t.records("files")}
    assert set(listed) == {f for f, *_ in expected}
    for file_id, name, sha, status in expected:
        r = listed[file_id]
        assert (r["文件名 file_name"], r["SHA-256 sha256"]) == (name, sha.strip())
        assert r["状态 status"].endswith(status)
    sheet = {int(r["文件编号 file_id"]): r for r in xlsx_records(built["xlsx"], "报送文件")}
    assert {f: (r["SHA-256 sha256"], r["状态 status"].split()[-1]) for f, r in sheet.items()} == {
        f: (sha.strip(), status) for f, _, sha, status in expected}
    # every receipt is linked and exists on disk
    receipts = t.records("receipts")
    assert len(receipts) == len(expected) and all(r["回执文件存在 receipt_exists"] == "是" for r in receipts)
    for href in built["tables"].links["receipts"]:
        assert (built["out"] / href).resolve().is_file()


def test_rejected_rows_and_the_rejected_file(built):
    conn = built["conn"]
    (fix_id,) = conn.execute("SELECT file_id FROM audit.submissions WHERE file_name = 'trade_430100_202509.csv' "
                             "AND superseded_at IS NULL").fetchone()
    rows = built["tables"].records("rejected_rows")
    bad = [r for r in rows if r["文件编号 file_id"] == str(fix_id)]
    assert len(bad) == 1
    assert (bad[0]["行号 row_number"], bad[0]["列 column_name"], bad[0]["规则 rule"]) \
        == (str(BAD_ROW), "HS编码", "formula")
    assert bad[0]["值 value"] == BAD_HS and bad[0]["说明 message_zh"] and bad[0]["message message_en"]
    broken = [r for r in rows if r["文件名 file_name"] == "431000_202508.xlsx"]
    assert len(broken) == 1 and broken[0]["行号 row_number"] == ""  # a file-level reason
    sheet = xlsx_records(built["xlsx"], "拒收行")
    assert len(sheet) == len(rows) == conn.execute("SELECT count(*) FROM audit.rejected_rows").fetchone()[0]
    # the clerk's text reaches the spreadsheet as text, never as a formula
    assert [r["值 value"] for r in sheet if r["行号 row_number"] == BAD_ROW] == ["'" + BAD_HS]
    with zipfile.ZipFile(built["xlsx"]) as z:
        assert not any("<f>" in z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_superseded_submission(built):
    conn = built["conn"]
    [old] = conn.execute("SELECT file_id, superseded_by FROM audit.submissions "
                         "WHERE superseded_at IS NOT NULL").fetchall()
    [row] = built["tables"].records("superseded")
    assert (row["文件编号 file_id"], row["更正文件编号 superseded_by"]) == (str(old[0]), str(old[1]))
    assert row["更正文件名 superseded_by_name"] == "trade_430100_202509.csv"


def test_submission_status_of_the_quarter(built):
    status = {(r["市州代码 city_code"], r["报告期 period"], r["类型 kind"]): r["报送状态 status"]
              for r in built["tables"].records("submission_status")}
    assert len(status) == 14 * 2 * 2  # nothing was ever received for July: the grid starts in August
    assert status[("430100", "2025-09", "外贸明细")] == "已更正 superseded"
    assert status[("430200", "2025-09", "月报工作簿")] == "逾期报送 late"
    assert status[("431000", "2025-08", "月报工作簿")] == "按时报送 on_time"  # sent again in time
    assert {s.split()[-1] for s in status.values()} == {"on_time", "late", "superseded"}
    assert sum(s.endswith(" on_time") for s in status.values()) == 56 - 2


def test_quality_results_and_published_bulletins(built):
    conn, t, gate = built["conn"], built["tables"], built["gate"]
    runs = {r["检查批次 run_id"]: r for r in t.records("quality_runs")}
    assert gate.run_id in runs and runs[gate.run_id]["阻断性检查通过 success"] == "是"
    assert runs[gate.run_id]["覆盖本期现行数据 covers_current"] == "是"
    stored = conn.execute("SELECT suite, expectation, severity, success FROM audit.quality_results "
                          "WHERE run_id = %s", [gate.run_id]).fetchall()
    shown = [(r["检查套件 suite"], r["检查项 expectation"], r["级别 severity"], r["通过 success"])
             for r in t.records("quality_results") if r["检查批次 run_id"] == gate.run_id]
    assert stored and sorted(shown) == sorted((s, e, sev, "是" if ok else "否") for s, e, sev, ok in stored)
    assert len(xlsx_records(built["xlsx"], "质量检查结果")) == len(stored)

    b = built["bulletin"]
    [row] = t.records("bulletins")
    dv_hash, run_id = conn.execute("SELECT data_hash, quality_run_id FROM audit.bulletins "
                                   "WHERE kind = 'quarterly' AND period = %s", [PERIOD]).fetchone()
    assert run_id == gate.run_id
    assert (row["报告期 period"], row["版本 version"], row["数据版本哈希 data_hash"]) \
        == (PERIOD, str(b["version"]), dv_hash)
    assert (row["质量检查批次 quality_run_id"], row["检查通过 gate_passed"]) == (gate.run_id, "是")
    assert len(t.links["bulletins"]) == len(b["paths"])
    # the Data Docs are linked and open from the report's folder
    docs = [h for h in t.links.get(None, []) if h.endswith("data_docs/index.html")]
    assert docs and (built["out"] / docs[0]).resolve().is_file()


def test_appraisal_versions_are_registered_and_listed(built, settings, tmp_path):
    """The appraisal publishes like the bulletins: its version is a row of audit.bulletins (kind
    'appraisal'), rendering again on the same content reuses it and writes no file, and the
    auditor's report lists it."""
    conn, out = built["conn"], tmp_path / "appraisal"
    first = render_appraisal(settings, PERIOD, out, allow_incomplete=True)  # the sample starts in 2025-08
    written = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = render_appraisal(settings, PERIOD, out, allow_incomplete=True)
    assert (first["version"], first["reused"], again["version"], again["reused"]) == (1, False, 1, True)
    assert again["paths"] == first["paths"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == written  # nothing written again
    assert sorted(written) == [f"appraisal_{PERIOD}_v1.{e}" for e in ("docx", "html", "json", "pdf", "xlsx")] + [
        f"appraisal_{PERIOD}_v1_trace"]  # the trace pages beside the HTML

    rows = conn.execute("SELECT version, content_hash, data_hash, paths, quality_run_id FROM audit.bulletins "
                        "WHERE kind = 'appraisal' AND period = %s", [PERIOD]).fetchall()
    assert len(rows) == 1
    [(version, content_hash, data_hash, paths, run_id)] = rows
    assert version == 1 and run_id == built["gate"].run_id
    assert paths == [str(out / f"appraisal_{PERIOD}_v1.{e}") for e in ("html", "pdf", "docx", "xlsx")]
    html = (out / f"appraisal_{PERIOD}_v1.html").read_text("utf-8")
    assert f'data-content-hash="{content_hash}"' in html and data_hash in html

    audit_dir = tmp_path / "audit"
    render_audit(settings, PERIOD, audit_dir)
    t = Tables((audit_dir / f"audit_{PERIOD}.html").read_text("utf-8"))
    listed = [r for r in t.records("bulletins") if r["类型 kind"] == "绩效考核 appraisal"]
    assert [(r["报告期 period"], r["版本 version"], r["数据版本哈希 data_hash"]) for r in listed] == [
        (PERIOD, "1", data_hash)]
    assert listed[0]["质量检查批次 quality_run_id"] == run_id and listed[0]["检查通过 gate_passed"] == "是"
    (in_register,) = conn.execute("SELECT count(*) FROM audit.bulletins WHERE period = %s", [PERIOD]).fetchone()
    assert len(t.records("bulletins")) == in_register == 2  # the quarterly bulletin and the appraisal
    sheet = xlsx_records(audit_dir / f"audit_{PERIOD}.xlsx", "通报版本")
    assert [r["版本 version"] for r in sheet if r["类型 kind"] == "绩效考核 appraisal"] == [1]
