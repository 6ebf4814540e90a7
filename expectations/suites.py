"""Expectation suites as code: one per layer and entity.

Each expectation carries ``meta.severity``: ``blocking`` failures stop the
pipeline before anything is published, ``warning`` ones are only reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations.expectations as gxe

from ingestion import reference

BLOCKING = {"severity": "blocking"}
WARNING = {"severity": "warning"}
PERIOD_RE = r"^\d{4}-(0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class SuiteSpec:
    name: str  # <layer>.<entity>
    schema: str
    table: str
    expectations: tuple


def fct_park_month() -> SuiteSpec:
    cities = sorted(reference.cities())
    return SuiteSpec(
        name="marts.fct_park_month",
        schema="marts",
        table="fct_park_month",
        expectations=(
            gxe.ExpectTableRowCountToBeBetween(min_value=1, meta=BLOCKING),
            gxe.ExpectColumnValuesToNotBeNull(column="park_code", meta=BLOCKING),
            gxe.ExpectColumnValuesToNotBeNull(column="period", meta=BLOCKING),
            gxe.ExpectColumnValuesToMatchRegex(column="period", regex=PERIOD_RE, meta=BLOCKING),
            gxe.ExpectColumnValuesToBeInSet(column="city_code", value_set=cities, meta=BLOCKING),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["park_code", "period"], meta=BLOCKING),
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


def all_suites() -> list[SuiteSpec]:
    return [fct_park_month()]
