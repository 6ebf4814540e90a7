"""Embedded Postgres: a private cluster in ``.openecon/pg`` on 127.0.0.1.

Only the Postgres binaries run as an unprivileged user when we are root
(``initdb`` refuses root); our own Python never changes user.  TCP only, no
unix socket, so there is no socket-path length limit to trip over.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from core.settings import AIRFLOW_DB, EMBEDDED_USER, REPRODUCE_DB, WAREHOUSE_DB, Settings

SUPERUSER = "postgres"
DATABASES = (WAREHOUSE_DB, AIRFLOW_DB, REPRODUCE_DB)  # what bootstrap() creates for the application role
FALLBACK_PG_USER = "openecon-pg"

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found.\n"
    "Install them, e.g. on Debian/Ubuntu:  apt-get install -y postgresql  "
    "(`make sysdeps` does this when run as root),\n"
    "or point OPENECON_PG_BIN at the folder holding initdb, "
    "or set OPENECON_DATABASE_URL to use an existing server."
)


class PostgresError(RuntimeError):
    pass


def find_bindir(settings: Settings) -> Path:
    candidates: list[Path] = []
    if settings.pg_bin:  # explicit choice: use it or say why not, never search elsewhere
        bindir = Path(settings.pg_bin)
        missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (bindir / b).exists()]
        if missing:
            raise PostgresError(f"OPENECON_PG_BIN={bindir} lacks {', '.join(missing)}.\n{INSTALL_HINT}")
        return bindir
    # Debian layout; newest major version first.
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(p) for p in versions]
    which = shutil.which("initdb")
    if which:
        candidates.append(Path(which).resolve().parent)
    for c in candidates:
        if all((c / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return c
    raise PostgresError(INSTALL_HINT)


def _pg_user() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None when not root."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, FALLBACK_PG_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_PG_USER],
        check=True,
    )
    return pwd.getpwnam(FALLBACK_PG_USER)


class EmbeddedPostgres:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.user = _pg_user()

    # --- paths -----------------------------------------------------------
    @property
    def root(self) -> Path:
        # Resolved: when .openecon/pg is a link to /var/lib/openecon, the server's
        # account must be given the real path, not one through a closed parent.
        return self.settings.pg_dir.resolve()

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def port(self) -> int:
        return self.settings.pg_port

    # --- running binaries ------------------------------------------------
    def _run(self, args: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
        bindir = find_bindir(self.settings)
        cmd = [str(bindir / args[0]), *args[1:]]
        extra = {}
        if self.user is not None:
            extra = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/", **extra, **kw)
        if check and proc.returncode != 0:
            raise PostgresError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def _prepare_root(self) -> None:
        """Create the cluster folder so the server's account can reach it."""
        link = self.settings.pg_dir
        if link.exists() or link.is_symlink():
            return
        link.parent.mkdir(parents=True, exist_ok=True)
        link.mkdir(mode=0o700)
        self._chown(link)
        if self.user is None or self._user_can_write(link):
            return
        # A parent (e.g. /root) is closed to the server's account.  Rather than
        # chmod the user's folders, keep the cluster under /var/lib and link it.
        link.rmdir()
        digest = hashlib.sha256(str(link).encode()).hexdigest()[:12]
        target = Path("/var/lib/openecon") / f"pg-{digest}"
        target.mkdir(parents=True, exist_ok=True)
        os.chmod(target.parent, 0o755)
        self._chown(target)
        os.chmod(target, 0o700)
        link.symlink_to(target, target_is_directory=True)

    def _user_can_write(self, path: Path) -> bool:
        proc = subprocess.run(
            ["test", "-w", str(path)], user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[]
        )
        return proc.returncode == 0

    # --- lifecycle -------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialized():
            return
        find_bindir(self.settings)  # fail early with the install hint
        self._prepare_root()
        password = self.settings.embedded_password()
        pwfile = self.root / ".initpw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        self._chown(pwfile)
        try:
            self._run([
                "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--pwfile", str(pwfile),
                "-E", "UTF8", "--no-locale", "--auth=scram-sha-256",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as fh:
            fh.write(
                "\n# openecon embedded cluster: loopback TCP only, no unix socket\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                "work_mem = 32MB\n"
                "maintenance_work_mem = 256MB\n"
                "max_wal_size = 2GB\n"
            )

    def running(self) -> bool:
        if not self.initialized():
            return False
        return self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False).returncode == 0

    def ready(self) -> bool:
        """Running and bootstrapped: the application role logs in with the current password and
        its databases exist. One connection, where the full start runs pg_ctl and connects twice
        as the superuser: it is what every command pays before its work (ingest start-up)."""
        if not self.initialized():
            return False
        try:
            with psycopg.connect(**self.settings.warehouse.conninfo(), connect_timeout=3) as conn:
                found = conn.execute("SELECT count(*) FROM pg_database WHERE datname = ANY(%s)",
                                     [list(DATABASES)]).fetchone()[0]
        except psycopg.OperationalError:
            return False
        return found == len(DATABASES)

    def start(self) -> None:
        if self.ready():
            return
        self.init()
        if not self.running():
            if _port_in_use(self.port):
                raise PostgresError(
                    f"Port {self.port} on 127.0.0.1 is taken by another program; "
                    "set OPENECON_PG_PORT to a free port."
                )
            self.log_file.touch(exist_ok=True)
            self._chown(self.log_file)
            self._run([
                "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir),
                "-l", str(self.log_file), "-o", f"-p {self.port}",
            ])
        self._wait_ready()
        self.bootstrap()

    def stop(self) -> None:
        if self.running():
            self._run(["pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir)])

    def remove(self) -> None:
        """Stop the server and delete the cluster (and its relocated folder, if any)."""
        self.stop()
        real = self.root
        if self.settings.pg_dir.is_symlink():
            self.settings.pg_dir.unlink()
        shutil.rmtree(real, ignore_errors=True)

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(**self._super_conninfo(), connect_timeout=3):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _super_conninfo(self) -> dict:
        return dict(
            host="127.0.0.1", port=self.port, user=SUPERUSER,
            password=self.settings.embedded_password(), dbname="postgres",
        )

    def bootstrap(self) -> None:
        """The application role (not a superuser) and its two databases, idempotently."""
        password = self.settings.embedded_password()
        with psycopg.connect(**self._super_conninfo(), autocommit=True) as conn:
            # Two commands starting at once (two ingests) would collide on ALTER ROLE
            # ("tuple concurrently updated"): one bootstrap at a time per cluster.
            conn.execute("SELECT pg_advisory_lock(hashtext('openecon.bootstrap'))")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [EMBEDDED_USER]).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN NOSUPERUSER CREATEROLE PASSWORD {}").format(
                    sql.SQL(verb), sql.Identifier(EMBEDDED_USER), sql.Literal(password)
                )
            )
            for db in DATABASES:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone():
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(db), sql.Identifier(EMBEDDED_USER)
                        )
                    )

    def status_text(self) -> str:
        if not self.initialized():
            return f"embedded Postgres: not initialised ({self.data_dir})"
        state = "running" if self.running() else "stopped"
        return f"embedded Postgres: {state} on 127.0.0.1:{self.port}, data in {self.data_dir}"


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_external_databases(settings: Settings) -> None:
    """On an external server, create the warehouse and airflow databases when missing.

    Needs CREATEDB on that server; otherwise says exactly what to create.
    """
    w = settings.warehouse
    wanted = [w.dbname, AIRFLOW_DB]
    try:
        conn = psycopg.connect(**w.conninfo("postgres"), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError:
        conn = psycopg.connect(**w.conninfo(), autocommit=True, connect_timeout=10)
    with conn:
        for db in wanted:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone():
                continue
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
            except psycopg.Error as exc:
                raise PostgresError(
                    f"Database {db!r} does not exist on {w.host}:{w.port} and could not be created "
                    f"as {w.user!r} ({exc}). Create it, owned by {w.user!r}, and try again."
                ) from exc


def ensure_database(settings: Settings) -> None:
    """Make the configured server usable: start the embedded one, or check the external one."""
    if settings.embedded:
        EmbeddedPostgres(settings).start()
    else:
        ensure_external_databases(settings)
