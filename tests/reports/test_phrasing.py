"""The phrasing rules of the generated sentences (reports/phrasing.py), one test per rule.

Expectations are written out by hand, as an official would write the sentence.
"""

from __future__ import annotations

import pytest

from reports import phrasing


@pytest.mark.parametrize(("pct", "text"), [
    (2.84, "同比增长2.8%"),
    (-1.25, "同比下降1.2%"),          # round-half-even of 1.25 as Python prints it
    (-12.0, "同比下降12.0%"),
    (0.04, "与上年同期持平"),          # printed 0.0: neither 增长 nor 下降
    (-0.04, "与上年同期持平"),         # and never "下降0.0%" or "-0.0"
    (None, ""),
])
def test_growth_of_an_amount(pct, text):
    assert phrasing.growth(pct) == text


@pytest.mark.parametrize(("pp", "text"), [
    (1.5, "同比提高1.5个百分点"),
    (-0.3, "同比降低0.3个百分点"),      # a ratio is 提高/降低 … 个百分点, never 下降…%
    (0.02, "与上年同期持平"),
    (None, ""),
])
def test_change_of_a_ratio_in_points(pp, text):
    assert phrasing.points(pp) == text
    assert phrasing.change(pp, is_ratio=True) == text


def test_bare_change_for_a_city_in_brackets():
    assert phrasing.bare_change(3.14, is_ratio=False) == "增长3.1%"
    assert phrasing.bare_change(-2.0, is_ratio=True) == "降低2.0个百分点"
    assert phrasing.bare_change(0.0, is_ratio=False) == "持平"


@pytest.mark.parametrize(("done", "time", "text"), [
    (76.0, 75.0, "完成年度目标的76.0%，超序时进度1.0个百分点"),
    (70.25, 75.0, "完成年度目标的70.2%，欠序时进度4.8个百分点"),
    (75.04, 75.0, "完成年度目标的75.0%，与序时进度持平"),
    (None, 75.0, ""),
])
def test_versus_time_progress(done, time, text):
    assert phrasing.versus_time_progress(done, time) == text


def test_higher_or_lower():
    assert phrasing.higher_or_lower(2.06, "进口") == "高于进口2.1个百分点"
    assert phrasing.higher_or_lower(-0.5, "进口") == "低于进口0.5个百分点"
    assert phrasing.higher_or_lower(0.01, "进口") == "与进口持平"


def test_counts_of_cities_zero_all_some():
    assert phrasing.cities_that(0, 14, "达到或超过序时进度") == "无市州达到或超过序时进度"
    assert phrasing.cities_that(14, 14, "达到或超过序时进度") == "14个市州均达到或超过序时进度"
    assert (phrasing.cities_that(3, 14, "达到或超过序时进度", ["长沙市", "株洲市", "湘潭市"])
            == "有3个市州达到或超过序时进度（长沙市、株洲市和湘潭市）")
    assert phrasing.cities_that(1, 12, "同比增长") == "有1个市州同比增长"


def test_found_counts_say_what_was_not_found():
    items = [("逾期项目", 12), ("资金到位停滞项目", 0), ("年内终止项目", 3)]
    assert (phrasing.found_counts("本月", items, "个")
            == "本月发现逾期项目12个、年内终止项目3个，未发现资金到位停滞项目。")
    assert phrasing.found_counts("本月", [("逾期项目", 0), ("终止项目", 0)], "个") == "本月未发现逾期项目、终止项目。"
    assert phrasing.found_counts("本月", [("逾期项目", 2)], "个") == "本月发现逾期项目2个。"


def test_ranked_list_keeps_ties_together_and_never_cuts_one():
    rows = [{"n": "长沙市", "v": 12.3}, {"n": "株洲市", "v": 10.1}, {"n": "湘潭市", "v": 10.1},
            {"n": "衡阳市", "v": 10.1}, {"n": "邵阳市", "v": 2.0}]

    def name(r):
        return r["n"]

    def value(r):
        return f"{r['v']:.1f}%"

    # the third place is shared by three cities: all of them are named, with their one figure
    assert phrasing.ranked_list(rows, 3, name, value) == "长沙市（12.3%）、株洲市、湘潭市和衡阳市（均为10.1%）"
    assert phrasing.ranked_list(rows, 1, name, value) == "长沙市（12.3%）"
    assert phrasing.ranked_list(rows[::-1], 2, name, value) == "邵阳市（2.0%）、衡阳市、湘潭市和株洲市（均为10.1%）"
    # ties are judged as printed: 10.14 and 10.06 both print 10.1
    near = [{"n": "甲", "v": 10.14}, {"n": "乙", "v": 10.06}]
    assert phrasing.ranked_list(near, 1, name, value) == "甲和乙（均为10.1%）"
    assert phrasing.ranked_list([], 3, name, value) == ""
    # a shared change reads 均增长 / 均持平, never 均为持平
    flat = [{"n": "甲", "v": 0.01}, {"n": "乙", "v": -0.02}]

    def change(r):
        return phrasing.bare_change(r["v"], is_ratio=False)

    assert phrasing.ranked_list(flat, 1, name, change) == "甲和乙（均持平）"
    same = [{"n": "甲", "v": 3.1}, {"n": "乙", "v": 3.12}]
    assert phrasing.ranked_list(same, 1, name, change) == "甲和乙（均增长3.1%）"


def test_number_never_prints_minus_zero():
    assert phrasing.number(-0.04) == "0.0"
    assert phrasing.number(-0.06) == "-0.1"
    assert phrasing.number(None) == "—"
    assert phrasing.number(1234.5, "个") == "1234"   # counts: no decimals (banker's rounding of .5)
    assert phrasing.number(3.14159, "万元/亩") == "3.14"
