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


def ordered_list(name: str) -> list[str]:
    """A closed list in its natural order (在谈 → 终止; seed order for chains and categories)."""
    if name == "industry_chain":
        return industry_chains()
    if name == "service_category":
        return service_categories()
    return list(_static_lists().get(name, ()))


def _static_lists() -> dict[str, tuple[str, ...]]:
    from ingestion import contract

    return {
        "stage": contract.STAGES, "source_region": contract.SOURCE_REGIONS,
        "fortune500": contract.FORTUNE500, "currency": contract.CURRENCIES,
        "trade_mode": contract.TRADE_MODES, "direction": contract.DIRECTIONS,
    }


def code_list(name: str, city_code: str | None = None) -> set[str]:
    """Allowed values of a contract code list (city-specific lists need the submitting city)."""
    if name == "park_of_city":
        return {p["park_code"] for p in parks_by_city().get(city_code, [])}
    if name == "county_of_city":
        return counties_by_city().get(city_code, set())
    if name == "industry_chain":
        return set(industry_chains())
    if name == "service_category":
        return set(service_categories())
    if name == "iso_country":
        return set(countries())
    if name == "investor_origin":  # a province of China, or a foreign country
        return set(provinces()) | (set(countries()) - {"CN"})
    static = _static_lists()
    if name in static:
        return set(static[name])
    raise KeyError(f"unknown code list {name!r}")
