"""`make bench-ingest`: our full trade ingest vs bare COPY vs DataFrame.to_sql, and xlsx rows/s.

Runs on a private embedded cluster (its own state dir and port), so it never
touches the user's warehouse. Prints rates and the ratios the issue targets:
ingest >= 0.5x bare COPY, >= 10x to_sql, peak memory < 1 GB for a 1 M-row file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_env import BENCH as STATE
from bench_env import ROOT, isolate

isolate("state", "output", 54339)
os.environ["OPENECON_MAX_FILE_MB"] = "4096"

import psycopg  # noqa: E402

from core.postgres import EmbeddedPostgres  # noqa: E402
from core.settings import Settings  # noqa: E402
from flows.warehouse import prepare  # noqa: E402
from ingestion.contract import TRADE  # noqa: E402

CITY, PERIOD = "430100", "2025-09"
SCALE = float(os.environ.get("BENCH_SCALE", "10"))  # scale 10 ≈ 1 M trade rows for Changsha
TO_SQL_ROWS = 100_000  # to_sql is ~30x slower; time it on a slice and report its rate


def sample_file() -> Path:
    from samples.generate import generate

    out = STATE / f"sample-s{SCALE:g}"
    csv_path = out / CITY / f"trade_{CITY}_{PERIOD.replace('-', '')}.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        generate(out, PERIOD, PERIOD, scale=SCALE, cities=[CITY])
        print(f"generated sample (scale {SCALE:g}) in {time.perf_counter() - t:.1f}s")
    return csv_path


def fresh_schemas(conn) -> None:
    for schema in ("raw", "audit", "bench"):
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    prepare(Settings())  # what `openecon ingest` applies before it reads a file


def child_ingest(path: Path) -> dict:
    """Our ingest in a child process, so its peak memory is measured alone."""
    code = (
        "import json, resource, sys, time\n"
        "from ingestion.load import ingest_paths\n"
        "from core.settings import Settings\n"
        "t = time.perf_counter(); [r] = ingest_paths([sys.argv[1]], Settings())\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'status': r.status, 'rows': r.rows_loaded,"
        " 'rejected': r.rows_rejected, 'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bare_copy(conn, path: Path, encoding: str) -> float:
    """COPY the file as it is into a table of the same columns (no validation, no index)."""
    cols = ", ".join(f"{c.name} {c.pg_type}" for c in TRADE.columns)
    conn.execute("CREATE SCHEMA bench")
    conn.execute(f"CREATE TABLE bench.trade_copy ({cols})")
    t = time.perf_counter()
    with conn.cursor().copy(
        f"COPY bench.trade_copy FROM STDIN (FORMAT csv, HEADER true, ENCODING '{encoding}')"
    ) as copy, open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    return time.perf_counter() - t


def to_sql_rate(settings: Settings, path: Path, encoding: str) -> float:
    import pandas as pd
    import sqlalchemy

    frame = pd.read_csv(path, nrows=TO_SQL_ROWS, encoding=encoding, dtype=str)
    engine = sqlalchemy.create_engine(settings.warehouse_sqlalchemy_url)
    t = time.perf_counter()
    frame.to_sql("trade_to_sql", engine, schema="bench", index=False, if_exists="replace")
    elapsed = time.perf_counter() - t
    engine.dispose()
    return len(frame) / elapsed


def xlsx_rate() -> tuple[int, float]:
    """Our workbook path (calamine read + validation) on the sample's project ledger."""
    from ingestion.contract import PROJECTS
    from ingestion.readers import open_workbook, read_sheet
    from ingestion.validate import validate
    from samples.generate import generate

    out = STATE / "xlsx-s20"
    files = [p for p in generate(out, PERIOD, PERIOD, scale=20, cities=[CITY]) if p.suffix == ".xlsx"]
    t = time.perf_counter()
    frame, _ = read_sheet(open_workbook(files[0]), PROJECTS, files[0].name)
    validate(frame, PROJECTS, files[0].name, CITY, PERIOD)
    return len(frame), len(frame) / (time.perf_counter() - t)


def main() -> int:
    settings = Settings()
    server = EmbeddedPostgres(settings)
    server.start()
    path = sample_file()
    from ingestion.trade import detect_encoding

    encoding = "UTF8" if detect_encoding(path).startswith("utf-8") else "GB18030"
    size_mb = path.stat().st_size / 2**20
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        fresh_schemas(conn)
        ours = child_ingest(path)
        copy_s = bare_copy(conn, path, encoding)
        copied = conn.execute("SELECT count(*) FROM bench.trade_copy").fetchone()[0]
        tosql = to_sql_rate(settings, path, "utf-8-sig" if encoding == "UTF8" else "gb18030")
        fresh_schemas(conn)
    xlsx_rows, xlsx = xlsx_rate()

    rows = ours["rows"] + ours["rejected"]
    ingest_rate, copy_rate = rows / ours["seconds"], copied / copy_s
    print(f"\ntrade CSV: {path.name}, {rows:,} rows, {size_mb:.0f} MB, encoding {encoding}")
    print(f"  our ingest (validated, receipt): {ingest_rate / 1e6:6.3f} M rows/s  ({ours['seconds']:.2f}s, "
          f"status {ours['status']}, peak memory {ours['peak_mb']:.0f} MB)")
    print(f"  bare COPY FROM STDIN:            {copy_rate / 1e6:6.3f} M rows/s  ({copy_s:.2f}s)")
    print(f"  DataFrame.to_sql ({TO_SQL_ROWS:,} rows): {tosql / 1e6:6.3f} M rows/s")
    print(f"  xlsx (calamine + validation):    {xlsx / 1e3:6.1f} k rows/s  ({xlsx_rows:,} ledger rows)")
    print("ratios:")
    print(f"  ingest / bare COPY = {ingest_rate / copy_rate:.2f}  (target >= 0.5)")
    print(f"  ingest / to_sql    = {ingest_rate / tosql:.1f}  (target >= 10)")
    print(f"  peak memory        = {ours['peak_mb']:.0f} MB  (target < 1024 MB)")
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
