"""Property-based tests (hypothesis) of the validators: random mixes of the ways clerks type
values never raise, never load a value different from the one meant, and every rejected cell
is named at the row it was written in.

The expected values are the ones the rows were generated from, before they were "typed"; the
typing functions below are written independently of the validator's parsing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.contract import PROJECTS
from ingestion.validate import validate
from tests.workbooks import project_row

CITY = "430100"
FILE = f"{CITY}_202509.xlsx"
PADDING = st.sampled_from(["", " ", "  ", "\n", " \n", "\u3000", "\t"])
NAME_CHARS = st.characters(categories=["Lo", "Lu", "Ll", "Nd"])
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def to_fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def grouped(x: float) -> str:
    """1234567.5 -> '1,234,567.5', written without the formatting code under test."""
    whole, _, frac = f"{x:.2f}".partition(".")
    groups = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    return ",".join([whole, *groups]) + ("." + frac.rstrip("0") if frac.rstrip("0") else "")


@st.composite
def typed_number(draw, x: float):
    way = draw(st.sampled_from(["cell", "text", "grouped", "fullwidth"]))
    text = {"cell": None, "text": f"{x:.2f}", "grouped": grouped(x), "fullwidth": to_fullwidth(grouped(x))}[way]
    return x if text is None else draw(PADDING) + text + draw(PADDING)


@st.composite
def typed_date(draw, d: dt.date):
    forms = [d, d.isoformat(), f"{d.year}/{d.month}/{d.day}", f"{d.year}.{d.month}.{d.day}",
             f"{d.year}年{d.month}月{d.day}日", to_fullwidth(f"{d.year}-{d.month:02d}-{d.day:02d}")]
    return draw(st.sampled_from(forms))


@st.composite
def typed_code(draw, code: str):
    return draw(PADDING) + (to_fullwidth(code) if draw(st.booleans()) else code) + draw(PADDING)


@st.composite
def ledger(draw):
    """(frame as typed, the rows meant)."""
    n = draw(st.integers(1, 6))
    meant, typed = [], []
    for i in range(1, n + 1):
        row = project_row(CITY, i, project_name=draw(st.text(NAME_CHARS, min_size=1, max_size=20)),
                          contract_amount=draw(st.integers(1, 10**8)) / 100,
                          paid_in_cumulative=draw(st.integers(0, 10**8)) / 100)
        meant.append(row)
        t = dict(row)
        t["project_name"] = draw(PADDING) + row["project_name"] + draw(PADDING)
        for name in ("project_id", "county_code", "park_code", "investor_origin"):
            t[name] = draw(typed_code(row[name]))
        for name in ("contract_amount", "paid_in_cumulative"):
            t[name] = draw(typed_number(row[name]))
        for name in ("signed_date", "registered_date", "started_date"):
            t[name] = draw(typed_date(row[name]))
        typed.append(t)
    frame = pd.DataFrame(typed, dtype="object")
    frame["row_number"] = range(2, n + 2)
    return frame, meant


def loaded_values(good: pd.DataFrame) -> list[dict]:
    cols = ["project_id", "project_name", "county_code", "park_code", "investor_origin", "contract_amount",
            "paid_in_cumulative", "signed_date", "registered_date", "started_date"]
    return [{c: (float(v) if c in ("contract_amount", "paid_in_cumulative") else v) for c, v in r.items()}
            for r in good[cols].to_dict("records")]


@HYPOTHESIS
@given(ledger())
def test_any_mix_of_habits_loads_exactly_the_values_meant(case):
    frame, meant = case
    good, issues = validate(frame, PROJECTS, FILE, CITY, "2025-09")
    assert [i for i in issues if i.level == "row"] == []
    cols = loaded_values(good)[0].keys()
    assert loaded_values(good) == [{c: r[c] for c in cols} for r in meant]
    assert good["row_number"].tolist() == frame["row_number"].tolist()


FAULTS = {"control_character": "\x00", "line_break": "\n", "too_long": None}


@HYPOTHESIS
@given(ledger(), st.data())
def test_a_fault_in_one_cell_rejects_that_row_only_and_names_it(case, data):
    frame, meant = case
    i = data.draw(st.integers(0, len(frame) - 1))
    rule = data.draw(st.sampled_from(sorted(FAULTS)))
    name = frame.at[i, "project_name"].strip()
    cut = data.draw(st.integers(1, len(name))) if len(name) > 1 else 1
    frame.at[i, "project_name"] = "项" * 201 if rule == "too_long" else name[:cut] + FAULTS[rule] + name[cut:] + "x"
    good, issues = validate(frame, PROJECTS, FILE, CITY, "2025-09")
    bad_row = int(frame.at[i, "row_number"])
    assert {(x.row, x.column, x.rule) for x in issues if x.level == "row"} == {(bad_row, "项目名称", rule)}
    assert good["row_number"].tolist() == [r for r in frame["row_number"] if r != bad_row]
    kept = [m for j, m in enumerate(meant) if j != i]
    cols = ["project_id", "contract_amount", "paid_in_cumulative", "started_date"]
    assert [{c: r[c] for c in cols} for r in loaded_values(good)] == [{c: m[c] for c in cols} for m in kept]
