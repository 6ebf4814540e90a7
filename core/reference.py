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
def division_names() -> dict[str, str]:
    """GB/T 2260 code -> name for the province, its cities and counties."""
    return {r["code"]: r["name"] for r in _rows("hunan_divisions.csv")}


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


@lru_cache
def provinces() -> dict[str, dict]:
    """Province code -> row (name, source_region) for 投资方来源地."""
    return {r["code"]: r for r in _rows("china_provinces.csv")}


@lru_cache
def countries() -> dict[str, dict]:
    """ISO 3166 alpha-2 -> row (name_en, name_zh)."""
    return {r["alpha_2"]: r for r in _rows("iso_countries.csv")}


@lru_cache
def industry_chains() -> list[str]:
    return [r["chain_name"] for r in _rows("industry_chains.csv")]


@lru_cache
def service_categories() -> list[str]:
    return [r["category_name"] for r in _rows("service_categories.csv")]
