"""Duty formulas, hand-computed: every measure kind, unit conversion, rounding per line, never negative."""

# ruff: noqa: RUF001  (formulas use the multiplication sign, as customs notices print them)

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customhouse.money import Money, Rounding
from customhouse.tariff.measures import (
    AdValorem,
    Alternative,
    Basis,
    Choose,
    Compound,
    QuantityMissing,
    Specific,
    compute,
    evaluate,
)


def krw(amount: str) -> Money:
    return Money(D(amount), "KRW")


def line(duty, basis, rounding=Rounding.HALF_UP, places=0):
    return compute(duty, basis, tax="customs", measure="M1", rounding=rounding, places=places)


def test_ad_valorem_shows_its_formula_with_the_numbers():
    result = line(AdValorem(D(8)), Basis(krw("1234000")))
    assert result.amount == krw("98720")
    assert result.formula == "8% × 1,234,000 KRW = 98,720 KRW"
    assert (result.tax, result.measure) == ("customs", "M1")


def test_specific_per_kg_reads_the_net_mass():
    result = line(Specific(D(500), "KGM"), Basis(krw("1"), net_mass=D("12.5")))
    assert result.amount == krw("6250")
    assert result.formula == "500 KRW/kg × 12.5 kg = 6,250 KRW"


def test_specific_per_tonne_converts_kilograms():
    assert line(Specific(D(2000), "TNE"), Basis(krw("1"), net_mass=D(2500))).amount == krw("5000")


def test_litres_of_pure_alcohol_from_litres_and_strength():
    basis = Basis(krw("1"), quantity=D(10), unit="LTR", alcohol_strength=D(40))
    result = line(Specific(D(8000), "LPA"), basis)
    assert result.amount == krw("32000")  # 10 l x 40% = 4 LPA
    assert "(10 l at 40% vol)" in result.formula


def test_litres_of_pure_alcohol_from_millilitres():
    basis = Basis(krw("1"), quantity=D(7500), unit="MLT", alcohol_strength=D(12))
    assert line(Specific(D(8000), "LPA"), basis).amount == krw("7200")  # 7.5 l x 12% = 0.9 LPA


def test_declared_pure_alcohol_is_used_as_is():
    basis = Basis(krw("1"), quantity=D(3), unit="LPA")
    assert line(Specific(D(12000), "LPA"), basis).amount == krw("36000")


def test_items_pairs_and_dozens_convert_within_their_dimension():
    assert line(Specific(D(50), "C62"), Basis(krw("1"), quantity=D(20), unit="DZN")).amount == krw("12000")
    assert line(Specific(D(2000), "NPR"), Basis(krw("1"), quantity=D(7), unit="PR")).amount == krw("14000")


def test_a_missing_quantity_is_said_not_guessed():
    with pytest.raises(QuantityMissing, match="litres of pure alcohol"):
        line(Specific(D(8000), "LPA"), Basis(krw("1"), quantity=D(10), unit="LTR"))  # no strength
    with pytest.raises(QuantityMissing, match="pair"):
        line(Specific(D(2000), "NPR"), Basis(krw("1"), quantity=D(10), unit="KGM"))


def test_compound_adds_ad_valorem_and_specific():
    duty = Compound(AdValorem(D(40)), Specific(D(500), "KGM"))
    result = line(duty, Basis(krw("1000000"), net_mass=D(100)))
    assert result.amount == krw("450000")  # 400,000 + 50,000
    assert result.formula == "40% × 1,000,000 KRW + 500 KRW/kg × 100 kg = 450,000 KRW"


@pytest.mark.parametrize(
    ("choose", "minimum", "maximum", "expected"),
    [
        (Choose.HIGHER, None, None, "30000"),  # 15% of 100,000 = 15,000 vs 1,500/l x 20 l = 30,000
        (Choose.LOWER, None, None, "15000"),
        (Choose.HIGHER, None, D(25000), "25000"),
        (Choose.LOWER, D(40000), None, "40000"),
    ],
)
def test_alternative_takes_the_higher_or_lower_within_its_bounds(choose, minimum, maximum, expected):
    duty = Alternative(AdValorem(D(15)), Specific(D(1500), "LTR"), choose, minimum, maximum)
    result = line(duty, Basis(krw("100000"), quantity=D(20), unit="LTR"))
    assert result.amount == krw(expected)
    assert result.formula.startswith(f"{choose} of (15% × 100,000 KRW = 15,000; 1,500 KRW/l × 20 l = 30,000)")


def test_rounding_is_per_line_by_the_named_rule():
    basis = Basis(krw("12345"))
    duty = AdValorem(D("6.5"))  # 802.425
    assert line(duty, basis).amount == krw("802")
    assert line(duty, basis).formula == "6.5% × 12,345 KRW = 802 KRW (half_up from 802.425)"
    assert line(duty, basis, Rounding.UP).amount == krw("803")
    assert line(duty, basis, places=2).amount == krw("802.43")
    assert line(duty, basis, Rounding.HALF_EVEN, places=2).amount == krw("802.42")


def test_duty_is_never_negative_even_on_a_negative_base():
    assert line(AdValorem(D(8)), Basis(krw("-1000"))).amount == krw("0")


rates = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False)
amounts = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
values = st.decimals(min_value=-(10**6), max_value=10**12, places=2, allow_nan=False, allow_infinity=False)
masses = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
simple = st.one_of(
    rates.map(AdValorem),
    amounts.map(lambda amount: Specific(amount, "KGM")),
    st.builds(Compound, rates.map(AdValorem), amounts.map(lambda a: Specific(a, "KGM"))),
)
duties = st.one_of(
    simple,
    st.builds(
        Alternative,
        simple,
        simple,
        st.sampled_from(list(Choose)),
        st.none() | amounts,
        st.none(),
    ),
)


@given(duty=duties, value=values, mass=masses, rounding=st.sampled_from(list(Rounding)))
def test_duties_are_never_negative(duty, value, mass, rounding):
    assert line(duty, Basis(krw(str(value)), net_mass=mass), rounding).amount.amount >= 0


@given(rate=rates, amount=amounts, value=values, mass=masses)
def test_a_compound_duty_equals_its_parts(rate, amount, value, mass):
    basis = Basis(krw(str(value)), net_mass=mass)
    ad_valorem, specific = AdValorem(rate), Specific(amount, "KGM")
    parts = evaluate(ad_valorem, basis).amount + evaluate(specific, basis).amount
    assert evaluate(Compound(ad_valorem, specific), basis).amount == parts
