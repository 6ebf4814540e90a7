{#- What dim_project's incremental build redoes (models/marts/projects/dim_project.sql).

    dim_project keeps, in the same transaction as its rows, the ledgers in force it was
    built from (dim_project_state_relation(), written by its post_hook). Against the ledgers in
    force now, each city whose ledgers changed is one of:
      append     every change is a new ledger later than all it was built from: the new
                 months' rows (int_projects__versioned rows after reflected_period) continue
                 the versions already built, so the cost is the new months';
      recompute  a ledger was corrected, returned or arrived late: the city's versions are
                 worked out again from its whole history (rare, and one city's).
    A warehouse whose dim_project has no record yet recomputes every city. -#}

{% macro dim_project_state_relation() -%}
    {{ return(api.Relation.create(database=this.database, schema=ref('int_projects__versioned').schema,
                                  identifier='dim_project_built_ledgers')) }}
{%- endmacro %}


{% macro dim_project_changes() -%}
    {%- set state = adapter.get_relation(database=this.database, schema=dim_project_state_relation().schema,
                                         identifier=dim_project_state_relation().identifier) -%}
    {%- if state is none %}
    select city_code, cast(null as {{ dbt.type_string() }}) as reflected_period, 0 as is_append
    from {{ ref('stg_audit__current_submissions') }}
    group by city_code
    {%- else %}
    select
        ch.city_code,
        max(r.reflected_period) as reflected_period,
        min(case when ch.is_new = 1 and (r.reflected_period is null or ch.period > r.reflected_period)
                 then 1 else 0 end) as is_append
    from (
        select c.city_code, c.period, 1 as is_new
        from {{ ref('stg_audit__current_submissions') }} as c
        where c.kind = 'workbook'
          and not exists (select 1 from {{ state }} as s where s.file_id = c.file_id)
        union all
        select s.city_code, s.period, 0 as is_new
        from {{ state }} as s
        where not exists (select 1 from {{ ref('stg_audit__current_submissions') }} as c
                          where c.file_id = s.file_id and c.kind = 'workbook')
    ) as ch
    left join (
        select city_code, max(period) as reflected_period
        from {{ state }}
        group by city_code
    ) as r
        on r.city_code = ch.city_code
    group by ch.city_code
    {%- endif %}
{%- endmacro %}


{#- pre_hook: a recomputed city's versions go first (delete+insert by project_id would keep a
    project that no ledger lists any more). -#}
{% macro delete_recomputed_cities() -%}
{%- if is_incremental() %}
delete from {{ this }}
where city_code in (select city_code from ({{ dim_project_changes() }}) as c where c.is_append = 0)
{%- endif %}
{%- endmacro %}


{#- post_hook: the ledgers this build of dim_project reflects. -#}
{% macro record_dim_project_ledgers() -%}
create table if not exists {{ dim_project_state_relation() }} (
    file_id bigint primary key,
    city_code {{ dbt.type_string() }} not null,
    period {{ dbt.type_string() }} not null
);
delete from {{ dim_project_state_relation() }};
insert into {{ dim_project_state_relation() }} (file_id, city_code, period)
select file_id, city_code, period
from {{ ref('stg_audit__current_submissions') }}
where kind = 'workbook'
{%- endmacro %}


{#- The rows of int_projects__versioned (as ``alias``) that new_rows may need, as constants found
    when the model compiles: a recomputed city's all, an appended city's after reflected_period.
    Postgres then reads ranges of the (city_code, period) index instead of the whole history,
    which a join with dim_project_changes() made it scan. The pre_hook changes neither input. -#}
{% macro dim_project_rows_to_read(alias) -%}
    {%- set parts = [] -%}
    {%- if execute -%}
        {%- for row in run_query(dim_project_changes()).rows -%}
            {%- if row[2] == 1 and row[1] is not none -%}
                {%- do parts.append("(" ~ alias ~ ".city_code = '" ~ row[0] ~ "' and " ~ alias ~ ".period > '" ~ row[1] ~ "')") -%}
            {%- else -%}
                {%- do parts.append("(" ~ alias ~ ".city_code = '" ~ row[0] ~ "')") -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if parts -%}
        ({{ parts | join(' or ') }})
    {%- else -%}
        1 = 0
    {%- endif -%}
{%- endmacro %}
