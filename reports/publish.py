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
   content hash, the files, the changes, the figures and the gate run it was published on,
   the cities an incomplete period left out (published with the override), and the corrections;
   in the same transaction, ``audit.published_figures`` gets every KPI cell the version printed.

Corrections after publication (更正说明): a new version compares the KPI cells the previous
version printed (``audit.published_figures``) with the same cells now; each printed value that
changed is a correction (figure, old, new, difference) with the superseding files behind it: the
files in force now that the previous version did not have (file_id above its data version's
max_file_id: ids only grow), of the cell's city (any city for the province), of the kind of file
feeding the KPI, for the months its value covers (from last December, the base of paid-in funds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from psycopg.rows import dict_row, tuple_row

from core import in_force
from core.constants import PROVINCE_CODE, TIMEZONE
from core.files import atomic_path, atomic_write_bytes, atomic_write_text
from expectations.store import require_passed
from reports.fingerprint import fingerprint

LOCAL_TZ = ZoneInfo(TIMEZONE)

# What a document yields for each of its files: text (UTF-8), bytes, a function that writes the
# file at the (temporary) path it is given, for libraries that write to a name, or a Future of
# text or bytes being made elsewhere (written last, once the other files and the trace pages are).
Content = str | bytes | Callable[[Path], None] | Future


@dataclass(frozen=True)
class Edition:
    """The version being written, handed to the document's writer."""
    version: int
    changes: list[str]
    data_version: dict
    sources: list[dict]
    quality_run_id: str
    corrections: list[dict] = field(default_factory=list)

    @property
    def previous_version(self) -> int | None:
        return self.version - 1 if self.version > 1 else None

    def stamp(self) -> dict:
        """What every document prints about its version (数据版本, 版本说明, 数据来源).

        Nothing of the server: times in Beijing time, the data version as its short id and the
        date of its latest file (``data_label``), never a path or a host name."""
        now = datetime.now(LOCAL_TZ)
        return {"version": self.version, "changes": self.changes, "data_version": self.data_version,
                "data_label": data_label(self.data_version), "sources": self.sources,
                "previous_version": self.previous_version, "issued": now.date(),
                "generated_at": now.strftime("%Y-%m-%d %H:%M"), "corrections": self.corrections}


def house(settings, kind: str, period) -> dict:
    """The 版头 of a document (GB/T 9704): the issuing organ and its 发文字号 for the period."""
    return {"issuer": settings.doc_issuer,
            "docno": settings.doc_numbers[kind].format(year=period.year, quarter=period.quarter, month=period.month)}


def data_label(dv: dict) -> dict:
    """The data version as a document prints it: its id (the short hash), the Beijing date of the
    latest file it holds, and how many files."""
    received = dv.get("max_received_at")
    day = datetime.fromisoformat(received).astimezone(LOCAL_TZ).date() if received else None
    return {"id": dv["hash"], "date": f"{day.year}年{day.month}月{day.day}日" if day else "—", "files": dv["files"]}


def local_time(value) -> str:
    """A timestamp as documents print it: Beijing time, to the second, without the offset."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(LOCAL_TZ)
    return value.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Cell:
    """A KPI cell (``marts.kpi_city_month``'s key) a document prints, and which of its values it prints."""
    kpi_code: str
    city_code: str
    period: str            # the cell's month, YYYY-MM
    figure: str            # 长沙市 进出口总额
    unit: str
    decimals: int
    source_kind: str       # the kind of file feeding the KPI: workbook | trade
    value_ytd: float | None = None
    value_month: float | None = None
    prints_ytd: bool = False
    prints_month: bool = False


def add_cell(cells: dict, row: dict, decimals: int, ytd: bool = False, month: bool = False) -> None:
    """Note that a document prints ``row``'s (a kpi_city_month row's) value_ytd and/or value_month."""
    key = (row["kpi_code"], row["city_code"], row["period"])
    area = "全省" if row["city_code"] == PROVINCE_CODE else row["city_name"]
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = Cell(row["kpi_code"], row["city_code"], row["period"],
                                 f"{area} {row['kpi_name_zh']}", row["unit"], decimals, row["source_kind"],
                                 row["value_ytd"], row.get("value_month"))
    cell.prints_ytd = cell.prints_ytd or ytd
    cell.prints_month = cell.prints_month or month


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
    cells: dict = field(default_factory=dict)        # (kpi, city, period) -> Cell: what the version prints
    incomplete: list = field(default_factory=list)   # published over an incomplete period: who is left out
    # every figure printed (reports.figures.Figures) and, given the version, the writer of their
    # trace pages (the folder ``trace_dir``) returning each figure's explanation by id
    printed: object | None = None
    trace: Callable[[Edition], dict] | None = None

    def path(self, version: int, suffix: str) -> Path:
        return self.out_dir / f"{self.stem}_v{version}.{suffix}"

    def paths(self, version: int) -> list[Path]:
        return [self.path(version, s) for s in self.files]

    def trace_dir(self, version: int) -> Path:
        """The trace pages of a version, a folder beside its files (``<stem>_v<N>_trace``)."""
        return self.out_dir / f"{self.stem}_v{version}_trace"


def version_key(kind: str, period: str, version: int) -> str:
    """A version's key, as ``openecon trace --figure`` and ``openecon reproduce`` take it."""
    return f"{kind}/{period}/v{version}"


def parse_version_key(key: str) -> tuple[str, str, int]:
    """(kind, period, version) of ``quarterly/2025Q3/v1`` (or a file stem: ``bulletin_2025Q3_v1``)."""
    stems = {"bulletin": "quarterly", "scheduling": "monthly", "appraisal": "appraisal"}
    parts = key.strip("/").split("/")
    if len(parts) == 1 and "_" in key:
        stem, _, v = key.rpartition("_v")
        prefix, _, period = stem.partition("_")
        parts = [stems.get(prefix, prefix), period, f"v{v}"]
    if len(parts) != 3 or not parts[2].startswith("v") or not parts[2][1:].isdigit():
        raise ValueError(f"{key!r} is not a document version (e.g. quarterly/2025Q3/v1 or bulletin_2025Q3_v1) "
                         "/ 不是文件版本")
    return parts[0], parts[1], int(parts[2][1:])


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
            version, changes, corrections = prev["version"], prev["changes"], prev["corrections"]
            every = [draft.path(version, s) for s in (*draft.files, *draft.exports)]
            if draft.trace is not None:
                every.append(draft.trace_dir(version))
            if all(p.exists() for p in every):
                return _result(draft, version, True, changes, dv, timings, prev["quality_run_id"], corrections)
        else:
            version = (prev["version"] + 1) if prev else 1
            changes = draft.diff(prev["figures"], draft.figures) if prev else []
            corrections = find_corrections(conn, prev, draft) if prev else []
        edition = Edition(version, changes, dv, draft.sources, quality_run_id, corrections)
        pending = _write_files(draft, edition, timings, t0)
        explained = draft.trace(edition) if draft.trace is not None else {}
        if draft.trace is not None:
            timings["trace"] = _since(t0)
        for suffix, future in pending:
            write_file(draft.path(edition.version, suffix), future)
            timings[suffix] = _since(t0)
        record(conn, draft.kind, draft.period, version, dv, [str(p) for p in draft.paths(version)], changes,
               dict(draft.figures), quality_run_id=quality_run_id, content_hash=draft.content_hash,
               corrections=corrections, incomplete=draft.incomplete, cells=draft.cells,
               printed=draft.printed, explained=explained, build=fingerprint())
    return _result(draft, version, False, changes, dv, timings, quality_run_id, corrections)


def _same(prev: dict, draft: Draft, dv: dict) -> bool:
    if draft.content_hash is not None:
        return prev["content_hash"] == draft.content_hash
    return prev["data_hash"] == dv["hash"]


def _write_files(draft: Draft, edition: Edition, timings: dict, t0: float) -> list[tuple[str, Future]]:
    """Write the files whose content is at hand; return those still being made, to write last."""
    expected = (*draft.files, *draft.exports)
    written, pending = [], []
    for suffix, content in draft.write(edition):
        if suffix not in expected or suffix in written:
            raise ValueError(f"{draft.kind} {draft.period}: unexpected file .{suffix} (declared: {expected})")
        written.append(suffix)
        if isinstance(content, Future):
            pending.append((suffix, content))
            continue
        write_file(draft.path(edition.version, suffix), content)
        timings[suffix] = _since(t0)
    if len(written) != len(expected):
        missing = [s for s in expected if s not in written]
        raise ValueError(f"{draft.kind} {draft.period}: no content for .{', .'.join(missing)}")
    return pending


def write_file(path: Path, content: Content) -> None:
    """One output file, atomically: text, bytes, a writer given a temporary path, or a Future of
    text or bytes (waited for)."""
    if isinstance(content, Future):
        content = content.result()
    if isinstance(content, str):
        atomic_write_text(path, content)
    elif isinstance(content, bytes):
        atomic_write_bytes(path, content)
    else:
        with atomic_path(path) as tmp:
            content(tmp)


def _result(draft: Draft, version: int, reused: bool, changes: list[str], dv: dict, timings: dict,
            quality_run_id: str | None, corrections: list[dict]) -> dict:
    return {"version": version, "paths": [str(p) for p in draft.paths(version)], "reused": reused,
            "changes": changes, "data_version": dv, "timings": timings, "quality_run_id": quality_run_id,
            "corrections": corrections, "incomplete": draft.incomplete}


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
           figures: dict, quality_run_id: str | None = None, content_hash: str | None = None,
           corrections: list[dict] | None = None, incomplete: list[dict] | None = None,
           cells: dict | None = None, printed=None, explained: dict | None = None,
           build: dict | None = None) -> None:
    """The register row of a version and, in the same transaction, the KPI cells it printed and
    every figure it printed with its trace (``printed``: reports.figures.Figures)."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        bulletin_id, published_at = cur.execute(
            """INSERT INTO audit.bulletins (kind, period, version, data_version, data_hash, paths, changes, figures,
                                            quality_run_id, content_hash, corrections, incomplete, build)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (kind, period, version) DO UPDATE SET paths = EXCLUDED.paths,
                 quality_run_id = coalesce(EXCLUDED.quality_run_id, audit.bulletins.quality_run_id),
                 build = coalesce(audit.bulletins.build, EXCLUDED.build)
               RETURNING id, created_at""",
            [kind, period, version, json.dumps(dv), dv["hash"], json.dumps(paths, ensure_ascii=False),
             json.dumps(changes, ensure_ascii=False), json.dumps(figures, ensure_ascii=False), quality_run_id,
             content_hash, json.dumps(corrections or [], ensure_ascii=False),
             json.dumps(incomplete or [], ensure_ascii=False), json.dumps(build) if build else None]).fetchone()
        # a version written again (its files were gone) prints the same cells: replace them
        cur.execute("DELETE FROM audit.published_figures WHERE bulletin_id = %s", [bulletin_id])
        cur.executemany(
            """INSERT INTO audit.published_figures (bulletin_id, kind, period, version, published_at, kpi_code,
                                                    city_code, kpi_period, value_ytd, value_month, prints_ytd,
                                                    prints_month)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [(bulletin_id, kind, period, version, published_at, c.kpi_code, c.city_code, c.period,
              c.value_ytd if c.prints_ytd else None, c.value_month if c.prints_month else None,
              c.prints_ytd, c.prints_month) for c in (cells or {}).values()])
        cur.execute("DELETE FROM audit.document_figures WHERE bulletin_id = %s", [bulletin_id])
        cur.executemany(
            """INSERT INTO audit.document_figures (bulletin_id, figure_id, kpi_code, city_code, kpi_period, measure,
                                                   value, printed_text, label, places, trace)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            figure_rows(bulletin_id, printed, explained or {}))


def figure_rows(bulletin_id: int, printed, explained: dict) -> list[tuple]:
    """audit.document_figures' rows: each printed figure, then each figure only a trace rests on."""
    rows, done = [], set()
    for f in printed or ():
        e = explained.get(f.figure_id)
        rows.append((bulletin_id, f.figure_id, f.kpi_code, f.city_code, f.period, f.measure,
                     None if f.value is None else str(f.value), f.text, f.label,
                     json.dumps(f.places, ensure_ascii=False),
                     None if e is None else json.dumps(e, ensure_ascii=False)))
        done.add(f.figure_id)
    for fid, e in explained.items():
        if fid not in done:
            rows.append((bulletin_id, fid, e["kpi_code"], e["city_code"], e["period"], e["measure"],
                         None if e.get("value") is None else str(e["value"]), None, e["label"], "[]",
                         json.dumps(e, ensure_ascii=False)))
    return rows


# --------------------------------------------------------------------------- corrections (更正说明)
def find_corrections(conn, prev: dict, draft: Draft) -> list[dict]:
    """The printed values of the previous version ``prev`` that the new draft prints differently.

    Each: the figure and its period, old, new, difference (new − old, in the printed unit), both as
    printed, the version corrected and the superseding files behind the change (see the module doc).
    """
    with conn.cursor(row_factory=dict_row) as cur:
        old = {(r["kpi_code"], r["city_code"], r["kpi_period"]): r for r in cur.execute(
            "SELECT * FROM audit.published_figures WHERE bulletin_id = %s", [prev["id"]]).fetchall()}
    if not old:
        return []
    since = (prev["data_version"] or {}).get("max_file_id") or 0
    new_files = [s for s in draft.sources if int(s["file_id"]) > since]
    out = []
    for key, cell in draft.cells.items():
        was = old.get(key)
        if was is None:
            continue
        for measure in ("value_ytd", "value_month"):
            if not (was[f"prints_{measure[6:]}"] and getattr(cell, f"prints_{measure[6:]}")):
                continue
            a = None if was[measure] is None else float(was[measure])
            b = getattr(cell, measure)
            if _same_value(a, b):
                continue
            out.append(_correction(cell, measure, a, b, prev["version"], _files_behind(cell, new_files)))
    return out


def _same_value(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= 1e-9 * max(abs(a), 1.0)


def _correction(cell: Cell, measure: str, old, new, corrects: int, files: list[dict]) -> dict:
    y, m = int(cell.period[:4]), int(cell.period[5:])
    when = f"{y}年{m}月当月" if measure == "value_month" else f"{y}年{'1月' if m == 1 else f'1—{m}月'}"
    d = cell.decimals

    def text(v):
        return "—" if v is None else f"{v:.{d}f}"

    old_text, new_text = text(old), text(new)
    if old_text == new_text:  # below the printed precision: show where it moved
        d = 4
        old_text, new_text = text(old), text(new)
    diff = None if old is None or new is None else new - old
    return {"figure": f"{cell.figure} {when}", "kpi_code": cell.kpi_code, "city_code": cell.city_code,
            "period": cell.period, "measure": measure, "unit": cell.unit, "corrects_version": corrects,
            "old": old, "new": new, "difference": diff, "old_text": old_text, "new_text": new_text,
            "difference_text": "—" if diff is None else f"{diff:+.{d}f}",
            "files": [{"file_id": int(f["file_id"]), "file_name": f["file_name"], "city_code": f["city_code"],
                       "period": f["period"]} for f in files]}


def corrections_table(corrections: list[dict], version: int) -> dict | None:
    """更正说明 as a table (HTML, PDF and an XLSX sheet): figure, old, new, difference, unit, files."""
    if not corrections:
        return None
    rows = []
    for i, c in enumerate(corrections, start=1):
        files = "、".join(f"{f['file_name']}（文件编号{f['file_id']}）" for f in c["files"]) \
            or "（无新报送文件：重新计算）"
        rows.append([{"text": str(i), "value": i, "decimals": 0}, {"text": c["figure"]},
                     _num_cell(c["old"], c["old_text"]), _num_cell(c["new"], c["new_text"]),
                     _num_cell(c["difference"], c["difference_text"]), {"text": c["unit"]}, {"text": files}])
    corrected = sorted({c["corrects_version"] for c in corrections})
    return {"sheet": "更正说明", "title": "更正说明",
            "intro": f"本版（第{version}版）更正第{'、'.join(map(str, corrected))}版已发布的以下"
                     f"{len(corrections)}项数据（市州更正报送后重新计算；差额 = 更正后 − 原数）：",
            "columns": [{"header": h}
                        for h in ("序号", "数据项", "原数", "更正后", "差额", "单位", "更正依据（报送文件）")],
            "rows": rows, "note": None}


def _num_cell(value, text: str) -> dict:
    if value is None:
        return {"text": text}
    return {"text": text, "value": value, "decimals": len(text.split(".")[1]) if "." in text else 0}


def _files_behind(cell: Cell, new_files: list[dict]) -> list[dict]:
    """New files in force of the cell's city (every city for the province) and kind, for the months
    its value covers (the year to date; a workbook's last December too: paid-in funds start there)."""
    y = int(cell.period[:4])
    first = f"{y - 1:04d}-12" if cell.source_kind == "workbook" else f"{y:04d}-01"
    return [f for f in new_files if f["kind"] == cell.source_kind and first <= f["period"] <= cell.period
            and cell.city_code in (PROVINCE_CODE, f["city_code"])]


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
