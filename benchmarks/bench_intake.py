"""`make bench-intake`: issue 13's acceptance, measured: one `openecon ingest` of a hostile folder.

The folder is samples.hostile's (malformed, hostile and oddly-typed files mixed with good ones)
plus a good trade CSV of BENCH_INTAKE_BIG_ROWS rows (default 1,000,000; 0 leaves it out), so
that flat memory is shown for a big good file too, not only for refused ones. It is ingested
once, as a new user would, under ``/usr/bin/time -v`` on a private embedded cluster (its own
state dir and port: bench_env), so a run never touches the user's warehouse.

Printed per file: what it is, the expected and the actual status and rule, and its seconds,
taken from its receipt file (written when the file is done, so each file's time is from the
previous receipt to its own; the first file's is from the CLI's start, less the start-up time of
an ingest of an empty folder, and is marked ~). Then
the peak RSS of the CLI against the 1 GB target and the slowest rejection against 60 s, as
ratios. Exits 1 when a file got another receipt than expected or a target was missed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_env import BENCH, ROOT, isolate

isolate("state-intake", "output-intake", 54359)
for _name in [k for k in os.environ if k.startswith("OPENECON_MAX_") or k == "OPENECON_MIN_SUPERSEDING_SHARE"]:
    del os.environ[_name]  # the intake limits at their defaults: the folder is built against those

import psycopg  # noqa: E402

from core.postgres import EmbeddedPostgres  # noqa: E402
from core.settings import Settings  # noqa: E402
from flows.warehouse import prepare  # noqa: E402
from samples.hostile import HostileCase, write_big_trade, write_hostile_folder  # noqa: E402

BIG_ROWS = int(os.environ.get("BENCH_INTAKE_BIG_ROWS", "1000000"))
FOLDER = BENCH / "intake-folder"
BIG_CACHE = BENCH / f"intake-big-{BIG_ROWS}"  # the big file takes a while to generate: kept between runs
GNU_TIME = Path("/usr/bin/time")
RSS_TARGET_MB = 1024
REJECTION_TARGET_S = 60.0


def ensure_gnu_time() -> None:
    """GNU time reports the peak RSS; `make sysdeps` installs it, this covers a bare `python bench_intake.py`."""
    if GNU_TIME.exists():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "time"], check=True)
    if not GNU_TIME.exists():
        raise SystemExit("GNU time is missing: sudo apt-get install -y time (or make sysdeps)")


def write_folder() -> list[HostileCase]:
    shutil.rmtree(FOLDER, ignore_errors=True)
    cases = write_hostile_folder(FOLDER)
    if BIG_ROWS:
        big_case = None
        marker = BIG_CACHE / "case.json"
        if not marker.exists():
            t = time.perf_counter()
            shutil.rmtree(BIG_CACHE, ignore_errors=True)
            big_case = write_big_trade(BIG_CACHE, BIG_ROWS)
            marker.write_text(json.dumps(big_case.file), encoding="utf-8")
            print(f"generated the {BIG_ROWS:,}-row trade CSV in {time.perf_counter() - t:.1f}s")
        rel = json.loads(marker.read_text(encoding="utf-8"))
        (FOLDER / rel).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(BIG_CACHE / rel, FOLDER / rel)  # no 70 MB copy
        except OSError:
            shutil.copyfile(BIG_CACHE / rel, FOLDER / rel)
        big_case = big_case or HostileCase(rel, f"a good trade CSV of {BIG_ROWS:,} rows", "accepted",
                                           loaded={"raw.trade": BIG_ROWS})
        cases.append(big_case)
    return cases


def fresh_warehouse(settings: Settings) -> None:
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        for schema in ("raw", "audit"):
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    prepare(settings)  # what `openecon ingest` applies before it reads a file
    shutil.rmtree(settings.receipts_dir, ignore_errors=True)


def gnu_time_field(stderr: str, label: str) -> str:
    m = re.search(rf"^\s*{re.escape(label)}: (.+)$", stderr, re.M)
    return m[1].strip() if m else "?"


def got_rule(status: str, receipt: dict) -> str | None:
    """The rule a clerk reads first: the file's (rejected), the first row's (partial)."""
    issues = receipt.get("issues", [])
    if status == "rejected" and issues:
        return issues[0]["rule"]
    if status == "partial":
        return next((i["rule"] for i in issues if i["level"] == "row"), None)
    return None


def main() -> int:
    ensure_gnu_time()
    settings = Settings()
    server = EmbeddedPostgres(settings)
    server.start()
    t = time.perf_counter()
    cases = write_folder()
    print(f"wrote {len(cases)} files into {FOLDER} in {time.perf_counter() - t:.1f}s")
    fresh_warehouse(settings)

    cli = Path(sys.executable).parent / "openecon"
    # The CLI's own start (imports, migrations), to take from the first file's time.
    empty = FOLDER.with_name("intake-empty")
    empty.mkdir(exist_ok=True)
    t = time.perf_counter()
    subprocess.run([str(cli), "ingest", str(empty)], capture_output=True, check=True, cwd=ROOT)
    startup = time.perf_counter() - t
    started = time.time()
    proc = subprocess.run([str(GNU_TIME), "-v", str(cli), "ingest", str(FOLDER)], capture_output=True, text=True,
                          cwd=ROOT)
    wall = time.time() - started
    peak_mb = int(gnu_time_field(proc.stderr, "Maximum resident set size (kbytes)")) / 1024

    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        audit = conn.execute("SELECT file_id, file_name, city_code, status, rows, rows_rejected, receipt"
                             " FROM audit.submissions ORDER BY file_id").fetchall()
    server.stop()

    # Processing order is file-id order; each receipt file is written when its file is done.
    done, previous = {}, started + startup
    for file_id, name, city, *_ in audit:
        path = settings.receipt_path(city, name, file_id)
        end = path.stat().st_mtime if path.exists() else float("nan")
        done[file_id] = (max(end - previous, 0.0), file_id == audit[0][0])
        previous = end
    by_name: dict[str, list] = {}
    for row in audit:
        by_name.setdefault(row[1], []).append(row)

    mismatches, rejections = [], []
    print(f"\n{'file':44} {'expected':34} {'got':48} {'rows':>9} {'seconds':>8}")
    for case in cases:
        rows = by_name.get(case.stored_name, [])
        expected = f"{case.status} {case.rule or ''}".strip()
        shown = os.fsencode(case.file).decode("utf-8", "backslashreplace")
        if not rows:
            mismatches.append(case)
            print(f"{shown:44} {expected:34} {'(no audit row, no receipt)':48}  ✗ MISMATCH")
            continue
        file_id, _name, _city, _audit_status, n_rows, _bad, receipt = rows.pop(0)
        status = receipt["status"]  # what the clerk reads: audit keeps a superseding file as accepted
        rule = got_rule(status, receipt)
        warnings = sorted({i["rule"] for i in receipt["issues"] if i["level"] == "warning"})
        got = f"{status} {rule or ''}".strip() + (f" (warning {', '.join(warnings)})" if warnings else "")
        ok = (status, rule, n_rows) == (case.status, case.rule, sum(case.loaded.values())) \
            and warnings == sorted(case.warnings)
        if not ok:
            mismatches.append(case)
        seconds, first = done[file_id]
        if status == "rejected":
            rejections.append((seconds, shown))
        print(f"{shown:44} {expected:34} {got:48} {n_rows:>9,} {'~' if first else ' '}{seconds:7.2f}"
              f"{'' if ok else '  ✗ MISMATCH'}")

    printed = proc.stdout.count("回执 Receipt:")
    slowest = max(rejections, default=(0.0, "-"))
    print(f"\nexit code {proc.returncode} (expected 1: some files are rejected); wall {wall:.1f}s")
    print(f"files {len(cases)}, receipts printed {printed}, audit rows {len(audit)}")
    print("ratios:")
    print(f"  peak RSS           = {peak_mb:.0f} MB = {peak_mb / RSS_TARGET_MB:.2f} of the 1 GB target (<= 1)")
    print(f"  slowest rejection  = {slowest[0]:.2f}s ({slowest[1]}) = {slowest[0] / REJECTION_TARGET_S:.3f} "
          f"of the 60 s target (<= 1)")
    print(f"  receipts as expected: {len(cases) - len(mismatches)}/{len(cases)}")
    if proc.returncode not in (0, 1):
        errors = [line for line in proc.stderr.splitlines() if " WARNING " in line or " ERROR " in line
                  or line.startswith("openecon:")]
        print("the CLI failed:\n  " + "\n  ".join(errors[-8:]))
    failed = (mismatches or proc.returncode != 1 or printed != len(cases) or len(audit) != len(cases)
              or peak_mb > RSS_TARGET_MB or slowest[0] > REJECTION_TARGET_S)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
