"""The automated bulletins: printed figures equal the KPI mart, formats, versions (SPEC §3)."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile

import psycopg
import pytest

from core import reference
from expectations.store import GateNotPassed
from flows import quality, transform
from ingestion.load import ingest_paths
from reports.bulletin import render
from samples.generate import generate
from tests.dbt.kpi_oracle import Oracle
from tests.workbooks import corrected_trade_csv


@pytest.fixture(scope="module")
def built(pg, settings, tmp_path_factory):
    from tests.conftest import build_warehouse

    out = tmp_path_factory.mktemp("bulletin_sample")
    generate(out, "2024-07", "2025-09", scale=0.02)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        build_warehouse(settings, sorted(p for p in out.rglob("*") if p.is_file() and p.suffix in (".csv", ".xlsx")))
        gate = quality.quality_gate(settings)  # a bulletin publishes only on a passing gate run
        assert gate.success, gate.summary()
        yield {"conn": conn, "sample": out, "out": settings.output_dir / "bulletins_test", "gate": gate}


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def xlsx_parts(path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml")}


def seed_target(kpi: str, city: str, year: int) -> float:
    with open(reference.SEEDS_DIR / "annual_targets.csv", encoding="utf-8") as f:
        return next(float(r["target"]) for r in csv.DictReader(f)
                    if (r["kpi_code"], r["city_code"], int(r["year"])) == (kpi, city, year))


def test_quarterly_bulletin_prints_the_mart(built, settings):
    conn = built["conn"]
    res = render(settings, "2025Q3", built["out"])
    assert res["version"] == 1 and not res["reused"]
    html, pdf, xlsx = res["paths"]
    text = compact(pdf_text(pdf))
    assert "关于2025年三季度全省开放型经济主要指标完成情况的通报" in text
    # the figure, from the files (the oracle: pandas over the accepted files, not the marts): 2025 is complete
    # (the 1–2月 cities' February covers January), but the sample starts in 2024-07, so last year's 1—9月 trade
    # misses 1—6月: no 同比 is printed, and the reason is
    oracle = Oracle(built["sample"])
    cell = oracle.cells[("trade_total", "430000", "2025-09")]
    assert cell.is_complete and cell.yoy_basis == "incomplete_last_year" and cell.yoy_pct is None
    ytd = sum(oracle.cells[("trade_total", c, "2025-09")].value_ytd for c in oracle.cities)
    assert cell.value_ytd == pytest.approx(ytd)
    tp = 100 * ytd / seed_target("trade_total", "430000", 2025)
    gap = tp - 100 * 9 / 12  # 序时进度 9/12
    sentence = (f"1—9月，全省进出口总额{ytd:.1f}亿元，上年同期数据不完整，不计算同比，"
                f"完成年度目标的{tp:.1f}%，{'超' if gap >= 0 else '欠'}序时进度{abs(gap):.1f}个百分点")
    assert sentence in text
    assert "全省合计不含" not in text  # complete: no note, no refusal
    for (name,) in conn.execute("SELECT city_name FROM marts.dim_city WHERE city_code <> '430000'"):
        assert name in text
    for section in ("一、总体情况", "二、各市州情况", "三、主要特点", "四、存在问题", "附表1"):
        assert section in text
    # the 附表 carries each city's card from marts.quarterly_bulletin next to its target progress
    cards = conn.execute(
        "SELECT city_code, target_progress_pct, rank_by_total, card FROM marts.quarterly_bulletin "
        "WHERE kpi_code = 'trade_total' AND period = '2025-09' AND city_code <> '430000' "
        "AND target_progress_pct IS NOT NULL").fetchall()
    assert cards and all(card in ("红", "黄", "绿") for *_, card in cards)
    ordered = sorted((float(p) for _, p, _, _ in cards), reverse=True)
    for _, progress, _, card in cards:
        rank = ordered.index(float(progress)) + 1  # rank by target progress, as printed
        assert f"{float(progress):.1f}（{rank}）{card}" in text
    # page 1 as an image: the artifact officials see first
    png = settings.output_dir / "bulletin_2025Q3_page1"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(png)],
                   check=True)
    png = png.with_suffix(".png")
    assert png.exists() and png.stat().st_size > 20_000
    shutil.copy(png, built["out"] / png.name)
    # XLSX: one sheet per table + 数据来源, never a formula
    parts = xlsx_parts(xlsx)
    assert "数据来源" in parts["xl/workbook.xml"] and "附表1" in parts["xl/workbook.xml"]
    assert not any("<f>" in body or "<f " in body for name, body in parts.items() if name.startswith("xl/worksheets/"))
    # HTML carries the language and version
    page = open(html, encoding="utf-8").read()
    assert 'lang="zh-CN"' in page and res["data_version"]["hash"] in page
    # 数据来源 names the passing gate run it was published on and links its Data Docs
    run_id = built["gate"].run_id
    assert res["quality_run_id"] == run_id
    assert conn.execute("SELECT quality_run_id FROM audit.bulletins WHERE kind = 'quarterly' AND period = '2025Q3'"
                        ).fetchone()[0] == run_id
    assert run_id in page and 'href="../data_docs/index.html"' in page
    assert (built["out"] / "../data_docs/index.html").resolve() == (settings.data_docs_dir / "index.html").resolve()
    docs_index = (settings.data_docs_dir / "index.html").resolve()
    assert f"数据质量报告 Data Docs：{docs_index}" in parts["xl/sharedStrings.xml"]
    assert run_id in parts["xl/sharedStrings.xml"]
    with zipfile.ZipFile(xlsx) as z:
        rels = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".rels"))
    assert 'Target="..\\data_docs\\index.html" TargetMode="External"' in rels  # relative, as in the HTML


def test_monthly_scheduling_report(built, settings):
    res = render(settings, "2025-09", built["out"])
    text = compact(pdf_text(res["paths"][1]))
    assert "2025年9月全省招商引资项目调度情况" in text
    for phrase in ("履约率", "开工率", "投产率", "资金到位率", "逾期项目清单", "资金到位停滞项目清单"):
        assert phrase in text
    assert "数据来源" in xlsx_parts(res["paths"][2])["xl/workbook.xml"]


def test_long_project_lists_print_their_largest_projects_and_the_xlsx_has_all(built, settings, monkeypatch):
    """表2 in the PDF: the largest projects by 合同投资额, the count of the rest and where they are;
    the XLSX sheet lists every overdue project (the expectation is computed from the mart here)."""
    from python_calamine import CalamineWorkbook

    from reports import bulletin

    overdue = built["conn"].execute(
        "SELECT project_id, contract_amount_100m_cny FROM marts.monthly_scheduling WHERE period = '2025-08' "
        "AND (is_overdue_not_started OR is_overdue_not_producing) ORDER BY city_code, project_id").fetchall()
    assert len(overdue) >= 3, "the sample should have a few overdue projects"
    limit = len(overdue) // 2
    ranked = sorted(range(len(overdue)), key=lambda i: (-float(overdue[i][1] or 0), i))
    shown = {overdue[i][0] for i in ranked[:limit]}
    monkeypatch.setattr(bulletin, "PDF_LIST_ROWS", limit)
    res = render(settings, "2025-08", built["out"])
    text = compact(pdf_text(res["paths"][1]))
    table2 = text[text.index("表2逾期项目清单"):text.index("表3")]
    assert {pid for pid, _ in overdue if pid in table2} == shown
    rest = len(overdue) - limit
    assert f"共{len(overdue)}个项目，本表列出合同投资额最大的{limit}个，其余{rest}个见XLSX“逾期项目”表" in table2
    sheet = CalamineWorkbook.from_path(str(res["paths"][2])).get_sheet_by_name("逾期项目").to_python()
    listed = [c for row in sheet for c in row if isinstance(c, str) and c in {pid for pid, _ in overdue}]
    assert sorted(listed) == sorted(pid for pid, _ in overdue)


def test_versions_and_injection(built, settings):
    conn = built["conn"]
    first = render(settings, "2025Q3", built["out"])
    again = render(settings, "2025Q3", built["out"])
    assert again["reused"] and again["version"] == first["version"] and again["paths"] == first["paths"]
    assert conn.execute("SELECT count(*) FROM audit.bulletins WHERE kind = 'quarterly' AND period = '2025Q3'"
                        ).fetchone()[0] == 1

    # a superseding re-submission of one trade file: amounts up by a tenth
    src = built["sample"] / "430100" / "trade_430100_202509.csv"
    if not src.exists():
        src = next(built["sample"].rglob("trade_430100_202509.csv"))
    fixed = built["out"].parent / "fix" / src.name
    fixed.parent.mkdir(exist_ok=True)
    corrected_trade_csv(src, fixed, 1.1)
    assert ingest_paths([fixed], settings)[0].status == "superseding"
    transform.dbt_build(settings)
    # and a hostile file name among the sources
    conn.execute("INSERT INTO audit.submissions (file_name, sha256, city_code, period, kind, status) "
                 "VALUES ('=cmd|x', repeat('0', 64), '430100', '2025-09', 'trade', 'accepted')")
    # new submissions in force: no gate has checked this data version yet, so nothing is published
    with pytest.raises(GateNotPassed, match="run `openecon build` first"):
        render(settings, "2025Q3", built["out"])
    gate = quality.quality_gate(settings)
    assert gate.success, gate.summary()
    v2 = render(settings, "2025Q3", built["out"])
    assert v2["quality_run_id"] == gate.run_id
    assert v2["version"] == 2 and not v2["reused"]
    assert v2["changes"] and any(c.startswith("长沙市 进出口总额 1—9月 由") for c in v2["changes"])
    stored = conn.execute("SELECT changes, data_version FROM audit.bulletins WHERE kind = 'quarterly' "
                          "AND period = '2025Q3' AND version = 2").fetchone()
    assert stored[0] == v2["changes"] and stored[1]["hash"] == v2["data_version"]["hash"]
    assert "由" in compact(pdf_text(v2["paths"][1]))
    parts = xlsx_parts(v2["paths"][2])
    assert "'=cmd|x" in parts["xl/sharedStrings.xml"]
    assert not any("<f>" in body or "<f " in body for name, body in parts.items() if name.startswith("xl/worksheets/"))


def test_a_failed_blocking_check_stops_publishing(built, settings):
    conn = built["conn"]
    ok = render(settings, "2025-09", built["out"])  # publishes on the passing run
    # the province total no longer equals the sum of the cities
    conn.execute("UPDATE marts.kpi_city_month SET value_ytd = value_ytd + 1 "
                 "WHERE kpi_code = 'trade_total' AND city_code = '430000' AND period = '2025-09'")
    gate = quality.quality_gate(settings)
    assert not gate.success and [f.expectation for f in gate.blocking] == ["province_equals_sum_of_cities"]
    assert "province_equals_sum_of_cities on table marts.kpi_city_month" in gate.summary()
    for period in ("2025Q3", "2025-09"):  # new or already published: refused while the latest run failed
        with pytest.raises(GateNotPassed) as refused:
            render(settings, period, built["out"])
        assert f"run {gate.run_id}" in str(refused.value)
        assert "province_equals_sum_of_cities on marts.kpi_city_month" in str(refused.value)
        assert "'kpi_code': 'trade_total'" in str(refused.value) or '"kpi_code": "trade_total"' in str(refused.value)
    assert conn.execute("SELECT max(version) FROM audit.bulletins WHERE kind = 'monthly' AND period = '2025-09'"
                        ).fetchone()[0] == ok["version"]
    conn.execute("UPDATE marts.kpi_city_month SET value_ytd = value_ytd - 1 "
                 "WHERE kpi_code = 'trade_total' AND city_code = '430000' AND period = '2025-09'")
