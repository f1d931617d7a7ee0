from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customhouse.money import Money, Rounding, from_thousandths, to_thousandths

amounts = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=4)


def test_rounding_rules_are_named_and_exact():
    assert Money(Decimal("2.345"), "USD").rounded(Rounding.HALF_UP) == Money(Decimal("2.35"), "USD")
    assert Money(Decimal("2.345"), "USD").rounded(Rounding.HALF_EVEN) == Money(Decimal("2.34"), "USD")
    assert Money(Decimal("2.349"), "USD").rounded(Rounding.DOWN) == Money(Decimal("2.34"), "USD")
    assert Money(Decimal("1234.5"), "KRW").rounded(Rounding.HALF_UP, places=0) == Money(
        Decimal("1235"), "KRW"
    )


def test_no_floats_no_mixed_currencies():
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot combine"):
        Money(Decimal(1), "USD") + Money(Decimal(1), "EUR")
    with pytest.raises(ValueError, match="cannot combine"):
        assert Money(Decimal(5), "USD") > Money(Decimal(1), "KRW")
    assert Money(Decimal(5), "USD") > Money(Decimal(1), "USD")


@given(a=amounts, b=amounts)
def test_addition_is_exact_and_reversible(a, b):
    total = Money(a, "KRW") + Money(b, "KRW")
    assert total.amount == a + b
    assert total - Money(b, "KRW") == Money(a, "KRW")


@given(a=amounts)
def test_rounding_moves_by_less_than_one_unit_of_the_last_place(a):
    for rule in Rounding:
        assert abs(Money(a, "USD").rounded(rule).amount - a) < Decimal("0.01")


def test_thousandths_are_exact_unless_a_rounding_is_named():
    assert to_thousandths(Decimal("30.001")) == 30001
    assert from_thousandths(30001) == Decimal("30.001")
    with pytest.raises(ValueError, match="more than three decimal places"):
        to_thousandths(Decimal("1.0005"))
    assert to_thousandths(Decimal("1.0005"), Rounding.HALF_UP) == 1001
