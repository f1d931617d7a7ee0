"""Lookups over the shipped code lists and pycountry.

Each list is read once, on first use, into a dict or frozenset: validation of a declaration touches
them many times and must not hit the disk or the database.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import pycountry


def _rows(name: str) -> list[dict[str, str]]:
    text = files("customhouse.reference").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@dataclass(frozen=True, slots=True)
class Office:
    code: str
    name: str
    country: str
    unlocode: str
    kind: str


@cache
def offices() -> dict[str, Office]:
    return {row["code"]: Office(**row) for row in _rows("offices.csv")}


@cache
def hs_descriptions() -> dict[str, str]:
    """HS 2022 code (2, 4 or 6 digits) to its description."""
    return {
        row["hscode"]: row["description"] for row in _rows("harmonized-system.csv") if row["level"] != "5"
    }


@cache
def hs_subheadings() -> frozenset[str]:
    return frozenset(code for code in hs_descriptions() if len(code) == 6)


@cache
def transport_modes() -> dict[str, str]:
    return {row["code"]: row["name"] for row in _rows("transport_modes.csv")}


@cache
def units() -> dict[str, str]:
    return {row["code"]: row["name"] for row in _rows("units.csv")}


@cache
def document_types() -> dict[str, tuple[str, str]]:
    """Document type code to (name, category)."""
    return {row["code"]: (row["name"], row["category"]) for row in _rows("document_types.csv")}


@cache
def incoterms() -> dict[str, bool]:
    """Incoterm 2020 rule to whether the seller pays carriage to the destination."""
    return {row["code"]: row["carriage_paid_to_destination"] == "yes" for row in _rows("incoterms.csv")}


@cache
def countries() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


@cache
def currencies() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)
