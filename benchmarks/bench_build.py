"""`make bench-build`: does a new month cost the same whatever the history?

On a private embedded cluster: build 1 year of history, ingest one more month and
time the incremental `dbt build`; the same with 5 years of history; then time a
full refresh of the 5 years and typical BI queries on kpi_city_month.
Target: incremental(5 y) / incremental(1 y) <= 1.3.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from bench_env import BENCH as STATE
from bench_env import isolate, node_seconds

isolate("state-build", "output-build", 54339)

import psycopg  # noqa: E402

from core.postgres import EmbeddedPostgres  # noqa: E402
from core.settings import Settings  # noqa: E402
from flows import transform  # noqa: E402
from flows.warehouse import prepare  # noqa: E402
from ingestion.load import ingest_paths  # noqa: E402
from samples.generate import generate  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "0.5"))
NEW_MONTH = "2025-01"
SCHEMAS = ("raw", "audit", "staging", "intermediate", "marts", "reference")


def files_between(sample: Path, start: str, end: str) -> list[Path]:
    lo, hi = start.replace("-", ""), end.replace("-", "")
    return [f for f in sorted(sample.rglob("*")) if f.is_file() and lo <= f.stem[-6:] <= hi]


def timed_build(settings: Settings, *extra: str) -> float:
    t = time.perf_counter()
    transform.dbt_build(settings) if not extra else transform.dbt(["build", *extra], settings)
    return time.perf_counter() - t


def history_run(settings: Settings, sample: Path, start: str) -> tuple[float, int, dict[str, float]]:
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        for s in SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
    prepare(settings)
    ingest_paths(files_between(sample, start, "2024-12"), settings)
    timed_build(settings)  # the history, built once
    ingest_paths(files_between(sample, NEW_MONTH, NEW_MONTH), settings)
    seconds = timed_build(settings)  # the new month, incrementally
    nodes = node_seconds(settings.dbt_target_dir)
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        rows = conn.execute("SELECT count(*) FROM raw.trade").fetchone()[0]
    return seconds, rows, nodes


def bi_latency(settings: Settings) -> float:
    """One KPI, all cities, one period: the typical BI query; median of 20 runs (ms)."""
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        times = []
        for _ in range(20):
            t = time.perf_counter()
            conn.execute("SELECT city_name, value_ytd, yoy_pct, rank_in_province FROM marts.kpi_city_month "
                         "WHERE kpi_code = 'trade_total' AND period = '2025-01' ORDER BY city_code").fetchall()
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> int:
    settings = Settings()
    server = EmbeddedPostgres(settings)
    server.start()
    sample = STATE / f"history-s{SCALE:g}"
    if not (sample / "430100" / "430100_202501.xlsx").exists():
        t = time.perf_counter()
        generate(sample, "2020-01", NEW_MONTH, scale=SCALE)
        print(f"generated 2020-01..{NEW_MONTH} at scale {SCALE:g} in {time.perf_counter() - t:.0f}s")

    one_year, rows1, nodes1 = history_run(settings, sample, "2024-01")
    five_years, rows5, nodes5 = history_run(settings, sample, "2020-01")
    full = timed_build(settings, "--full-refresh")
    latency = bi_latency(settings)
    server.stop()

    print(f"\nincremental build adding {NEW_MONTH} (scale {SCALE:g}):")
    print(f"  on 1 year of history  ({rows1:>11,} trade rows): {one_year:6.1f}s")
    print(f"  on 5 years of history ({rows5:>11,} trade rows): {five_years:6.1f}s")
    print(f"  ratio 5y / 1y = {five_years / one_year:.2f}  (target <= 1.3)")
    print(f"full refresh of 5 years: {full:6.1f}s  ({full / five_years:.1f}x the incremental month)")
    print(f"BI query (one KPI, all cities, one period) on kpi_city_month: {latency:.1f} ms median")
    # where the extra time of the 5-year build went (dbt nodes, summed over threads)
    grown = sorted(nodes5, key=lambda n: nodes5[n] - nodes1.get(n, 0.0), reverse=True)[:8]
    print("dbt nodes that grew most with history (1y -> 5y, seconds):")
    for n in grown:
        print(f"  {nodes1.get(n, 0.0):6.2f} -> {nodes5[n]:6.2f}  {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
