"""The dbt models stay portable: Postgres-only SQL lives in macros/, behind adapter.dispatch.

A national deployment may move the marts to another engine (README, "Beyond one machine"); then
only the ``postgres__`` macros need a sibling for that engine. The models' SQL is read with the
Jinja, comments and string literals taken out (the SQL inside pre/post hooks is read too), and
searched for constructs other engines do not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DBT = Path(__file__).resolve().parents[2] / "dbt_project"

# Postgres-only constructs, each with the portable way to write it.
POSTGRES_ONLY = {
    r"::\s*[a-z]": "x::type cast (use cast(x as type))",
    r"\bilike\b": "ILIKE (use lower(x) like ...)",
    r"\bdistinct\s+on\b": "DISTINCT ON (use row_number() over (...))",
    r"(?<![~!])!?~\*?(?!\s*=)": "regex operator ~ (use a macro)",
    r"\binterval\s+'": "interval literal (use dbt.dateadd)",
    r"\bgenerate_series\s*\(": "generate_series (use dbt.generate_series)",
    r"\bto_char\s*\(": "to_char (use a macro)",
    r"\bto_date\s*\(": "to_date (use a macro)",
    r"\bdate_trunc\s*\(": "date_trunc (use dbt.date_trunc)",
    r"\bregexp_\w+\s*\(": "regexp_* (use a macro)",
    r"\banalyze\b": "ANALYZE (use a macro)",
    r"\bjsonb?\b": "json/jsonb (use a macro)",
    r"\b(array|string)_agg\s*\(": "array_agg/string_agg (use dbt.listagg)",
    r"\bfilter\s*\(\s*where\b": "aggregate FILTER (WHERE) (use sum(case when ... end))",
    r"\bsplit_part\s*\(": "split_part (use dbt.split_part)",
    r"\btimezone\s*\(": "timezone() (use a macro)",
    r"\bdelete\s+from\b[^;]*?\busing\b": "DELETE ... USING (use a macro)",
}


def _strip(sql: str) -> str:
    """The SQL of a model as the engine gets it, less what varies by Jinja: Jinja blocks,
    comments and string literals become blanks (line numbers stay)."""
    def blank(m: re.Match) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    for pattern in (r"\{#.*?#\}", r"\{%.*?%\}", r"\{\{.*?\}\}", r"--[^\n]*", r"/\*.*?\*/", r"'(?:[^']|'')*'"):
        sql = re.sub(pattern, blank, sql, flags=re.S)
    return sql


def _hooks(sql: str) -> list[str]:
    """The SQL strings of a model's pre_hook/post_hook configs."""
    return [m.group(2) for m in re.finditer(r"(?:pre|post)_hook\s*=\s*\[?\s*(['\"])(.*?)\1", sql, flags=re.S)]


def _findings(name: str, sql: str) -> list[str]:
    out = []
    for pattern, why in POSTGRES_ONLY.items():
        for m in re.finditer(pattern, sql, flags=re.I | re.S):
            line = sql.count("\n", 0, m.start()) + 1
            out.append(f"{name}:{line}: {why}")
    return out


MODELS = sorted((DBT / "models").rglob("*.sql"))


def test_the_scan_sees_what_it_looks_for():
    # the scanner itself: each construct is found in plain SQL, and not in Jinja, comments or strings
    assert _findings("m", _strip("select x::text, count(*) filter (where y) from t")) == [
        "m:1: x::type cast (use cast(x as type))",
        "m:1: aggregate FILTER (WHERE) (use sum(case when ... end))"]
    assert _findings("m", _strip("select '{{ x::text }}' -- ::int\n{{ a ~ b }} /* analyze */")) == []
    assert _hooks("{{ config(post_hook='analyze {{ this }}') }}") == ["analyze {{ this }}"]


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_model_sql_is_portable(model):
    text = model.read_text(encoding="utf-8")
    found = _findings(model.name, _strip(text))
    found += [f"{model.name} (hook): {f.split(': ', 1)[1]}" for hook in _hooks(text)
              for f in _findings(model.name, _strip(hook))]
    assert not found, "Postgres-only SQL in a model; move it into a dispatched macro:\n" + "\n".join(found)


def _macros() -> dict[str, str]:
    """Every macro of macros/: name -> body."""
    out = {}
    for path in sorted((DBT / "macros").glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"\{%-?\s*macro\s+(\w+)\s*\(.*?%\}(.*?)\{%-?\s*endmacro\s*-?%\}", text, flags=re.S):
            out[m.group(1)] = m.group(2)
    return out


def test_postgres_only_macros_are_dispatched():
    macros = _macros()
    assert macros, "no macros found"
    undispatched = [f"{name}: {f.split(': ', 1)[1]}" for name, body in macros.items()
                    if not name.startswith("postgres__") for f in _findings(name, _strip(body))]
    assert not undispatched, ("Postgres-only SQL outside a postgres__ macro (dispatch it with adapter.dispatch):\n"
                              + "\n".join(undispatched))
    for name in [n for n in macros if n.startswith("postgres__")]:
        public = name.removeprefix("postgres__")
        assert public in macros and f"adapter.dispatch('{public}'" in macros[public], (
            f"{name} has no dispatching macro {public}")
