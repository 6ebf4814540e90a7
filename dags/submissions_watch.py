"""
### Submissions watch (跟踪门户报送)

Every 10 minutes: when the files in force differ from those the latest build's quality gate
checked — files uploaded through the portal (`openecon portal`) or returned (退回) by the
province — publishes the **openecon_raw_submissions** asset, so `warehouse_build` follows
without anyone copying files into the inbox. Nothing changed: the task skips and no build runs.
The portal also publishes the asset at once through the REST API when `OPENECON_AIRFLOW_API_URL`
is set; then this DAG finds the build already done (or queued: one more, incremental, build at most).

跟踪门户报送：每10分钟检查一次，现行有效文件与上次建仓质检时不同（门户上传或省级退回）即发布
openecon_raw_submissions，触发建仓；无变化则跳过。
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from core.constants import TIMEZONE
from orchestration.assets import RAW_SUBMISSIONS
from orchestration.callbacks import default_args


@dag(
    dag_id="submissions_watch",
    schedule="*/10 * * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["openecon", "ingest", "portal"],
    doc_md=__doc__,
)
def submissions_watch():
    @task(outlets=[RAW_SUBMISSIONS])
    def publish_if_changed(outlet_events=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from core.settings import get_settings
        from flows.intake import unbuilt_data_version

        version = unbuilt_data_version(get_settings())
        if version is None:
            raise AirflowSkipException("the files in force are those of the last build")
        outlet_events[RAW_SUBMISSIONS].extra = {"source": "submissions_watch", "data_version": version}
        return version

    publish_if_changed()


submissions_watch()
