-- 服务贸易 rows (quarter-end months, year to date, 万美元) of the workbooks in force.
select
    s.city_code,
    s.period,
    s.month_start,
    t.category,
    cast(t.exports_10k_usd as numeric(18, 2)) as exports_10k_usd,
    cast(t.imports_10k_usd as numeric(18, 2)) as imports_10k_usd,
    t.file_id,
    t.row_number
from {{ source('raw', 'services_trade') }} as t
inner join {{ ref('stg_audit__current_submissions') }} as s
    on s.file_id = t.file_id
where s.kind = 'workbook'
