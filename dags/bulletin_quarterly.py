"""
### Quarterly bulletin (一季一通报)

Renders 关于YYYY年X季度全省开放型经济主要指标完成情况的通报 (HTML, PDF, XLSX into
`output/bulletins`) when the marts were rebuilt and passed the gate (the **openecon_marts**
asset), and on 15 January, April, July and October at 09:00 as a calendar fallback.

* **period** — the quarter (`YYYYQn`). Empty = the newest quarter whose quarter-end month has
  figures in `marts.quarterly_bulletin`, not after the month before the run's trigger time:
  a quarter is complete once its last month is in, so a rebuild in October (with September
  in) publishes Q3, and a rebuild in November re-checks Q3 (no new version unless its data changed).
* **allow_incomplete** — `false` (default): when a province total of the period would leave
  cities out (a city not reported, 1–2月 not covered, a month missing from a trade year to date)
  the task fails at once with the cities named (in Chinese and English) and nothing is written;
  `true`: it publishes, each such figure with a note naming the cities not included.

A quarter without figures is skipped with the reason, never published empty. Transient
database errors are retried with backoff; failures land in `audit.pipeline_failures`.

一季一通报：集市层更新并通过质量关口后（或每季度首月15日）自动生成最近一个完整季度的通报；
季度末月无数据时跳过并说明原因；数据未变化时不生成新版本。
"""

from __future__ import annotations

# An Airflow DAG file: the report DAG's shape is orchestration.report_dags.report_dag.
from orchestration.report_dags import report_dag

bulletin_quarterly = report_dag("bulletin_quarterly", cron="0 9 15 1,4,7,10 *", period="quarter",
                                report="quarterly_bulletin", task_id="render_quarterly_bulletin",
                                tags=["bulletin", "quarterly"], doc_md=__doc__)
