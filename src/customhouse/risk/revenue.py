"""Revenue at stake: what an irregularity in a declaration is expected to cost the treasury.

    expected revenue at stake = P(irregular) x sum over items of rate(invoice currency, HS chapter) x price

`rate` is the revenue recovered (national currency, as officers record it with an irregularity) per unit
of declared value (invoice currency) over the irregular declarations controlled so far, by invoice
currency and HS chapter. A chapter with few cases is shrunk towards its currency's rate (`SHRINK`
pseudo-cases of the chapter's mean value at the currency's rate). A declaration's revenue is spread over
its items by price. Rates are learnt with each model version (`risk.service.train`) and kept with it;
a currency never seen in a recovery gives no estimate (None), rather than a conversion guess.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from customhouse.declarations.schemas import DeclarationDocument

SHRINK = 10.0
ALL = ""  # the currency's rate over every chapter


@dataclass(frozen=True)
class Case:
    """One goods item of an irregular declaration: its declared price and its share of the recovery."""

    currency: str
    hs2: str
    price: float
    recovered: float


def cases_of(document: DeclarationDocument, recovered: Decimal) -> list[Case]:
    total = sum((item.price for item in document.goods_items), Decimal(0))
    if total <= 0:
        return []
    currency = document.invoice_currency
    return [
        Case(currency, item.hs_code[:2], float(item.price), float(recovered * item.price / total))
        for item in document.goods_items
    ]


@dataclass(frozen=True)
class RevenueRates:
    currency: str  # the national currency the recoveries are in
    rates: Mapping[str, Mapping[str, float]]  # invoice currency -> HS chapter (or ALL) -> rate
    cases: int = 0

    @classmethod
    def fit(cls, cases: Iterable[Case], *, currency: str) -> RevenueRates:
        sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        count = 0
        for case in cases:
            count += 1
            for key in ((case.currency, ALL), (case.currency, case.hs2)):
                total = sums[key]
                total[0] += 1
                total[1] += case.price
                total[2] += case.recovered
        rates: dict[str, dict[str, float]] = defaultdict(dict)
        for (invoice_currency, hs2), (_, value, recovered) in sorted(sums.items()):
            if hs2 == ALL:
                rates[invoice_currency][ALL] = recovered / value if value > 0 else 0.0
        for (invoice_currency, hs2), (n, value, recovered) in sorted(sums.items()):
            if hs2 != ALL and value > 0:
                prior = rates[invoice_currency][ALL]
                pseudo = SHRINK * value / n
                rates[invoice_currency][hs2] = (recovered + prior * pseudo) / (value + pseudo)
        return cls(currency, {key: dict(value) for key, value in rates.items()}, count)

    def rate(self, invoice_currency: str, hs2: str) -> float | None:
        by_chapter = self.rates.get(invoice_currency)
        if by_chapter is None:
            return None
        return by_chapter.get(hs2, by_chapter.get(ALL))

    def at_stake(self, document: DeclarationDocument, probability: float) -> Decimal | None:
        """Expected revenue at stake of a declaration (national currency, rounded to the unit)."""
        total = 0.0
        for item in document.goods_items:
            rate = self.rate(document.invoice_currency, item.hs_code[:2])
            if rate is None:
                return None
            total += rate * float(item.price)
        return Decimal(round(probability * total))

    def dump(self) -> dict[str, Any]:
        return {"currency": self.currency, "rates": self.rates, "cases": self.cases}

    @classmethod
    def load(cls, data: Mapping[str, Any] | None) -> RevenueRates | None:
        if not data or not data.get("rates"):
            return None
        return cls(str(data["currency"]), data["rates"], int(data.get("cases", 0)))
