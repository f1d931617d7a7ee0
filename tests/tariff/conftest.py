"""The demo tariff (shipped in the package) and a small tariff file for the database tests."""

from __future__ import annotations

from importlib.resources import files

import pytest

from customhouse.tariff import schemas
from customhouse.tariff.selection import Tariff

DEMO_TEXT = files("customhouse.tariff").joinpath("data", "demo-tariff.yaml").read_text(encoding="utf-8")

SMALL = """\
name: small test tariff
country: KR
currency: KRW
groups:
  - {id: FTA-A, kind: fta, name: test FTA, countries: [DE, FR]}
quotas:
  - {id: Q1, volume: 1000, unit: KGM, valid_from: 2026-01-01, valid_to: 2026-12-31}
lines:
  - hs: "*"
    measures:
      - {id: VAT, type: vat, ad_valorem: 10, valid_from: 2000-01-01}
  - hs: "04"
    measures:
      - {id: MFN-04, type: third_country, ad_valorem: 30, valid_from: 2022-01-01}
      - {id: FTA-04, type: preferential, group: FTA-A, ad_valorem: 5, valid_from: 2022-01-01}
      - {id: TQ-04, type: quota, quota: Q1, ad_valorem: 10, valid_from: 2026-01-01, valid_to: 2026-12-31}
"""


@pytest.fixture(scope="session")
def demo() -> Tariff:
    return schemas.to_tariff(schemas.parse(DEMO_TEXT, file="demo-tariff.yaml"))
