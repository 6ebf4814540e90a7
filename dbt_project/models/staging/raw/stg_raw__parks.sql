-- 园区情况 rows of the submissions in force, typed and named in English.
select
    s.city_code,
    s.period,
    s.month_start,
    p.park_code,
    cast(p.planned_area_mu as numeric(14, 2))          as planned_area_mu,
    cast(p.developed_area_mu as numeric(14, 2))        as developed_area_mu,
    cast(p.factory_built_10k_m2 as numeric(14, 4))     as factory_built_10k_m2,
    cast(p.factory_used_10k_m2 as numeric(14, 4))      as factory_used_10k_m2,
    cast(p.enterprises as integer)                     as enterprises,
    cast(p.above_scale_enterprises as integer)         as above_scale_enterprises,
    cast(p.tax_ytd_10k_cny as numeric(18, 2))          as tax_ytd_10k_cny,
    cast(p.revenue_ytd_10k_cny as numeric(18, 2))      as revenue_ytd_10k_cny,
    cast(p.employees as integer)                       as employees,
    p.file_id,
    p.row_number
from {{ source('raw', 'parks') }} as p
inner join {{ ref('stg_audit__current_submissions') }} as s
    on s.file_id = p.file_id
where s.kind = 'workbook'
