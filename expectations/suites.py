"""Expectation suites as code: one per layer and entity, named ``<layer>.<entity>``.

Each expectation carries ``meta.severity``: ``blocking`` failures stop the
pipeline before anything is published, ``warning`` ones are only reported.
Cross-row rules are SQL whose result rows are the failing rows (GX
``UnexpectedRowsExpectation``), so the sample an engineer reads is the rows
that break the rule; ``meta.rule`` gives each one a stable name.

Layers:
- raw: generated from the submission contract (``ingestion/contract.py``), so a
  changed column changes its checks too.  Raw is validated on a *window* of rows:
  the files in force the gate has not yet passed (see ``expectations.runner``);
  intake already validated every row once.
- staging: types, ranges and business keys unique per period, on the same window as raw
  (the rows of the files the window names: a period's rows all come from its file in force).
- marts: reconciliation, monotonic cumulative figures, rate bounds, completeness.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import great_expectations.expectations as gxe
from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

from core import reference
from core.constants import PROVINCE_CODE
from core.periods import PERIOD_RE
from ingestion import contract
from ingestion.load import PAID_IN_REVISION

BLOCKING = {"severity": "blocking"}
WARNING = {"severity": "warning"}

# The KPI kinds of the kpi_definitions seed (what the reconciliation rules read).
ADDITIVE_KINDS = ("flow", "stock")  # province = Σ cities
CUMULATIVE_KINDS = ("flow", "distinct")  # year to date: never lower than the month before
# YTD sums of non-negative monthly amounts, distinct counts over a growing set of rows and
# the cities' own YTD services figures can only grow within a year: a fall is an error.
# The project KPIs count the projects in the latest ledger, so a project dropped from a
# ledger or a flagged paid-in revision can lower them: a fall there is worth a look only.
STRICTLY_CUMULATIVE = ("trade_total", "exports", "imports", "trade_enterprises", "services_trade")
# Shares of a count, or used ≤ built (enforced at intake): bounded by definition.
BOUNDED_RATES = ("performance_rate", "start_rate", "production_rate", "factory_occupancy")
# 资金到位率 = Σ paid-in / Σ contract: investors may pay in more than the contract (SPEC sets no
# bound, intake has no such rule), and 外贸依存度 = trade / GDP exceeds 100% in very open
# economies. Both are ≥ 0; above 100 is a warning to look at, not an error.
UNBOUNDED_RATES = ("funds_rate", "trade_dependence")
# marts.kpi_city_month.report_status: city rows reported / combined / missing, province rows
# reported (complete) / partial / missing; yoy_basis says whether 同比 compares like with like.
KPI_REPORT_STATUSES = ("reported", "combined", "missing", "partial")
YOY_BASES = ("complete", "incomplete_this_year", "incomplete_last_year", "combined_last_year", "no_last_year")


FAILING_ROWS = "failing_rows__"  # the column a rule's query adds: how many rows break it
RULE_SAMPLE_ROWS = 200  # failing rows kept with a result (and shown in Data Docs)


class ExpectNoRowsBreakingRule(UnexpectedRowsExpectation):
    """GX ``UnexpectedRowsExpectation`` that runs its query once and keeps the failing rows.

    The stock expectation runs the query twice, once for its rows and once wrapped in a count
    (3.3 s + 1.8 s for the month's 2.2 M trade rows), and returns the rows only with result
    format COMPLETE, which for column expectations would fetch every unexpected value. Here
    the query (see ``rule``) returns at most RULE_SAMPLE_ROWS failing rows, each carrying the
    total count in FAILING_ROWS, so the rows metric alone gives both.
    """

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

    def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
        rows = list(metrics["unexpected_rows_query.table"] or [])
        count = int(rows[0][FAILING_ROWS]) if rows else 0
        return {"success": count == 0,
                "result": {"observed_value": count,
                           "details": {"unexpected_rows": [{k: v for k, v in r.items() if k != FAILING_ROWS}
                                                           for r in rows]}}}


def rule(name: str, description: str, query: str, meta: dict = BLOCKING) -> ExpectNoRowsBreakingRule:
    """A cross-row rule: ``query`` selects the rows that break it ({batch} is the table)."""
    # GX aliases {batch} itself ("AS subselect") unless the query has a JOIN, when the
    # author must: write every {batch} with an alias, dropped here where GX adds its own.
    if not re.search(r"\bjoin\b", query, re.IGNORECASE):
        query = re.sub(r"\{batch\} as \w+", "{batch}", query)
    counted = (f"select breaking.*, count(*) over () as {FAILING_ROWS}\nfrom (\n{query.strip()}\n) as breaking\n"
               f"limit {RULE_SAMPLE_ROWS}")
    return ExpectNoRowsBreakingRule(unexpected_rows_query=counted, description=description,
                                    meta={**meta, "rule": name})


def unique_key(columns: list[str], meta: dict = BLOCKING) -> ExpectNoRowsBreakingRule:
    """No two rows of the batch share ``columns`` (rows with a key column empty are not compared,
    as in GX's compound-uniqueness expectation). One hash aggregation of the batch: GX's own
    expectation joins the batch with its group counts, and with a new file's rows lying past the
    statistics (no ANALYZE since the ingest) the planner ran that join as nested loops: 50 s
    instead of 0.1 s for a month's 110 k ledger rows, and quadratic in them."""
    key = ", ".join(columns)
    return rule(f"unique_{'_'.join(columns)}", f"no two rows of the window share ({key})", f"""
        select {key}, count(*) as rows_sharing_key
        from {{batch}} as b
        where {" and ".join(f"{c} is not null" for c in columns)}
        group by {key}
        having count(*) > 1""", meta)


@dataclass(frozen=True)
class SuiteSpec:
    name: str  # <layer>.<entity>
    schema: str
    table: str
    expectations: tuple
    query: str | None = None  # validate this SELECT (a window) instead of the whole table, through a view of it
    requires: str | None = None  # a relation that must exist, else the suite is skipped

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return f"{self.schema}.{self.table}"


def _codes(codes) -> str:
    return ", ".join(f"'{c}'" for c in codes)


# --------------------------------------------------------------------------- raw
def _full(pattern: str) -> str:
    return pattern if pattern.startswith("^") else f"^(?:{pattern})$"


def _code_set(name: str) -> list[str] | None:
    """The allowed values of a code list; city-specific lists as the union over cities."""
    if name == "park_of_city":
        return sorted(p["park_code"] for p in reference.parks())
    if name == "county_of_city":
        return sorted(set().union(*reference.counties_by_city().values()))
    return sorted(contract.code_list(name))


def _in_months(column: str, months: list[str]) -> str:
    """`` and <column> in (date '2025-09-01', ...)``: constants, so Postgres reads only those
    months' partitions of raw.trade (it prunes partitions on constants when it plans)."""
    if not months:
        return ""
    dates = ", ".join(f"date '{m}-01'" for m in months)
    return f" and {column} in ({dates})"


USCC_SHAPE = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"


def _sql_text(text: str) -> str:
    """A SQL string literal inside a cross-row rule (GX formats {batch}: braces doubled)."""
    return "'" + text.replace("'", "''").replace("{", "{{").replace("}", "}}") + "'"


def bulk_rule(sheet: contract.Sheet) -> ExpectNoRowsBreakingRule:
    """Every column check of a bulk sheet as one cross-row rule: one scan of the window's rows,
    where a column expectation each would cost GX several queries over millions of rows."""
    checks: list[tuple[str, str]] = [("file_id", "file_id is null"), ("row_number", "row_number is null")]
    for c in sheet.columns:
        if c.required:
            checks.append((c.name, f"{c.name} is null"))
        if c.code_list:
            checks.append((c.name, f"{c.name} not in ({_codes(_code_set(c.code_list))})"))
        if c.pattern:
            checks.append((c.name, f"{c.name} !~ {_sql_text(_full(c.pattern))}"))
        if c.check == "uscc":  # the check digit itself was verified at intake; the shape here
            checks.append((c.name, f"{c.name} !~ {_sql_text(USCC_SHAPE)}"))
        if c.min_value is not None and c.dtype in ("int", "numeric"):
            checks.append((c.name, f"{c.name} {'<=' if c.exclusive_min else '<'} {c.min_value}"))
    broken = " || ".join(f"case when coalesce({cond}, false) then '{col} ' else '' end" for col, cond in checks)
    shown = ", ".join(c.name for c in sheet.columns)
    return rule(f"{sheet.name}_rows_as_contracted",
                f"every row of the window has its required values, codes in their lists, patterns and "
                f"minimums as the contract declares (one scan; {len(checks)} checks)", f"""
        select file_id, row_number, {shown}, {broken} as broken_columns
        from {{batch}} as b
        where {_any_true(_per_value(col, cond) for col, cond in checks)}""")


def _per_value(column: str, condition: str) -> str:
    """A pattern condition as a test of the window's distinct values of its column, other
    conditions as they are. Postgres matches a regular expression at ~2 µs a row (the month's
    2.2 M trade rows: 4.4 s for the enterprise codes' shape, 2.0 s for the HS codes'); the month
    has 11 k enterprise codes and 344 HS codes, tested once each, then a hash probe a row.
    OFFSET 0 keeps the planner from pushing the match below the DISTINCT."""
    if "!~" not in condition:
        return condition
    assert condition.startswith(f"{column} "), condition
    tested = "v" + condition[len(column):]
    return (f"{column} in (select v from (select distinct {column} as v from {{batch}} offset 0) as d "
            f"where {tested})")


def _any_true(conditions) -> str:
    """A rule's filter as its conditions themselves, not a test of the column they compute:
    Postgres then estimates the failing rows from the statistics (few) rather than guessing
    most of the window, and the failing-rows column is computed for those rows only (the
    month's 2.2 M raw trade rows: 8.6 -> 5.8 s in the gate). A condition that is null (a null
    value) selects nothing, as ``coalesce(condition, false)`` in the column."""
    return " or ".join(f"({c})" for c in conditions)


def raw_suite(sheet: contract.Sheet, window: str, months: list[str] | None = None) -> SuiteSpec:
    """Checks of one raw table, generated from its contract sheet; ``months`` (YYYY-MM) are the
    months of the window's files, by which a bulk (partitioned) table is read."""
    if sheet.bulk:
        return SuiteSpec(name=f"raw.{sheet.name}", schema="raw", table=sheet.name, expectations=(bulk_rule(sheet),),
                         query=f"select * from raw.{sheet.name} where {window}"
                               + _in_months(contract.PARTITION_KEY, months or []))
    exps = [gxe.ExpectColumnValuesToNotBeNull(column=c, meta=BLOCKING) for c in ("file_id", "row_number")]
    for c in sheet.columns:
        if c.required:
            exps.append(gxe.ExpectColumnValuesToNotBeNull(column=c.name, meta=BLOCKING))
        if c.code_list:
            exps.append(gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=_code_set(c.code_list),
                                                        meta=BLOCKING))
        if c.pattern:
            exps.append(gxe.ExpectColumnValuesToMatchRegex(column=c.name, regex=_full(c.pattern), meta=BLOCKING))
        if c.check == "uscc":  # the check digit itself was verified at intake; the shape here
            exps.append(gxe.ExpectColumnValuesToMatchRegex(column=c.name, regex=USCC_SHAPE, meta=BLOCKING))
        if c.min_value is not None and c.dtype in ("int", "numeric"):
            exps.append(gxe.ExpectColumnValuesToBeBetween(column=c.name, min_value=c.min_value,
                                                          strict_min=c.exclusive_min, meta=BLOCKING))
        if c.unique:  # unique within the sheet = within one file
            exps.append(unique_key(["file_id", c.name]))
    for rr in sheet.row_rules:
        exps.append(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=rr.right, column_B=rr.left, or_equal=True, ignore_row_if="either_value_is_missing",
            meta={**BLOCKING, "rule": rr.code}))
    # city-specific code lists: the value must belong to the submitting city
    names = {c.code_list for c in sheet.columns if c.code_list}
    if "county_of_city" in names:
        col = next(c.name for c in sheet.columns if c.code_list == "county_of_city")
        exps.append(rule(f"{col}_of_submitting_city", f"{col} is a county of the city that submitted the file", f"""
            select s.city_code, s.file_name, b.file_id, b.row_number, b.{col}
            from {{batch}} as b join audit.submissions as s on s.file_id = b.file_id
            where b.{col} is not null and left(b.{col}, 4) <> left(s.city_code, 4)"""))
    if "park_of_city" in names:
        col = next(c.name for c in sheet.columns if c.code_list == "park_of_city")
        exps.append(rule(f"{col}_of_submitting_city", f"{col} is a park of the city that submitted the file", f"""
            select s.city_code, s.file_name, b.file_id, b.row_number, b.{col}, p.city_code as park_city
            from {{batch}} as b join audit.submissions as s on s.file_id = b.file_id
            join reference.hunan_parks as p on p.park_code = b.{col}
            where p.city_code <> s.city_code"""))
    return SuiteSpec(name=f"raw.{sheet.name}", schema="raw", table=sheet.name, expectations=tuple(exps),
                     query=f"select * from raw.{sheet.name} where {window}")


# --------------------------------------------------------------------------- staging
def _common_staging(cities: list[str]) -> list:
    return [
        gxe.ExpectColumnValuesToNotBeNull(column="period", meta=BLOCKING),
        gxe.ExpectColumnValuesToMatchRegex(column="period", regex=PERIOD_RE.pattern, meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="city_code", value_set=cities, meta=BLOCKING),
        gxe.ExpectColumnValuesToBeOfType(column="month_start", type_="DATE", meta=BLOCKING),
        gxe.ExpectColumnValuesToBeOfType(column="file_id", type_="BIGINT", meta=BLOCKING),
    ]


def _staging_suites(view: str, exps: list, window: str) -> list[SuiteSpec]:
    """A staging view's suites: its values on the window's rows, and its column types, which
    GX reads from the catalog (no row is read, so they check the whole view at no cost)."""
    is_type = [isinstance(e, gxe.ExpectColumnValuesToBeOfType) for e in exps]
    return [
        SuiteSpec(f"staging.{view}", "staging", view, tuple(e for e, t in zip(exps, is_type) if not t),
                  query=f"select * from staging.{view} where {window}"),
        SuiteSpec(f"staging.{view}_types", "staging", view, tuple(e for e, t in zip(exps, is_type) if t)),
    ]


def stg_projects(cities: list[str], window: str = "true") -> list[SuiteSpec]:
    money = "NUMERIC(18, 2)"
    exps = _common_staging(cities) + [
        gxe.ExpectColumnValuesToBeOfType(column="contract_amount_10k", type_=money, meta=BLOCKING),
        gxe.ExpectColumnValuesToBeOfType(column="paid_in_cumulative_10k", type_=money, meta=BLOCKING),
        *(gxe.ExpectColumnValuesToBeOfType(column=c, type_="DATE", meta=BLOCKING)
          for c in ("signed_date", "registered_date", "started_date", "production_date")),
        gxe.ExpectColumnValuesToNotBeNull(column="project_id", meta=BLOCKING),
        # the business key: one ledger row per project per city-period
        unique_key(["project_id", "period"]),
        gxe.ExpectColumnValuesToBeBetween(column="contract_amount_10k", min_value=0, strict_min=True,
                                          meta=BLOCKING),
        gxe.ExpectColumnValuesToBeBetween(column="paid_in_cumulative_10k", min_value=0, meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="stage", value_set=list(contract.STAGES), meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=list(contract.CURRENCIES), meta=BLOCKING),
        rule("project_of_its_city", "a project id starts with the code of the city whose ledger holds it", """
            select city_code, period, project_id, file_id, row_number from {batch} as b
            where left(project_id, 6) <> city_code"""),
        rule("milestones_not_after_period", "no milestone date after the end of the period", """
            select city_code, period, project_id, signed_date, registered_date, started_date, production_date,
                   file_id, row_number
            from {batch} as b
            where greatest(signed_date, registered_date, started_date, production_date)
                  >= (month_start + interval '1 month')"""),
    ]
    return _staging_suites("stg_raw__projects", exps, window)


def stg_parks(cities: list[str], window: str = "true") -> list[SuiteSpec]:
    exps = _common_staging(cities) + [
        gxe.ExpectColumnValuesToBeOfType(column="enterprises", type_="INTEGER", meta=BLOCKING),
        gxe.ExpectColumnValuesToBeOfType(column="tax_ytd_10k_cny", type_="NUMERIC(18, 2)", meta=BLOCKING),
        unique_key(["park_code", "period"]),
        *(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, meta=BLOCKING)
          for c in ("planned_area_mu", "developed_area_mu", "factory_built_10k_m2", "factory_used_10k_m2",
                    "enterprises", "above_scale_enterprises", "tax_ytd_10k_cny", "employees")),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="factory_built_10k_m2", column_B="factory_used_10k_m2", or_equal=True,
            ignore_row_if="either_value_is_missing", meta=BLOCKING),
    ]
    return _staging_suites("stg_raw__parks", exps, window)


def stg_services(cities: list[str], window: str = "true") -> list[SuiteSpec]:
    exps = _common_staging(cities) + [
        unique_key(["city_code", "period", "category"]),
        gxe.ExpectColumnValuesToBeInSet(column="category", value_set=reference.service_categories(),
                                        meta=BLOCKING),
        gxe.ExpectColumnValuesToBeBetween(column="exports_10k_usd", min_value=0, meta=BLOCKING),
        gxe.ExpectColumnValuesToBeBetween(column="imports_10k_usd", min_value=0, meta=BLOCKING),
    ]
    return _staging_suites("stg_raw__services_trade", exps, window)


def stg_trade(cities: list[str], window: str, months: list[str] | None = None) -> SuiteSpec:
    """The typed trade view, on the same window as raw.trade.

    One cross-row rule instead of a column expectation per check: GX issues several
    queries per column expectation, and each query over this view joins the window's
    raw rows again (about 1 s per month of the demo's trade detail).
    """
    checks = {
        "period": "period !~ '" + PERIOD_RE.pattern.replace("{", "{{").replace("}", "}}") + "'",  # GX formats {batch}
        "city_code": f"city_code not in ({_codes(cities)})",
        "direction": f"direction not in ({_codes(contract.DIRECTIONS)})",
        "trade_mode": f"trade_mode not in ({_codes(contract.TRADE_MODES)})",
        "amount_cny": "amount_cny < 0",
        "amount_usd": "amount_usd < 0",
        "enterprise_code": "enterprise_code is null",
    }
    broken = " || ".join(f"case when coalesce({cond}, true) then '{col} ' else '' end" for col, cond in checks.items())
    exps = (
        rule("trade_rows_typed_and_in_lists", "every trade row of the window has a valid period, city, "
             "direction, trade mode, non-negative amounts and an enterprise code", f"""
            select city_code, period, file_id, row_number, direction, trade_mode, amount_cny, amount_usd,
                   {broken} as broken_columns
            from {{batch}} as b
            where {_any_true(f"{cond} or {col} is null" for col, cond in checks.items())}"""),
    )
    return SuiteSpec("staging.stg_raw__trade", "staging", "stg_raw__trade", exps,
                     query=f"select * from staging.stg_raw__trade where {window}"
                           + _in_months("month_start", months or []))


# --------------------------------------------------------------------------- marts
@lru_cache(maxsize=1)
def kpi_definitions() -> dict[str, dict]:
    with open(reference.SEEDS_DIR / "kpi_definitions.csv", encoding="utf-8") as f:
        return {r["kpi_code"]: r for r in csv.DictReader(f)}


def kpi_city_month(cities: list[str]) -> SuiteSpec:
    """The KPI grid: every cell present with an honest status, the province = Σ of the cities that
    reported, and 同比 only like for like.

    A city missing (or a 1–2月 January) is not an error when the grid says so: it is a warning on
    the latest period (whether an incomplete period may be published is the reports' decision).
    What blocks is a grid that misstates it: a hole, a value on a missing or combined row, a
    province figure that is not the sum of the reporting cities, an is_complete or report_status
    that disagrees with the city rows, a 同比 over unlike bases.
    """
    kinds = kpi_definitions()
    additive = [k for k, d in kinds.items() if d["kind"] in ADDITIVE_KINDS]
    distinct = [k for k, d in kinds.items() if d["kind"] == "distinct"]
    cumulative = [k for k, d in kinds.items() if d["kind"] in CUMULATIVE_KINDS]
    strict = [k for k in cumulative if k in STRICTLY_CUMULATIVE]
    soft = [k for k in cumulative if k not in STRICTLY_CUMULATIVE]
    # A city's own figures, and the province's complete ones: a province total over fewer
    # cities may well be lower than last month's complete one.
    ytd_drop = f"""
        select kpi_code, city_code, period, value_ytd, previous_period, previous_value_ytd
        from (select kpi_code, city_code, period, value_ytd,
                     lag(period) over w as previous_period, lag(value_ytd) over w as previous_value_ytd
              from {{{{batch}}}} as b
              where kpi_code in ({{codes}}) and value_ytd is not null
                and (city_code <> '{PROVINCE_CODE}' or is_complete)
              window w as (partition by kpi_code, city_code, year order by period)) as t
        where value_ytd < previous_value_ytd - 1e-9"""
    exps = (
        gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=BLOCKING),
        gxe.ExpectColumnValuesToNotBeNull(column="period", meta=BLOCKING),
        gxe.ExpectColumnValuesToMatchRegex(column="period", regex=PERIOD_RE.pattern, meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="city_code", value_set=[PROVINCE_CODE, *cities], meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="kpi_code", value_set=sorted(kinds), meta=BLOCKING),
        unique_key(["kpi_code", "city_code", "period"]),
        gxe.ExpectColumnValuesToBeInSet(column="report_status", value_set=list(KPI_REPORT_STATUSES),
                                        meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="yoy_basis", value_set=list(YOY_BASES), meta=BLOCKING),
        gxe.ExpectColumnValuesToNotBeNull(column="is_complete", meta=BLOCKING),
        rule("province_equals_sum_of_cities",
             f"province ({PROVINCE_CODE}) value_ytd and value_month = Σ of the cities that reported a figure, "
             "and cities_reported = how many, for the additive KPIs (kind flow or stock in "
             "reference.kpi_definitions)", f"""
            select p.kpi_code, p.period, p.value_ytd as province_ytd, c.sum_ytd as cities_ytd,
                   p.value_month as province_month, c.sum_month as cities_month,
                   p.cities_reported, c.cities
            from {{batch}} as p
            join (select kpi_code, period, sum(value_ytd) as sum_ytd, count(*) as cities,
                         -- 当月 is unknown for the province when a reporting city's is (a combined 1–2月)
                         case when count(value_month) = count(*) then sum(value_month) end as sum_month
                  from {{batch}} as b
                  where city_code <> '{PROVINCE_CODE}' and report_status = 'reported' and value_ytd is not null
                  group by kpi_code, period) as c
              on c.kpi_code = p.kpi_code and c.period = p.period
            where p.city_code = '{PROVINCE_CODE}' and p.kpi_code in ({_codes(additive)})
              and (abs(coalesce(p.value_ytd, 0) - coalesce(c.sum_ytd, 0))
                     > 1e-6 * greatest(1, abs(coalesce(c.sum_ytd, 0)))
                   or (p.value_ytd is null) <> (c.sum_ytd is null)
                   or (p.value_month is null) <> (c.sum_month is null)
                   or abs(p.value_month - c.sum_month) > 1e-6 * greatest(1, abs(c.sum_month))
                   or p.cities_reported is distinct from c.cities)
            union all
            select p.kpi_code, p.period, p.value_ytd, null, p.value_month, null, p.cities_reported, 0
            from {{batch}} as p
            where p.city_code = '{PROVINCE_CODE}' and p.kpi_code in ({_codes(additive)})
              and (p.value_ytd is not null or p.cities_reported <> 0)
              and not exists (select 1 from {{batch}} as c
                              where c.kpi_code = p.kpi_code and c.period = p.period and c.city_code <> p.city_code
                                and c.report_status = 'reported' and c.value_ytd is not null)"""),
        rule("distinct_count_le_sum_of_cities",
             "a province distinct count (e.g. trade_enterprises) is at least the largest city and, when "
             "complete, at most Σ cities (an incomplete one also counts a missing city's earlier months)",
             f"""
            select p.kpi_code, p.period, p.value_ytd as province_ytd, c.sum_ytd as cities_ytd, c.max_ytd,
                   p.is_complete
            from {{batch}} as p
            join (select kpi_code, period, sum(value_ytd) as sum_ytd, max(value_ytd) as max_ytd
                  from {{batch}} as b where city_code <> '{PROVINCE_CODE}' group by kpi_code, period) as c
              on c.kpi_code = p.kpi_code and c.period = p.period
            where p.city_code = '{PROVINCE_CODE}' and p.kpi_code in ({_codes(distinct)})
              and ((p.is_complete and p.value_ytd > c.sum_ytd) or p.value_ytd < c.max_ytd)"""),
        rule("ytd_non_decreasing", "value_ytd never falls within a year (sums of non-negative months, distinct "
             "counts over a growing set, the cities' YTD services figures), for the cities and the complete "
             "province rows", ytd_drop.format(codes=_codes(strict))),
        rule("ytd_non_decreasing_projects", "project KPIs year to date: a fall (project dropped from a ledger, "
             "paid-in revised down) is reported", ytd_drop.format(codes=_codes(soft)), WARNING),
        rule("rates_between_0_and_100", f"rates bounded by definition ({', '.join(BOUNDED_RATES)}) "
             "in [0, 100]", f"""
            select kpi_code, city_code, period, value_ytd from {{batch}} as b
            where kpi_code in ({_codes(BOUNDED_RATES)}) and (value_ytd < 0 or value_ytd > 100)"""),
        rule("rates_not_negative", "every ratio KPI is ≥ 0", f"""
            select kpi_code, city_code, period, value_ytd from {{batch}} as b
            where kpi_code in ({_codes(k for k, d in kinds.items() if d['kind'] == 'ratio')}) and value_ytd < 0"""),
        rule("unbounded_rates_above_100", f"{', '.join(UNBOUNDED_RATES)} above 100% (possible, but unusual)", f"""
            select kpi_code, city_code, period, value_ytd from {{batch}} as b
            where kpi_code in ({_codes(UNBOUNDED_RATES)}) and value_ytd > 100""", WARNING),
        rule("every_city_every_period",
             "a complete grid: every KPI (quarterly ones in 03/06/09/12) has a row for the province and each of "
             "the 14 cities in every period of the table, reported or not", """
            select d.kpi_code, c.city_code, c.city_name, p.period
            from (select distinct period from {batch} as b) as p
            cross join reference.kpi_definitions as d
            cross join marts.dim_city as c
            where (d.frequency <> 'quarterly' or right(p.period, 2) in ('03', '06', '09', '12'))
              and not exists (select 1 from {batch} as k
                              where k.kpi_code = d.kpi_code and k.city_code = c.city_code and k.period = p.period)"""),
        rule("not_reported_rows_have_no_values",
             "a missing or combined row has null values, never zero (no January is invented)", """
            select kpi_code, city_code, period, report_status, value_month, value_ytd, yoy_pct, yoy_pp
            from {batch} as b
            where report_status in ('missing', 'combined')
              and (value_month is not null or value_ytd is not null or yoy_pct is not null or yoy_pp is not null)"""),
        rule("completeness_agrees_with_statuses",
             "city rows: reported / combined (a January, flagged 1–2月) / missing, complete only when reported; "
             f"province rows: reported exactly when is_complete, is_complete exactly when all "
             f"{len(cities)} city rows are complete, cities_reported among the reporting cities and 0 exactly "
             "when missing", f"""
            select k.kpi_code, k.city_code, k.period, k.report_status, k.is_complete, k.cities_reported,
                   null as complete_cities, null as reporting_cities, null as valued_cities
            from {{batch}} as k
            where k.city_code <> '{PROVINCE_CODE}'
              and (k.report_status not in ('reported', 'combined', 'missing')
                   or (k.is_complete and k.report_status <> 'reported')
                   or (k.report_status = 'combined' and not (k.month = 1 and k.is_combined_jan_feb))
                   or k.cities_reported is not null)
            union all
            select p.kpi_code, p.city_code, p.period, p.report_status, p.is_complete, p.cities_reported,
                   c.complete_cities, c.reporting_cities, c.valued_cities
            from {{batch}} as p
            left join (select kpi_code, period, count(*) as cities,
                              sum(case when is_complete then 1 else 0 end) as complete_cities,
                              sum(case when report_status = 'reported' then 1 else 0 end) as reporting_cities,
                              sum(case when report_status = 'reported' and value_ytd is not null then 1 else 0 end)
                                  as valued_cities
                       from {{batch}} as b where city_code <> '{PROVINCE_CODE}' group by kpi_code, period) as c
              on c.kpi_code = p.kpi_code and c.period = p.period
            where p.city_code = '{PROVINCE_CODE}'
              and (p.report_status not in ('reported', 'partial', 'missing')
                   or p.is_complete <> (p.report_status = 'reported')
                   or p.is_complete <> (coalesce(c.complete_cities, 0) = {len(cities)})
                   or p.cities_reported is null
                   or p.cities_reported not between coalesce(c.valued_cities, 0) and coalesce(c.reporting_cities, 0)
                   or (p.cities_reported = 0) <> (p.report_status = 'missing'))"""),
        rule("yoy_only_like_for_like",
             "同比 (yoy_pct, yoy_pp) only where yoy_basis = complete, and complete only when this row and the same "
             "month last year are both complete (a city's combined January last year is not)", """
            select k.kpi_code, k.city_code, k.period, k.yoy_basis, k.yoy_pct, k.yoy_pp, k.is_complete,
                   l.period as last_year_period, l.is_complete as last_year_complete,
                   l.report_status as last_year_status
            from {batch} as k
            left join {batch} as l
              on l.kpi_code = k.kpi_code and l.city_code = k.city_code
             and l.period = cast(k.year - 1 as varchar) || substr(k.period, 5)
            where ((k.yoy_pct is not null or k.yoy_pp is not null) and k.yoy_basis <> 'complete')
               or (k.yoy_basis = 'complete' and not (k.is_complete and coalesce(l.is_complete, false)))
               or ((k.yoy_basis = 'incomplete_this_year') = k.is_complete)
               or ((k.yoy_basis = 'no_last_year') <> (k.is_complete and l.period is null))
               or (k.yoy_basis in ('incomplete_last_year', 'combined_last_year') and l.is_complete)
               or (k.yoy_basis = 'complete' and k.value_ytd_last_year <> 0 and k.value_ytd is not null
                   and k.yoy_pct is null)"""),
        rule("province_incomplete_latest_period",
             "the province's figures of the latest period cover all 14 cities (a city missing, or 1–2月 not "
             "covered, is stated by report_status; whether to publish it is the reports' decision)", f"""
            select kpi_code, period, report_status, cities_reported, yoy_basis
            from {{batch}} as b
            where city_code = '{PROVINCE_CODE}' and not is_complete
              and period = (select max(period) from {{batch}} as m)""", WARNING),
    )
    return SuiteSpec("marts.kpi_city_month", "marts", "kpi_city_month", exps)


def paid_in_decreases(flagged: bool) -> str:
    """Rows of marts.fct_project_month (of the suite's scope) whose paid-in is below the project's
    previous ledger row, with (``flagged``) or without a paid-in revision warning of intake on the
    same file and row.

    The previous row is looked up in the whole table (by its primary key, project_id and
    period), so a scope of one month still compares with the month before it. The fact's rows
    come from the files in force only, so a warning of a superseded file never excuses a
    decrease; intake compares with the same previous row (ingestion.load._paid_in_revisions).
    """
    return f"""
        select t.city_code, t.project_id, t.period, t.paid_in_cumulative_10k, p.period as previous_period,
               p.paid_in_cumulative_10k as previous_paid_in_cumulative_10k, s.file_name, t.file_id, t.row_number
        from {{batch}} as t
        cross join lateral (select f.period, f.paid_in_cumulative_10k from marts.fct_project_month as f
                            where f.project_id = t.project_id and f.period < t.period
                            order by f.period desc limit 1) as p
        left join audit.submissions as s on s.file_id = t.file_id
        where t.paid_in_cumulative_10k < p.paid_in_cumulative_10k
          and {'' if flagged else 'not '}exists (
              select 1 from audit.row_warnings as w
              where w.file_id = t.file_id and w.row_number = t.row_number
                and w.sheet = '{contract.PROJECTS.sheet_name}' and w.rule = '{PAID_IN_REVISION}')"""


def fct_project_month(cities: list[str], scope: str = "true") -> list[SuiteSpec]:
    """The project facts' row rules on the rows in ``scope`` (an SQL condition: the ledgers not yet
    covered by a passing gate, see expectations.runner.project_month_scope), and the table's row
    count on the whole table (a scope may hold no row)."""
    exps = (
        gxe.ExpectColumnValuesToNotBeNull(column="project_id", meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="city_code", value_set=cities, meta=BLOCKING),
        unique_key(["project_id", "period"]),
        gxe.ExpectColumnValuesToBeBetween(column="paid_in_cumulative_10k", min_value=0, meta=BLOCKING),
        rule("paid_in_cumulative_non_decreasing",
             "累计实际到位资金 of a project never falls from one ledger to the next, unless intake flagged "
             f"the row as a revision (audit.row_warnings rule {PAID_IN_REVISION}): an unflagged fall blocks",
             paid_in_decreases(flagged=False)),
        rule("paid_in_flagged_revisions",
             "累计实际到位资金 revised down and flagged at intake (audit.row_warnings rule "
             f"{PAID_IN_REVISION}): accepted, listed in the monthly scheduling report",
             paid_in_decreases(flagged=True), WARNING),
    )
    return [
        SuiteSpec("marts.fct_project_month", "marts", "fct_project_month", exps,
                  query=f"select * from marts.fct_project_month where {scope}"),
        SuiteSpec("marts.fct_project_month_rows", "marts", "fct_project_month",
                  (gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=BLOCKING),)),
    ]


def fct_park_month(cities: list[str]) -> SuiteSpec:
    return SuiteSpec(
        name="marts.fct_park_month",
        schema="marts",
        table="fct_park_month",
        expectations=(
            gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=BLOCKING),
            gxe.ExpectColumnValuesToNotBeNull(column="park_code", meta=BLOCKING),
            gxe.ExpectColumnValuesToNotBeNull(column="period", meta=BLOCKING),
            gxe.ExpectColumnValuesToMatchRegex(column="period", regex=PERIOD_RE.pattern, meta=BLOCKING),
            gxe.ExpectColumnValuesToBeInSet(column="city_code", value_set=cities, meta=BLOCKING),
            unique_key(["park_code", "period"]),
            gxe.ExpectColumnValuesToBeBetween(
                column="factory_occupancy_pct", min_value=0, max_value=100, meta=BLOCKING
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="factory_built_10k_m2", column_B="factory_used_10k_m2",
                or_equal=True, ignore_row_if="either_value_is_missing", meta=BLOCKING,
            ),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="enterprises", column_B="above_scale_enterprises",
                or_equal=True, ignore_row_if="either_value_is_missing", meta=BLOCKING,
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column="tax_per_mu_10k_cny", min_value=0, max_value=1000, meta=WARNING
            ),
        ),
    )


SUBMISSION_STATUSES = ("on_time", "late", "missing", "returned", "rejected", "superseded", "combined")


def submission_status(cities: list[str]) -> SuiteSpec:
    """Completeness and timeliness (marts.submission_status): a city missing is a warning."""
    exps = (
        gxe.ExpectColumnValuesToBeInSet(column="city_code", value_set=cities, meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["workbook", "trade"], meta=BLOCKING),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=list(SUBMISSION_STATUSES), meta=BLOCKING),
        unique_key(["city_code", "period", "kind"]),
        rule("no_city_missing_latest_period",
             "every city's workbook and trade file of the latest period arrived and was loaded", """
            select city_code, period, kind, status from {batch} as b
            where period = (select max(period) from {batch} as m)
              and status in ('missing', 'returned', 'rejected')""", WARNING),
    )
    return SuiteSpec("marts.submission_status", "marts", "submission_status", exps,
                     requires="marts.submission_status")


def all_suites(window: str = "true", months: list[str] | None = None,
               project_scope: str = "true") -> list[SuiteSpec]:
    """Every suite; ``window`` is the SQL condition on file_id that limits raw (and staging trade)
    rows, ``months`` the months of its files (the partitions of raw.trade to read),
    ``project_scope`` the condition on marts.fct_project_month's rows to check."""
    cities = sorted(reference.cities())
    return [
        *(raw_suite(s, window, months) for s in contract.SHEETS),
        *stg_projects(cities, window), *stg_parks(cities, window), *stg_services(cities, window),
        stg_trade(cities, window, months),
        kpi_city_month(cities), *fct_project_month(cities, project_scope), fct_park_month(cities),
        submission_status(cities),
    ]


def expectation_name(exp) -> str:
    """The name an engineer reads: the rule name for cross-row rules, else the GX type."""
    meta = exp.meta or {}
    return meta.get("rule") or re.sub(r"(?<!^)(?=[A-Z])", "_", type(exp).__name__).lower()
