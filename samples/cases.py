"""The catalogue of planted mistakes, and how ``planted_errors.json`` lists each one planted.

Each :class:`Case` is one realistic mistake a city clerk makes; most are caught by intake
(the receipts report them), a few only by the quality gate on the marts (:data:`GATE_CATCHES`).
Entries give file, sheet, row (the header is row 1), column header, value, rule and level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ingestion.contract import TRADE
from samples.workbooks import SHEET_BY_NAME, WorkbookContent


@dataclass(frozen=True)
class Case:
    case: str
    kind: str  # workbook | trade
    sheet: str | None  # contract sheet name (projects / parks) or None
    column: str | None  # contract column name
    rule: str | None
    level: str  # row | warning | file | superseding | accepted
    stage: str = "intake"  # intake: receipts report it; marts: intake accepts it, the quality gate catches it


CASES = (
    Case("paid_in_decrease", "workbook", "projects", "paid_in_cumulative", "paid_in_decrease", "warning"),
    Case("resubmission", "workbook", None, None, None, "superseding"),
    Case("city_mismatch", "workbook", "projects", "project_id", "city_mismatch", "file"),
    Case("missing_sheet", "workbook", "parks", None, "missing_sheet", "file"),
    Case("wrong_unit", "workbook", "parks", "tax_ytd_10k_cny", "wrong_unit", "file"),
    Case("negative_paid_in", "workbook", "projects", "paid_in_cumulative", "below_minimum", "row"),
    Case("zero_contract", "workbook", "projects", "contract_amount", "not_positive", "row"),
    Case("unknown_county", "workbook", "projects", "county_code", "code_list:county_of_city", "row"),
    Case("park_of_other_city", "workbook", "projects", "park_code", "code_list:park_of_city", "row"),
    Case("duplicate_project_id", "workbook", "projects", "project_id", "duplicate_key", "row"),
    Case("start_after_period", "workbook", "projects", "started_date", "date_after_period", "row"),
    Case("start_before_signing", "workbook", "projects", "started_date", "dates_out_of_order", "row"),
    Case("production_without_date", "workbook", "projects", "production_date", "stage_dates", "row"),
    Case("used_exceeds_built", "workbook", "parks", "factory_used_10k_m2", "used_le_built", "row"),
    Case("above_scale_exceeds_settled", "workbook", "parks", "above_scale_enterprises",
         "above_scale_le_settled", "row"),
    Case("text_in_number", "workbook", "parks", "employees", "not_a_number", "row"),
    Case("bad_uscc_check", "trade", None, "enterprise_code", "uscc_check", "row"),
    Case("formula_in_name", "trade", None, "enterprise_name", "formula", "row"),
    Case("hs_six_digits", "trade", None, "hs_code", "pattern", "row"),
    Case("unknown_country", "trade", None, "partner_country", "code_list:iso_country", "row"),
    # Mistakes intake cannot see (each file is valid on its own) that break a mart rule:
    # a city's YTD services figures lower than its previous quarter's.
    Case("services_ytd_decrease", "workbook", "services_trade", "exports_10k_usd", None, "accepted", "marts"),
)
EXCLUSIVE = {"paid_in_decrease", "resubmission", "city_mismatch", "missing_sheet", "wrong_unit",
             "services_ytd_decrease"}
# The expectation of the quality gate (expectations/suites.py) that must report each mart-stage
# mistake, its severity, and the key of the row it reports. A paid-in decrease is flagged at intake
# (a warning on the receipt), so the gate lists it as a warning; an unexplained YTD decrease blocks.
GATE_CATCHES = {
    "paid_in_decrease": {"suite": "marts.fct_project_month", "expectation": "paid_in_flagged_revisions",
                         "severity": "warning", "expectation_type": "expect_no_rows_breaking_rule"},
    "services_ytd_decrease": {"suite": "marts.kpi_city_month", "expectation": "ytd_non_decreasing",
                              "severity": "blocking", "expectation_type": "expect_no_rows_breaking_rule"},
}


def cell_text(value) -> str | None:
    """A cell value as text, the way it was written."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def resolve_rows(entry: dict, content: WorkbookContent | None) -> list[dict]:
    """Turn ``row_obj`` into row numbers (header = row 1); duplicate rows give one entry per row."""
    obj = entry.pop("row_obj", None)
    sheet = entry.get("sheet")
    out = []
    for target in (obj if isinstance(obj, list) else [obj]):
        e = dict(entry)
        if target is None:
            e["row"] = None
        elif target == "header":
            e["row"] = 1
        else:
            rows = content.sheets[sheet]
            e["row"] = next(i for i, r in enumerate(rows) if r is target) + 2
        out.append(e)
    return out


def report_entry(file: str, e: dict) -> dict:
    """One entry of planted_errors.json: where the mistake is, in the clerk's terms (sheet and header)."""
    sheet = e.get("sheet")
    sheet_obj = SHEET_BY_NAME.get(sheet) if sheet else None
    column = e.get("column")
    header = (sheet_obj or TRADE).column(column).header if column else None
    ordered = {"case": e["case"], "file": file, "sheet": sheet_obj.sheet_name if sheet_obj else None,
               "row": e.get("row"), "column": header, "value": e.get("value"), "rule": e.get("rule"),
               "level": e["level"]}
    for extra in ("previous_file", "previous_value", "changes", "content_of"):
        if extra in e:
            ordered[extra] = e[extra]
    if e.get("stage") == "marts" or e["case"] in GATE_CATCHES:
        # passes intake (or only warns) but breaks a mart rule: the gate expectation that must catch it
        ordered["stage"] = "marts"
        ordered["gate"] = {**GATE_CATCHES[e["case"]], "row": e.get("catch")}
    return ordered



def resubmission_entry(file: str, supersedes: str, content: WorkbookContent, changes: list[dict]) -> dict:
    """The planted_errors.json entry of a corrected re-submission, with the cells it changed."""
    for ch in changes:
        obj = ch.pop("row_obj")
        ch["row"] = next(i for i, r in enumerate(content.sheets[ch["sheet"]]) if r is obj) + 2
        ch["column"] = SHEET_BY_NAME[ch["sheet"]].column(ch["column"]).header
        ch["sheet"] = SHEET_BY_NAME[ch["sheet"]].sheet_name
    return {"case": "resubmission", "file": file, "sheet": None, "row": None, "column": None,
            "value": None, "rule": None, "level": "superseding", "supersedes": supersedes,
            "changes": [{k: ch[k] for k in ("sheet", "row", "column", "old", "new")} for ch in changes]}
