"""Airflow task bodies that are more than one call: a report DAG's task."""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from core.settings import get_settings
from flows import publishing


def report_task(report: str, params: dict, dag_run) -> dict:
    """Run ``flows.publishing.<report>`` (monthly_report, quarterly_bulletin, appraisal) as a
    report DAG's task: the ``period`` param or the computed default, and the ``allow_incomplete``
    param.

    Nothing to publish is a skip with the reason (never an empty document, never a failure). An
    incomplete period without ``allow_incomplete`` fails the task at once (no retry) with the
    refusal, which names the cities and how to override: the document is due and is not out, so
    the run is red, recorded in audit.pipeline_failures and mailed like any failure.
    """
    try:
        return getattr(publishing, report)(get_settings(), params["period"] or None, dag_run.run_after,
                                           allow_incomplete=bool(params.get("allow_incomplete", False)))
    except publishing.NothingToPublish as exc:
        raise AirflowSkipException(str(exc)) from exc
    except publishing.IncompletePeriod as exc:
        raise AirflowFailException(str(exc)) from exc
