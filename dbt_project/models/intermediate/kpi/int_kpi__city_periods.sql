-- Every city-month with a submission in force. A city that sends no 01 files
-- for a year reports January and February together in its 02 files (1–2月合并).
with periods as (
    select distinct city_code, period, month_start
    from {{ ref('stg_audit__current_submissions') }}
)

select
    p.city_code,
    p.period,
    p.month_start,
    cast(substr(p.period, 1, 4) as integer) as year,
    cast(substr(p.period, 6, 2) as integer) as month,
    (substr(p.period, 6, 2) = '02' and not exists (
        select 1 from periods as jan
        where jan.city_code = p.city_code
          and jan.period = substr(p.period, 1, 5) || '01'
    )) as is_combined_jan_feb
from periods as p
