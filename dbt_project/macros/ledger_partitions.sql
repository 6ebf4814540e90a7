{#- Incremental project history, partitioned by ledger (city × period).

    The project models (int_projects__versioned, fct_project_month,
    monthly_scheduling, int_kpi__project_window) keep one partition per ledger
    in force, and every row carries the ledger's file_id and the city's
    previous ledger period. An incremental run
      1. deletes, per city, every partition from the earliest one that is out of
         date: built from a file that a correction superseded, or later than a
         ledger that arrived out of order (one that lists projects, or one that
         changes which ledger the next built one follows);
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


{#- pre_hook: step 1 above (runs in the model's transaction). It probes indexes
    (file_id; city_code, period) once per ledger and per superseded file, never
    scans the table, so its cost does not grow with the history. -#}
{% macro delete_stale_ledger_partitions() -%}
    {{ return(adapter.dispatch('delete_stale_ledger_partitions')()) }}
{%- endmacro %}

{#- DELETE ... USING is Postgres's join-delete; another engine writes its own sibling. -#}
{% macro postgres__delete_stale_ledger_partitions() -%}
{%- if is_incremental() %}
delete from {{ this }} as t
using (
    with ledgers as (
        {{ ledgers_in_force() }}
    ),
    unbuilt as (
        select
            l.city_code,
            l.period,
            l.file_id,
            (select min(b.period) from {{ this }} as b
             where b.city_code = l.city_code and b.period > l.period) as next_built_period
        from ledgers as l
        where not exists (select 1 from {{ this }} as b where b.file_id = l.file_id)
    ),
    stale as (
        -- partitions built from a ledger no longer in force (a correction superseded it)
        select s.city_code, s.period
        from {{ ref('stg_audit__submissions') }} as s
        where s.kind = 'workbook'
          and s.status in ('accepted', 'partial')
          and not exists (select 1 from ledgers as l where l.file_id = s.file_id)
          and exists (select 1 from {{ this }} as b where b.file_id = s.file_id)
        union all
        -- a ledger that arrived after later ones were built: stale from it on when
        -- it lists projects, or when the next built ledger now follows another one
        select u.city_code, u.period
        from unbuilt as u
        inner join ledgers as n
            on n.city_code = u.city_code and n.period = u.next_built_period
        where exists (select 1 from {{ ref('stg_raw__projects') }} as p where p.file_id = u.file_id)
           or exists (select 1 from {{ this }} as b
                      where b.city_code = n.city_code and b.period = n.period
                        and b.previous_ledger_period is distinct from n.previous_ledger_period)
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


{#- A condition on {{ this }}'s (city_code, period) that keeps, for each city with a ledger to
    build, its last ledger already built: constants, found when the model compiles, so the
    planner reads those ranges of the (city_code, period) index and nothing else (as a join,
    Postgres re-ran the max() for every row). Rows deleted by the pre_hook after the lookup only
    make the condition keep less, never a wrong row: nothing is added before the model runs. -#}
{% macro last_built_ledgers(alias) -%}
    {%- if execute and is_incremental() -%}
        {%- set found = run_query(
            "select c.city_code, (select max(x.period) from " ~ this ~ " as x where x.city_code = c.city_code)"
            ~ " from (select distinct city_code from (" ~ ledgers_to_build() ~ ") as l) as c") -%}
        {%- set pairs = [] -%}
        {%- for row in found.rows if row[1] is not none -%}
            {%- do pairs.append("('" ~ row[0] ~ "', '" ~ row[1] ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if pairs -%}
        ({{ alias }}.city_code, {{ alias }}.period) in ({{ pairs | join(', ') }})
    {%- else -%}
        1 = 0
    {%- endif -%}
{%- endmacro %}
