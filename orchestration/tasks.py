"""Airflow task bodies that are more than one call: a report DAG's task."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowSkipException

from core.settings import get_settings
from flows import publishing


def report_task(report: str, params: dict, dag_run) -> dict:
    """Run ``flows.publishing.<report>`` (monthly_report, quarterly_bulletin, appraisal) as a
    report DAG's task: the ``period`` param or the computed default, and a skip with the
    reason when there is nothing to publish (never an empty document, never a failure)."""
    try:
        return getattr(publishing, report)(get_settings(), params["period"] or None, dag_run.run_after)
    except publishing.NothingToPublish as exc:
        raise AirflowSkipException(str(exc)) from exc
