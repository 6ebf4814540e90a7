"""The one place where every connection setting is derived.

Everything (dbt profile, Airflow metadata DB and warehouse connection, GX
datasource, our own loaders) reads the database from here.  The only input is
``OPENECON_DATABASE_URL``; without it we use the embedded cluster whose
password is generated on first use and kept outside the repository.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from core.constants import PROVINCE_CODE, TIMEZONE

PROJECT_ROOT = Path(__file__).resolve().parent.parent

EMBEDDED_USER = "openecon"
EMBEDDED_PORT = 54329
WAREHOUSE_DB = "warehouse"
AIRFLOW_DB = "airflow"
# `openecon reproduce` rebuilds a published version in a scratch database of its own beside the warehouse
REPRODUCE_DB = WAREHOUSE_DB + "_reproduce"
WAREHOUSE_CONN_ID = "openecon_warehouse"
# Every session on the warehouse runs without JIT compilation. The build's, the gate's and BI's
# queries run for milliseconds to seconds, and Postgres compiled them for seconds wherever the
# planner's estimates of a CTE were high (performance_appraisal 3.1 s of JIT for 0.05 s of work).
SESSION_OPTIONS = "-c jit=off"


@dataclass(frozen=True)
class DbParams:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    def url(self, driver: str = "postgresql", dbname: str | None = None) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"{driver}://{auth}@{self.host}:{self.port}/{dbname or self.dbname}"

    def session_url(self, driver: str, options: str = "") -> str:
        """A SQLAlchemy URL whose sessions carry SESSION_OPTIONS, as conninfo()'s do, and ``options``
        (more ``-c name=value``)."""
        return f"{self.url(driver)}?options={quote(f'{SESSION_OPTIONS} {options}'.strip(), safe='')}"

    def conninfo(self, dbname: str | None = None) -> dict:
        """Keyword arguments for psycopg.connect."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": dbname or self.dbname,
            "options": SESSION_OPTIONS,
        }


def parse_url(url: str) -> DbParams:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"OPENECON_DATABASE_URL must be a postgresql:// URL, got {parts.scheme!r}")
    return DbParams(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=(parts.path or "/").lstrip("/") or WAREHOUSE_DB,
    )


class Settings:
    """Derived configuration.  Cheap to build; reads the environment once."""

    def __init__(self, environ: dict | None = None):
        env = os.environ if environ is None else environ
        self.external_url: str | None = env.get("OPENECON_DATABASE_URL") or None
        self.state_dir = Path(env.get("OPENECON_STATE_DIR") or PROJECT_ROOT / ".openecon").resolve()
        self.output_dir = Path(env.get("OPENECON_OUTPUT_DIR") or PROJECT_ROOT / "output").resolve()
        self.pg_port = int(env.get("OPENECON_PG_PORT") or EMBEDDED_PORT)
        self.pg_bin = env.get("OPENECON_PG_BIN") or None
        self._inbox = env.get("OPENECON_INBOX_DIR") or None
        # Intake limits (README "Intake limits"): checked before a file is parsed, so no file,
        # hostile or not, can exhaust memory or time; exceeding one rejects the whole file.
        num = lambda name, default: float(env.get(f"OPENECON_{name}") or default)  # noqa: E731
        self.max_file_mb = num("MAX_FILE_MB", 512)  # bytes on disk, any kind
        self.max_bad_row_share = num("MAX_BAD_ROW_SHARE", 0.2)  # more bad rows reject the file
        self.max_unzipped_mb = num("MAX_UNZIPPED_MB", 256)  # a workbook's entries, uncompressed
        self.max_zip_entries = int(num("MAX_ZIP_ENTRIES", 500))
        self.max_sheets = int(num("MAX_SHEETS", 20))
        self.max_sheet_rows = int(num("MAX_SHEET_ROWS", 200_000))
        self.max_sheet_cols = int(num("MAX_SHEET_COLS", 100))
        self.max_csv_line_kb = num("MAX_CSV_LINE_KB", 1024)  # one CSV record, in bytes
        # A correction keeping fewer than this share of the rows it replaces is refused
        # unless ingested with --allow-shrink.
        self.min_superseding_share = num("MIN_SUPERSEDING_SHARE", 0.5)
        # The documents' 版头 (GB/T 9704): the issuing organ and each kind's 发文字号, a pattern
        # with {year}, {quarter}, {month} (README "The documents as sent").
        self.doc_issuer = env.get("OPENECON_DOC_ISSUER") or "湖南省商务厅"
        self.doc_numbers = {"quarterly": env.get("OPENECON_DOCNO_QUARTERLY") or "湘商通〔{year}〕{quarter}号",
                            "appraisal": env.get("OPENECON_DOCNO_APPRAISAL") or "湘商考〔{year}〕{quarter}号",
                            "monthly": env.get("OPENECON_DOCNO_MONTHLY") or "湘商调〔{year}〕{month}号"}
        # Read-only group roles (SPEC §4); dbt reads the same names (dbt_project.yml vars).
        self.bi_reader_role = env.get("OPENECON_BI_READER_ROLE") or "bi_reader"
        self.auditor_role = env.get("OPENECON_AUDITOR_ROLE") or "auditor"
        # The day of the following month a month's files are due (marts.submission_status reads
        # the same variable through dbt).
        self.submission_deadline_day = int(env.get("OPENECON_SUBMISSION_DEADLINE_DAY") or 10)
        # The cities' portal (`openecon portal`, README "The cities' portal").
        flag = lambda name, default: (env.get(f"OPENECON_{name}") or default).lower() not in ("0", "false", "no")  # noqa: E731
        self.portal_secure_cookie = flag("PORTAL_SECURE_COOKIE", "1")  # off only for plain-http tests
        self.portal_secret_key = env.get("OPENECON_PORTAL_SECRET_KEY") or None  # else generated, 0600
        self.portal_session_hours = num("PORTAL_SESSION_HOURS", 8)  # idle time after which a session ends
        self.portal_max_failures = int(num("PORTAL_MAX_FAILURES", 5))  # failed logins in a row lock the account
        self.portal_lockout_minutes = num("PORTAL_LOCKOUT_MINUTES", 15)
        self.portal_ip_max_failures = int(num("PORTAL_IP_MAX_FAILURES", 30))  # per address, per lock-out window
        # An upload's receipt is awaited this long in the request; longer ingests (large trade
        # CSVs) go on in the background and the page polls their progress.
        self.portal_inline_seconds = num("PORTAL_INLINE_SECONDS", 5)
        # Airflow's REST API, for the portal to publish openecon_raw_submissions after an upload
        # (unset: the DAG submissions_watch publishes it on its schedule).
        self.airflow_api_url = (env.get("OPENECON_AIRFLOW_API_URL") or "").rstrip("/") or None
        self.airflow_api_user = env.get("OPENECON_AIRFLOW_API_USER") or "admin"
        self.airflow_api_password = env.get("OPENECON_AIRFLOW_API_PASSWORD") or None

    # --- locations -------------------------------------------------------
    @property
    def embedded(self) -> bool:
        return self.external_url is None

    @property
    def pg_dir(self) -> Path:
        return self.state_dir / "pg"

    @property
    def airflow_home(self) -> Path:
        return self.state_dir / "airflow"

    @property
    def gx_dir(self) -> Path:
        return self.state_dir / "gx"

    @property
    def archive_dir(self) -> Path:
        """Content-addressed copies of every received file."""
        return self.state_dir / "archive"

    @property
    def inbox_dir(self) -> Path:
        """Drop folder with one sub-folder per city code (OPENECON_INBOX_DIR)."""
        return Path(self._inbox).resolve() if self._inbox else self.state_dir / "inbox"

    @property
    def receipts_dir(self) -> Path:
        """Receipts as text files, one folder per city, for the clerks to fetch."""
        return self.output_dir / "receipts"

    def receipt_path(self, city_code: str | None, file_name: str, file_id: int) -> Path:
        """The receipt text file of one received file (one folder per city; 'unknown' when the
        name carried no city)."""
        return self.receipts_dir / (city_code or "unknown") / f"{file_name}.{file_id}.receipt.txt"

    @property
    def portal_dir(self) -> Path:
        """The portal's own files: uploads being ingested, the session signing key, demo passwords."""
        return self.state_dir / "portal"

    @property
    def data_docs_dir(self) -> Path:
        return self.output_dir / "data_docs"

    @property
    def dbt_project_dir(self) -> Path:
        return PROJECT_ROOT / "dbt_project"

    @property
    def dbt_target_dir(self) -> Path:
        return self.state_dir / "dbt" / "target"

    @property
    def dags_dir(self) -> Path:
        return PROJECT_ROOT / "dags"

    # --- credentials -----------------------------------------------------
    @property
    def secret_file(self) -> Path:
        return self.state_dir / "pg.secret"

    def embedded_password(self) -> str:
        """Generated once per state dir, mode 0600, never in the repository."""
        if self.secret_file.exists():
            return self.secret_file.read_text().strip()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        return password

    # --- databases -------------------------------------------------------
    @cached_property
    def warehouse(self) -> DbParams:
        if self.external_url:
            return parse_url(self.external_url)
        return DbParams("127.0.0.1", self.pg_port, EMBEDDED_USER, self.embedded_password(), WAREHOUSE_DB)

    @property
    def airflow_db(self) -> DbParams:
        """Airflow metadata lives on the same server, database ``airflow``."""
        w = self.warehouse
        return DbParams(w.host, w.port, w.user, w.password, AIRFLOW_DB)

    @property
    def warehouse_sqlalchemy_url(self) -> str:
        return self.warehouse.url("postgresql+psycopg")

    # --- derived environments ------------------------------------------
    def dbt_env(self) -> dict[str, str]:
        """Variables read by dbt_project/profiles.yml (no credentials in the repo)."""
        w = self.warehouse
        return {
            "OPENECON_DB_HOST": w.host,
            "OPENECON_DB_PORT": str(w.port),
            "OPENECON_DB_USER": w.user,
            "OPENECON_DB_PASSWORD": w.password,
            "OPENECON_DB_NAME": w.dbname,
            "PGOPTIONS": SESSION_OPTIONS,  # libpq's, read by dbt's connections
            "DBT_PROFILES_DIR": str(self.dbt_project_dir),
            "DBT_PROJECT_DIR": str(self.dbt_project_dir),
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DBT_LOG_PATH": str(self.state_dir / "dbt" / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "OPENECON_BI_READER_ROLE": self.bi_reader_role,
            "OPENECON_AUDITOR_ROLE": self.auditor_role,
            "OPENECON_PROVINCE_CODE": PROVINCE_CODE,
            "OPENECON_TIMEZONE": TIMEZONE,
        }

    def airflow_env(self) -> dict[str, str]:
        """Airflow configuration as environment variables (AIRFLOW__SECTION__KEY)."""
        env = {
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_dir),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # LocalExecutor forks this many workers at once (default 32); the warehouse pool has
            # 2 slots and the report DAGs a task or two each, so 8 leaves room without 30 idle
            # processes that a stop has to wind down.
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_db.url("postgresql+psycopg2"),
            "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": self.warehouse.url("postgresql"),
            # astronomer-cosmos is installed (benchmarks): no telemetry, its cache under the state dir.
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(self.state_dir / "cosmos"),
        }
        return env

    def child_env(self) -> dict[str, str]:
        """Full environment for subprocesses (airflow, dbt)."""
        env = dict(os.environ)
        env.update(self.airflow_env())
        env.update(self.dbt_env())
        env["OPENECON_STATE_DIR"] = str(self.state_dir)
        env["OPENECON_OUTPUT_DIR"] = str(self.output_dir)
        env["OPENECON_PG_PORT"] = str(self.pg_port)
        return env


def get_settings() -> Settings:
    return Settings()
