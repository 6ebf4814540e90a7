"""The calendar of reporting periods: months ``YYYY-MM``, quarters ``YYYYQn``, and their arithmetic.

The one place for period text and month/quarter arithmetic (dbt has the same rules as
macros in ``dbt_project/macros/periods.sql``).

Airflow 3 cron runs carry the trigger time as logical date, so the month a
run reports on is computed here on purpose: an explicit ``period`` param wins,
otherwise it is the calendar month before the trigger (cities report last
month's figures in the first days of this month).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# The same rules as patterns for Airflow params (an empty value = the computed default).
MONTH_PARAM_PATTERN = r"^(\d{4}-(0[1-9]|1[0-2]))?$"
QUARTER_PARAM_PATTERN = r"^(\d{4}Q[1-4])?$"
YEAR_OR_QUARTER_PARAM_PATTERN = r"^(\d{4}(Q[1-4])?)?$"


# --------------------------------------------------------------------------- month arithmetic
def shift(ym: str, months: int) -> str:
    """'2025-01' shifted by -1 -> '2024-12'."""
    y, m = int(ym[:4]), int(ym[5:7])
    t = y * 12 + (m - 1) + months
    return f"{t // 12:04d}-{t % 12 + 1:02d}"


def month_index(month: str | date) -> int:
    """Months since year 0 of 'YYYY-MM' (or of a date's month): '2025-01' -> 24300, consecutive months differ by 1."""
    if isinstance(month, date):
        return month.year * 12 + month.month - 1
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def months(start: str, end: str) -> list[str]:
    """Inclusive list of 'YYYY-MM' from ``start`` to ``end``."""
    if start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    out = [start]
    while out[-1] < end:
        out.append(shift(out[-1], 1))
    return out


def month_end(ym: str) -> date:
    """The last day of a month."""
    year, month = int(ym[:4]), int(ym[5:7])
    return date(year, month, calendar.monthrange(year, month)[1])


def months_between(d: date, end: date) -> int:
    """Whole months from ``d`` to ``end`` (a month is complete on the same day of the month)."""
    return (end.year - d.year) * 12 + end.month - d.month - (1 if end.day < d.day else 0)


def ytd_label(month: int) -> str:
    """1—9月 (1月 for January): the cumulative period up to a month."""
    return "1月" if month == 1 else f"1—{month}月"


@dataclass(frozen=True)
class Period:
    """A document's period: a month (monthly report) or a quarter (bulletin, appraisal)."""
    kind: str          # 'quarterly' | 'monthly'
    label: str         # '2025Q3' | '2025-09'
    year: int
    month: int         # the month the figures are as of (a quarter's last)

    @property
    def ym(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def quarter(self) -> int:
        return (self.month - 1) // 3 + 1

    @property
    def month_end(self) -> date:
        return month_end(self.ym)

    @property
    def ytd_label(self) -> str:
        return ytd_label(self.month)

    @property
    def months(self) -> list[str]:
        """The months the period covers: three for a quarter, one for a month."""
        n = 3 if self.kind == "quarterly" else 1
        return [shift(self.ym, k) for k in range(-(n - 1), 1)]


def parse_period(text: str) -> Period:
    m = re.fullmatch(r"(\d{4})[Qq]([1-4])", text.strip())
    if m:
        y, q = int(m.group(1)), int(m.group(2))
        return Period("quarterly", f"{y}Q{q}", y, q * 3)
    m = re.fullmatch(r"(\d{4})-?(\d{2})", text.strip())
    if m and 1 <= int(m.group(2)) <= 12:
        y, mo = int(m.group(1)), int(m.group(2))
        return Period("monthly", f"{y:04d}-{mo:02d}", y, mo)
    raise ValueError(f"period must be YYYY-MM or YYYYQn, got {text!r}")


def validate_period(period: str) -> str:
    if not PERIOD_RE.match(period or ""):
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return period


def previous_month(moment: date | datetime) -> str:
    return shift(f"{moment.year:04d}-{moment.month:02d}", -1)


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


def latest_quarter(period: str) -> str:
    """The last complete quarter at or before a YYYY-MM period, as YYYYQn."""
    year, month = int(period[:4]), int(period[5:7])
    return f"{year - 1}Q4" if month < 3 else f"{year}Q{month // 3}"


def quarter_labels(month_list: list[str]) -> list[str]:
    """The quarters whose last month is among the months."""
    return [quarter_of(m) for m in month_list if is_quarter_end(m)]


def report_cap(run_after: date | datetime | None) -> str | None:
    """The newest period a run triggered at ``run_after`` may report on (None: no cap)."""
    return previous_month(run_after) if run_after is not None else None


def latest_period(periods, cap: str | None, quarter_end_only: bool = False) -> str | None:
    """Newest of ``periods`` (YYYY-MM) not after ``cap``; only quarter-end months if asked."""
    eligible = [p for p in periods if PERIOD_RE.match(p or "") and (cap is None or p <= cap)
                and (not quarter_end_only or is_quarter_end(p))]
    return max(eligible, default=None)
