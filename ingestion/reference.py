"""Reference code lists, read from the dbt seeds (the one copy in the repository)."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds"


def _rows(name: str) -> list[dict]:
    with open(SEEDS_DIR / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@lru_cache
def cities() -> dict[str, str]:
    """city code -> name, in code order (the 14 市州)."""
    return {r["code"]: r["name"] for r in _rows("hunan_divisions.csv") if r["level"] == "city"}


@lru_cache
def counties_by_city() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {c: set() for c in cities()}
    for r in _rows("hunan_divisions.csv"):
        if r["level"] == "county":
            out.setdefault(r["parent_code"], set()).add(r["code"])
    return out


@lru_cache
def parks() -> list[dict]:
    return _rows("hunan_parks.csv")


@lru_cache
def parks_by_city() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {c: [] for c in cities()}
    for r in parks():
        out.setdefault(r["city_code"], []).append(r)
    return out


def code_list(name: str, city_code: str) -> set[str]:
    """Allowed values of a contract code list for a submitting city."""
    if name == "park_of_city":
        return {p["park_code"] for p in parks_by_city().get(city_code, [])}
    if name == "county_of_city":
        return counties_by_city().get(city_code, set())
    raise KeyError(f"unknown code list {name!r}")
