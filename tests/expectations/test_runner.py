"""The Great Expectations gate (issue 6): suites per layer, severity, results as data, publish gate.

One warehouse for the module, in order: the clean sample passes; a city's corrected ledger
lowering one project's paid-in (a revision intake flags) passes with a warning and is listed
in the monthly scheduling report; a correction of a trade file whose rows are then corrupted
fails the raw.trade rule, which reads the new file's month only (a corrupted row of an earlier,
passed month is not read again); a corrupted mart input (a decrease intake never saw) fails
the next gate, which blocks the bulletin; then the sample with planted mistakes is ingested on
top (its planted files supersede the clean ones, the rest are duplicates) and each mistake that
passes intake but breaks a mart rule fails its named expectation (the flagged paid-in decrease:
a warning).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import python_calamine

from core.in_force import current
from expectations.offline_docs import external_loads
from expectations.runner import gx_run_identifier
from expectations.store import GateNotPassed
from expectations.suites import all_suites
from flows import quality, transform
from ingestion.contract import PROJECTS
from ingestion.load import ingest_paths
from ingestion.returns import return_file
from reports.bulletin import render
from samples.generate import generate
from samples.projects import city_projects
from samples.workbooks import workbook_content, write_content, write_workbook

FROM, TO, SEED, SCALE = "2025-06", "2025-09", 42, 0.01


def files_of(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".csv", ".xlsx")
                  and "resubmissions" not in p.parts)


@pytest.fixture(scope="module")
def wh(pg, settings, tmp_path_factory):
    from tests.conftest import build_warehouse

    clean = tmp_path_factory.mktemp("gate_clean")
    generate(clean, FROM, TO, seed=SEED, scale=SCALE)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        build_warehouse(settings, files_of(clean))
        yield {"conn": conn}


def unchecked_ledger_cities(conn) -> list[str]:
    """The city of each ledger in force no passing gate has covered (one entry per ledger)."""
    return [c for (c,) in conn.execute(
        "SELECT city_code FROM audit.submissions_in_force WHERE kind = 'workbook' "
        "AND file_id > (SELECT up_to_file_id FROM audit.quality_checked_files) ORDER BY 1").fetchall()]


def results(conn, run_id):
    return conn.execute(
        "SELECT suite, layer, table_name, expectation, severity, success, unexpected_count, unexpected_sample, "
        "data_hash FROM audit.quality_results WHERE run_id = %s", [run_id]).fetchall()


@pytest.mark.parametrize("suffix", ["6024ad", "2359ff", "0800ab", "695fac", "abcdef", "999999"])
def test_a_gate_run_is_timed_when_it_started_whatever_its_random_suffix(suffix):
    # a gate of 2026-12-07 crashed: GX read the name 20261207T032902Z-6024ad as a date at offset -60:24
    started = datetime(2026, 12, 7, 3, 29, 2, 835686, tzinfo=UTC)
    run = gx_run_identifier(f"{started:%Y%m%dT%H%M%SZ}-{suffix}", started)
    assert run.run_time == started
    assert run.run_name == f"20261207T032902Z-{suffix}"


def test_clean_sample_passes_and_results_are_stored(wh, settings):
    conn = wh["conn"]
    gate = quality.quality_gate(settings, triggered_by="pytest")
    assert gate.success, gate.summary()
    assert not gate.blocking
    dv = current(conn)
    run = conn.execute("SELECT success, evaluated, blocking_failures, data_hash, data_version, triggered_by, "
                       "finished_at >= started_at FROM audit.quality_runs WHERE run_id = %s",
                       [gate.run_id]).fetchone()
    assert run[0] is True and run[1] == gate.evaluated and run[2] == 0
    assert run[3] == dv["hash"] and run[4] == dv and run[5] == "pytest" and run[6]
    rows = results(conn, gate.run_id)
    assert len(rows) == gate.evaluated
    suites = {s.name for s in all_suites()}
    assert {r[0] for r in rows} == suites  # every suite, submission_status included (B's mart exists)
    assert {r[1] for r in rows} == {"raw", "staging", "marts"}
    assert all(r[8] == dv["hash"] for r in rows)
    assert all(r[5] for r in rows if r[4] == "blocking")
    # the mart rules of the issue are all there, by name
    names = {(r[0], r[3]) for r in rows}
    for rule in ("province_equals_sum_of_cities", "ytd_non_decreasing", "rates_between_0_and_100",
                 "distinct_count_le_sum_of_cities", "every_city_every_period"):
        assert ("marts.kpi_city_month", rule) in names
    assert ("marts.fct_project_month", "paid_in_cumulative_non_decreasing") in names
    # raw was checked on the files not yet passed: on this first run, the latest month's
    assert conn.execute("SELECT raw_scope->'periods' FROM audit.quality_runs WHERE run_id = %s",
                        [gate.run_id]).fetchone()[0] == [TO]
    # the windowed suites read views of their windows that exist only while the gate runs
    assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'quality_scope'").fetchone()[0] == 0
    # Data Docs: one index listing every suite, and this run's page of each
    index = settings.data_docs_dir / "index.html"
    assert gate.data_docs_index == str(index)
    page = index.read_text(encoding="utf-8")
    for name in suites:
        assert name in page, name
    assert {p.parent.parent.name for p in settings.data_docs_dir.glob(f"validations/*/*/{gate.run_id}/*")} \
        == {s.split(".", 1)[1] for s in suites}
    # ...that opens offline: every page loads its scripts, styles and images from the docs folder
    pages = list(settings.data_docs_dir.rglob("*.html"))
    assert len(pages) > len(suites)
    for p in pages:
        html = p.read_text(encoding="utf-8")
        assert external_loads(html) == [], p
        for ref in re.findall(r'<(?:script|link|img)\b[^>]*?\s(?:src|href)="([^"#?]+)', html):
            assert (p.parent / ref).resolve().is_file(), (p, ref)
    assert "jquery" in page and "bootstrap-table" in page  # the tables are rendered by these, now local
    # (tests/reports/test_bulletin.py renders on such a run and checks the link to it)


def test_openecon_build_runs_dbt_then_the_gate_on_what_dbt_built(wh, settings):
    """The command line's build: dbt, then the gate (its module imported while dbt ran)."""
    import subprocess
    import sys

    conn = wh["conn"]
    before = conn.execute("SELECT count(*) FROM audit.quality_runs").fetchone()[0]
    proc = subprocess.run([sys.executable, "-m", "openecon.cli", "build"], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "quality gate: PASSED" in proc.stdout and re.search(r"dbt build [\d.]+ s, quality gate [\d.]+ s",
                                                               proc.stdout)
    dbt_done = datetime.fromisoformat(json.loads(
        (settings.dbt_target_dir / "run_results.json").read_text())["metadata"]["generated_at"])
    runs = conn.execute("SELECT started_at, success, data_hash FROM audit.quality_runs ORDER BY started_at DESC"
                        ).fetchall()
    assert len(runs) == before + 1
    started, success, data_hash = runs[0]
    assert success and data_hash == current(conn)["hash"]
    assert started >= dbt_done  # the gate checked the marts dbt had finished


def test_the_gate_after_the_suites_changed_registers_them_again_and_runs(wh, settings):
    """An upgrade that changes an expectation: the GX project the last gate left is registered
    again (its fingerprint differs) and the same gate then runs on it."""
    from expectations.runner import _registration_mark

    mark = _registration_mark(settings)
    assert mark.exists()  # the gate before left its registration
    mark.write_text("suites of an older version")
    gate = quality.quality_gate(settings, triggered_by="pytest")
    assert gate.success, gate.summary()
    assert gate.evaluated == sum(len(s.expectations) for s in all_suites())
    assert mark.read_text() != "suites of an older version"


def test_flagged_paid_in_revision_is_a_warning_listed_in_the_scheduling_report(wh, settings, tmp_path):
    conn = wh["conn"]
    # a city re-sends its September ledger: one project's 累计实际到位资金 below August's, a revision
    # (the last project id: test_corrupted_mart_input_blocks_the_next_run corrupts the first)
    city, pid, august = conn.execute(
        "SELECT p.city_code, p.project_id, a.paid_in_cumulative_10k FROM staging.stg_raw__projects AS p "
        "JOIN staging.stg_raw__projects AS a ON a.project_id = p.project_id AND a.period = '2025-08' "
        "WHERE p.period = %s AND a.paid_in_cumulative_10k > 10 ORDER BY p.project_id DESC LIMIT 1", [TO]).fetchone()
    content = workbook_content(city, TO, SEED, SCALE, city_projects(city, SEED, SCALE, TO))
    rows = content.sheets[PROJECTS.name]
    [row] = [r for r in rows if r["project_id"] == pid]
    revised = round(float(august) * 0.8, 2)
    row["paid_in_cumulative"] = revised
    line = rows.index(row) + 2  # the header is row 1
    [receipt] = ingest_paths([write_content(tmp_path / f"{city}_{TO.replace('-', '')}.xlsx", content)], settings)
    assert receipt.status == "superseding", receipt.text()
    assert [(w.row, w.rule) for w in receipt.warnings] == [(line, "paid_in_decrease")]
    transform.dbt_build(settings)

    gate = quality.quality_gate(settings)
    assert gate.success, gate.summary()
    # after a pass, the project facts are checked from the corrected ledger's month, in its city only
    scope = conn.execute("SELECT raw_scope->'marts'->'marts.fct_project_month' FROM audit.quality_runs "
                         "WHERE run_id = %s", [gate.run_id]).fetchone()[0]
    assert scope["from_period"] == {city: TO}, scope
    assert not [f for f in gate.failures if f.expectation == "paid_in_cumulative_non_decreasing"]
    [warn] = [f for f in gate.failures if f.expectation == "paid_in_flagged_revisions"]
    assert warn.severity == "warning" and warn.table == "marts.fct_project_month" and warn.unexpected_count == 1
    [flagged] = warn.sample
    assert (flagged["project_id"], flagged["period"], flagged["previous_period"], flagged["row_number"],
            flagged["file_name"], flagged["file_id"]) == (pid, TO, "2025-08", line, receipt.file, receipt.file_id)
    assert float(flagged["paid_in_cumulative_10k"]) == revised
    assert float(flagged["previous_paid_in_cumulative_10k"]) == float(august)
    assert re.search(rf"\[warning\] paid_in_flagged_revisions on table marts\.fct_project_month .*{pid}",
                     gate.summary())
    stored = conn.execute("SELECT expectation, severity, success, unexpected_count FROM audit.quality_results "
                          "WHERE run_id = %s AND suite = 'marts.fct_project_month' AND expectation LIKE 'paid_in%%' "
                          "ORDER BY expectation", [gate.run_id]).fetchall()
    assert stored == [("paid_in_cumulative_non_decreasing", "blocking", True, 0),
                      ("paid_in_flagged_revisions", "warning", False, 1)]

    # the monthly scheduling report publishes on that run: its summary counts the revision, its XLSX
    # lists it (the lists are in the XLSX only; the PDF and the HTML carry what a leader acts on)
    res = render(settings, TO, tmp_path / "scheduling")
    assert res["quality_run_id"] == gate.run_id
    html_path, _, _, xlsx_path = res["paths"]
    html = Path(html_path).read_text(encoding="utf-8")
    name = conn.execute("SELECT city_name FROM marts.dim_city WHERE city_code = %s", [city]).fetchone()[0]
    unit = "万美元" if row["currency"] == "美元" else "万元"
    assert "到位资金更正（核减）项目1个" in html
    sheet = python_calamine.CalamineWorkbook.from_path(str(xlsx_path)).get_sheet_by_name("到位资金更正").to_python()
    assert sheet[0][0] == "到位资金更正（核减）项目清单"
    assert sheet[1][:5] == ["市州", "项目编号", "项目名称", "上期台账", "上期累计实际到位资金"]
    [body] = [r for r in sheet[2:] if r[1] == pid]
    assert body[0] == name and body[2].endswith(row["project_name"]) and body[3] == "2025-08"
    assert body[7] == unit and body[8] == f"{receipt.file}（第{line}行）"
    assert body[4:7] == pytest.approx([float(august), revised, float(august) - revised])


def test_dbt_tests_of_the_project_facts_read_the_ledgers_no_passing_gate_covered(wh, settings, tmp_path):
    conn = wh["conn"]
    # after the passing gate above, a city (not the one corrected above) re-sends its September
    # ledger with one project renamed: that ledger, and only it, is not covered yet
    city = conn.execute("SELECT min(city_code) FROM audit.submissions_in_force WHERE kind = 'workbook' "
                        "AND period = %s AND file_id <= (SELECT up_to_file_id FROM audit.quality_checked_files) "
                        "AND city_code <> (SELECT city_code FROM audit.submissions_in_force WHERE kind = "
                        "'workbook' AND period = %s ORDER BY file_id DESC LIMIT 1)", [TO, TO]).fetchone()[0]
    content = workbook_content(city, TO, SEED, SCALE, city_projects(city, SEED, SCALE, TO))
    content.sheets[PROJECTS.name][0]["project_name"] += "（更正）"
    [receipt] = ingest_paths([write_content(tmp_path / f"{city}_{TO.replace('-', '')}.xlsx", content)], settings)
    assert receipt.status == "superseding", receipt.text()
    transform.dbt_build(settings)
    # behind the models' back: 当期到位资金 off by 1 on a project's row of that ledger, and on a
    # row of another city's August ledger, which the passing gate covered
    pick = ("SELECT project_id, period FROM marts.fct_project_month WHERE city_code {} %s AND period = %s "
            "AND previous_period IS NOT NULL ORDER BY project_id LIMIT 1")
    new_row = conn.execute(pick.format("="), [city, TO]).fetchone()
    old_row = conn.execute(pick.format("<>"), [city, "2025-08"]).fetchone()
    bump = "UPDATE marts.fct_project_month SET paid_in_month_10k = paid_in_month_10k + %s " \
           "WHERE project_id = %s AND period = %s"
    for row in (new_row, old_row):
        conn.execute(bump, [1, *row])
    try:
        with pytest.raises(transform.StepFailed) as failed:
            transform.dbt(["test", "--select", "assert_fct_project_month_paid_in_month_sums_to_cumulative_change"],
                          settings)
        assert "Got 1 result" in str(failed.value), str(failed.value)[-2000:]
    finally:
        for row in (new_row, old_row):
            conn.execute(bump, [-1, *row])
    transform.dbt(["test", "--select", "assert_fct_project_month_paid_in_month_sums_to_cumulative_change"], settings)



def test_dbt_tests_of_the_project_versions_read_the_projects_no_passing_gate_covered(wh, settings):
    conn = wh["conn"]
    # the ledger the test above corrected is still unchecked; every other one a passing gate covered
    [city] = unchecked_ledger_cities(conn)
    # behind the models' back: the end of a project's first version taken away (it now overlaps the
    # next one), for a project of that ledger and for one of a covered city
    pick = ("SELECT project_key FROM marts.dim_project d WHERE city_code {} %s AND version_number = 1 "
            "AND valid_to IS NOT NULL AND EXISTS (SELECT 1 FROM marts.dim_project c WHERE c.project_id = "
            "d.project_id AND c.last_seen_period = %s) ORDER BY project_id LIMIT 1")
    keys = [conn.execute(pick.format(op), [city, TO]).fetchone()[0] for op in ("=", "<>")]
    ends = dict(conn.execute("SELECT project_key, valid_to FROM marts.dim_project WHERE project_key = ANY(%s)",
                             [keys]).fetchall())
    conn.execute("UPDATE marts.dim_project SET valid_to = NULL WHERE project_key = ANY(%s)", [keys])
    test = "assert_dim_project_versions_are_contiguous"
    try:
        with pytest.raises(transform.StepFailed) as failed:
            transform.dbt(["test", "--select", test], settings)
        assert "Got 1 result" in str(failed.value), str(failed.value)[-2000:]
    finally:
        for key, end in ends.items():
            conn.execute("UPDATE marts.dim_project SET valid_to = %s WHERE project_key = %s", [end, key])
    transform.dbt(["test", "--select", test], settings)


def test_in_a_city_sent_a_new_month_the_version_tests_read_the_projects_it_gave_a_new_version(wh, settings,
                                                                                              tmp_path):
    conn = wh["conn"]
    # the October ledgers of the cities a passing gate covered: new months appended to their versions
    cities = sorted({c for (c,) in conn.execute(
        "SELECT city_code FROM audit.submissions_in_force WHERE kind = 'workbook'").fetchall()}
        - set(unchecked_ledger_cities(conn)))
    receipts = ingest_paths([write_workbook(tmp_path / f"{c}_202510.xlsx", c, "2025-10", SEED, SCALE) for c in cities],
                            settings)
    assert {r.status for r in receipts} == {"accepted"}, [r.text() for r in receipts]
    ends = {}
    try:
        transform.dbt_build(settings)
        # behind the models' back: the end taken away from the version a project's October version
        # follows (it now overlaps it), and from an ended version of a project October left as it was
        new, = conn.execute(
            "SELECT project_key FROM marts.dim_project WHERE city_code = ANY(%s) AND valid_to = '2025-10' "
            "ORDER BY project_id LIMIT 1", [cities]).fetchone()
        old, = conn.execute(
            "SELECT d.project_key FROM marts.dim_project d WHERE d.city_code = ANY(%s) AND d.valid_to IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM marts.dim_project n WHERE n.project_id = d.project_id "
            "AND n.valid_from >= '2025-10') ORDER BY d.project_id LIMIT 1", [cities]).fetchone()
        ends = dict(conn.execute("SELECT project_key, valid_to FROM marts.dim_project WHERE project_key = ANY(%s)",
                                 [[new, old]]).fetchall())
        conn.execute("UPDATE marts.dim_project SET valid_to = NULL WHERE project_key = ANY(%s)", [[new, old]])
        with pytest.raises(transform.StepFailed) as failed:
            transform.dbt(["test", "--select", "assert_dim_project_versions_are_contiguous"], settings)
        assert "Got 1 result" in str(failed.value), str(failed.value)[-2000:]
        # the unchanged project's break is read by a full check (a full refresh's test reads every version)
        with pytest.raises(transform.StepFailed) as failed:
            transform.dbt(["build", "--select", "assert_dim_project_versions_are_contiguous", "--full-refresh"],
                          settings)
        assert "Got 2 results" in str(failed.value), str(failed.value)[-2000:]
    finally:
        for key, end in ends.items():
            conn.execute("UPDATE marts.dim_project SET valid_to = %s WHERE project_key = %s", [end, key])
        for r in receipts:  # the later tests are of September's warehouse
            return_file(conn, r.file_id, returned_by="test", reason="test of one build only", settings=settings)
        transform.dbt_build(settings)
    assert not conn.execute("SELECT 1 FROM marts.dim_project WHERE valid_from >= '2025-10' "
                            "OR last_seen_period >= '2025-10'").fetchall()


def test_raw_trade_is_checked_in_one_scan_on_the_new_files_only(wh, settings, tmp_path):
    conn = wh["conn"]
    # a correction of 长沙's September trade file: the same rows, one blank line more at the end
    (old_id, archived), = conn.execute(
        "SELECT file_id, archive_path FROM audit.submissions_in_force "
        "WHERE kind = 'trade' AND city_code = '430100' AND period = %s", [TO]).fetchall()
    fixed = tmp_path / f"trade_430100_{TO.replace('-', '')}.csv"
    fixed.write_bytes(Path(archived).read_bytes() + b"\r\n")
    [receipt] = ingest_paths([fixed], settings)
    assert receipt.status == "superseding" and receipt.superseded == [old_id]
    new_rows = [r for (r,) in conn.execute("SELECT row_number FROM raw.trade WHERE file_id = %s ORDER BY 1 LIMIT 3",
                                             [receipt.file_id]).fetchall()]
    # behind intake's back: a bad HS code, a missing direction and an enterprise code of another
    # shape in the new file, and a bad HS code in an August file, which a passing gate has already
    # covered (the patterns are tested on the window's distinct values: the new file's only)
    conn.execute("UPDATE raw.trade SET hs_code = '8429520X' WHERE file_id = %s AND row_number = %s",
                 [receipt.file_id, new_rows[0]])
    conn.execute("UPDATE raw.trade SET direction = NULL WHERE file_id = %s AND row_number = %s",
                 [receipt.file_id, new_rows[1]])
    conn.execute("UPDATE raw.trade SET enterprise_code = '91430100MA4L0000' WHERE file_id = %s AND row_number = %s",
                 [receipt.file_id, new_rows[2]])
    august = conn.execute("SELECT min(file_id) FROM audit.submissions_in_force WHERE kind = 'trade' "
                          "AND period = '2025-08'").fetchone()[0]
    august_hs = conn.execute("SELECT hs_code FROM raw.trade WHERE file_id = %s AND row_number = 2",
                             [august]).fetchone()[0]
    conn.execute("UPDATE raw.trade SET hs_code = 'XX' WHERE file_id = %s AND row_number = 2", [august])
    try:
        gate = quality.quality_gate(settings)
        assert not gate.success
        [fail] = [f for f in gate.blocking if f.suite == "raw.trade"]
        assert fail.expectation == "trade_rows_as_contracted" and fail.unexpected_count == 3, fail
        got = {(s["file_id"], s["row_number"], s["broken_columns"].strip()) for s in fail.sample}
        assert got == {(receipt.file_id, new_rows[0], "hs_code"), (receipt.file_id, new_rows[1], "direction"),
                       (receipt.file_id, new_rows[2], "enterprise_code")}
        # the window was the new file's month only: its partition, and the files after the last pass
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN " + next(s.query for s in all_suites(f"file_id in ({receipt.file_id})", [TO])
                              if s.name == "raw.trade")).fetchall())
        assert f"trade_{TO.replace('-', '_')}" in plan and "trade_2025_08" not in plan
    finally:
        conn.execute("UPDATE raw.trade SET hs_code = %s WHERE file_id = %s AND row_number = 2", [august_hs, august])
        for r, col in zip(new_rows, ("hs_code", "direction", "enterprise_code")):
            conn.execute(f"UPDATE raw.trade SET {col} = o.{col} FROM raw.trade o WHERE raw.trade.file_id = %s "
                         f"AND raw.trade.row_number = %s AND o.file_id = %s AND o.row_number = %s",
                         [receipt.file_id, r, old_id, r])
    assert quality.quality_gate(settings).success


def test_a_missing_value_in_a_new_ledger_blocks_the_gate_and_the_ledgers_it_covered_are_not_read(
        wh, settings, tmp_path):
    """raw.projects' required columns are the gate's to check (dbt's build has no tests of raw
    sources): on the files no passing run covered, whichever column it is."""
    conn = wh["conn"]
    city = conn.execute("SELECT max(city_code) FROM audit.submissions_in_force WHERE kind = 'workbook' "
                        "AND period = %s", [TO]).fetchone()[0]
    content = workbook_content(city, TO, SEED, SCALE, city_projects(city, SEED, SCALE, TO))
    content.sheets[PROJECTS.name][-1]["project_name"] += "（更正）"
    [receipt] = ingest_paths([write_content(tmp_path / f"{city}_{TO.replace('-', '')}.xlsx", content)], settings)
    assert receipt.status == "superseding", receipt.text()
    transform.dbt_build(settings)
    old = conn.execute("SELECT min(file_id) FROM audit.submissions_in_force WHERE kind = 'workbook' "
                       "AND period = '2025-07'").fetchone()[0]
    # behind intake's back: no investor and no stage on two rows of the new ledger, no investor on
    # a row of a July ledger
    first, second = [r for (r,) in conn.execute(
        "SELECT row_number FROM raw.projects WHERE file_id = %s ORDER BY 1 LIMIT 2", [receipt.file_id]).fetchall()]
    (july,) = conn.execute("SELECT min(row_number) FROM raw.projects WHERE file_id = %s", [old]).fetchone()
    kept = {}
    for file_id, row, column in [(receipt.file_id, first, "investor"), (receipt.file_id, second, "stage"),
                                 (old, july, "investor")]:
        (kept[(file_id, row, column)],) = conn.execute(
            f"SELECT {column} FROM raw.projects WHERE file_id = %s AND row_number = %s", [file_id, row]).fetchone()
        conn.execute(f"UPDATE raw.projects SET {column} = NULL WHERE file_id = %s AND row_number = %s", [file_id, row])
    try:
        gate = quality.quality_gate(settings)
        assert not gate.success
        failed = {(f.column, f.unexpected_count) for f in gate.blocking if f.suite == "raw.projects"}
        assert failed == {("investor", 1), ("stage", 1)}, gate.summary()
    finally:
        for (file_id, row, column), value in kept.items():
            conn.execute(f"UPDATE raw.projects SET {column} = %s WHERE file_id = %s AND row_number = %s",
                         [value, file_id, row])
    assert quality.quality_gate(settings).success


def test_a_project_listed_twice_in_a_new_ledger_blocks_the_gate_by_its_key(wh, settings, tmp_path):
    """A ledger's business key (file, project) in raw and (project, period) in staging is unique
    on the window's rows: a project planted twice in a new ledger is named by both suites; one
    planted twice in a ledger a passing gate covered is not read."""
    conn = wh["conn"]
    city = conn.execute("SELECT min(city_code) FROM audit.submissions_in_force WHERE kind = 'workbook' "
                        "AND period = %s", [TO]).fetchone()[0]
    content = workbook_content(city, TO, SEED, SCALE, city_projects(city, SEED, SCALE, TO))
    content.sheets[PROJECTS.name][1]["project_name"] += "（重报）"  # a correction no other test sends
    [receipt] = ingest_paths([write_content(tmp_path / f"{city}_{TO.replace('-', '')}.xlsx", content)], settings)
    assert receipt.status == "superseding", receipt.text()
    transform.dbt_build(settings)
    old = conn.execute("SELECT min(file_id) FROM audit.submissions_in_force WHERE kind = 'workbook' "
                       "AND period = '2025-07'").fetchone()[0]
    columns = [c.name for c in PROJECTS.columns]
    planted = {}  # file id -> the project planted twice
    for file_id in (receipt.file_id, old):
        project, top = conn.execute("SELECT min(project_id), max(row_number) FROM raw.projects WHERE file_id = %s",
                                    [file_id]).fetchone()
        conn.execute(f"INSERT INTO raw.projects (file_id, row_number, {', '.join(columns)}) "
                     f"SELECT file_id, %s, {', '.join(columns)} FROM raw.projects "
                     f"WHERE file_id = %s AND project_id = %s", [top + 1, file_id, project])
        planted[file_id] = (project, top + 1)
    try:
        gate = quality.quality_gate(settings)
        assert not gate.success
        by_suite = {f.suite: f for f in gate.blocking if f.expectation.startswith("unique_")}
        assert set(by_suite) == {"raw.projects", "staging.stg_raw__projects"}, gate.summary()
        new_project = planted[receipt.file_id][0]
        assert by_suite["raw.projects"].expectation == "unique_file_id_project_id"
        assert [(r["file_id"], r["project_id"], r["rows_sharing_key"]) for r in by_suite["raw.projects"].sample] \
            == [(receipt.file_id, new_project, 2)]
        assert [(r["project_id"], r["period"]) for r in by_suite["staging.stg_raw__projects"].sample] \
            == [(new_project, TO)]
    finally:
        for file_id, (_project, row) in planted.items():
            conn.execute("DELETE FROM raw.projects WHERE file_id = %s AND row_number = %s", [file_id, row])
    assert quality.quality_gate(settings).success


def test_corrupted_mart_input_blocks_the_next_run(wh, settings):
    conn = wh["conn"]
    # behind intake's back: one project's paid-in in the September ledger falls below August's
    pid, before = conn.execute(
        "SELECT p.project_id, p.paid_in_cumulative_10k FROM staging.stg_raw__projects AS p "
        "JOIN staging.stg_raw__projects AS a ON a.project_id = p.project_id AND a.period = '2025-08' "
        "WHERE p.period = '2025-09' AND a.paid_in_cumulative_10k > 10 ORDER BY p.project_id LIMIT 1").fetchone()
    conn.execute("UPDATE raw.projects SET paid_in_cumulative = 1 WHERE project_id = %s AND file_id IN "
                 "(SELECT file_id FROM audit.submissions WHERE period = '2025-09')", [pid])
    # raw is immutable by design, so the incremental marts need a full refresh to see the change
    transform.dbt(["run", "--select", "int_projects__versioned", "fct_project_month", "--full-refresh"], settings)
    gate = quality.quality_gate(settings)
    assert not gate.success
    # no new file, but the table was rebuilt (a new oid): all of it is checked again
    scope = conn.execute("SELECT raw_scope->'marts'->'marts.fct_project_month' FROM audit.quality_runs "
                         "WHERE run_id = %s", [gate.run_id]).fetchone()[0]
    assert scope["rule"].startswith("whole table"), scope
    [fail] = [f for f in gate.blocking if f.expectation == "paid_in_cumulative_non_decreasing"]
    assert fail.table == "marts.fct_project_month" and fail.unexpected_count == 1
    assert fail.sample[0]["project_id"] == pid and fail.sample[0]["period"] == "2025-09"
    text = gate.summary()
    assert "FAILED" in text and "paid_in_cumulative_non_decreasing on table marts.fct_project_month" in text
    assert pid in text
    # same submissions, so the same data version: the latest run on it failed, nothing is published
    with pytest.raises(GateNotPassed, match="paid_in_cumulative_non_decreasing on marts.fct_project_month"):
        render(settings, "2025-09", settings.output_dir / "gate_bulletins")
    stored = conn.execute("SELECT unexpected_sample FROM audit.quality_results WHERE run_id = %s AND "
                          "expectation = 'paid_in_cumulative_non_decreasing'", [gate.run_id]).fetchone()[0]
    assert stored[0]["project_id"] == pid
    conn.execute("UPDATE raw.projects SET paid_in_cumulative = %s WHERE project_id = %s AND file_id IN "
                 "(SELECT file_id FROM audit.submissions WHERE period = '2025-09')", [before, pid])


def test_planted_mart_mistakes_fail_their_expectation_and_block_the_bulletin(wh, settings, tmp_path_factory):
    conn = wh["conn"]
    out = tmp_path_factory.mktemp("gate_errors")
    generate(out, FROM, TO, scale=SCALE, with_errors=True)
    planted = [p for p in json.loads((out / "planted_errors.json").read_text(encoding="utf-8"))
               if p.get("stage") == "marts"]
    assert {p["case"] for p in planted} >= {"paid_in_decrease", "services_ytd_decrease"}
    receipts = {r.file: r for r in ingest_paths(files_of(out), settings)}
    for p in planted:  # intake lets them through (a warning at most)
        assert receipts[p["file"].split("/")[-1]].status == "superseding", p
    # a new data version: no gate has seen it, so nothing is published until one passes
    with pytest.raises(GateNotPassed, match="no quality gate run on the current data version"):
        render(settings, "2025-09", settings.output_dir / "gate_bulletins")
    transform.dbt(["run"], settings)  # the models only: the dbt tests are not what this test is about
    gate = quality.quality_gate(settings)
    assert not gate.success
    text = gate.summary()
    for p in planted:
        want = p["gate"]
        severity = want["severity"]
        if p["case"] == "paid_in_decrease":  # flagged at intake (a warning on the receipt): never blocking
            assert severity == "warning"
            unflagged = [f for f in gate.blocking if f.expectation == "paid_in_cumulative_non_decreasing"]
            assert not any(s["project_id"] == want["row"]["project_id"] for f in unflagged for s in f.sample)
        fails = [f for f in gate.failures if f.suite == want["suite"] and f.expectation == want["expectation"]
                 and f.severity == severity]
        assert fails, (p, text)
        row = want["row"]
        assert any(all(str(s.get(k)) == str(v) for k, v in row.items()) for s in fails[0].sample), (p, fails[0])
        table = want["suite"]
        assert re.search(rf"\[{severity}\] {want['expectation']} on table {re.escape(table)}", text)
        assert row["period"] in text
        stored = conn.execute("SELECT expectation_type FROM audit.quality_results WHERE run_id = %s AND suite = %s "
                              "AND expectation = %s AND NOT success", [gate.run_id, table, want["expectation"]]
                              ).fetchone()
        assert stored == (want["expectation_type"],)
    with pytest.raises(GateNotPassed, match="FAILED") as refused:
        render(settings, "2025Q3", settings.output_dir / "gate_bulletins")
    assert "ytd_non_decreasing on marts.kpi_city_month" in str(refused.value)
    assert not conn.execute("SELECT count(*) FROM audit.bulletins WHERE kind = 'quarterly'").fetchone()[0]
