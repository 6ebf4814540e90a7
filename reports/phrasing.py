"""How the documents say things: every rule for a generated phrase, in one place.

The bulletins, the scheduling report and the appraisal build their sentences from these
functions only, so a rule (how a zero count reads, how ties read, 增长 or 下降, 提高 or
降低 … 个百分点, 超 or 欠序时进度) is written and tested once (tests/unit/test_phrasing.py).

Numbers are compared as they are printed: a growth of 0.04% printed with one decimal is
0.0 and reads 持平, never 增长0.0%.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# decimals a unit is printed with (a rate in % with one, amounts in 亿元 with one, counts with none)
DECIMALS = {"亿元": 1, "亿美元": 1, "%": 1, "个": 0, "家": 0, "万元/亩": 2}


def number(v, unit: str = "%", decimals: int | None = None) -> str:
    """A figure as printed: ``unit``'s decimals, "—" for none."""
    if v is None:
        return "—"
    d = DECIMALS.get(unit, 1) if decimals is None else decimals
    text = f"{v:.{d}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # never "-0.0"


def _printed_sign(v: float, decimals: int = 1) -> int:
    """-1, 0 or 1 of ``v`` as printed with ``decimals``: what the words must agree with."""
    r = round(v, decimals)
    return 0 if r == 0 else (1 if r > 0 else -1)


def _versus_last_year(v, lead: str, up: str, down: str, unit: str) -> str:
    """{lead}{up|down}{|v|}{unit}, 与上年同期持平 when it prints as 0.0, "" when there is none."""
    if v is None:
        return ""
    s = _printed_sign(v)
    if s == 0:
        return "与上年同期持平"
    return f"{lead}{up if s > 0 else down}{number(abs(v))}{unit}"


def growth(pct, lead: str = "同比") -> str:
    """同比增长2.8% / 同比下降1.2% / 与上年同期持平; "" when there is no growth rate."""
    return _versus_last_year(pct, lead, "增长", "下降", "%")


def points(pp, lead: str = "同比") -> str:
    """A change of a ratio in 个百分点: 同比提高1.5个百分点 / 同比降低0.3个百分点 / 与上年同期持平."""
    return _versus_last_year(pp, lead, "提高", "降低", "个百分点")


def change(value, is_ratio: bool, lead: str = "同比") -> str:
    """growth() for an amount or a count, points() for a ratio (its 同比 is in 个百分点)."""
    return points(value, lead) if is_ratio else growth(value, lead)


def bare_change(value, is_ratio: bool) -> str:
    """The change without its lead, for a city in brackets: 增长2.8% / 降低0.3个百分点 / 持平."""
    text = change(value, is_ratio, lead="")
    return "持平" if text == "与上年同期持平" else text


def versus_time_progress(target_progress_pct, time_progress_pct) -> str:
    """完成年度目标的76.0%，超序时进度1.0个百分点 / 欠序时进度… / 与序时进度持平."""
    if target_progress_pct is None or time_progress_pct is None:
        return ""
    gap = target_progress_pct - time_progress_pct
    done = f"完成年度目标的{number(target_progress_pct)}%"
    s = _printed_sign(gap)
    if s == 0:
        return f"{done}，与序时进度持平"
    return f"{done}，{'超' if s > 0 else '欠'}序时进度{number(abs(gap))}个百分点"


def is_down(v, decimals: int = 1) -> bool:
    """Printed below zero: a fall the text may call 下降 (-0.04 printed as 0.0 is not one)."""
    return v is not None and _printed_sign(v, decimals) < 0


def is_up(v, decimals: int = 1) -> bool:
    return v is not None and _printed_sign(v, decimals) > 0


def higher_or_lower(diff, what: str) -> str:
    """出口增速高于进口2.1个百分点 / 低于… / 与进口持平 (``what``: the thing compared with)."""
    s = _printed_sign(diff)
    if s == 0:
        return f"与{what}持平"
    return f"{'高于' if s > 0 else '低于'}{what}{number(abs(diff))}个百分点"


def join(items: Sequence[str]) -> str:
    """A list of names: 长沙市、株洲市和湘潭市 (the last two joined by 和)."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return "、".join(items[:-1]) + "和" + items[-1]


def cities_that(n: int, total: int, what: str, names: Sequence[str] = ()) -> str:
    """How many cities do something, as a person writes it: zero, all, or a number (with names).

    无市州达到序时进度 / 14个市州均达到序时进度 / 有3个市州达到序时进度（长沙市、株洲市和湘潭市）
    """
    if n == 0:
        return f"无市州{what}"
    if n == total:
        return f"{total}个市州均{what}"
    return f"有{n}个市州{what}" + (f"（{join(names)}）" if names else "")


def found_counts(lead: str, items: Sequence[tuple[str, int]], unit: str) -> str:
    """Counts as a person reports them: the non-zero ones, then what was not found.

    本月发现逾期项目12个、资金到位停滞项目3个，未发现年内终止项目。 / 本月未发现逾期项目、终止项目。
    """
    found = [f"{what}{n}{unit}" for what, n in items if n]
    missing = [what for what, n in items if not n]
    parts = []
    if found:
        parts.append(f"{lead}发现" + "、".join(found))
    if missing:
        parts.append(("未发现" if found else f"{lead}未发现") + "、".join(missing))
    return "，".join(parts) + "。"


def ranked_list(rows: Sequence[dict], n: int, label: Callable[[dict], str], text: Callable[[dict], str]) -> str:
    """The first ``n`` of ``rows`` (already in order) with their figures, ties told as ties.

    A city that prints the same figure as the n-th joins the list (a tie at the boundary is
    never cut); cities with the same printed figure share it: 长沙市（12.3%）、株洲市和湘潭市（均为10.1%）,
    A和B（均增长3.1%）, A和B（均持平）.
    """
    rows = list(rows)
    if not rows:
        return ""
    chosen = rows[:n]
    while len(chosen) < len(rows) and text(rows[len(chosen)]) == text(chosen[-1]):
        chosen.append(rows[len(chosen)])
    groups: list[list[dict]] = []
    for r in chosen:
        if groups and text(groups[-1][0]) == text(r):
            groups[-1].append(r)
        else:
            groups.append([r])
    parts = []
    for g in groups:
        names = [label(r) for r in g]
        if len(g) == 1:
            parts.append(f"{names[0]}（{text(g[0])}）")
        else:
            t = text(g[0])  # 均为10.1% for a figure, 均增长3.1% / 均持平 for a change
            parts.append(f"{join(names)}（{'均为' if t[:1].isdigit() or t[:1] == '-' else '均'}{t}）")
    return "、".join(parts)
