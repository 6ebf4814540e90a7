"""Faults during ingestion, against a real Postgres and the real ``openecon ingest`` CLI.

Each test injects one fault and then checks the warehouse with one helper,
:func:`check_consistency`: rows in ``raw.trade`` per file id against the audit rows,
the statuses, the files in force, and the receipt files on disk against the audit rows.

1. the ingest process is killed (SIGKILL) while its COPY runs; and, held at its COMMIT by a
   deferred trigger, an ingest has written no receipt file yet;
2. two ingests of the same city-period run at once (the same bytes; two different files),
   made to collide inside their transactions by a gate on audit.submissions;
3. Postgres restarts while the COPY runs (on a cluster of the test's own), and again while the
   retry's COPY runs.

The big trade CSV (COPY of a few seconds) is written once per module and shared.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from core.settings import Settings
from ingestion.load import sha256_of
from tests.workbooks import trade_row, write_trade

CITY = "430100"
NAME = f"trade_{CITY}_202509.csv"  # one city, period and kind for every file here
BLOCK = 1000  # distinct rows, repeated
BIG_ROWS = 750_000  # COPY of ~2-3 s on 2 cores
CLI_TIMEOUT = 120


# --- the files ---------------------------------------------------------------

@dataclass(frozen=True)
class Submitted:
    path: Path
    rows: int  # data lines written: what raw must hold once the file is loaded
    sha256: str


def _big_trade(path: Path, first: int, rows: int) -> Submitted:
    """A valid trade CSV of ``rows`` data lines: a block written by write_trade, repeated."""
    block = write_trade(path.with_suffix(".block"), [trade_row(first + i) for i in range(BLOCK)])
    header, body = block.read_bytes().split(b"\n", 1)  # csv.writer ends lines with \r\n
    assert body.count(b"\n") == BLOCK
    block.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(header + b"\n")
        for _ in range(rows // BLOCK):
            fh.write(body)
    written = (rows // BLOCK) * BLOCK
    return Submitted(path, written, sha256_of(path))


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict[str, Submitted]:
    """Two big files of the same city, period and kind (same name, different bytes)."""
    root = tmp_path_factory.mktemp("faults")
    return {"a": _big_trade(root / "a" / NAME, 1, BIG_ROWS),
            "b": _big_trade(root / "b" / NAME, 5001, BIG_ROWS)}


def same_bytes_copy(src: Submitted, folder: Path) -> Submitted:
    """The same bytes under the same name in another folder (a hard link: no 70 MB copy)."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / src.path.name
    try:
        os.link(src.path, dest)
    except OSError:
        import shutil

        shutil.copyfile(src.path, dest)
    return Submitted(dest, src.rows, src.sha256)


# --- the CLI as a subprocess -------------------------------------------------

def cli_env(settings: Settings, output_dir: Path) -> dict[str, str]:
    """The environment that selects ``settings``' cluster, with receipts in a folder of the test's own."""
    env = dict(os.environ)
    env.update(OPENECON_STATE_DIR=str(settings.state_dir), OPENECON_OUTPUT_DIR=str(output_dir),
               OPENECON_PG_PORT=str(settings.pg_port))
    env.pop("OPENECON_DATABASE_URL", None)
    return env


class Ingest:
    """``openecon ingest PATH...`` running; its backend is found by its application_name (PGAPPNAME)."""

    def __init__(self, env: dict[str, str], paths: list[Path], log_dir: Path):
        self.app = f"openecon-fault-{uuid.uuid4().hex[:10]}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._out, self._err = log_dir / f"{self.app}.out", log_dir / f"{self.app}.err"
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "openecon.cli", "ingest", *map(str, paths)],
                env=env | {"PGAPPNAME": self.app}, stdout=out, stderr=err)

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"openecon ingest did not end in {CLI_TIMEOUT}s\n{self.output}")

    @property
    def stdout(self) -> str:
        return self._out.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self._err.read_text(errors="replace")

    @property
    def output(self) -> str:
        return f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def run_cli(env: dict[str, str], paths: list[Path], log_dir: Path) -> Ingest:
    run = Ingest(env, paths, log_dir)
    run.wait()
    return run


def wait_for_copy(settings: Settings, run: Ingest, timeout: float = 60) -> tuple[int, int]:
    """Poll until the run's backend is in its COPY into raw.trade with rows already received:
    (backend pid, tuples processed then)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True) as mon:
        while True:
            row = mon.execute(
                """SELECT a.pid, p.tuples_processed
                   FROM pg_stat_activity AS a JOIN pg_stat_progress_copy AS p USING (pid)
                   WHERE a.application_name = %s AND a.state = 'active' AND a.query ILIKE %s
                     AND p.tuples_processed > 0""",
                [run.app, "COPY raw.trade%"]).fetchone()
            if row:
                return row
            if run.proc.poll() is not None:
                pytest.fail(f"openecon ingest ended (rc {run.proc.returncode}) before its COPY was seen\n{run.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"no COPY of {run.app} seen in {timeout}s")
            time.sleep(0.02)


def wait_backend_gone(conn: psycopg.Connection, pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
        assert time.monotonic() < deadline, f"backend {pid} still there {timeout}s after its client was killed"
        time.sleep(0.05)


# --- the one consistency check -------------------------------------------------

_LABEL = {"partial": "accepted with row rejections"}  # the English word on a receipt's status line


@dataclass
class State:
    submissions: list[dict]  # every audit.submissions row, by file_id
    raw_rows: dict[int, int]  # raw.trade rows per file_id
    in_force: list[int]
    receipts: dict[int, Path]  # receipt files on disk, by file id

    def statuses(self, sub: Submitted | None = None) -> list[str]:
        return sorted(s["status"] for s in self.submissions if sub is None or s["sha256"] == sub.sha256)

    def loaded(self, sub: Submitted) -> list[dict]:
        return [s for s in self.submissions if s["sha256"] == sub.sha256 and s["status"] in ("accepted", "partial")]


def check_consistency(conn: psycopg.Connection, settings: Settings, files: list[Submitted]) -> State:
    """Assert that the warehouse and the receipts agree, for a warehouse that holds only ``files``.

    - every row of raw.trade belongs to a file with an audit row (nothing of an aborted load stays);
    - a loaded file (accepted/partial) holds exactly its data lines in raw, and its audit ``rows``;
      a rejected or duplicate file holds none; each content is loaded at most once;
    - at most one file in force per city, period and kind; a superseded file names a later loaded
      file of the same city, period and kind;
    - a receipt file on disk for every audit row and an audit row for every receipt file, with the
      same file id and status as the receipt stored in audit; no temporary file left behind.
    """
    by_sha = {f.sha256: f for f in files}
    with conn.cursor(row_factory=dict_row) as cur:
        subs = cur.execute(
            """SELECT file_id, file_name, sha256, city_code, period, kind, status, rows, reason,
                      superseded_at, superseded_by, receipt
               FROM audit.submissions ORDER BY file_id""").fetchall()
    raw_rows = dict(conn.execute("SELECT file_id, count(*) FROM raw.trade GROUP BY file_id").fetchall())
    in_force = [r[0] for r in conn.execute("SELECT file_id FROM audit.submissions_in_force ORDER BY 1").fetchall()]
    ids = {s["file_id"]: s for s in subs}

    orphans = sorted(set(raw_rows) - set(ids))
    assert not orphans, f"raw.trade holds rows of file ids without an audit row: {orphans}"
    for s in subs:
        assert s["sha256"] in by_sha, f"unexpected submission {s['file_name']} ({s['status']})"
        n = raw_rows.get(s["file_id"], 0)
        if s["status"] in ("accepted", "partial"):
            assert n == s["rows"] == by_sha[s["sha256"]].rows, (s["file_id"], s["status"], n, s["rows"])
        else:
            assert n == 0, f"{s['status']} file {s['file_id']} has {n} rows in raw.trade"
    for sha in by_sha:
        loaded = [s["file_id"] for s in subs if s["sha256"] == sha and s["status"] in ("accepted", "partial")]
        assert len(loaded) <= 1, f"the same bytes loaded twice: file ids {loaded}"

    key = lambda s: (s["city_code"], s["period"], s["kind"])  # noqa: E731
    forced = [key(ids[i]) for i in in_force]
    assert len(forced) == len(set(forced)), f"more than one file in force for a city-period-kind: {in_force}"
    for s in subs:
        if s["superseded_at"] is not None or s["superseded_by"] is not None:
            by = ids.get(s["superseded_by"])
            assert s["superseded_at"] is not None and by is not None, s
            assert key(by) == key(s) and by["file_id"] > s["file_id"] and by["status"] in ("accepted", "partial"), s

    receipts: dict[int, Path] = {}
    on_disk = set(settings.receipts_dir.rglob("*.receipt.txt")) if settings.receipts_dir.exists() else set()
    for s in subs:
        path = settings.receipt_path(s["city_code"], s["file_name"], s["file_id"])
        assert path in on_disk, f"no receipt file for audit row {s['file_id']} ({s['status']}): {path}"
        assert s["receipt"] is not None, f"audit row {s['file_id']} has no receipt"
        text = path.read_text(encoding="utf-8")
        assert f"文件编号 file id: {s['file_id']} " in text, text
        status_line = next(line for line in text.splitlines() if "状态 status:" in line)
        stored = s["receipt"]["status"]
        assert _LABEL.get(stored, stored) in status_line, (stored, status_line)
        assert stored == s["status"] or (stored == "superseding" and s["status"] == "accepted"), (stored, s["status"])
        receipts[s["file_id"]] = path
    stray = on_disk - set(receipts.values())
    assert not stray, f"receipt files without an audit row: {sorted(map(str, stray))}"

    temps = list(settings.receipts_dir.rglob("*.tmp")) if settings.receipts_dir.exists() else []
    for sha in by_sha:
        temps += list((settings.archive_dir / sha[:2]).glob(f".{sha}*.tmp"))
    assert not temps, f"temporary files left behind: {temps}"
    for sha in {s["sha256"] for s in subs}:  # what was received is archived
        assert (settings.archive_dir / sha[:2] / f"{sha}.csv").exists()
    return State(subs, raw_rows, in_force, receipts)


def assert_clean_run(run: Ingest) -> None:
    """Ended on its own, with a receipt for its file and no deadlock."""
    assert run.proc.returncode == 0, run.output
    assert f"回执 Receipt: {NAME}" in run.stdout, run.output
    assert "deadlock" not in (run.stdout + run.stderr).lower(), run.output


# --- 1. kill -9 mid-COPY ---------------------------------------------------------

def test_kill_9_mid_copy_leaves_nothing_and_a_rerun_loads_once(warehouse, settings, big, tmp_path):
    env = cli_env(settings, tmp_path / "output")
    cli = Settings(env)  # the session's cluster, the test's own receipts folder
    sub = big["a"]

    run = Ingest(env, [sub.path], tmp_path / "logs")
    backend, copied = wait_for_copy(settings, run)
    assert 0 < copied < sub.rows, "not mid-COPY"
    os.kill(run.proc.pid, signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    wait_backend_gone(warehouse, backend)  # its transaction is rolled back and its locks released

    state = check_consistency(warehouse, cli, [sub])
    assert state.submissions == [] and state.raw_rows == {} and state.receipts == {}
    assert warehouse.execute("SELECT count(*) FROM raw.trade").fetchone() == (0,)

    again = run_cli(env, [sub.path], tmp_path / "logs")
    assert_clean_run(again)
    assert "已接收 accepted" in again.stdout, again.output
    state = check_consistency(warehouse, cli, [sub])
    assert state.statuses() == ["accepted"]
    [loaded] = state.loaded(sub)
    assert state.raw_rows == {loaded["file_id"]: sub.rows}
    assert list(state.receipts) == [loaded["file_id"]] and state.in_force == [loaded["file_id"]]

    third = run_cli(env, [sub.path], tmp_path / "logs")
    assert_clean_run(third)
    assert "重复文件 duplicate" in third.stdout, third.output
    after = check_consistency(warehouse, cli, [sub])
    assert after.statuses() == ["accepted", "duplicate"]
    assert after.raw_rows == state.raw_rows and after.in_force == state.in_force
    assert len(after.receipts) == 2


HOLD = "openecon.test_faults.hold_commit"


def hold_commits(conn: psycopg.Connection) -> None:
    """Make every transaction that records a submission wait at its COMMIT while the test holds
    the advisory lock HOLD: a deferred constraint trigger takes it (in audit, so the next reset drops it)."""
    conn.execute(f"""CREATE FUNCTION audit.test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN PERFORM pg_advisory_xact_lock(hashtext('{HOLD}')); RETURN NULL; END $$""")
    conn.execute("""CREATE CONSTRAINT TRIGGER test_hold_commit AFTER INSERT ON audit.submissions
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit.test_hold_commit()""")


def test_receipt_file_is_written_only_after_the_commit(warehouse, settings, tmp_path):
    """While the file's COMMIT waits, no receipt file exists; once it commits, the receipt is there."""
    env = cli_env(settings, tmp_path / "output")
    cli = Settings(env)
    small = tmp_path / "in" / NAME
    write_trade(small, [trade_row(n) for n in range(1, 501)])
    sub = Submitted(small, 500, sha256_of(small))
    hold_commits(warehouse)
    warehouse.execute("SELECT pg_advisory_lock(hashtext(%s))", [HOLD])
    try:
        run = Ingest(env, [sub.path], tmp_path / "logs")
        deadline = time.monotonic() + 60
        while not warehouse.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND wait_event = 'advisory' "
                "AND query = 'COMMIT'", [run.app]).fetchone():
            if run.proc.poll() is not None:
                pytest.fail(f"openecon ingest ended before its COMMIT was held\n{run.output}")
            assert time.monotonic() < deadline, "the ingest never reached its COMMIT"
            time.sleep(0.02)
        written = [p for p in cli.receipts_dir.rglob("*") if p.is_file()] if cli.receipts_dir.exists() else []
        assert written == [], "a receipt file was written before its transaction committed"
    finally:
        warehouse.execute("SELECT pg_advisory_unlock(hashtext(%s))", [HOLD])
    run.wait()
    assert_clean_run(run)
    state = check_consistency(warehouse, cli, [sub])
    assert state.statuses() == ["accepted"] and len(state.receipts) == 1


# --- 2. two ingests of the same city-period at once -----------------------------

def run_together(settings: Settings, env: dict[str, str], subs: list[Submitted], log_dir: Path) -> tuple[list, bool]:
    """Start one CLI per file at the same moment and make them collide: a gate (a session holding
    audit.submissions in EXCLUSIVE mode; reads pass, the first write of a file's transaction waits)
    holds both until each one's backend waits on a lock, the gate's or the other ingest's. Then the
    gate opens and both run to their end. Returns the runs and whether one was seen waiting on an
    advisory lock while the other COPYs."""
    info = settings.warehouse.conninfo()
    with psycopg.connect(**info, autocommit=True) as gate, psycopg.connect(**info, autocommit=True) as mon:
        gate.execute("BEGIN")
        gate.execute("LOCK TABLE audit.submissions IN EXCLUSIVE MODE")
        runs = [Ingest(env, [s.path], log_dir) for s in subs]
        apps = [r.app for r in runs]
        deadline = time.monotonic() + CLI_TIMEOUT
        while mon.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(%s) "
                          "AND wait_event_type = 'Lock'", [apps]).fetchone()[0] < len(runs):
            ended = [r for r in runs if r.proc.poll() is not None]
            if ended:
                pytest.fail(f"an ingest ended before reaching the gate\n{ended[0].output}")
            assert time.monotonic() < deadline, "the ingests never reached the gate"
            time.sleep(0.02)
        gate.execute("COMMIT")
        overlapped = False
        while any(r.proc.poll() is None for r in runs):
            assert time.monotonic() < deadline, "concurrent ingests did not end"
            if not overlapped:
                rows = mon.execute(
                    """SELECT wait_event_type, wait_event, query FROM pg_stat_activity
                       WHERE application_name = ANY(%s) AND state = 'active'""", [apps]).fetchall()
                copying = any(q.upper().startswith("COPY RAW.TRADE") for _, _, q in rows)
                waiting = any(t == "Lock" and e == "advisory" for t, e, _ in rows)
                overlapped = copying and waiting
            time.sleep(0.02)
    for r in runs:
        r.wait()
    return runs, overlapped


def test_same_bytes_twice_at_once_one_accepted_one_duplicate(warehouse, settings, big, tmp_path):
    env = cli_env(settings, tmp_path / "output")
    cli = Settings(env)
    subs = [same_bytes_copy(big["a"], tmp_path / "one"), same_bytes_copy(big["a"], tmp_path / "two")]

    runs, overlapped = run_together(settings, env, subs, tmp_path / "logs")
    for r in runs:
        assert_clean_run(r)
    assert overlapped, "the two ingests did not overlap (one never waited for the other's lock)"
    state = check_consistency(warehouse, cli, subs[:1])
    assert state.statuses() == ["accepted", "duplicate"]
    [loaded] = state.loaded(subs[0])
    assert state.raw_rows == {loaded["file_id"]: subs[0].rows}
    assert state.in_force == [loaded["file_id"]] and len(state.receipts) == 2
    assert sorted("重复文件 duplicate" in r.stdout for r in runs) == [False, True]


def test_two_files_of_one_city_period_at_once_one_in_force(warehouse, settings, big, tmp_path):
    env = cli_env(settings, tmp_path / "output")
    cli = Settings(env)
    subs = [big["a"], big["b"]]

    runs, overlapped = run_together(settings, env, subs, tmp_path / "logs")
    for r in runs:
        assert_clean_run(r)
    assert overlapped, "the two ingests did not overlap (one never waited for the other's lock)"
    state = check_consistency(warehouse, cli, subs)
    assert state.statuses() == ["accepted", "accepted"]
    first, second = state.submissions  # in file id order: the later one supersedes the earlier
    assert state.in_force == [second["file_id"]]
    assert first["superseded_by"] == second["file_id"] and first["superseded_at"] is not None
    assert second["superseded_by"] is None
    assert second["receipt"]["status"] == "superseding" and second["receipt"]["superseded_file_ids"] == [
        first["file_id"]]
    assert state.raw_rows == {first["file_id"]: big[_which(big, first)].rows,
                              second["file_id"]: big[_which(big, second)].rows}
    assert {_which(big, first), _which(big, second)} == {"a", "b"}
    assert len(state.receipts) == 2
    assert sorted("更正替换 superseding" in r.stdout for r in runs) == [False, True]


def _which(big: dict[str, Submitted], sub: dict) -> str:
    return next(k for k, f in big.items() if f.sha256 == sub["sha256"])


# --- 3. Postgres restart mid-ingest (a cluster of the test's own) ----------------

@pytest.mark.pg
@pytest.mark.parametrize("restarts", [1, 2], ids=["restart-once", "restart-during-retry"])
def test_postgres_restart_mid_copy_leaves_no_partial_file(big, tmp_path, restarts):
    """Postgres restarts while the COPY runs (``restarts`` = 2: again while the retry's COPY runs).
    Nothing partial stays; the file is either recorded or not, and its receipt matches audit;
    once the retry was lost too, the file is rejected with a reference to the logged error."""
    from core.postgres import EmbeddedPostgres
    from flows.warehouse import prepare
    from tests.conftest import _free_port

    os.chmod(tmp_path, 0o755)
    env = dict(os.environ)
    env.pop("OPENECON_DATABASE_URL", None)
    env.update(OPENECON_STATE_DIR=str(tmp_path / "state"), OPENECON_OUTPUT_DIR=str(tmp_path / "output"),
               OPENECON_PG_PORT=str(_free_port()))
    own = Settings(env)
    server = EmbeddedPostgres(own)
    server.start()
    try:
        prepare(own)
        sub = big["a"]
        run = Ingest(env, [sub.path], tmp_path / "logs")
        for _ in range(restarts):  # every backend is gone after a restart: a COPY seen is a new attempt's
            _, copied = wait_for_copy(own, run)
            assert 0 < copied < sub.rows, "not mid-COPY"
            server.stop()  # pg_ctl stop -m fast: the COPY's session is terminated
            server.start()
        run.wait()

        with psycopg.connect(**own.warehouse.conninfo(), autocommit=True) as conn:
            state = check_consistency(conn, own, [sub])
            first = state.submissions
            print(f"after {restarts} restart(s): rc {run.proc.returncode}, audit {[s['status'] for s in first]}")
            assert len(first) <= 1, first
            if restarts == 2:  # the retry was lost too: rejected, and said so
                assert [s["status"] for s in first] == ["rejected"], run.output
            if first:  # recorded: rejected for the lost connection, or loaded by the retry
                [s] = first
                assert s["status"] in ("rejected", "accepted"), s
                if s["status"] == "rejected":  # says why, with a reference to the logged error
                    assert run.proc.returncode == 1, run.output
                    assert "已拒收 rejected" in run.stdout, run.output
                    assert re.search(r"error reference|错误编号", s["reason"] or ""), s["reason"]
                    assert re.search(r"connection|连接", s["reason"] or "", re.I), s["reason"]
                else:
                    assert run.proc.returncode == 0 and "已接收 accepted" in run.stdout, run.output
                assert f"文件编号 file id: {s['file_id']} " in run.stdout, run.output
            else:  # nothing recorded, nothing loaded
                assert state.raw_rows == {} and state.receipts == {}

            again = run_cli(env, [sub.path], tmp_path / "logs")
            assert_clean_run(again)
            state = check_consistency(conn, own, [sub])
            [loaded] = state.loaded(sub)
            assert state.raw_rows == {loaded["file_id"]: sub.rows}
            assert loaded["receipt"]["status"] == "accepted" and loaded["file_id"] in state.receipts
            if first and first[0]["status"] == "accepted":
                assert "重复文件 duplicate" in again.stdout, again.output
                assert state.statuses() == ["accepted", "duplicate"]
            else:
                assert "已接收 accepted" in again.stdout, again.output
                assert state.statuses() == sorted([*(s["status"] for s in first), "accepted"])
    finally:
        server.remove()
