-- Trade detail (当月) of the trade files in force. A city sending a combined
-- 1–2月 report has no 01 file; its 02 file holds both months' rows.
-- month_start is raw.trade's partition key (the file's month, so equal to the audit row's):
-- a filter on it reaches only that month's partition.
select
    s.city_code,
    s.period,
    t.period as month_start,
    t.enterprise_code,
    t.enterprise_name,
    t.hs_code,
    t.trade_mode,
    t.partner_country,
    t.direction,
    t.amount_usd,
    t.amount_cny,
    t.file_id,
    t.row_number
from {{ source('raw', 'trade') }} as t
inner join {{ ref('stg_audit__current_submissions') }} as s
    on s.file_id = t.file_id
where s.kind = 'trade'
