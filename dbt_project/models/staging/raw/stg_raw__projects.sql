-- 项目台账 rows of the ledgers in force: one row per project per city-month,
-- typed and named in English. Amounts stay in the submitted unit (万元 or 万美元,
-- see currency); conversions happen downstream with the month's rate.
select
    s.city_code,
    s.period,
    s.month_start,
    p.project_id,
    p.project_name,
    p.county_code,
    p.park_code,
    p.industry_chain,
    p.investor,
    p.investor_origin,
    p.source_region,
    p.fortune500,
    p.currency,
    cast(p.contract_amount as numeric(18, 2))     as contract_amount_10k,
    p.stage,
    p.signed_date,
    p.registered_date,
    p.started_date,
    p.production_date,
    cast(p.paid_in_cumulative as numeric(18, 2))  as paid_in_cumulative_10k,
    cast(p.land_area_mu as numeric(14, 2))        as land_area_mu,
    p.file_id,
    p.row_number
from {{ source('raw', 'projects') }} as p
inner join {{ ref('stg_audit__current_submissions') }} as s
    on s.file_id = p.file_id
where s.kind = 'workbook'
