"""Duty formulas: ad valorem, specific, compound and alternative duties, computed in Decimal.

Pure: no database. A computation gives a `DutyLine`: the amount in the national currency rounded by a
named rule (per line, as customs law rounds each tax line), the measure it applied, and the formula
with its numbers, so that a trader can redo the sum by hand. Duties are never negative: a negative
intermediate (which only bad input can give) is clamped to zero.

Specific duties are per unit of UN/ECE Rec. 20. The quantity comes from the declared net mass for
mass units (kg, g, t), otherwise from the supplementary quantity converted within its dimension
(millilitres to litres, dozens to items...). Litres of pure alcohol (LPA) are the declared LPA, or
the declared volume times the alcohol strength (% vol) when it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from customhouse.money import DECIMAL_MODES, Money, Rounding

HUNDRED = Decimal(100)
TIMES = "\u00d7"  # the multiplication sign of the formulas
ZERO = Decimal(0)

# Rec. 20 unit -> (dimension, factor to the dimension's base unit). Mass is read from the net mass.
UNITS: dict[str, tuple[str, Decimal]] = {
    "KGM": ("mass", Decimal(1)),
    "GRM": ("mass", Decimal("0.001")),
    "TNE": ("mass", Decimal(1000)),
    "LTR": ("volume", Decimal(1)),
    "MLT": ("volume", Decimal("0.001")),
    "HLT": ("volume", Decimal(100)),
    "MTQ": ("volume", Decimal(1000)),
    "LPA": ("alcohol", Decimal(1)),
    "C62": ("count", Decimal(1)),
    "H87": ("count", Decimal(1)),
    "NAR": ("count", Decimal(1)),
    "DZN": ("count", Decimal(12)),
    "MIL": ("count", Decimal(1000)),
    "NPR": ("pairs", Decimal(1)),
    "PR": ("pairs", Decimal(1)),
    "SET": ("sets", Decimal(1)),
    "MTR": ("length", Decimal(1)),
    "KMT": ("length", Decimal(1000)),
    "MTK": ("area", Decimal(1)),
    "KWH": ("energy", Decimal(1)),
    "MWH": ("energy", Decimal(1000)),
    "CTM": ("carats", Decimal(1)),
}
SHORT = {"KGM": "kg", "GRM": "g", "TNE": "t", "LTR": "l", "MLT": "ml", "HLT": "hl", "MTQ": "m3"}
SHORT |= {"LPA": "l alc.", "C62": "item", "H87": "piece", "NPR": "pair", "PR": "pair", "MTK": "m2"}
SHORT |= {"MTR": "m", "KWH": "kWh"}


class Choose(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True, slots=True)
class AdValorem:
    percent: Decimal  # of the base (the customs value, or the tax base of excise and VAT)


@dataclass(frozen=True, slots=True)
class Specific:
    amount: Decimal  # national currency per unit
    unit: str  # UN/ECE Rec. 20 code, a key of UNITS


@dataclass(frozen=True, slots=True)
class Compound:
    ad_valorem: AdValorem
    specific: Specific


@dataclass(frozen=True, slots=True)
class Alternative:
    """The higher (or lower) of two duties, then held between an optional minimum and maximum."""

    first: Duty
    second: Duty
    choose: Choose = Choose.HIGHER
    minimum: Decimal | None = None
    maximum: Decimal | None = None


Duty = AdValorem | Specific | Compound | Alternative


class QuantityMissing(ValueError):
    """A specific duty needs a quantity the goods item does not declare."""


@dataclass(slots=True)  # not frozen (its init is cheaper); nothing mutates a Basis
class Basis:
    """What a duty is computed on: the base in the national currency and the declared quantities."""

    value: Money
    net_mass: Decimal = ZERO  # kg
    quantity: Decimal | None = None  # the supplementary quantity, in `unit`
    unit: str | None = None
    alcohol_strength: Decimal | None = None  # % vol
    parts: tuple[Decimal, ...] = ()  # the base's parts, shown as "(1,000 + 80 + 0) KRW" (excise, VAT)

    def scaled(self, share: Decimal) -> Basis:
        """The part `share` (0..1) of the goods: value and quantities pro rata (a quota split)."""
        return replace(
            self,
            value=Money(self.value.amount * share, self.value.currency),
            net_mass=self.net_mass * share,
            quantity=None if self.quantity is None else self.quantity * share,
            parts=(),
        )


class DutyLine(NamedTuple):  # a tuple: many are made in bulk assessment
    tax: str  # customs, anti_dumping, countervailing, safeguard, excise, vat
    measure: str  # the id of the measure applied
    amount: Money
    formula: str


def number(value: Decimal) -> str:
    """1234000 -> '1,234,000'; 8.50 -> '8.5'; never scientific notation (one format, then a strip:
    this runs several times per tax line)."""
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


_SHOWN: dict[Decimal, str] = {}


def rate(value: Decimal) -> str:
    """`number` of a tariff's rate or specific amount, remembered: a tariff has few distinct ones."""
    shown = _SHOWN.get(value)
    if shown is None:
        shown = number(value)
        if len(_SHOWN) < 10_000:  # bounded: rates come from tariff files, not from traders
            _SHOWN[value] = shown
    return shown


STEPS = [Decimal(1).scaleb(-places) for places in range(9)]


def quantity_in(unit: str, basis: Basis) -> tuple[Decimal, str]:
    """The goods' quantity in `unit`, and how it was obtained (empty when declared as such)."""
    dimension, factor = UNITS[unit]
    if dimension == "mass":
        return basis.net_mass / factor, ""
    declared = UNITS.get(basis.unit or "")
    if basis.quantity is not None and declared is not None:
        if declared[0] == dimension:
            note = "" if basis.unit == unit else f"{number(basis.quantity)} {_unit(basis.unit or '')}"
            return basis.quantity * declared[1] / factor, note
        if dimension == "alcohol" and declared[0] == "volume" and basis.alcohol_strength is not None:
            litres = basis.quantity * declared[1]
            strength = basis.alcohol_strength
            return litres * strength / HUNDRED, f"{number(litres)} l at {number(strength)}% vol"
    wanted = "litres of pure alcohol, or litres with the alcohol strength" if dimension == "alcohol" else unit
    raise QuantityMissing(f"the duty is per {_unit(unit)}: declare the quantity in {wanted}")


def _unit(code: str) -> str:
    return SHORT.get(code, code)


class Part(NamedTuple):  # a tuple: made once per duty and line, it must be cheap
    amount: Decimal
    text: str


def evaluate(duty: Duty, basis: Basis) -> Part:
    """The unrounded amount of `duty` on `basis` and its formula (without the result)."""
    currency = basis.value.currency
    if isinstance(duty, AdValorem):
        if basis.parts:
            base = "(" + " + ".join(number(part) for part in basis.parts) + f") {currency}"
        else:
            base = f"{number(basis.value.amount)} {currency}"
        return Part(basis.value.amount * duty.percent / HUNDRED, f"{rate(duty.percent)}% {TIMES} {base}")
    if isinstance(duty, Specific):
        quantity, note = quantity_in(duty.unit, basis)
        shown = f"{number(quantity)} {_unit(duty.unit)}" + (f" ({note})" if note else "")
        return Part(
            duty.amount * quantity, f"{rate(duty.amount)} {currency}/{_unit(duty.unit)} {TIMES} {shown}"
        )
    if isinstance(duty, Compound):
        left, right = evaluate(duty.ad_valorem, basis), evaluate(duty.specific, basis)
        return Part(left.amount + right.amount, f"{left.text} + {right.text}")
    return _alternative(duty, basis)


def amount(duty: Duty, basis: Basis) -> Decimal:
    """The unrounded amount alone: `evaluate` without the text, for comparing duties quickly."""
    if isinstance(duty, AdValorem):
        return basis.value.amount * duty.percent / HUNDRED
    if isinstance(duty, Specific):
        return duty.amount * quantity_in(duty.unit, basis)[0]
    if isinstance(duty, Compound):
        return amount(duty.ad_valorem, basis) + amount(duty.specific, basis)
    first, second = amount(duty.first, basis), amount(duty.second, basis)
    result = max(first, second) if duty.choose is Choose.HIGHER else min(first, second)
    if duty.minimum is not None and result < duty.minimum:
        return duty.minimum
    if duty.maximum is not None and result > duty.maximum:
        return duty.maximum
    return result


def _alternative(duty: Alternative, basis: Basis) -> Part:
    first, second = evaluate(duty.first, basis), evaluate(duty.second, basis)
    pick = max if duty.choose is Choose.HIGHER else min
    amount = pick(first.amount, second.amount)
    text = (
        f"{duty.choose} of ({first.text} = {number(first.amount)}; {second.text} = {number(second.amount)})"
    )
    currency = basis.value.currency
    if duty.minimum is not None and amount < duty.minimum:
        amount, text = duty.minimum, f"{text}, raised to the minimum {number(duty.minimum)} {currency}"
    elif duty.maximum is not None and amount > duty.maximum:
        amount, text = duty.maximum, f"{text}, capped at the maximum {number(duty.maximum)} {currency}"
    return Part(amount, text)


def compute(
    duty: Duty, basis: Basis, *, tax: str, measure: str, rounding: Rounding, places: int = 0
) -> DutyLine:
    """One tax line: the duty on the basis, never negative, rounded by `rounding` to `places`."""
    part = evaluate(duty, basis)
    raw = part.amount if part.amount > ZERO else ZERO
    rounded = raw.quantize(STEPS[places], rounding=DECIMAL_MODES[rounding])
    formula = f"{part.text} = {number(rounded)} {basis.value.currency}"
    if rounded != raw:
        formula += f" ({rounding} from {number(raw)})"
    return DutyLine(tax=tax, measure=measure, amount=Money(rounded, basis.value.currency), formula=formula)


def total(lines: Sequence[DutyLine], currency: str) -> Money:
    result = Money.zero(currency)
    for line in lines:
        result += line.amount
    return result
