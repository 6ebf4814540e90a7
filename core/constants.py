"""Reference constants of the province, written once for every layer.

dbt reads the same values as project vars (``dbt_project.yml``), so SQL and Python agree.
"""

from __future__ import annotations

# GB/T 2260 code and name of the province; its rows in the marts carry this city_code.
PROVINCE_CODE = "430000"
PROVINCE_NAME = "湖南省"
# Cities report and officials read local time.
TIMEZONE = "Asia/Shanghai"

# Airflow pool shared by every task that writes to the warehouse (created with the metadata DB).
WAREHOUSE_POOL = "openecon_warehouse"
WAREHOUSE_POOL_SLOTS = 2
WAREHOUSE_POOL_DESCRIPTION = "openecon tasks that write to the warehouse Postgres"

# URI of the Airflow asset an ingest publishes (orchestration.assets.RAW_SUBMISSIONS), also looked
# up through Airflow's REST API by the portal, which does not import airflow.
RAW_SUBMISSIONS_URI = "openecon://warehouse/raw"
