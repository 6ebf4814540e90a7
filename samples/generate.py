"""Deterministic, realistic sample submissions for all 14 cities: :func:`generate`.

Every figure is a function of (seed, entity, month), so the same arguments
always write the same bytes and months stay consistent with each other:
projects move along 在谈 → 签约 → 注册 → 开工 → 投产 with paid-in funds that never
fall, parks fill up over time, year-to-date flows restart each January.

Per city and month ``generate`` writes

* ``<city>/<city>_<YYYYMM>.xlsx``: sheets 项目台账 and 园区情况, plus 服务贸易 in
  March, June, September and December;
* ``<city>/trade_<city>_<YYYYMM>.csv``: the month's customs-style trade detail
  (UTF-8 with BOM, GBK for the cities in :data:`samples.workbooks.GBK_CITIES`).

The cities in :data:`samples.calendar.COMBINED_JAN_FEB` send no January files: their
February files cover 1–2月 (the February CSV holds January's and February's rows).

With ``with_errors=True`` a known set of realistic mistakes (:data:`samples.cases.CASES`)
is planted in a few files, one per case, and listed in ``planted_errors.json``; one clean
file also gets a corrected re-submission under ``resubmissions/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core import reference
from core.periods import months
from samples.calendar import submits
from samples.cases import report_entry, resolve_rows, resubmission_entry
from samples.errors import Planter, apply_separators, separator_slot
from samples.projects import Project, city_projects
from samples.trade import enterprise_pool, trade_file_rows
from samples.workbooks import TradeTable, city_file, workbook_content, write_content, write_trade_csv


class _ProjectsByCity(dict):
    """city -> its projects up to the last month, simulated on first use."""

    def __init__(self, seed: int, scale: float, until: str):
        super().__init__()
        self.args = (seed, scale, until)

    def __missing__(self, city: str) -> tuple[Project, ...]:
        self[city] = city_projects(city, *self.args)
        return self[city]


@dataclass
class _Run:
    """One call of :func:`generate`: where the files go and the planted mistakes listed so far."""

    out: Path
    seed: int
    scale: float
    projects: _ProjectsByCity
    planter: Planter | None
    separators: tuple[str, str] | None  # the clean workbook with thousands separators
    planted: list[dict] = field(default_factory=list)

    def workbook(self, city: str, period: str) -> Path:
        rel = city_file(city, period, "workbook")
        content = workbook_content(city, period, self.seed, self.scale, self.projects[city])
        entries = []
        if (city, period) == self.separators:
            entries += [dict(e, case="thousands_separator", rule=None, level="accepted")
                        for e in apply_separators(content)]
        if self.planter is not None:
            entries += self.planter.apply_workbook(content, self.planter.cases_for("workbook", city, period))
        path = write_content(self.out / rel, content)
        if self.planter is not None:
            for e in entries:
                for resolved in resolve_rows(e, content):
                    self.planted.append(report_entry(rel, resolved))
        return path

    def trade(self, city: str, period: str) -> Path:
        rel = city_file(city, period, "trade")
        table = TradeTable(trade_file_rows(city, period, self.seed, self.scale), enterprise_pool(city, self.seed))
        planter = self.planter
        entries = planter.apply_trade(table, planter.cases_for("trade", city, period)) if planter else []
        path = write_trade_csv(self.out / rel, table, city)
        self.planted += [report_entry(rel, e) for e in entries]
        return path

    def resubmission(self, planter: Planter) -> Path | None:
        """The corrected re-submission of the planted slot, if the window has one."""
        slot = planter.resubmission_slot()
        if slot is None:
            return None
        city, period = slot
        content = workbook_content(city, period, self.seed, self.scale, self.projects[city])
        changes = planter.resubmit(content)
        rel = "resubmissions/" + city_file(city, period, "workbook")
        (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
        path = write_content(self.out / rel, content)
        self.planted.append(resubmission_entry(rel, city_file(city, period, "workbook"), content, changes))
        return path


def generate(out: Path, start: str, end: str, seed: int = 42, scale: float = 1.0,
             with_errors: bool = False, cities: list[str] | None = None) -> list[Path]:
    """Write every city's workbook and trade CSV for each month into ``out/<city_code>/``.

    Returns the submission files written (workbooks, trade CSVs and, with errors, the
    re-submission), in a stable order.
    """
    out = Path(out)
    periods = months(start, end)
    cities = list(cities or reference.cities())
    unknown = [c for c in cities if c not in reference.cities()]
    if unknown:
        raise ValueError(f"unknown city codes: {', '.join(unknown)}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    projects = _ProjectsByCity(seed, scale, periods[-1])
    planter = Planter(periods, cities, seed, scale, projects) if with_errors else None
    run = _Run(out, seed, scale, projects, planter, separator_slot(periods, cities))
    written: list[Path] = []
    for period in periods:
        for city in cities:
            if not submits(city, period):
                continue
            (out / city).mkdir(parents=True, exist_ok=True)
            written.append(run.workbook(city, period))
            written.append(run.trade(city, period))

    if planter is not None:
        resubmitted = run.resubmission(planter)
        if resubmitted is not None:
            written.append(resubmitted)
        (out / "planted_errors.json").write_text(
            json.dumps(run.planted, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return written
