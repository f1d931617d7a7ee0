"""The demo tariff, in memory for the pure estimate and loaded into the test database for the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from customhouse.assessment.schemas import LandedCostRequest
from customhouse.config import Settings
from customhouse.tariff import schemas, service
from customhouse.tariff.selection import Tariff
from tests.tariff.conftest import DEMO_TEXT


@pytest.fixture(scope="session")
def demo() -> Tariff:
    return schemas.to_tariff(schemas.parse(DEMO_TEXT, file="demo-tariff.yaml"))


@pytest.fixture
def demo_in_force(session: Session) -> Session:
    """The session, with the demo tariff in force (committed to the test's SAVEPOINT)."""
    service.replace_tariff(session, text=DEMO_TEXT, source="demo-tariff.yaml", by="test")
    session.commit()
    return session


def body(*, items: list[dict[str, Any]] | None = None, **header: Any) -> dict[str, Any]:
    """A request as JSON: one item of 1,000 EUR CIF of T-shirts from China unless told otherwise."""
    item = {"hs_code": "610910", "origin": "CN", "price": "1000"}
    return {"invoice_currency": "EUR", "incoterm": "CIF", "goods_items": items or [item]} | header


def request(**fields: Any) -> LandedCostRequest:
    return LandedCostRequest.model_validate(body(**fields))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The administration's default look-back (7 days): these tests ask for dates past the rates."""
    return Settings(database_url="sqlite://", country="KR", national_currency="KRW", var_dir=tmp_path / "var")
