-- The submission in force for each city, period and kind: the latest loaded
-- file.  Superseded files stay in raw and audit for history, not here.
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
