-- The submission in force for each city, period and kind, from the view
-- audit.submissions_in_force (core/audit_schema.py: loaded and not superseded),
-- the one definition of "in force". Superseded files stay in raw and audit for
-- history, not here.
-- A table, not a view: a few rows per city-month, joined by every staging view
-- and incremental model, and the planner needs its real row count (as a view
-- the filter is estimated at a handful of rows, which turns the joins into
-- nested loops over the whole history).
{{ config(materialized='table', post_hook='{{ refresh_statistics(this) }}') }}
select
    file_id,
    file_name,
    city_code,
    period,
    {{ period_start('period') }} as month_start,
    kind,
    received_at
from {{ source('audit', 'submissions_in_force') }}
