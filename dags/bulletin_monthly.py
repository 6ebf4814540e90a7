"""
### Monthly scheduling report (一月一调度)

Renders the province's monthly scheduling report (HTML, PDF, XLSX into `output/bulletins`)
when the marts were rebuilt and passed the gate (the **openecon_marts** asset), and on the
12th of each month at 09:00 as a calendar fallback (after the 5th–10th intake window).

* **period** — the month (`YYYY-MM`). Empty = the newest month that has figures in
  `marts.kpi_city_month`, but not after the month before the run's trigger time. An asset
  run has no logical date, and the newest month with figures is the one the rebuild just
  brought in (a late file of an earlier month re-renders the newest report, whose data
  version includes it); the cap keeps a calendar re-run or backfill on the month it was due for.

A period without figures in the marts is skipped with the reason, never published empty.
Re-rendering unchanged data reuses the version (no new files); changed data gives v2 with
the changed figures listed. Transient database errors are retried with backoff; failures
land in `audit.pipeline_failures`.

一月一调度：集市层更新并通过质量关口后（或每月12日）自动生成上月全省招商引资项目调度情况；
报告期默认取集市层中有数据的最新月份（不晚于触发时间的上月），无数据的月份跳过并说明原因。
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from openecon.airflow_runtime import WAREHOUSE_POOL
from openecon.assets import MARTS
from openecon.callbacks import default_args

TZ = "Asia/Shanghai"


@dag(
    dag_id="bulletin_monthly",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 9 12 * *", timezone=TZ), assets=[MARTS]),
    start_date=pendulum.datetime(2025, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    params={"period": Param("", type="string", pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$",
                            description="Month YYYY-MM; empty = newest month with figures, "
                                        "not after the month before the trigger")},
    default_args=default_args(),
    tags=["openecon", "bulletin", "monthly"],
    doc_md=__doc__,
)
def bulletin_monthly():
    @task(pool=WAREHOUSE_POOL)
    def render_scheduling_report(params=None, dag_run=None) -> dict:
        from openecon import publishing

        return publishing.in_task(publishing.monthly_report, params, dag_run)

    render_scheduling_report()


bulletin_monthly()
