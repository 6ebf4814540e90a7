"""Acceptance of intake: the sample with planted mistakes, ingested as a city clerk's files would be."""

from __future__ import annotations

import json

import pytest

from ingestion.load import ingest_paths
from samples.generate import generate


@pytest.fixture(scope="module")
def erroneous_sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("with_errors")
    generate(out, "2024-01", "2025-09", scale=0.02, with_errors=True)
    return out, json.loads((out / "planted_errors.json").read_text(encoding="utf-8"))


def test_every_planted_mistake_is_reported_where_it_is(warehouse, settings, erroneous_sample):
    out, planted = erroneous_sample
    city_folders = sorted(p for p in out.iterdir() if p.is_dir() and p.name.isdigit())
    receipts = {r.file: r for r in ingest_paths(city_folders, settings)}
    assert len(receipts) == 2 * 14 * 21 - 3 * 2 * 2  # the three 1–2月 cities send no 01 files

    planted_files = set()
    for p in planted:
        name = p["file"].split("/")[-1]
        if p["level"] == "superseding":
            continue
        planted_files.add(name)
        r = receipts[name]
        if p["level"] == "file":
            assert r.status == "rejected" and r.issues[0].rule == p["rule"], (p, r.text())
        elif p["level"] == "warning":
            assert r.status == "accepted", r.text()
            assert any((w.row, w.rule) == (p["row"], p["rule"]) for w in r.warnings), (p, r.text())
        elif p["level"] == "accepted":
            assert r.status == "accepted", r.text()
        else:
            assert r.status == "partial", (p, r.text())
            assert any((i.sheet, i.row, i.column, i.rule) == (p["sheet"], p["row"], p["column"], p["rule"])
                       for i in r.issues), (p, r.text())
    # mistakes only the quality gate can see (stage "marts") pass intake: accepted, a warning at most
    assert all(p["level"] in ("accepted", "warning") for p in planted if p.get("stage") == "marts")
    clean = [r for name, r in receipts.items() if name not in planted_files]
    assert clean and all(r.status == "accepted" and not r.issues for r in clean), \
        [r.text() for r in clean if r.status != "accepted" or r.issues][:3]

    # Re-ingesting everything changes nothing: loaded files are duplicates, rejected ones stay rejected.
    raw_before = warehouse.execute("SELECT count(*), sum(amount_cny) FROM raw.trade").fetchone()
    again = ingest_paths(city_folders, settings)
    assert {r.status for r in again} == {"duplicate", "rejected"}
    assert warehouse.execute("SELECT count(*), sum(amount_cny) FROM raw.trade").fetchone() == raw_before

    # The corrected re-submission supersedes the file in force.
    [resub] = [p for p in planted if p["level"] == "superseding"]
    [r] = ingest_paths([out / resub["file"]], settings)
    original = receipts[resub["file"].split("/")[-1]]
    assert r.status == "superseding" and r.superseded == [original.file_id]
