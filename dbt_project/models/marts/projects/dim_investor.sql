-- 客商资源库 (三库之一): one row per investor (投资方 name + 投资方来源地) across all
-- cities and the whole ledger history. Each project counts once, with its
-- latest ledger row (so a project later handed to another investor counts for
-- the new one); the investor's rank and region are those of its most recently
-- reported project.
with latest_rows as (
    -- each project's latest ledger row: the last period of its current version (by the
    -- fact's primary key, project_id and period, rather than ranking every row of the history),
    -- with that version's investor (the row belongs to it: no second look-up by project_key)
    select
        f.*,
        c.investor,
        c.investor_origin,
        c.source_region,
        c.fortune500
    from {{ ref('dim_project') }} as c
    inner join {{ ref('fct_project_month') }} as f
        on f.project_id = c.project_id
       and f.period = c.last_seen_period
    where c.is_current
),

projects as (
    select
        l.*,
        row_number() over (
            partition by l.investor, l.investor_origin
            order by l.period desc, l.project_id desc
        ) as investor_recency
    from latest_rows as l
),

origins as (
    select code as origin_code, name as origin_name from {{ ref('china_provinces') }}
    union all
    select alpha_2, name_zh from {{ ref('iso_countries') }}
),

investor_cities as (
    select
        investor,
        investor_origin,
        {{ dbt.listagg('city_code', "','", 'order by city_code') }} as city_codes,
        count(*) as city_count
    from (select distinct investor, investor_origin, city_code from projects) as d
    group by investor, investor_origin
),

investors as (
    select
        investor,
        investor_origin,
        max(case when investor_recency = 1 then source_region end)                as source_region,
        max(case when investor_recency = 1 then fortune500 end)                   as fortune500,
        count(*)                                                                  as project_count,
        sum(case when stage <> '终止' then 1 else 0 end)                          as active_project_count,
        sum(case when is_major then 1 else 0 end)                                 as major_project_count,
        sum(contract_amount_100m_cny)                                             as contract_amount_100m_cny,
        sum(case when stage <> '终止' then contract_amount_100m_cny else 0 end)   as active_contract_amount_100m_cny,
        sum(paid_in_cumulative_100m_cny)                                          as paid_in_cumulative_100m_cny,
        min(signed_date)                                                          as first_signed_date,
        max(signed_date)                                                          as latest_signed_date,
        max(period)                                                               as last_seen_period,
        {{ dbt.listagg('project_id', "','", 'order by project_id') }}             as project_ids
    from projects
    group by investor, investor_origin
)

select
    {{ dbt.hash(dbt.concat(['i.investor', "'|'", 'i.investor_origin'])) }} as investor_key,
    i.investor,
    i.investor_origin,
    o.origin_name                                           as investor_origin_name,
    i.source_region,
    i.source_region = '境外'                                as is_foreign,
    i.fortune500,
    i.fortune500 <> '无'                                    as is_fortune500,
    cast(i.project_count as integer)                        as project_count,
    cast(i.active_project_count as integer)                 as active_project_count,
    cast(i.major_project_count as integer)                  as major_project_count,
    cast(c.city_count as integer)                           as city_count,
    c.city_codes,
    cast(i.contract_amount_100m_cny as numeric(20, 6))      as contract_amount_100m_cny,
    cast(i.active_contract_amount_100m_cny as numeric(20, 6)) as active_contract_amount_100m_cny,
    cast(i.paid_in_cumulative_100m_cny as numeric(20, 6))   as paid_in_cumulative_100m_cny,
    i.first_signed_date,
    i.latest_signed_date,
    i.last_seen_period,
    i.project_ids
from investors as i
inner join investor_cities as c
    on c.investor = i.investor
   and c.investor_origin = i.investor_origin
left join origins as o
    on o.origin_code = i.investor_origin
