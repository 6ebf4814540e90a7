"""
### Warehouse build (建仓)

Runs when new submissions land (the **openecon_raw_submissions** asset): `dbt build`
(staging → marts, with dbt tests), then the Great Expectations gate. A failed
blocking expectation fails the run with the expectation, table and sample rows
named, and the **openecon_marts** asset is not updated, so nothing downstream
publishes from bad data. The dbt docs site is regenerated beside the gate.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from openecon.assets import MARTS, RAW_SUBMISSIONS


@dag(
    dag_id="warehouse_build",
    schedule=[RAW_SUBMISSIONS],
    start_date=pendulum.datetime(2025, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=30)},
    tags=["openecon", "dbt", "quality"],
    doc_md=__doc__,
)
def warehouse_build():
    @task
    def dbt_build() -> None:
        from openecon import pipeline
        from openecon.settings import get_settings

        pipeline.dbt_build(get_settings())

    @task(outlets=[MARTS])
    def quality_gate() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from openecon import pipeline
        from openecon.settings import get_settings

        result = pipeline.quality_gate(get_settings())
        if not result.success:
            raise AirflowFailException(result.summary())
        return {"expectations": result.evaluated, "warnings": len(result.failures),
                "data_docs": result.data_docs_index}

    @task
    def dbt_docs() -> str:
        from openecon import pipeline
        from openecon.settings import get_settings

        return str(pipeline.dbt_docs(get_settings()))

    built = dbt_build()
    built >> [quality_gate(), dbt_docs()]


warehouse_build()
