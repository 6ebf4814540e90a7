"""Airflow home and CLI calls, configured from core.settings."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from core.constants import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION, WAREHOUSE_POOL_SLOTS
from core.settings import Settings


def airflow(args: list[str], settings: Settings, check: bool = True) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("airflow")
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(exe), *args], env=settings.child_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed (exit {proc.returncode}):\n"
                           f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
    return proc


def migrate(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata database and the openecon pool (idempotent)."""
    airflow(["db", "migrate"], settings)
    airflow(["pools", "set", WAREHOUSE_POOL, str(WAREHOUSE_POOL_SLOTS), WAREHOUSE_POOL_DESCRIPTION], settings)


def dags_test(dag_id: str, settings: Settings, conf: dict | None = None,
              log_file: Path | None = None) -> subprocess.CompletedProcess:
    """Run one DAG for real, in one process, with `airflow dags test`."""
    args = ["dags", "test", dag_id]
    if conf:
        args += ["--conf", json.dumps(conf)]
    proc = airflow(args, settings, check=False)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(proc.stdout + "\n" + proc.stderr)
    return proc


def run_state(proc: subprocess.CompletedProcess) -> str | None:
    """Final DAG-run state printed by `airflow dags test` (None when it never finished)."""
    if proc.returncode != 0:
        return "failed"
    found = re.findall(r"DagRun Finished: .*?, state=(\w+)", proc.stdout + proc.stderr)
    return found[-1] if found else None


# --- `airflow standalone` (make airflow, the REST API e2e test) ----------------------

UI_USER = "admin"
DEFAULT_UI_PORT = 8080


def ui_port(environ: dict | None = None) -> int:

    return int((os.environ if environ is None else environ).get("OPENECON_AIRFLOW_PORT") or DEFAULT_UI_PORT)


def ui_password(settings: Settings) -> str:
    """The UI password of user ``admin``, generated once per state dir (mode 0600).

    It lives in the file Airflow's simple auth manager reads its passwords from
    (in the Airflow home, under the state dir), so standalone logs in with it and
    never invents another; no secret is ever in the repository.
    """

    path = settings.airflow_home / "simple_auth_manager_passwords.json.generated"
    passwords = {}
    if path.exists() and path.read_text().strip():
        passwords = json.loads(path.read_text())
    if UI_USER not in passwords:
        passwords[UI_USER] = secrets.token_urlsafe(18)
        settings.airflow_home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(passwords, fh)
    os.chmod(path, 0o600)
    return passwords[UI_USER]


def standalone_env(settings: Settings, port: int, extra: dict | None = None) -> dict[str, str]:
    """Environment of `airflow standalone`: our settings, LocalExecutor, the UI on 127.0.0.1:port."""
    env = settings.child_env()
    bindir = str(Path(sys.executable).parent)
    # standalone starts its components as plain `airflow ...`: they must be the venv's.
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # Task processes reach the execution API through the base URL: it must name our port.
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "GX_ANALYTICS_ENABLED": "False",
    })
    env.update(extra or {})
    return env


def start_standalone(settings: Settings, port: int, extra_env: dict | None = None,
                     stdout=None) -> subprocess.Popen:
    """Start `airflow standalone` in its own session, so stopping it can reach every child."""
    ui_password(settings)
    exe = Path(sys.executable).with_name("airflow")
    return subprocess.Popen([str(exe), "standalone"], env=standalone_env(settings, port, extra_env),
                            stdout=stdout, stderr=subprocess.STDOUT if stdout is not None else None,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # A parent started in the background ignores SIGINT and children inherit that;
    # standalone stops its components cleanly only on SIGINT (KeyboardInterrupt).

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def session_pids(sid: int) -> list[int]:
    """Live processes of a session (standalone and everything it started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid and "Z" not in _proc_state(entry):
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError, FileNotFoundError):
                pass
    return pids


def process_cmdline(pid: int) -> str:
    """A process's command line, for a report of what was still running."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _proc_state(entry: Path) -> str:
    try:
        return entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def stop_standalone(proc: subprocess.Popen, timeout: float = 30,
                    on_stragglers: Callable[[dict[int, str]], None] | None = None) -> list[int]:
    """Stop standalone as Ctrl-C would (it stops its components), then make sure.

    SIGINT first; whatever is left after `timeout` gets SIGTERM (each component shuts
    down gracefully on it), and SIGKILL 15 s later. Returns the processes that
    outlived the SIGINT, so a test can tell a clean stop from a forced one.
    """

    def wait_gone(seconds: float) -> list[int]:
        deadline = time.monotonic() + seconds
        while (left := session_pids(proc.pid)) and time.monotonic() < deadline:
            proc.poll()  # reap standalone itself, or it stays listed as a zombie
            time.sleep(0.3)
        return left

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    stragglers = wait_gone(timeout)
    if stragglers and on_stragglers is not None:
        on_stragglers({pid: process_cmdline(pid) for pid in stragglers})  # before they are killed
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        for pid in session_pids(proc.pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if not wait_gone(grace):
            break
    if proc.poll() is None:
        proc.wait(10)
    return stragglers


def wait_healthy(port: int, timeout: float = 180, proc: subprocess.Popen | None = None) -> dict:
    """Wait until the API server answers and scheduler, DAG processor and triggerer are healthy."""
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                health = json.loads(resp.read())
            last = health
            if all(health.get(c, {}).get("status") == "healthy"
                   for c in ("metadatabase", "scheduler", "dag_processor", "triggerer")):
                return health
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise TimeoutError(f"Airflow at {url} not healthy after {timeout:.0f}s: {last}")


def api_token(port: int, password: str) -> str:
    """A JWT for the REST API (/api/v2) of the local standalone."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/auth/token", method="POST",
                                 data=json.dumps({"username": UI_USER, "password": password}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["access_token"]


def unpause_project_dags(settings: Settings, port: int, password: str, timeout: float = 180) -> list[str]:
    """Unpause every DAG of dags/ once the DAG processor has registered them all.

    New DAGs start paused; a paused asset-scheduled DAG would silently not follow an
    ingest, which is the first thing a new user tries in the UI.
    """

    expected = {p.stem for p in settings.dags_dir.glob("*.py") if not p.name.startswith("_")}
    headers = {"Authorization": f"Bearer {api_token(port, password)}", "Content-Type": "application/json"}
    base = f"http://127.0.0.1:{port}/api/v2/dags"
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(urllib.request.Request(f"{base}?limit=1000", headers=headers), timeout=30) as r:
            dags = {d["dag_id"]: d for d in json.loads(r.read())["dags"]}
        if len(dags) >= len(expected) or time.monotonic() > deadline:
            break
        time.sleep(2)
    unpaused = []
    for dag_id, d in sorted(dags.items()):
        if d["is_paused"] and Path(d.get("fileloc") or "").parent == settings.dags_dir:
            req = urllib.request.Request(f"{base}/{dag_id}", method="PATCH", headers=headers,
                                         data=json.dumps({"is_paused": False}).encode())
            urllib.request.urlopen(req, timeout=30).close()
            unpaused.append(dag_id)
    return unpaused


def _say(msg: str) -> None:
    try:
        print(f"[airflow] {msg}", flush=True)
    except OSError:  # stdout closed: keep stopping cleanly
        pass


def _relay(stream, log_path: Path) -> None:
    with open(log_path, "ab") as log:
        for line in stream:
            log.write(line)
            log.flush()
            try:
                sys.stdout.buffer.write(line)
                sys.stdout.flush()
            except (OSError, ValueError):
                pass


def serve(settings: Settings, port: int) -> int:
    """`make airflow`: standalone in the foreground until Ctrl-C, then nothing left running."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(f"port {port} is in use; choose another with OPENECON_AIRFLOW_PORT=NNNN")
    password = ui_password(settings)
    url = f"http://127.0.0.1:{port}"
    banner = (f"\n  Airflow UI:  {url}\n  login:       {UI_USER} / {password}\n"
              f"  (password kept in {settings.airflow_home}/simple_auth_manager_passwords.json.generated)\n"
              f"  DAGs from {settings.dags_dir}; stop with Ctrl-C\n")
    _say(f"starting airflow standalone (LocalExecutor, metadata DB {settings.airflow_db.host}:"
         f"{settings.airflow_db.port}/{settings.airflow_db.dbname})" + banner)

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Ctrl-C / kill -INT must still stop us.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    log_path = settings.state_dir / "logs" / "standalone.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    migrate(settings)  # standalone migrates too, but the openecon pool is ours to create
    proc = start_standalone(settings, port, stdout=subprocess.PIPE)
    # Relay standalone's output ourselves: if our stdout goes away (a closed pipe or
    # terminal), standalone must not die of a broken pipe with its components left running.
    relay = threading.Thread(target=_relay, args=(proc.stdout, log_path), daemon=True)
    relay.start()
    try:
        wait_healthy(port, timeout=300, proc=proc)
        if os.environ.get("OPENECON_AIRFLOW_UNPAUSE", "1") != "0":
            done = unpause_project_dags(settings, port, password)
            _say(f"unpaused {len(done)} DAGs ({', '.join(done) or 'none paused'}); "
                 "OPENECON_AIRFLOW_UNPAUSE=0 keeps new DAGs paused")
        _say("ready" + banner + f"  log: {log_path}\n")
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C, or the terminal closing, must not cut the clean-up short.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        _say("stopping ... (the scheduler lets running tasks finish; up to a minute)")
        killed = stop_standalone(proc, timeout=60)
        _say(f"stopped{f' (forced {len(killed)} processes)' if killed else ''}; nothing left running")
    return 0
