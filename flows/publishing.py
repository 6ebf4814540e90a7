"""What the report DAGs do: pick the period, refuse to publish from empty marts, render.

Each function returns a summary for the task log / XCom, or raises
:class:`NothingToPublish` with the reason (the DAG task turns it into a skip), or
:class:`IncompletePeriod` naming the cities when the period's province totals would be
incomplete and ``allow_incomplete`` is not set (the DAG task fails with the message).
The default period (empty ``period`` param) is explained in ``core.periods``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import psycopg

from core.periods import latest_period, quarter_end, quarter_of, report_cap, validate_period, validate_quarter
from flows.warehouse import prepare
from reports import appraisal as appraisal_report
from reports import bulletin
from reports.completeness import IncompletePeriod

__all__ = ["IncompletePeriod", "NothingToPublish", "appraisal", "monthly_report", "quarterly_bulletin"]

log = logging.getLogger(__name__)


class NothingToPublish(Exception):
    """The marts hold no figures for the period: publishing would print an empty document."""


# Periods that carry figures (a row with a value), per mart the report is built from.
PERIODS_SQL = {
    "kpi_city_month": "SELECT period FROM marts.kpi_city_month GROUP BY period HAVING count(value_ytd) > 0",
    "quarterly_bulletin": "SELECT period FROM marts.quarterly_bulletin GROUP BY period HAVING count(value_ytd) > 0",
    "performance_appraisal": "SELECT as_of_period FROM marts.performance_appraisal "
                             "GROUP BY as_of_period HAVING count(value) > 0",
}


def periods_with_data(settings, mart: str) -> list[str]:
    """Periods of ``marts.<mart>`` with figures; [] when the mart was never built."""
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", [f"marts.{mart}"]).fetchone()[0]
        if exists is None:
            return []
        return sorted(r[0] for r in conn.execute(PERIODS_SQL[mart]).fetchall())


def choose_period(settings, mart: str, explicit: str | None, run_after: date | datetime | None,
                  quarter_end_only: bool = False) -> str:
    """The explicit period if it has figures, else the newest period with figures up to the cap."""
    prepare(settings)
    available = periods_with_data(settings, mart)
    if explicit:
        if explicit not in available:
            raise NothingToPublish(f"marts.{mart} has no figures for {explicit}: nothing to publish "
                                   f"(periods with figures: {', '.join(available[-6:]) or 'none'})")
        return explicit
    cap = report_cap(run_after)
    chosen = latest_period(available, cap, quarter_end_only)
    if chosen is None:
        raise NothingToPublish(f"marts.{mart} has no {'quarter-end ' if quarter_end_only else ''}period "
                               f"with figures up to {cap or 'now'}: nothing to publish")
    log.info("period %s: the newest in marts.%s with figures, not after %s", chosen, mart, cap)
    return chosen


def monthly_report(settings, period: str | None, run_after=None, allow_incomplete: bool = False) -> dict:
    """一月一调度 scheduling report (HTML, PDF, XLSX) for a month."""
    ym = choose_period(settings, "kpi_city_month", validate_period(period) if period else None, run_after)
    result = bulletin.render(settings, ym, allow_incomplete=allow_incomplete)
    return _summary(ym, result)


def quarterly_bulletin(settings, quarter: str | None, run_after=None, allow_incomplete: bool = False) -> dict:
    """一季一通报 quarterly bulletin for a quarter (``YYYYQn``)."""
    ym = choose_period(settings, "quarterly_bulletin", quarter_end(quarter) if quarter else None, run_after,
                       quarter_end_only=True)
    q = quarter_of(ym)
    return _summary(q, bulletin.render(settings, q, allow_incomplete=allow_incomplete))


def appraisal(settings, quarter: str | None, run_after=None, allow_incomplete: bool = False) -> dict:
    """绩效考核 of the cities for the year as of a quarter (``YYYYQn``; ``YYYY`` = the year)."""
    ym = choose_period(settings, "performance_appraisal", quarter_end(validate_quarter(quarter)) if quarter else None,
                       run_after, quarter_end_only=True)
    q = quarter_of(ym)
    return _summary(q, appraisal_report.render(settings, q, allow_incomplete=allow_incomplete))


def _summary(period: str, result: dict) -> dict:
    incomplete = [c["city_name"] for c in result.get("incomplete", []) if "city_name" in c]
    if incomplete:
        log.warning("published %s over an incomplete period (allow_incomplete): %s", period, "、".join(incomplete))
    return {"period": period, "version": result["version"], "reused": result["reused"],
            "paths": [str(p) for p in result["paths"]], "corrections": len(result.get("corrections", [])),
            "incomplete": incomplete}
