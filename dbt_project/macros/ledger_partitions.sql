{#- Incremental project history, partitioned by ledger (city × period).

    The project models (int_projects__versioned, fct_project_month,
    monthly_scheduling, int_kpi__project_window) keep one partition per ledger
    in force, and every row carries the ledger's file_id and the city's
    previous ledger period. An incremental run
      1. deletes, per city, every partition from the earliest one that is out of
         date: built from a file no longer in force (a correction superseded it),
         or after another previous ledger than now (a ledger arrived out of
         order), or older than a new non-empty ledger that arrived late;
      2. builds the ledgers in force that have no partition (new months and the
         partitions just deleted), reading what came before from the table itself.
    So adding a month costs that month, a correction costs the months from it to
    now, and the result equals a full refresh (tests/integration/test_kpi.py). -#}

{% macro ledgers_in_force() -%}
    select
        file_id,
        city_code,
        period,
        month_start,
        lag(period) over (partition by city_code order by period) as previous_ledger_period
    from {{ ref('stg_audit__current_submissions') }}
    where kind = 'workbook'
{%- endmacro %}


{#- pre_hook: step 1 above (runs in the model's transaction). -#}
{% macro delete_stale_ledger_partitions() -%}
{%- if is_incremental() %}
delete from {{ this }} as t
using (
    with built as (
        select distinct city_code, period, file_id, previous_ledger_period from {{ this }}
    ),
    ledgers as (
        {{ ledgers_in_force() }}
    ),
    stale as (
        select b.city_code, b.period
        from built as b
        left join ledgers as l
            on l.city_code = b.city_code and l.period = b.period
        where l.file_id is distinct from b.file_id
           or l.previous_ledger_period is distinct from b.previous_ledger_period
        union all
        select l.city_code, l.period
        from ledgers as l
        where l.period < (select max(b.period) from built as b where b.city_code = l.city_code)
          and not exists (select 1 from built as b where b.file_id = l.file_id)
          and exists (select 1 from {{ ref('stg_submissions__projects') }} as p where p.file_id = l.file_id)
    )
    select city_code, min(period) as from_period
    from stale
    group by city_code
) as r
where t.city_code = r.city_code
  and t.period >= r.from_period
{%- endif %}
{%- endmacro %}


{#- Step 2: the ledgers in force to build now (all of them on a full refresh). -#}
{% macro ledgers_to_build() -%}
    select l.*
    from ({{ ledgers_in_force() }}) as l
    {%- if is_incremental() %}
    where not exists (select 1 from {{ this }} as t where t.file_id = l.file_id)
    {%- endif %}
{%- endmacro %}
