"""Airflow Assets that connect the DAGs (data-aware scheduling)."""

from airflow.sdk import Asset

from core.constants import RAW_SUBMISSIONS_URI

# Updated whenever an ingestion run received at least one file.
RAW_SUBMISSIONS = Asset(name="openecon_raw_submissions", uri=RAW_SUBMISSIONS_URI)
# Updated when the marts were rebuilt and passed the blocking quality checks.
MARTS = Asset(name="openecon_marts", uri="openecon://warehouse/marts")
