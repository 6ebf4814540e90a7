"""
### Submissions intake (收数)

Takes the files the cities dropped in the inbox (`<inbox>/<city_code>/`), validates
and loads them, writes a receipt per file, and publishes the **openecon_raw_submissions**
asset when anything new arrived, which triggers `warehouse_build`. The cities with new files
are shared out, about equal in work, to one mapped task per slot of the warehouse pool, each
ingesting its cities back to back (its map index lists them): a task per city would start 14
processes that each import the readers again (about 1 s each).

* **period** — the month reported on (`YYYY-MM`); empty = the month before the trigger
  (the cities send last month's figures on the 5th–10th).
* **inbox** — inbox root; empty = `OPENECON_INBOX_DIR` (default `.openecon/inbox`).
* **allow_shrink** — `false` (default): a correction that would remove most of the rows it
  replaces is rejected; `true` lets it through, and its receipt says so (`openecon ingest
  --allow-shrink`).

A run for period P takes the files of P and of earlier months not received yet (late
files are picked up); files of later months wait for their own run. Files already
received under the same name and bytes are skipped, so re-running is a no-op.
Operations: a dropped database connection is reconnected and the file loaded again at once
(a database that stays away fails the task, which Airflow retries with exponential backoff);
a bad file is a rejected receipt, never a task failure; failures land in `audit.pipeline_failures`; loads run in the
`openecon_warehouse` pool (2 slots).

收数：每月5—10日收取各市州报送文件（报告期为上月），按工作量把市州分成两组并行校验入库并生成回执；
迟报的以前月份文件一并收取，以后月份的文件等到其报告期再收；已收文件不重复入库。
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from core.constants import TIMEZONE, WAREHOUSE_POOL, WAREHOUSE_POOL_SLOTS
from core.periods import MONTH_PARAM_PATTERN
from orchestration.assets import RAW_SUBMISSIONS
from orchestration.callbacks import default_args


@dag(
    dag_id="submissions_ingest",
    schedule="0 8 5-10 * *",  # daily on the 5th–10th: the deadline and late arrivals
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    params={
        "period": Param("", type="string", pattern=MONTH_PARAM_PATTERN,
                        description="Reported month YYYY-MM; empty = month before the trigger"),
        "inbox": Param("", type="string", description="Inbox root; empty = the configured inbox"),
        "allow_shrink": Param(False, type="boolean",
                              description="Let a correction remove most of the rows it replaces (recorded)"),
    },
    default_args=default_args(),
    tags=["openecon", "ingest"],
    doc_md=__doc__,
)
def submissions_ingest():
    @task
    def share_cities(params=None, logical_date=None) -> list[dict]:
        from pathlib import Path

        from core.periods import reporting_period
        from core.settings import get_settings
        from flows.intake import inbox_shares

        period = reporting_period(params["period"], logical_date)
        settings = get_settings()
        inbox = Path(params["inbox"]) if params["inbox"] else settings.inbox_dir
        # Only cities with files not received yet: nothing new maps no task and skips publish.
        return [{"cities": cities, "inbox": str(inbox), "period": period,
                 "allow_shrink": bool(params.get("allow_shrink", False))}
                for cities in inbox_shares(inbox, settings, WAREHOUSE_POOL_SLOTS, up_to_period=period)]

    @task(map_index_template="{{ task.op_kwargs['job']['cities'] | join(',') }}", pool=WAREHOUSE_POOL)
    def ingest_cities(job: dict) -> dict:
        from pathlib import Path

        from core.settings import get_settings
        from flows import intake

        return {"cities": job["cities"],
                **intake.ingest_cities(Path(job["inbox"]), job["cities"], get_settings(), up_to_period=job["period"],
                                       allow_shrink=job.get("allow_shrink", False))}

    @task(outlets=[RAW_SUBMISSIONS])
    def publish(results: list[dict], outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        received = sum(r["files"] for r in results)
        rejected = [f for r in results for f in r["rejected"]]
        if not received:
            # Nothing new: skipping leaves the asset untouched, so no rebuild is triggered.
            raise AirflowSkipException("no new files in the inbox")
        summary = {"files": received, "rejected": rejected}
        outlet_events[RAW_SUBMISSIONS].extra = summary
        return summary

    publish(ingest_cities.expand(job=share_cities()))


submissions_ingest()
