"""Issue 12, parts 3 and 4: no incomplete figure is presented as a province total; corrections after
publication are listed in the next version (更正说明) and marked in kpi_city_month.

One warehouse for the module: the 14 cities for 2024-12..2025-03, in which the sample's three 1–2月
cities combine January and February, and MISSING_CITY (衡阳市) sends nothing for 2025-03. In order:

- the quarterly bulletin 2025Q1 (and the scheduling report 2025-03, and the CLI) refuse, naming 衡阳市
  in Chinese and English and how to override, before any file is written;
- with the override the bulletin prints the province totals with the note beside them, and its trend
  shows 1–2月 as one point (February's year to date), never a partial January;
- the scheduling report lists 衡阳市's two files as not reported, with the days overdue;
- 长沙市 then sends a corrected March trade CSV: kpi_city_month marks the printed cells it changed
  revised_since_publication, and v2 of the bulletin carries a 更正说明 (old → new, difference, file).

Expected values come from the input files (tests/dbt/kpi_oracle.py: pandas over the accepted files, never
the marts) and from the calendar (deadlines, days overdue).
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg
import pytest
import python_calamine

from flows import quality, transform
from ingestion.load import ingest_paths
from reports.appraisal import render as render_appraisal
from reports.bulletin import render
from reports.completeness import IncompletePeriod
from samples.calendar import COMBINED_JAN_FEB
from samples.generate import generate
from tests.dbt.kpi_oracle import PROVINCE, Oracle, read_trade_csv
from tests.workbooks import corrected_trade_csv

FIRST, LAST, SCALE = "2024-12", "2025-03", 0.02
MISSING_CITY, MISSING_NAME = "430400", "衡阳市"  # nothing for 2025-03
CORRECTED_CITY, CORRECTED_NAME = "430100", "长沙市"  # a corrected March trade CSV after publication
NOTE = "全省合计不含衡阳市（未报送）"


@pytest.fixture(scope="module")
def wh(pg, settings, tmp_path_factory):
    from tests.conftest import build_warehouse

    out = tmp_path_factory.mktemp("completeness")
    generate(out, FIRST, LAST, scale=SCALE)
    gone = list(out.glob(f"{MISSING_CITY}/*202503*"))
    assert len(gone) == 2
    for f in gone:
        f.unlink()
    build_warehouse(settings, sorted(out.iterdir()))
    gate = quality.quality_gate(settings)  # documents publish only on a passing gate run
    assert gate.success, gate.summary()
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
        yield {"conn": conn, "sample": out, "oracle": Oracle(out), "out": settings.output_dir / "completeness",
               "tmp": tmp_path_factory.mktemp("completeness_fix")}


def pdf_text(path) -> str:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return re.sub(r"\s+", "", text)


def cells_of(html: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading`` in a document's HTML, as cell texts."""
    section = html.split(heading, 1)[1].split("</table>", 1)[0]
    body = section.split("<tbody>", 1)[1]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]  # a figure is a link
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_incomplete_quarter_is_refused_naming_the_city_and_the_override(wh, settings):
    conn = wh["conn"]
    for period, kind in (("2025Q1", "quarterly"), ("2025-03", "monthly"), ("2025Q1", "appraisal")):
        with pytest.raises(IncompletePeriod) as refused:
            (render_appraisal if kind == "appraisal" else render)(settings, period, wh["out"])
        msg = str(refused.value)
        assert f"{MISSING_NAME}（{MISSING_CITY}）" in msg, msg
        # what did not come, in Chinese and English (the scheduling report prints workbook figures only)
        assert "月报工作簿2025年3月未报送" in msg and "workbook 2025-03 not reported" in msg, msg
        if kind != "monthly":
            assert "外贸明细2025年3月未报送" in msg and "trade CSV 2025-03 not reported" in msg, msg
        # and how to override
        assert "--allow-incomplete" in msg and "allow_incomplete = true" in msg, msg
        assert "To publish anyway" in msg and "注明未包含的市州" in msg
        # the only city named: the 1–2月 cities covered January with their February
        assert re.findall(r"43\d{4}", msg.split("\n", 1)[1].rsplit("\n", 2)[0]) == [MISSING_CITY] * 2, msg
        assert conn.execute("SELECT count(*) FROM audit.bulletins WHERE kind = %s", [kind]).fetchone()[0] == 0
    assert not wh["out"].exists() or list(wh["out"].iterdir()) == []  # refused before any file was written

    # the CLI says the same and exits non-zero; nothing published
    proc = subprocess.run([sys.executable, "-m", "openecon.cli", "bulletin", "--period", "2025Q1",
                           "--out", str(wh["out"])], env=settings.child_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and f"{MISSING_NAME}（{MISSING_CITY}）" in proc.stderr, proc.stderr[-2000:]
    assert "--allow-incomplete" in proc.stderr
    assert not wh["out"].exists() or list(wh["out"].iterdir()) == []


def test_override_prints_the_figure_with_the_note_and_1_2_as_one_trend_point(wh, settings):
    conn, oracle = wh["conn"], wh["oracle"]
    res = render(settings, "2025Q1", wh["out"], allow_incomplete=True)
    assert res["version"] == 1 and not res["reused"]
    html_path, pdf, _docx, xlsx = res["paths"]
    html = Path(html_path).read_text("utf-8")
    text = pdf_text(pdf)
    # the province total over the 13 cities that reported (the oracle, from the files), with the note beside it
    cities = [c for c in oracle.cities if c != MISSING_CITY]
    total = sum(oracle.cells[("trade_total", c, LAST)].value_ytd for c in cities)
    assert oracle.cells[("trade_total", MISSING_CITY, LAST)].report_status == "missing"
    assert f"1—3月，全省进出口总额{total:.1f}亿元（{NOTE}，下同），不计算同比" in text
    assert f"{NOTE}" in text and "说明：本期全省数据不完整：衡阳市（" in text
    signed = sum(oracle.cells[("signed_projects", c, LAST)].value_ytd for c in cities)
    assert f"全省签约项目{signed:.0f}个（{NOTE}" in text
    # 附表: the province figure carries the marker of its note, the note names the city
    rows = cells_of(html, "附表1  2025年1—3月各市州外贸主要指标")
    assert rows[0][0] == "全省" and rows[0][1] == f"{total:.1f}①"
    assert f"①{NOTE}。" in html
    hengyang = next(r for r in rows if r[0] == MISSING_NAME)
    assert hengyang[1:4] == ["—", "—", "—"]
    assert "衡阳市无数据（未报送），未参加排位" in text
    # the register says which cities the version left out
    stored = conn.execute("SELECT incomplete FROM audit.bulletins WHERE kind = 'quarterly' AND period = '2025Q1' "
                          "AND version = 1").fetchone()[0]
    assert [c["city_code"] for c in stored if "city_code" in c] == [MISSING_CITY]
    assert {c["note"] for c in stored if "note" in c} == {NOTE}

    # the trend: 1–2月 one point (February's year to date over all 14 cities), no January point; March
    # (衡阳市 missing) hollow with the note; December 2024 has no 当月 (no November before it)
    alt = re.search(r'<img class="chart" alt="(全省进出口总额月度走势[^"]*)"', html).group(1)
    points = dict(p.split(" ") for p in alt.split("：", 1)[1].split("；"))
    feb = sum(oracle.cells[("trade_total", c, "2025-02")].value_ytd for c in oracle.cities)
    assert oracle.cells[("trade_total", PROVINCE, "2025-02")].is_complete
    march = sum(oracle.cells[("trade_total", c, LAST)].value_month for c in cities)
    assert points == {"24.12": "—", "25.1–2月": f"{feb:.1f}", "25.03": f"{march:.1f}*"}, alt
    assert all(c in oracle.cities for c in COMBINED_JAN_FEB)  # the sample does combine 1–2月
    assert "1–2月合为一个点" in text and f"25.03{NOTE}" in text
    # the appraisal, with the override: the city concerned says so beside its score
    appraisal = render_appraisal(settings, "2025Q1", wh["out"], allow_incomplete=True)
    page = Path(appraisal["paths"][0]).read_text("utf-8")
    assert re.search(r"<strong>衡阳市：</strong>总分<a [^>]+>[\d.]+分</a>（注：外贸明细2025年3月未报送；"
                     r"月报工作簿2025年3月未报送", page), page  # the score a link to its trace
    assert "说明：本期全省数据不完整：衡阳市（" in page
    # XLSX: the same marker in the text and the note in the table
    sheet = python_calamine.CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_name("附表1").to_python()
    assert any(isinstance(c, str) and f"①{NOTE}" in c for row in sheet for c in row)


def test_scheduling_report_lists_the_cities_not_reported_with_days_overdue(wh, settings):
    res = render(settings, "2025-03", wh["out"], allow_incomplete=True)
    html_path, pdf, _docx, xlsx = res["paths"]
    html = Path(html_path).read_text("utf-8")
    overdue = (date.today() - date(2025, 4, 10)).days  # deadline: the 10th of the following month
    rows = cells_of(html, "表3  2025年3月未报送市州")
    assert rows == [[MISSING_NAME, "月报工作簿", "未报送", "2025-04-10", str(overdue), "0"],
                    [MISSING_NAME, "外贸明细", "未报送", "2025-04-10", str(overdue), "0"]]
    text = pdf_text(pdf)
    assert "表3" in text and f"截至本报告生成，{MISSING_NAME}共1个市州本月报送文件未到" in text
    sheet = python_calamine.CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_name("未报送市州").to_python()
    assert sheet[0][0] == "表3  2025年3月未报送市州"
    assert [r[:5] for r in sheet[2:4]] == [[MISSING_NAME, "月报工作簿", "未报送", "2025-04-10", overdue],
                                          [MISSING_NAME, "外贸明细", "未报送", "2025-04-10", overdue]]
    # the summary's province figure carries the note too
    oracle = wh["oracle"]
    signed = sum(oracle.cells[("signed_projects", c, LAST)].value_ytd for c in oracle.cities if c != MISSING_CITY)
    assert f"年内签约项目{signed:.0f}个（{NOTE}" in text


def test_correction_after_publication_gives_v2_with_a_correction_note(wh, settings):
    conn, oracle = wh["conn"], wh["oracle"]
    first = render(settings, "2025Q1", wh["out"], allow_incomplete=True)  # v1 (published above, or now)
    assert first["version"] == 1
    src = wh["sample"] / CORRECTED_CITY / f"trade_{CORRECTED_CITY}_202503.csv"
    fixed = corrected_trade_csv(src, wh["tmp"] / src.name, 1.1)
    [receipt] = ingest_paths([fixed], settings)
    assert receipt.status == "superseding", receipt.text()
    transform.dbt_build(settings)

    # expected, from the files: 长沙市 1—3月 = Jan + Feb + the corrected March; the province likewise
    old_city = oracle.cells[("trade_total", CORRECTED_CITY, LAST)].value_ytd
    delta = (read_trade_csv(fixed)["cny"].sum() - read_trade_csv(src)["cny"].sum()) / 1e8
    new_city = old_city + delta
    cities = [c for c in oracle.cities if c != MISSING_CITY]
    old_total = sum(oracle.cells[("trade_total", c, LAST)].value_ytd for c in cities)
    new_total = old_total + delta

    # the mart says which printed cells changed since publication
    revised = dict(((k, c, p), r) for k, c, p, r in conn.execute(
        "SELECT kpi_code, city_code, period, revised_since_publication FROM marts.kpi_city_month").fetchall())
    assert revised[("trade_total", CORRECTED_CITY, LAST)] is True
    assert revised[("trade_total", PROVINCE, LAST)] is True
    assert revised[("signed_projects", CORRECTED_CITY, LAST)] is False  # printed, unchanged
    assert revised[("trade_total", "430200", LAST)] is False
    assert revised[("trade_total", CORRECTED_CITY, "2025-02")] is None  # never printed (the trend is the province's)
    assert revised[("trade_total", PROVINCE, "2025-02")] is False  # the trend's 1–2月 point: unchanged

    gate = quality.quality_gate(settings)
    assert gate.success, gate.summary()
    v2 = render(settings, "2025Q1", wh["out"], allow_incomplete=True)
    assert v2["version"] == 2 and not v2["reused"]
    fixes = {c["figure"]: c for c in v2["corrections"]}
    city_fix = fixes[f"{CORRECTED_NAME} 进出口总额 2025年1—3月"]
    assert city_fix["old"] == pytest.approx(old_city, abs=1e-5)
    assert city_fix["new"] == pytest.approx(new_city, abs=1e-5)
    assert city_fix["difference"] == pytest.approx(delta, abs=1e-5)
    assert (city_fix["old_text"], city_fix["new_text"], city_fix["difference_text"]) == (
        f"{old_city:.1f}", f"{new_city:.1f}", f"{new_city - old_city:+.1f}")
    assert city_fix["files"] == [{"file_id": receipt.file_id, "file_name": src.name, "city_code": CORRECTED_CITY,
                                  "period": LAST}]
    assert city_fix["corrects_version"] == 1 and city_fix["unit"] == "亿元"
    prov_fix = fixes["全省 进出口总额 2025年1—3月"]
    assert prov_fix["old"] == pytest.approx(old_total, abs=1e-5)
    assert prov_fix["new"] == pytest.approx(new_total, abs=1e-5)
    assert [f["file_id"] for f in prov_fix["files"]] == [receipt.file_id]
    assert "全省 进出口总额 2025年3月当月" in fixes  # the trend's March point
    # every correction is a trade figure of 长沙市 or the province, behind the one corrected file
    assert {c["city_code"] for c in v2["corrections"]} == {CORRECTED_CITY, PROVINCE}
    assert all([f["file_id"] for f in c["files"]] == [receipt.file_id] for c in v2["corrections"])
    assert not any(c["kpi_code"] == "signed_projects" for c in v2["corrections"])
    stored = conn.execute("SELECT corrections FROM audit.bulletins WHERE kind = 'quarterly' AND period = '2025Q1' "
                          "AND version = 2").fetchone()[0]
    assert stored == v2["corrections"]

    # the document: 更正说明 in the HTML/PDF and as an XLSX sheet
    html_path, pdf, _docx, xlsx = v2["paths"]
    html = Path(html_path).read_text("utf-8")
    row = next(r for r in cells_of(html, "<h2>更正说明</h2>") if r[1] == f"{CORRECTED_NAME} 进出口总额 2025年1—3月")
    assert row[2:] == [f"{old_city:.1f}", f"{new_city:.1f}", f"{new_city - old_city:+.1f}", "亿元",
                       f"{src.name}（文件编号{receipt.file_id}）"]
    text = pdf_text(pdf)
    assert "更正说明" in text and "本版（第2版）更正第1版已发布的以下" in text
    assert f"{CORRECTED_NAME}进出口总额2025年1—3月{old_city:.1f}{new_city:.1f}{new_city - old_city:+.1f}亿元" in text
    sheet = python_calamine.CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_name("更正说明").to_python()
    assert sheet[0][0].startswith("更正说明：本版（第2版）更正第1版")
    [body] = [r for r in sheet[2:] if r[1] == f"{CORRECTED_NAME} 进出口总额 2025年1—3月"]
    assert body[2:5] == pytest.approx([old_city, new_city, delta], abs=1e-5)
    assert body[5:] == ["亿元", f"{src.name}（文件编号{receipt.file_id}）"]
    # the province figure printed in v2 is the corrected one, still with its note
    assert f"1—3月，全省进出口总额{new_total:.1f}亿元（{NOTE}，下同）" in text

    # once v2 is the latest publication of those cells, the next build marks them no longer revised
    transform.dbt_build(settings)
    again = conn.execute("SELECT revised_since_publication FROM marts.kpi_city_month WHERE kpi_code = 'trade_total' "
                         "AND city_code = %s AND period = %s", [CORRECTED_CITY, LAST]).fetchone()[0]
    assert again is False
