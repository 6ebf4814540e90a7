"""The transform steps the DAGs and the CLI share: dbt build and dbt docs.

dbt runs in a subprocess, so its logging and global state never mix with the caller's.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from pathlib import Path

import psycopg

from core.files import atomic_copy
from core.settings import Settings
from flows.warehouse import prepare
from ingestion.schema import refresh_month_statistics

log = logging.getLogger(__name__)

class StepFailed(RuntimeError):
    """A pipeline step's subprocess failed; the message holds its output (retried when transient)."""


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


SEED_SCHEMA = "reference"
SEEDS_MARK = "openecon seeds sha256:"


def seeds_digest(project: Path) -> str:
    """One hash of a dbt project's seed files and the project file that types them."""
    digest = hashlib.sha256()
    for f in [project / "dbt_project.yml", *sorted((project / "seeds").iterdir())]:
        if f.is_file():
            digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def _seed_tables(settings: Settings) -> list[str]:
    return sorted(f.stem for f in (settings.dbt_project_dir / "seeds").glob("*.csv"))


def seeds_loaded(settings: Settings, digest: str) -> bool:
    """Whether the warehouse holds every seed as of ``digest`` (the mark a build left on their schema)."""
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        mark = conn.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
                            [SEED_SCHEMA]).fetchone()
        if not mark or mark[0] != SEEDS_MARK + digest:
            return False
        present = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
                               [SEED_SCHEMA, _seed_tables(settings)]).fetchone()[0]
        return present == len(_seed_tables(settings))


def _mark_seeds(settings: Settings, digest: str) -> None:
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        conn.execute(f"COMMENT ON SCHEMA {SEED_SCHEMA} IS '{SEEDS_MARK}{digest}'")


def dbt_build(settings: Settings, full_refresh: bool = False) -> None:
    """Create what ingestion owns (so dbt sources exist on an empty database), refresh the
    statistics of the trade months loaded since the last build, then dbt build.

    What a build leaves out, because it cannot have changed since the last one: dbt's unit
    tests (fixed inputs: they test the code, which `make test` runs them on; dbt's advice is
    not to spend production runs on them) and the seeds, and the tests of seeds alone, when their
    files are those the warehouse was last seeded from (one hash, kept as the seed schema's comment).

    ``full_refresh`` rebuilds the incremental models from scratch: needed after a seed
    they read is revised (e.g. an old USD/CNY rate) or after an upgrade changes their
    columns; it gives the same rows as the incremental path on unchanged inputs.
    """
    prepare(settings)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        if analysed := refresh_month_statistics(conn):
            log.info("statistics refreshed for %s", ", ".join(analysed))
    digest = seeds_digest(settings.dbt_project_dir)
    reseed = full_refresh or not seeds_loaded(settings, digest)
    # Unchanged seeds: neither the seeds nor the tests that read only seeds (~60 of them, 3.4 s run
    # one after another before any model starts); "cautious" keeps a test that reads a model too.
    dbt(["build", *(["--full-refresh"] if full_refresh else []), "--exclude-resource-type", "unit_test",
         *([] if reseed else ["--exclude", "resource_type:seed", "--indirect-selection", "cautious"])], settings)
    if reseed:
        _mark_seeds(settings, digest)


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
    prepare(settings)  # the sources exist even on an empty database
    dbt(["docs", "generate", "--static"], settings)
    out = dbt_docs_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    for name in DBT_DOCS_FILES:
        src = settings.dbt_target_dir / name
        if not src.exists():
            raise StepFailed(f"dbt docs generate did not write {src}")
        atomic_copy(src, out / name)  # a reader never sees a half-written file
    log.info("dbt docs published to %s", out)
    return out
