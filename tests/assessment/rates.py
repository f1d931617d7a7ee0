"""A small rate table with round numbers, so that golden cases can be computed by hand."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from customhouse.assessment.currency import RateTable

MONDAY = date(2026, 3, 2)


def round_rates() -> RateTable:
    """Monday to Friday of one week: 1 EUR = 1.25 USD = 1500 KRW (so 1 USD = 1200 KRW), 1.1 CHF."""
    week = [MONDAY + timedelta(days=n) for n in range(5)]
    return RateTable.from_rates(
        {
            "USD": dict.fromkeys(week, Decimal("1.25")),
            "KRW": dict.fromkeys(week, Decimal("1500")),
            "CHF": dict.fromkeys(week, Decimal("1.1")),
        },
        source="test rate",
    )


ROUND = round_rates()
