"""Customs value by transaction value: golden cases computed by hand, and properties."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customhouse.assessment import valuation
from customhouse.assessment.valuation import ValuationError, apportion, transaction_value, value_goods
from customhouse.declarations.schemas import DeclarationDocument
from customhouse.money import Money, Rounding
from customhouse.reference import codes
from tests import factories
from tests.assessment.rates import MONDAY, ROUND

D = Decimal
X = "\N{MULTIPLICATION SIGN}"


def document(**overrides: Any) -> DeclarationDocument:
    """The factory's declaration: two items of 1,000.00 and 500.00 USD."""
    return DeclarationDocument.model_validate(factories.declaration(**overrides))


def value(doc: DeclarationDocument, on: date = MONDAY) -> valuation.Valuation:
    return transaction_value(doc, on=on, national_currency="KRW", rounding=Rounding.HALF_UP, rates=ROUND)


def krw(amount: str) -> Money:
    return Money(D(amount), "KRW")


def test_fob_adds_freight_and_insurance_pro_rata():
    result = value(document(incoterm="FOB", freight="90.00", insurance="6.00"))
    first, second = result.items
    assert (first.freight.amount, first.insurance.amount, first.customs_value) == (
        D("60.00"),
        D("4.00"),
        Money(D("1064.00"), "USD"),
    )
    assert (second.freight.amount, second.insurance.amount) == (D("30.00"), D("2.00"))
    assert (first.national_value, second.national_value) == (krw("1276800"), krw("638400"))
    assert result.total == krw("1915200")
    assert first.formula == (
        "FOB 1,000.00 USD + freight 60.00 + insurance 4.00 = 1,064.00 USD"
        f" {X} 1,200 KRW/USD (test rate 2026-03-02) = 1,276,800 KRW"
    )
    assert first.rate.rate == D(1200) and first.rate.published == MONDAY
    assert result.method.startswith("transaction value")


def test_exw_in_euro_adds_freight_and_insurance():
    result = value(document(incoterm="EXW", invoice_currency="EUR", freight="150.00", insurance="7.50"))
    first, second = result.items
    assert first.customs_value == Money(D("1105.00"), "EUR")  # 1000 + 100 + 5
    assert second.customs_value == Money(D("552.50"), "EUR")  # 500 + 50 + 2.50
    assert (first.national_value, second.national_value) == (krw("1657500"), krw("828750"))
    assert first.formula == (
        "EXW 1,000.00 EUR + freight 100.00 + insurance 5.00 = 1,105.00 EUR"
        f" {X} 1,500 KRW/EUR (test rate 2026-03-02) = 1,657,500 KRW"
    )


def test_cfr_adds_insurance_only():
    result = value(document(incoterm="CFR", freight="80.00", insurance="3.00"))
    first, second = result.items
    assert first.freight == Money.zero("USD") and result.freight == Money.zero("USD")
    assert (first.insurance.amount, second.insurance.amount) == (D("2.00"), D("1.00"))
    assert (first.national_value, second.national_value) == (krw("1202400"), krw("601200"))
    assert first.formula == (
        f"CFR 1,000.00 USD + insurance 2.00 = 1,002.00 USD {X} 1,200 KRW/USD (test rate 2026-03-02)"
        " = 1,202,400 KRW"
    )


def test_cif_adds_nothing():
    result = value(document(incoterm="CIF", freight="80.00", insurance="3.00"))
    assert [item.customs_value.amount for item in result.items] == [D("1000.00"), D("500.00")]
    assert result.total == krw("1800000")
    assert (
        result.items[0].formula
        == f"CIF 1,000.00 USD {X} 1,200 KRW/USD (test rate 2026-03-02) = 1,200,000 KRW"
    )


def test_dap_adds_nothing_and_says_carriage_beyond_the_border_stays_in():
    result = value(document(incoterm="DAP", freight="100.00", insurance="10.00"))
    assert result.total == krw("1800000")
    assert result.adjustment.beyond_border
    assert result.items[0].formula == (
        "DAP 1,000.00 USD (price includes carriage beyond the border, not deducted)"
        f" {X} 1,200 KRW/USD (test rate 2026-03-02) = 1,200,000 KRW"
    )


def test_apportionment_gives_the_remainder_to_the_largest_item():
    items = [{**factories.BASE["goods_items"][0], "sequence": n, "price": "100.00"} for n in range(1, 4)]
    result = value(
        document(
            incoterm="FOB", invoice_total="300.00", goods_items=items, freight="100.00", insurance="0.05"
        )
    )
    assert [item.freight.amount for item in result.items] == [D("33.34"), D("33.33"), D("33.33")]
    assert [item.insurance.amount for item in result.items] == [D("0.03"), D("0.01"), D("0.01")]
    assert [item.national_value for item in result.items] == [krw("160044"), krw("160008"), krw("160008")]
    # 0.05 pro rata to 10 / 20 / 70: 0.005 and 0.035 are truncated, the cent left goes to the largest.
    assert apportion(D("0.05"), [D("10.00"), D("20.00"), D("70.00")]) == [D("0.00"), D("0.01"), D("0.04")]
    assert apportion(D("1.00"), [D(0), D(0), D(0)]) == [D("0.34"), D("0.33"), D("0.33")]


def test_a_weekend_acceptance_uses_fridays_ecb_rate():
    result = transaction_value(
        document(incoterm="FOB", freight="90.00", insurance="6.00"),
        on=date(2026, 3, 7),
        national_currency="KRW",
        rounding=Rounding.HALF_UP,
    )
    first = result.items[0]
    assert first.rate.published == date(2026, 3, 6)
    assert first.national_value == krw("1580235")  # 1,064.00 x 1,485.182943 = 1,580,234.651...
    assert first.formula.endswith(
        f"{X} 1,485.182943 KRW/USD (ECB reference rate 2026-03-06 for 2026-03-07) = 1,580,235 KRW"
    )


def test_freight_is_required_when_it_must_be_added():
    with pytest.raises(ValuationError) as caught:
        value(document(incoterm="FCA", insurance="6.00"))
    assert caught.value.pointer == "/freight"
    assert "FCA" in caught.value.detail


def test_missing_insurance_is_taken_as_none():
    result = value(document(incoterm="FOB", freight="90.00"))
    assert result.insurance == Money.zero("USD")
    assert result.items[0].formula.startswith(
        "FOB 1,000.00 USD + freight 60.00 + insurance 0.00 = 1,060.00 USD"
    )


def test_an_invoice_in_the_national_currency_needs_no_rate():
    result = transaction_value(
        document(
            incoterm="CIF",
            invoice_currency="KRW",
            invoice_total="1500000",
            goods_items=[{**factories.BASE["goods_items"][0], "price": "1500000"}],
        ),
        on=date(2040, 1, 1),  # outside any rate data
        national_currency="KRW",
        rounding=Rounding.HALF_UP,
    )
    assert result.items[0].national_value == krw("1500000")
    assert result.items[0].formula == "CIF 1,500,000 KRW"


money = st.decimals(min_value=0, max_value=D("9999999999.99"), places=2)
positive_money = st.decimals(min_value=D("0.01"), max_value=D("9999999999.99"), places=2)


@given(total=money, weights=st.lists(money, min_size=1, max_size=40))
def test_apportioned_parts_add_up_exactly(total, weights):
    shares = apportion(total, weights)
    assert sum(shares) == total
    assert all(share >= 0 for share in shares)
    whole = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        if whole and weight != max(weights):
            assert share <= total * weight / whole  # truncated, never rounded up


@given(
    incoterm=st.sampled_from(sorted(codes.incoterms())),
    prices=st.lists(money, min_size=1, max_size=20),
    freight=money,
    insurance=st.none() | money,
    invoice_currency=st.sampled_from(["USD", "EUR", "CHF", "KRW"]),
)
def test_customs_value_is_never_below_the_price_and_adds_exactly_the_header_amounts(
    incoterm, prices, freight, insurance, invoice_currency
):
    result = value_goods(
        incoterm=incoterm,
        invoice_currency=invoice_currency,
        prices=list(enumerate(prices, start=1)),
        freight=freight,
        insurance=insurance,
        on=MONDAY,
        national_currency="KRW",
        rounding=Rounding.DOWN,
        rates=ROUND,
    )
    for item in result.items:
        assert item.customs_value >= item.price
        assert item.national_value.amount >= 0
    assert sum(item.freight.amount for item in result.items) == result.freight.amount
    assert sum(item.insurance.amount for item in result.items) == result.insurance.amount
    assert sum(item.customs_value.amount for item in result.items) == (
        sum(prices) + result.freight.amount + result.insurance.amount
    )
    expected_freight = freight if not codes.incoterms()[incoterm] else 0
    assert result.freight.amount == expected_freight


@given(prices=st.lists(positive_money, min_size=1, max_size=10), freight=money, insurance=money)
def test_the_national_currency_as_invoice_currency_is_the_identity(prices, freight, insurance):
    result = value_goods(
        incoterm="FOB",
        invoice_currency="USD",
        prices=list(enumerate(prices, start=1)),
        freight=freight,
        insurance=insurance,
        on=date(1990, 1, 1),
        national_currency="USD",
        rounding=Rounding.UP,
        rates=ROUND,
    )
    for item in result.items:
        assert item.national_value == item.customs_value
        assert item.rate.rate == 1
