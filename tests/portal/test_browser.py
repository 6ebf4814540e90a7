"""The portal in a real browser: Playwright driving Debian's Chromium against uvicorn on a free port.

A clerk of 长沙 logs in, downloads a template, uploads a good month (receipts: accepted, the
month complete), a bad trade file (the receipt lists the cells the test spoiled) and a ledger with
a paid-in decrease (enters its 上报说明); another city's page is 403; the province sees the grid
and returns a file; the clerk sees the return. Each page is kept as a screenshot under
output/artifacts/portal/ (OPENECON_TEST_ARTIFACTS moves it), for a reviewer.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from core.settings import PROJECT_ROOT
from tests.portal.conftest import PASSWORD, portal_settings
from tests.portal.files import next_month_with_paid_in_decrease, trade_with_bad_cells

CHROMIUM = "/usr/bin/chromium"
CITY = "430100"  # 长沙
ARTIFACTS = Path(os.environ.get("OPENECON_TEST_ARTIFACTS") or PROJECT_ROOT / "output" / "artifacts") / "portal"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """The app under uvicorn in a thread (its own event loop), as `openecon portal` serves it."""

    def __init__(self, settings):
        import uvicorn

        from portal.app import create_app

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def served(portal_warehouse):
    with Served(portal_warehouse.settings) as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def shoot(page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def log_in(page, url: str, user: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=login]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def log_out(page) -> None:
    page.click("header form button")
    page.wait_for_url(re.compile(r"/login$"))


def upload(page, path: Path) -> object:
    """Pick a file on the upload page; returns the locator of its receipt once shown."""
    page.set_input_files("#file-input", str(path))
    box = page.locator(".upload", has_text=path.name).first
    box.locator(".receipt, .alert.error").first.wait_for(timeout=60_000)
    return box


def test_clerk_and_province_in_the_browser(served, browser, shots, portal_warehouse, tmp_path):
    from ingestion.template import write_templates

    url, conn = served.url, portal_warehouse.conn
    ctx = browser.new_context(accept_downloads=True, locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()

    page.goto(f"{url}/city/{CITY}")  # not logged in: to the login page, and back after it
    assert "/login?next=" in page.url
    shoot(page, shots, "01_login")
    page.fill("input[name=login]", f"clerk_{CITY}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/city/{CITY}")

    page.goto(f"{url}/city/{CITY}?period=2025-10")
    assert page.locator("h1").inner_text() == "长沙市 · 2025年10月报送清单"
    assert page.locator("table.grid >> nth=0").locator(".s-missing").count() == 2
    assert "报送截止：2025年11月10日" in page.inner_text("main")
    shoot(page, shots, "02_checklist_empty")

    # the blank template, as the product's template code writes it for 长沙
    with page.expect_download() as dl:
        page.click("text=下载月报工作簿模板")
    expected = write_templates(tmp_path / "expected", CITY)[0]
    assert dl.value.suggested_filename == expected.name == f"{CITY}_月报模板.xlsx"
    assert Path(dl.value.path()).read_bytes() == expected.read_bytes()

    # a good month: the workbook and the trade CSV
    page.click("text=上传报送文件")
    page.wait_for_url(f"{url}/city/{CITY}/upload")
    shoot(page, shots, "03_upload")
    for name in (f"{CITY}_202510.xlsx", f"trade_{CITY}_202510.csv"):
        box = upload(page, portal_warehouse.later[name])
        assert box.locator(".receipt-head .status").first.inner_text() == "已接收", name
    shoot(page, shots, "04_upload_accepted")
    page.goto(f"{url}/city/{CITY}?period=2025-10")
    first = page.locator("table.grid >> nth=0")
    assert first.locator(".s-late").count() == 2  # both in (after the 2025-11-10 deadline: late)
    assert "本月应报文件均已报送" in page.inner_text("main")
    shoot(page, shots, "05_checklist_complete")

    # a bad trade file: the receipt lists exactly the cells the test spoiled
    bad = tmp_path / f"trade_{CITY}_202511.csv"
    cells = trade_with_bad_cells(portal_warehouse.later[f"trade_{CITY}_202510.csv"], bad)
    page.goto(f"{url}/city/{CITY}/upload")
    box = upload(page, bad)
    assert box.locator(".receipt-head .status").first.inner_text() == "部分接收（部分行被拒收）"
    rows = box.locator("table.problems tbody tr")
    got = [[rows.nth(i).locator("td").nth(j).inner_text() for j in (1, 2, 3)] for i in range(rows.count())]
    assert got == [[str(c["row"]), c["column"], c["value"]] for c in cells]
    shoot(page, shots, "06_upload_bad_file")

    # a paid-in decrease: accepted with a warning, and the clerk explains it
    nov = tmp_path / f"{CITY}_202511.xlsx"
    where = next_month_with_paid_in_decrease(portal_warehouse.later[f"{CITY}_202510.xlsx"], nov)
    box = upload(page, nov)
    warning = box.locator("table.warnings tbody tr").first
    assert [warning.locator("td").nth(j).inner_text() for j in range(4)] == \
        [where["sheet"], str(where["row"]), where["column"], where["value"]]
    text = "该项目投资方核减了重复统计的到位资金，已与园区管委会核实"
    warning.locator("textarea").fill(text)
    shoot(page, shots, "07_warning_explained_before_save")
    warning.locator("button").click()
    page.wait_for_url(re.compile(r"/files/\d+\?notice=explained"))
    assert "上报说明已保存" in page.inner_text("main") and text in page.inner_text("table.warnings")
    shoot(page, shots, "08_receipt_with_explanation")
    nov_id = int(re.search(r"/files/(\d+)", page.url).group(1))

    # another city's pages: 403
    response = page.goto(f"{url}/city/430200")
    assert response.status == 403 and "无权访问" in page.inner_text("main")
    shoot(page, shots, "09_other_city_forbidden")
    other_file = conn.execute("SELECT max(file_id) FROM audit.submissions WHERE city_code = '430200'").fetchone()[0]
    assert page.goto(f"{url}/city/{CITY}/files/{other_file}").status == 403
    assert page.goto(f"{url}/city/430200/files/{other_file}/receipt.txt").status == 403
    page.goto(f"{url}/city/{CITY}/history")
    shoot(page, shots, "10_history")
    log_out(page)

    # the province: the grid, the clerk's explanation, a return
    log_in(page, url, "prov")
    page.goto(f"{url}/province?to=2025-11")
    changsha = page.locator("table.matrix tbody tr", has_text="长沙市")
    assert changsha.locator(f'a.expl[href="/city/{CITY}/files/{nov_id}"]').inner_text() == "说明1/1"
    shoot(page, shots, "11_province_grid")
    sept = conn.execute("SELECT file_id FROM audit.submissions_in_force WHERE city_code = %s AND period = '2025-09' "
                        "AND kind = 'trade'", [CITY]).fetchone()[0]
    page.goto(f"{url}/city/{CITY}/files/{sept}")
    reason = "9月外贸明细中进口金额较上月异常增长，请核实后重新报送"
    page.fill("textarea[name=reason]", reason)
    page.click("button.danger")
    page.wait_for_url(re.compile(r"notice=returned"))
    assert "已退回" in page.inner_text("main")
    shoot(page, shots, "12_province_returned")
    page.goto(f"{url}/province/documents")
    shoot(page, shots, "13_documents_and_runs")
    page.goto(f"{url}/events")
    assert "return" in page.inner_text("table")
    shoot(page, shots, "14_events")
    log_out(page)

    # the clerk sees the return and must resubmit
    log_in(page, url, f"clerk_{CITY}")
    page.goto(f"{url}/city/{CITY}?period=2025-09")
    trade_row = page.locator("table.grid >> nth=0").locator("tbody tr").nth(1)
    assert trade_row.locator(".status").first.inner_text() == "已退回"
    assert reason in trade_row.inner_text() and "请按退回原因修改后重新上传" in trade_row.inner_text()
    shoot(page, shots, "15_clerk_sees_return")
    ctx.close()
    assert sorted(p.name for p in shots.iterdir())[:3] == ["01_login.png", "02_checklist_empty.png", "03_upload.png"]


def read_whole_response(sock, answer: bytes) -> bytes:
    """The head and the body of an answer may come in separate segments: read until the body's
    Content-Length has arrived (or the server has closed)."""
    sock.settimeout(10)
    while True:
        head, sep, body = answer.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head) if sep else None
        if length and len(body) >= int(length.group(1)):
            return answer
        try:
            more = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return answer
        if not more:
            return answer
        answer += more


def test_an_oversized_body_is_refused_before_it_has_all_arrived(portal_warehouse):
    """On a real socket: the server counts the chunked body as it comes and answers 413 long before
    the client has sent it all (nothing buffers it whole), leaving no partial file."""
    settings = portal_settings(portal_warehouse.settings, OPENECON_MAX_FILE_MB="0.05")
    with Served(settings) as s:
        c = httpx.Client(base_url=s.url)
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"login": "clerk_430200", "password": PASSWORD, "csrf_token": token})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/city/430200").text).group(1)
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        total, chunk, sent = 256 * 2**20, b"x" * 65536, 0
        with socket.create_connection(("127.0.0.1", s.port)) as sock:
            sock.sendall((f"POST /city/430200/upload?name=trade_430200_202512.csv HTTP/1.1\r\nHost: x\r\n"
                          f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\nContent-Type: application/octet-stream\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n").encode())
            answer = b""
            try:
                while sent < total:
                    if select.select([sock], [], [], 0)[0]:
                        answer = sock.recv(65536)
                        break
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            answer = read_whole_response(sock, answer)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < total / 4, sent  # answered after a fraction of the body
        assert "0.05 MB上限".encode() in answer
    assert list((settings.portal_dir / "uploads").iterdir()) == []
