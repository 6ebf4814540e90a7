"""What every benchmark does before importing our modules: a private state dir, output dir
and Postgres port, so a run never touches the user's warehouse (settings read the environment)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(os.environ.get("OPENECON_BENCH_DIR") or ROOT / ".openecon" / "bench").resolve()


def isolate(state: str, output: str, default_port: int) -> Path:
    """Point the settings at ``BENCH/state`` and ``BENCH/output`` (port OPENECON_BENCH_PG_PORT or
    ``default_port``) and make the checkout importable; returns the state dir."""
    os.environ["OPENECON_STATE_DIR"] = str(BENCH / state)
    os.environ["OPENECON_OUTPUT_DIR"] = str(BENCH / output)
    os.environ["OPENECON_PG_PORT"] = os.environ.get("OPENECON_BENCH_PG_PORT", str(default_port))
    os.environ.pop("OPENECON_DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    return BENCH / state


def node_seconds(dbt_target_dir: Path) -> dict[str, float]:
    """Per-node execution time of the last dbt invocation (models, tests, seeds)."""
    results = json.loads((dbt_target_dir / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".", 2)[-1]: r["execution_time"] for r in results}
