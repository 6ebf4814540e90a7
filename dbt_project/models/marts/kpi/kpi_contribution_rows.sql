{#- 指标溯源到行: the submission rows behind each city figure of a workbook KPI (项目台账, 园区情况,
    服务贸易), one row per KPI, city, period and source cell, with what the cell adds to the
    figure (value, in the part's unit). Σ value of a cell's rows per part is the part's partial
    in kpi_contributions (and so the figure, at the mart's rounding: see there):
      project window KPIs and 四率   the ledger's rows that count (macros/kpi_measures.sql: the
                                    same conditions and values int_kpi__project_window sums); a
                                    count adds 1 per row, an amount its 亿元 value (cell × fx_rate
                                    / 10⁴, rounded per row as fct_project_month has it)
      funds_domestic / fdi_actual   the ledger's rows in the currency (+ 累计实际到位资金 / 10⁴) and
                                    the same projects' rows of the December Y−1 ledger (− / 10⁴)
      funds_total                   the funds_domestic rows, and for each ledger m of months 1..N
                                    (inflow_period) the fdi_actual rows of m × m's rate and those
                                    of the ledger before m in the year × −(m's rate)
      parks, services               the rows of the city's 园区情况 / 服务贸易 sheet
    Goods trade KPIs are traced to raw.trade by file (kpi_contributions.file_id): 10⁵–10⁶ rows a
    file are read where they are, not copied. A view: queried one figure at a time (the
    filters on kpi_code, city_code and period reach each branch's indexes). -#}
{{ config(materialized='view') }}
{%- set components = project_window_components() %}
{%- set cells = {
    'signed_date': 'cast(f.signed_date as ' ~ dbt.type_string() ~ ')',
    'contract_amount': 'cast(f.contract_amount_10k as ' ~ dbt.type_string() ~ ')',
    'paid_in_cumulative': 'cast(f.paid_in_cumulative_10k as ' ~ dbt.type_string() ~ ')',
    'stage': 'f.stage',
    'fortune500': 'r.fortune500',
} %}
{%- set rates = {'contract_amount': 'f.contract_fx_rate', 'paid_in_cumulative': 'f.period_fx_rate'} %}

{%- for m in project_window_measures() %}
{%- set c = components[m.component] %}
select
    '{{ m.kpi }}'                                        as kpi_code,
    f.city_code,
    f.period,
    '{{ m.part }}'                                       as part,
    '{{ m.component }}'                                  as term,
    f.file_id,
    f.period                                             as source_period,
    '项目台账'                                           as sheet,
    f.row_number,
    f.project_id                                         as row_key,
    '{{ m.column }}'                                     as column_name,
    {{ cells[m.column] }}                                as cell,
    cast({{ c.value }} as numeric)                       as value,
    '{{ m.unit }}'                                       as unit,
    {{ rates[m.column] if c.value != '1' else 'cast(null as numeric)' }} as fx_rate,
    cast(null as {{ dbt.type_string() }})                as inflow_period
from {{ ref('fct_project_month') }} as f
{%- if m.column == 'fortune500' %}
inner join {{ ref('stg_raw__projects') }} as r on r.file_id = f.file_id and r.row_number = f.row_number
{%- endif %}
where {{ c.when }}

union all
{%- endfor %}

{%- for m in funds_measures() %}
select
    '{{ m.kpi }}', x.city_code, x.period, 'value', x.term, x.file_id, x.source_period, '项目台账', x.row_number,
    x.row_key, 'paid_in_cumulative', x.cell, x.value, '{{ m.unit }}', cast(null as numeric),
    cast(null as {{ dbt.type_string() }})
from ({{ kpi_funds_rows(m.currency) }}) as x

union all
{%- endfor %}

-- funds_total: the domestic rows ...
select
    'funds_total', x.city_code, x.period, 'value', 'domestic_' || x.term, x.file_id, x.source_period, '项目台账',
    x.row_number, x.row_key, 'paid_in_cumulative', x.cell, x.value, '亿元', cast(null as numeric),
    cast(null as {{ dbt.type_string() }})
from ({{ kpi_funds_rows('人民币') }}) as x

union all

-- ... and each month's foreign inflow at its rate: fdi_actual(m) × rate(m) ...
select
    'funds_total', t.city_code, t.period, 'value', 'fdi_inflow_' || x.term, x.file_id, x.source_period, '项目台账',
    x.row_number, x.row_key, 'paid_in_cumulative', x.cell, x.value * m.usd_cny, '亿元', m.usd_cny, m.period
from {{ ref('int_kpi__funds_total') }} as t
inner join {{ ref('int_kpi__funds_total') }} as m
    on m.city_code = t.city_code and substr(m.period, 1, 4) = substr(t.period, 1, 4) and m.period <= t.period
inner join ({{ kpi_funds_rows('美元') }}) as x
    on x.city_code = m.city_code and x.period = m.period
where t.funds_total_100m_cny is not null

union all

-- ... less fdi_actual of the ledger before m in the year, at m's rate
select
    'funds_total', t.city_code, t.period, 'value', 'fdi_inflow_previous_' || x.term, x.file_id, x.source_period,
    '项目台账', x.row_number, x.row_key, 'paid_in_cumulative', x.cell, -x.value * m.usd_cny, '亿元', m.usd_cny,
    m.period
from {{ ref('int_kpi__funds_total') }} as t
inner join {{ ref('int_kpi__funds_total') }} as m
    on m.city_code = t.city_code and substr(m.period, 1, 4) = substr(t.period, 1, 4) and m.period <= t.period
inner join {{ ref('int_kpi__project_window') }} as w
    on w.city_code = m.city_code and w.period = m.period
   and substr(w.previous_ledger_period, 1, 4) = substr(m.period, 1, 4)
inner join ({{ kpi_funds_rows('美元') }}) as x
    on x.city_code = w.city_code and x.period = w.previous_ledger_period
where t.funds_total_100m_cny is not null

{%- for m in park_measures() %}

union all

select
    '{{ m.kpi }}', p.city_code, p.period, '{{ m.part }}', '{{ m.column }}', p.file_id, p.period, '园区情况',
    p.row_number, p.park_code, '{{ m.column }}', cast(p.{{ m.column }} as {{ dbt.type_string() }}),
    cast(p.{{ m.column }} as numeric), '{{ m.unit }}', cast(null as numeric), cast(null as {{ dbt.type_string() }})
from {{ ref('fct_park_month') }} as p
{%- endfor %}

{%- for column in ['exports_10k_usd', 'imports_10k_usd'] %}

union all

select
    'services_trade', s.city_code, s.period, 'value', '{{ column }}', s.file_id, s.period, '服务贸易',
    s.row_number, s.category, '{{ column }}', cast(s.{{ column }} as {{ dbt.type_string() }}),
    cast(s.{{ column }} as numeric) / 10000, '亿美元', cast(null as numeric), cast(null as {{ dbt.type_string() }})
from {{ ref('stg_raw__services_trade') }} as s
{%- endfor %}
