"""Rates of revenue at stake, learnt from recorded recoveries (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from customhouse.declarations.schemas import DeclarationDocument
from customhouse.risk.revenue import SHRINK, Case, RevenueRates, cases_of
from tests import factories


def test_a_recovery_is_spread_over_the_items_by_price() -> None:
    document = DeclarationDocument.model_validate(factories.declaration())  # USD 1,000 + USD 500
    cases = cases_of(document, Decimal("300000"))
    assert [(c.currency, c.hs2, c.price, c.recovered) for c in cases] == [
        ("USD", "85", 1000.0, 200000.0),
        ("USD", "61", 500.0, 100000.0),
    ]


def test_rates_by_currency_and_chapter_shrink_towards_the_currency() -> None:
    cases = [Case("USD", "85", 1000.0, 500.0)] * 40 + [Case("USD", "61", 1000.0, 100.0)] * 2
    rates = RevenueRates.fit(cases, currency="KRW")
    overall = (40 * 500 + 2 * 100) / (42 * 1000)
    assert rates.rate("USD", "") == pytest.approx(overall)
    # chapter 61: 2 cases of its own (0.1) against SHRINK pseudo-cases at the currency's rate
    assert rates.rate("USD", "61") == pytest.approx((200 + overall * SHRINK * 1000) / (2000 + SHRINK * 1000))
    assert rates.rate("USD", "85") == pytest.approx(
        (20000 + overall * SHRINK * 1000) / (40000 + SHRINK * 1000)
    )
    assert rates.rate("USD", "99") == rates.rate("USD", "")  # a chapter never seen: the currency's
    assert rates.rate("EUR", "85") is None
    assert RevenueRates.load(rates.dump()) == rates
    assert RevenueRates.load({}) is None
