"""Airflow home and CLI calls, configured from openecon.settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from openecon.settings import Settings


def airflow(args: list[str], settings: Settings, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("airflow")
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(exe), *args], env=settings.child_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


def migrate(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata database (idempotent)."""
    airflow(["db", "migrate"], settings)


def dags_test(dag_id: str, settings: Settings, conf: dict | None = None,
              log_file: Path | None = None) -> subprocess.CompletedProcess:
    """Run one DAG for real, in one process, with `airflow dags test`."""
    args = ["dags", "test", dag_id]
    if conf:
        args += ["--conf", json.dumps(conf)]
    proc = airflow(args, settings, check=False)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(proc.stdout + "\n" + proc.stderr)
    return proc


def run_state(proc: subprocess.CompletedProcess) -> str | None:
    """Final DAG-run state printed by `airflow dags test` (None when it never finished)."""
    if proc.returncode != 0:
        return "failed"
    found = re.findall(r"DagRun Finished: .*?, state=(\w+)", proc.stdout + proc.stderr)
    return found[-1] if found else None
