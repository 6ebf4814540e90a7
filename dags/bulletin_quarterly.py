"""
### Quarterly bulletin (一季一通报)

Renders 关于YYYY年X季度全省开放型经济主要指标完成情况的通报 (HTML, PDF, XLSX into
`output/bulletins`) when the marts were rebuilt and passed the gate (the **openecon_marts**
asset), and on 15 January, April, July and October at 09:00 as a calendar fallback.

* **period** — the quarter (`YYYYQn`). Empty = the newest quarter whose quarter-end month has
  figures in `marts.quarterly_bulletin`, not after the month before the run's trigger time:
  a quarter is complete once its last month is in, so a rebuild in October (with September
  in) publishes Q3, and a rebuild in November re-checks Q3 (no new version unless its data changed).

A quarter without figures is skipped with the reason, never published empty. Transient
database errors are retried with backoff; failures land in `audit.pipeline_failures`.

一季一通报：集市层更新并通过质量关口后（或每季度首月15日）自动生成最近一个完整季度的通报；
季度末月无数据时跳过并说明原因；数据未变化时不生成新版本。
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from openecon.airflow_runtime import WAREHOUSE_POOL
from openecon.assets import MARTS
from openecon.callbacks import default_args

TZ = "Asia/Shanghai"


@dag(
    dag_id="bulletin_quarterly",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 9 15 1,4,7,10 *", timezone=TZ),
                                 assets=[MARTS]),
    start_date=pendulum.datetime(2025, 1, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    params={"period": Param("", type="string", pattern=r"^(\d{4}Q[1-4])?$",
                            description="Quarter YYYYQn; empty = newest complete quarter, "
                                        "not after the month before the trigger")},
    default_args=default_args(),
    tags=["openecon", "bulletin", "quarterly"],
    doc_md=__doc__,
)
def bulletin_quarterly():
    @task(pool=WAREHOUSE_POOL)
    def render_quarterly_bulletin(params=None, dag_run=None) -> dict:
        from openecon import publishing

        return publishing.in_task(publishing.quarterly_bulletin, params, dag_run)

    render_quarterly_bulletin()


bulletin_quarterly()
