"""Issue 13's acceptance, as a new user would try it: one real `openecon ingest` of a folder of
malformed, hostile and oddly-typed files mixed with good ones (samples.hostile).

Every file must get a printed receipt, an audit row with the status it should have and the rule
that explains it, and a receipt file; raw must hold the rows of the loaded files and of no
others, exactly as many as were built, with the oddly typed values read as meant; the CLI's
peak memory must stay under 1 GB, and it must exit 1 because some files were rejected.

The expected counts come from how samples.hostile built each file (rows written, rows
spoiled), never from ingestion code. Files are small and bombs cheap (each a few MB inflating
to 1 GiB, refused before it is inflated), so the run takes seconds. Two cases found by this test
have their own tests at the end: a file name that is not UTF-8 (it once crashed the batch) and
the row a workbook header warning names under a title row.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from samples.hostile import HostileCase, write_hostile_folder
from tests.processes import run_measured

CLI_TIMEOUT = 120
RSS_LIMIT_MB = 1024
RAW_TABLES = ("raw.projects", "raw.parks", "raw.services_trade", "raw.trade")
LOADED = ("accepted", "partial", "superseding")


def cli_env(settings: Settings, output_dir: Path) -> dict[str, str]:
    """The environment that selects the session's cluster, with receipts in a folder of the test's own,
    and the intake limits at their defaults: the folder is built against those."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OPENECON_MAX_") and k != "OPENECON_MIN_SUPERSEDING_SHARE"}
    env.update(OPENECON_STATE_DIR=str(settings.state_dir), OPENECON_OUTPUT_DIR=str(output_dir),
               OPENECON_PG_PORT=str(settings.pg_port))
    env.pop("OPENECON_DATABASE_URL", None)
    return env


def run_ingest(env: dict[str, str], folder: Path, log_dir: Path) -> tuple[int, str, str, float]:
    """`openecon ingest FOLDER` as a child: (exit code, stdout, stderr, its own peak RSS in MB)."""
    proc, peak_mb = run_measured([sys.executable, "-m", "openecon.cli", "ingest", str(folder)], cwd=PROJECT_ROOT,
                                 env=env, capture_output=True, timeout=CLI_TIMEOUT)
    return (proc.returncode, proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"), peak_mb)


def audit_rows(conn) -> list[dict]:
    rows = conn.execute(
        """SELECT s.file_id, s.file_name, s.city_code, s.status, s.rows, s.rows_rejected, s.superseded_by, s.receipt,
                  coalesce((SELECT array_agg(DISTINCT r.rule) FROM audit.rejected_rows r
                            WHERE r.file_id = s.file_id), '{}') AS rejected_rules,
                  (SELECT count(*) FROM audit.rejected_rows r WHERE r.file_id = s.file_id) AS rejected_issues,
                  coalesce((SELECT array_agg(DISTINCT w.rule) FROM audit.row_warnings w
                            WHERE w.file_id = s.file_id), '{}') AS warning_rules
           FROM audit.submissions s ORDER BY s.file_id""").fetchall()
    names = ("file_id", "file_name", "city_code", "status", "rows", "rows_rejected", "superseded_by", "receipt",
             "rejected_rules", "rejected_issues", "warning_rules")
    return [dict(zip(names, r)) for r in rows]


def pair(cases: list[HostileCase], audit: list[dict]) -> list[tuple[HostileCase, dict]]:
    """Each case with its audit row: by name, in order (a re-submission shares its original's name and
    comes after it, in the cases as in file ids)."""
    by_name: dict[str, list[dict]] = defaultdict(list)
    for row in audit:
        by_name[row["file_name"]].append(row)
    pairs = []
    for case in cases:
        assert by_name[case.stored_name], f"no audit row for {case.file} ({case.what})"
        pairs.append((case, by_name[case.stored_name].pop(0)))
    assert not any(by_name.values()), f"audit rows no file explains: {dict(by_name)}"
    return pairs


def same(stored, meant) -> bool:
    """numeric comes back as Decimal, meant as the float the samples hold; dates and text compare as they are."""
    if isinstance(stored, Decimal):
        return float(stored) == pytest.approx(meant)
    return stored == meant


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[HostileCase]]:
    """The folder, written once; each test links the files it sends into an inbox of its own."""
    root = tmp_path_factory.mktemp("hostile")
    return root, write_hostile_folder(root)


def inbox(tmp_path: Path, root: Path, cases: list[HostileCase]) -> Path:
    folder = tmp_path / "inbox"
    for case in cases:
        (folder / case.file).parent.mkdir(parents=True, exist_ok=True)
        os.link(root / case.file, folder / case.file)
    return folder


def test_one_ingest_of_a_hostile_folder_gives_every_file_its_receipt_and_loads_the_good_ones(
        warehouse, settings, tmp_path, built):
    root, cases = built
    folder = inbox(tmp_path, root, cases)
    env = cli_env(settings, tmp_path / "output")
    code, stdout, stderr, peak_mb = run_ingest(env, folder, tmp_path / "logs")

    assert code == 1, f"exit code {code}, expected 1 (some files are rejected)\n{stderr[-3000:]}"
    assert peak_mb < RSS_LIMIT_MB, f"peak RSS of openecon ingest {peak_mb:.0f} MB"
    assert stdout.count("回执 Receipt:") == len(cases), stdout[-2000:]
    for case in cases:
        assert f"回执 Receipt: {case.stored_name}\n" in stdout, case.file

    audit = audit_rows(warehouse)
    assert len(audit) == len(cases)
    pairs = pair(cases, audit)
    wrong = []
    for case, row in pairs:
        receipt = row["receipt"]
        got = (receipt["status"], row["rows"], row["rows_rejected"])
        meant = (case.status, sum(case.loaded.values()), case.rows_rejected)
        first_rule = receipt["issues"][0]["rule"] if receipt["issues"] else None
        if case.status == "rejected":
            rule_ok = first_rule == case.rule and row["rejected_rules"] == [case.rule]
        elif case.status == "partial":
            rule_ok = row["rejected_rules"] == [case.rule] and row["rejected_issues"] == case.rows_rejected
        else:
            rule_ok = row["rejected_rules"] == []
        if got != meant or not rule_ok or sorted(row["warning_rules"]) != sorted(case.warnings):
            wrong.append(f"{case.file} ({case.what}): expected {meant} {case.rule} warnings {case.warnings}, "
                         f"got {got} first rule {first_rule}, rejected rules {row['rejected_rules']}, "
                         f"warnings {row['warning_rules']}")
    assert not wrong, "\n".join(wrong)

    # Audit keeps a superseding file as accepted/partial, and the file it replaced as superseded by it.
    replaced = {}
    for case, row in pairs:
        audit_status = {"superseding": "partial" if case.rows_rejected else "accepted"}.get(case.status, case.status)
        assert row["status"] == audit_status, case.file
        if case.status == "superseding":
            earlier = [r["file_id"] for c, r in pairs if c.name == case.name and c.status in LOADED
                       and r["file_id"] < row["file_id"]]
            assert row["receipt"]["superseded_file_ids"] == earlier, case.file
            replaced.update(dict.fromkeys(earlier, row["file_id"]))
    assert {r["file_id"]: r["superseded_by"] for r in audit if r["superseded_by"]} == replaced

    # A receipt file per audit row, and no other.
    cli = Settings(env)
    for case, row in pairs:
        path = cli.receipt_path(row["city_code"], row["file_name"], row["file_id"])
        assert path.read_text(encoding="utf-8").startswith(f"回执 Receipt: {case.stored_name}\n"), case.file
    assert len(list(cli.receipts_dir.rglob("*.receipt.txt"))) == len(audit)

    # raw: the loaded files' rows, exactly as many as built, and no one else's.
    for table in RAW_TABLES:
        stored = dict(warehouse.execute(f"SELECT file_id, count(*) FROM {table} GROUP BY 1").fetchall())
        meant = {row["file_id"]: case.loaded[table] for case, row in pairs if case.loaded.get(table)}
        assert stored == meant, table
    assert all(not case.loaded for case, _ in pairs if case.status not in LOADED)

    # Values typed oddly are in raw as the clerk meant them, at the clerk's row numbers.
    misread = []
    for case, row in pairs:
        for probe in case.probes:
            found = warehouse.execute(f"SELECT {probe.column} FROM {probe.table} WHERE file_id = %s "
                                      "AND row_number = %s", [row["file_id"], probe.row]).fetchall()
            if len(found) != 1 or not same(found[0][0], probe.value):
                misread.append(f"{case.file} {probe.table} row {probe.row} {probe.column}: "
                               f"meant {probe.value!r}, stored {found}")
    assert not misread, "\n".join(misread)


def test_a_file_name_that_is_not_utf8_gets_a_receipt_and_the_batch_goes_on(warehouse, settings, tmp_path, built):
    root, cases = built
    [odd] = [c for c in cases if c.stored_name != c.name]
    [good] = [c for c in cases if c.file == "430100/trade_430100_202509.csv"]
    folder = inbox(tmp_path, root, [odd, good])
    env = cli_env(settings, tmp_path / "output")
    code, stdout, stderr, _ = run_ingest(env, folder, tmp_path / "logs")
    assert code == 1, stderr[-2000:]
    assert stdout.count("回执 Receipt:") == 2 and f"回执 Receipt: {odd.stored_name}\n" in stdout
    statuses = {r["file_name"]: (r["status"], r["receipt"]["issues"][0]["rule"] if r["receipt"]["issues"] else None)
                for r in audit_rows(warehouse)}
    assert statuses == {odd.stored_name: ("rejected", "file_name"), good.name: ("accepted", None)}


def test_a_header_issue_under_a_title_row_names_the_header_row(built):
    from ingestion.contract import PROJECTS
    from ingestion.readers import open_workbook, read_sheet

    root, cases = built
    [layout] = [c for c in cases if "merged title" in c.what]  # title in row 1, header in row 2
    with open_workbook(root / layout.file) as wb:
        _, warnings = read_sheet(wb, PROJECTS, layout.name)
    assert [(w.rule, w.row, w.value) for w in warnings] == [("extra_column", 2, "备注")]
