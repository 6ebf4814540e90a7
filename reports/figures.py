"""The figures a document prints, each with an id and a definition.

A figure's id is ``<kpi>.<city>.<period>.<measure>`` (``trade_total.430000.2025-09.value_ytd``):
stable within a document version, and its own definition: the KPI, the area, the month of the
``marts.kpi_city_month`` cell and the measure printed (:data:`MEASURES`). A document registers
each figure where it prints it (:meth:`Figures.add` for a table cell, :meth:`Figures.mark` for a
number in a sentence); publishing stores them with their trace (``audit.document_figures``), so a
figure of a published version can be looked up, and followed to its files, years later.

In a sentence a figure is marked ``\\x01<id>\\x02<text>\\x03``: the HTML turns the mark into a link
to the figure's trace page (:func:`linked`), every other medium prints the text alone (:func:`plain`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from markupsafe import Markup

# measure -> (中文, English): what a figure of that measure is
MEASURES = {
    "value_ytd": ("累计值", "year to date"),
    "value_month": ("当月值", "the month's value"),
    "yoy_pct": ("同比增速（%）", "year-on-year growth, %"),
    "yoy_pp": ("同比增减（个百分点）", "year-on-year change, percentage points"),
    "target_progress_pct": ("完成年度目标（%）", "share of the annual target reached, %"),
    "rank_in_province": ("总量位次", "rank among the cities by value"),
    "rank_growth": ("增速位次", "rank among the cities by growth"),
    "rank_target": ("目标进度位次", "rank among the cities by target progress"),
    "card": ("通报等级", "traffic-light card"),
    # the appraisal's (kpi part: appraisal_<item code>, marts.performance_appraisal; APPRAISAL)
    "score": ("得分", "score"),
    "item_value": ("考核数", "the count appraised"),
    "rank_total": ("总分位次", "rank among the cities by total score"),
}
# An appraisal figure's first part: an item (appraisal_T04), a part's subtotal (appraisal_目标任务 is
# appraisal_PART_T / _R) or the total (appraisal_TOTAL), as of the quarter's last month.
APPRAISAL = "appraisal_"
PART_CODES = {"目标任务": "PART_T", "工作成效": "PART_R"}
# the measures whose figure is a kpi_city_month value traced to its files
VALUES = ("value_ytd", "value_month")

_MARK = re.compile("\x01([^\x02]*)\x02([^\x03]*)\x03")


def figure_id(kpi: str, city: str, period: str, measure: str) -> str:
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r} (known: {', '.join(MEASURES)})")
    return f"{kpi}.{city}.{period}.{measure}"


def parse_id(fid: str) -> tuple[str, str, str, str]:
    """(kpi, city, period, measure) of a figure id; ValueError when it is not one."""
    parts = fid.split(".")
    if len(parts) != 4 or parts[3] not in MEASURES or not re.fullmatch(r"\d{4}-\d{2}", parts[2]):
        raise ValueError(f"{fid!r} is not a figure id (<kpi>.<city>.<YYYY-MM>.<measure>) / 不是数据编号")
    return parts[0], parts[1], parts[2], parts[3]


@dataclass
class Figure:
    figure_id: str
    kpi_code: str
    city_code: str
    period: str
    measure: str
    value: float | str | None
    text: str                   # as printed
    label: str                  # 长沙市 进出口总额 1—9月累计
    places: list[str] = field(default_factory=list)   # where the document prints it: 附表1, 一、总体情况


class Figures:
    """The register of one document's printed figures, in the order first printed."""

    def __init__(self):
        self.by: dict[str, Figure] = {}

    def add(self, row: dict, measure: str, value, text: str, place: str) -> str:
        """Register that the document prints ``row``'s (a kpi_city_month row's) ``measure`` as
        ``text`` at ``place``; returns the figure's id."""
        fid = figure_id(row["kpi_code"], row["city_code"], row["period"], measure)
        fig = self.by.get(fid)
        if fig is None:
            area = "全省" if row["city_code"] == "430000" else row["city_name"]
            fig = self.by[fid] = Figure(fid, row["kpi_code"], row["city_code"], row["period"], measure,
                                        _plain_value(value), text,
                                        f"{area} {row['kpi_name_zh']} {row['period']} {MEASURES[measure][0]}")
        if place not in fig.places:
            fig.places.append(place)
        return fid

    def mark(self, row: dict, measure: str, value, text: str, place: str, shown: str | None = None) -> str:
        """``text`` marked as the figure it is, for a sentence; ``shown`` is what the link is on when
        it is not the figure's own text (a city's name in a list of the first three)."""
        return f"\x01{self.add(row, measure, value, text, place)}\x02{text if shown is None else shown}\x03"

    def __iter__(self):
        return iter(self.by.values())

    def __len__(self):
        return len(self.by)


def _plain_value(v):
    if v is None or isinstance(v, str):
        return v
    return float(v)


def plain(text: str) -> str:
    """A sentence as printed on paper: the marks taken out, the text kept."""
    return _MARK.sub(lambda m: m.group(2), text)


def linked(text: str, href) -> Markup:
    """A sentence for the HTML: escaped, each marked figure a link to ``href(figure_id)``."""
    out, at = [], 0
    for m in _MARK.finditer(text):
        out.append(html.escape(text[at:m.start()]))
        out.append(f'<a class="fig" href="{html.escape(href(m.group(1)))}">{html.escape(m.group(2))}</a>')
        at = m.end()
    out.append(html.escape(text[at:]))
    return Markup("".join(out))


def ids_in(text: str) -> list[str]:
    return [m.group(1) for m in _MARK.finditer(text)]
