"""
### Warehouse build (建仓)

Runs when new submissions land (the **openecon_raw_submissions** asset): `dbt build`
(staging → marts, with dbt tests), then the Great Expectations gate. A failed
blocking expectation fails the run with the expectation, table and sample rows
named, and the **openecon_marts** asset is not updated, so nothing downstream
publishes from bad data. The dbt docs site is regenerated beside the gate.
Operations: dbt's and GX's dropped connections are retried with exponential backoff,
failed dbt tests and a failed gate are not; failures land in `audit.pipeline_failures`;
the tasks run in the `openecon_warehouse` pool (2 slots).

建仓：新数据入库后自动运行 dbt 构建（贴源层→集市层，含 dbt 测试），再经 Great Expectations
质量关口；关口不通过则本次失败、不更新 openecon_marts，下游通报不会用问题数据发布。
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from core.constants import TIMEZONE, WAREHOUSE_POOL
from orchestration.assets import MARTS, RAW_SUBMISSIONS
from orchestration.callbacks import default_args


@dag(
    dag_id="warehouse_build",
    schedule=[RAW_SUBMISSIONS],
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args={**default_args(), "pool": WAREHOUSE_POOL},  # every task here works in Postgres
    tags=["openecon", "dbt", "quality"],
    doc_md=__doc__,
)
def warehouse_build():
    @task
    def dbt_build() -> None:
        from core.settings import get_settings
        from flows import transform

        transform.dbt_build(get_settings())

    @task(outlets=[MARTS])
    def quality_gate() -> dict:
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowFailException

        from core.settings import get_settings
        from flows import quality

        ctx = get_current_context()
        result = quality.quality_gate(get_settings(), triggered_by=f"{ctx['dag'].dag_id}/{ctx['run_id']}")
        if not result.success:
            raise AirflowFailException(result.summary())
        return {"run_id": result.run_id, "expectations": result.evaluated, "warnings": len(result.failures),
                "data_docs": result.data_docs_index}

    @task
    def dbt_docs() -> str:
        from core.settings import get_settings
        from flows import transform

        return str(transform.dbt_docs(get_settings()))

    built = dbt_build()
    built >> [quality_gate(), dbt_docs()]


warehouse_build()
