"""What is particular about the sample cities' reporting calendar.

Month arithmetic is :mod:`core.periods`; this module only says which months a city submits
and which months a submission covers. The cities in :data:`COMBINED_JAN_FEB` send no January
files: their February files cover 1–2月 (the February trade CSV holds January's and
February's rows).
"""

from __future__ import annotations

from core.periods import parse_period, shift

# Cities that report January and February together (no 01 files, 02 covers 1–2月).
COMBINED_JAN_FEB = ("430800", "431100", "433100")


def submits(city: str, period: str) -> bool:
    """Whether the city sends files for this month (1–2月 cities send none in January)."""
    return not (city in COMBINED_JAN_FEB and parse_period(period).month == 1)


def covered_months(city: str, period: str) -> list[str]:
    """The months a submission covers: February of a 1–2月 city covers January too."""
    if city in COMBINED_JAN_FEB and parse_period(period).month == 2:
        return [shift(period, -1), period]
    return [period]


def previous_submission(city: str, period: str) -> str:
    """The city's submission month before ``period``."""
    prev = shift(period, -1)
    while not submits(city, prev):
        prev = shift(prev, -1)
    return prev
