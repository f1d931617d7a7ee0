"""Customs value by transaction value (WTO Valuation Agreement, art. 1), CIF at the border of importation.

The price actually paid is adjusted (art. 8.2) to what delivery to the border would have cost, as the
Incoterm tells who paid for what:

- EXW, FCA, FAS, FOB: the seller pays no main carriage: add the declared freight and insurance.
- CFR, CPT: the price includes the freight: add the insurance only.
- CIF, CIP: the price is already CIF: add nothing.
- DAP, DPU, DDP: the price includes carriage (DDP also duties) beyond the border, which art. 8.2 would
  let us deduct; deducting needs those post-importation costs declared separately, which the
  declaration does not carry yet, so they stay in the value (the trader's disadvantage; the formula
  says so).

A missing freight where freight must be added is an error (goods do not travel for free; declare 0 when
the buyer carried them); a missing insurance is taken as none (not every consignment is insured).

Apportionment of the header freight and insurance to items: pro rata to each item's price, each share
truncated to the precision of the amounts (never rounded up, so no remainder is ever negative), the
remainder (less than one unit of that precision per item) to the item with the largest price, the
first such in item order; the shares therefore add up exactly to the header amount. If every price is
zero, the shares are equal. The invoice-currency amounts stay exact; the only rounding is of each item's
value in the national currency, to its minor units, by the named `Rounding` (per line, as duty is
assessed per line).

Pure functions: no database, no settings; the caller passes the acceptance date, the national
currency and the rounding rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from customhouse.assessment import currency
from customhouse.declarations.schemas import DeclarationDocument
from customhouse.money import Money, Rounding
from customhouse.reference import codes

METHOD = "transaction value (WTO Valuation Agreement, article 1)"
_SELLER_INSURES = frozenset({"CIF", "CIP", "DAP", "DPU", "DDP"})
_DELIVERED = frozenset({"DAP", "DPU", "DDP"})
TIMES = "\N{MULTIPLICATION SIGN}"
BEYOND_BORDER_NOTE = "price includes carriage beyond the border, not deducted"


class ValuationError(ValueError):
    """The declaration lacks what the valuation needs; `pointer` names the field (RFC 6901)."""

    def __init__(self, pointer: str, detail: str) -> None:
        self.pointer = pointer
        self.detail = detail
        super().__init__(f"{pointer}: {detail}")


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What art. 8.2 adds to the price for an Incoterm, to reach the value at the border."""

    incoterm: str
    add_freight: bool
    add_insurance: bool
    beyond_border: bool  # the price includes carriage past the border (D rules), left in


def adjustment(incoterm: str) -> Adjustment:
    carriage_paid = codes.incoterms().get(incoterm)
    if carriage_paid is None:
        raise ValuationError("/incoterm", f"{incoterm!r} is not an Incoterms 2020 rule")
    return Adjustment(
        incoterm,
        add_freight=not carriage_paid,
        add_insurance=incoterm not in _SELLER_INSURES,
        beyond_border=incoterm in _DELIVERED,
    )


def _places(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def apportion(total: Decimal, weights: Sequence[Decimal], places: int = 2) -> list[Decimal]:
    """`total` split pro rata to `weights` at `places` decimals, adding up exactly to `total`.

    Each share is truncated; the remainder goes to the largest weight (the first of equals). Equal
    shares when every weight is zero. `places` is widened to the precision of `total` if it has more.
    """
    if not weights:
        raise ValueError("nothing to apportion to")
    if total < 0 or any(weight < 0 for weight in weights):
        raise ValueError("apportionment needs non-negative amounts")
    places = max(places, _places(total))
    units = int(total.scaleb(places))  # exact: total has at most `places` decimals
    scale = max(_places(weight) for weight in weights)
    parts = [int(weight.scaleb(scale)) for weight in weights]  # exact integers, same proportions
    whole = sum(parts)
    if whole == 0:
        parts, whole = [1] * len(weights), len(weights)
    shares = [units * part // whole for part in parts]
    largest = max(range(len(parts)), key=lambda index: (parts[index], -index))
    shares[largest] += units - sum(shares)
    return [Decimal(share).scaleb(-places) for share in shares]


@dataclass(frozen=True, slots=True)
class ItemValue:
    sequence: int
    price: Money  # invoice currency, as declared
    freight: Money  # the item's share of the freight added (zero when the Incoterm adds none)
    insurance: Money  # likewise for insurance
    customs_value: Money  # price + freight + insurance, invoice currency, exact
    national_value: Money  # in the national currency, rounded to its minor units
    rate: currency.ExchangeRate
    formula: str


@dataclass(frozen=True, slots=True)
class Valuation:
    method: str
    adjustment: Adjustment
    freight: Money  # header freight added, invoice currency (zero when not added)
    insurance: Money
    rate: currency.ExchangeRate
    items: tuple[ItemValue, ...]

    @property
    def total(self) -> Money:
        """The sum of the items' rounded national values (rounding is per line)."""
        total = Money.zero(self.rate.quote)
        for item in self.items:
            total += item.national_value
        return total


def _amount(value: Decimal, places: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places)):,}"


def _formula(
    *,
    rule: Adjustment,
    places: int,
    price: Decimal,
    freight: Decimal,
    insurance: Decimal,
    value: Money,
    converted: str,
    national: Money,
) -> str:
    """E.g. 'FOB 1,000.00 USD + freight 50.00 + insurance 5.00 = 1,055.00 USD x 1,350.12 KRW/USD
    (ECB reference rate 2026-03-02) = 1,424,377 KRW', with the multiplication sign for x.

    `converted` is the rate part (' x RATE (SOURCE DATE)'), empty for an invoice in the national currency.
    """
    invoice = value.currency
    text = f"{rule.incoterm} {_amount(price, places)} {invoice}"
    if rule.beyond_border:
        text += f" ({BEYOND_BORDER_NOTE})"
    if rule.add_freight:
        text += f" + freight {_amount(freight, places)}"
    if rule.add_insurance:
        text += f" + insurance {_amount(insurance, places)}"
    shown = f"{_amount(value.amount, places)} {invoice}"
    if rule.add_freight or rule.add_insurance:
        text += f" = {shown}"
    result = f"{national.amount:,} {national.currency}"
    if converted or result != shown:  # same currency: shown again only if rounding changed it
        text += f"{converted} = {result}"
    return text


def value_goods(
    *,
    incoterm: str,
    invoice_currency: str,
    prices: Sequence[tuple[int, Decimal]],
    freight: Decimal | None,
    insurance: Decimal | None,
    on: date,
    national_currency: str,
    rounding: Rounding,
    rates: currency.RateTable | None = None,
) -> Valuation:
    """Customs value of each (sequence, price) at the border, in both currencies, at the rate of `on`."""
    rule = adjustment(incoterm)
    if rule.add_freight and freight is None:
        raise ValuationError(
            "/freight", f"is required with {incoterm}: the price excludes carriage to the border (0 if none)"
        )
    if not prices:
        raise ValuationError("/goods_items", "at least one goods item is needed to value")
    added_freight = (freight or Decimal(0)) if rule.add_freight else Decimal(0)
    added_insurance = (insurance or Decimal(0)) if rule.add_insurance else Decimal(0)
    places = max(
        currency.minor_units(invoice_currency),
        *(_places(amount) for amount in (added_freight, added_insurance, *(price for _, price in prices))),
    )
    weights = [price for _, price in prices]
    freights = apportion(added_freight, weights, places)
    insurances = apportion(added_insurance, weights, places)
    rate = currency.rate(invoice_currency, national_currency, on, rates)

    converted = "" if rate.base == rate.quote else f" {TIMES} {rate.describe()}"
    items = []
    for (sequence, price), item_freight, item_insurance in zip(prices, freights, insurances, strict=True):
        value = Money(price + item_freight + item_insurance, invoice_currency)
        national = rate.apply(value, rounding)
        item = ItemValue(
            sequence=sequence,
            price=Money(price, invoice_currency),
            freight=Money(item_freight, invoice_currency),
            insurance=Money(item_insurance, invoice_currency),
            customs_value=value,
            national_value=national,
            rate=rate,
            formula=_formula(
                rule=rule,
                places=places,
                price=price,
                freight=item_freight,
                insurance=item_insurance,
                value=value,
                converted=converted,
                national=national,
            ),
        )
        items.append(item)
    return Valuation(
        METHOD,
        rule,
        Money(added_freight, invoice_currency),
        Money(added_insurance, invoice_currency),
        rate,
        tuple(items),
    )


def transaction_value(
    document: DeclarationDocument,
    *,
    on: date,
    national_currency: str,
    rounding: Rounding,
    rates: currency.RateTable | None = None,
) -> Valuation:
    """The customs value of every goods item of `document`, at the exchange rate of `on` (acceptance)."""
    return value_goods(
        incoterm=document.incoterm,
        invoice_currency=document.invoice_currency,
        prices=[(item.sequence, item.price) for item in document.goods_items],
        freight=document.freight,
        insurance=document.insurance,
        on=on,
        national_currency=national_currency,
        rounding=rounding,
        rates=rates,
    )
