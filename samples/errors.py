"""Planting the cataloged mistakes: where each :data:`~samples.cases.CASES` entry goes, and applying it.

One case per file where the window allows (a few share a file with cases of another sheet),
chosen deterministically from the seed and the window, so the same arguments plant the same
mistakes in the same cells. One clean workbook also types a few 园区 figures with thousands
separators (accepted by intake), and one clean workbook gets a corrected re-submission.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from core import reference
from core.periods import month_end, parse_period, shift
from ingestion.codes import USCC_CHARS
from ingestion.contract import PARKS, PROJECTS, SERVICES
from samples.calendar import previous_submission, submits
from samples.cases import CASES, EXCLUSIVE, Case, cell_text
from samples.entities import profile
from samples.projects import Project, ledger_rows
from samples.rng import keyed_random
from samples.trade import services_rows
from samples.workbooks import TradeTable, WorkbookContent, city_file, workbook_content

FORMULA = "=cmd|' /C calc'!A0"
SEPARATOR_CITY = "430400"


def separator_slot(periods: list[str], cities: list[str]) -> tuple[str, str] | None:
    """The one clean workbook that types a few 园区 numbers as text with thousands separators."""
    with_parks = [c for c in cities if reference.parks_by_city().get(c)]
    if not with_parks:
        return None
    city = SEPARATOR_CITY if SEPARATOR_CITY in with_parks else with_parks[0]
    for period in reversed(periods):
        if submits(city, period):
            return city, period
    return None


def apply_separators(content: WorkbookContent) -> list[dict]:
    """Write a few park figures of the first park as text like "12,345.6"; return where."""
    placed = []
    rows = content.sheets[PARKS.name]
    for col in ("revenue_ytd_10k_cny", "tax_ytd_10k_cny", "planned_area_mu"):
        value = rows[0][col]
        if abs(value) >= 1000:
            text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
            rows[0][col] = text
            placed.append({"sheet": PARKS.name, "row_obj": rows[0], "column": col, "value": text})
    return placed


class Planter:
    """Chooses where each planted mistake goes and applies it to the generated content."""

    def __init__(self, periods: list[str], cities: list[str], seed: int, scale: float,
                 projects: dict[str, tuple[Project, ...]]):
        self.periods, self.cities, self.seed, self.scale = periods, cities, seed, scale
        self.projects = projects
        self.rng = keyed_random(seed, "planted-errors", periods[0], periods[-1], ",".join(cities))
        self.sep = separator_slot(periods, cities)
        self.slots: dict[tuple[str, str, str], list[Case]] = {}  # (kind, city, period) -> cases
        self.targeted: dict[str, set[str]] = {c: set() for c in reference.cities()}  # project ids touched, per city
        self.mismatch_source: dict[tuple[str, str], str] = {}
        self._prev_inside = False
        self._plan()

    # -- planning
    def _ledger(self, city: str, period: str) -> list[dict]:
        return ledger_rows(city, period, self.seed, self.scale, self.projects[city])

    def _ok(self, case: Case, city: str, period: str) -> bool:
        if not submits(city, period):
            return False
        if case.kind == "trade":
            return True
        if case.sheet == PARKS.name and not reference.parks_by_city().get(city):
            return False
        if case.case == "paid_in_decrease":
            prev = previous_submission(city, period)
            if self._prev_inside and prev not in self.periods:
                return False
            if ("workbook", city, prev) in self.slots and any(
                    c.case in EXCLUSIVE for c in self.slots[("workbook", city, prev)]):
                return False
            return any(self.projects[city][i].paid_at(prev) > 0 and self.projects[city][i].in_ledger(prev)
                       for i, _ in self._rows_index(city, period))
        if case.case == "services_ytd_decrease":
            prev = self._previous_quarter(city, period)
            return prev is not None and not any(c.level == "file" or c.case in EXCLUSIVE
                                                for c in self.slots.get(("workbook", city, prev), []))
        if case.case == "resubmission":
            return bool(self._ledger(city, period))
        if case.case == "city_mismatch":
            return self._mismatch_partner(city, period) is not None
        nxt = shift(period, 1)
        if case.level == "file" and ("workbook", city, nxt) in self.slots and any(
                c.case == "paid_in_decrease" for c in self.slots[("workbook", city, nxt)]):
            return False  # the warning needs an accepted previous file
        if case.sheet == PROJECTS.name and case.level == "row":
            return self._pick_row(case, city, period, dry=True) is not None
        return True

    def _previous_quarter(self, city: str, period: str) -> str | None:
        """The city's services file of the quarter before, same year and inside the window."""
        if parse_period(period).month not in (6, 9, 12):
            return None
        prev = shift(period, -3)
        return prev if prev in self.periods and submits(city, prev) else None

    def _rows_index(self, city: str, period: str) -> list[tuple[int, dict]]:
        return [(i, row) for i, p in enumerate(self.projects[city]) if (row := p.row(period)) is not None]

    def _mismatch_partner(self, city: str, period: str) -> str | None:
        others = sorted((c for c in reference.cities() if c != city and submits(c, period)),
                        key=lambda c: -profile(c).signed_per_year)
        for other in others:
            if self._ledger(other, period):
                return other
        return None

    def _plan(self) -> None:
        by_size = sorted(self.cities, key=lambda c: (-profile(c).signed_per_year, c))
        n = len(self.periods)
        for i, case in enumerate(CASES):
            if case.case == "resubmission":
                period_order = list(reversed(self.periods))
                city_order = by_size[len(by_size) // 2:] + by_size[:len(by_size) // 2]
            else:
                start = (n - 1 - i) % n
                period_order = [self.periods[(start - k) % n] for k in range(n)]
                if case.level == "file":
                    city_order = list(reversed(by_size))
                    city_order = city_order[i % len(city_order):] + city_order[:i % len(city_order)]
                else:
                    city_order = by_size[i % len(by_size):] + by_size[:i % len(by_size)]
            slot = None
            if case.case == "paid_in_decrease":  # rather with the previous file inside the output
                self._prev_inside = True
                slot = self._first_slot(case, period_order, city_order)
                self._prev_inside = False
            slot = slot or self._first_slot(case, period_order, city_order)
            if slot is None:
                warnings.warn(f"sample: no file in the window can take planted case {case.case}", stacklevel=3)
            else:
                self.slots.setdefault(slot, []).append(case)
                if case.case == "city_mismatch":
                    self.mismatch_source[slot[1:]] = self._mismatch_partner(slot[1], slot[2])

    def _first_slot(self, case: Case, period_order: list[str], city_order: list[str]):
        # First a file of its own, then one shared with cases of another sheet, then any.
        for sharing in (0, 1, 2):
            for period in period_order:
                for city in city_order:
                    slot = (case.kind, city, period)
                    taken = self.slots.get(slot, [])
                    if case.kind == "workbook" and (city, period) == self.sep:
                        continue
                    if taken and (sharing == 0 or case.case in EXCLUSIVE
                                  or any(c.case in EXCLUSIVE for c in taken) or len(taken) >= 3
                                  or (sharing == 1 and any(c.sheet == case.sheet for c in taken))):
                        continue
                    if case.sheet == PARKS.name and case.level == "row" and len(
                            reference.parks_by_city().get(city, [])) <= sum(c.sheet == PARKS.name for c in taken):
                        continue
                    if self._ok(case, city, period):
                        return slot
        return None

    # -- applying
    def cases_for(self, kind: str, city: str, period: str) -> list[Case]:
        return self.slots.get((kind, city, period), [])

    def resubmission_slot(self) -> tuple[str, str] | None:
        for (_kind, city, period), cases in self.slots.items():
            if any(c.case == "resubmission" for c in cases):
                return city, period
        return None

    def _pick_row(self, case: Case, city: str, period: str, dry: bool = False) -> str | None:
        """The project id of the ledger row a ledger case should go into."""
        rows = self._ledger(city, period)
        prev = previous_submission(city, period)
        projects = {p.project_id: p for p in self.projects[city]}
        taken = self.targeted.get(city, set())

        def prev_paid(row) -> float:
            p = projects[row["project_id"]]
            return p.paid_at(prev) if p.in_ledger(prev) else 0.0

        wants = {
            "negative_paid_in": lambda r: prev_paid(r) == 0 and r["paid_in_cumulative"] == 0,
            "zero_contract": lambda r: r["paid_in_cumulative"] == 0,
            "unknown_county": lambda r: True,
            "park_of_other_city": lambda r: True,
            "duplicate_project_id": lambda r: True,
            "start_after_period": lambda r: r["stage"] == "开工",
            "start_before_signing": lambda r: r["stage"] in ("开工", "投产") and r["signed_date"] is not None,
            "production_without_date": lambda r: r["stage"] == "投产",
            "paid_in_decrease": lambda r: prev_paid(r) > 0.05 and projects[r["project_id"]].in_ledger(prev),
        }[case.case]
        fits = [r["project_id"] for r in rows if wants(r) and r["project_id"] not in taken]
        if not fits:
            return None
        return fits[0] if dry else self.rng.choice(fits)

    def apply_workbook(self, content: WorkbookContent, cases: list[Case]) -> list[dict]:
        """Plant the cases in ``content``; return entries with ``row_obj`` still to resolve."""
        entries = []
        city, period = content.city, content.period
        touched_parks: list[dict] = []
        for case in cases:
            if case.case == "resubmission":  # the original stays clean; see resubmit()
                continue
            entry = {"case": case.case, "sheet": case.sheet, "column": case.column, "rule": case.rule,
                     "level": case.level, "stage": case.stage}
            if case.level == "file":
                entry.update(self._apply_file_case(content, case))
            elif case.case == "services_ytd_decrease":
                entry.update(self._apply_services(content))
            elif case.sheet == PARKS.name:
                entry.update(self._apply_park(content, case, touched_parks))
            else:
                applied = self._apply_ledger(content, case)
                if applied is None:
                    warnings.warn(f"sample: no row fits planted case {case.case} in {city} {period}", stacklevel=2)
                    continue
                entry.update(applied)
            entries.append(entry)
        return entries

    def _apply_file_case(self, content: WorkbookContent, case: Case) -> dict:
        """A mistake that makes intake reject the whole file."""
        city, period = content.city, content.period
        if case.case == "city_mismatch":
            other = self.mismatch_source[(city, period)]
            content.sheets = workbook_content(other, period, self.seed, self.scale, self.projects[other]).sheets
            return {"row_obj": None, "value": other}
        if case.case == "missing_sheet":
            del content.sheets[PARKS.name]
            return {"row_obj": None, "column": None, "value": None}
        if case.case == "wrong_unit":
            header = "本年累计税收（亿元）"
            content.headers.setdefault(PARKS.name, {})["tax_ytd_10k_cny"] = header
            for row in content.sheets[PARKS.name]:  # the clerk converted the figures too
                row["tax_ytd_10k_cny"] = round(row["tax_ytd_10k_cny"] / 1e4, 4)
            return {"row_obj": "header", "value": header}
        raise ValueError(f"no way to plant file-level case {case.case}")

    def _apply_services(self, content: WorkbookContent) -> dict:
        """services_ytd_decrease: the quarter's figures typed where the year to date belongs."""
        city, period = content.city, content.period
        prev = self._previous_quarter(city, period)
        before = sum(r["exports_10k_usd"] + r["imports_10k_usd"] for r in services_rows(city, prev, self.seed))
        rows = content.sheets[SERVICES.name]
        now = sum(r["exports_10k_usd"] + r["imports_10k_usd"] for r in rows)
        factor = 0.8 * before / now  # the clerk typed the quarter's figures, not the year to date
        for r in rows:
            for col in ("exports_10k_usd", "imports_10k_usd"):
                r[col] = round(r[col] * factor, 2)
        return {"row_obj": None, "value": f"{sum(r['exports_10k_usd'] + r['imports_10k_usd'] for r in rows):.2f}",
                "previous_file": city_file(city, prev, "workbook"), "previous_value": f"{before:.2f}",
                "catch": {"kpi_code": "services_trade", "city_code": city, "period": period}}

    def _apply_park(self, content: WorkbookContent, case: Case, touched: list[dict]) -> dict:
        """A 园区情况 row mistake, each in a park row of its own (``touched`` holds those taken)."""
        rows = [r for r in content.sheets[PARKS.name] if not any(r is t for t in touched)]
        row = self.rng.choice(rows)
        touched.append(row)
        if case.case == "used_exceeds_built":
            row["factory_used_10k_m2"] = round(row["factory_built_10k_m2"] * 1.06 + 0.05, 2)
        elif case.case == "above_scale_exceeds_settled":
            row["above_scale_enterprises"] = row["enterprises"] + self.rng.randint(3, 12)
        elif case.case == "text_in_number":
            row["employees"] = f"约{max(100, int(round(row['employees'], -2)))}"
        return {"row_obj": row, "value": cell_text(row[case.column])}

    def _apply_ledger(self, content: WorkbookContent, case: Case) -> dict | None:
        """A 项目台账 row mistake, in a row that fits it (None when none fits)."""
        city, period = content.city, content.period
        rows = content.sheets[PROJECTS.name]
        pid = self._pick_row(case, city, period)
        if pid is None:
            return None
        i = next(k for k, r in enumerate(rows) if r["project_id"] == pid)
        row = rows[i]
        self.targeted[city].add(pid)
        end = month_end(period)
        if case.case == "negative_paid_in":
            row["paid_in_cumulative"] = -float(self.rng.choice((50, 120, 300)))
        elif case.case == "zero_contract":
            row["contract_amount"] = 0
        elif case.case == "unknown_county":
            row["county_code"] = city[:4] + "99"
        elif case.case == "park_of_other_city":
            other = next(p["park_code"] for c, ps in reference.parks_by_city().items() if c != city for p in ps)
            row["park_code"] = other
        elif case.case == "duplicate_project_id":
            copy = dict(row)
            rows.insert(i + 1, copy)
            return {"row_obj": [row, copy], "value": row["project_id"]}
        elif case.case == "start_after_period":
            row["started_date"] = end + timedelta(days=self.rng.randint(5, 25))
        elif case.case == "start_before_signing":
            row["started_date"] = row["signed_date"] - timedelta(days=self.rng.randint(10, 40))
        elif case.case == "production_without_date":
            row["production_date"] = None
        elif case.case == "paid_in_decrease":
            project = next(p for p in self.projects[city] if p.project_id == row["project_id"])
            before = project.paid_at(previous_submission(city, period))
            row["paid_in_cumulative"] = round(before * 0.8, 2)
            return {"row_obj": row, "value": cell_text(row["paid_in_cumulative"]),
                    "previous_file": city_file(city, previous_submission(city, period), "workbook"),
                    "previous_value": cell_text(before),
                    "catch": {"project_id": row["project_id"], "period": period}}
        return {"row_obj": row, "value": cell_text(row[case.column])}

    def apply_trade(self, table: TradeTable, cases: list[Case]) -> list[dict]:
        entries = []
        n = len(table.rows)
        for k, case in enumerate(cases):
            i = (n * (k + 1)) // (len(cases) + 2)  # distinct rows, away from the edges
            if case.case == "bad_uscc_check":
                code = table.text("enterprise_code", i)
                wrong = USCC_CHARS[(USCC_CHARS.index(code[17]) + 1 + self.rng.randrange(29)) % 31]
                value = code[:17] + wrong
            elif case.case == "formula_in_name":
                value = FORMULA
            elif case.case == "hs_six_digits":
                value = table.text("hs_code", i)[:6]
            else:  # unknown_country
                value = "XX"
            table.overrides[(case.column, i)] = value
            entries.append({"case": case.case, "sheet": None, "row": i + 2, "column": case.column,
                            "value": value, "rule": case.rule, "level": case.level})
        return entries

    def resubmit(self, content: WorkbookContent) -> list[dict]:
        """Correct a few values of a clean workbook (what a city re-sends after a phone call)."""
        changes = []
        city, period = content.city, content.period
        rows = content.sheets[PROJECTS.name]
        projects = {p.project_id: p for p in self.projects[city]}
        nxt = shift(period, 1)
        with_land = [r for r in rows if r["land_area_mu"]]
        for row in self.rng.sample(with_land, min(2, len(with_land))):
            new = round(row["land_area_mu"] * 1.1 + 1, 1)
            changes.append({"sheet": PROJECTS.name, "row_obj": row, "column": "land_area_mu",
                            "old": cell_text(row["land_area_mu"]), "new": cell_text(new)})
            row["land_area_mu"] = new
        # Raise a paid-in figure, but not above next month's (no decrease appears later).
        for row in rows:
            p = projects[row["project_id"]]
            room = p.paid_at(nxt) - row["paid_in_cumulative"]
            if row["paid_in_cumulative"] > 0 and room >= 1:
                new = round(row["paid_in_cumulative"] + min(room, max(1.0, row["paid_in_cumulative"] * 0.05)), 2)
                changes.append({"sheet": PROJECTS.name, "row_obj": row, "column": "paid_in_cumulative",
                                "old": cell_text(row["paid_in_cumulative"]), "new": cell_text(new)})
                row["paid_in_cumulative"] = new
                break
        parks = content.sheets.get(PARKS.name) or []
        if parks:
            row = parks[-1]
            new = row["employees"] + 37
            changes.append({"sheet": PARKS.name, "row_obj": row, "column": "employees",
                            "old": cell_text(row["employees"]), "new": cell_text(new)})
            row["employees"] = new
        return changes

