"""What a published version was computed with, besides its files: the seeds, the rules, the layout.

Recorded with every version (``audit.bulletins.build``); ``openecon reproduce`` compares it with
today's, so a figure that differs is explained (a seed changed, a rule changed) rather than found.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.settings import PROJECT_ROOT

REPORTS = Path(__file__).parent
DBT_PROJECT = PROJECT_ROOT / "dbt_project"


def _digest(paths, root: Path) -> str:
    """A short hash of the files' names (relative to ``root``: the same on every checkout) and bytes."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def fingerprint() -> dict:
    """{seeds: {name: hash}, rules: hash of the dbt models and macros, documents: hash of the
    document code and templates}."""
    dbt = DBT_PROJECT
    seeds = {p.stem: _digest([p], dbt) for p in sorted((dbt / "seeds").glob("*.csv"))}
    rules = [p for d in ("models", "macros") for p in (dbt / d).rglob("*")
             if p.is_file() and p.suffix in (".sql", ".yml")]
    documents = [p for p in REPORTS.rglob("*") if p.is_file() and p.suffix in (".py", ".j2", ".css")]
    return {"seeds": seeds, "rules": _digest([*rules, dbt / "dbt_project.yml"], dbt),
            "documents": _digest(documents, REPORTS)}


def differences(then: dict | None, now: dict) -> list[str]:
    """What changed since ``then`` (a version's ``build``), in Chinese and English."""
    if not then:
        return ["发布时未记录计算依据（种子表、规则版本） the version did not record its seeds and rules"]
    out = []
    for name in sorted(set(then.get("seeds", {})) | set(now["seeds"])):
        a, b = then.get("seeds", {}).get(name), now["seeds"].get(name)
        if a != b:
            out.append(f"种子表 {name} 已变更 seed {name} changed ({a or '—'} → {b or '—'})")
    if then.get("rules") != now["rules"]:
        out.append(f"计算规则（dbt 模型）已变更 the rules (dbt models, macros) changed "
                   f"({then.get('rules')} → {now['rules']})")
    if then.get("documents") != now["documents"]:
        out.append(f"文件生成程序已变更 the document code changed ({then.get('documents')} → {now['documents']})")
    return out
