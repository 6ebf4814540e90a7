from datetime import datetime

import pytest

from openecon.periods import previous_month, reporting_period


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
    from openecon.periods import quarter_end, quarter_of, validate_quarter

    assert quarter_of("2025-08") == "2025Q3" and quarter_of("2025-12") == "2025Q4"
    assert quarter_end("2025Q1") == "2025-03" and quarter_end("2025") == "2025-12"
    assert validate_quarter("2025q2") == "2025Q2"
    with pytest.raises(ValueError, match="YYYYQn"):
        validate_quarter("2025Q5")


def test_report_default_is_latest_period_with_data_not_after_month_before_trigger():
    from openecon.periods import latest_period, report_cap

    periods = ["2025-06", "2025-07", "2025-08", "2025-09", "2025-10"]
    # a calendar run on 12 Oct reports September even though October rows already exist
    assert latest_period(periods, report_cap(datetime(2025, 10, 12))) == "2025-09"
    # an asset-triggered run in November reports the newest month with data
    assert latest_period(periods, report_cap(datetime(2025, 11, 7))) == "2025-10"
    assert latest_period(periods, report_cap(datetime(2025, 11, 7)), quarter_end_only=True) == "2025-09"
    assert latest_period(periods, report_cap(datetime(2025, 6, 12))) is None
    assert latest_period([], None) is None
