"""The quality gate step: every Great Expectations suite as one checkpoint."""

from __future__ import annotations

from core.settings import Settings
from expectations.runner import GateResult, run_checkpoint
from flows.warehouse import prepare


def quality_gate(settings: Settings, triggered_by: str = "cli") -> GateResult:
    """Run the Great Expectations suites (raw, staging, marts) as one checkpoint.

    The results are stored in audit.quality_runs / audit.quality_results with the data
    version checked (``triggered_by``: 'cli' or '<dag_id>/<run_id>'); the caller decides
    what failure means, and the documents refuse to publish without a passing run.
    """
    prepare(settings)
    return run_checkpoint(settings, triggered_by=triggered_by)
