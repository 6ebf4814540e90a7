import pandas as pd
import pytest

from ingestion.contract import PARKS
from ingestion.validate import FileRejected, map_headers, validate

GOOD = {
    "park_code": "430100P01", "planned_area_mu": 1000, "developed_area_mu": 800,
    "factory_built_10k_m2": 10, "factory_used_10k_m2": 8, "enterprises": 100,
    "above_scale_enterprises": 30, "tax_ytd_10k_cny": 5000, "revenue_ytd_10k_cny": 90000,
    "employees": 4000,
}


def frame(*rows):
    df = pd.DataFrame([{**GOOD, **r} for r in rows], dtype="object")
    df["row_number"] = range(2, len(rows) + 2)
    return df


def test_good_rows_pass_and_text_numbers_with_separators_are_read():
    good, issues = validate(frame({}, {"park_code": "430100P02", "revenue_ytd_10k_cny": "1,234.5"}),
                            PARKS, "430100_202509.xlsx", "430100")
    assert issues == []
    assert good["revenue_ytd_10k_cny"].tolist() == [90000, 1234.5]
    assert good["row_number"].tolist() == [2, 3]


def test_each_bad_row_is_named_with_row_column_value_and_rule():
    rows = frame(
        {},  # row 2 good
        {"park_code": "430200P01"},  # row 3: park of another city
        {"park_code": "430100P03", "tax_ytd_10k_cny": -5},  # row 4: negative
        {"park_code": "430100P04", "factory_used_10k_m2": 11},  # row 5: used > built
        {"park_code": "430100P05", "enterprises": "abc"},  # row 6: not a number
        {"park_code": "430100P06", "above_scale_enterprises": 101},  # row 7: 规上 > 入驻
        {"park_code": None},  # row 8: required
    )
    good, issues = validate(rows, PARKS, "430100_202509.xlsx", "430100")
    got = {(i.row, i.column, i.rule) for i in issues}
    assert (3, "园区代码", "code_list:park_of_city") in got
    assert (4, "本年累计税收（万元）", "below_minimum") in got
    assert (5, "标准厂房已使用面积（万平方米）", "used_le_built") in got
    assert (6, "入驻企业数（家）", "not_a_number") in got
    assert (7, "规模以上工业企业数（家）", "above_scale_le_settled") in got
    assert (8, "园区代码", "required") in got
    assert good["row_number"].tolist() == [2]
    neg = next(i for i in issues if i.row == 4)
    assert neg.value == "-5" and neg.file == "430100_202509.xlsx" and neg.sheet == "园区情况"
    assert "不得小于" in neg.message_zh and "less than" in neg.message_en


def test_duplicate_key_rejects_every_copy():
    _, issues = validate(frame({}, {}), PARKS, "f.xlsx", "430100")
    assert {(i.row, i.rule) for i in issues} == {(2, "duplicate_key"), (3, "duplicate_key")}


def test_wrong_unit_in_header_rejects_the_file():
    headers = [c.header for c in PARKS.columns]
    headers[7] = "本年累计税收（亿元）"
    with pytest.raises(FileRejected) as exc:
        map_headers(headers, PARKS, "f.xlsx")
    assert exc.value.issue.rule == "wrong_unit" and "万元" in exc.value.issue.message_zh


def test_missing_column_rejects_the_file():
    headers = [c.header for c in PARKS.columns if c.name != "employees"]
    with pytest.raises(FileRejected) as exc:
        map_headers(headers, PARKS, "f.xlsx")
    assert exc.value.issue.rule == "missing_column" and exc.value.issue.column == "从业人员（人）"
