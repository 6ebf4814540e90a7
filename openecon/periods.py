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
