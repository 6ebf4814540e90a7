"""The shape every report DAG shares: on the marts asset or a calendar, one render task.

The DAG files keep what differs (id, calendar, period pattern, docs); imported at parse
time, so nothing here imports the report stack until a task runs.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from core.constants import TIMEZONE, WAREHOUSE_POOL
from core.periods import MONTH_PARAM_PATTERN, QUARTER_PARAM_PATTERN, YEAR_OR_QUARTER_PARAM_PATTERN
from orchestration.assets import MARTS
from orchestration.callbacks import default_args

START_DATE = pendulum.datetime(2025, 1, 1, tz=TIMEZONE)
_DEFAULT = "not after the month before the trigger"
# The ``period`` param of each kind of report: its pattern and what an empty value means.
PERIODS = {
    "month": (MONTH_PARAM_PATTERN, f"Month YYYY-MM; empty = newest month with figures, {_DEFAULT}"),
    "quarter": (QUARTER_PARAM_PATTERN, f"Quarter YYYYQn; empty = newest complete quarter, {_DEFAULT}"),
    "year_or_quarter": (YEAR_OR_QUARTER_PARAM_PATTERN, "As of quarter YYYYQn, or YYYY for the year; empty = "
                        f"newest quarter-end with figures, {_DEFAULT}"),
}


ALLOW_INCOMPLETE_HELP = ("Publish even when the period's province totals leave cities out (not reported, "
                         "1–2月 not covered): each such figure then carries a note naming them. Off: the run "
                         "fails with the cities named. 数据不完整时仍发布（注明未包含的市州）")


def report_dag(dag_id: str, *, cron: str, period: str, report: str, task_id: str, tags: list[str], doc_md: str):
    """A report DAG: runs on ``openecon_marts`` or at ``cron`` (local time), with a ``period`` param
    of a kind in PERIODS and an ``allow_incomplete`` param; its one task runs
    ``flows.publishing.<report>`` (skipped with the reason when there is nothing to publish, failed
    with the cities named when the period is incomplete and ``allow_incomplete`` is off)."""
    period_pattern, period_help = PERIODS[period]

    @dag(
        dag_id=dag_id,
        schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone=TIMEZONE), assets=[MARTS]),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        params={"period": Param("", type="string", pattern=period_pattern, description=period_help),
                "allow_incomplete": Param(False, type="boolean", description=ALLOW_INCOMPLETE_HELP)},
        default_args=default_args(),
        tags=["openecon", *tags],
        doc_md=doc_md,
    )
    def report_pipeline():
        @task(task_id=task_id, pool=WAREHOUSE_POOL)
        def render(params=None, dag_run=None) -> dict:
            # imported when the task runs: the report stack would slow every DAG file parse
            from orchestration.tasks import report_task

            return report_task(report, params, dag_run)

        render()

    return report_pipeline()
