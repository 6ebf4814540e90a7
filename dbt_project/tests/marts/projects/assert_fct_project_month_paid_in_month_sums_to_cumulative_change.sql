-- 当期到位资金 adds up: for every project, the sum of paid_in_month over the
-- ledgers after its first one equals the change of 累计实际到位资金 between that
-- first ledger and each later one (so between any two ledgers of the project,
-- across gaps and combined 1–2月 reports). After the first row paid_in_month is
-- never unknown.
with f as (
    select
        project_id,
        period,
        paid_in_cumulative_10k,
        paid_in_month_10k,
        row_number() over (partition by project_id order by period) as n,
        first_value(paid_in_cumulative_10k) over (partition by project_id order by period) as first_cumulative,
        sum(paid_in_month_10k) over (
            partition by project_id order by period rows between unbounded preceding and current row
        ) as running_sum,
        first_value(paid_in_month_10k) over (partition by project_id order by period) as first_month
    from {{ ref('fct_project_month') }}
)
select project_id, period, paid_in_cumulative_10k, first_cumulative, running_sum, first_month
from f
where n > 1
  and (paid_in_month_10k is null
       or coalesce(running_sum, 0) - coalesce(first_month, 0) <> paid_in_cumulative_10k - first_cumulative)
