-- What each published document version printed, one row per KPI cell: a thin view over
-- audit.published_figures (written by reports/publish.py with the version's register row).
-- kpi_city_month compares the latest publication of each cell with its current value.
select
    bulletin_id,
    kind,
    period        as document_period,
    version,
    published_at,
    kpi_code,
    city_code,
    kpi_period,
    value_ytd,
    value_month,
    prints_ytd,
    prints_month
from {{ source('audit', 'published_figures') }}
