"""`make bench-month`: the monthly cycle at the province's real volume, stage by stage.

On a private embedded cluster (bench_env), with the sample submissions of the 14 cities at
BENCH_MONTH_SCALE (default 10: 长沙 ≈ 1 M trade rows a month, the province ≈ 2.3 M):

1. intake, on an empty warehouse: one 长沙 trade file alone (the single-file rate); the new month's
   files by one process and by two, each ingesting a share of the cities of about equal work
   (as Airflow's mapped ingest tasks in the 2-slot pool run them); a bare COPY of the same trade
   files; DataFrame.to_sql on a sample of one of them;
2. for 1 and for 3 years of history: ingest the history (the same way), build it once, ingest the
   new month (the same way), build + gate it incrementally (dbt and GX apart), a bare SQL
   aggregation of the month's trade rows, the database size;
3. on the longest history: the quarter's three documents, and BI latency (p95 of 20 runs).

BENCH_MONTH_YEARS (default 1,3) sets the histories compared.

Every stage is a process of its own, the `openecon` command an operator runs, under GNU time:
wall time and peak RSS of each. Prints every figure beside its anchor and target and exits 1
when a target is missed. Samples are generated once and kept under .openecon/bench/.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench_env import BENCH, ROOT, isolate, node_seconds

isolate("state-month", "output-month", 54369)

import psycopg  # noqa: E402

from core import reference  # noqa: E402
from core.periods import months, shift  # noqa: E402
from core.postgres import EmbeddedPostgres  # noqa: E402
from core.settings import Settings  # noqa: E402
from flows.intake import file_work, share_out  # noqa: E402
from flows.warehouse import prepare  # noqa: E402
from ingestion.contract import TRADE  # noqa: E402

SCALE = float(os.environ.get("BENCH_MONTH_SCALE", "10"))
NEW_MONTH = os.environ.get("BENCH_MONTH_PERIOD", "2024-12")  # a quarter's and a year's last month
YEARS = tuple(int(y) for y in os.environ.get("BENCH_MONTH_YEARS", "1,3").split(","))  # history to compare
SAMPLE = BENCH / f"month-s{SCALE:g}"
OPENECON = str(Path(sys.executable).with_name("openecon"))
GNU_TIME = "/usr/bin/time"
WORKERS = 2  # the warehouse pool's slots (core.constants.WAREHOUSE_POOL)
TO_SQL_ROWS = 50_000
BI_RUNS = 20
SCHEMAS = ("raw", "audit", "staging", "intermediate", "marts", "reference", "bench")
BIG_CITY = "430100"


@dataclass
class Run:
    seconds: float
    peak_mb: float
    stdout: str


def run(cmd: list[str]) -> Run:
    """``cmd`` as a process of its own under GNU time: wall seconds and peak RSS (largest process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        t = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%M", "-o", out.name, *cmd], capture_output=True, text=True,
                              cwd=ROOT)
        seconds = time.perf_counter() - t
        kb = int(Path(out.name).read_text().strip().splitlines()[-1])
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} … failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return Run(seconds, kb / 1024, proc.stdout)


# --------------------------------------------------------------------------- samples
def _generate_city(city: str, first: str) -> str:
    from samples.generate import generate

    generate(SAMPLE, first, NEW_MONTH, scale=SCALE, cities=[city])
    (SAMPLE / f".done-{city}-{first}").touch()
    return city


def ensure_samples() -> None:
    """Every city's files from 3 years before the new month to it, one city per process."""
    first = shift(NEW_MONTH, -12 * max(YEARS))

    def covered(city: str) -> bool:  # a longer history generated before covers this one
        return any(m.name[-7:] <= first for m in SAMPLE.glob(f".done-{city}-*"))  # ...-YYYY-MM

    todo = [c for c in reference.cities() if not covered(c)]
    if not todo:
        return
    t = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        list(pool.map(_generate_city, todo, [first] * len(todo)))
    print(f"generated {first}..{NEW_MONTH} for {len(todo)} cities at scale {SCALE:g} "
          f"in {time.perf_counter() - t:.0f} s")


def files_of(periods: list[str], cities: list[str] | None = None) -> list[Path]:
    wanted = {p.replace("-", "") for p in periods}
    return [f for c in (cities or reference.cities()) for f in sorted((SAMPLE / c).iterdir())
            if f.suffix in (".xlsx", ".csv") and f.stem[-6:] in wanted]


def shares(periods: list[str], workers: int) -> list[list[str]]:
    """The cities shared out to ``workers`` processes as the ingest DAG shares them (by work)."""
    return share_out({c: sum(file_work(f) for f in files_of(periods, [c])) for c in reference.cities()}, workers)


def trade_rows(files: list[Path]) -> int:
    """Data rows of the trade CSVs (records less the header), counted from the files."""
    total = 0
    for f in files:
        if f.suffix == ".csv":
            with open(f, "rb") as fh:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1
    return total


# --------------------------------------------------------------------------- stages
def reset(settings: Settings) -> None:
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        for s in SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
    shutil.rmtree(settings.archive_dir, ignore_errors=True)
    shutil.rmtree(settings.output_dir, ignore_errors=True)
    prepare(settings)  # what every command applies first


def ingest(periods: list[str], workers: int) -> Run:
    """`openecon ingest` of the periods' files: one process; or, as Airflow's mapped ingest tasks
    in the WORKERS-slot pool, WORKERS processes at once, each ingesting a share of the cities back
    to back."""
    if workers == 1:
        return run([OPENECON, "ingest", *map(str, files_of(periods))])
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        runs = list(pool.map(run, [[OPENECON, "ingest", *map(str, files_of(periods, share))]
                                   for share in shares(periods, workers)]))
    return Run(time.perf_counter() - t, max(r.peak_mb for r in runs), "\n".join(r.stdout for r in runs))


def build() -> tuple[Run, float, float]:
    """`openecon build`: the run, and its dbt and gate seconds as it printed them."""
    r = run([OPENECON, "build"])
    m = re.search(r"dbt build ([\d.]+) s, quality gate ([\d.]+) s", r.stdout)
    if "quality gate: PASSED" not in r.stdout or not m:
        raise SystemExit(f"openecon build did not pass:\n{r.stdout[-4000:]}")
    return r, float(m[1]), float(m[2])


def settle(settings: Settings) -> float:
    """Vacuum and analyse the history just loaded and built, table by table, as autovacuum would
    have long before the next month arrives: otherwise its insert-triggered vacuums of the
    history's 2 M-row partitions run for minutes after the first build and into the month's (a
    3-year month gate took 53 s instead of 13 s beside them). Partitioned parents are left
    unanalysed, as autovacuum leaves them: after a database-wide VACUUM (ANALYZE), which analyses
    raw.trade's parent too, the month's kpi_city_month took 11.6 s instead of 0.5 s (not yet
    explained; README, Performance).
    Returns the seconds it took."""
    t = time.perf_counter()
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        tables = [r for (r,) in conn.execute(
            """SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'm') AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
               ORDER BY 1""").fetchall()]
        for table in tables:
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - t


def bare_copy(conn, files: list[Path]) -> tuple[float, int]:
    """COPY the trade files as they are into a table of the same columns (no validation, no index)."""
    from ingestion.trade import detect_encoding

    cols = ", ".join(f"{c.name} {c.pg_type}" for c in TRADE.columns)
    conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
    conn.execute("CREATE SCHEMA bench")
    conn.execute(f"CREATE TABLE bench.trade_copy ({cols})")
    t = time.perf_counter()
    for f in files:
        encoding = "UTF8" if detect_encoding(f).startswith("utf-8") else "GB18030"
        with conn.cursor().copy(f"COPY bench.trade_copy FROM STDIN (FORMAT csv, HEADER true, "
                                f"ENCODING '{encoding}')") as copy, open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
    seconds = time.perf_counter() - t
    rows = conn.execute("SELECT count(*) FROM bench.trade_copy").fetchone()[0]
    conn.execute("DROP SCHEMA bench CASCADE")
    return seconds, rows


def to_sql_rate(settings: Settings, path: Path) -> float:
    import pandas as pd
    import sqlalchemy

    frame = pd.read_csv(path, nrows=TO_SQL_ROWS, dtype=str, encoding="utf-8-sig")
    engine = sqlalchemy.create_engine(settings.warehouse_sqlalchemy_url)
    t = time.perf_counter()
    frame.to_sql("trade_to_sql", engine, schema="public", index=False, if_exists="replace")
    rate = len(frame) / (time.perf_counter() - t)
    with engine.begin() as c:
        c.exec_driver_sql("DROP TABLE public.trade_to_sql")
    engine.dispose()
    return rate


def bare_aggregation(conn, period: str) -> float:
    """The month's trade rows summed to fct_trade_month's grain in one plain SQL statement."""
    t = time.perf_counter()
    conn.execute("""SELECT count(*) FROM (
                        SELECT file_id, direction, trade_mode, partner_country, left(hs_code, 2),
                               sum(amount_cny), sum(amount_usd), count(*), count(DISTINCT enterprise_code)
                        FROM raw.trade WHERE period = %s
                        GROUP BY 1, 2, 3, 4, 5) AS m""", [date.fromisoformat(f"{period}-01")]).fetchone()
    return time.perf_counter() - t


def p95_ms(conn, sql: str, params: list) -> float:
    times = []
    for _ in range(BI_RUNS):
        t = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.quantiles(times, n=20)[-1]


def database_mb(conn) -> float:
    return conn.execute("SELECT pg_database_size(current_database()) / 1048576.0").fetchone()[0]


# --------------------------------------------------------------------------- the table
@dataclass
class Figure:
    name: str
    value: str
    anchor: str = ""
    target: str = ""
    ok: bool | None = None

    def row(self) -> str:
        met = "" if self.ok is None else ("yes" if self.ok else "**no**")
        return f"| {self.name} | {self.value} | {self.anchor} | {self.target} | {met} |"


class Figures(list):
    """The figures of the run, each printed as soon as it is measured (a run cut short keeps them)."""

    def __iadd__(self, figures):
        for f in figures:
            print("  " + f.row(), flush=True)
        return super().__iadd__(figures)

    def append(self, figure: Figure) -> None:
        self += [figure]


def machine_speed() -> str:
    """How fast this machine's cores and disk are, so figures taken on two machines can be
    compared: 20 M additions in a Python loop (about 1 s on a current desktop core) and 256 MB
    written to the bench folder's disk and fsync'd."""
    t = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    cpu = time.perf_counter() - t
    block = os.urandom(1 << 20)
    with tempfile.NamedTemporaryFile(dir=BENCH) as f:
        t = time.perf_counter()
        for _ in range(256):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
        disk = 256 / (time.perf_counter() - t)
    return f"20 M Python additions in {cpu:.2f} s, disk writes {disk:.0f} MB/s (fsync'd)"


def main() -> int:
    if not Path(GNU_TIME).exists():
        raise SystemExit("GNU time is missing: make sysdeps (or apt-get install -y time)")
    settings = Settings()
    server = EmbeddedPostgres(settings)
    server.start()
    ensure_samples()
    figures = Figures()
    peaks: dict[str, float] = {}
    new_files = files_of([NEW_MONTH])
    new_trade = [f for f in new_files if f.suffix == ".csv"]
    month_rows = trade_rows(new_trade)
    speed = machine_speed()
    print(f"machine speed: {speed}")
    print(f"new month {NEW_MONTH}: {len(new_files)} files, {month_rows:,} trade rows (scale {SCALE:g})")

    # 1. intake on an empty warehouse
    reset(settings)
    empty = BENCH / "month-empty-folder"
    empty.mkdir(parents=True, exist_ok=True)
    startup = min(run([OPENECON, "ingest", str(empty)]).seconds for _ in range(3))
    big = next(f for f in new_trade if BIG_CITY in f.name)
    single = run([OPENECON, "ingest", str(big)])
    single_rate = trade_rows([big]) / single.seconds
    peaks["ingest one trade file"] = single.peak_mb
    by_workers = {}
    for workers in (1, WORKERS):
        reset(settings)
        by_workers[workers] = ingest([NEW_MONTH], workers)
        peaks[f"ingest the month, {workers} process(es)"] = by_workers[workers].peak_mb
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        copy_s, copied = bare_copy(conn, new_trade)
    assert copied == month_rows, (copied, month_rows)
    tosql = to_sql_rate(settings, big)
    ours = by_workers[WORKERS].seconds
    month_rate = month_rows / ours
    figures += [
        Figure(f"ingest of the month's {len(new_files)} files, {WORKERS} processes, a share of the cities each",
               f"{ours:.1f} s",
               f"bare COPY of its trade files {copy_s:.1f} s", "≥ 0.8× COPY", copy_s / ours >= 0.8),
        Figure("  ratio COPY / ingest", f"{copy_s / ours:.2f}"),
        Figure(f"ingest of the month, 1 process vs {WORKERS}", f"{by_workers[1].seconds:.1f} s vs {ours:.1f} s",
               f"speed-up {by_workers[1].seconds / ours:.2f}×"),
        Figure("ingest rate vs DataFrame.to_sql", f"{month_rate / 1e6:.2f} M rows/s",
               f"to_sql {tosql / 1e6:.3f} M rows/s ({TO_SQL_ROWS:,} rows)", "≥ 15×", month_rate / tosql >= 15),
        Figure("  ratio ingest / to_sql", f"{month_rate / tosql:.0f}"),
        Figure("single trade file (长沙)", f"{single_rate / 1e6:.2f} M rows/s", f"{single.seconds:.1f} s"),
        Figure("ingest start-up (`openecon ingest` of an empty folder, best of 3)", f"{startup:.2f} s",
               "interpreter, imports, connect, migrations check", "≤ 0.3 s", startup <= 0.3),
    ]

    # 2. the cycle on each history
    cycle: dict[int, dict] = {}
    for years in YEARS:
        history = months(shift(NEW_MONTH, -12 * years), shift(NEW_MONTH, -1))
        reset(settings)
        hist = ingest(history, WORKERS)
        rows = trade_rows([f for f in files_of(history) if f.suffix == ".csv"])
        first, first_dbt, first_gx = build()
        settled = settle(settings)
        month = ingest([NEW_MONTH], WORKERS)
        incr, dbt_s, gx_s = build()
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
            agg = bare_aggregation(conn, NEW_MONTH)
            size = database_mb(conn)
        cycle[years] = dict(incr=incr, dbt=dbt_s, gx=gx_s, size=size, nodes=node_seconds(settings.dbt_target_dir))
        peaks[f"ingest {years} y of history"] = hist.peak_mb
        peaks[f"first build of {years} y"] = first.peak_mb
        peaks[f"incremental build ({years} y)"] = incr.peak_mb
        print(f"{years} y: first build {first.seconds:.0f} s (dbt {first_dbt:.0f}, gate {first_gx:.0f}); "
              f"history vacuumed in {settled:.0f} s; month ingest {month.seconds:.1f} s", flush=True)
        figures += [
            Figure(f"history ingest, {years} y ({rows / 1e6:.1f} M trade rows)",
                   f"{rows / hist.seconds / 1e6:.2f} M rows/s",
                   f"single file {single_rate / 1e6:.2f} M rows/s", "same rate (≥ 0.9×)",
                   rows / hist.seconds >= 0.9 * single_rate),
            Figure(f"month build + gate on {years} y", f"{incr.seconds:.1f} s",
                   f"bare SQL aggregation {agg:.2f} s (×{incr.seconds / agg:.0f})", "≤ 40 s", incr.seconds <= 40),
            Figure("  of which dbt / GX", f"{dbt_s:.1f} s / {gx_s:.1f} s"),
        ]
    one, many = cycle[min(YEARS)], cycle[max(YEARS)]
    if len(cycle) > 1:
        a, b = min(YEARS), max(YEARS)
        ratio = many["incr"].seconds / one["incr"].seconds
        figures += [
            Figure(f"month build + gate, {b} y / {a} y", f"{ratio:.2f}", "", "≤ 1.2", ratio <= 1.2),
            Figure(f"  dbt {b} y / {a} y, GX {b} y / {a} y",
                   f"{many['dbt'] / one['dbt']:.2f}, {many['gx'] / one['gx']:.2f}"),
            Figure("database size per year of history", f"{(many['size'] - one['size']) / (b - a) / 1024:.1f} GB",
                   f"{a} y {one['size'] / 1024:.1f} GB, {b} y {many['size'] / 1024:.1f} GB"),
        ]
    else:
        figures.append(Figure("database size per year of history", f"{one['size'] / min(YEARS) / 1024:.1f} GB"))

    # 3. documents and BI on the longest history
    quarter, year = f"{NEW_MONTH[:4]}Q{(int(NEW_MONTH[5:]) - 1) // 3 + 1}", NEW_MONTH[:4]
    docs = [run([OPENECON, "bulletin", "--period", quarter]), run([OPENECON, "bulletin", "--period", NEW_MONTH]),
            run([OPENECON, "appraisal", "--period", quarter if quarter[-1] != "4" else year])]
    peaks.update({f"document {i + 1}": d.peak_mb for i, d in enumerate(docs)})
    docs_s = sum(d.seconds for d in docs)
    figures.append(Figure(f"the quarter's three documents ({quarter} bulletin, {NEW_MONTH} report, appraisal)",
                          f"{docs_s:.1f} s", " + ".join(f"{d.seconds:.1f}" for d in docs), "≤ 30 s", docs_s <= 30))
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        kpi = p95_ms(conn, "SELECT city_name, value_ytd, yoy_pct, rank_in_province FROM marts.kpi_city_month "
                           "WHERE kpi_code = 'trade_total' AND period = %s ORDER BY city_code", [NEW_MONTH])
        drill = p95_ms(conn, """SELECT partner_country, hs_chapter, sum(value_100m_cny) AS value
                                FROM marts.fct_trade_month WHERE period BETWEEN %s AND %s
                                GROUP BY partner_country, hs_chapter ORDER BY value DESC""",
                       [shift(NEW_MONTH, -5), NEW_MONTH])
        trade_cells = conn.execute("SELECT count(*) FROM marts.fct_trade_month").fetchone()[0]
    figures += [
        Figure("BI: one KPI × all cities × one period (kpi_city_month)", f"{kpi:.1f} ms", f"p95 of {BI_RUNS}",
               "≤ 20 ms", kpi <= 20),
        Figure("BI: partner × HS chapter × 6 months (fct_trade_month)", f"{drill:.1f} ms",
               f"p95 of {BI_RUNS}, {trade_cells:,} rows in the table", "≤ 300 ms", drill <= 300),
        Figure("peak memory, largest process", f"{max(peaks.values()):.0f} MB", max(peaks, key=peaks.get),
               "≤ 1024 MB", max(peaks.values()) <= 1024),
    ]
    server.stop()

    print(f"\n## bench-month, {date.today()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, {platform.platform()}; "
          f"scale {SCALE:g}, new month {NEW_MONTH} ({month_rows:,} trade rows); "
          f"{speed}\n")
    print("| figure | measured | anchor | target | met |\n|---|---|---|---|---|")
    for f in figures:
        print(f.row())
    print("\npeak RSS per process (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    if len(cycle) > 1:
        print(f"\ndbt nodes whose time grew most from {min(YEARS)} y to {max(YEARS)} y of history "
              "(incremental month, s):")
        grown = sorted(many["nodes"], key=lambda n: many["nodes"][n] - one["nodes"].get(n, 0.0), reverse=True)
        for n in grown[:10]:
            print(f"  {one['nodes'].get(n, 0.0):6.2f} -> {many['nodes'][n]:6.2f}  {n}")
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
