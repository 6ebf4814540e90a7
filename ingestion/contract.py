"""The submission contract: one declaration per sheet / file kind.

Templates, validation rules, the ``raw`` DDL and the dbt sources yml are all
generated from the objects below, so changing a column means changing one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core import reference
from core.settings import PROJECT_ROOT

# Column types and their Postgres type in raw.
PG_TYPES = {"text": "text", "int": "bigint", "numeric": "numeric", "date": "date"}


# Closed code lists that live in the contract itself; the longer lists
# (counties, parks, chains, countries, ...) are dbt seeds read by core.reference.
STAGES = ("在谈", "签约", "注册", "开工", "投产", "终止")
SOURCE_REGIONS = ("粤港澳大湾区", "长三角", "京津冀", "成渝", "其他国内", "境外")
FORTUNE500 = ("世界500强", "中国500强", "民营500强", "无")
CURRENCIES = ("人民币", "美元")
TRADE_MODES = ("一般贸易", "加工贸易", "其他")
DIRECTIONS = ("出口", "进口")
QUARTER_END_MONTHS = (3, 6, 9, 12)


@dataclass(frozen=True)
class Column:
    name: str  # English identifier used in raw and dbt
    label: str  # Chinese header without the unit, as printed in the template
    dtype: str  # text | int | numeric | date
    unit: str | None = None  # shown in the header as 「label（unit）」
    required: bool = True
    min_value: float | None = None
    exclusive_min: bool = False  # min_value itself is not allowed (e.g. amounts > 0)
    code_list: str | None = None  # name of a list the value must belong to (code_list below)
    unique: bool = False  # unique within the sheet
    pattern: str | None = None  # regular expression the text must match in full
    alt_units: tuple[str, ...] = ()  # other units a header may state, e.g. 万美元 for 美元 projects
    check: str | None = None  # a named check beyond type and lists, e.g. "uscc" (GB 32100 check digit)
    max_length: int = 200  # characters of the value as written; longer values reject the row
    doc: str = ""

    @property
    def header(self) -> str:
        return f"{self.label}（{self.unit}）" if self.unit else self.label

    @property
    def accepted_units(self) -> tuple[str, ...]:
        return ((self.unit,) if self.unit else ()) + self.alt_units

    @property
    def pg_type(self) -> str:
        return PG_TYPES[self.dtype]

    @property
    def free_text(self) -> bool:
        """Names typed by people (项目名称, 投资方, 企业名称): kept exactly as written, only trimmed.

        Every other column (codes, listed values, numbers, dates) is read after NFKC
        normalisation, so full-width digits and letters mean what the clerk typed."""
        return self.dtype == "text" and not (self.pattern or self.code_list or self.check)


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
    sheet_name: str | None  # Chinese sheet name in the workbook; None for a CSV file
    title: str  # Chinese title for templates and receipts
    columns: tuple[Column, ...]
    row_rules: tuple[RowRule, ...] = field(default_factory=tuple)
    months: tuple[int, ...] | None = None  # months in which the sheet is due (None = every month)
    # 10^5–10^6 rows per file: partitioned by month, BRIN index instead of a primary key (faster COPY)
    bulk: bool = False
    doc: str = ""

    @property
    def raw_table(self) -> str:
        return f"raw.{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def due_in(self, month: int) -> bool:
        return self.months is None or month in self.months


AMOUNT_UNITS = ("万元", "万美元", "万元/万美元", "万元或万美元")

PROJECTS = Sheet(
    kind="workbook",
    name="projects",
    sheet_name="项目台账",
    title="招商引资项目台账",
    doc="Every active investment-attraction project of the city: full snapshot at month-end.",
    columns=(
        Column("project_id", "项目编号", "text", unique=True, pattern=r"\d{6}-\d{4}-\d{4}",
               doc="<city_code>-<YYYY>-<NNNN>, stable across months."),
        Column("project_name", "项目名称", "text", doc="Project name."),
        Column("county_code", "所在县市区", "text", code_list="county_of_city",
               doc="County (县市区) of the submitting city, GB/T 2260 code."),
        Column("park_code", "承接园区", "text", required=False, code_list="park_of_city",
               doc="Park that hosts the project, from the province's park list; empty if none."),
        Column("industry_chain", "产业链", "text", code_list="industry_chain",
               doc="Industry chain from the province's chain list."),
        Column("investor", "投资方", "text", doc="Investor name."),
        Column("investor_origin", "投资方来源地", "text", code_list="investor_origin",
               doc="Province code (e.g. 440000) or ISO 3166 alpha-2 code for foreign investors."),
        Column("source_region", "来源区域", "text", code_list="source_region",
               doc="粤港澳大湾区 / 长三角 / 京津冀 / 成渝 / 其他国内 / 境外."),
        Column("fortune500", "三类500强", "text", code_list="fortune500",
               doc="世界500强 / 中国500强 / 民营500强 / 无."),
        Column("currency", "币种", "text", code_list="currency", doc="人民币 or 美元."),
        Column("contract_amount", "合同投资额", "numeric", min_value=0, exclusive_min=True,
               alt_units=AMOUNT_UNITS, doc="Contract investment, 万元 (人民币) or 万美元 (美元)."),
        Column("stage", "项目阶段", "text", code_list="stage", doc="在谈 / 签约 / 注册 / 开工 / 投产 / 终止."),
        Column("signed_date", "签约日期", "date", required=False, doc="Signing date."),
        Column("registered_date", "注册日期", "date", required=False, doc="Company registration date."),
        Column("started_date", "开工日期", "date", required=False, doc="Construction start date."),
        Column("production_date", "投产日期", "date", required=False, doc="Production start date."),
        Column("paid_in_cumulative", "累计实际到位资金", "numeric", min_value=0, alt_units=AMOUNT_UNITS,
               doc="Funds actually paid in since the project started, in the project's currency; never decreasing."),
        Column("land_area_mu", "用地面积", "numeric", "亩", required=False, min_value=0, doc="Land used."),
    ),
)

PARKS = Sheet(
    kind="workbook",
    name="parks",
    sheet_name="园区情况",
    title="园区情况",
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

SERVICES = Sheet(
    kind="workbook",
    name="services_trade",
    sheet_name="服务贸易",
    title="服务贸易（季度，1–N月累计）",
    months=QUARTER_END_MONTHS,
    doc="Services trade by BPM6 category, year to date; due in March, June, September and December.",
    columns=(
        Column("category", "服务类别", "text", code_list="service_category", unique=True,
               doc="One of the 12 BPM6 service categories."),
        Column("exports_10k_usd", "出口", "numeric", "万美元", min_value=0, doc="Exports, year to date."),
        Column("imports_10k_usd", "进口", "numeric", "万美元", min_value=0, doc="Imports, year to date."),
    ),
)

TRADE = Sheet(
    kind="trade",
    bulk=True,
    name="trade",
    sheet_name=None,
    title="外贸进出口明细（当月）",
    doc="Customs-style goods trade detail of the month (当月), "
        "one row per enterprise × HS × partner × mode × direction.",
    columns=(
        Column("enterprise_code", "企业代码", "text", check="uscc",
               doc="18-character 统一社会信用代码 with a valid GB 32100 check digit."),
        Column("enterprise_name", "企业名称", "text", doc="Enterprise name."),
        Column("hs_code", "HS编码", "text", pattern=r"\d{8}", doc="8-digit HS commodity code."),
        Column("trade_mode", "贸易方式", "text", code_list="trade_mode", doc="一般贸易 / 加工贸易 / 其他."),
        Column("partner_country", "贸易国别", "text", code_list="iso_country",
               doc="Partner country, ISO 3166 alpha-2."),
        Column("direction", "进出口", "text", code_list="direction", doc="出口 or 进口."),
        Column("amount_usd", "金额", "numeric", "美元", min_value=0, doc="Value in US dollars."),
        Column("amount_cny", "金额", "numeric", "人民币元", min_value=0, doc="Value in yuan."),
    ),
)

SHEETS: tuple[Sheet, ...] = (PROJECTS, PARKS, SERVICES, TRADE)

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
# The column of a bulk raw table that partitions it: the first day of the month the file reports.
PARTITION_KEY = "period"


def raw_ddl() -> list[str]:
    """DDL of every raw table, with file id and row number first."""
    stmts = ["CREATE SCHEMA IF NOT EXISTS raw"]
    for sheet in SHEETS:
        cols = ",\n  ".join(f"{c.name} {c.pg_type}" for c in sheet.columns)
        if sheet.bulk:
            # One partition per reported month (ingestion.schema.month_partition), so a month's
            # load, its index, its statistics and its checks touch that month only.
            stmts.append(
                f"CREATE TABLE IF NOT EXISTS {sheet.raw_table} (\n"
                f"  {PARTITION_KEY} date NOT NULL,\n"
                f"  file_id bigint NOT NULL,\n  row_number integer NOT NULL,\n  {cols}\n"
                f") PARTITION BY RANGE ({PARTITION_KEY})"
            )
        else:
            # (file_id, row_number) is unique by construction: one load per file, rows numbered by us.
            stmts.append(
                f"CREATE TABLE IF NOT EXISTS {sheet.raw_table} (\n"
                f"  file_id bigint NOT NULL,\n  row_number integer NOT NULL,\n  {cols},\n"
                "  PRIMARY KEY (file_id, row_number)\n)"
            )
            # a sheet's key across months (项目编号): intake looks a project up in earlier ledgers
            stmts += [f"CREATE INDEX IF NOT EXISTS {sheet.name}_{c.name} ON {sheet.raw_table} ({c.name})"
                      for c in sheet.columns if c.unique]
        if sheet.bulk:  # rows arrive in file order, so a BRIN range index finds a file's rows cheaply
            stmts.append(f"CREATE INDEX IF NOT EXISTS {sheet.name}_file_brin ON {sheet.raw_table} "
                         "USING brin (file_id)")
        comment = sheet.doc.replace("'", "''")
        stmts.append(f"COMMENT ON TABLE {sheet.raw_table} IS '{sheet.sheet_name}: {comment}'")
    return stmts


# Where dbt reads the raw source declaration generated below (`openecon contract sources`).
SOURCES_YML = PROJECT_ROOT / "dbt_project" / "models" / "staging" / "raw" / "_raw__sources.yml"


def dbt_sources_yml() -> str:
    """The dbt sources file of the raw schema, generated from the contract.

    The audit source (files, rejected rows) is owned by ingestion/schema.py and declared by
    hand in dbt_project/models/staging/audit/_audit__sources.yml.

    No dbt tests: intake validated every row, and the quality gate checks the rows of the files no
    passing run has covered (expectations.suites.raw_suite: required values, code lists, patterns,
    minimums), after every build. A dbt test of a source ran before the models that read it, on
    the build's critical path (31 not-null tests, ~2 s a month, one at a time).
    """
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
            *([f"          - name: {PARTITION_KEY}",
               "            description: First day of the month the file reports; one partition per month."]
              if sheet.bulk else []),
            "          - name: file_id",
            "            description: audit.submissions.file_id of the file the row came from.",
            "          - name: row_number",
            "            description: Row number in the sheet as the clerk sees it (header is row 1).",
        ]
        for c in sheet.columns:
            lines += [
                f"          - name: {c.name}",
                f"            description: \"{c.header}. {c.doc}\"",
            ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- code lists
def ordered_list(name: str) -> list[str]:
    """A closed list in its natural order (在谈 → 终止; seed order for chains and categories)."""
    if name == "industry_chain":
        return reference.industry_chains()
    if name == "service_category":
        return reference.service_categories()
    return list(_static_lists().get(name, ()))


def _static_lists() -> dict[str, tuple[str, ...]]:
    return {
        "stage": STAGES, "source_region": SOURCE_REGIONS, "fortune500": FORTUNE500,
        "currency": CURRENCIES, "trade_mode": TRADE_MODES, "direction": DIRECTIONS,
    }


def code_list(name: str, city_code: str | None = None) -> set[str]:
    """Allowed values of a contract code list (city-specific lists need the submitting city)."""
    if name == "park_of_city":
        return {p["park_code"] for p in reference.parks_by_city().get(city_code, [])}
    if name == "county_of_city":
        return reference.counties_by_city().get(city_code, set())
    if name == "industry_chain":
        return set(reference.industry_chains())
    if name == "service_category":
        return set(reference.service_categories())
    if name == "iso_country":
        return set(reference.countries())
    if name == "investor_origin":  # a province of China, or a foreign country
        return set(reference.provinces()) | (set(reference.countries()) - {"CN"})
    static = _static_lists()
    if name in static:
        return set(static[name])
    raise KeyError(f"unknown code list {name!r}")
