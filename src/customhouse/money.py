"""Money: a Decimal amount with its ISO 4217 currency, and named rounding rules.

Floats never hold money. Arithmetic between two amounts requires the same currency; rounding is
always explicit and names its rule, because customs law says how each tax line is rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from enum import StrEnum


class Rounding(StrEnum):
    HALF_UP = "half_up"  # commercial rounding, the usual rule for duty lines
    HALF_EVEN = "half_even"  # banker's rounding
    DOWN = "down"  # towards zero: some administrations round duty in the trader's favour
    UP = "up"  # away from zero

    @property
    def decimal_mode(self) -> str:
        return DECIMAL_MODES[self]


THOUSAND = Decimal(1000)

DECIMAL_MODES = {
    Rounding.HALF_UP: ROUND_HALF_UP,
    Rounding.HALF_EVEN: ROUND_HALF_EVEN,
    Rounding.DOWN: ROUND_DOWN,
    Rounding.UP: ROUND_UP,
}


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money needs a Decimal amount, not {type(self.amount).__name__}")
        if not self.amount.is_finite():
            raise ValueError("Money must be finite")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(self.amount * factor, self.currency)

    # Ordering only within one currency (a dataclass's order=True would compare across currencies).
    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def rounded(self, rule: Rounding, places: int = 2) -> Money:
        """Rounded to `places` decimals (0 for currencies without minor units, e.g. KRW) by `rule`."""
        return Money(
            self.amount.quantize(Decimal(1).scaleb(-places), rounding=rule.decimal_mode), self.currency
        )

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def to_thousandths(value: Decimal, rounding: Rounding | None = None) -> int:
    """`value` as a whole number of thousandths, the form in which balances (quotas, guarantees) are
    stored, so that SQLite's arithmetic on them stays exact. Without a rounding rule a finer value is
    an error, not silently rounded."""
    thousandths = value * THOUSAND
    if rounding is not None:
        return int(thousandths.quantize(Decimal(1), rounding=rounding.decimal_mode))
    if thousandths != thousandths.to_integral_value():
        raise ValueError(f"{value} has more than three decimal places")
    return int(thousandths)


def from_thousandths(count: int) -> Decimal:
    return Decimal(count) / THOUSAND
