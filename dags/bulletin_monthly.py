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
* **allow_incomplete** — `false` (default): when a province total of the period would leave
  cities out (a city not reported, 1–2月 not covered, a month missing from a trade year to date)
  the task fails at once with the cities named (in Chinese and English) and nothing is written;
  `true`: it publishes, each such figure with a note naming the cities not included.

A period without figures in the marts is skipped with the reason, never published empty.
Re-rendering unchanged data reuses the version (no new files); changed data gives v2 with
the changed figures listed. Transient database errors are retried with backoff; failures
land in `audit.pipeline_failures`.

一月一调度：集市层更新并通过质量关口后（或每月12日）自动生成上月全省招商引资项目调度情况；
报告期默认取集市层中有数据的最新月份（不晚于触发时间的上月），无数据的月份跳过并说明原因。
"""

from __future__ import annotations

# An Airflow DAG file: the report DAG's shape is orchestration.report_dags.report_dag.
from orchestration.report_dags import report_dag

bulletin_monthly = report_dag("bulletin_monthly", cron="0 9 12 * *", period="month", report="monthly_report",
                              task_id="render_scheduling_report", tags=["bulletin", "monthly"], doc_md=__doc__)
