"""Run the suites as one GX checkpoint against the warehouse and build Data Docs."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field

from openecon.settings import Settings

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
CHECKPOINT = "openecon_gate"
DOCS_SITE = "openecon_docs"


@dataclass
class Failure:
    suite: str
    expectation: str
    column: str | None
    severity: str
    observed: object
    unexpected_count: int | None
    sample: list

    def line(self) -> str:
        col = f" column {self.column}" if self.column else ""
        return (f"[{self.severity}] {self.expectation} on {self.suite}{col}: observed {self.observed!r}, "
                f"unexpected {self.unexpected_count}, sample {self.sample[:5]!r}")


@dataclass
class GateResult:
    success: bool  # no blocking expectation failed
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    data_docs_index: str | None = None

    @property
    def blocking(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "blocking"]

    def summary(self) -> str:
        head = (f"quality gate: {'PASSED' if self.success else 'FAILED'} — {self.evaluated} expectations, "
                f"{len(self.blocking)} blocking failures, "
                f"{len(self.failures) - len(self.blocking)} warnings")
        lines = [head, *("  " + f.line() for f in self.failures)]
        if self.data_docs_index:
            lines.append(f"  Data Docs: {self.data_docs_index}")
        return "\n".join(lines)


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
    if context.variables.progress_bars != ProgressBarsConfig(globally=False):
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    sites = context.list_data_docs_sites()
    if DOCS_SITE not in sites:
        context.add_data_docs_site(site_name=DOCS_SITE, site_config=site_config)
    elif sites[DOCS_SITE] != site_config:
        context.update_data_docs_site(site_name=DOCS_SITE, site_config=site_config)
    for other in [s for s in sites if s != DOCS_SITE]:
        context.delete_data_docs_site(other)
    return context


def run_checkpoint(settings: Settings) -> GateResult:
    # Table assets name their schema (marts, staging, ...) on one datasource;
    # GX 1.24 deprecates schema_name in favour of one datasource per schema.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`schema_name` is deprecated", category=DeprecationWarning)
        return _run_checkpoint(settings)


def _run_checkpoint(settings: Settings) -> GateResult:
    import great_expectations as gx

    from expectations.suites import all_suites

    context = _context(settings)
    # The connection string is rebuilt from settings on every run, so a changed
    # OPENECON_DATABASE_URL (or password) takes effect immediately.
    ds = context.data_sources.add_or_update_postgres(
        name=DATASOURCE, connection_string=settings.warehouse.url("postgresql+psycopg2")
    )
    validation_definitions = []
    for spec in all_suites():
        asset = next((a for a in ds.assets if a.name == spec.name), None)
        if asset is None:
            asset = ds.add_table_asset(name=spec.name, table_name=spec.table, schema_name=spec.schema)
        batch_def = next((b for b in asset.batch_definitions if b.name == "whole_table"), None)
        if batch_def is None:
            batch_def = asset.add_batch_definition_whole_table("whole_table")
        suite = gx.ExpectationSuite(name=spec.name, expectations=list(spec.expectations))
        suite = context.suites.add_or_update(suite)
        vd = gx.ValidationDefinition(name=spec.name, data=batch_def, suite=suite)
        validation_definitions.append(context.validation_definitions.add_or_update(vd))

    checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
        name=CHECKPOINT,
        validation_definitions=validation_definitions,
        actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[DOCS_SITE])],
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 10},
    ))
    run = checkpoint.run()

    failures: list[Failure] = []
    evaluated = 0
    for vr in run.run_results.values():
        suite_name = vr.suite_name
        for r in vr.results:
            evaluated += 1
            if r.success:
                continue
            cfg = r.expectation_config
            res = r.result or {}
            failures.append(Failure(
                suite=suite_name,
                expectation=cfg.type,
                column=cfg.kwargs.get("column") or (
                    ",".join(cfg.kwargs["column_list"]) if "column_list" in cfg.kwargs else
                    f"{cfg.kwargs['column_A']},{cfg.kwargs['column_B']}" if "column_A" in cfg.kwargs else None),
                severity=(cfg.meta or {}).get("severity", "blocking"),
                observed=res.get("observed_value"),
                unexpected_count=res.get("unexpected_count"),
                sample=list(res.get("partial_unexpected_list") or []),
            ))
    index = settings.data_docs_dir / "index.html"
    result = GateResult(
        success=not any(f.severity == "blocking" for f in failures),
        evaluated=evaluated,
        failures=failures,
        data_docs_index=str(index) if index.exists() else None,
    )
    log.info("%s", result.summary())
    return result
