-- Every city × month × kind between the first and the last month appears exactly once:
-- a city that sent nothing still has its rows (status missing), so gaps are visible.
with months as (
    select distinct period from {{ ref('submission_status') }}
),
cities as (
    select city_code from {{ ref('dim_city') }} where level = 'city'
),
expected as (
    select c.city_code, m.period, k.kind
    from cities as c
    cross join months as m
    cross join (select 'workbook' as kind union all select 'trade' as kind) as k
),
actual as (
    select city_code, period, kind, count(*) as n_rows
    from {{ ref('submission_status') }}
    group by city_code, period, kind
),
span as (
    select min(month_start) as first_month, max(month_start) as last_month, count(distinct period) as n_months
    from {{ ref('submission_status') }}
)
select e.city_code, e.period, e.kind, a.n_rows, 'absent or repeated' as problem
from expected as e
left join actual as a using (city_code, period, kind)
where a.n_rows is distinct from 1
union all
-- no month is skipped between the first and the last
select null, null, null, n_months, 'months not contiguous'
from span
where n_months <> ({{ dbt.datediff('first_month', 'last_month', 'month') }}) + 1
