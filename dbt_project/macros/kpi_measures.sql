{#- What each row of a submission contributes to a KPI: one list for the models that sum the
    rows (the KPI values themselves) and for those that decompose a value into its files and
    rows (指标溯源: int_kpi__project_contributions, kpi_contributions, kpi_contribution_rows).
    The KPI and its decomposition are generated from the same expressions, so they cannot
    drift apart; assert_kpi_contributions_reconcile checks the result at every build. -#}

{#- The sums over the projects of a ledger signed between 1 Jan and the end of its period
    (rows of fct_project_month, where conversions and the major-project rule live): name ->
    the row's condition (within signed_in_year) and the value it adds. int_kpi__project_window
    sums them per ledger. -#}
{% macro project_window_components() -%}
    {{ return({
        'signed_projects':        {'when': 'signed_in_year', 'value': '1'},
        'major_projects':         {'when': 'signed_in_year and is_major', 'value': '1'},
        'fortune500_projects':    {'when': 'signed_in_year and is_fortune500', 'value': '1'},
        'signed_investment_100m': {'when': 'signed_in_year', 'value': 'contract_amount_100m_cny'},
        'performed_projects':     {'when': "signed_in_year and stage in ('注册', '开工', '投产')", 'value': '1'},
        'started_projects':       {'when': "signed_in_year and stage in ('开工', '投产')", 'value': '1'},
        'producing_projects':     {'when': "signed_in_year and stage = '投产'", 'value': '1'},
        'paid_in_100m_cny':       {'when': 'signed_in_year', 'value': 'paid_in_cumulative_100m_cny'},
        'contract_100m_cny':      {'when': 'signed_in_year', 'value': 'contract_amount_100m_cny'},
    }) }}
{%- endmacro %}


{#- The project KPIs of the signing window and the part each component is: the KPI's value,
    or a ratio's numerator / denominator (int_kpi__city_components builds the KPIs from the
    same components). column: the 项目台账 column (raw.projects) whose cell qualifies or
    carries the row; unit: of the component; scale: the decimal places int_kpi__project_window
    keeps for its sum. -#}
{% macro project_window_measures() -%}
    {{ return([
        {'kpi': 'signed_projects', 'part': 'value', 'component': 'signed_projects', 'column': 'signed_date', 'unit': '个', 'scale': 0},
        {'kpi': 'major_projects_signed', 'part': 'value', 'component': 'major_projects', 'column': 'contract_amount', 'unit': '个', 'scale': 0},
        {'kpi': 'fortune500_projects', 'part': 'value', 'component': 'fortune500_projects', 'column': 'fortune500', 'unit': '个', 'scale': 0},
        {'kpi': 'signed_investment', 'part': 'value', 'component': 'signed_investment_100m', 'column': 'contract_amount', 'unit': '亿元', 'scale': 6},
        {'kpi': 'performance_rate', 'part': 'numerator', 'component': 'performed_projects', 'column': 'stage', 'unit': '个', 'scale': 0},
        {'kpi': 'performance_rate', 'part': 'denominator', 'component': 'signed_projects', 'column': 'signed_date', 'unit': '个', 'scale': 0},
        {'kpi': 'start_rate', 'part': 'numerator', 'component': 'started_projects', 'column': 'stage', 'unit': '个', 'scale': 0},
        {'kpi': 'start_rate', 'part': 'denominator', 'component': 'signed_projects', 'column': 'signed_date', 'unit': '个', 'scale': 0},
        {'kpi': 'production_rate', 'part': 'numerator', 'component': 'producing_projects', 'column': 'stage', 'unit': '个', 'scale': 0},
        {'kpi': 'production_rate', 'part': 'denominator', 'component': 'signed_projects', 'column': 'signed_date', 'unit': '个', 'scale': 0},
        {'kpi': 'funds_rate', 'part': 'numerator', 'component': 'paid_in_100m_cny', 'column': 'paid_in_cumulative', 'unit': '亿元', 'scale': 6},
        {'kpi': 'funds_rate', 'part': 'denominator', 'component': 'contract_100m_cny', 'column': 'contract_amount', 'unit': '亿元', 'scale': 6},
    ]) }}
{%- endmacro %}


{#- Funds paid in since the December Y−1 ledger, per currency (SPEC §4): Σ 累计实际到位资金 of
    the ledger's projects in that currency, less the same projects' figure in the December
    ledger (0 where absent), / 10⁴. -#}
{#- Paid-in at the end of last year, per project: fct_project_month's December Y−1 rows of the
    cities and years in ``years`` (a relation with city_code, year). The base the funds KPIs
    (int_kpi__project_window) and their rows (int_kpi__project_contributions) subtract. -#}
{% macro last_december_paid_in(years) -%}
    select d.city_code, d.period, d.project_id, d.paid_in_cumulative_10k
    from {{ ref('fct_project_month') }} as d
    inner join (select distinct city_code, year from {{ years }}) as y
        on y.city_code = d.city_code
       and d.period = cast(y.year - 1 as {{ dbt.type_string() }}) || '-12'
{%- endmacro %}


{% macro funds_measures() -%}
    {{ return([
        {'kpi': 'funds_domestic', 'currency': '人民币', 'unit': '亿元'},
        {'kpi': 'fdi_actual', 'currency': '美元', 'unit': '亿美元'},
    ]) }}
{%- endmacro %}


{#- The rows of funds_domestic / fdi_actual (one currency) behind each ledger in force (city, period)
    when the December Y−1 ledger is in force: the ledger's rows in the currency (term paid_in,
    + 累计实际到位资金 / 10⁴) and the same projects' rows of that December ledger (december_base,
    − / 10⁴), in 亿元 / 亿美元 (kpi_contribution_rows; int_kpi__project_contributions sums the same). -#}
{% macro kpi_funds_rows(currency) -%}
    select
        f.city_code, f.period, 'paid_in' as term, f.file_id, f.period as source_period, f.row_number,
        f.project_id as row_key, cast(f.paid_in_cumulative_10k as {{ dbt.type_string() }}) as cell,
        cast(f.paid_in_cumulative_10k as numeric) / 10000 as value
    from {{ ref('fct_project_month') }} as f
    where f.currency = '{{ currency }}'
      and exists (
          select 1 from {{ ref('stg_audit__current_submissions') }} as s
          where s.city_code = f.city_code and s.kind = 'workbook'
            and s.period = cast(cast(substr(f.period, 1, 4) as integer) - 1 as {{ dbt.type_string() }}) || '-12'
      )
    union all
    select
        f.city_code, f.period, 'december_base', d.file_id, d.period, d.row_number, d.project_id,
        cast(d.paid_in_cumulative_10k as {{ dbt.type_string() }}), -cast(d.paid_in_cumulative_10k as numeric) / 10000
    from {{ ref('fct_project_month') }} as f
    inner join {{ ref('fct_project_month') }} as d
        on d.city_code = f.city_code and d.project_id = f.project_id
       and d.period = cast(cast(substr(f.period, 1, 4) as integer) - 1 as {{ dbt.type_string() }}) || '-12'
    where f.currency = '{{ currency }}'
{%- endmacro %}


{#- The parks KPIs (园区情况, stocks as at month-end and YTD tax): KPI, part and the column of
    fct_park_month summed over the city's parks (int_kpi__city_components), its unit and the
    decimal places of its sum. -#}
{% macro park_measures() -%}
    {{ return([
        {'kpi': 'park_enterprises', 'part': 'value', 'column': 'enterprises', 'unit': '家', 'scale': 0},
        {'kpi': 'park_above_scale', 'part': 'value', 'column': 'above_scale_enterprises', 'unit': '家', 'scale': 0},
        {'kpi': 'factory_occupancy', 'part': 'numerator', 'column': 'factory_used_10k_m2', 'unit': '万平方米', 'scale': 4},
        {'kpi': 'factory_occupancy', 'part': 'denominator', 'column': 'factory_built_10k_m2', 'unit': '万平方米', 'scale': 4},
        {'kpi': 'tax_per_mu', 'part': 'numerator', 'column': 'tax_ytd_10k_cny', 'unit': '万元', 'scale': 2},
        {'kpi': 'tax_per_mu', 'part': 'denominator', 'column': 'developed_area_mu', 'unit': '亩', 'scale': 2},
    ]) }}
{%- endmacro %}


{#- value = factor × numerator / denominator for the ratio KPIs (int_kpi__city_components). -#}
{% macro ratio_factors() -%}
    {{ return({
        'performance_rate': 100, 'start_rate': 100, 'production_rate': 100, 'funds_rate': 100,
        'factory_occupancy': 100, 'tax_per_mu': 1, 'trade_dependence': 100,
    }) }}
{%- endmacro %}
