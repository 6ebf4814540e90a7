"""The portal's web application (FastAPI, server-rendered Jinja2 pages in Chinese).

Every route but the few in ``PUBLIC_PATHS`` is on the protected router, whose dependencies
authenticate the session cookie and check the CSRF token of every unsafe request; each route
then checks the city it touches (``_city``, ``_file``, ``_job``) or the role it needs
(``_role``). tests/portal/test_routes.py enumerates the routes and fails on one that lets an
anonymous user, another city's clerk or the wrong role through.
"""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core import reference
from core.periods import PERIOD_RE, previous_month, shift
from core.settings import Settings, get_settings
from flows.warehouse import prepare
from ingestion.contract import sheets_of_kind
from ingestion.load import Receipt
from ingestion.template import csv_name, workbook_name, write_templates
from portal import accounts, events, queries, schema, uploads
from portal.accounts import Session, User

HERE = Path(__file__).parent
COOKIE = "openecon_portal"
LOGIN_COOKIE = "openecon_portal_login"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Reachable without a session (tests/portal/test_routes.py asserts this set is exact).
PUBLIC_PATHS = {"/login", "/healthz", "/static"}
# Published folders of output/ the province and auditors may open through the portal.
DOCUMENT_FOLDERS = ("bulletins", "data_docs", "audit")
GRID_MONTHS = 6

ENV = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html", "j2"]))
ENV.globals.update(city_name=queries.city_name, local=queries.local, how_to_fix=queries.how_to_fix,
                   KIND_ZH=queries.KIND_ZH, STATUS_ZH=queries.STATUS_ZH, RECEIPT_STATUS_ZH=queries.RECEIPT_STATUS_ZH,
                   ROLE_ZH={"city_clerk": "市州填报员", "province": "省级管理员", "auditor": "审计员"},
                   ACTION_ZH=schema.ACTION_ZH)
ENV.filters["detail"] = lambda d: "；".join(f"{k}: {v}" for k, v in (d or {}).items() if v not in (None, ""))


class NotLoggedIn(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, message: str = "无权访问该页面或文件"):
        super().__init__(message)


# --- plumbing ---------------------------------------------------------------------------------

def _settings(request: Request) -> Settings:
    return request.app.state.settings


def db(request: Request):
    with psycopg.connect(**_settings(request).warehouse.conninfo(), autocommit=True) as conn:
        yield conn


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def authenticate(request: Request, conn=Depends(db)) -> Session:
    """The session of the request's cookie, or NotLoggedIn."""
    settings = _settings(request)
    sid = accounts.unsign(accounts.signer(settings, "session"), request.cookies.get(COOKIE))
    session = accounts.load_session(conn, sid, settings) if sid else None
    if session is None:
        raise NotLoggedIn()
    request.state.session = session
    return session


async def csrf(request: Request, session: Session = Depends(authenticate), conn=Depends(db)) -> None:
    """Every unsafe request carries the session's CSRF token: a form field or X-CSRF-Token."""
    if request.method in SAFE_METHODS:
        return
    token = request.headers.get("x-csrf-token")
    if token is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        token = (await request.form()).get("csrf_token")
    if not accounts.csrf_ok(session, token if isinstance(token, str) else None):
        events.record(conn, "forbidden", user=session.user, ip=_ip(request), path=request.url.path, what="csrf")
        raise Forbidden("请求已过期或来源无效（CSRF校验失败），请刷新页面后重试")


def render(request: Request, template: str, status_code: int = 200, **ctx) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    html = ENV.get_template(template).render(request=request, session=session,
                                             user=session.user if session else None, **ctx)
    return HTMLResponse(html, status_code=status_code)


def _forbid(request: Request, conn, what: str, **detail) -> Forbidden:
    session: Session = request.state.session
    events.record(conn, "forbidden", user=session.user, ip=_ip(request), path=request.url.path, what=what, **detail)
    return Forbidden()


def _city(request: Request, conn, city: str) -> str:
    """The city of a route: one of the province's, and the clerk's own."""
    user: User = request.state.session.user
    if city not in reference.cities():
        raise _forbid(request, conn, "unknown city", city=city)
    if not user.may_read_city(city):
        raise _forbid(request, conn, "another city", city=city)
    return city


def _role(request: Request, conn, *roles: str) -> User:
    user: User = request.state.session.user
    if user.role not in roles:
        raise _forbid(request, conn, "role", needs=list(roles))
    return user


def _file(request: Request, conn, city: str, file_id: int) -> dict:
    """A file of the route's city that the user may read (403 for another city's file)."""
    _city(request, conn, city)
    f = queries.file_detail(conn, file_id)
    if f is None or f["city_code"] != city:
        # a clerk asking for any file not of their city learns nothing, not even whether it exists
        raise _forbid(request, conn, "file of another city", file_id=file_id)
    return f


def _job(request: Request, conn, city: str, job_id: str) -> dict:
    _city(request, conn, city)
    j = uploads.job(conn, job_id)
    if j is None or j["city_code"] != city:
        raise _forbid(request, conn, "job of another city", job=job_id)
    return j


def _period(value: str | None) -> str:
    return value if value and PERIOD_RE.match(value) else previous_month(queries.today())


# --- the application --------------------------------------------------------------------------

def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        prepare(settings)
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
            schema.migrate(conn, settings)
            uploads.abandon_stale_jobs(conn)
        accounts.secret_key(settings)
        app.state.worker = uploads.Worker(settings)
        yield
        app.state.worker.shutdown()

    app = FastAPI(title="openecon portal", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/documents/"):  # the published documents carry inline styles
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Content-Security-Policy",
                                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                        "form-action 'self'; base-uri 'none'")
            if request.url.path != "/static" and not request.url.path.startswith("/static/"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn):
        if request.method in SAFE_METHODS:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return PlainTextResponse("请先登录 / login required", status_code=401)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        if request.headers.get("accept", "").startswith("application/json") or \
                request.url.path.endswith(("/upload",)) or "/jobs/" in request.url.path:
            return JSONResponse({"error": str(exc)}, status_code=403)
        return render(request, "error.html.j2", status_code=403, title="无权访问", message=str(exc))

    _public_routes(app, settings)
    app.include_router(_protected_router(settings))
    return app


def _public_routes(app: FastAPI, settings: Settings) -> None:
    login_signer = accounts.signer(settings, "login")

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    @app.get("/login")
    def login_page(request: Request, next: str = "/"):
        token = secrets.token_urlsafe(24)
        response = render(request, "login.html.j2", csrf_token=token, next=_safe_next(next), error=None)
        _login_cookie(response, login_signer.sign(token).decode(), settings)
        return response

    @app.post("/login")
    def login(request: Request, login: str = Form(""), password: str = Form(""), csrf_token: str = Form(""),
              next: str = Form("/"), conn=Depends(db)):
        expected = accounts.unsign(login_signer, request.cookies.get(LOGIN_COOKIE))
        if not expected or not secrets.compare_digest(expected, csrf_token):
            return _login_again(request, settings, login_signer, next, "页面已过期，请重新登录", 403)
        try:
            user = accounts.authenticate(conn, login, password, _ip(request), settings)
        except accounts.LoginRefused as exc:
            return _login_again(request, settings, login_signer, next, str(exc), 401)
        sid, session = accounts.create_session(conn, user, _ip(request), request.headers.get("user-agent"))
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(COOKIE, accounts.signer(settings, "session").sign(sid).decode(), httponly=True,
                            secure=settings.portal_secure_cookie, samesite="lax", path="/")
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response


def _login_cookie(response: Response, value: str, settings: Settings) -> None:
    response.set_cookie(LOGIN_COOKIE, value, httponly=True, secure=settings.portal_secure_cookie, samesite="lax",
                        path="/login", max_age=3600)


def _login_again(request, settings, login_signer, next_, error: str, status: int) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html.j2", status_code=status, csrf_token=token, next=_safe_next(next_),
                      error=error)
    _login_cookie(response, login_signer.sign(token).decode(), settings)
    return response


def _safe_next(value: str | None) -> str:
    """Only a path of this site (no scheme, no //host): login never redirects elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _protected_router(settings: Settings) -> APIRouter:
    r = APIRouter(dependencies=[Depends(authenticate), Depends(csrf)])

    @r.get("/")
    def home(request: Request):
        user: User = request.state.session.user
        return RedirectResponse(f"/city/{user.city_code}" if user.is_clerk else "/province", status_code=303)

    @r.post("/logout")
    def logout(request: Request, conn=Depends(db)):
        session: Session = request.state.session
        accounts.end_session(conn, session)
        events.record(conn, "logout", user=session.user, ip=_ip(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # --- a city's pages --------------------------------------------------------------------
    @r.get("/city/{city}")
    def checklist(request: Request, city: str, period: str | None = None, conn=Depends(db)):
        _city(request, conn, city)
        period = _period(period)
        cells = queries.cells(conn, [city], [period], settings)
        recent = [shift(period, -i) for i in range(1, 7)]
        recent_cells = queries.cells(conn, [city], recent, settings)
        start = max([previous_month(queries.today()), *queries.months_with_data(conn, city)[:1]])
        choices = sorted({period, *(shift(start, -i) for i in range(36))}, reverse=True)
        return render(request, "checklist.html.j2", city=city, period=period, choices=choices,
                      deadline_passed=queries.deadline(period, settings) < queries.today(),
                      items=[(d, cells[(city, period, d["kind"])]) for d in queries.due_items(city, period)],
                      deadline=queries.deadline(period, settings),
                      countdown=queries.countdown(queries.deadline(period, settings)),
                      recent=[(p, [recent_cells[(city, p, k)] for k in queries.KINDS]) for p in recent],
                      prev=shift(period, -1), next=shift(period, 1))

    @r.get("/city/{city}/upload")
    def upload_page(request: Request, city: str, conn=Depends(db)):
        _city(request, conn, city)
        user = _role(request, conn, "city_clerk")
        return render(request, "upload.html.j2", city=city, max_mb=settings.max_file_mb,
                      example=queries.due_items(city, previous_month(queries.today())), login=user.login)

    @r.post("/city/{city}/upload")
    async def upload(request: Request, city: str, name: str = ""):
        session: Session = request.state.session
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
            _city(request, conn, city)
            _role(request, conn, "city_clerk")
            try:
                target = uploads.check_name(name, session.user)
                declared = request.headers.get("content-length")
                limit = uploads.limit_bytes(settings)
                if declared and declared.isdigit() and int(declared) > limit:
                    raise uploads.UploadRefused(413, uploads.too_large_message(settings))
            except uploads.UploadRefused as exc:
                events.record(conn, exc.action, user=session.user, ip=_ip(request), file=name[:200],
                              reason=str(exc), status=exc.status)
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
        folder = uploads.new_upload_dir(settings)
        path = folder / target.canonical_name
        try:
            size = await uploads.receive(request.stream(), path, limit)
        except uploads.UploadRefused as exc:
            folder.rmdir()
            message = str(exc) or uploads.too_large_message(settings)
            with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
                events.record(conn, "upload_refused", user=session.user, ip=_ip(request), file=name[:200],
                              reason=message, status=exc.status)
            return JSONResponse({"error": message}, status_code=exc.status)
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
            job_id = uploads.create_job(conn, session.user, target, size)
        future = request.app.state.worker.submit(job_id, path, session.user, _ip(request))
        # Small files answer with their receipt; a large one goes on in the background (polled).
        await asyncio.wait({asyncio.wrap_future(future)}, timeout=settings.portal_inline_seconds)
        with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as conn:
            return JSONResponse(_job_json(request, conn, city, uploads.job(conn, job_id)), status_code=202)

    @r.get("/city/{city}/jobs/{job_id}")
    def job_status(request: Request, city: str, job_id: str, conn=Depends(db)):
        return _job_json(request, conn, city, _job(request, conn, city, job_id))

    @r.get("/city/{city}/templates/{kind}")
    def template(request: Request, city: str, kind: str, conn=Depends(db)):
        _city(request, conn, city)
        if kind not in queries.KINDS:
            return PlainTextResponse("没有这种模板", status_code=404)
        folder = settings.portal_dir / "templates" / city
        name = workbook_name(city) if kind == "workbook" else csv_name(sheets_of_kind(kind)[0], city)
        if not (folder / name).exists():  # generated by the product's template code, once per city
            with tempfile.TemporaryDirectory(dir=settings.portal_dir) as tmp:
                write_templates(Path(tmp), city)
                folder.mkdir(parents=True, exist_ok=True)
                for p in Path(tmp).iterdir():
                    p.replace(folder / p.name)
        events.record(conn, "download", user=request.state.session.user, city_code=city, ip=_ip(request),
                      what="template", file=name)
        return FileResponse(folder / name, filename=name,
                            media_type=mimetypes.guess_type(name)[0] or "application/octet-stream")

    @r.get("/city/{city}/history")
    def history(request: Request, city: str, conn=Depends(db)):
        _city(request, conn, city)
        return render(request, "history.html.j2", city=city, rows=queries.history(conn, city))

    @r.get("/city/{city}/files/{file_id}")
    def file_page(request: Request, city: str, file_id: int, notice: str | None = None, conn=Depends(db)):
        f = _file(request, conn, city, file_id)
        return render(request, "file.html.j2", city=city, f=f, notice=notice, error=None)

    @r.get("/city/{city}/files/{file_id}/receipt.txt")
    def receipt_text(request: Request, city: str, file_id: int, conn=Depends(db)):
        f = _file(request, conn, city, file_id)
        path = settings.receipt_path(f["city_code"], f["file_name"], file_id)
        text = path.read_text("utf-8") if path.exists() else Receipt.from_json(f["receipt"]).text() + "\n"
        events.record(conn, "download", user=request.state.session.user, city_code=city, file_id=file_id,
                      ip=_ip(request), what="receipt")
        return Response(text, media_type="text/plain; charset=utf-8", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(path.name)}"})

    @r.post("/city/{city}/files/{file_id}/explanations")
    def explain(request: Request, city: str, file_id: int, rule: str = Form(""), text: str = Form(""),
                sheet: str = Form(""), row_number: str = Form(""), column_name: str = Form(""), conn=Depends(db)):
        f = _file(request, conn, city, file_id)
        user = _role(request, conn, "city_clerk")
        text = text.strip()
        key = (sheet or None, int(row_number) if row_number.isdigit() else None, column_name or None)
        if not queries.warning_exists(conn, file_id, *key, rule):
            return render(request, "file.html.j2", status_code=400, city=city, f=f, notice=None,
                          error="没有这条警告，无法保存说明")
        if not 1 <= len(text) <= 2000:
            return render(request, "file.html.j2", status_code=400, city=city, f=f, notice=None,
                          error="上报说明不能为空，且不超过2000字")
        conn.execute("""INSERT INTO portal.explanations (file_id, sheet, row_number, column_name, rule, text, by_login)
                        VALUES (%s, %s, %s, %s, %s, %s, %s)""", [file_id, *key, rule, text, user.login])
        events.record(conn, "explanation", user=user, file_id=file_id, ip=_ip(request), sheet=key[0], row=key[1],
                      column=key[2], rule=rule, text=text)
        return RedirectResponse(f"/city/{city}/files/{file_id}?notice=explained", status_code=303)

    @r.post("/city/{city}/files/{file_id}/return")
    def return_(request: Request, city: str, file_id: int, reason: str = Form(""), conn=Depends(db)):
        from ingestion.returns import return_file

        f = _file(request, conn, city, file_id)
        user = _role(request, conn, "province")
        try:
            return_file(conn, file_id, returned_by=user.login, reason=reason, settings=settings)
        except ValueError as exc:
            events.record(conn, "return_refused", user=user, city_code=city, file_id=file_id, ip=_ip(request),
                          reason=reason, error=str(exc))
            return render(request, "file.html.j2", status_code=400, city=city, f=f, notice=None, error=str(exc))
        events.record(conn, "return", user=user, city_code=city, file_id=file_id, ip=_ip(request), reason=reason)
        uploads.publish(conn, settings, user, Receipt(file=f["file_name"], status="returned", file_id=file_id))
        return RedirectResponse(f"/city/{city}/files/{file_id}?notice=returned", status_code=303)

    # --- the province ----------------------------------------------------------------------
    @r.get("/province")
    def grid(request: Request, to: str | None = None, conn=Depends(db)):
        _role(request, conn, "province", "auditor")
        latest = queries.months_with_data(conn)
        last = to if to and PERIOD_RE.match(to) else (latest[0] if latest else previous_month(queries.today()))
        periods = [shift(last, -i) for i in range(GRID_MONTHS - 1, -1, -1)]
        cities = list(reference.cities())
        return render(request, "grid.html.j2", periods=periods, cities=cities,
                      cells=queries.cells(conn, cities, periods, settings), last=last,
                      prev=shift(last, -GRID_MONTHS), next=shift(last, GRID_MONTHS))

    @r.get("/province/documents")
    def documents(request: Request, conn=Depends(db)):
        _role(request, conn, "province", "auditor")
        runs, why = queries.dag_runs(settings)
        return render(request, "documents.html.j2", docs=queries.documents(conn, settings), runs=runs,
                      runs_unavailable=why, api=bool(settings.airflow_api_url))

    @r.get("/documents/{path:path}")
    def document(request: Request, path: str, conn=Depends(db)):
        _role(request, conn, "province", "auditor")
        root = settings.output_dir.resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root) or target.relative_to(root).parts[:1] not in \
                [(f,) for f in DOCUMENT_FOLDERS] or not target.is_file():
            return PlainTextResponse("没有这个文件", status_code=404)
        if target.suffix != ".html":  # page views of the documents' trace folders are not worth a row each
            events.record(conn, "download", user=request.state.session.user, ip=_ip(request), what="document",
                          file=str(target.relative_to(root)))
        return FileResponse(target)

    @r.get("/events")
    def trail(request: Request, conn=Depends(db)):
        _role(request, conn, "auditor", "province")
        return render(request, "events.html.j2", rows=queries.trail(conn))

    return r


def _job_json(request: Request, conn, city: str, j: dict) -> dict:
    out = {"job": j["id"], "status": j["status"], "file": j["file_name"], "size": j["size_bytes"],
           "bytes_processed": j["bytes_processed"], "rows_processed": j["rows_processed"], "error": None}
    if j["status"] == "failed":
        out["error"] = "系统处理该文件时出错，文件未入库；请稍后重新上传，如仍失败请联系省商务厅"
    if j["status"] == "done" and j["file_id"] is not None:
        f = queries.file_detail(conn, j["file_id"])
        out["file_id"] = f["file_id"]
        out["receipt_status"] = f["receipt_status"]
        out["file_url"] = f"/city/{city}/files/{f['file_id']}"
        out["receipt_html"] = ENV.get_template("_receipt.html.j2").render(
            f=f, city=city, user=request.state.session.user, session=request.state.session, compact=True)
    return out
