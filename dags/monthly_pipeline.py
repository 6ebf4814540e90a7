"""
### Monthly pipeline (thin slice through every layer)

City workbooks dropped in the inbox → `raw` (COPY, receipts, quarantine) →
dbt (`staging` → `marts.fct_park_month`) → Great Expectations gate.

* **period** — the month reported on (`YYYY-MM`); empty means the month before
  the run's trigger time.
* **inbox** — folder of city files; empty means `OPENECON_STATE_DIR/inbox`.

Files already received under the same name and bytes are skipped, so a re-run
is a no-op on unchanged inputs. Logic lives in `openecon.pipeline`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task


@dag(
    dag_id="monthly_pipeline",
    schedule="0 8 5 * *",  # 08:00 on the 5th, after the cities' reporting deadline
    start_date=pendulum.datetime(2025, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    params={
        "period": Param("", type="string", pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$",
                        description="Reported month YYYY-MM; empty = month before the trigger"),
        "inbox": Param("", type="string", description="Inbox folder; empty = the configured inbox"),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30),
                  "retry_exponential_backoff": True},
    tags=["openecon", "ingest", "dbt", "quality"],
    doc_md=__doc__,
)
def monthly_pipeline():
    @task
    def ingest_submissions(params=None, logical_date=None) -> dict:
        from pathlib import Path

        from openecon import pipeline
        from openecon.periods import reporting_period
        from openecon.settings import get_settings

        settings = get_settings()
        period = reporting_period(params["period"], logical_date)
        inbox = Path(params["inbox"]) if params["inbox"] else settings.inbox_dir
        result = pipeline.ingest_inbox(inbox, settings)
        return {"period": period, **result}

    @task
    def build_warehouse(ingested: dict) -> str:
        from openecon import pipeline
        from openecon.settings import get_settings

        pipeline.dbt_build(get_settings())
        return ingested["period"]

    @task
    def quality_gate(period: str) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from openecon import pipeline
        from openecon.settings import get_settings

        result = pipeline.quality_gate(get_settings())
        if not result.success:
            raise AirflowFailException(result.summary())
        return {"period": period, "expectations": result.evaluated, "data_docs": result.data_docs_index}

    quality_gate(build_warehouse(ingest_submissions()))


monthly_pipeline()
