"""
### Performance appraisal (绩效考核)

Renders the appraisal of the 14 cities for the year as of a quarter (HTML and XLSX into
`output/bulletins`, from `marts.performance_appraisal`: score per indicator, bonuses and
deductions, total, rank and how each score was derived). Runs on 20 January, April, July
and October at 09:00 — the January run is the year's final appraisal (as of Q4) — and
when the marts were rebuilt and passed the gate (the **openecon_marts** asset).

* **period** — `YYYYQn` (as of that quarter) or `YYYY` (the year, = `YYYYQ4`). Empty = the
  newest quarter-end with figures, not after the month before the run's trigger time
  (the same rule as the quarterly bulletin, so both report on the same quarter).
* **allow_incomplete** — `false` (default): when a province total of the period would leave
  cities out (a city not reported, 1–2月 not covered, a month missing from a trade year to date)
  the task fails at once with the cities named (in Chinese and English) and nothing is written;
  `true`: it publishes, each such figure with a note naming the cities not included.

A quarter without figures is skipped with the reason. Same data → same version, no new
files; changed data → v2 listing the cities whose total or rank moved. Transient database
errors are retried with backoff; failures land in `audit.pipeline_failures`.

绩效考核：每季度（1月为上年度终考）按集市层考核结果生成各市州绩效考核通报（得分汇总表、计分明细），
考核期默认取最近一个有数据的季度末；无数据时跳过并说明原因。
"""

from __future__ import annotations

# An Airflow DAG file: the report DAG's shape is orchestration.report_dags.report_dag.
from orchestration.report_dags import report_dag

appraisal = report_dag("appraisal", cron="0 9 20 1,4,7,10 *", period="year_or_quarter", report="appraisal",
                       task_id="render_appraisal", tags=["appraisal", "quarterly"], doc_md=__doc__)
