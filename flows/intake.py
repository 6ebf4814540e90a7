"""Intake steps the DAGs and the CLI share: ingest files and the inbox's new files."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

from core import reference
from core.settings import Settings
from flows.warehouse import prepare
from ingestion.load import INTERNAL_ERROR, expand, ingest_paths, parse_file_name, sha256_of, status_counts

log = logging.getLogger(__name__)


def ingest(paths: list[Path], settings: Settings, allow_shrink: bool = False) -> dict:
    """Ingest files and folders; logs each receipt, returns counts by receipt status."""
    prepare(settings)
    receipts = ingest_paths(paths, settings, allow_shrink=allow_shrink)
    for r in receipts:
        log.info("%s", r.text())
    return {"files": len(receipts), "by_status": status_counts(receipts),
            "rejected": [r.file for r in receipts if not r.ok]}


def new_inbox_files(inbox: Path | list[Path], settings: Settings, up_to_period: str | None = None) -> list[Path]:
    """Files in the inbox (or in each of a list of its folders) not received before under the
    same name and bytes.

    The inbox is a drop folder that keeps its files, so a re-run of the DAG must
    not record them again; `openecon ingest` on a path always records a receipt. A file
    rejected because the system failed (rule internal_error) is taken again.
    With ``up_to_period`` (YYYY-MM) only files of that period or earlier are taken
    (late files of earlier months are picked up, later months wait for their run);
    a file whose name carries no period is taken, so its sender gets a rejection receipt.
    """
    files = expand([f for f in (inbox if isinstance(inbox, list) else [inbox]) if f.exists()])
    if up_to_period:
        files = [f for f in files if (meta := parse_file_name(f.name)) is None or meta[2] <= up_to_period]
    if not files:
        return []
    prepare(settings)
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        seen = set(conn.execute(
            """SELECT file_name, sha256 FROM audit.submissions AS s
               WHERE NOT EXISTS (SELECT 1 FROM audit.rejected_rows AS r
                                 WHERE r.file_id = s.file_id AND r.rule = %s)""", [INTERNAL_ERROR]).fetchall())
    return [f for f in files if (f.name, sha256_of(f)) not in seen]


def ingest_inbox(inbox: Path, settings: Settings, up_to_period: str | None = None,
                 allow_shrink: bool = False) -> dict:
    files = new_inbox_files(inbox, settings, up_to_period)
    log.info("%d new file(s) in %s", len(files), inbox)
    return ingest(files, settings, allow_shrink) if files else {"files": 0, "by_status": {}, "rejected": []}


# CPU per byte of a workbook over a trade CSV's (cells read one by one and checked, against Arrow's
# blocks), measured on the scale-10 samples: by bytes alone a share of small cities' workbooks
# would be the heavier one.
WORKBOOK_WEIGHT = 25


def file_work(path: Path) -> int:
    """A file's ingest work, in CSV bytes."""
    return path.stat().st_size * (WORKBOOK_WEIGHT if path.suffix.lower() == ".xlsx" else 1)


def share_out(work: dict[str, float], shares: int) -> list[list[str]]:
    """The cities in at most ``shares`` groups of about equal work, for that many processes (the
    warehouse pool's slots) each ingesting its cities back to back: a process per city would
    import pandas, Arrow and psycopg (about 1 s) 14 times over. Most work first, each city to the
    lightest group; cities in code order within a group."""
    groups: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(max(1, min(shares, len(work))))]
    for city in sorted(work, key=lambda c: (-work[c], c)):
        i = min(range(len(groups)), key=lambda k: (groups[k][0], k))
        groups[i] = (groups[i][0] + work[city], groups[i][1] + [city])
    return [sorted(cities) for _, cities in groups if cities]


def inbox_shares(inbox: Path, settings: Settings, shares: int, up_to_period: str | None = None) -> list[list[str]]:
    """The city folders with files not received yet (up to ``up_to_period``), shared out by work."""
    work: dict[str, float] = {}
    for f in new_inbox_files(inbox, settings, up_to_period):
        city = f.relative_to(inbox).parts[0]
        work[city] = work.get(city, 0) + file_work(f)
    cities = set(reference.cities())
    return share_out({c: w for c, w in work.items() if c in cities}, shares)


def ingest_cities(inbox: Path, cities: list[str], settings: Settings, up_to_period: str | None = None,
                  allow_shrink: bool = False) -> dict:
    """The new files of the cities' folders, ingested in one run (earlier periods first)."""
    files = new_inbox_files([inbox / c for c in cities], settings, up_to_period)
    log.info("%d new file(s) of %d cities in %s", len(files), len(cities), inbox)
    return ingest(files, settings, allow_shrink) if files else {"files": 0, "by_status": {}, "rejected": []}


def unbuilt_data_version(settings: Settings) -> dict | None:
    """The data version (files in force) when it differs from the one the latest quality gate
    checked (passed or not), else None: files came in or were returned since the last build,
    outside the inbox DAG (the portal's uploads and returns). ``submissions_watch`` publishes
    openecon_raw_submissions then, so ``warehouse_build`` follows even without Airflow's REST API.
    A failed gate counts as built: its data was looked at, and only a new change triggers again."""
    from core import in_force

    prepare(settings)
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        now = in_force.current(conn)
        last = conn.execute("SELECT data_hash FROM audit.quality_runs ORDER BY started_at DESC LIMIT 1").fetchone()
    if not now["files"] or (last is not None and last[0] == now["hash"]):
        return None
    return now
