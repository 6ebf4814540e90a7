"""One publish mechanism for every document: the quarterly bulletin, the monthly scheduling report
and the appraisal.

:func:`publish` does, for each of them, the same steps in the same order:

1. the gate: refuse (``expectations.store.GateNotPassed``) unless the latest quality gate run on
   the current data version (every submission file in force, ``core.in_force.current``) passed,
   so nothing is published over a failed blocking check or over data the gate has not seen;
2. the document's draft: its figures, and the submission files in force behind them
   (its *data version*: count, max file_id, max received_at and a short hash of the sorted
   (file_id, sha256) list, computed by :mod:`core.in_force`, shared with the quality gate);
3. the version, from the register ``audit.bulletins``: the same identity as the latest version
   (the data version; or the content hash, for a document versioned by content) reuses its
   number, and when all its files exist nothing is written at all; a changed identity gives the
   next version and the list of printed figures that changed;
4. the files, each written atomically (:mod:`core.files`), then the register row, last: a
   version counts once every file of it is in place. The row records the data version, the
   content hash, the files, the changes, the figures and the gate run it was published on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from core import in_force
from core.files import atomic_path, atomic_write_bytes, atomic_write_text
from expectations.store import require_passed

# What a document yields for each of its files: text (UTF-8), bytes, or a function that
# writes the file at the (temporary) path it is given, for libraries that write to a name.
Content = str | bytes | Callable[[Path], None]


@dataclass(frozen=True)
class Edition:
    """The version being written, handed to the document's writer."""
    version: int
    changes: list[str]
    data_version: dict
    sources: list[dict]
    quality_run_id: str

    @property
    def previous_version(self) -> int | None:
        return self.version - 1 if self.version > 1 else None

    def stamp(self) -> dict:
        """What every document prints about its version (数据版本, 版本说明, 数据来源)."""
        return {"version": self.version, "changes": self.changes, "data_version": self.data_version,
                "sources": self.sources, "previous_version": self.previous_version, "issued": date.today(),
                "generated_at": datetime.now().strftime("%Y-%m-%d %H:%M")}


@dataclass
class Draft:
    """A document ready to publish: what :func:`publish` needs to know of it.

    ``write(edition)`` yields ``(suffix, content)`` for each of ``files`` and ``exports``, in
    the order they are to be written (lazily: a PDF may be rendered from the HTML just
    yielded). ``files`` are the document (returned and registered); ``exports`` are plain
    copies of data beside them, written last, registered nowhere.
    """
    kind: str                   # audit.bulletins.kind: 'quarterly' | 'monthly' | 'appraisal'
    period: str                 # the period label: '2025Q3', '2025-09'
    out_dir: Path
    stem: str                   # files are <stem>_v<N>.<suffix>
    files: tuple[str, ...]
    sources: list[dict]         # the submission files in force behind the figures
    figures: dict               # kept in the register: the next version lists what changed
    diff: Callable[[dict, dict], list[str]]
    write: Callable[[Edition], Iterable[tuple[str, Content]]]
    content_hash: str | None = None  # set: versioned by content, not by the data version alone
    exports: tuple[str, ...] = field(default=())

    def path(self, version: int, suffix: str) -> Path:
        return self.out_dir / f"{self.stem}_v{version}.{suffix}"

    def paths(self, version: int) -> list[Path]:
        return [self.path(version, s) for s in self.files]


def publish(conn, build: Callable[[object], Draft]) -> dict:
    """Gate, draft (``build(conn)``), version, files, register.

    Returns {'version', 'paths', 'reused', 'changes', 'data_version', 'timings', 'quality_run_id'}.
    """
    t0 = time.monotonic()
    quality_run_id = require_passed(conn, in_force.current(conn))
    draft = build(conn)
    dv = data_version(draft.sources)
    with _one_publisher(conn, draft.kind, draft.period):
        prev = latest(conn, draft.kind, draft.period)
        timings = {"data": _since(t0)}
        if prev and _same(prev, draft, dv):
            version, changes = prev["version"], prev["changes"]
            every = [draft.path(version, s) for s in (*draft.files, *draft.exports)]
            if all(p.exists() for p in every):
                return _result(draft, version, True, changes, dv, timings, prev["quality_run_id"])
        else:
            version = (prev["version"] + 1) if prev else 1
            changes = draft.diff(prev["figures"], draft.figures) if prev else []
        edition = Edition(version, changes, dv, draft.sources, quality_run_id)
        _write_files(draft, edition, timings, t0)
        record(conn, draft.kind, draft.period, version, dv, [str(p) for p in draft.paths(version)], changes,
               dict(draft.figures), quality_run_id=quality_run_id, content_hash=draft.content_hash)
    return _result(draft, version, False, changes, dv, timings, quality_run_id)


def _same(prev: dict, draft: Draft, dv: dict) -> bool:
    if draft.content_hash is not None:
        return prev["content_hash"] == draft.content_hash
    return prev["data_hash"] == dv["hash"]


def _write_files(draft: Draft, edition: Edition, timings: dict, t0: float) -> None:
    expected = (*draft.files, *draft.exports)
    written = []
    for suffix, content in draft.write(edition):
        if suffix not in expected or suffix in written:
            raise ValueError(f"{draft.kind} {draft.period}: unexpected file .{suffix} (declared: {expected})")
        write_file(draft.path(edition.version, suffix), content)
        written.append(suffix)
        timings[suffix] = _since(t0)
    if len(written) != len(expected):
        missing = [s for s in expected if s not in written]
        raise ValueError(f"{draft.kind} {draft.period}: no content for .{', .'.join(missing)}")


def write_file(path: Path, content: Content) -> None:
    """One output file, atomically: text, bytes, or a writer given a temporary path."""
    if isinstance(content, str):
        atomic_write_text(path, content)
    elif isinstance(content, bytes):
        atomic_write_bytes(path, content)
    else:
        with atomic_path(path) as tmp:
            content(tmp)


def _result(draft: Draft, version: int, reused: bool, changes: list[str], dv: dict, timings: dict,
            quality_run_id: str | None) -> dict:
    return {"version": version, "paths": [str(p) for p in draft.paths(version)], "reused": reused,
            "changes": changes, "data_version": dv, "timings": timings, "quality_run_id": quality_run_id}


def _since(t0: float) -> float:
    return round(time.monotonic() - t0, 2)


@contextmanager
def _one_publisher(conn, kind: str, period: str) -> Iterator[None]:
    """One publisher at a time per document and period: a session advisory lock (the connection is
    autocommit), taken before the register is read and released once the new row is in."""
    key = [f"{kind}:{period}"]
    conn.execute("SELECT pg_advisory_lock(hashtext('openecon.publish'), hashtext(%s))", key)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('openecon.publish'), hashtext(%s))", key)


# --------------------------------------------------------------------------- the register
def data_version(sources: list[dict]) -> dict:
    """A document's own data version: the files in force of the periods it prints."""
    return in_force.summarize(sources)


def latest(conn, kind: str, period: str) -> dict | None:
    return conn.execute(
        "SELECT * FROM audit.bulletins WHERE kind = %s AND period = %s ORDER BY version DESC LIMIT 1",
        [kind, period]).fetchone()


def record(conn, kind: str, period: str, version: int, dv: dict, paths: list[str], changes: list[str],
           figures: dict, quality_run_id: str | None = None, content_hash: str | None = None) -> None:
    conn.execute(
        """INSERT INTO audit.bulletins (kind, period, version, data_version, data_hash, paths, changes, figures,
                                        quality_run_id, content_hash)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (kind, period, version) DO UPDATE SET paths = EXCLUDED.paths,
             quality_run_id = coalesce(EXCLUDED.quality_run_id, audit.bulletins.quality_run_id)""",
        [kind, period, version, json.dumps(dv), dv["hash"], json.dumps(paths, ensure_ascii=False),
         json.dumps(changes, ensure_ascii=False), json.dumps(figures, ensure_ascii=False), quality_run_id,
         content_hash])


def diff(old: dict, new: dict) -> list[str]:
    """The printed figures that changed; figures are {key: {"order", "label", "value", "text", "unit"}}."""
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
