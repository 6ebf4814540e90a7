"""Whether a document's period is complete, and what to say when it is not (issue 12).

A province total (``marts.kpi_city_month``, ``city_code = 430000``) is complete when all 14 cities
have a figure covering the whole window 1..N (``is_complete``). A document never presents an
incomplete province total as one: :func:`require` refuses with :class:`IncompletePeriod` (naming
the cities and how to override) before anything is written, or, told to (``allow_incomplete``:
``--allow-incomplete`` / the DAG param), returns the :class:`Completeness` whose :meth:`note` the
document prints beside each such figure, e.g. "全省合计不含衡阳市（未报送）".

What counts: the province rows of the document's period that carry a value (a figure no city has,
e.g. funds without last December's ledger, prints as "—" and presents nothing) and are not
complete. So a quarter-end bulletin is complete once every city's files of the quarter's last
month are in and its trade year to date has every month (a combined 1–2月 covers January); a
January where some cities combine 1–2月 is incomplete (their January comes with February).
The reasons come from ``marts.submission_status`` (the one rule for 报送情况).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from core import reference
from core.constants import PROVINCE_CODE
from core.periods import shift

KIND_ZH = {"workbook": "月报工作簿", "trade": "外贸明细"}
KIND_EN = {"workbook": "workbook", "trade": "trade CSV"}
REPORTED = ("on_time", "late", "superseded")
DOCUMENTS = {"quarterly": ("季度通报", "quarterly bulletin"), "monthly": ("月度调度报告", "monthly scheduling report"),
             "appraisal": ("绩效考核通报", "appraisal")}
STATUS_ZH = {"missing": "未报送", "returned": "报送文件被省厅退回", "rejected": "报送文件被拒收",
             "combined": "1–2月合并报送（1月数据随2月报送）"}
STATUS_EN = {"missing": "not reported", "returned": "file returned by the province", "rejected": "file rejected",
             "combined": "reports January together with February (1–2月)"}


class IncompletePeriod(RuntimeError):
    """Publishing refused: the period's province totals would leave cities out (and no override)."""

    def __init__(self, kind: str, label: str, completeness: Completeness):
        self.kind, self.label, self.completeness = kind, label, completeness
        zh, en = DOCUMENTS[kind]
        lines = [f"拒绝发布：{label} {zh}的全省合计数据不完整（未包含或未完整包含以下市州）；"
                 f"refusing to publish the {en} {label}: its province totals would be incomplete:"]
        for city in completeness.cities():
            lines.append(f"  {city['city_name']}（{city['city_code']}）：{'；'.join(city['details_zh'])}"
                         f" / {city['city_code']}: {'; '.join(city['details_en'])}")
        lines.append("如确需按不完整数据发布，请加 --allow-incomplete（Airflow：DAG 参数 allow_incomplete = true），"
                     "各全省合计数旁将注明未包含的市州。")
        lines.append("To publish anyway, pass --allow-incomplete (Airflow: DAG param allow_incomplete = true); "
                     "each province total then carries a note naming the cities not included.")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Gap:
    """A city a province figure leaves out (``excluded``: no figure) or counts incompletely."""
    city_code: str
    city_name: str
    excluded: bool
    reason_zh: str      # beside the figure: 未报送, 累计数缺1—7月外贸明细, …
    details: tuple      # ((period, kind, status), …): what did not come, for the refusal message


@dataclass
class Completeness:
    """The incomplete province figures of one period: kpi_code -> the cities behind each."""
    period: str
    gaps: dict[str, list[Gap]] = field(default_factory=dict)
    allowed: bool = False  # published over the gaps with the override

    @property
    def complete(self) -> bool:
        return not self.gaps

    def note(self, kpi_code: str) -> str | None:
        """The note printed beside the province figure of ``kpi_code``; None when it is complete."""
        gaps = self.gaps.get(kpi_code)
        return note_text(gaps) if gaps else None

    def cities(self) -> list[dict]:
        """Every city behind an incomplete figure, in code order, with what did not come (zh, en)."""
        by_city: dict[str, dict] = {}
        for gaps in self.gaps.values():
            for g in gaps:
                c = by_city.setdefault(g.city_code, {"city_code": g.city_code, "city_name": g.city_name,
                                                     "items": set(), "reasons": []})
                c["items"].update(g.details)
                if g.reason_zh not in c["reasons"]:
                    c["reasons"].append(g.reason_zh)
        out = []
        for code in sorted(by_city):
            c = by_city[code]
            zh, en = _details(c["items"])
            out.append({"city_code": code, "city_name": c["city_name"], "details_zh": zh or c["reasons"],
                        "details_en": en or ["figure cannot be computed"], "reasons": c["reasons"]})
        return out

    def summary(self) -> str:
        """One sentence for the top of a document published over the gaps."""
        parts = [f"{c['city_name']}（{'；'.join(c['details_zh'])}）" for c in self.cities()]
        return (f"本期全省数据不完整：{'、'.join(parts)}。本文按不完整数据发布（--allow-incomplete），"
                "各全省合计数旁注明未包含或未完整包含的市州。")

    def register(self) -> list[dict]:
        """What audit.bulletins.incomplete records: the cities and why, and the note of each figure."""
        if not self.gaps:
            return []
        return [{"city_code": c["city_code"], "city_name": c["city_name"], "details": c["details_zh"]}
                for c in self.cities()] + [{"kpi_code": k, "note": self.note(k)} for k in sorted(self.gaps)]


def note_text(gaps: list[Gap]) -> str:
    """全省合计不含衡阳市（未报送）；其中邵阳市累计数缺6月外贸明细 (cities grouped by reason)."""
    excluded: dict[str, list[str]] = {}
    partial: dict[str, list[str]] = {}
    for g in gaps:
        (excluded if g.excluded else partial).setdefault(g.reason_zh, []).append(g.city_name)
    every = len(reference.cities())

    def names(cities: list[str]) -> str:
        return "各市州" if len(cities) >= every else "、".join(cities)

    parts = []
    if excluded:
        parts.append("全省合计不含" + "、".join(f"{names(c)}（{reason}）" for reason, c in excluded.items()))
    if partial:
        parts.append(("其中" if excluded else "全省合计中") + "；".join(
            names(c) + (reason.replace("累计数缺", "累计数均缺") if len(c) > 1 else reason)
            for reason, c in partial.items()))
    return "；".join(parts)


# --------------------------------------------------------------------------- the queries
GAPS_SQL = """
select c.kpi_code, c.city_code, c.city_name, c.source_kind, c.report_status, c.period, c.year, c.month,
       c.value_ytd is not null as has_value
from marts.kpi_city_month as p
join marts.kpi_city_month as c on c.kpi_code = p.kpi_code and c.period = p.period and c.city_code <> %(province)s
where p.city_code = %(province)s and p.period = any(%(periods)s)
  and (%(kpis)s::text[] is null or p.kpi_code = any(%(kpis)s::text[]))
  and {condition}
order by c.kpi_code, c.period, c.city_code
"""
# a document's period: a province figure with a value that is not complete, and the cities that make it so
PERIOD_CONDITION = "p.value_ytd is not null and not p.is_complete and not c.is_complete"
# a monthly trend point (当月): the cities without a figure in a province value over fewer than 14
MONTH_CONDITION = ("p.value_month is not null and c.value_ytd is null "
                   "and p.cities_reported < (select count(*) from marts.dim_city where level = 'city')")

STATUS_SQL = """
select city_code, kind, period, status from marts.submission_status
where period between %(first)s and %(last)s
"""


def assess(conn, period: str, kpis: list[str] | None = None) -> Completeness:
    """The incomplete province figures of ``period`` (YYYY-MM), among ``kpis`` (None: all)."""
    rows = conn.execute(GAPS_SQL.format(condition=PERIOD_CONDITION),
                        {"province": PROVINCE_CODE, "periods": [period], "kpis": kpis}).fetchall()
    statuses = _statuses(conn, f"{int(period[:4]) - 1:04d}-12", period)
    gaps: dict[str, list[Gap]] = defaultdict(list)
    for r in rows:
        gaps[r["kpi_code"]].append(_gap(r, statuses))
    return Completeness(period, dict(gaps))


def require(conn, kind: str, label: str, period: str, allow_incomplete: bool,
            kpis: list[str] | None = None) -> Completeness:
    """:func:`assess`, refusing (:class:`IncompletePeriod`) unless complete or ``allow_incomplete``."""
    found = assess(conn, period, kpis)
    if not found.complete and not allow_incomplete:
        raise IncompletePeriod(kind, label, found)
    found.allowed = not found.complete
    return found


def month_notes(conn, kpi: str, periods: list[str]) -> dict[str, str]:
    """period -> the note of a province 当月 value computed over fewer than 14 cities (a trend point)."""
    if not periods:
        return {}
    rows = conn.execute(GAPS_SQL.format(condition=MONTH_CONDITION),
                        {"province": PROVINCE_CODE, "periods": periods, "kpis": [kpi]}).fetchall()
    statuses = _statuses(conn, min(periods), max(periods))
    by_period: dict[str, list[Gap]] = defaultdict(list)
    for r in rows:
        by_period[r["period"]].append(_gap(r, statuses))
    return {p: note_text(g) for p, g in by_period.items()}


def _statuses(conn, first: str, last: str) -> dict[tuple[str, str, str], str]:
    return {(r["city_code"], r["kind"], r["period"]): r["status"]
            for r in conn.execute(STATUS_SQL, {"first": first, "last": last}).fetchall()}


def _gap(r: dict, statuses: dict) -> Gap:
    """Why a city's figure is missing from, or incomplete in, a province total."""
    city, kind, period, y, n = r["city_code"], r["source_kind"], r["period"], r["year"], r["month"]

    def status(p):  # a month before the first one received counts as not reported
        return statuses.get((city, kind, p), "missing")

    if r["report_status"] in ("missing", "combined"):
        st = "combined" if r["report_status"] == "combined" else status(period)
        st = st if st in STATUS_ZH else "missing"
        return Gap(city, r["city_name"], True, STATUS_ZH[st].split("（")[0], ((period, kind, st),))
    if r["has_value"]:  # reported, but its year to date misses a month (a trade YTD is a sum of months)
        gone = [(p, kind, "rejected" if status(p) == "rejected" else "missing")
                for p in (f"{y:04d}-{m:02d}" for m in range(1, n))
                if status(p) not in (*REPORTED, "combined")]
        return Gap(city, r["city_name"], False, f"累计数缺{_months_text([p for p, _, _ in gone])}{KIND_ZH[kind]}",
                   tuple(gone))
    december = f"{y - 1:04d}-12"
    if kind == "workbook" and status(december) not in REPORTED:  # funds are measured from last December
        return Gap(city, r["city_name"], True, f"缺{y - 1}年12月台账", ((december, kind, "missing"),))
    return Gap(city, r["city_name"], True, "无法计算", ())


def _details(items: set) -> tuple[list[str], list[str]]:
    """What did not come, grouped by kind and status: ["外贸明细2025年1—7月未报送", …] and English."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for period, kind, st in items:
        groups[(kind, st)].append(period)
    zh, en = [], []
    for (kind, st), periods in sorted(groups.items()):
        periods = sorted(periods)
        zh.append(f"{KIND_ZH[kind]}{_months_text(periods, with_year=True)}{STATUS_ZH[st]}")
        en.append(f"{KIND_EN[kind]} {', '.join(_runs_en(periods))} {STATUS_EN[st]}")
    return zh, en


def _runs(periods: list[str]) -> list[list[str]]:
    """Consecutive months as runs: 2025-01..2025-07, 2025-09 -> [[01..07], [09]]."""
    runs: list[list[str]] = []
    for p in sorted(set(periods)):
        if runs and shift(runs[-1][-1], 1) == p:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def _months_text(periods: list[str], with_year: bool = False) -> str:
    """["2025-01".."2025-07"] -> 1—7月 (2025年1—7月 with the year); runs joined by 、."""
    out = []
    last_year = None
    for run in _runs(periods):
        a, b = run[0], run[-1]
        year = a[:4]
        head = f"{year}年" if with_year and (year != last_year) else ""
        last_year = year
        ma, mb = int(a[5:]), int(b[5:])
        if a == b:
            out.append(f"{head}{ma}月")
        elif a[:4] == b[:4]:
            out.append(f"{head}{ma}—{mb}月")
        else:
            out.append(f"{head}{ma}月—{b[:4]}年{mb}月")
    return "、".join(out)


def _runs_en(periods: list[str]) -> list[str]:
    return [run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}" for run in _runs(periods)]


# --------------------------------------------------------------------------- 报送情况 of a month
NOT_REPORTED_SQL = """
select s.city_code, s.city_name, s.kind, s.status, s.status_zh, s.deadline_date, s.files_received,
       s.files_rejected, s.combined_with_period
from marts.submission_status as s
where s.period = %(period)s and s.status in ('missing', 'returned', 'rejected', 'combined')
order by s.city_code, s.kind desc
"""


def not_reported(conn, period: str, as_of: date) -> list[dict]:
    """The cities' files not in force for the month (未报送 / 被退回 / 被拒收 / 1–2月合并), with the deadline and
    the days overdue as of ``as_of`` (None before the deadline, and for a combined January)."""
    rows = conn.execute(NOT_REPORTED_SQL, {"period": period}).fetchall()
    for r in rows:
        overdue = (as_of - r["deadline_date"]).days
        r["days_overdue"] = overdue if r["status"] != "combined" and overdue > 0 else None
        r["kind_zh"] = KIND_ZH[r["kind"]]
    return rows
