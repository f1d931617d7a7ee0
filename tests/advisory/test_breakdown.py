"""The landed-cost estimate against the demo tariff, hand-computed with round rates (1 EUR = 1,500 KRW,
1 USD = 1,200 KRW): ad valorem, alcohol excise, preference with and without proof, the VAT base, items
sharing the freight, a quota read but not drawn on, and bad input named by JSON pointer."""

# ruff: noqa: RUF001  (formulas use the multiplication sign, as customs notices print them)

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from customhouse.assessment.breakdown import landed_cost
from customhouse.assessment.schemas import LandedCost
from customhouse.problems import Problem
from customhouse.tariff.selection import Tariff
from tests.advisory.conftest import request
from tests.assessment.rates import MONDAY, ROUND

WINE = {"hs_code": "220421", "origin": "FR", "price": "1000", "quantity": "120", "unit": "LTR"}


def estimate(
    demo: Tariff, on: date = MONDAY, balances: dict[str, D] | None = None, **fields: Any
) -> LandedCost:
    return landed_cost(demo, request(**fields), on=on, balances=balances, rates=ROUND)


def lines(result: LandedCost, item: int = 0) -> dict[str, int]:
    return {line.measure: int(line.amount.amount) for line in result.items[item].lines}


def why(result: LandedCost, measure: str) -> tuple[bool, str]:
    found = next(m for m in result.items[0].measures if m.measure == measure)
    return found.applies, found.why


def test_ad_valorem_on_a_fob_price_with_freight_and_insurance(demo):
    result = estimate(
        demo,
        invoice_currency="USD",
        incoterm="FOB",
        freight="100",
        insurance="10",
        items=[{"hs_code": "610910", "origin": "CN", "price": "1000"}],
    )
    # (1,000 + 100 + 10) USD x 1,200 = 1,332,000; MFN 13% = 173,160; VAT 10% x 1,505,160 = 150,516
    item = result.items[0]
    assert item.customs_value.amount == 1_332_000 and item.customs_value.currency == "KRW"
    assert item.valuation == (
        "FOB 1,000.00 USD + freight 100.00 + insurance 10.00 = 1,110.00 USD"
        " × 1,200 KRW/USD (test rate 2026-03-02) = 1,332,000 KRW"
    )
    assert lines(result) == {"MFN-61": 173_160, "VAT": 150_516}
    assert item.lines[0].formula == "13% × 1,332,000 KRW = 173,160 KRW"
    assert (item.lines[0].tax, item.lines[0].kind, item.lines[0].duty) == (
        "customs",
        "third-country duty",
        "13%",
    )
    assert item.duties_and_taxes.amount == 323_676
    assert item.landed_cost.amount == result.landed_cost.amount == 1_655_676
    assert (result.exchange_rate.rate, result.exchange_rate.published) == (D(1200), MONDAY)
    assert why(result, "FTA-61") == (False, "origin CN is not in FTA KR-EU")


def test_wine_pays_the_higher_duty_and_excise_per_litre_of_alcohol(demo):
    result = estimate(demo, incoterm="FOB", freight="100", items=[WINE | {"alcohol_strength": "12.5"}])
    # 1,100 EUR x 1,500 = 1,650,000; duty higher of 15% (247,500) and 1,500/l x 120 l (180,000);
    # excise 8,000/l alc. x 120 l x 12.5% = 120,000; VAT 10% x (1,650,000 + 247,500 + 120,000) = 201,750
    assert lines(result) == {"MFN-2204": 247_500, "EXC-2204": 120_000, "VAT": 201_750}
    excise = result.items[0].lines[1]
    assert excise.formula == "8,000 KRW/l alc. × 15 l alc. (120 l at 12.5% vol) = 120,000 KRW"
    assert excise.duty == "8,000 KRW/l alc."
    assert result.duties_and_taxes.amount == 569_250
    assert result.landed_cost.amount == 2_219_250
    assert {tax: int(total.amount) for tax, total in result.by_tax.items()} == {
        "customs": 247_500,
        "excise": 120_000,
        "vat": 201_750,
    }


def test_vat_is_on_customs_value_plus_duty_plus_excise(demo):
    # tobacco: 1,000 USD CIF = 1,200,000; MFN 40% = 480,000; ad valorem excise on value + duty:
    # 40% x 1,680,000 = 672,000; VAT 10% x (1,200,000 + 480,000 + 672,000) = 235,200
    result = estimate(
        demo, invoice_currency="USD", items=[{"hs_code": "240110", "origin": "CN", "price": "1000"}]
    )
    assert lines(result) == {"MFN-24": 480_000, "EXC-24": 672_000, "VAT": 235_200}
    formulas = [line.formula for line in result.items[0].lines]
    assert formulas[1] == "40% × (1,200,000 + 480,000) KRW = 672,000 KRW"
    assert formulas[2] == "10% × (1,200,000 + 480,000 + 672,000) KRW = 235,200 KRW"
    assert result.landed_cost.amount == 1_200_000 + 480_000 + 672_000 + 235_200


@pytest.mark.parametrize(
    ("proof", "expected", "taxes", "reason"),
    [
        (True, {"FTA-61": 0, "VAT": 150_000}, 150_000, "FTA KR-EU claimed and proven, if lower"),
        (
            False,
            {"MFN-61": 195_000, "VAT": 169_500},
            364_500,
            "FTA KR-EU claimed without a proof of origin",
        ),
    ],
)
def test_a_preference_claimed_is_granted_only_with_a_proof(demo, proof, expected, taxes, reason):
    item = {"hs_code": "610910", "origin": "DE", "price": "1000", "preference_claimed": True}
    result = estimate(demo, items=[item | {"proof_of_origin": proof}])  # 1,000 EUR CIF = 1,500,000
    assert lines(result) == expected
    assert result.duties_and_taxes.amount == taxes
    assert result.landed_cost.amount == 1_500_000 + taxes
    assert why(result, "FTA-61") == (proof, reason)
    if proof:
        assert "preference KR-EU replaces the third-country duty" in result.items[0].notes


def test_items_share_the_freight_and_the_totals_add_up(demo):
    items = [
        {"hs_code": "610910", "origin": "CN", "price": "1000"},
        {"hs_code": "240110", "origin": "CN", "price": "500"},
    ]
    result = estimate(demo, invoice_currency="USD", incoterm="FOB", freight="150", items=items)
    # freight 100 and 50: 1,320,000 and 660,000 KRW
    assert [int(item.customs_value.amount) for item in result.items] == [1_320_000, 660_000]
    assert lines(result, 0) == {"MFN-61": 171_600, "VAT": 149_160}
    assert lines(result, 1) == {"MFN-24": 264_000, "EXC-24": 369_600, "VAT": 129_360}
    assert {tax: int(total.amount) for tax, total in result.by_tax.items()} == {
        "customs": 435_600,
        "vat": 278_520,
        "excise": 369_600,
    }
    assert result.customs_value.amount == 1_980_000
    assert result.duties_and_taxes.amount == 1_083_720
    assert result.landed_cost.amount == 3_063_720
    assert sum(item.landed_cost.amount for item in result.items) == result.landed_cost.amount


def test_a_quota_gives_the_in_quota_rate_for_what_is_left(demo):
    milk = {"hs_code": "040210", "origin": "NZ", "price": "1000", "net_mass": "500"}  # 1,500,000 KRW
    full = estimate(demo, items=[milk], balances={"Q-0402": D(1_000_000)})
    assert lines(full) == {"TQ-0402": 300_000, "VAT": 180_000}  # 20%, not 176%
    assert full.items[0].notes[0] == (
        "quota Q-0402: 1,000,000 KGM left, 500 would be granted at lodgement now; "
        "the estimate reserves nothing"
    )
    # 250 kg left: half in quota at 20% of 750,000, half at 176% of 750,000; VAT on 1,500,000 + 1,470,000
    half = estimate(demo, items=[milk], balances={"Q-0402": D(250)})
    assert lines(half) == {"TQ-0402": 150_000, "MFN-0402": 1_320_000, "VAT": 297_000}
    # two items of one estimate share the balance in order, as two lodgements would
    both = estimate(demo, items=[milk, milk], balances={"Q-0402": D(600)})
    assert lines(both, 0)["TQ-0402"] == 300_000
    assert lines(both, 1)["TQ-0402"] == 60_000  # 100 kg of 500 left: 20% of 300,000
    nothing = estimate(demo, items=[milk])
    assert lines(nothing) == {"MFN-0402": 2_640_000, "VAT": 414_000}


def test_a_weekend_date_uses_the_business_day_before_and_says_so(demo):
    saturday = date(2026, 3, 7)  # the bundled ECB history: Friday 6 March has a rate, Saturday none
    result = landed_cost(demo, request(), on=saturday)
    assert (result.exchange_rate.requested, result.exchange_rate.published) == (saturday, date(2026, 3, 6))
    assert result.exchange_rate.source == "ECB reference rate"
    note = "no reference rate on 2026-03-07: the rate of 2026-03-06, the latest published before it, is used"
    assert note in result.notes
    assert result.date == saturday


def test_an_invoice_in_the_national_currency_needs_no_rate(demo):
    result = estimate(demo, on=date(2030, 1, 1), invoice_currency="KRW")  # long after the rate data
    assert result.exchange_rate.source == "same currency"
    assert result.customs_value.amount == 1000


def problem_of(demo: Tariff, on: date = MONDAY, **fields: Any) -> Problem:
    with pytest.raises(Problem) as caught:
        estimate(demo, on=on, **fields)
    assert caught.value.status == 422
    return caught.value


def test_a_date_after_the_rate_data_is_refused_with_the_last_date(demo):
    problem = problem_of(demo, on=date(2026, 3, 16))  # the round table ends on Friday 2026-03-06: 10 days
    [error] = problem.errors
    assert error.pointer == "/date"
    assert "the rate data ends on 2026-03-06" in error.detail
    assert "ask for an earlier date: give a date on or before 2026-03-06" in error.detail
    assert problem.extra == {"rates_until": "2026-03-06"}


@pytest.mark.parametrize(
    ("fields", "pointer", "detail"),
    [
        ({"incoterm": "FOB"}, "/freight", "is required with FOB"),
        ({"items": [WINE]}, "/goods_items/0/quantity", "declare the quantity in litres of pure alcohol"),
        (
            {"items": [{"hs_code": "040210", "origin": "NZ", "price": "1"}]},
            "/goods_items/0/net_mass",
            "is required: TQ-0402 draws on quota Q-0402, counted in KGM",
        ),
        ({"invoice_currency": "XOF"}, "/invoice_currency", "the ECB publishes no reference rate for 'XOF'"),
    ],
)
def test_what_the_estimate_cannot_compute_is_named_by_pointer(demo, fields, pointer, detail):
    [error] = problem_of(demo, **fields).errors
    assert error.pointer == pointer
    assert detail in error.detail


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"items": [{"hs_code": "2204", "origin": "FR", "price": "1"}]}, ("goods_items", 0, "hs_code")),
        ({"items": [{"hs_code": "01011000", "origin": "FR", "price": "1"}]}, ("goods_items", 0, "hs_code")),
        ({"items": [{"hs_code": "220421", "origin": "XX", "price": "1"}]}, ("goods_items", 0, "origin")),
        ({"items": [WINE | {"unit": None}]}, ("goods_items", 0)),
        ({"incoterm": "FOO"}, ("incoterm",)),
        ({"freight": "-1"}, ("freight",)),
    ],
)
def test_bad_fields_are_refused_by_the_model(fields, location):
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    assert [tuple(error["loc"]) for error in caught.value.errors()] == [location]


def test_an_eight_digit_national_code_is_accepted():
    assert request(items=[WINE | {"hs_code": "22042110"}]).goods_items[0].hs_code == "22042110"
