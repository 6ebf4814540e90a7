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
