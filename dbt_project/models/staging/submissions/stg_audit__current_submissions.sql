-- The submission in force for each city, period and kind: the latest loaded
-- file.  Superseded files stay in raw and audit for history, not here.
-- A table, not a view: a few rows per city-month, joined by every staging view
-- and incremental model, and the planner needs its real row count (as a view
-- the `recency = 1` filter is estimated at a handful of rows, which turns the
-- joins into nested loops over the whole history).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
with loaded as (
    select
        file_id,
        file_name,
        city_code,
        period,
        kind,
        received_at,
        row_number() over (
            partition by city_code, period, kind
            order by received_at desc, file_id desc
        ) as recency
    from {{ source('audit', 'submissions') }}
    where status in ('accepted', 'partial')
)

select
    file_id,
    file_name,
    city_code,
    period,
    {{ period_start('period') }} as month_start,
    kind,
    received_at
from loaded
where recency = 1
