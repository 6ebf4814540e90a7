{#-
  Read-only database roles of SPEC §4, kept by the build itself:

    bi_reader  SELECT on marts only                        (BI tools)
    auditor    SELECT on every schema the warehouse owns   (auditors)

  Both are NOLOGIN group roles: people and tools get their own LOGIN role and
  are granted membership (GRANT bi_reader TO superset_svc) by whoever manages
  logins; the build never hands out memberships.

  on-run-start  openecon_setup_roles()   roles (when missing), schemas (when missing),
                                         USAGE on schemas and ALTER DEFAULT PRIVILEGES, so
                                         every table created from then on - by dbt or by
                                         ingestion - is readable at once, even mid-run.
  on-run-end    openecon_grant_select()  SELECT on the tables that already exist (those
                                         created before the default privileges were set).

  Everything is idempotent and runs as the transform role, which stays NOSUPERUSER.
  When that role cannot create roles (an external server without CREATEROLE), or does
  not own a schema, the build logs a warning saying what a DBA has to do, and carries on.
  Role names can be overridden with the vars openecon_bi_reader_role / openecon_auditor_role.
-#}

{% macro openecon_reader_grants() -%}
  {#- role -> schemas it may read -#}
  {{ return({
      var('openecon_bi_reader_role', 'bi_reader'): ['marts'],
      var('openecon_auditor_role', 'auditor'): ['raw', 'staging', 'intermediate', 'marts', 'audit', 'reference'],
  }) }}
{%- endmacro %}


{% macro openecon_warehouse_schemas() -%}
  {%- set out = [] -%}
  {%- for schemas in openecon_reader_grants().values() -%}
    {%- for s in schemas if s not in out -%}{%- do out.append(s) -%}{%- endfor -%}
  {%- endfor -%}
  {{ return(out) }}
{%- endmacro %}


{% macro _openecon_sql_list(values) -%}
  {%- for v in values -%}'{{ v | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%}
{%- endmacro %}


{% macro _openecon_role_state() -%}
  {#- What the running role may do, which roles exist and which schemas it owns. -#}
  {%- set grants = openecon_reader_grants() -%}
  {%- set schemas = openecon_warehouse_schemas() -%}
  {%- set me = run_query(
      "select r.rolname, (r.rolsuper or r.rolcreaterole) as can_create_roles,
              has_database_privilege(current_database(), 'CREATE') as can_create_schemas
         from pg_roles r where r.rolname = current_user").rows[0] -%}
  {%- set roles = run_query("select rolname from pg_roles where rolname in ("
                            ~ _openecon_sql_list(grants.keys() | list) ~ ")").columns[0].values() | list -%}
  {%- set owners = {} -%}
  {%- for row in run_query(
      "select nspname, pg_has_role(current_user, nspowner, 'USAGE'), pg_get_userbyid(nspowner)
         from pg_namespace where nspname in (" ~ _openecon_sql_list(schemas) ~ ")").rows -%}
    {%- do owners.update({row[0]: {'ours': row[1], 'owner': row[2]}}) -%}
  {%- endfor -%}
  {{ return({'me': me[0], 'can_create_roles': me[1], 'can_create_schemas': me[2],
             'roles': roles, 'schemas': owners}) }}
{%- endmacro %}


{% macro openecon_setup_roles() -%}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set grants = openecon_reader_grants() -%}
  {%- set st = _openecon_role_state() -%}
  {%- set stmts = [] -%}
  {%- set ours = [] -%}

  {#- schemas: raw and audit come from ingestion, intermediate may have no model yet -#}
  {%- set foreign = [] -%}
  {%- for s in openecon_warehouse_schemas() -%}
    {%- if s in st.schemas -%}
      {%- if st.schemas[s].ours -%}{%- do ours.append(s) -%}
      {%- else -%}{%- do foreign.append(s ~ " (owner " ~ st.schemas[s].owner ~ ")") -%}
      {%- endif -%}
    {%- elif st.can_create_schemas -%}
      {%- do stmts.append("create schema if not exists " ~ adapter.quote(s)) -%}
      {%- do ours.append(s) -%}
    {%- else -%}
      {%- do exceptions.warn("[WARNING]: openecon roles: schema " ~ s ~ " does not exist and " ~ st.me
            ~ " may not create schemas in this database; no grants on it.") -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if foreign -%}
    {%- do exceptions.warn("[WARNING]: openecon roles: " ~ st.me ~ " does not own the schemas "
          ~ foreign | join(', ') ~ ", so it cannot grant on them; their owner must GRANT USAGE on each"
          ~ " schema and SELECT on its tables to the reader roles (see macros/warehouse_roles.sql).") -%}
  {%- endif -%}

  {%- for role, schemas in grants.items() -%}
    {%- if role not in st.roles -%}
      {%- if st.can_create_roles -%}
        {#- a concurrent build may create it first: that is fine -#}
        {%- do stmts.append("begin create role " ~ adapter.quote(role) ~ " nologin;"
              ~ " exception when duplicate_object or unique_violation then null; end") -%}
      {%- else -%}
        {%- do exceptions.warn("[WARNING]: openecon roles: role " ~ role ~ " does not exist and " ~ st.me
              ~ " lacks CREATEROLE, so it was not created and nothing was granted to it. Ask a DBA to run: "
              ~ "CREATE ROLE " ~ role ~ " NOLOGIN; the next build grants it SELECT on "
              ~ schemas | join(', ') ~ ".") -%}
        {%- continue -%}
      {%- endif -%}
    {%- endif -%}
    {%- for s in schemas if s in ours -%}
      {%- do stmts.append("grant usage on schema " ~ adapter.quote(s) ~ " to " ~ adapter.quote(role)) -%}
      {%- do stmts.append("alter default privileges in schema " ~ adapter.quote(s)
            ~ " grant select on tables to " ~ adapter.quote(role)) -%}
    {%- endfor -%}
  {%- endfor -%}

  {%- if stmts -%}
    {% do _openecon_run_locked(stmts) %}
    {{ log("openecon roles: " ~ (grants.keys() | join(', ')) ~ " ready", info=False) }}
  {%- endif -%}
  {{ return('') }}
{%- endmacro %}


{% macro openecon_grant_select() -%}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set grants = openecon_reader_grants() -%}
  {%- set st = _openecon_role_state() -%}
  {%- set stmts = [] -%}
  {%- for role, schemas in grants.items() if role in st.roles -%}
    {%- set readable = [] -%}
    {%- for s in schemas if s in st.schemas and st.schemas[s].ours -%}{%- do readable.append(s) -%}{%- endfor -%}
    {%- if readable -%}
      {#- only relations we own: GRANT ... ON ALL TABLES fails on a table someone else owns -#}
      {%- set tables = run_query(
          "select format('%I.%I', n.nspname, c.relname)
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname in (" ~ _openecon_sql_list(readable) ~ ")
              and c.relkind in ('r', 'p', 'v', 'm', 'f')
              and pg_has_role(current_user, c.relowner, 'USAGE')
              and not has_table_privilege(" ~ _openecon_sql_list([role]) ~ ", c.oid, 'SELECT')
            order by 1").columns[0].values() | list -%}
      {%- if tables -%}
        {%- do stmts.append("grant select on " ~ tables | join(', ') ~ " to " ~ adapter.quote(role)) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if stmts -%}{% do _openecon_run_locked(stmts) %}{%- endif -%}
  {{ return('') }}
{%- endmacro %}


{#- Run role/grant statements in one committed transaction, serialised against
    concurrent builds (GRANTs on one object may otherwise fail with "tuple
    concurrently updated"). run_query opens a transaction that dbt rolls back when
    it closes the connection, hence the explicit commit. -#}
{% macro _openecon_run_locked(stmts) -%}
  {%- set body -%}
do $openecon_roles$
begin
  perform pg_advisory_xact_lock(hashtext('openecon.roles'));
  {%- for s in stmts %}
  {{ s }};
  {%- endfor %}
end
$openecon_roles$
  {%- endset -%}
  {% do run_query(body ~ ";\ncommit") %}
{%- endmacro %}
