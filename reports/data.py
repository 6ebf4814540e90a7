"""Queries behind the bulletins (read-only, from the marts and audit).

Everything is computed here from ``marts.kpi_city_month``, ``marts.fct_project_month``
and ``marts.dim_project``.  When the marts ``marts.quarterly_bulletin`` and
``marts.monthly_scheduling`` exist, :func:`kpi_table` / :func:`scheduling_projects`
are the places to switch to them.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from core.constants import PROVINCE_CODE

# KPIs in the quarterly bulletin, grouped as in the 附表 (order within a group = display_order).
GROUPS = [
    ("外贸", ["trade_total", "exports", "imports", "trade_enterprises", "services_trade"]),
    ("招商引资", ["signed_projects", "signed_investment", "major_projects_signed", "fortune500_projects",
              "funds_domestic", "fdi_actual", "funds_total"]),
    ("项目推进（四率）与园区", ["performance_rate", "start_rate", "production_rate", "funds_rate",
                      "park_enterprises", "park_above_scale", "factory_occupancy", "tax_per_mu"]),
]
# KPIs named in 一、总体情况 and ranked in 二、各市州情况.
MAIN_KPIS = ["trade_total", "exports", "imports", "signed_projects", "signed_investment",
             "major_projects_signed", "fortune500_projects", "funds_total", "funds_domestic", "fdi_actual",
             "services_trade"]
RATE_KPIS = ["performance_rate", "start_rate", "production_rate", "funds_rate"]


def connect(settings) -> psycopg.Connection:
    return psycopg.connect(**settings.warehouse.conninfo(), autocommit=True, row_factory=dict_row)


# --------------------------------------------------------------------------- KPIs
# The figures both tables print, as floats; {t} is the relation that holds them.
_FIGURES = ",\n    ".join(f"cast({{t}}.{c} as double precision) as {c}" for c in (
    "value_ytd", "value_ytd_last_year", "yoy_pct", "yoy_pp", "annual_target", "target_progress_pct",
    "time_progress_pct"))
# How complete a figure is (issue 12) and the kind of file behind it.
_STATUS = ", ".join(f"{{t}}.{c}" for c in ("is_combined_jan_feb", "report_status", "is_complete", "cities_reported",
                                          "yoy_basis", "source_kind"))
# Rank by progress against the annual target, within the cities (the province has none).
_RANK_TARGET = """case when {t}.city_code <> %(province)s and {t}.target_progress_pct is not null then
        cast(rank() over (partition by {t}.kpi_code, {t}.city_code = %(province)s, {t}.target_progress_pct is null
                          order by {t}.target_progress_pct desc) as integer) end as rank_target"""

KPI_SQL = f"""
with k as (
    select k.*, d.display_order, d.kind as kpi_kind
    from marts.kpi_city_month as k
    join reference.kpi_definitions as d using (kpi_code)
    where k.period = %(period)s
)
select
    k.kpi_code, k.kpi_name_zh, k.city_code, k.city_name, k.period, k.month, k.display_order, k.kpi_kind,
    {_STATUS.format(t="k")},
    cast(k.value_month as double precision) as value_month,
    {_FIGURES.format(t="k")},
    k.rank_in_province,
    case when k.city_code <> %(province)s and coalesce(k.yoy_pp, k.yoy_pct) is not null then
        cast(rank() over (partition by k.kpi_code, k.city_code = %(province)s,
                                       coalesce(k.yoy_pp, k.yoy_pct) is null
                          order by coalesce(k.yoy_pp, k.yoy_pct) desc) as integer) end as rank_growth,
    {_RANK_TARGET.format(t="k")},
    k.unit
from k
order by k.display_order, k.city_code
"""


# A quarter's figures, ranks and cards come from marts.quarterly_bulletin, where they are defined once.
QUARTER_SQL = f"""
select
    q.kpi_code, q.kpi_name_zh, q.city_code, q.city_name, q.period, k.month, q.display_order, d.kind as kpi_kind,
    {_STATUS.format(t="k")},
    cast(k.value_month as double precision) as value_month,
    {_FIGURES.format(t="q")},
    q.rank_by_total as rank_in_province,
    q.rank_by_growth as rank_growth,
    {_RANK_TARGET.format(t="q")},
    q.card,
    cast(q.progress_gap_pp as double precision)      as progress_gap_pp,
    q.unit
from marts.quarterly_bulletin as q
join marts.kpi_city_month as k using (kpi_code, city_code, period)
join reference.kpi_definitions as d using (kpi_code)
where q.period = %(period)s
order by q.display_order, q.city_code
"""


def kpi_table(conn, period: str) -> list[dict]:
    """All KPIs × (province + cities) for one month (the monthly report)."""
    return conn.execute(KPI_SQL, {"period": period, "province": PROVINCE_CODE}).fetchall()


def quarter_table(conn, period: str) -> list[dict]:
    """All KPIs × (province + cities) for a quarter-end month, with ranks and 红/黄/绿 cards."""
    return conn.execute(QUARTER_SQL, {"period": period, "province": PROVINCE_CODE}).fetchall()


def cities(conn) -> list[dict]:
    return conn.execute("select city_code, city_name from marts.dim_city where city_code <> %(province)s "
                        "order by city_code", {"province": PROVINCE_CODE}).fetchall()


def trend(conn, kpi_code: str, start: str, end: str, city_code: str = PROVINCE_CODE) -> list[dict]:
    return conn.execute(
        """select kpi_code, kpi_name_zh, city_code, city_name, period, month, unit, source_kind,
                  cast(value_month as double precision) as value_month,
                  cast(value_ytd as double precision) as value_ytd, is_combined_jan_feb, is_complete, cities_reported
           from marts.kpi_city_month
           where kpi_code = %s and city_code = %s and period between %s and %s order by period""",
        [kpi_code, city_code, start, end]).fetchall()


# --------------------------------------------------------------------------- sources
def sources(conn, first: str, last: str) -> list[dict]:
    """The submission files in force (loaded, not superseded) for periods first..last."""
    return conn.execute(
        """select s.file_id, s.file_name, s.city_code, coalesce(c.city_name, '') as city_name, s.period, s.kind,
                  s.sha256, s.received_at, s.status, s.rows, s.rows_rejected
           from audit.submissions_in_force as s
           left join marts.dim_city as c on c.city_code = s.city_code
           where s.period between %s and %s
           order by s.file_id""", [first, last]).fetchall()


# --------------------------------------------------------------------------- scheduling
LEDGER_SQL = """
select m.city_code, m.city_name, m.period, m.project_id, m.project_key, m.project_name, m.investor,
       m.fortune500, m.industry_chain, m.county_code, m.currency, m.stage, m.previous_stage, m.stage_changed,
       f.is_new_in_ledger, m.signed_date, m.registered_date, m.started_date, m.production_date,
       cast(m.contract_amount_10k as double precision)          as contract_amount_10k,
       cast(m.contract_amount_100m_cny as double precision)     as contract_100m_cny,
       cast(m.paid_in_cumulative_10k as double precision)       as paid_in_10k,
       m.is_major, m.is_fortune500, m.file_id,
       m.is_overdue_not_started, m.is_overdue_not_producing, m.is_stalled_funds
from marts.monthly_scheduling as m
join marts.fct_project_month as f on f.project_id = m.project_id and f.period = m.period
where m.period = %(period)s
  and (m.is_overdue_not_started or m.is_overdue_not_producing or m.is_stalled_funds or m.stage_changed
       or f.is_new_in_ledger or m.stage = '终止')
order by m.city_code, m.project_id
"""


def ledger(conn, period: str) -> tuple[int, list[dict]]:
    """The month's ledger: how many projects it lists, and the rows (with the scheduling flags of
    marts.monthly_scheduling) that a table of the report may list: flagged, changed, new or
    terminated (a termination's version has the stage 终止). The report picks its tables' rows
    from these; the other ~70 % of the ledger (77 k of 110 k rows at the province's volume,
    1 s to fetch) it only counts."""
    listed = conn.execute(LEDGER_SQL, {"period": period, "province": PROVINCE_CODE}).fetchall()
    total = conn.execute("select count(*) as n from marts.monthly_scheduling where period = %s",
                         [period]).fetchone()["n"]
    return total, listed


def terminated_this_year(conn, year: int, last: str) -> list[dict]:
    return conn.execute(
        """select distinct on (f.project_key) f.project_key, f.period as terminated_in, f.previous_stage
           from marts.fct_project_month as f
           where f.stage = '终止' and f.stage_changed and f.period between %s and %s
           order by f.project_key, f.period""", [f"{year:04d}-01", last]).fetchall()
