"""The portal route by route (FastAPI's TestClient on the real embedded Postgres).

Security is checked over the app's own list of routes, so a route added without its checks
fails here: every route but the public ones needs a session, every unsafe one a CSRF token, and
a clerk reaches nothing of another city. Then uploads (the CLI's intake, the size limit while
streaming, names never used as paths), 上报说明, returns, lock-out and the audit trail.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import psycopg
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from ingestion.load import Receipt
from tests.portal.conftest import PASSWORD, portal_settings
from tests.portal.files import next_month_with_paid_in_decrease, trade_with_bad_cells

MINE, OTHER = "430200", "430300"  # 株洲 (the clerk here), 湘潭 (another city)


def login(client: TestClient, user: str, password: str = PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"login": user, "password": password, "csrf_token": token, "next": "/"},
                       follow_redirects=False)


def csrf_of(client: TestClient, city_page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(city_page).text).group(1)


class Portal:
    """The app and a logged-in client per account."""

    def __init__(self, app, pw):
        self.app, self.pw, self.clients = app, pw, {}

    def client(self, user: str) -> TestClient:
        if user not in self.clients:
            c = TestClient(self.app, follow_redirects=False)
            assert login(c, user).status_code == 303
            c.csrf = csrf_of(c, "/city/430100" if not user.startswith("clerk_") else f"/city/{user[6:]}")
            self.clients[user] = c
        return self.clients[user]

    def upload(self, user: str, city: str, name: str, body, **headers):
        c = self.client(user)
        return c.post(f"/city/{city}/upload", params={"name": name}, content=body,
                      headers={"X-CSRF-Token": c.csrf, "Content-Type": "application/octet-stream", **headers})

    def wait(self, user: str, city: str, answer: dict) -> dict:
        deadline = time.monotonic() + 120
        while answer["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, answer
            time.sleep(0.3)
            answer = self.client(user).get(f"/city/{city}/jobs/{answer['job']}").json()
        return answer

    def events(self, action: str) -> list[tuple]:
        return self.pw.conn.execute("SELECT login, city_code, file_id, detail FROM portal.events WHERE action = %s "
                                    "ORDER BY id", [action]).fetchall()


@pytest.fixture(scope="module")
def portal(portal_warehouse):
    from portal.app import create_app

    app = create_app(portal_warehouse.settings)
    with TestClient(app):  # runs the lifespan: migrations, the ingest worker
        p = Portal(app, portal_warehouse)
        # one file of the other city, uploaded by its own clerk: what the clerk here must never reach
        other = p.upload(f"clerk_{OTHER}", OTHER, f"{OTHER}_202510.xlsx",
                         portal_warehouse.later[f"{OTHER}_202510.xlsx"].read_bytes())
        p.other = p.wait(f"clerk_{OTHER}", OTHER, other.json())
        assert p.other["receipt_status"] == "accepted"
        yield p


# What each path parameter is filled with when a route is tried (a new parameter must be added here).
def other_city_params(p: Portal) -> dict:
    return {"city": OTHER, "file_id": str(p.other["file_id"]), "job_id": p.other["job"], "kind": "workbook",
            "path": "bulletins/none.html"}


def protected_routes(app) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path not in ("/login", "/healthz"):
            out += [(m, route.path) for m in sorted(route.methods - {"HEAD"})]
    return out


def fill(path: str, params: dict) -> str:
    names = re.findall(r"{(\w+)(?::\w+)?}", path)
    missing = [n for n in names if n not in params]
    assert not missing, f"route {path}: add parameter(s) {missing} to other_city_params"
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: params[m.group(1)], path)


def test_only_login_health_and_static_are_public(portal):
    from portal.app import PUBLIC_PATHS, authenticate, csrf

    public = set()
    for route in portal.app.routes:
        if isinstance(route, Mount):
            public.add(route.path)
        elif isinstance(route, APIRoute):
            calls = {d.call for d in route.dependant.dependencies}
            if not {authenticate, csrf} <= calls:
                public.add(route.path)
    assert public == PUBLIC_PATHS


def test_every_route_refuses_an_anonymous_user(portal):
    anonymous = TestClient(portal.app, follow_redirects=False)
    params = other_city_params(portal)
    routes = protected_routes(portal.app)
    assert len(routes) >= 16
    for method, path in routes:
        r = anonymous.request(method, fill(path, params))
        if method == "GET":
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (method, path)
        else:
            assert r.status_code == 401, (method, path, r.status_code)
    # a forged or stale cookie is no session either
    anonymous.cookies.set("openecon_portal", "bm90LWEtc2Vzc2lvbg.forged")
    assert anonymous.get(f"/city/{MINE}").status_code == 303


def test_a_clerk_reaches_nothing_of_another_city_on_any_route(portal):
    clerk = portal.client(f"clerk_{MINE}")
    before = len(portal.events("forbidden"))
    params = other_city_params(portal)
    tried = 0
    for method, path in protected_routes(portal.app):
        if path in ("/", "/logout"):  # the clerk's own start page and logout
            continue
        variants = [fill(path, params)]
        if "{city}" in path and ("{file_id}" in path or "{job_id}" in path):
            variants.append(fill(path, {**params, "city": MINE}))  # own city in the path, other's file/job
        for url in variants:
            r = clerk.request(method, url, headers={"X-CSRF-Token": clerk.csrf},
                              data={"csrf_token": clerk.csrf, "text": "x", "rule": "paid_in_decrease",
                                    "reason": "x"} if method == "POST" else None)
            assert r.status_code == 403, (method, url, r.status_code, r.text[:300])
            tried += 1
    assert tried >= 18
    assert len(portal.events("forbidden")) - before == tried  # each refusal is in the trail
    # and nothing of the other city's came out: its file's receipt was never served to this clerk
    assert not [e for e in portal.events("download") if e[0] == f"clerk_{MINE}" and e[1] == OTHER]


def test_every_unsafe_route_needs_the_sessions_csrf_token(portal):
    clerk = portal.client(f"clerk_{MINE}")
    mine = {**other_city_params(portal), "city": MINE}
    for method, path in protected_routes(portal.app):
        if method == "GET":
            continue
        for headers, data in (({}, {}), ({"X-CSRF-Token": "forged"}, {}), ({}, {"csrf_token": "forged"})):
            r = clerk.request(method, fill(path, mine), headers=headers, data=data or None)
            assert r.status_code == 403, (method, path, headers, data, r.status_code)
    # the token of another session does not do either
    other = portal.client(f"clerk_{OTHER}")
    r = clerk.post("/logout", data={"csrf_token": other.csrf})
    assert r.status_code == 403
    # login itself is protected by a token bound to its own cookie
    fresh = TestClient(portal.app, follow_redirects=False)
    r = fresh.post("/login", data={"login": f"clerk_{MINE}", "password": PASSWORD, "csrf_token": "x"})
    assert r.status_code == 403 and "页面已过期" in r.text


def test_roles_province_and_auditor(portal):
    prov, aud = portal.client("prov"), portal.client("audit1")
    file_id = portal.other["file_id"]
    for c in (prov, aud):
        assert c.get("/province").status_code == 200
        assert c.get(f"/city/{OTHER}/files/{file_id}").status_code == 200  # they read every city
        assert c.get("/events").status_code == 200
    # neither uploads nor explains; the auditor does not return
    for user in ("prov", "audit1"):
        r = portal.upload(user, OTHER, f"{OTHER}_202510.xlsx", b"x")
        assert r.status_code == 403
        c = portal.client(user)
        r = c.post(f"/city/{OTHER}/files/{file_id}/explanations", data={"csrf_token": c.csrf, "rule": "x", "text": "y"})
        assert r.status_code == 403
    r = aud.post(f"/city/{OTHER}/files/{file_id}/return", data={"csrf_token": aud.csrf, "reason": "x"})
    assert r.status_code == 403
    assert portal.pw.conn.execute("SELECT returned_at FROM audit.submissions WHERE file_id = %s",
                                  [file_id]).fetchone() == (None,)


def test_cookies_are_httponly_samesite_and_secure_by_default(portal_warehouse):
    from portal.app import create_app

    secure = portal_settings(portal_warehouse.settings, OPENECON_PORTAL_SECURE_COOKIE="1")
    assert secure.portal_secure_cookie and not portal_warehouse.settings.portal_secure_cookie
    app = create_app(secure)
    with TestClient(app, base_url="https://testserver") as c:
        r = login(c, f"clerk_{MINE}")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("openecon_portal=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Secure" in cookie
        # the id in the cookie is signed and only its hash is stored
        sid = cookie.split("=", 1)[1].split(";")[0].rsplit(".", 1)[0]
        stored = portal_warehouse.conn.execute("SELECT count(*) FROM portal.sessions WHERE id_sha256 = %s",
                                               [hashlib.sha256(sid.encode()).hexdigest()]).fetchone()[0]
        assert stored == 1
        assert not portal_warehouse.conn.execute("SELECT 1 FROM portal.sessions WHERE id_sha256 = %s",
                                                 [sid]).fetchone()


def test_the_upload_is_the_clis_intake(portal, portal_warehouse):
    settings = portal_warehouse.settings
    src = portal_warehouse.later[f"{MINE}_202510.xlsx"]
    # the browser's name is parsed, never used: the file is saved and received under the canonical name
    r = portal.upload(f"clerk_{MINE}", MINE, f"{MINE}_202510.xlsx", src.read_bytes())
    assert r.status_code == 202
    job = portal.wait(f"clerk_{MINE}", MINE, r.json())
    assert job["status"] == "done" and job["receipt_status"] == "accepted", job
    file_id = job["file_id"]
    row = portal_warehouse.conn.execute("SELECT file_name, sha256, status, city_code, period, kind, archive_path, "
                                        "receipt FROM audit.submissions WHERE file_id = %s", [file_id]).fetchone()
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert row[:6] == (f"{MINE}_202510.xlsx", sha, "accepted", MINE, "2025-10", "workbook")
    # what `openecon ingest` leaves: the archived original, the receipt in audit and as a file
    assert Path(row[6]) == settings.archive_dir / sha[:2] / f"{sha}.xlsx"
    assert Path(row[6]).read_bytes() == src.read_bytes()
    receipt = Receipt.from_json(row[7])
    assert receipt.status == "accepted" and receipt.rows_loaded > 0
    assert settings.receipt_path(MINE, row[0], file_id).read_text("utf-8") == receipt.text() + "\n"
    # the clerk downloads it; the page shows the receipt; the upload folder is gone
    c = portal.client(f"clerk_{MINE}")
    assert c.get(f"/city/{MINE}/files/{file_id}/receipt.txt").text == receipt.text() + "\n"
    page = c.get(f"/city/{MINE}/files/{file_id}").text
    assert "已接收" in page and f"{MINE}_202510.xlsx" in page
    assert list((settings.portal_dir / "uploads").iterdir()) == []
    assert [e[2] for e in portal.events("upload") if e[0] == f"clerk_{MINE}"][-1] == file_id
    # the checklist: the workbook is in (received after its 2025-11-10 deadline: late), not yet in the mart
    page = c.get(f"/city/{MINE}?period=2025-10").text.split("近6个月")[0]
    assert page.count('class="status s-late">逾期报送') == 1 and page.count('class="status s-missing">未报送') == 1
    assert "待汇总" in page and "本月尚有文件未报送" in page


def test_a_bad_trade_file_lists_every_cell(portal, portal_warehouse, tmp_path):
    bad = tmp_path / "bad.csv"
    cells = trade_with_bad_cells(portal_warehouse.later[f"trade_{MINE}_202510.csv"], bad)
    r = portal.upload(f"clerk_{MINE}", MINE, f"trade_{MINE}_202510.csv", bad.read_bytes())
    job = portal.wait(f"clerk_{MINE}", MINE, r.json())
    assert job["receipt_status"] == "partial"
    problems = portal_warehouse.conn.execute(
        "SELECT row_number, column_name, value FROM audit.rejected_rows WHERE file_id = %s ORDER BY row_number",
        [job["file_id"]]).fetchall()
    assert problems == [(c["row"], c["column"], c["value"]) for c in cells]
    html = job["receipt_html"]
    for c in cells:  # each in a row of the problems table: row, column, value
        assert re.search(rf"<td>{c['row']}</td>\s*<td>{re.escape(c['column'])}</td><td class=\"value\">"
                         rf"{re.escape(c['value'])}</td>", html), c


def test_names_of_other_cities_or_not_of_the_contract_are_refused(portal, portal_warehouse):
    count = portal_warehouse.conn.execute("SELECT count(*) FROM audit.submissions").fetchone()[0]
    r = portal.upload(f"clerk_{MINE}", MINE, f"{OTHER}_202511.xlsx", b"PK...")
    assert r.status_code == 403 and "湘潭市" in r.json()["error"] and "只能报送本市州" in r.json()["error"]
    assert portal.events("forbidden")[-1][3]["file"] == f"{OTHER}_202511.xlsx"
    for name in ("report.xlsx", f"../{MINE}_202511.xlsx", f"{MINE}_202511.xlsx/../../x", f"{MINE}_202513.xlsx", ""):
        r = portal.upload(f"clerk_{MINE}", MINE, name, b"PK...")
        assert r.status_code == 400 and "文件名" in r.json()["error"], name
    assert portal_warehouse.conn.execute("SELECT count(*) FROM audit.submissions").fetchone()[0] == count
    assert list((portal_warehouse.settings.portal_dir / "uploads").iterdir()) == []


def test_the_size_limit_holds_while_the_body_streams(portal_warehouse):
    from portal.app import create_app

    small = portal_settings(portal_warehouse.settings, OPENECON_MAX_FILE_MB="0.01")  # 10 KiB
    app = create_app(small)
    with TestClient(app, follow_redirects=False) as c:
        assert login(c, f"clerk_{MINE}").status_code == 303
        token = csrf_of(c, f"/city/{MINE}")

        def body():  # no Content-Length: only counting while streaming can stop it (that the server
            for _ in range(64):  # stops reading is shown on a real socket in test_browser.py)
                yield b"x" * 4096

        r = c.post(f"/city/{MINE}/upload", params={"name": f"trade_{MINE}_202511.csv"}, content=body(),
                   headers={"X-CSRF-Token": token})
        assert r.status_code == 413 and "0.01 MB上限" in r.json()["error"]
        r = c.post(f"/city/{MINE}/upload", params={"name": f"trade_{MINE}_202511.csv"}, content=b"x" * 20000,
                   headers={"X-CSRF-Token": token})  # declared too large: refused before reading
        assert r.status_code == 413
    assert list((small.portal_dir / "uploads").iterdir()) == []
    refused = portal_warehouse.conn.execute("SELECT detail->>'status' FROM portal.events WHERE action = "
                                            "'upload_refused' ORDER BY id DESC LIMIT 2").fetchall()
    assert refused == [("413",), ("413",)]


def test_a_large_file_is_ingested_in_the_background(portal_warehouse):
    from portal.app import create_app

    background = portal_settings(portal_warehouse.settings, OPENECON_PORTAL_INLINE_SECONDS="0")
    with TestClient(create_app(background), follow_redirects=False) as c:
        assert login(c, f"clerk_{OTHER}").status_code == 303
        token = csrf_of(c, f"/city/{OTHER}")
        src = portal_warehouse.later[f"trade_{OTHER}_202510.csv"]
        r = c.post(f"/city/{OTHER}/upload", params={"name": src.name}, content=src.read_bytes(),
                   headers={"X-CSRF-Token": token})
        first = r.json()
        assert r.status_code == 202 and first["status"] in ("queued", "running") and "receipt_html" not in first
        seen = [first]
        while seen[-1]["status"] not in ("done", "failed"):
            time.sleep(0.05)
            seen.append(c.get(f"/city/{OTHER}/jobs/{first['job']}").json())
        assert seen[-1]["status"] == "done" and seen[-1]["receipt_status"] == "accepted"
        assert all(s["size"] == src.stat().st_size for s in seen)
        rows = [s["rows_processed"] for s in seen if s["rows_processed"] is not None]
        assert rows == sorted(rows)  # progress of the COPY, when caught while it ran, only grows
        job = portal_warehouse.conn.execute("SELECT status, backend_pid IS NOT NULL, file_id FROM portal.upload_jobs "
                                            "WHERE id = %s", [first["job"]]).fetchone()
        assert job == ("done", True, seen[-1]["file_id"])


def test_an_explanation_for_a_warning_is_stored_and_shown_to_the_province(portal, portal_warehouse, tmp_path):
    # November's ledger lowers one project's paid-in below October's (uploaded in the test above)
    src = portal_warehouse.later[f"{MINE}_202510.xlsx"]
    nov = tmp_path / f"{MINE}_202511.xlsx"
    where = next_month_with_paid_in_decrease(src, nov)
    if not portal_warehouse.conn.execute("SELECT 1 FROM audit.submissions_in_force WHERE city_code = %s AND period = "
                                         "'2025-10' AND kind = 'workbook'", [MINE]).fetchone():
        portal.wait(f"clerk_{MINE}", MINE, portal.upload(f"clerk_{MINE}", MINE, src.name, src.read_bytes()).json())
    job = portal.wait(f"clerk_{MINE}", MINE, portal.upload(f"clerk_{MINE}", MINE, nov.name, nov.read_bytes()).json())
    assert job["receipt_status"] == "accepted"
    file_id = job["file_id"]
    warnings = portal_warehouse.conn.execute("SELECT sheet, row_number, column_name, value, rule FROM "
                                             "audit.row_warnings WHERE file_id = %s", [file_id]).fetchall()
    assert warnings == [(where["sheet"], where["row"], where["column"], where["value"], "paid_in_decrease")]
    assert "保存说明" in job["receipt_html"]
    c = portal.client(f"clerk_{MINE}")
    text = "项目方核减重复统计的到位资金，已与园区核实"
    form = {"csrf_token": c.csrf, "sheet": where["sheet"], "row_number": str(where["row"]),
            "column_name": where["column"], "rule": "paid_in_decrease", "text": text}
    r = c.post(f"/city/{MINE}/files/{file_id}/explanations", data=form)
    assert r.status_code == 303
    # a warning that does not exist cannot be explained
    assert c.post(f"/city/{MINE}/files/{file_id}/explanations", data={**form, "row_number": "99999"}).status_code == 400
    stored = portal_warehouse.conn.execute("SELECT sheet, row_number, column_name, rule, text, by_login FROM "
                                           "portal.explanations WHERE file_id = %s", [file_id]).fetchall()
    assert stored == [(where["sheet"], where["row"], where["column"], "paid_in_decrease", text, f"clerk_{MINE}")]
    assert portal.events("explanation")[-1][:3] == (f"clerk_{MINE}", MINE, file_id)
    prov = portal.client("prov")
    assert text in prov.get(f"/city/{MINE}/files/{file_id}").text
    grid = prov.get("/province?to=2025-11").text
    assert f'href="/city/{MINE}/files/{file_id}">说明1/1</a>' in grid


def test_the_province_returns_a_file_and_the_clerk_sees_it(portal, portal_warehouse):
    conn = portal_warehouse.conn
    file_id = conn.execute("SELECT file_id FROM audit.submissions_in_force WHERE city_code = %s AND period = "
                           "'2025-09' AND kind = 'workbook'", [MINE]).fetchone()[0]
    prov = portal.client("prov")
    reason = "园区情况表标准厂房已使用面积与上月差异过大，请核实后重报"
    r = prov.post(f"/city/{MINE}/files/{file_id}/return", data={"csrf_token": prov.csrf, "reason": reason})
    assert r.status_code == 303
    assert conn.execute("SELECT returned_by, returned_reason FROM audit.submissions WHERE file_id = %s",
                        [file_id]).fetchone() == ("prov", reason)
    assert not conn.execute("SELECT 1 FROM audit.submissions_in_force WHERE file_id = %s", [file_id]).fetchone()
    assert portal.events("return")[-1][:3] == ("prov", MINE, file_id)
    # returning it again is refused with the reason why
    r = prov.post(f"/city/{MINE}/files/{file_id}/return", data={"csrf_token": prov.csrf, "reason": reason})
    assert r.status_code == 400 and "已退回" in r.text
    clerk = portal.client(f"clerk_{MINE}")
    page = clerk.get(f"/city/{MINE}?period=2025-09").text
    assert "已退回" in page and reason in page and "请按退回原因修改后重新上传" in page
    assert reason in clerk.get(f"/city/{MINE}/files/{file_id}").text
    assert reason in clerk.get(f"/city/{MINE}/history").text


def test_templates_are_the_products_for_the_clerks_city(portal, tmp_path):
    from ingestion.template import write_templates

    c = portal.client(f"clerk_{MINE}")
    expected = {p.name: p.read_bytes() for p in write_templates(tmp_path, MINE)}
    for kind in ("workbook", "trade"):
        r = c.get(f"/city/{MINE}/templates/{kind}")
        assert r.status_code == 200
        name = next(n for n in expected if (n.endswith(".xlsx") if kind == "workbook" else n.endswith(".csv")))
        assert r.content == expected[name] and MINE in name
    assert c.get(f"/city/{OTHER}/templates/workbook").status_code == 403


def test_lockout_after_repeated_failures(portal, portal_warehouse):
    from portal import accounts

    conn, settings = portal_warehouse.conn, portal_warehouse.settings
    accounts.add_user(conn, "locktest", "city_clerk", OTHER, PASSWORD)
    c = TestClient(portal.app, follow_redirects=False)
    for _ in range(settings.portal_max_failures):
        r = login(c, "locktest", "wrong-password")
        assert r.status_code == 401
    assert "已暂时锁定" in r.text
    r = login(c, "locktest")  # the right password, while locked
    assert r.status_code == 401 and "已暂时锁定" in r.text
    actions = [a for (a,) in conn.execute("SELECT action FROM portal.events WHERE login = 'locktest' "
                                          "AND action LIKE 'login%%' ORDER BY id").fetchall()]
    assert actions == ["login_failed"] * settings.portal_max_failures + ["login_locked"]
    # the lock lifts OPENECON_PORTAL_LOCKOUT_MINUTES after the last failure
    conn.execute("UPDATE portal.login_attempts SET at = at - make_interval(secs => %s) WHERE login = 'locktest'",
                 [settings.portal_lockout_minutes * 60 + 1])
    assert login(c, "locktest").status_code == 303
    # an idle session ends
    conn.execute("UPDATE portal.sessions SET last_seen_at = now() - make_interval(secs => %s) WHERE login = "
                 "'locktest'", [settings.portal_session_hours * 3600 + 1])
    assert c.get(f"/city/{OTHER}").status_code == 303


def test_an_address_guessing_across_accounts_is_throttled(portal_warehouse):
    from portal.app import create_app

    strict = portal_settings(portal_warehouse.settings, OPENECON_PORTAL_IP_MAX_FAILURES="3")
    conn = portal_warehouse.conn
    with TestClient(create_app(strict), follow_redirects=False) as c:
        for user in ("nobody1", "nobody2", "nobody3"):
            assert login(c, user, "guess").status_code == 401
        r = login(c, "audit1")  # a real account with its password, from that address
        assert r.status_code == 401 and "已暂时锁定" in r.text
    conn.execute("UPDATE portal.login_attempts SET at = at - interval '1 day' WHERE ip = 'testclient'")


def test_the_trail_is_readable_by_the_auditor_role_only(portal, portal_warehouse):
    from psycopg import errors, sql

    with psycopg.connect(**portal_warehouse.settings.warehouse.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT {} TO current_user").format(sql.Identifier("auditor")))
        conn.execute("SET ROLE auditor")
        try:
            actions = {a for (a,) in conn.execute("SELECT DISTINCT action FROM portal.events").fetchall()}
            assert {"login_ok", "upload", "forbidden", "download"} <= actions
            conn.execute("SELECT count(*) FROM portal.explanations")
            for table in ("users", "sessions", "login_attempts"):
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(f"SELECT * FROM portal.{table} LIMIT 1")
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("DELETE FROM portal.events")
        finally:
            conn.execute("RESET ROLE")
            conn.execute(sql.SQL("REVOKE {} FROM current_user").format(sql.Identifier("auditor")))


def test_openecon_portal_user_add(portal_warehouse):
    import subprocess
    import sys

    env = portal_warehouse.settings.child_env()
    proc = subprocess.run([sys.executable, "-m", "openecon.cli", "portal", "user", "add", "--login", "clerk_new",
                           "--role", "city_clerk", "--city", "431000"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    password = re.search(r"password \(shown once\): (\S+)", proc.stdout).group(1)
    from portal import accounts

    user = accounts.authenticate(portal_warehouse.conn, "clerk_new", password, None, portal_warehouse.settings)
    assert (user.role, user.city_code) == ("city_clerk", "431000")
    proc = subprocess.run([sys.executable, "-m", "openecon.cli", "portal", "user", "add", "--login", "prov2",
                           "--role", "province", "--password-stdin"], env=env, capture_output=True, text=True,
                          input="a-long-chosen-password\n")
    assert proc.returncode == 0 and "password" not in proc.stdout, proc.stdout
    accounts.authenticate(portal_warehouse.conn, "prov2", "a-long-chosen-password", None, portal_warehouse.settings)
    again = subprocess.run([sys.executable, "-m", "openecon.cli", "portal", "user", "add", "--login", "prov2",
                            "--role", "province"], env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "已存在" in again.stderr


def test_demo_accounts_are_made_once_and_kept_in_a_private_file(portal_warehouse):
    import json
    import stat

    from portal import accounts
    from portal.server import demo_accounts

    settings, conn = portal_warehouse.settings, portal_warehouse.conn
    existing = {login for (login,) in conn.execute("SELECT login FROM portal.users").fetchall()}
    path, created = demo_accounts(settings)
    demo = [login for login, _, _ in accounts.demo_accounts()]
    assert len(demo) == 16 and sorted(created) == sorted(set(demo) - existing)  # existing accounts are kept
    assert "clerk_431300" in created and stat.S_IMODE(path.stat().st_mode) == 0o600
    passwords = json.loads(path.read_text())
    user = accounts.authenticate(conn, "clerk_431300", passwords["clerk_431300"], None, settings)
    assert (user.role, user.city_code) == ("city_clerk", "431300")
    again_path, again = demo_accounts(settings)  # the demo run again: nothing new, the same passwords
    assert again_path == path and again == [] and json.loads(path.read_text()) == passwords
    # the session signing key, generated once beside it
    key = settings.portal_dir / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and accounts.secret_key(settings) == key.read_text().strip()


def test_the_live_status_agrees_with_the_mart_on_what_it_built(portal_warehouse):
    """portal.queries._live_status re-applies marts.submission_status's rule to audit between builds:
    on every cell whose files the mart saw (the same file in force, the same files received; the
    other tests' uploads and returns since are not), both give the same status, so the two cannot
    drift apart unseen."""
    from portal import queries

    conn, settings = portal_warehouse.conn, portal_warehouse.settings
    periods = ["2025-08", "2025-09"]
    mart = conn.execute("SELECT city_code, period, kind, status, in_force_file_id, files_received "
                        "FROM marts.submission_status WHERE period = ANY(%s)", [periods]).fetchall()
    cities = sorted({r[0] for r in mart})
    files = queries._files(conn, cities, periods)
    assert len(mart) == len(cities) * len(periods) * 2 and files
    compared = 0
    for city, period, kind, status, in_force, received in mart:
        fs = [f for f in files if (f["city_code"], f["period"], f["kind"]) == (city, period, kind)]
        live, f = queries._live_status(fs, queries.deadline(period, settings), False)
        if received == len(fs) and in_force == (f["file_id"] if f and live != "returned" else None):
            assert live == status, (city, period, kind, fs)
            compared += 1
    assert compared >= len(mart) - 4  # a few cells at most were changed by the other tests
