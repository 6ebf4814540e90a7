import pandas as pd
import pytest

from ingestion.contract import PARKS, PROJECTS
from ingestion.issues import UNCACHED_FORMULA, FileRejected, map_headers
from ingestion.validate import validate
from tests.workbooks import project_row

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


# --- clerks' habits: the value meant, or the cell named; never a different value ----------------

CITY = "430100"


def projects_frame(*overrides):
    df = pd.DataFrame([project_row(CITY, i + 1, **o) for i, o in enumerate(overrides)], dtype="object")
    df["row_number"] = range(2, len(overrides) + 2)
    return df


def validated(*overrides, period="2025-09"):
    return validate(projects_frame(*overrides), PROJECTS, f"{CITY}_202509.xlsx", CITY, period)


def fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def test_full_width_digits_in_codes_and_numbers_are_read_as_ascii_but_names_are_kept_as_written():
    good, issues = validated({"project_id": fullwidth(f"{CITY}-2025-0001"), "contract_amount": fullwidth("25,000.5"),
                              "county_code": fullwidth(project_row(CITY, 1)["county_code"]),
                              "project_name": "（长沙）ＡＢＣ项目"})
    assert [i for i in issues if i.level == "row"] == []
    assert good.loc[0, "project_id"] == f"{CITY}-2025-0001" and good.loc[0, "contract_amount"] == 25000.5
    assert good.loc[0, "project_name"] == "（长沙）ＡＢＣ项目"  # free text: exactly as typed


@pytest.mark.parametrize("typed,meant", [("1,234.5", 1234.5), ("25000", 25000.0), (" 7 ", 7.0), ("１２３", 123.0),
                                         ("1,234,567", 1234567.0), ("0.5", 0.5)])
def test_numbers_stored_as_text_are_read_as_the_number_written(typed, meant):
    good, issues = validated({"paid_in_cumulative": typed})
    assert issues == [] and good.loc[0, "paid_in_cumulative"] == meant


@pytest.mark.parametrize("typed", ["1,5", "12,34", "1 234", "1.234,5", "100万", "(100)", "1e3x"])
def test_ambiguous_numbers_are_rejected_not_guessed(typed):
    good, issues = validated({"paid_in_cumulative": typed})
    assert good.empty and [(i.row, i.column, i.rule, i.value) for i in issues] == [
        (2, "累计实际到位资金", "not_a_number", typed.strip())]


@pytest.mark.parametrize("typed", ["2025年4月1日", "2025.4.1", "2025/4/1", "2025-04-01", "２０２５年４月１日",
                                   "2025-04-01 00:00:00", " 2025/04/01\n"])
def test_chinese_format_dates_are_read(typed):
    good, issues = validated({"started_date": typed})
    assert [i for i in issues if i.level == "row"] == [] and str(good.loc[0, "started_date"]) == "2025-04-01"


@pytest.mark.parametrize("typed", ["2025/4-1", "4/1/2025", "2025年4月", "2025-02-30"])
def test_dates_that_are_not_dates_are_named(typed):
    good, issues = validated({"started_date": typed})
    assert good.empty and ("not_a_date", "开工日期") in {(i.rule, i.column) for i in issues}


def test_stray_spaces_and_newlines_around_a_value_are_trimmed():
    good, issues = validated({"investor": "  测试投资有限公司1\n", "stage": "\u3000开工 "})
    assert issues == [] and (good.loc[0, "investor"], good.loc[0, "stage"]) == ("测试投资有限公司1", "开工")


@pytest.mark.parametrize("value,rule", [("测试\n项目", "line_break"), ("测试\t项目", "line_break"),
                                        ("测试\x00项目", "control_character"), ("测试\x1b项目", "control_character"),
                                        ("项" * 201, "too_long")])
def test_characters_no_value_may_hold_reject_the_row_and_are_shown_escaped(value, rule):
    good, issues = validated({}, {"project_name": value})
    assert good["row_number"].tolist() == [2]
    [issue] = [i for i in issues if i.rule == rule]
    assert (issue.row, issue.column) == (3, "项目名称")
    assert "\x00" not in issue.value and "\x1b" not in issue.value and len(issue.value) <= 101


def test_a_formula_without_a_calculated_value_rejects_its_row():
    good, issues = validated({}, {"paid_in_cumulative": UNCACHED_FORMULA})
    assert good["row_number"].tolist() == [2]
    [issue] = issues
    assert (issue.row, issue.column, issue.rule) == (3, "累计实际到位资金", "formula_no_value")
    assert "重新计算" in issue.message_zh
