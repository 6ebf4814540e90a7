"""`make bench-airflow-dbt`: dbt in Airflow as one `dbt build` task, or as cosmos-rendered tasks?

On a private embedded cluster and a small warehouse (sample of BENCH_CITIES cities ×
BENCH_MONTHS months, scale 0.02), measures:

1. DAG parse time: our one-task `dags/warehouse_build.py` vs a DAG holding an
   astronomer-cosmos `DbtTaskGroup` over the same dbt project (LoadMode.DBT_MANIFEST,
   telemetry off, cache under the state dir): the first parse in a fresh interpreter
   (imports included, as a DAG processor child pays them) and warm re-parses;
2. run time with `airflow dags test`: a DAG whose one task runs `dbt build` (what
   warehouse_build does) vs the cosmos DAG (one task per model/seed/snapshot, each a
   `dbt build --select` of that node: TestBehavior.BUILD), on the same built warehouse.

The cosmos DAG is written into the benchmark's own folder, never into dags/.
Results go to stdout and to <state>/bench_dbt_airflow.json.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_env import ROOT, isolate

STATE = isolate("state-airflow-dbt", "output-airflow-dbt", 54349)

from core.postgres import ensure_database  # noqa: E402
from core.settings import Settings  # noqa: E402
from flows import transform  # noqa: E402
from flows.warehouse import prepare  # noqa: E402
from ingestion.load import ingest_paths  # noqa: E402
from orchestration import runtime as airflow_runtime  # noqa: E402
from samples.generate import generate  # noqa: E402

CITIES = os.environ.get("BENCH_CITIES", "430100,430200,430300").split(",")
FIRST, LAST = os.environ.get("BENCH_FROM", "2025-07"), os.environ.get("BENCH_TO", "2025-09")
PARSE_REPEATS = int(os.environ.get("BENCH_PARSE_REPEATS", "5"))
DAGS_DIR = STATE / "bench_dags"

COSMOS_DAG = '''"""Benchmark only: the dbt project rendered by astronomer-cosmos, one task per node."""
from pathlib import Path

import pendulum
from airflow.sdk import dag
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

PROJECT = Path({project!r})


@dag(dag_id="cosmos_warehouse", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False,
     tags=["benchmark"])
def cosmos_warehouse():
    DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(dbt_project_path=PROJECT, manifest_path={manifest!r},
                                     project_name="openecon"),
        profile_config=ProfileConfig(profile_name="openecon", target_name="default",
                                     profiles_yml_filepath=PROJECT / "profiles.yml"),
        # cautious: a test spanning two nodes (relationships) runs with neither node's task; eager runs
        # it with the first, before the other is rebuilt (a table rebuild drops dependent views).
        execution_config=ExecutionConfig(dbt_executable_path={dbt!r},
                                         invocation_mode=InvocationMode.DBT_RUNNER,
                                         test_indirect_selection=TestIndirectSelection.CAUTIOUS),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.BUILD,
                                   emit_datasets=False),
        operator_args={{"install_deps": False}},
    )


cosmos_warehouse()
'''

ONE_TASK_DAG = '''"""Benchmark only: `dbt build` as one task, exactly what warehouse_build's first task runs."""
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="one_task_build", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False,
     tags=["benchmark"])
def one_task_build():
    @task
    def dbt_build() -> None:
        from flows import transform
        from core.settings import get_settings

        transform.dbt_build(get_settings())

    dbt_build()


one_task_build()
'''

PARSE_SNIPPET = r'''
import json, sys, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
times, dags, errors = [], 0, {}
for _ in range(int(sys.argv[2]) + 1):
    t = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    times.append(time.perf_counter() - t)
    dags, errors = sum(len(d.task_dict) for d in bag.dags.values()), bag.import_errors
print(json.dumps({"airflow_import": t1 - t0, "first": times[0], "warm": times[1:], "tasks": dags,
                  "errors": {str(k): str(v)[-500:] for k, v in errors.items()}}))
'''


def say(msg: str) -> None:
    print(f"[bench-airflow-dbt] {msg}", flush=True)


def parse_times(path: Path, settings: Settings) -> dict:
    """Parse one DAG file in a fresh interpreter: first parse (imports included) and warm re-parses."""
    proc = subprocess.run([sys.executable, "-c", PARSE_SNIPPET, str(path), str(PARSE_REPEATS)],
                          env=settings.child_env(), capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if out["errors"]:
        raise RuntimeError(f"{path.name} does not import: {out['errors']}")
    return {"first_s": round(out["first"], 3), "warm_median_s": round(statistics.median(out["warm"]), 3),
            "tasks": out["tasks"]}


def dags_test(dag_id: str, settings: Settings) -> dict:
    t = time.perf_counter()
    proc = airflow_runtime.dags_test(dag_id, settings, log_file=STATE / "logs" / f"{dag_id}.log")
    seconds = time.perf_counter() - t
    state = airflow_runtime.run_state(proc)
    if state != "success":
        raise RuntimeError(f"{dag_id} ended {state}; see {STATE / 'logs' / (dag_id + '.log')}")
    # The DAG run itself, without the CLI's start-up and DAG sync (~9 s fixed).
    found = re.findall(r"run_duration=([0-9.]+)", proc.stdout + proc.stderr)
    return {"wall_s": round(seconds, 1), "run_s": round(float(found[-1]), 1) if found else None}


class BenchSettings(Settings):
    """Our settings, with Airflow's DAG folder pointed at the benchmark's DAGs."""

    @property
    def dags_dir(self) -> Path:
        return DAGS_DIR


def main() -> int:
    settings = BenchSettings()
    assert settings.airflow_env()["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"  # it phones home otherwise
    ensure_database(settings)
    say(f"state {STATE}, Postgres on 127.0.0.1:{settings.pg_port}")
    airflow_runtime.migrate(settings)

    sample = STATE / "sample"
    if not sample.exists():
        generate(sample, FIRST, LAST, scale=0.02, cities=CITIES)
    prepare(settings)
    ingest_paths([sample], settings)
    transform.dbt(["parse"], settings)
    manifest = settings.dbt_target_dir / "manifest.json"
    nodes = json.loads(manifest.read_text())["nodes"]
    counts = {k: sum(1 for n in nodes.values() if n["resource_type"] == k)
              for k in ("model", "seed", "snapshot", "test")}
    say(f"project: {counts}")

    DAGS_DIR.mkdir(parents=True, exist_ok=True)
    cosmos_file = DAGS_DIR / "cosmos_warehouse.py"  # not dbt_*.py: cosmos's own convention
    cosmos_file.write_text(COSMOS_DAG.format(project=str(settings.dbt_project_dir), manifest=str(manifest),
                                             dbt=str(Path(sys.executable).with_name("dbt"))))
    (DAGS_DIR / "one_task_build.py").write_text(ONE_TASK_DAG)

    results: dict = {"project": counts, "sample": {"cities": CITIES, "from": FIRST, "to": LAST}}
    say("parse time (fresh interpreter per file; warm = re-parse in the same process)")
    results["parse"] = {
        "warehouse_build (dags/)": parse_times(ROOT / "dags" / "warehouse_build.py", settings),
        "cosmos DbtTaskGroup": parse_times(cosmos_file, settings),
    }
    for name, r in results["parse"].items():
        say(f"  {name:26s} first {r['first_s']:.2f}s, warm {r['warm_median_s']:.3f}s, {r['tasks']} tasks")

    say("run time with `airflow dags test` (warm-up build first, so both run on the same built warehouse)")
    dags_test("one_task_build", settings)  # warm-up: seeds, tables, partial-parse cache
    one = [dags_test("one_task_build", settings) for _ in range(2)]
    cosmos = dags_test("cosmos_warehouse", settings)
    one_run = statistics.median(r["run_s"] for r in one)
    results["run"] = {"one dbt build task": {"runs": one, "median_run_s": one_run},
                      "cosmos tasks": {**cosmos, "tasks": results["parse"]["cosmos DbtTaskGroup"]["tasks"]}}
    say(f"  one dbt build task: DAG run {one_run:.1f}s (wall with CLI {[r['wall_s'] for r in one]})")
    say(f"  cosmos, {results['run']['cosmos tasks']['tasks']} tasks: DAG run {cosmos['run_s']:.1f}s "
        f"(wall {cosmos['wall_s']:.1f}s), {cosmos['run_s'] / one_run:.1f}x")
    results["load_average"] = os.getloadavg()
    say(f"  load average during the run: {results['load_average'][0]:.1f} (2-core reference machine)")
    out = STATE / "bench_dbt_airflow.json"
    out.write_text(json.dumps(results, indent=2))
    say(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
