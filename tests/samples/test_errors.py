"""``generate(with_errors=True)``: every planted mistake is where planted_errors.json says, and alone."""

import csv
import hashlib
import io
import json
from datetime import date

import pandas as pd
import pytest
import python_calamine

from core import reference
from core.periods import months
from core.settings import Settings
from ingestion.contract import PARKS, PROJECTS, SERVICES, TRADE
from ingestion.issues import FileRejected
from ingestion.validate import validate
from samples.cases import CASES
from samples.generate import generate
from samples.workbooks import GBK_CITIES

WINDOW = ("2025-05", "2025-07")
SCALE = 0.05
# Mart-stage cases compare with an earlier quarter's file, which these windows do not hold;
# tests/expectations/test_runner.py plants them over 2025-06..09 and checks the gate.
INTAKE_CASES = {c.case for c in CASES if c.stage == "intake"}
ROW_RULES = {
    "below_minimum", "not_positive", "code_list:county_of_city", "code_list:park_of_city", "duplicate_key",
    "uscc_check", "formula", "used_le_built", "above_scale_le_settled", "date_after_period",
    "dates_out_of_order", "pattern", "code_list:iso_country", "not_a_number", "stage_dates",
}
FILE_RULES = {"wrong_unit", "missing_sheet", "city_mismatch"}
SHEETS = {s.sheet_name: s for s in (PROJECTS, PARKS, SERVICES)}


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def grid(path, sheet):
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    return wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)


def csv_rows(path):
    raw = path.read_bytes()
    text = raw.decode("gbk") if path.name[6:12] in GBK_CITIES else raw.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def as_written(cell):
    """A cell read back, as text in the form planted_errors.json uses."""
    if cell is None or cell == "":
        return None
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    return str(cell)


def cell(out, entry, row=None, column=None, file=None):
    path = out / (file or entry["file"])
    row = row or entry["row"]
    column = column or entry["column"]
    rows = grid(path, entry["sheet"]) if path.suffix == ".xlsx" else csv_rows(path)
    return rows[row - 1][rows[0].index(column)]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("errors")
    files = generate(out, *WINDOW, scale=SCALE, with_errors=True)
    entries = json.loads((out / "planted_errors.json").read_text(encoding="utf-8"))
    return out, files, entries


def test_every_case_is_planted_once_with_its_rule(planted):
    _, _, entries = planted
    by_case = {}
    for e in entries:
        by_case.setdefault(e["case"], []).append(e)
    assert INTAKE_CASES <= set(by_case)
    assert {e["rule"] for e in entries if e["level"] == "row"} == ROW_RULES
    assert {e["rule"] for e in entries if e["level"] == "file"} == FILE_RULES
    assert [e["rule"] for e in entries if e["level"] == "warning"] == ["paid_in_decrease"]
    assert len(by_case["duplicate_project_id"]) == 2  # both rows of the pair
    assert all(len(v) == 1 for k, v in by_case.items() if k not in ("duplicate_project_id", "thousands_separator"))
    for e in entries:
        assert set(e) >= {"case", "file", "sheet", "row", "column", "value", "rule", "level"}
        if e["column"] is not None:
            sheet = SHEETS.get(e["sheet"], TRADE)
            assert e["column"] in [c.header for c in sheet.columns], e
        assert e["level"] in ("row", "file", "warning", "superseding", "accepted")
        assert e["value"] is None or isinstance(e["value"], str)


def test_entries_point_at_cells_holding_the_stated_value(planted):
    out, _, entries = planted
    for e in entries:
        path = out / e["file"]
        assert path.exists(), e
        stem = path.stem[-6:]
        assert f"{stem[:4]}-{stem[4:]}" in months(*WINDOW)
        if e["level"] in ("row", "warning", "accepted"):
            got = cell(out, e)
            assert as_written(got) == e["value"], (e, got)
    # the warning: lower than the same project's figure in the city's previous file
    warn = next(e for e in entries if e["level"] == "warning")
    pid = cell(out, warn, column="项目编号")
    prev = grid(out / warn["previous_file"], "项目台账")
    prev_row = next(r for r in prev if r[0] == pid)
    before = prev_row[prev[0].index("累计实际到位资金")]
    assert as_written(before) == warn["previous_value"] and float(warn["value"]) < before


def test_file_level_cases(planted):
    out, _, entries = planted
    case = {e["case"]: e for e in entries}
    wb = python_calamine.CalamineWorkbook.from_path(str(out / case["missing_sheet"]["file"]))
    assert "园区情况" not in wb.sheet_names and "项目台账" in wb.sheet_names

    unit = case["wrong_unit"]
    assert unit["row"] == 1 and unit["column"] == "本年累计税收（万元）"
    assert unit["value"] in grid(out / unit["file"], "园区情况")[0]

    mismatch = case["city_mismatch"]
    named_for = mismatch["file"].split("/")[0]
    ids = [r[0] for r in grid(out / mismatch["file"], "项目台账")[1:]]
    assert ids and mismatch["value"] != named_for
    assert all(i.startswith(mismatch["value"] + "-") for i in ids)
    assert (out / mismatch["file"]).name.startswith(named_for)


def test_resubmission_changes_a_few_values_of_a_clean_file(planted):
    out, files, entries = planted
    resub = next(e for e in entries if e["case"] == "resubmission")
    assert resub["level"] == "superseding" and resub["rule"] is None
    new, old = out / resub["file"], out / resub["supersedes"]
    assert new in files and new.name == old.name and digest(new) != digest(old)
    assert not [e for e in entries if e["file"] == resub["supersedes"]]  # the original is clean
    assert 2 <= len(resub["changes"]) <= 5
    for ch in resub["changes"]:
        entry = {"sheet": ch["sheet"], "row": ch["row"], "column": ch["column"]}
        assert as_written(cell(out, entry, file=resub["supersedes"])) == ch["old"]
        assert as_written(cell(out, entry, file=resub["file"])) == ch["new"] != ch["old"]


def _issues(path, sheet, period):
    rows = grid(path, sheet.sheet_name)
    body = rows[1:]
    frame = pd.DataFrame({c.name: [r[i] for r in body] for i, c in enumerate(sheet.columns)}, dtype="object")
    frame["row_number"] = range(2, len(body) + 2)
    return validate(frame, sheet, path.name, path.name[:6], period)[1]


def test_each_planted_mistake_is_the_only_problem_in_its_row(planted):
    """Run the contract validator over every clean and planted sheet: it finds the planted rows only."""
    out, _, entries = planted
    planted_rows = {(e["file"], e["sheet"], e["row"]) for e in entries if e["level"] == "row"}
    file_level = {e["file"] for e in entries if e["level"] == "file"}
    found = set()
    for path in sorted(out.glob("43*/*.xlsx")):
        rel = path.relative_to(out).as_posix()
        if rel in file_level:
            continue
        period = f"{path.stem[-6:-2]}-{path.stem[-2:]}"
        for sheet in SHEETS.values():
            if sheet.sheet_name not in python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names:
                continue
            try:
                issues = _issues(path, sheet, period)
            except FileRejected as exc:  # pragma: no cover - reported by the assert below
                pytest.fail(f"{rel}: {exc}")
            for i in issues:
                if i.level != "row":
                    continue
                key = (rel, i.sheet, i.row)
                assert key in planted_rows, (rel, i.line())
                found.add((key, i.column, i.rule))
    want = {((e["file"], e["sheet"], e["row"]), e["column"], e["rule"])
            for e in entries if e["level"] == "row" and e["sheet"] is not None}
    assert want <= found
    # exactly one problem per planted row
    per_row = {}
    for key, _, rule in found:
        per_row.setdefault(key, set()).add(rule)
    assert all(len(rules) == 1 for rules in per_row.values()), per_row


def test_trade_rows_are_planted_alone(planted):
    out, _, entries = planted
    trade = [e for e in entries if e["sheet"] is None and e["level"] == "row"]
    assert {e["rule"] for e in trade} == {"uscc_check", "formula", "pattern", "code_list:iso_country"}
    for e in trade:
        rows = csv_rows(out / e["file"])
        row = rows[e["row"] - 1]
        col = rows[0].index(e["column"])
        assert row[col] == e["value"]
        clean_neighbour = rows[e["row"]]  # the next row is untouched and well-formed
        assert len(row) == len(clean_neighbour) == 8
        others = [v for i, v in enumerate(row) if i != col]
        assert all(others) and len(row[2]) in (6, 8)


def test_unlisted_files_are_identical_to_a_clean_run(planted, tmp_path):
    out, files, entries = planted
    clean = generate(tmp_path / "clean", *WINDOW, scale=SCALE)
    touched = {e["file"] for e in entries if e["level"] not in ("accepted", "superseding")}
    same = 0
    for path in clean:
        rel = path.relative_to(tmp_path / "clean").as_posix()
        if rel in touched:
            assert digest(path) != digest(out / rel), rel
        else:
            assert digest(path) == digest(out / rel), rel
            same += 1
    assert same >= len(clean) - len(touched)
    assert len(files) == len(clean) + 1  # plus the re-submission


def test_planting_is_deterministic_and_fits_a_one_month_window(tmp_path):
    a = generate(tmp_path / "a", "2025-09", "2025-09", scale=0.03, with_errors=True)
    b = generate(tmp_path / "b", "2025-09", "2025-09", scale=0.03, with_errors=True)
    assert [digest(x) for x in a] == [digest(y) for y in b]
    ja, jb = (p / "planted_errors.json" for p in (tmp_path / "a", tmp_path / "b"))
    assert ja.read_bytes() == jb.read_bytes()
    entries = json.loads(ja.read_text(encoding="utf-8"))
    assert INTAKE_CASES <= {e["case"] for e in entries}
    assert all(e["file"].split("/")[-1].endswith(("202509.xlsx", "202509.csv")) for e in entries)


def test_cities_subset(tmp_path):
    files = generate(tmp_path, "2025-03", "2025-03", scale=0.03, cities=["430100", "430500"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in files) == [
        "430100/430100_202503.xlsx", "430100/trade_430100_202503.csv",
        "430500/430500_202503.xlsx", "430500/trade_430500_202503.csv",
    ]
    assert reference.cities()  # unchanged
    with pytest.raises(ValueError):
        generate(tmp_path, "2025-03", "2025-03", cities=["999999"])


def test_trade_reader_finds_exactly_the_planted_trade_rows(planted):
    """The streaming trade reader (encoding detection included) flags the planted rows and nothing else."""
    trade = pytest.importorskip("ingestion.trade")
    out, _, entries = planted

    class Sink:
        def write(self, data):
            pass

    want = {(e["file"], e["row"], e["column"], e["rule"]) for e in entries if e["file"].endswith(".csv")}
    got = set()
    for path in sorted(out.glob("43*/trade_*.csv")):
        result = trade.stream_trade(path, 1, Sink(), Settings())
        rel = path.relative_to(out).as_posix()
        got |= {(rel, i.row, i.column, i.rule) for i in result.issues}
        assert result.rows_total == len(csv_rows(path)) - 1
    assert got == want


def test_paid_in_decrease_compares_with_a_file_of_the_output(tmp_path):
    generate(tmp_path, "2025-01", "2025-02", scale=0.03, with_errors=True)
    entries = json.loads((tmp_path / "planted_errors.json").read_text(encoding="utf-8"))
    warn = next(e for e in entries if e["case"] == "paid_in_decrease")
    assert (tmp_path / warn["previous_file"]).exists()
