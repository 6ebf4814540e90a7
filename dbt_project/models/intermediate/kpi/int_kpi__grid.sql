{{ config(materialized="table", post_hook="{{ refresh_statistics(this) }}") }}
-- A table with fresh statistics, not a view: kpi_city_month joins it with the cities' figures,
-- and the planner, blind to a view's row count (10⁴ cells), nested-looped them, quadratic in the history.
-- The complete KPI grid: one row per KPI × city × period the province has any data
-- for (some city has a file in force for that month; quarterly KPIs in 03/06/09/12
-- only), with what the city's submission says about it. Each KPI is fed by one kind
-- of file: the trade CSV (当月 detail) or the workbook (ledger, parks, services: year
-- to date in the file itself). The status per city × month × kind is
-- marts.submission_status's (one rule for 报送情况 and for the KPIs):
--   reported  the file of that kind is in force (on_time, late or superseded);
--   combined  January of a city that sent nothing for January and whose February file
--             of that kind covers 1–2月;
--   missing   nothing in force (nothing received, or only rejected files).
-- is_combined_jan_feb: the combined January, and the February that covers it.
-- is_ytd_covered: the value_ytd covers the whole window 1..N. A workbook carries its
-- own year to date, so its month suffices; a trade YTD is a sum of months, so every
-- month 1..N of the year must be reported (January also by a combined February).
-- A month before the first one received counts as not reported: a YTD built from
-- fewer months is never presented as complete.
{% set trade_kpis = ['trade_total', 'exports', 'imports', 'trade_enterprises', 'trade_dependence'] %}
with status as (
    select
        city_code,
        period,
        kind,
        cast(substr(period, 1, 4) as integer) as year,
        cast(substr(period, 6, 2) as integer) as month,
        case
            when status in ('on_time', 'late', 'superseded') then 'reported'
            when status = 'combined' then 'combined'
            else 'missing'
        end as report_status
    from {{ ref('submission_status') }}
),

periods as (
    select distinct period from status where report_status = 'reported'
),

flagged as (
    select
        s.*,
        case
            when s.report_status = 'combined' then true
            -- nothing received for January: its row is combined, or absent when nothing at
            -- all was received that early
            when s.month = 2 and s.report_status = 'reported' then coalesce(jan.report_status = 'combined', true)
            else false
        end as is_combined_jan_feb,
        jan.city_code is null as january_absent
    from status as s
    left join status as jan
        on jan.city_code = s.city_code and jan.kind = s.kind and jan.year = s.year and jan.month = 1
),

covered as (
    select
        f.*,
        -- months 1..N reported; a combined February also covers a January absent from the grid
        sum(case when f.report_status in ('reported', 'combined') then 1 else 0 end
            + case when f.month = 2 and f.is_combined_jan_feb and f.january_absent then 1 else 0 end) over (
            partition by f.city_code, f.kind, f.year order by f.month rows between unbounded preceding and current row
        ) as months_covered
    from flagged as f
),

kpis as (
    select
        kpi_code,
        frequency,
        case when kpi_code in ({{ "'" ~ trade_kpis | join("', '") ~ "'" }}) then 'trade' else 'workbook' end
            as source_kind
    from {{ ref('kpi_definitions') }}
)

select
    k.kpi_code,
    f.city_code,
    f.period,
    f.year,
    f.month,
    k.source_kind,
    f.report_status,
    f.is_combined_jan_feb,
    f.report_status = 'reported' and (k.source_kind = 'workbook' or f.months_covered = f.month) as is_ytd_covered
from covered as f
inner join periods as p on p.period = f.period
inner join kpis as k on k.source_kind = f.kind
where k.frequency <> 'quarterly' or f.month in (3, 6, 9, 12)
