"""History ingest vs the single-file rate, on the bench-month samples (read-only), quickly.

`make bench-month` ingests a year of history with two `openecon ingest` processes and compares
its trade rows/s with one 长沙 trade file ingested alone. This runs the same comparison on
BENCH_HISTORY_CITIES (comma-separated, or "all") and BENCH_HISTORY_MONTHS (YYYY-MM..YYYY-MM), on
a private embedded cluster, the warehouse reset before each run. BENCH_HISTORY_RUNS picks from:

  single  the 长沙 trade file of the last month, alone (start-up included);
  one     the history in one process;
  two     the history in two processes at once (cities in two groups of about equal bytes);
  pool    one process per city, two at a time, largest first (Airflow's 2-slot pool);
  growth  the last month's files on an empty warehouse, then after the months before.

BENCH_HISTORY_CODE: the checkout whose `openecon ingest` runs (to compare two branches);
BENCH_HISTORY_SAMPLE: the sample folder (default BENCH/month-s10); port BENCH_HISTORY_PG_PORT.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_env import BENCH, ROOT, isolate

os.environ.setdefault("OPENECON_BENCH_PG_PORT", os.environ.get("BENCH_HISTORY_PG_PORT", "54381"))
isolate("state-history", "output-history", 54381)

import psycopg  # noqa: E402

from core.periods import months  # noqa: E402
from core.postgres import EmbeddedPostgres  # noqa: E402
from core.settings import Settings  # noqa: E402
from flows.warehouse import prepare  # noqa: E402

SAMPLE = Path(os.environ.get("BENCH_HISTORY_SAMPLE") or BENCH / "month-s10")
CITIES = os.environ.get("BENCH_HISTORY_CITIES", "430100,430700,430600,430500").split(",")
if CITIES == ["all"]:
    CITIES = sorted(d.name for d in SAMPLE.iterdir() if d.is_dir())
FIRST, LAST = os.environ.get("BENCH_HISTORY_MONTHS", "2024-01..2024-06").split("..")
PERIODS = [p.replace("-", "") for p in months(FIRST, LAST)]
RUNS = os.environ.get("BENCH_HISTORY_RUNS", "single,one,two").split(",")  # and growth
BIG_CITY = "430100"
SCHEMAS = ("raw", "audit", "staging", "intermediate", "marts", "reference")
CODE = Path(os.environ.get("BENCH_HISTORY_CODE") or ROOT)  # the checkout whose `openecon ingest` runs
CLI = [sys.executable, "-m", "openecon.cli", "ingest"]


def files_of(cities: list[str], periods: list[str]) -> list[Path]:
    return [f for c in cities for f in sorted((SAMPLE / c).iterdir())
            if f.suffix in (".xlsx", ".csv") and f.stem[-6:] in periods]


def trade_rows(files: list[Path]) -> int:
    total = 0
    for f in files:
        if f.suffix == ".csv":
            with open(f, "rb") as fh:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1
    return total


def groups(cities: list[str], periods: list[str]) -> list[list[str]]:
    """Two groups of cities of about equal bytes."""
    size = {c: sum(f.stat().st_size for f in files_of([c], periods)) for c in cities}
    out: list[list[str]] = [[], []]
    for c in sorted(size, key=size.get, reverse=True):
        min(out, key=lambda g: sum(size[x] for x in g)).append(c)
    return out


def reset(settings: Settings, server: EmbeddedPostgres) -> None:
    """An empty warehouse, archive and receipts, and a checkpoint: each run starts alike."""
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        for s in SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
    with psycopg.connect(**server._super_conninfo(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    shutil.rmtree(settings.archive_dir, ignore_errors=True)
    shutil.rmtree(settings.output_dir, ignore_errors=True)
    prepare(settings)


def ingest(files: list[Path]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([*CLI, *map(str, files)], capture_output=True, text=True, cwd=CODE,
                          env={**os.environ, "PYTHONPATH": str(CODE)})
    seconds = time.perf_counter() - t
    if proc.returncode != 0 or "rejected" in proc.stdout.split("汇总 summary:")[-1]:
        raise SystemExit(f"ingest failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds


def parallel(jobs: list[list[Path]], workers: int | None = None) -> tuple[float, list[float]]:
    t = time.perf_counter()
    with ThreadPoolExecutor(workers or len(jobs)) as pool:
        each = list(pool.map(ingest, jobs))
    return time.perf_counter() - t, each


def main() -> int:
    settings = Settings()
    server = EmbeddedPostgres(settings)
    was_running = server.running()
    server.start()
    history = files_of(CITIES, PERIODS)
    rows = trade_rows(history)
    big = next(f for f in files_of([BIG_CITY], PERIODS[-1:]) if f.suffix == ".csv")
    big_rows = trade_rows([big])
    print(f"{len(CITIES)} cities x {len(PERIODS)} months: {len(history)} files, {rows:,} trade rows")

    if "single" in RUNS:
        reset(settings, server)
        single = ingest([big])
        print(f"single 长沙 trade file: {big_rows:,} rows in {single:.1f} s = {big_rows / single / 1e6:.3f} M rows/s")
    if "one" in RUNS:
        reset(settings, server)
        one = ingest(history)
        print(f"history, 1 process: {one:.1f} s = {rows / one / 1e6:.3f} M rows/s")
    if "two" in RUNS:
        reset(settings, server)
        split = groups(CITIES, PERIODS)
        two, each = parallel([files_of(g, PERIODS) for g in split])
        print(f"history, 2 processes {split}: {two:.1f} s ({', '.join(f'{s:.1f}' for s in each)}) "
              f"= {rows / two / 1e6:.3f} M rows/s")
    if "pool" in RUNS:
        reset(settings, server)
        by_size = sorted(CITIES, key=lambda c: -sum(f.stat().st_size for f in files_of([c], PERIODS)))
        pooled, _ = parallel([files_of([c], PERIODS) for c in by_size], workers=2)
        print(f"history, a pool of 2 slots, one process per city: {pooled:.1f} s = {rows / pooled / 1e6:.3f} M rows/s")
    if "growth" in RUNS:
        last = files_of(CITIES, PERIODS[-1:])
        reset(settings, server)
        empty = ingest(last)
        reset(settings, server)
        ingest(files_of(CITIES, PERIODS[:-1]))
        after = ingest(last)
        print(f"last month's {len(last)} files: {empty:.1f} s on an empty warehouse, "
              f"{after:.1f} s after {len(PERIODS) - 1} months")
    if not was_running:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
