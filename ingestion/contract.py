"""The submission contract: one declaration per sheet / file kind.

Templates, validation rules, the ``raw`` DDL and the dbt sources yml are all
generated from the objects below, so changing a column means changing one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Column types and their Postgres type in raw.
PG_TYPES = {"text": "text", "int": "bigint", "numeric": "numeric", "date": "date"}


@dataclass(frozen=True)
class Column:
    name: str  # English identifier used in raw and dbt
    label: str  # Chinese header without the unit, as printed in the template
    dtype: str  # text | int | numeric | date
    unit: str | None = None  # shown in the header as 「label（unit）」
    required: bool = True
    min_value: float | None = None
    code_list: str | None = None  # name of a reference list the value must belong to
    unique: bool = False  # unique within the sheet
    doc: str = ""

    @property
    def header(self) -> str:
        return f"{self.label}（{self.unit}）" if self.unit else self.label

    @property
    def pg_type(self) -> str:
        return PG_TYPES[self.dtype]


@dataclass(frozen=True)
class RowRule:
    """A rule between columns of one row: ``left <= right``."""

    code: str
    left: str
    right: str
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class Sheet:
    kind: str  # file kind the sheet belongs to (workbook | trade)
    name: str  # English entity name; raw table is raw.<name>
    sheet_name: str  # Chinese sheet name in the workbook
    columns: tuple[Column, ...]
    row_rules: tuple[RowRule, ...] = field(default_factory=tuple)
    doc: str = ""

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


PARKS = Sheet(
    kind="workbook",
    name="parks",
    sheet_name="园区情况",
    doc="One row per industrial park of the city: stocks at month-end and year-to-date flows.",
    columns=(
        Column("park_code", "园区代码", "text", code_list="park_of_city", unique=True,
               doc="Park code from the province's park list; must belong to the submitting city."),
        Column("planned_area_mu", "规划面积", "numeric", "亩", min_value=0, doc="Planned area."),
        Column("developed_area_mu", "已开发面积", "numeric", "亩", min_value=0, doc="Developed area."),
        Column("factory_built_10k_m2", "标准厂房建成面积", "numeric", "万平方米", min_value=0,
               doc="Standard factory floor space built."),
        Column("factory_used_10k_m2", "标准厂房已使用面积", "numeric", "万平方米", min_value=0,
               doc="Standard factory floor space in use (≤ built)."),
        Column("enterprises", "入驻企业数", "int", "家", min_value=0, doc="Settled enterprises."),
        Column("above_scale_enterprises", "规模以上工业企业数", "int", "家", min_value=0,
               doc="Above-designated-size industrial enterprises (≤ settled)."),
        Column("tax_ytd_10k_cny", "本年累计税收", "numeric", "万元", min_value=0,
               doc="Tax revenue, year to date."),
        Column("revenue_ytd_10k_cny", "本年累计技工贸总收入", "numeric", "万元", min_value=0,
               doc="Total technical, industrial and trade revenue, year to date."),
        Column("employees", "从业人员", "int", "人", min_value=0, doc="Persons employed."),
    ),
    row_rules=(
        RowRule("used_le_built", "factory_used_10k_m2", "factory_built_10k_m2",
                "标准厂房已使用面积不得大于建成面积", "factory space in use must not exceed space built"),
        RowRule("above_scale_le_settled", "above_scale_enterprises", "enterprises",
                "规模以上工业企业数不得大于入驻企业数",
                "above-scale enterprises must not exceed settled enterprises"),
    ),
)

SHEETS: tuple[Sheet, ...] = (PARKS,)

# File names: <city>_<YYYYMM>.xlsx and trade_<city>_<YYYYMM>.csv
FILE_PATTERNS = {
    "workbook": re.compile(r"^(?P<city>\d{6})_(?P<year>\d{4})(?P<month>\d{2})\.xlsx$"),
    "trade": re.compile(r"^trade_(?P<city>\d{6})_(?P<year>\d{4})(?P<month>\d{2})\.csv$"),
}


def sheets_of_kind(kind: str) -> list[Sheet]:
    return [s for s in SHEETS if s.kind == kind]


# --- tolerant header matching ------------------------------------------------
_FULLWIDTH = str.maketrans({"（": "(", "）": ")", "【": "[", "】": "]", "\u3000": " "})


def normalise_header(text: object) -> str:
    """「 规划面积 (亩)」, 「规划面积（亩）」 and 「规划面积(亩)」 all normalise alike."""
    s = str(text if text is not None else "").translate(_FULLWIDTH)
    return re.sub(r"\s+", "", s).lower()


def split_unit(text: object) -> tuple[str, str | None]:
    """Split a normalised header into (label, unit)."""
    s = normalise_header(text)
    m = re.fullmatch(r"(.*?)\((.*)\)", s)
    if m:
        return m.group(1), m.group(2)
    return s, None


# --- generated artefacts -----------------------------------------------------
def raw_ddl() -> list[str]:
    """DDL of every raw table, with file id and row number first."""
    stmts = ["CREATE SCHEMA IF NOT EXISTS raw"]
    for sheet in SHEETS:
        cols = ",\n  ".join(f"{c.name} {c.pg_type}" for c in sheet.columns)
        stmts.append(
            f"CREATE TABLE IF NOT EXISTS {sheet.raw_table} (\n"
            f"  file_id bigint NOT NULL,\n  row_number integer NOT NULL,\n  {cols},\n"
            f"  PRIMARY KEY (file_id, row_number)\n)"
        )
        comment = sheet.doc.replace("'", "''")
        stmts.append(f"COMMENT ON TABLE {sheet.raw_table} IS '{sheet.sheet_name}: {comment}'")
    return stmts


def dbt_sources_yml() -> str:
    """The dbt sources file for raw and audit, generated from the contract."""
    lines = [
        "# GENERATED by `openecon contract sources` from ingestion/contract.py. Do not edit.",
        "version: 2",
        "",
        "sources:",
        "  - name: raw",
        "    description: Rows of accepted submissions as received, each with its file id and row number.",
        "    schema: raw",
        "    tables:",
    ]
    for sheet in SHEETS:
        lines += [
            f"      - name: {sheet.name}",
            f"        description: \"{sheet.sheet_name}: {sheet.doc}\"",
            "        columns:",
            "          - name: file_id",
            "            description: audit.submissions.file_id of the file the row came from.",
            "            data_tests: [not_null]",
            "          - name: row_number",
            "            description: Row number in the sheet as the clerk sees it (header is row 1).",
            "            data_tests: [not_null]",
        ]
        for c in sheet.columns:
            lines += [
                f"          - name: {c.name}",
                f"            description: \"{c.header}. {c.doc}\"",
            ]
            if c.required:
                lines.append("            data_tests: [not_null]")
    lines += [
        "  - name: audit",
        "    description: One row per received file and every rejected row.",
        "    schema: audit",
        "    tables:",
        "      - name: submissions",
        "        description: One row per received file with its status and supersession.",
        "      - name: rejected_rows",
        "        description: Quarantined rows with the reason in Chinese and English.",
    ]
    return "\n".join(lines) + "\n"
