from datetime import datetime

import pytest

from core.periods import previous_month, reporting_period


def test_explicit_period_wins():
    assert reporting_period("2025-09", datetime(2026, 1, 5)) == "2025-09"


def test_default_is_month_before_trigger_across_new_year():
    assert reporting_period("", datetime(2026, 1, 5, 8)) == "2025-12"
    assert previous_month(datetime(2025, 10, 5)) == "2025-09"


@pytest.mark.parametrize("bad", ["2025-13", "2025-9", "202509", "2025-00"])
def test_malformed_period_is_refused(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        reporting_period(bad, None)


def test_quarters():
    from core.periods import quarter_end, quarter_of, validate_quarter

    assert quarter_of("2025-08") == "2025Q3" and quarter_of("2025-12") == "2025Q4"
    assert quarter_end("2025Q1") == "2025-03" and quarter_end("2025") == "2025-12"
    assert validate_quarter("2025q2") == "2025Q2"
    with pytest.raises(ValueError, match="YYYYQn"):
        validate_quarter("2025Q5")


def test_report_default_is_latest_period_with_data_not_after_month_before_trigger():
    from core.periods import latest_period, report_cap

    periods = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10"]
    # a calendar run on 12 Oct reports September even though October rows already exist
    assert latest_period(periods, report_cap(datetime(2025, 10, 12))) == "2025-09"
    # an asset-triggered run in November reports the newest month with data
    assert latest_period(periods, report_cap(datetime(2025, 11, 7))) == "2025-10"
    assert latest_period(periods, report_cap(datetime(2025, 11, 7)), quarter_end_only=True) == "2025-09"
    assert latest_period(periods, report_cap(datetime(2025, 6, 12))) is None
    assert latest_period([], None) is None


def test_month_arithmetic_across_year_ends():
    import calendar
    from datetime import date

    from core.periods import month_end, month_index, months, months_between, shift

    assert shift("2025-01", -1) == "2024-12" and shift("2024-12", 1) == "2025-01" and shift("2025-03", -15) == "2023-12"
    assert months("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert months("2025-05", "2025-05") == ["2025-05"]
    with pytest.raises(ValueError):
        months("2025-02", "2025-01")
    # every month of four years, checked against the standard library's calendar
    for ym in months("2023-01", "2026-12"):
        y, m = int(ym[:4]), int(ym[5:])
        assert month_end(ym) == date(y, m, calendar.monthrange(y, m)[1])
        assert month_index(ym) == month_index(date(y, m, 15)) == y * 12 + m - 1
        assert month_index(shift(ym, 1)) - month_index(ym) == 1
    assert months_between(date(2025, 3, 31), date(2025, 9, 30)) == 5  # the 31st has not come round yet
    assert months_between(date(2025, 3, 15), date(2025, 9, 15)) == 6


def test_document_periods():
    from core.periods import latest_quarter, parse_period, quarter_labels, ytd_label

    q = parse_period("2025Q3")
    assert (q.kind, q.label, q.ym, q.quarter, q.months) == ("quarterly", "2025Q3", "2025-09", 3,
                                                            ["2025-07", "2025-08", "2025-09"])
    m = parse_period("2025-01")
    assert (m.kind, m.months, m.ytd_label, str(m.month_end)) == ("monthly", ["2025-01"], "1月", "2025-01-31")
    assert parse_period("202509").label == "2025-09" and ytd_label(9) == "1—9月"
    with pytest.raises(ValueError):
        parse_period("2025-13")
    assert latest_quarter("2025-02") == "2024Q4" and latest_quarter("2025-03") == "2025Q1"
    assert quarter_labels(["2025-07", "2025-09", "2025-12"]) == ["2025Q3", "2025Q4"]


def test_dag_param_patterns_accept_exactly_the_periods_and_empty():
    import re

    from core.periods import MONTH_PARAM_PATTERN, QUARTER_PARAM_PATTERN, YEAR_OR_QUARTER_PARAM_PATTERN

    assert all(re.match(MONTH_PARAM_PATTERN, v) for v in ("", "2025-01", "2025-12"))
    assert not any(re.match(MONTH_PARAM_PATTERN, v) for v in ("2025-13", "2025-1", "2025Q1"))
    assert all(re.match(QUARTER_PARAM_PATTERN, v) for v in ("", "2025Q1", "2025Q4"))
    assert not any(re.match(QUARTER_PARAM_PATTERN, v) for v in ("2025Q5", "2025", "2025-03"))
    assert all(re.match(YEAR_OR_QUARTER_PARAM_PATTERN, v) for v in ("", "2025", "2025Q2"))
