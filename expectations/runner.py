"""Run the suites as one GX checkpoint against the warehouse and build Data Docs."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from core.in_force import current, in_force
from core.settings import Settings
from expectations import store
from expectations.offline_docs import localize
from expectations.suites import all_suites

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
CHECKPOINT = "openecon_gate"
DOCS_SITE = "openecon_docs"
# A windowed suite is validated through a view of its window in this schema, which exists only
# while a gate runs (a lasting view would block a migration that changes a column it reads).
# GX reads a query asset's columns by running the whole query and fetching its rows
# (great_expectations' column_reflection_fallback): 2.7 GB and seconds for a window of 30 M
# rows; a view's columns come from the catalog.
SCOPE_SCHEMA = "quality_scope"
GATE_LOCK = "openecon.quality_gate"  # one gate at a time: they share the scope views and audit rows


@dataclass
class Failure:
    suite: str
    table: str
    expectation: str  # the rule name of a cross-row rule, else the GX expectation type
    column: str | None
    severity: str
    observed: object
    unexpected_count: int | None
    sample: list
    exception: str | None = None

    def line(self) -> str:
        col = f" column {self.column}" if self.column else ""
        if self.exception:
            return f"[{self.severity}] {self.expectation} on table {self.table}{col}: could not run: {self.exception}"
        sample = json.dumps(self.sample[:5], ensure_ascii=False, default=str)
        return (f"[{self.severity}] {self.expectation} on table {self.table}{col} (suite {self.suite}): "
                f"observed {self.observed!r}, {self.unexpected_count} failing, sample rows {sample}")


@dataclass
class GateResult:
    success: bool  # no blocking expectation failed
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    data_docs_index: str | None = None
    run_id: str | None = None
    data_version: dict | None = None
    suites: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # suites whose table does not exist yet
    seconds: float | None = None

    @property
    def blocking(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "blocking"]

    def summary(self) -> str:
        head = (f"quality gate: {'PASSED' if self.success else 'FAILED'} — {self.evaluated} expectations "
                f"in {len(self.suites)} suites, {len(self.blocking)} blocking failures, "
                f"{len(self.failures) - len(self.blocking)} warnings")
        if self.run_id:
            head += f" (run {self.run_id}, data version {(self.data_version or {}).get('hash')})"
        failures = sorted(self.failures, key=lambda f: f.severity != "blocking")
        lines = [head, *("  " + f.line() for f in failures)]
        lines += [f"  skipped suite {s}: its table does not exist yet" for s in self.skipped]
        if not self.success:
            lines.append("  nothing will be published from this data: fix it and run the build again")
        if self.data_docs_index:
            lines.append(f"  Data Docs: {self.data_docs_index}")
        return "\n".join(lines)


# The gate runs alone, after dbt, so a core would sit idle while one scan checks the month's
# millions of trade rows. Its rule queries end in LIMIT, which makes Postgres rank plans by the
# cost of their first row, and its estimates of the rows failing a rule are high (a code list
# of 250 values is taken for 250 independent tests): both made a parallel scan look dearer than
# a serial one. Free parallel set-up and transfer let the scans of the window use both cores
# (the month's 2.2 M raw trade rows: 5.8 -> 4.5 s); tables under min_parallel_table_scan_size stay
# serial.
GATE_PLANNER = "-c parallel_setup_cost=0 -c parallel_tuple_cost=0"


def _context(settings: Settings):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    # GX announces every API function at import at INFO level; that is noise in task logs.
    logging.getLogger("great_expectations._docs_decorators").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    settings.gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(settings.gx_dir))
    site_config = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(settings.data_docs_dir)},
    }
    # No config variables file: the connection string comes from settings on every run, and GX
    # read and parsed that file (its template, comments only) once per substitution: 580 times a gate.
    if context.variables.progress_bars != ProgressBarsConfig(globally=False) \
            or context.variables.config_variables_file_path is not None:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.config_variables_file_path = None
        context.variables.save()
    sites = context.list_data_docs_sites()
    if DOCS_SITE not in sites:
        context.add_data_docs_site(site_name=DOCS_SITE, site_config=site_config)
    elif sites[DOCS_SITE] != site_config:
        context.update_data_docs_site(site_name=DOCS_SITE, site_config=site_config)
    for other in [s for s in sites if s != DOCS_SITE]:
        context.delete_data_docs_site(other)
    return context


# On the first run raw is checked on the latest periods only: every raw row already passed
# intake's validation, and a full pass over 4.5 M trade rows would cost minutes per build.
FIRST_RUN_PERIODS = 1
SAMPLE_ROWS = 10


def raw_scope(conn) -> tuple[dict, str, list[str], list[int]]:
    """Which raw rows this run validates: (description, SQL condition on file_id, their months,
    the file ids).

    The files in force that no passing run has covered yet (file ids only grow, so a
    passing run covers every file up to its data version's max_file_id); on the first
    run, the files of the latest FIRST_RUN_PERIODS periods. The months (YYYY-MM) let a
    partitioned raw table be read in those months' partitions only.
    """

    last = store.last_passed_max_file_id(conn)
    files = in_force(conn)
    if last is not None:
        ids = [f["file_id"] for f in files if f["file_id"] > last]
        scope = {"rule": "files in force not checked by a passing run", "after_file_id": last}
    else:
        keep = sorted({f["period"] for f in files if f["period"]})[-FIRST_RUN_PERIODS:]
        ids = [f["file_id"] for f in files if f["period"] in keep]
        scope = {"rule": f"first run: files in force of the latest {FIRST_RUN_PERIODS} periods", "periods": keep}
    scope["files"] = len(ids)
    if not ids:
        return scope, "false", [], ids
    chosen = set(ids)
    months = sorted({f["period"] for f in files if f["file_id"] in chosen and f["period"]})
    # the literal range lets Postgres use the BRIN index on raw.trade(file_id)
    return scope, f"file_id between {min(ids)} and {max(ids)} and file_id in ({', '.join(map(str, ids))})", months, ids


PROJECT_FACTS = "marts.fct_project_month"


def project_month_scope(conn, window_ids: list[int]) -> tuple[dict, str]:
    """Which rows of marts.fct_project_month this run checks: (description, SQL condition).

    A build appends the new ledgers' rows and rebuilds a city's rows from a corrected (or late)
    ledger's month on; rows before that never change. So the rows to check are, per city, those
    from the earliest ledger of the window (the files not yet covered by a passing run) on. The
    whole table is checked when no run passed yet, or when the table is not the one the last
    pass checked (its oid changed: a full refresh recreated it, a rebuild may have changed any row).
    """
    oid = conn.execute("SELECT to_regclass(%s)::oid", [PROJECT_FACTS]).fetchone()[0]
    last = store.last_passed_scope(conn)
    checked_oid = ((last or {}).get("marts") or {}).get(PROJECT_FACTS, {}).get("oid")
    if oid is None or checked_oid != oid:
        return {"oid": oid, "rule": "whole table (no passing run on this table yet)"}, "true"
    first = dict(conn.execute(
        """SELECT city_code, min(period) FROM audit.submissions_in_force
           WHERE kind = 'workbook' AND file_id = ANY(%s) GROUP BY city_code""", [window_ids]).fetchall())
    if not first:
        return {"oid": oid, "rule": "no new ledger", "from_period": {}}, "false"
    cond = " or ".join(f"(city_code = '{c}' and period >= '{p}')" for c, p in sorted(first.items()))
    return {"oid": oid, "rule": "per city, from its earliest ledger not checked by a passing run",
            "from_period": first}, f"({cond})"


# Data Docs keep the validation pages of the latest runs; audit.quality_results keeps them all.
# Without a bound, every gate run adds a page per suite and the index rebuild grows with history.
KEEP_DOCS_RUNS = 20
RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


def prune_history(settings: Settings, keep: int = KEEP_DOCS_RUNS) -> int:
    """Delete stored GX validation results and their Data Docs pages beyond the latest ``keep`` runs."""
    roots = [settings.gx_dir / "gx" / "uncommitted" / "validations", settings.data_docs_dir / "validations"]
    dirs = [d for root in roots if root.exists() for d in root.rglob("*") if d.is_dir() and RUN_ID_RE.match(d.name)]
    newest = set(sorted({d.name for d in dirs})[-keep:]) if keep > 0 else set()
    old = [d for d in dirs if d.name not in newest]
    for d in old:
        shutil.rmtree(d, ignore_errors=True)
    return len(old)


def _relation_exists(conn, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
    return bool(row[0])


def _plain(value):
    """A sample cell as people read it: 1.377038, not Decimal('1.37703800000000000000')."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    return value


def run_checkpoint(settings: Settings, triggered_by: str = "cli") -> GateResult:
    """Run every suite as one GX checkpoint, store the results in audit.quality_*, build Data Docs."""
    # Table assets name their schema (marts, staging, ...) on one datasource;
    # GX 1.24 deprecates schema_name in favour of one datasource per schema.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`schema_name` is deprecated", category=DeprecationWarning)
        return _run_checkpoint(settings, triggered_by)


def _run_checkpoint(settings: Settings, triggered_by: str) -> GateResult:
    import psycopg


    t0 = time.monotonic()
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", [GATE_LOCK])  # released when conn closes
        dv = current(conn)
        scope, window, months, ids = raw_scope(conn)
        project_scope, project_window = project_month_scope(conn, ids)
        scope["marts"] = {PROJECT_FACTS: project_scope}
        specs, skipped = [], []
        for spec in all_suites(window, months, project_window):
            if spec.requires and not _relation_exists(conn, spec.requires):
                log.warning("quality gate: skipping suite %s, %s does not exist yet", spec.name, spec.requires)
                skipped.append(spec.name)
            else:
                specs.append(spec)
        store.start_run(conn, run_id, started, dv, triggered_by, scope)
        prune_history(settings, KEEP_DOCS_RUNS - 1)  # this run makes it KEEP_DOCS_RUNS
        try:
            result, rows = _checkpoint(settings, specs, scope_views(conn, specs), run_id, started, dv)
        except BaseException:
            # a crashed run is a failed run: no bulletin may rely on an older pass of this data
            conn.execute("UPDATE audit.quality_runs SET finished_at = now(), success = false WHERE run_id = %s",
                         [run_id])
            raise
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCOPE_SCHEMA} CASCADE")
        result.run_id, result.data_version, result.skipped = run_id, dv, skipped
        result.seconds = round(time.monotonic() - t0, 2)
        store.finish_run(conn, run_id, result, rows, datetime.now(UTC))
    log.info("%s\n  raw scope: %s; %.1f s", result.summary(), scope, result.seconds)
    return result


def _exception_message(info) -> str | None:
    """GX keeps an expectation's error either flat or keyed by the metric that raised it."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"]).split("\n[SQL")[0][:2000]
    return None


def _column_of(kwargs: dict) -> str | None:
    if kwargs.get("column"):
        return kwargs["column"]
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def scope_views(conn, specs: list) -> dict[str, tuple[str, str]]:
    """(schema, view) of each windowed suite's window, created afresh in SCOPE_SCHEMA (dropped
    again when the run ends; a killed run's views are dropped by the next)."""
    conn.execute(f"DROP SCHEMA IF EXISTS {SCOPE_SCHEMA} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCOPE_SCHEMA}")
    views = {}
    for spec in specs:
        if spec.query:
            view = spec.name.replace(".", "__")
            conn.execute(f'CREATE VIEW {SCOPE_SCHEMA}."{view}" AS {spec.query}')
            views[spec.name] = (SCOPE_SCHEMA, view)
    return views


# Registering the suites, validation definitions and checkpoint with GX compares each stored
# expectation with its new one (pydantic dicts, quadratic in a suite's size) and rewrites its
# YAML and JSON: about 3 s a gate. They change only when the code or the window's views do, so
# the gate registers them again only when their fingerprint differs from the last registration's.
def _registration_mark(settings: Settings):
    return settings.gx_dir / "registered_suites.sha256"


def _registration_fingerprint(specs: list, views: dict[str, tuple[str, str]]) -> str:
    import hashlib

    import great_expectations as gx

    described = [gx.__version__, CHECKPOINT, SAMPLE_ROWS]
    for spec in specs:
        described.append([spec.name, spec.table_name, spec.layer, views.get(spec.name, (spec.schema, spec.table)),
                          [e.configuration.to_json_dict() for e in spec.expectations]])
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def _registered_checkpoint(context, settings: Settings, fingerprint: str):
    """The checkpoint as last registered, when the suites are still those; else None."""
    mark = _registration_mark(settings)
    if not mark.exists() or mark.read_text() != fingerprint:
        return None
    try:
        return context.checkpoints.get(CHECKPOINT)
    except Exception:  # removed or unreadable since: register everything again
        log.info("quality gate: checkpoint %s not found as registered; registering again", CHECKPOINT)
        return None


def _register(context, ds, specs: list, views: dict[str, tuple[str, str]]) -> None:
    """Add or update each suite's asset, batch definition, suite and validation definition, and the
    checkpoint running them all (run it as a new context reads it: see _checkpoint)."""
    import great_expectations as gx

    validation_definitions = []
    for spec in specs:
        schema, table = views.get(spec.name, (spec.schema, spec.table))
        asset = next((a for a in ds.assets if a.name == spec.name), None)
        if asset is not None and (getattr(asset, "table_name", None), getattr(asset, "schema_name", None)) \
                != (table, schema):  # a suite that became windowed, or an asset of an older version
            ds.delete_asset(spec.name)
            asset = None
        if asset is None:
            asset = ds.add_table_asset(name=spec.name, table_name=table, schema_name=schema)
        batch_def = next((b for b in asset.batch_definitions if b.name == "whole_table"), None)
        if batch_def is None:
            batch_def = asset.add_batch_definition_whole_table("whole_table")
        suite = gx.ExpectationSuite(name=spec.name, expectations=list(spec.expectations),
                                    meta={"table": spec.table_name, "layer": spec.layer})
        suite = context.suites.add_or_update(suite)
        vd = gx.ValidationDefinition(name=spec.name, data=batch_def, suite=suite)
        validation_definitions.append(context.validation_definitions.add_or_update(vd))

    context.checkpoints.add_or_update(gx.Checkpoint(
        name=CHECKPOINT,
        validation_definitions=validation_definitions,
        actions=[],
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS},
    ))


def gx_run_identifier(run_id: str, started: datetime):
    """GX's name for the run, its time given: without one, GX parses the name as a date, and a
    name such as 20261207T032902Z-6024ad reads as an offset of -60:24 and crashes the gate."""
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_id, run_time=started)


def _checkpoint(settings: Settings, specs: list, views: dict[str, tuple[str, str]], run_id: str,
                started: datetime, dv: dict) -> tuple[GateResult, list[dict]]:
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    context = _context(settings)
    # The connection string is rebuilt from settings on every run, so a changed
    # OPENECON_DATABASE_URL (or password) takes effect immediately; replacing the datasource drops
    # its assets, so everything is registered again then.
    url = settings.warehouse.session_url("postgresql+psycopg2", GATE_PLANNER)
    ds = context.data_sources.all().get(DATASOURCE)
    fingerprint = _registration_fingerprint(specs, views)  # before GX gives the expectations ids
    checkpoint = None
    if ds is None or str(ds.connection_string) != url:
        ds = context.data_sources.add_or_update_postgres(name=DATASOURCE, connection_string=url)
    else:
        checkpoint = _registered_checkpoint(context, settings, fingerprint)
    if checkpoint is None:
        _register(context, ds, specs, views)
        _registration_mark(settings).write_text(fingerprint)
        # Run the checkpoint as a new context reads it from the project: in the context that
        # re-registered suites of an existing project, GX left an asset detached from it, and the
        # run failed with "Missing DataContext" (the first gate after every change of the suites).
        context = _context(settings)
        checkpoint = context.checkpoints.get(CHECKPOINT)
    run = checkpoint.run(run_id=gx_run_identifier(run_id, started))
    docs_start = time.time()
    # Data Docs once for the run's pages: GX's UpdateDataDocsAction rebuilds the site, index
    # included (every stored result read back), once per validation: 16 times, ~6 s a gate.
    context.build_data_docs(site_names=[DOCS_SITE], build_index=True, resource_identifiers=[
        *run.run_results, *(ExpectationSuiteIdentifier(name=vr.suite_name) for vr in run.run_results.values())])

    localize(settings.data_docs_dir, since=docs_start)  # GX's pages load CDN files; auditors may be offline

    by_name = {s.name: s for s in specs}
    failures: list[Failure] = []
    rows: list[dict] = []
    for vr in run.run_results.values():
        spec = by_name[vr.suite_name]
        for r in vr.results:
            cfg = r.expectation_config
            res = r.result or {}
            meta = cfg.meta or {}
            exception = _exception_message(r.exception_info)
            if "unexpected_rows_query" in cfg.kwargs:  # a cross-row rule: the rows are the sample
                count = res.get("observed_value")
                sample = [{k: _plain(v) for k, v in row.items()}
                          for row in list((res.get("details") or {}).get("unexpected_rows") or [])[:SAMPLE_ROWS]]
            else:
                count = res.get("unexpected_count")
                sample = list(res.get("partial_unexpected_list") or [])[:SAMPLE_ROWS]
            name = meta.get("rule") or cfg.type
            column = _column_of(cfg.kwargs)
            severity = meta.get("severity", "blocking")
            rows.append({
                "data_hash": dv["hash"], "suite": spec.name, "layer": spec.layer, "table_name": spec.table_name,
                "expectation": name, "expectation_id": cfg.id, "column_name": column, "severity": severity,
                "success": bool(r.success), "observed_value": res.get("observed_value"),
                "unexpected_count": count, "element_count": res.get("element_count"),
                "unexpected_sample": sample if not r.success else [], "expectation_type": cfg.type,
                "description": cfg.description, "exception": exception,
            })
            if not r.success:
                failures.append(Failure(suite=spec.name, table=spec.table_name, expectation=name, column=column,
                                        severity=severity, observed=res.get("observed_value"),
                                        unexpected_count=count, sample=sample, exception=exception))
    index = settings.data_docs_dir / "index.html"
    result = GateResult(
        success=not any(f.severity == "blocking" for f in failures),
        evaluated=len(rows),
        failures=failures,
        data_docs_index=str(index) if index.exists() else None,
        suites=[s.name for s in specs],
    )
    return result, rows
