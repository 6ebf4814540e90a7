"""The pipeline steps the DAGs and the CLI call: ingest, dbt build, quality gate.

DAG files stay thin and import these; each step is a plain function of the
settings so it runs the same from Airflow, the CLI and the tests.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from openecon.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

SOURCES_YML = PROJECT_ROOT / "dbt_project" / "models" / "staging" / "submissions" / "_submissions__sources.yml"


class StepFailed(RuntimeError):
    pass


def ingest(paths: list[Path], settings: Settings) -> dict:
    """Ingest files and folders; logs each receipt, returns counts by receipt status."""
    from ingestion.load import ingest_paths, status_counts

    receipts = ingest_paths(paths, settings)
    for r in receipts:
        log.info("%s", r.text())
    return {"files": len(receipts), "by_status": status_counts(receipts),
            "rejected": [r.file for r in receipts if not r.ok]}


def new_inbox_files(inbox: Path, settings: Settings, up_to_period: str | None = None) -> list[Path]:
    """Files in the inbox not received before under the same name and bytes.

    The inbox is a drop folder that keeps its files, so a re-run of the DAG must
    not record them again; `openecon ingest` on a path always records a receipt.
    With ``up_to_period`` (YYYY-MM) only files of that period or earlier are taken
    (late files of earlier months are picked up, later months wait for their run);
    a file whose name carries no period is taken, so its sender gets a rejection receipt.
    """
    import psycopg

    from ingestion.load import expand, parse_file_name, sha256_of
    from ingestion.schema import ensure_warehouse_schema

    files = expand([inbox]) if inbox.exists() else []
    if up_to_period:
        files = [f for f in files if (meta := parse_file_name(f.name)) is None or meta[2] <= up_to_period]
    if not files:
        return []
    ensure_warehouse_schema(settings)
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        seen = set(conn.execute("SELECT file_name, sha256 FROM audit.submissions").fetchall())
    return [f for f in files if (f.name, sha256_of(f)) not in seen]


def inbox_cities(inbox: Path, settings: Settings | None = None, up_to_period: str | None = None) -> list[str]:
    """City folders of the inbox (<inbox>/<city_code>/...), in code order.

    With ``settings``, only the folders holding files not received yet (up to
    ``up_to_period``): a run with nothing new maps no task, instead of one no-op per city.
    """
    from ingestion import reference

    cities = [c for c in reference.cities() if (inbox / c).is_dir()]
    if settings is None:
        return cities
    new = {f.relative_to(inbox).parts[0] for f in new_inbox_files(inbox, settings, up_to_period)}
    return [c for c in cities if c in new]


def ingest_inbox(inbox: Path, settings: Settings, up_to_period: str | None = None) -> dict:
    files = new_inbox_files(inbox, settings, up_to_period)
    log.info("%d new file(s) in %s", len(files), inbox)
    return ingest(files, settings) if files else {"files": 0, "by_status": {}, "rejected": []}


def dbt(args: list[str], settings: Settings) -> subprocess.CompletedProcess:
    """Run dbt in a subprocess: isolated from the caller's logging, output kept for the log."""
    dbt_exe = Path(sys.executable).with_name("dbt")
    cmd = [str(dbt_exe), *args, "--project-dir", str(settings.dbt_project_dir),
           "--profiles-dir", str(settings.dbt_project_dir)]
    proc = subprocess.run(cmd, env=settings.child_env(), capture_output=True, text=True,
                          cwd=settings.dbt_project_dir)
    log.info("%s\n%s", " ".join(cmd[1:3]), proc.stdout[-20000:])
    if proc.returncode != 0:
        raise StepFailed(f"dbt {' '.join(args)} failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-8000:]}{proc.stderr[-4000:]}")
    return proc


def dbt_build(settings: Settings, full_refresh: bool = False) -> None:
    """Create what ingestion owns (so dbt sources exist on an empty database), then dbt build.

    ``full_refresh`` rebuilds the incremental models from scratch: needed after a seed
    they read is revised (e.g. an old USD/CNY rate) or after an upgrade changes their
    columns; it gives the same rows as the incremental path on unchanged inputs.
    """
    from ingestion.schema import ensure_warehouse_schema

    ensure_warehouse_schema(settings)
    dbt(["build", *(["--full-refresh"] if full_refresh else [])], settings)


DBT_DOCS_FILES = ("index.html", "static_index.html", "manifest.json", "catalog.json")


def dbt_docs_dir(settings: Settings) -> Path:
    """Where the dbt docs site is published (``output/dbt_docs``)."""
    return settings.output_dir / "dbt_docs"


def dbt_docs(settings: Settings) -> Path:
    """Generate the dbt docs site and publish it to ``output/dbt_docs``; returns that folder.

    ``--static`` also writes ``static_index.html``, one file with the manifest and catalog
    inlined that opens offline from disk; ``index.html`` + ``manifest.json`` + ``catalog.json``
    is the classic site, which needs a web server (``python -m http.server -d output/dbt_docs``).
    The catalog is read from the warehouse, so run this after ``dbt_build``.
    """
    from ingestion.schema import ensure_warehouse_schema

    ensure_warehouse_schema(settings)  # the sources exist even on an empty database
    dbt(["docs", "generate", "--static"], settings)
    out = dbt_docs_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    for name in DBT_DOCS_FILES:
        src = settings.dbt_target_dir / name
        if not src.exists():
            raise StepFailed(f"dbt docs generate did not write {src}")
        tmp = out / f".{name}.tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, out / name)  # a reader never sees a half-written file
    log.info("dbt docs published to %s", out)
    return out


def quality_gate(settings: Settings, triggered_by: str = "cli"):
    """Run the Great Expectations suites (raw, staging, marts) as one checkpoint.

    The results are stored in audit.quality_runs / audit.quality_results with the data
    version checked (``triggered_by``: 'cli' or '<dag_id>/<run_id>'); the caller decides
    what failure means, and the bulletins refuse to publish without a passing run.
    """
    from expectations.runner import run_checkpoint

    return run_checkpoint(settings, triggered_by=triggered_by)
