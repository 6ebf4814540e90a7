-- 当期到位资金 adds up: paid_in_month of every row after a project's first is the change of
-- 累计实际到位资金 since the project's previous row (across gaps and combined 1–2月 reports),
-- never unknown; so over any two ledgers of a project the months sum to the change.
-- The rows the build may have written (macros/unchecked_ledgers.sql), each against its
-- previous row wherever it is (looked up by the primary key, project_id and period).
with f as (
    {{ unchecked_ledger_rows(ref('fct_project_month')) }}
)

select f.project_id, f.period, f.paid_in_cumulative_10k, f.paid_in_month_10k,
       p.period as previous_period, p.paid_in_cumulative_10k as previous_cumulative_10k
from f
cross join lateral (
    select q.period, q.paid_in_cumulative_10k
    from {{ ref('fct_project_month') }} as q
    where q.project_id = f.project_id and q.period < f.period
    order by q.period desc
    limit 1
) as p
where f.paid_in_month_10k is null
   or f.paid_in_month_10k <> f.paid_in_cumulative_10k - p.paid_in_cumulative_10k
