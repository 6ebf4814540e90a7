"""Data versions and the register of renderings (audit.bulletins).

A document's *data version* is the set of submission files in force behind it:
count, max file_id, max received_at and a short hash of the sorted
(file_id, sha256) list.  Rendering a period again with the same data version
reuses the version number; a changed data version produces the next version and
a list of the printed figures that changed.  The summary itself is computed by
:mod:`openecon.data_version`, shared with the quality gate; each row also records
the quality gate run (audit.quality_runs) the bulletin was published on.
"""

from __future__ import annotations

import json

from openecon import data_version as dv_mod

DDL = [
    "CREATE SCHEMA IF NOT EXISTS audit",
    """
    CREATE TABLE IF NOT EXISTS audit.bulletins (
      id            bigserial PRIMARY KEY,
      kind          text NOT NULL CHECK (kind IN ('quarterly', 'monthly')),
      period        text NOT NULL,
      version       integer NOT NULL,
      data_version  jsonb NOT NULL,
      data_hash     text NOT NULL,
      created_at    timestamptz NOT NULL DEFAULT now(),
      paths         jsonb NOT NULL DEFAULT '[]',
      changes       jsonb NOT NULL DEFAULT '[]',
      figures       jsonb NOT NULL DEFAULT '{}',
      UNIQUE (kind, period, version)
    )
    """,
    "COMMENT ON TABLE audit.bulletins IS 'One row per bulletin version: data version (submissions used), "
    "output files and the figures changed since the previous version'",
    # the passing quality gate run (audit.quality_runs.run_id) the version was published on
    "ALTER TABLE audit.bulletins ADD COLUMN IF NOT EXISTS quality_run_id text",
]


def ensure_table(conn) -> None:
    from ingestion.schema import run_ddl_once

    run_ddl_once(conn, "openecon.bulletin.ensure", DDL, ["audit.bulletins"])


def data_version(sources: list[dict]) -> dict:
    """The bulletin's own data version: the files in force of the periods it prints."""
    return dv_mod.summarize(sources)


def latest(conn, kind: str, period: str) -> dict | None:
    return conn.execute(
        "SELECT * FROM audit.bulletins WHERE kind = %s AND period = %s ORDER BY version DESC LIMIT 1",
        [kind, period]).fetchone()


def record(conn, kind: str, period: str, version: int, dv: dict, paths: list[str],
           changes: list[str], figures: dict, quality_run_id: str | None = None) -> None:
    conn.execute(
        """INSERT INTO audit.bulletins (kind, period, version, data_version, data_hash, paths, changes, figures,
                                        quality_run_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (kind, period, version) DO UPDATE SET paths = EXCLUDED.paths,
             quality_run_id = coalesce(EXCLUDED.quality_run_id, audit.bulletins.quality_run_id)""",
        [kind, period, version, json.dumps(dv), dv["hash"], json.dumps(paths, ensure_ascii=False),
         json.dumps(changes, ensure_ascii=False), json.dumps(figures, ensure_ascii=False), quality_run_id])


def diff(old: dict, new: dict) -> list[str]:
    """Figures are {key: {"label": ..., "value": float|None, "text": printed, "unit": ...}}."""
    out = []
    for key in sorted(set(old) | set(new), key=lambda k: (new.get(k) or old.get(k))["order"]):
        a, b = old.get(key), new.get(key)
        va, vb = (a or {}).get("value"), (b or {}).get("value")
        if va == vb or (va is not None and vb is not None and abs(va - vb) < 1e-9):
            continue
        ref = b or a
        ta, tb = (a or {}).get("text", "—"), (b or {}).get("text", "—")
        if ta == tb and va is not None and vb is not None:  # below the printed precision
            ta, tb = f"{va:.4f}", f"{vb:.4f}"
        unit = f" {ref['unit']}" if ref.get("unit") else ""
        out.append(f"{ref['label']} 由 {ta}{unit} 改为 {tb}{unit}")
    return out
