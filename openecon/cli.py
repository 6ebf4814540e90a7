"""The ``openecon`` command line."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

from core.settings import Settings, get_settings


def _warehouse() -> Settings:
    """The settings, with the database up and the audit migrations and raw tables applied:
    what every command that touches the warehouse does first."""
    from core.postgres import ensure_database
    from flows.warehouse import prepare

    settings = get_settings()
    ensure_database(settings)
    prepare(settings)
    return settings


def cmd_db(args) -> int:
    from core.postgres import EmbeddedPostgres, ensure_database

    settings = get_settings()
    if not settings.embedded:
        w = settings.warehouse
        if args.action == "url":
            print(settings.warehouse.url())
        elif args.action == "start":
            ensure_database(settings)
            print(f"external Postgres at {w.host}:{w.port} (OPENECON_DATABASE_URL); databases ready")
        else:
            print(f"external Postgres at {w.host}:{w.port} (OPENECON_DATABASE_URL); nothing to {args.action}")
        return 0
    pg = EmbeddedPostgres(settings)
    if args.action == "start":
        pg.start()
        print(pg.status_text())
    elif args.action == "stop":
        pg.stop()
        print(pg.status_text())
    elif args.action == "status":
        print(pg.status_text())
        return 0 if pg.running() else 3
    elif args.action == "url":
        print(settings.warehouse.url())
    return 0


def cmd_sample(args) -> int:
    from samples.generate import generate

    files = generate(Path(args.out), args.from_, args.to, seed=args.seed, scale=args.scale,
                     with_errors=args.with_errors, cities=args.cities)
    print(f"wrote {len(files)} files under {args.out}")
    if args.with_errors:
        print(f"planted mistakes are listed in {Path(args.out) / 'planted_errors.json'}")
    return 0


def cmd_template(args) -> int:
    from ingestion.template import write_templates

    for path in write_templates(Path(args.out), args.city):
        print(f"wrote {path}")
    return 0


def cmd_ingest(args) -> int:
    from ingestion.load import ingest_paths, status_counts

    # A mistyped path is the caller's slip, not a file received: said before anything is loaded.
    if missing := [p for p in args.paths if not Path(p).exists()]:
        for p in missing:
            print(f"路径不存在 no such file or folder: {p}")
        print("未处理任何文件 nothing was ingested")
        return 2
    receipts = ingest_paths([Path(p) for p in args.paths], _warehouse(), allow_shrink=args.allow_shrink)
    for r in receipts:
        print(r.text())
    print("汇总 summary: " + ", ".join(f"{k} {v}" for k, v in status_counts(receipts).items()))
    return 0 if all(r.ok for r in receipts) else 1


def cmd_return(args) -> int:
    import getpass

    import psycopg

    from ingestion.returns import return_file

    settings = _warehouse()
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        try:
            receipt = return_file(conn, args.file_id, returned_by=args.by or getpass.getuser(),
                                  reason=args.reason, settings=settings)
        except ValueError as exc:
            print(exc)
            return 1
    print(receipt.text())
    return 0


def cmd_build(args) -> int:
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    from flows import transform

    settings = _warehouse()
    # The gate imports Great Expectations (≈ 4 s of CPU): done while dbt builds, in a subprocess
    # this process only waits on, rather than before dbt starts.
    with ThreadPoolExecutor(1, thread_name_prefix="import-gate") as pool:
        gate = pool.submit(importlib.import_module, "flows.quality")
        started = time.perf_counter()
        transform.dbt_build(settings, full_refresh=args.full_refresh)
        built = time.perf_counter()
        quality = gate.result()  # an import error is raised here
    result = quality.quality_gate(settings)
    print(result.summary())
    print(f"dbt build {built - started:.1f} s, quality gate {time.perf_counter() - built:.1f} s")
    return 0 if result.success else 1


def cmd_docs(args) -> int:
    from flows import transform

    out = transform.dbt_docs(_warehouse())
    print(f"dbt docs:  {out / 'static_index.html'}  (one file, opens offline)")
    print(f"           {out / 'index.html'}  (serve the folder: python -m http.server -d {out})")
    return 0


def cmd_bulletin(args) -> int:
    from reports.bulletin import render

    result = render(_warehouse(), args.period, Path(args.out) if args.out else None,
                    allow_incomplete=args.allow_incomplete)
    state = "unchanged data, same version" if result["reused"] else "rendered"
    print(f"v{result['version']} ({state}); data version {result['data_version']['hash']}, "
          f"{result['data_version']['files']} files")
    _print_published(result)
    return 0


def _print_published(result: dict) -> None:
    """The files, then what the version says about its data: incomplete cities, corrections, changes."""
    for path in result["paths"]:
        print(f"  {path}")
    for c in result.get("incomplete", []):
        if "city_name" in c:
            print(f"  incomplete: {c['city_name']}（{c['city_code']}）：{'；'.join(c['details'])}")
    for c in result.get("corrections", [])[:20]:
        files = "、".join(f["file_name"] for f in c["files"]) or "-"
        print(f"  更正 corrected: {c['figure']} {c['old_text']} → {c['new_text']} ({c['difference_text']} "
              f"{c['unit']}), {files}")
    for line in result["changes"][:20]:
        print(f"  changed: {line}")


def cmd_audit(args) -> int:
    from core.postgres import ensure_database
    from reports.audit_report import render

    settings = get_settings()
    ensure_database(settings)  # read-only: on an empty warehouse the report says so and creates nothing
    result = render(settings, args.period, Path(args.out) if args.out else None)
    for line in result["notices"]:
        print(line)
    s = result["summary"]
    print(f"auditor's report {args.period}: {s['files']} files, {s['superseded']} superseded, "
          f"{s['rejected_rows']} rejected rows, {s['quality_runs']} quality runs, {s['bulletins']} bulletin versions")
    for path in result["paths"]:
        print(f"  {path}")
    return 0


def cmd_trace(args) -> int:
    from reports import data, trace

    settings = _warehouse()  # migrated: a trace may rebuild a version (flows.reproduce), which reads returns
    with data.connect(settings) as conn:
        if args.figure:  # a figure of a published version, as published: <document version>/<figure id>
            from reports import trace_figures

            key, _, fid = args.figure.rpartition("/")
            row = trace_figures.published(conn, key, fid)
            print(trace_figures.published_text(row))
            if args.rows:
                if not (row["trace"] or {}).get("files"):
                    print("无源数据行：派生数据（同比、进度、位次），请溯源其计算依据 / "
                          "no rows: a derived figure, trace its inputs")
                    return 1
                if trace.rows_left_force(conn, row["trace"]):
                    # the workbook rows of a file superseded or returned since: from the marts as of then
                    import psycopg

                    from flows.reproduce import rebuild_as_of

                    print(f"报送文件已更正或退回，按发布时数据重建（约1分钟） files replaced since: rebuilding the "
                          f"marts as of {key} …")
                    _, scratch, _ = rebuild_as_of(settings, key)
                    with psycopg.connect(**scratch.warehouse.conninfo(), autocommit=True) as then:
                        _print_rows(then, row["trace"], args.rows)
                    return 0
                _print_rows(conn, row["trace"], args.rows)
            return 0
        if not (args.kpi and args.city and args.period):
            raise SystemExit("openecon trace: give --figure, or --kpi, --city and --period")
        t = trace.trace(conn, settings, args.kpi, args.city, args.period)
        print(trace.text(t))
        if args.rows:
            _print_rows(conn, t, args.rows)
    return 0


def cmd_reproduce(args) -> int:
    from flows.reproduce import reproduce

    settings = _warehouse()  # migrated first: the files in force then are read with their returns
    r = reproduce(settings, args.version, Path(args.out) if args.out else None)
    print(f"{r['version']}: rebuilt from the {r['files']} files in force then (data version {r['data_version']['now']}"
          f", published {r['data_version']['then']}); {r['figures']} figures compared")
    for p in r["paths"]:
        print(f"  {p}")
    if r["identical"]:
        print("identical / 与发布版本一致")
        return 0
    print(f"{len(r['differences'])} figures differ / 以下数据与发布版本不一致:")
    for d in r["differences"][:50]:
        print(f"  {d['figure']}: published {d['published']} → reproduced {d['reproduced']}")
    for why in r["reasons"] or ["原因不明 no recorded cause (same files, seeds and rules)"]:
        print(f"  原因 why: {why}")
    return 1


def _print_rows(conn, t: dict, path: str) -> None:
    """Write a trace's source rows and say the figure they reproduce."""
    from reports import trace

    n, figure = trace.write_rows(conn, t, Path(path))
    value, unit = t["cell"]["value_ytd"], t["definition"]["unit"]
    print(f"源数据行 source rows: {n} → {path}（由这些行复算 reproduced from the rows: "
          f"{trace.like(figure, value)} {unit}；figure {value}）")


def cmd_demo(args) -> int:
    from openecon import demo

    return demo.run()


def cmd_airflow(args) -> int:
    from core.postgres import ensure_database
    from orchestration import runtime as airflow_runtime

    settings = get_settings()
    ensure_database(settings)
    if args.cli:  # `openecon airflow backfill create ...`: Airflow's own CLI on our metadata DB and DAGs
        exe = Path(sys.executable).with_name("airflow")
        return subprocess.call([str(exe), *args.cli], env=settings.child_env())
    return airflow_runtime.serve(settings, args.port or airflow_runtime.ui_port())


def cmd_portal(args) -> int:
    from core.postgres import ensure_database
    from portal import server

    settings = get_settings()
    ensure_database(settings)
    if args.portal_command is None:
        return server.serve(settings, args.host, args.port)
    if args.user_command == "add":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        try:
            password = server.add_user(settings, args.login, args.role, args.city, password)
        except ValueError as exc:
            print(f"openecon portal: {exc}", file=sys.stderr)
            return 1
        print(f"created {args.role} {args.login}" + (f" ({args.city})" if args.city else ""))
        if not args.password_stdin:
            print(f"password (shown once): {password}")
    return 0


def cmd_contract(args) -> int:
    from ingestion.contract import SOURCES_YML, dbt_sources_yml

    SOURCES_YML.write_text(dbt_sources_yml(), encoding="utf-8")
    print(f"wrote {SOURCES_YML}")
    return 0


def cmd_appraisal(args) -> int:
    from core.periods import validate_quarter
    from reports.appraisal import render

    result = render(_warehouse(), validate_quarter(args.period), Path(args.out) if args.out else None,
                    allow_incomplete=args.allow_incomplete)
    print(f"v{result['version']} ({'unchanged data, same version' if result['reused'] else 'rendered'}); "
          f"data version {result['data_version']['hash']}")
    _print_published(result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openecon", description="Open-economy KPI warehouse")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="embedded Postgres: start | stop | status | url")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=cmd_db)

    sample = sub.add_parser("sample", help="write realistic sample submissions")
    sample.add_argument("--out", required=True)
    sample.add_argument("--from", dest="from_", required=True, metavar="YYYY-MM")
    sample.add_argument("--to", required=True, metavar="YYYY-MM")
    sample.add_argument("--seed", type=int, default=42)
    sample.add_argument("--scale", type=float, default=1.0,
                        help="multiplies trade detail rows and projects (10 ≈ 1 M trade rows for Changsha)")
    sample.add_argument("--with-errors", action="store_true", help="plant a known set of realistic mistakes")
    sample.add_argument("--cities", nargs="+", metavar="CODE", help="only these city codes")
    sample.set_defaults(func=cmd_sample)

    template = sub.add_parser("template", help="write the blank submission templates")
    template.add_argument("--out", required=True)
    template.add_argument("--city", help="city code: drop-downs list that city's counties and parks")
    template.set_defaults(func=cmd_template)

    ingest = sub.add_parser("ingest", help="validate and load files or folders; one receipt per file")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--allow-shrink", action="store_true",
                        help="let a correction remove most of the rows it replaces (recorded on the receipt)")
    ingest.set_defaults(func=cmd_ingest)

    ret = sub.add_parser("return", help="return (退回) a file in force to its city: it stops counting until a new "
                                        "file arrives")
    ret.add_argument("file_id", type=int, help="the file id on its receipt")
    ret.add_argument("--reason", required=True, help="why, in words the city clerk reads (Chinese)")
    ret.add_argument("--by", help="who returns it (default: the login name)")
    ret.set_defaults(func=cmd_return)

    build = sub.add_parser("build", help="dbt build + Great Expectations checkpoint")
    build.add_argument("--full-refresh", action="store_true",
                       help="rebuild incremental models from scratch (after revising a seed or upgrading)")
    build.set_defaults(func=cmd_build)

    docs = sub.add_parser("docs", help="generate the dbt docs site into output/dbt_docs")
    docs.set_defaults(func=cmd_docs)

    # the documents: each takes a period and an optional output folder
    for name, about, periods, out, func in (
        ("bulletin", "quarterly bulletin (YYYYQn) or monthly scheduling report (YYYY-MM)", "YYYY-MM|YYYYQn",
         "output/bulletins", cmd_bulletin),
        ("appraisal", "绩效考核 of the cities for a year as of a quarter (HTML, XLSX)", "YYYYQn|YYYY",
         "output/bulletins", cmd_appraisal),
        ("audit", "the auditor's report for a period (HTML, XLSX)", "YYYY-MM|YYYYQn", "output/audit", cmd_audit),
    ):
        document = sub.add_parser(name, help=about)
        document.add_argument("--period", required=True, metavar=periods)
        document.add_argument("--out", help=f"output folder (default: {out})")
        if name != "audit":  # the documents that print province totals refuse an incomplete period
            document.add_argument("--allow-incomplete", action="store_true",
                                  help="publish even when the period is incomplete (a city not reported, 1–2月 "
                                       "not covered): each province total then names the cities not included")
        document.set_defaults(func=func)

    tracer = sub.add_parser("trace", help="where a figure comes from: definition, formula, files, rows (溯源)")
    tracer.add_argument("--figure", metavar="VERSION/FIGURE",
                        help="a published figure, as published: e.g. quarterly/2025Q3/v1/trade_total.430000.2025-09."
                             "value_ytd (ids: the XLSX 溯源 sheet, the HTML's trace pages)")
    tracer.add_argument("--kpi", help="KPI code, e.g. trade_total")
    tracer.add_argument("--city", help="city code, 430000 for the province")
    tracer.add_argument("--period", metavar="YYYY-MM")
    tracer.add_argument("--rows", metavar="FILE.csv", help="also write every contributing source row")
    tracer.set_defaults(func=cmd_trace)

    rep = sub.add_parser("reproduce", help="rebuild a published version from the files in force then and "
                                           "compare every figure (复现)")
    rep.add_argument("version", help="e.g. quarterly/2025Q3/v1 or bulletin_2025Q3_v1")
    rep.add_argument("--out", help="where the re-rendered files go (default: output/reproduce)")
    rep.set_defaults(func=cmd_reproduce)

    demo = sub.add_parser("demo", help="db start + sample + the Airflow DAG, end to end")
    demo.set_defaults(func=cmd_demo)

    airflow = sub.add_parser("airflow", help="Airflow UI: airflow standalone on the configured Postgres (Ctrl-C stops)")
    airflow.add_argument("--port", type=int, help="UI port (default OPENECON_AIRFLOW_PORT or 8080)")
    airflow.add_argument("cli", nargs=argparse.REMAINDER, metavar="AIRFLOW_ARGS",
                         help="instead of the UI, run Airflow's CLI with these arguments "
                              "(e.g. backfill create --dag-id submissions_ingest ...)")
    airflow.set_defaults(func=cmd_airflow)

    portal = sub.add_parser("portal", help="the cities' submission portal (web); `portal user add` creates accounts")
    portal.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    portal.add_argument("--port", type=int, default=8800, help="port (default 8800)")
    portal_sub = portal.add_subparsers(dest="portal_command")
    user = portal_sub.add_parser("user", help="portal accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create an account; prints a generated password once")
    add.add_argument("--login", required=True)
    add.add_argument("--role", required=True, choices=["city_clerk", "province", "auditor"])
    add.add_argument("--city", help="city code, for a city_clerk (e.g. 430100)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin instead")
    portal.set_defaults(func=cmd_portal)

    contract = sub.add_parser("contract", help="regenerate the dbt sources yml from the contract")
    contract.add_argument("what", choices=["sources"])
    contract.set_defaults(func=cmd_contract)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Warnings and errors (e.g. an ingest's error reference with its traceback) go to stderr.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except Exception as exc:  # one clear line for users; the stack with OPENECON_DEBUG=1
        import os

        if os.environ.get("OPENECON_DEBUG"):
            raise
        print(f"openecon: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
