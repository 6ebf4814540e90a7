"""Reproduce a published document version: its marts rebuilt from the files in force then.

Raw is immutable and keeps every file, superseded ones too, so the files a version used can be
taken again. :func:`reproduce`:

1. reads the version's register row (``audit.bulletins``): its data version says the highest file
   id it had; the files in force then are those loaded up to that id, not superseded by a file
   up to it (a later correction's ``superseded_by`` is above it) and not returned before it;
2. creates a scratch database beside the warehouse (``<warehouse>_reproduce``, dropped first: a
   scratch, never read by anything else) with the same audit and raw schemas, and copies into it
   those files' audit rows and raw rows (binary ``COPY``), and the versions published before it;
3. runs dbt (seeds and models, no tests) on the scratch database: every mart as of then;
4. drafts the document there and re-renders its files into ``output/reproduce/``, and compares
   every figure with those stored at publication (``audit.document_figures``; the register's
   figures for a version published before figure ids existed);
5. says "identical", or lists the figures that differ and why: the files not reconstructed, a seed
   or a rule changed since (``audit.bulletins.build``, :mod:`reports.fingerprint`).
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from core.audit_schema import migrate
from core.settings import Settings
from flows.transform import dbt
from ingestion.contract import SHEETS
from ingestion.schema import ensure_raw, month_partition
from reports import publish
from reports.fingerprint import differences, fingerprint

log = logging.getLogger(__name__)


class NoSuchVersion(ValueError):
    """The version asked for is not in the register."""


def scratch_settings(settings: Settings) -> Settings:
    """The same settings on the scratch database (``warehouse`` is a cached property: the copy's own)."""
    s = copy.copy(settings)
    s.__dict__["warehouse"] = replace(settings.warehouse, dbname=f"{settings.warehouse.dbname}_reproduce")
    return s


def reproduce(settings: Settings, key: str, out_dir: Path | None = None) -> dict:
    """Rebuild, re-render and compare one published version (``quarterly/2025Q3/v1``).

    Returns {version, identical, differences: [...], reasons: [...], data_version: {then, now},
    paths, files}."""
    kind, period, version = publish.parse_version_key(key)
    row, scratch, files = rebuild_as_of(settings, key)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True, row_factory=dict_row) as live:
        stored = live.execute("SELECT figure_id, value, printed_text FROM audit.document_figures "
                              "WHERE bulletin_id = %s AND printed_text IS NOT NULL", [row["id"]]).fetchall()
    out = Path(out_dir) if out_dir else settings.output_dir / "reproduce"
    out.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(**scratch.warehouse.conninfo(), autocommit=True, row_factory=dict_row) as conn:
        draft = _draft(conn, scratch, kind, period, out)
        dv = publish.data_version(draft.sources)
        edition = publish.Edition(version, row["changes"], dv, draft.sources, row["quality_run_id"],
                                  row["corrections"])
        for suffix, content in draft.write(edition):
            publish.write_file(draft.path(version, suffix), content)
    diffs = _compare(row, stored, draft)
    reasons = []
    if dv["hash"] != row["data_hash"]:
        reasons.append(f"报送文件未能完全还原 the files in force then were not reconstructed "
                       f"(data version {row['data_hash']} → {dv['hash']})")
    if diffs:
        reasons += differences(row.get("build"), fingerprint())
    return {"version": key, "identical": not diffs, "differences": diffs, "reasons": reasons,
            "data_version": {"then": row["data_hash"], "now": dv["hash"]}, "files": files,
            "figures": len(stored) or len(row["figures"]),
            "paths": [str(draft.path(version, s)) for s in draft.files]}


def rebuild_as_of(settings: Settings, key: str) -> tuple[dict, Settings, int]:
    """Steps 1–3: the scratch database with every mart as of the published version ``key``;
    returns (the version's register row, the scratch database's settings, files copied)."""
    kind, period, version = publish.parse_version_key(key)
    with psycopg.connect(**settings.warehouse.conninfo(), autocommit=True, row_factory=dict_row) as live:
        row = live.execute("SELECT * FROM audit.bulletins WHERE kind = %s AND period = %s AND version = %s",
                           [kind, period, version]).fetchone()
        if row is None:
            raise NoSuchVersion(f"{key}: not a published version (audit.bulletins) / 无此已发布版本")
        scratch = scratch_settings(settings)
        files = _copy_as_of(live, scratch, row)
    log.info("reproduce %s: %d files in force then copied into %s", key, files, scratch.warehouse.dbname)
    _dbt(scratch)
    return row, scratch, files


def _draft(conn, settings, kind: str, period: str, out: Path):
    from core.periods import parse_period
    from reports import appraisal, bulletin

    p = parse_period(period)
    if kind == "appraisal":
        return appraisal.draft(conn, settings, p, out)
    return bulletin.draft(conn, settings, p, out, allow_incomplete=True)


# --------------------------------------------------------------------------- the scratch database
def _copy_as_of(live, scratch: Settings, row: dict) -> int:
    """Create the scratch database and copy into it the warehouse as of the version: the files in
    force then (audit rows, raw rows, row warnings) and the versions published before it."""
    upto = (row["data_version"] or {}).get("max_file_id") or 0
    _scratch_database(live, scratch.warehouse.dbname)
    with psycopg.connect(**scratch.warehouse.conninfo(), autocommit=True) as dst:
        # emptied first: whatever a previous reproduction left
        for (schema,) in dst.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                                     "AND nspname NOT IN ('information_schema', 'public')").fetchall():
            dst.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        migrate(dst, scratch)
        ensure_raw(dst)
        ids = [r["file_id"] for r in live.execute(
            "SELECT file_id FROM audit.submissions WHERE file_id <= %s AND status IN ('accepted', 'partial') "
            "AND (superseded_by IS NULL OR superseded_by > %s) AND (returned_at IS NULL OR returned_at > %s) "
            "ORDER BY file_id", [upto, upto, row["created_at"]]).fetchall()]
        # every file received up to then, as it stood then: a supersession or a return after it undone
        _copy(live, dst, "audit.submissions",
              "SELECT {cols} FROM audit.submissions WHERE file_id <= %(upto)s",
              {"upto": upto}, undo_later=(upto, row["created_at"]))
        _copy(live, dst, "audit.row_warnings", "SELECT {cols} FROM audit.row_warnings WHERE file_id = ANY(%(ids)s)",
              {"ids": ids})
        for sheet in SHEETS:
            if sheet.bulk:
                for (p,) in dst.execute("SELECT DISTINCT period FROM audit.submissions WHERE file_id = ANY(%s) "
                                        "AND kind = %s", [ids, sheet.kind]).fetchall():
                    month_partition(dst, sheet, p)
            _copy(live, dst, sheet.raw_table, "SELECT {cols} FROM " + sheet.raw_table + " WHERE file_id = ANY(%(ids)s)",
                  {"ids": ids})
        earlier = {"at": row["created_at"]}
        _copy(live, dst, "audit.bulletins", "SELECT {cols} FROM audit.bulletins WHERE created_at < %(at)s", earlier)
        _copy(live, dst, "audit.published_figures",
              "SELECT {cols} FROM audit.published_figures WHERE published_at < %(at)s", earlier)
        dst.execute("ANALYZE")
    return len(ids)


def _scratch_database(live, name: str) -> None:
    """The scratch database, created when missing (the embedded server's bootstrap creates it; an
    external server needs CREATEDB, or the database made by its administrator)."""
    if live.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        return
    try:
        live.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise RuntimeError(f"openecon reproduce needs a scratch database {name!r} beside the warehouse and could "
                           f"not create it ({exc}): create it, owned by the warehouse's user, and try again") from exc


def _copy(src, dst, table: str, query: str, params: dict, undo_later: tuple | None = None) -> None:
    """Rows of ``table`` from the warehouse into the scratch database, by binary COPY, in the
    scratch table's column order; ``undo_later`` (audit.submissions: highest file id, time of the
    version) clears a supersession by a later file and a return made after the version."""
    schema, name = table.split(".")
    cols = [r[0] for r in dst.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "AND is_generated = 'NEVER' ORDER BY ordinal_position", [schema, name]).fetchall()]
    select = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    if undo_later is not None:
        upto, at = sql.Literal(undo_later[0]), sql.Literal(undo_later[1])
        undone = {"superseded_by": sql.SQL("superseded_by > {}").format(upto),
                  "superseded_at": sql.SQL("superseded_by > {}").format(upto),
                  **{c: sql.SQL("returned_at > {}").format(at) for c in ("returned_at", "returned_by",
                                                                          "returned_reason")}}
        select = sql.SQL(", ").join(
            sql.SQL("CASE WHEN {} THEN NULL ELSE {} END").format(undone[c], sql.Identifier(c))
            if c in undone else sql.Identifier(c) for c in cols)
    out = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(sql.SQL(query).format(cols=select))
    into = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
        sql.Identifier(schema, name), sql.SQL(", ").join(sql.Identifier(c) for c in cols))
    with src.cursor() as rc, dst.cursor() as wc, rc.copy(out, params) as reader, wc.copy(into) as writer:
        for chunk in reader:
            writer.write(chunk)


def _dbt(scratch: Settings) -> None:
    """Seeds and models on the scratch database (its tests are the warehouse's, run when it was
    built), with dbt's target folder of its own: the warehouse's manifest and partial-parse state
    are left alone."""
    target = scratch.state_dir / "reproduce" / "dbt"
    shutil.rmtree(target, ignore_errors=True)
    dbt(["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test",
         "--target-path", str(target)], scratch)


# --------------------------------------------------------------------------- the comparison
def _compare(row: dict, stored: list[dict], draft) -> list[dict]:
    """The figures whose reproduced value or text differs from the published one (or that one
    side lacks): every figure with an id when the version stored them, else the register's."""
    out = []
    if stored:
        now = {f.figure_id: f for f in draft.printed} if draft.printed is not None else {}
        for s in stored:
            f = now.get(s["figure_id"])
            if f is None:
                out.append({"figure": s["figure_id"], "published": s["printed_text"], "reproduced": None})
            elif not _same(s["value"], f.value) or s["printed_text"] != f.text:
                out.append({"figure": s["figure_id"], "published": s["printed_text"], "reproduced": f.text,
                            "published_value": s["value"], "reproduced_value": f.value})
        for fid in set(now) - {s["figure_id"] for s in stored}:
            out.append({"figure": fid, "published": None, "reproduced": now[fid].text})
        return out
    then, now = row["figures"] or {}, draft.figures
    for k in sorted(set(then) | set(now)):
        a, b = then.get(k), now.get(k)
        if a is None or b is None or not _same(a.get("value"), b.get("value")) or a.get("text") != b.get("text"):
            out.append({"figure": k, "published": (a or {}).get("text"), "reproduced": (b or {}).get("text")})
    return out


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
    return abs(x - y) <= 1e-9 * max(abs(x), 1.0)
