"""The automated bulletins: printed figures equal the KPI mart, formats, versions (SPEC §3)."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import psycopg
import pytest

from core import reference
from expectations.store import GateNotPassed
from flows import quality, transform
from ingestion.load import ingest_paths
from reports.bulletin import render
from samples.generate import generate
from tests.dbt.kpi_oracle import Oracle
from tests.reports import pages
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
    html, pdf, docx, xlsx = res["paths"]
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
    cells = pages.table_cells(pdf)
    for _, progress, _, card in cards:
        rank = ordered.index(float(progress)) + 1  # rank by target progress, as printed
        assert f"{float(progress):.1f}（{rank}）{card}" in cells
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
    assert run_id in page and 'href="../data_docs/index.html"' in page  # relative: output/ moves as a whole
    assert (built["out"] / "../data_docs/index.html").resolve() == (settings.data_docs_dir / "index.html").resolve()
    assert run_id in parts["xl/sharedStrings.xml"]
    # the link is the HTML's only: neither the PDF nor the XLSX links anything (nor names a path)
    with zipfile.ZipFile(xlsx) as z:
        rels = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".rels"))
    assert "data_docs" not in rels and "TargetMode=\"External\"" not in rels
    assert b"/URI" not in open(pdf, "rb").read()


def test_monthly_scheduling_report(built, settings):
    res = render(settings, "2025-09", built["out"])
    text = compact(pdf_text(res["paths"][1]))
    assert "2025年9月全省招商引资项目调度情况" in text
    for phrase in ("履约率", "开工率", "投产率", "资金到位率", "表1", "各市州项目调度汇总", "表2", "重大逾期项目",
                   "表3", "未报送市州"):
        assert phrase in text
    # the lists are the XLSX's, one sheet each
    book = xlsx_parts(res["paths"][3])["xl/workbook.xml"]
    for sheet in ("数据来源", "调度汇总", "重大逾期项目", "逾期项目", "资金停滞", "阶段变化", "终止项目",
                  "到位资金更正"):
        assert f'name="{sheet}"' in book, sheet
    # the projects in the month's ledgers, counted from the raw rows of the ledger files in force
    (in_ledger,) = built["conn"].execute(
        "SELECT count(*) FROM raw.projects AS p JOIN audit.submissions_in_force AS s ON s.file_id = p.file_id "
        "WHERE s.kind = 'workbook' AND s.period = '2025-09'").fetchone()
    assert in_ledger > 0 and f"全省在库项目{in_ledger}个" in text


def test_scheduling_xlsx_lists_the_stalled_changed_and_terminated_projects(built, settings):
    """The XLSX's 资金停滞, 阶段变化 and 终止项目 sheets list exactly the month's projects the marts flag
    (the report reads only the ledger rows some list may hold)."""
    from python_calamine import CalamineWorkbook

    def ids(sql: str) -> set[str]:
        return {pid for (pid,) in built["conn"].execute(sql).fetchall()}

    base = ("SELECT m.project_id FROM marts.monthly_scheduling AS m JOIN marts.fct_project_month AS f "
            "ON f.project_id = m.project_id AND f.period = m.period WHERE m.period = '2025-09' AND ")
    expected = {
        "资金停滞": ids(base + "m.is_stalled_funds"),
        "阶段变化": ids(base + "((m.stage_changed AND m.stage <> '终止') OR f.is_new_in_ledger)"),
        "终止项目": ids(base + "m.project_key IN (SELECT project_key FROM marts.fct_project_month "
                        "WHERE stage = '终止' AND stage_changed AND period BETWEEN '2025-01' AND '2025-09')"),
    }
    assert all(expected.values()), {k: len(v) for k, v in expected.items()}
    every = ids("SELECT project_id FROM marts.monthly_scheduling WHERE period = '2025-09'")
    book = CalamineWorkbook.from_path(str(render(settings, "2025-09", built["out"])["paths"][3]))
    for sheet, want in expected.items():
        rows = book.get_sheet_by_name(sheet).to_python()
        assert {c for row in rows for c in row if isinstance(c, str) and c in every} == want, sheet


def html_rows(path, title_start: str, header: bool = False) -> list[list[str]]:
    """The rows of the document's table whose title starts with ``title_start`` (its <tbody>, or its
    <thead> with ``header``), as cell texts, read with lxml."""
    from lxml import html as lxml_html

    doc = lxml_html.fromstring(open(path, encoding="utf-8").read())
    for group in doc.find_class("tablegroup"):
        if group.find("h3").text_content().startswith(title_start):
            part = group.find(".//thead" if header else ".//tbody")
            return [[c.text_content() for c in tr if c.tag in ("td", "th")] for tr in part.findall("tr")]
    raise AssertionError(f"no table {title_start!r} in {path}")


def test_scheduling_prints_the_major_overdue_projects_by_city_and_the_xlsx_every_list(built, settings):
    """表2 in the PDF: per city, its largest major overdue projects (at most MAJOR_PER_CITY); the XLSX
    sheet 逾期项目 lists every overdue project, with filters on (expectations from the mart)."""
    from python_calamine import CalamineWorkbook

    from reports.bulletin import MAJOR_PER_CITY

    overdue = built["conn"].execute(
        "SELECT city_code, project_id, is_major, coalesce(contract_amount_100m_cny, 0) "
        "FROM marts.monthly_scheduling "
        "WHERE period = '2025-08' AND (is_overdue_not_started OR is_overdue_not_producing)").fetchall()
    majors: dict[str, list] = {}
    for city, pid, major, amount in overdue:
        if major:
            majors.setdefault(city, []).append((float(amount), pid))
    assert majors, "the sample should have major overdue projects"
    res = render(settings, "2025-08", built["out"])
    listed = [row[1] for row in html_rows(res["paths"][0], "表2")]
    assert len(listed) == len(set(listed)) == sum(min(len(v), MAJOR_PER_CITY) for v in majors.values())
    for projects in majors.values():
        shown = [a for a, pid in projects if pid in listed]
        left = [a for a, pid in projects if pid not in listed]
        assert len(shown) == min(len(projects), MAJOR_PER_CITY)
        assert not left or min(shown) >= max(left)  # the largest are the ones printed
    # the cities in code order, each city's projects from the largest down
    codes = [pid[:6] for pid in listed]
    assert codes == sorted(codes)
    book = CalamineWorkbook.from_path(str(res["paths"][3]))
    sheet = book.get_sheet_by_name("逾期项目").to_python()
    ids = {pid for _, pid, _, _ in overdue}
    assert sorted(c for row in sheet for c in row if isinstance(c, str) and c in ids) == sorted(ids)
    with zipfile.ZipFile(res["paths"][3]) as z:  # filters on the list (sheets in workbook order)
        xml = z.read(f"xl/worksheets/sheet{book.sheet_names.index('逾期项目') + 1}.xml").decode()
    assert "<autoFilter" in xml


def test_scheduling_city_table_equals_the_marts(built, settings):
    """表1 各市州项目调度汇总: every figure against the marts, computed here with SQL of its own."""
    conn = built["conn"]
    res = render(settings, "2025-09", built["out"])
    rows = {r[0]: r[1:] for r in html_rows(res["paths"][0], "表1")}
    names = dict(conn.execute("SELECT city_code, city_name FROM marts.dim_city").fetchall())
    names["430000"] = "全省"
    kpis = ["signed_projects", "signed_investment", "performance_rate", "start_rate", "production_rate",
            "funds_rate"]
    values = {(k, c): (v, r) for k, c, v, r in conn.execute(
        "SELECT kpi_code, city_code, value_ytd, rank_in_province FROM marts.kpi_city_month WHERE period = '2025-09'")}
    counts = {c: [0, 0, 0, 0] for c in names}
    for c, od, st in conn.execute(
            "SELECT city_code, count(*) FILTER (WHERE is_overdue_not_started OR is_overdue_not_producing), "
            "count(*) FILTER (WHERE is_stalled_funds) FROM marts.monthly_scheduling WHERE period = '2025-09' "
            "GROUP BY city_code"):
        counts[c][0], counts[c][1] = od, st
    for c, n in conn.execute(
            "SELECT m.city_code, count(DISTINCT m.project_key) FROM marts.monthly_scheduling AS m "
            "WHERE m.period = '2025-09' AND EXISTS (SELECT 1 FROM marts.fct_project_month AS f "
            "WHERE f.project_key = m.project_key AND f.stage = '终止' AND f.stage_changed "
            "AND f.period BETWEEN '2025-01' AND '2025-09') GROUP BY m.city_code"):
        counts[c][2] = n
    for c, n in conn.execute("SELECT city_code, count(*) FROM marts.submission_status WHERE period = '2025-09' "
                             "AND status IN ('missing', 'returned', 'rejected') GROUP BY city_code"):
        counts[c][3] = n
    counts["430000"] = [sum(counts[c][i] for c in counts if c != "430000") for i in range(4)]
    assert set(rows) == set(names.values())
    for code, name in names.items():
        printed = rows[name]
        for i, k in enumerate(kpis):
            v, rank = values[(k, code)]
            decimals = 0 if k == "signed_projects" else 1
            expect = "—" if v is None else f"{float(v):.{decimals}f}" + (f"（{rank}）" if rank else "")
            assert printed[i] == expect, (name, k, printed[i], expect)
        assert [int(x) for x in printed[len(kpis):]] == counts[code], name


def test_appraisal_tables_equal_the_marts(built, settings):
    """附表1 of the appraisal: every city's total and rank, in rank order, from marts.performance_appraisal."""
    from reports.appraisal import render as render_appraisal

    res = render_appraisal(settings, "2025Q3", built["out"])
    expected = built["conn"].execute(
        "SELECT DISTINCT city_name, total_score, rank FROM marts.performance_appraisal "
        "WHERE as_of_period = '2025-09' ORDER BY rank, city_name").fetchall()
    rows = html_rows(res["paths"][0], "附表1")
    assert [(r[0], r[-2], r[-1]) for r in rows] == [(n, f"{float(t):,.2f}", str(k)) for n, t, k in expected]
    # every score, total and rank links to its trace page, and every link of those pages resolves
    html_path = Path(res["paths"][0])
    folder = html_path.with_name(html_path.stem + "_trace")
    links = [h for h in _links(html_path) if h.startswith(folder.name + "/")]
    assert len(links) >= 14 * 3 and all((html_path.parent / h).exists() for h in links)
    assert [(p.name, h) for p in folder.glob("*.html") for h in _links(p) if not (p.parent / h).exists()] == []
    # 长沙's total is traced to its items' scores, as the mart holds them
    items = built["conn"].execute(
        "SELECT item_name, score FROM marts.performance_appraisal WHERE as_of_period = '2025-09' "
        "AND city_code = '430100' AND item_code <> 'TOTAL' ORDER BY item_code").fetchall()
    page = (folder / "appraisal_TOTAL.430100.2025-09.score.html").read_text("utf-8")
    for name, score in items:
        assert re.search(rf">{re.escape(name)}</a></td><td class=\"n\">{score:.2f}<", page), name


def documents(built, settings) -> dict[str, list[str]]:
    from reports.appraisal import render as render_appraisal

    return {"bulletin": render(settings, "2025Q3", built["out"])["paths"],
            "scheduling": render(settings, "2025-09", built["out"])["paths"],
            "appraisal": render_appraisal(settings, "2025Q3", built["out"])["paths"]}


def test_every_pdf_page_by_page(built, settings):
    """Headers over their columns in every table, no page with only a footnote, a heading or a note,
    a scheduling PDF short enough to read, the GB/T 9704 版头 and page numbers; page 1 kept as PNG."""
    import pdfplumber

    for name, (_, pdf, _, _) in documents(built, settings).items():
        assert pages.table_problems(pdf) == [], name
        assert pages.page_problems(pdf) == [], name
        with pdfplumber.open(pdf) as doc:
            first, second = doc.pages[0], doc.pages[1]
            text = compact(first.extract_text())
            assert text.startswith(settings.doc_issuer + "文件"), text[:40]
            docno = settings.doc_numbers[{"bulletin": "quarterly", "scheduling": "monthly"}.get(name, name)]
            assert re.search(re.escape(docno).replace(r"\{year\}", "2025").replace(r"\{quarter\}", "3")
                             .replace(r"\{month\}", "9"), text), text[:80]
            red = {ch["text"] for ch in first.chars
                   if [round(v, 2) for v in ch.get("non_stroking_color") or ()] == [0.75, 0, 0]}  # #c00000
            assert set(settings.doc_issuer + "文件") <= red  # the organ's mark in red
            for page, side in ((first, "right"), (second, "left")):  # — 1 — at the outside bottom
                words = [w for w in page.extract_words() if w["top"] > page.height - 35 * 72 / 25.4]
                assert [w["text"] for w in words] == ["—", str(page.page_number), "—"], words
                x = (words[0]["x0"] + words[-1]["x1"]) / 2
                assert (x > page.width * 0.7) if side == "right" else (x < page.width * 0.3), (name, side, x)
            # the 版心: 156 mm from 28 mm on the left, on a portrait page
            body = [ch for ch in first.chars if ch["top"] < first.height - 35 * 72 / 25.4]
            assert min(ch["x0"] for ch in body) >= 28 * 72 / 25.4 - 1
            assert max(ch["x1"] for ch in body) <= (210 - 26) * 72 / 25.4 + 1
        fonts = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout
        assert "FandolFang" in fonts and "FandolSong" in fonts, fonts
        pages.keep_page_one(pdf, f"{name}_page1")
    assert pages.pages(documents(built, settings)["scheduling"][1]) <= 10


def test_nothing_of_the_server_in_any_document(built, settings):
    """No path, host name, loopback address or UTC offset in any file of any document."""
    import socket

    import docx

    from core.settings import PROJECT_ROOT

    banned = [str(settings.output_dir), str(settings.state_dir), str(PROJECT_ROOT), "+00:00", "file:",
              "localhost", "127.0.0.1", "/tmp/"]
    host = re.compile(rf"(?<![\w.-]){re.escape(socket.gethostname())}(?![\w.-])")
    for name, paths in documents(built, settings).items():
        html, pdf, docx_path, xlsx = paths
        d = docx.Document(docx_path)
        texts = {  # the HTML without its images' data, the PDF's text and its raw bytes (metadata, links)
            "html": re.sub(r'(src|data-png)="data:[^"]*"|data-png="[^"]*"', "", open(html, encoding="utf-8").read()),
            "pdf": pdf_text(pdf),
            "pdf bytes": open(pdf, "rb").read().decode("latin-1"),
            "docx": "\n".join([p.text for p in d.paragraphs] + [c.text for t in d.tables for r in t.rows
                                                                for c in r.cells]),
            "xlsx": "".join(xlsx_parts(xlsx).values()),
        }
        for kind, text in texts.items():
            for b in banned:
                assert b not in text, (name, kind, b)
            if kind != "pdf bytes":  # compressed streams hold any short string by chance
                assert not host.search(text), (name, kind, "host name")


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text))


def test_docx_opens_and_holds_the_pdf_figures(built, settings):
    """The editable copy: python-docx reads it back; it holds the same numbers as the PDF's text (page
    numbers aside), its tables are Word tables with the HTML's cells, wide ones on landscape pages."""
    import docx
    from docx.enum.section import WD_ORIENT
    from lxml import html as lxml_html

    for name, (html, pdf, docx_path, _) in documents(built, settings).items():
        d = docx.Document(docx_path)
        body = [p.text for p in d.paragraphs] + [c.text for t in d.tables for r in t.rows for c in r.cells]
        pdf_body = re.sub(r"—\s*\d+\s*—", " ", pdf_text(pdf))
        assert numbers("\n".join(body)) == numbers(pdf_body), name
        page = lxml_html.fromstring(open(html, encoding="utf-8").read())
        tables = page.findall(".//table")
        assert len(d.tables) == len(tables), name
        for t_html, t_docx in zip(tables, d.tables):
            cells = [re.sub(r"\s+", "", c.text_content()) for c in t_html.iter("td")]
            got = []
            for r in t_docx.rows[len(t_html.findall("thead/tr")):]:
                seen = []
                for c in r.cells:  # a merged cell shows once per grid column it spans
                    if not seen or c._tc is not seen[-1]._tc:
                        seen.append(c)
                got += [re.sub(r"\s+", "", c.text) for c in seen]
            assert got == cells, name
        wide = sum(1 for g in page.find_class("tablegroup") if "wide" in g.get("class"))
        assert sum(s.orientation == WD_ORIENT.LANDSCAPE for s in d.sections) == wide, name
        assert d.settings.odd_and_even_pages_header_footer
        footer = d.sections[0].footer._element.xml + d.sections[0].even_page_footer._element.xml
        assert footer.count('w:instr="PAGE"') == 2
        assert 'w:eastAsia="仿宋"' in d.styles["Normal"].element.xml


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
    parts = xlsx_parts(v2["paths"][3])
    assert "'=cmd|x" in parts["xl/sharedStrings.xml"]
    assert not any("<f>" in body or "<f " in body for name, body in parts.items() if name.startswith("xl/worksheets/"))


def _links(page) -> list[str]:
    """The relative links of an HTML file (href of <a>), without their #fragment."""
    return [h.split("#")[0] for h in re.findall(r'<a [^>]*href="([^"]+)"', page.read_text("utf-8"))
            if not h.startswith(("http:", "https:", "#"))]


def test_every_figure_traces_and_a_version_reproduces_after_a_correction(built, settings, tmp_path, capsys):
    """Runs after test_versions_and_injection: 2025Q3 v1 was published, 长沙's September trade file
    superseded (amounts × 1.1), v2 published. v1's figures still trace to v1's files, and both
    versions rebuild to the same figures from the files in force when each was published."""
    from openecon.cli import main

    conn = built["conn"]
    v1, v2 = (conn.execute("SELECT id, paths FROM audit.bulletins WHERE kind = 'quarterly' AND period = '2025Q3' "
                           "AND version = %s", [v]).fetchone() for v in (1, 2))
    html_path = next(Path(p) for p in v2[1] if p.endswith(".html"))
    folder = html_path.with_name(html_path.stem + "_trace")
    # every link of the HTML and of every trace page resolves; every table figure is a link
    figure_links = [h for h in _links(html_path) if h.startswith(folder.name + "/")]
    assert len(figure_links) > 500 and all((html_path.parent / h).exists() for h in figure_links)
    pages_ = sorted(folder.glob("*.html"))
    assert len(pages_) > len(set(figure_links))
    missing = [(p.name, h) for p in pages_ for h in _links(p) if not (p.parent / h).exists()]
    assert not missing, missing[:5]

    # v1's province 进出口总额 as published: the 14 cities' figures computed from the input files
    oracle = Oracle(built["sample"])
    row = conn.execute("SELECT printed_text, trace FROM audit.document_figures WHERE bulletin_id = %s "
                       "AND figure_id = 'trade_total.430000.2025-09.value_ytd'", [v1[0]]).fetchone()
    cities = {c["city_code"]: float(c["value"]) for c in row[1]["cities"]}
    assert cities == pytest.approx({c: oracle.cells[("trade_total", c, "2025-09")].value_ytd for c in oracle.cities},
                                   abs=1e-6)
    assert float(row[1]["value"]) == pytest.approx(sum(cities.values()), abs=1e-5)
    assert row[0] == f"{sum(cities.values()):.1f}亿元"

    # 长沙's figure in v1 still traces to v1's files: its rows sum to the figure computed before the correction
    fid = "quarterly/2025Q3/v1/trade_total.430100.2025-09.value_ytd"
    assert main(["trace", "--figure", fid, "--rows", str(tmp_path / "v1.csv")]) == 0
    out = capsys.readouterr().out
    superseded = conn.execute("SELECT file_id FROM audit.submissions WHERE city_code = '430100' AND period = '2025-09' "
                              "AND kind = 'trade' AND superseded_by IS NOT NULL").fetchone()[0]
    assert f"[{superseded}] trade_430100_202509.csv" in out
    with open(tmp_path / "v1.csv", encoding="utf-8-sig", newline="") as f:
        v1_rows = sum(float(r["值 value"]) for r in csv.DictReader(f))
    assert v1_rows / 1e8 == pytest.approx(oracle.cells[("trade_total", "430100", "2025-09")].value_ytd, abs=1e-6)
    v2_files = conn.execute("SELECT trace->'files' FROM audit.document_figures WHERE bulletin_id = %s AND "
                            "figure_id = 'trade_total.430100.2025-09.value_ytd'", [v2[0]]).fetchone()[0]
    assert superseded not in [f["file_id"] for f in v2_files]

    # the 溯源 sheet maps table cells to figure ids whose pages exist
    sheets = xlsx_parts(next(p for p in v2[1] if p.endswith(".xlsx")))
    assert "溯源" in sheets["xl/workbook.xml"]
    assert "trade_total.430000.2025-09.value_ytd" in sheets["xl/sharedStrings.xml"]

    # the auditor's report reconciles a sample of each version's figures from the traces stored
    from reports import audit_data, audit_report

    with audit_data.connect(settings) as aconn:
        ctx = audit_report.build_context(aconn, settings, "2025Q3", tmp_path / "audit")
    sample = next(s for s in ctx["sections"] if s["key"] == "trace_sample")["rows"]
    assert {r[0]["text"] for r in sample} >= {"quarterly/2025Q3/v1", "quarterly/2025Q3/v2"}
    assert len(sample) >= 12 and all(r[-1]["text"] == "是" for r in sample), sample

    # the province returns (退回) 长沙's September ledger and the city sends it again (same figures, a file
    # saved anew): v1's 签约项目合同投资额 still gives the rows of v1's ledger, from the marts as of v1
    from ingestion.returns import return_file

    ledger_id, ledger_path = conn.execute(
        "SELECT file_id, archive_path FROM audit.submissions_in_force WHERE city_code = '430100' "
        "AND period = '2025-09' AND kind = 'workbook'").fetchone()
    return_file(conn, ledger_id, returned_by="province", reason="请核实项目台账", settings=settings)
    again = tmp_path / "again" / "430100_202509.xlsx"
    again.parent.mkdir()
    with zipfile.ZipFile(ledger_path) as src, zipfile.ZipFile(again, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for entry in src.infolist():  # the same parts, compressed anew: other bytes, the same workbook
            dst.writestr(entry.filename, src.read(entry))
    receipt = ingest_paths([again], settings)[0]
    assert receipt.status == "accepted" and not receipt.superseded, receipt.text()
    fid = "quarterly/2025Q3/v1/signed_investment.430100.2025-09.value_ytd"
    assert main(["trace", "--figure", fid, "--rows", str(tmp_path / "ledger.csv")]) == 0
    assert "rebuilding the marts as of quarterly/2025Q3/v1" in capsys.readouterr().out
    with open(tmp_path / "ledger.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["文件编号 file_id"] for r in rows} == {str(ledger_id)}
    assert sum(float(r["计入值 contribution"]) for r in rows) == pytest.approx(
        oracle.cells[("signed_investment", "430100", "2025-09")].value_ytd, abs=1e-6)

    # both versions rebuild, from the files in force then, to the figures they published (the hostile
    # register row test_versions_and_injection wrote by hand, no file behind it, never reached the marts;
    # the return since is undone)
    conn.execute("DELETE FROM audit.submissions WHERE file_name = '=cmd|x'")
    for version in ("quarterly/2025Q3/v1", "bulletin_2025Q3_v2"):
        assert main(["reproduce", version, "--out", str(tmp_path / "reproduced")]) == 0, capsys.readouterr()
        assert "identical" in capsys.readouterr().out
    # and a figure changed behind the register's back is found
    conn.execute("UPDATE audit.document_figures SET value = '1' WHERE bulletin_id = %s "
                 "AND figure_id = 'trade_total.430000.2025-09.value_ytd'", [v1[0]])
    assert main(["reproduce", "quarterly/2025Q3/v1", "--out", str(tmp_path / "reproduced")]) == 1
    assert "trade_total.430000.2025-09.value_ytd: published" in capsys.readouterr().out
    conn.execute("UPDATE audit.document_figures SET value = %s WHERE bulletin_id = %s "
                 "AND figure_id = 'trade_total.430000.2025-09.value_ytd'", [row[1]["value"], v1[0]])
    # the hostile row gone and 长沙's ledger sent again: built and checked, as a build would, for the tests after
    transform.dbt_build(settings)
    gate = quality.quality_gate(settings)
    assert gate.success, gate.summary()


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
