"""Reporting periods.

Airflow 3 cron runs carry the trigger time as logical date, so the month a
run reports on is computed here on purpose: an explicit ``period`` param wins,
otherwise it is the calendar month before the trigger (cities report last
month's figures in the first days of this month).
"""

from __future__ import annotations

import re
from datetime import date, datetime

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def validate_period(period: str) -> str:
    if not PERIOD_RE.match(period or ""):
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return period


def previous_month(moment: date | datetime) -> str:
    year, month = (moment.year - 1, 12) if moment.month == 1 else (moment.year, moment.month - 1)
    return f"{year:04d}-{month:02d}"


def reporting_period(param: str | None, logical_date: date | datetime | None) -> str:
    if param:
        return validate_period(param)
    if logical_date is None:
        raise ValueError("no period given and the run has no logical date")
    return previous_month(logical_date)


# --------------------------------------------------------------------------- report periods
# The report DAGs run on the marts asset (no logical date) and on a calendar, so their
# default period is read from the marts themselves: the newest period that has rows,
# but not after the month before the run's trigger time. The marts only hold periods
# that were submitted and passed the gate, so "has rows" means the report has data; the
# cap keeps a re-run or backfill of an old calendar run on the month it was due for.
QUARTER_RE = re.compile(r"^(\d{4})Q([1-4])$")


def validate_quarter(quarter: str) -> str:
    """``YYYYQn``; a bare year ``YYYY`` means its fourth quarter (the yearly appraisal)."""
    text = (quarter or "").strip().upper()
    if re.fullmatch(r"\d{4}", text):
        text = f"{text}Q4"
    if not QUARTER_RE.match(text):
        raise ValueError(f"quarter must be YYYYQn (or YYYY for the year), got {quarter!r}")
    return text


def quarter_of(period: str) -> str:
    """'2025-08' -> '2025Q3'."""
    validate_period(period)
    return f"{period[:4]}Q{(int(period[5:]) - 1) // 3 + 1}"


def quarter_end(quarter: str) -> str:
    """'2025Q3' -> '2025-09' (the month a quarter's figures are as of)."""
    m = QUARTER_RE.match(validate_quarter(quarter))
    return f"{m.group(1)}-{int(m.group(2)) * 3:02d}"


def is_quarter_end(period: str) -> bool:
    return int(validate_period(period)[5:]) % 3 == 0


def report_cap(run_after: date | datetime | None) -> str | None:
    """The newest period a run triggered at ``run_after`` may report on (None: no cap)."""
    return previous_month(run_after) if run_after is not None else None


def latest_period(periods, cap: str | None, quarter_end_only: bool = False) -> str | None:
    """Newest of ``periods`` (YYYY-MM) not after ``cap``; only quarter-end months if asked."""
    eligible = [p for p in periods if PERIOD_RE.match(p or "") and (cap is None or p <= cap)
                and (not quarter_end_only or is_quarter_end(p))]
    return max(eligible, default=None)
