-- 指标溯源 of the project KPIs, per ledger in force (city C, period P): what each file
-- contributes to C's figures of P, one row per KPI, part and term, with the rows it reads.
--   * the signing-window KPIs and the 四率 (macros/kpi_measures.sql, the same components
--     int_kpi__project_window sums): the ledger of P alone;
--   * funds_domestic / fdi_actual: the ledger of P (Σ 累计实际到位资金 of its projects in the
--     currency, term paid_in) and the December Y−1 ledger (minus the same projects' figure
--     there, term december_base), only when that December ledger is in force (else the KPI
--     is unknown and has no contributions).
-- Every ledger has its rows, zero when no project counts. Incremental by ledger like
-- int_kpi__project_window (macros/ledger_partitions.sql): a ledger's rows read that ledger
-- and the December before it, so a correction of that December rebuilds them too.
-- depends_on: {{ ref('stg_audit__current_submissions') }}, {{ ref('stg_audit__submissions') }}, {{ ref('stg_raw__projects') }} (macros/ledger_partitions.sql)
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_ledger_partitions() }}",
    indexes=[{'columns': ['file_id']}, {'columns': ['city_code', 'period']}],
) }}
{%- set components = project_window_components() %}
with ledgers as (  -- every ledger to build, even one that lists no project
    select l.*, cast(substr(l.period, 1, 4) as integer) as year
    from ({{ ledgers_to_build() }}) as l
),

-- by city and period too (a file's rows are of its city and period): the planner then reads the
-- ledgers' rows by the (city_code, period) index rather than all of fct_project_month (at the
-- province's volume, 3 years: 2.2 -> 1.2 s a month)
ledger as (
    select f.*, cast(substr(f.period, 1, 4) as integer) as year
    from {{ ref('fct_project_month') }} as f
    where (f.city_code, f.period, f.file_id) in (select city_code, period, file_id from ledgers)
),

window_sums as (
    select
        file_id,
        {%- for name, c in components.items() %}
        sum(case when {{ c.when }} then {{ c.value }} else 0 end) as {{ name }},
        sum(case when {{ c.when }} then 1 else 0 end)             as {{ name }}__rows{{ ',' if not loop.last }}
        {%- endfor %}
    from ledger
    group by file_id
),

-- the December Y−1 ledger in force of each ledger's city (int_kpi__project_window: funds are
-- measured from it, and unknown without it)
december as (
    select l.file_id, s.file_id as december_file_id, s.period as december_period
    from ledgers as l
    inner join {{ ref('stg_audit__current_submissions') }} as s
        on s.city_code = l.city_code and s.kind = 'workbook'
       and s.period = cast(l.year - 1 as {{ dbt.type_string() }}) || '-12'
),

last_december as (
    {{ last_december_paid_in('ledgers') }}
),

funds as (
    select
        l.file_id,
        l.currency,
        sum(l.paid_in_cumulative_10k)                    as paid_in_10k,
        count(*)                                         as paid_in_rows,
        sum(coalesce(d.paid_in_cumulative_10k, 0))       as december_10k,
        count(d.project_id)                              as december_rows
    from ledger as l
    left join last_december as d
        on d.city_code = l.city_code and d.project_id = l.project_id
       and d.period = cast(l.year - 1 as {{ dbt.type_string() }}) || '-12'
    group by l.file_id, l.currency
),

measures as (
    {%- for m in project_window_measures() %}
    select
        g.file_id,
        '{{ m.kpi }}'                                            as kpi_code,
        '{{ m.part }}'                                           as part,
        '{{ m.component }}'                                      as term,
        g.file_id                                                as source_file_id,
        g.period                                                 as source_period,
        '{{ m.column }}'                                         as column_name,
        '{{ m.unit }}'                                           as unit,
        {{ m.scale }}                                            as part_scale,
        coalesce(w.{{ m.component }}__rows, 0)                   as rows_used,
        cast(coalesce(w.{{ m.component }}, 0) as numeric)        as value
    from ledgers as g
    left join window_sums as w on w.file_id = g.file_id
    union all
    {%- endfor %}
    {%- for m in funds_measures() %}
    select
        g.file_id, '{{ m.kpi }}', 'value', 'paid_in', g.file_id, g.period, 'paid_in_cumulative', '{{ m.unit }}', 6,
        coalesce(f.paid_in_rows, 0), cast(coalesce(f.paid_in_10k, 0) as numeric) / 10000
    from ledgers as g
    inner join december as dl on dl.file_id = g.file_id
    left join funds as f on f.file_id = g.file_id and f.currency = '{{ m.currency }}'
    union all
    select
        g.file_id, '{{ m.kpi }}', 'value', 'december_base', dl.december_file_id, dl.december_period,
        'paid_in_cumulative', '{{ m.unit }}', 6,
        coalesce(f.december_rows, 0), -cast(coalesce(f.december_10k, 0) as numeric) / 10000
    from ledgers as g
    inner join december as dl on dl.file_id = g.file_id
    left join funds as f on f.file_id = g.file_id and f.currency = '{{ m.currency }}'
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select
    g.file_id,
    g.city_code,
    g.period,
    g.previous_ledger_period,
    m.kpi_code,
    m.part,
    m.term,
    m.source_file_id,
    m.source_period,
    m.column_name,
    m.unit,
    cast(m.part_scale as integer)  as part_scale,
    cast(m.rows_used as integer)   as rows_used,
    m.value
from ledgers as g
inner join measures as m on m.file_id = g.file_id
