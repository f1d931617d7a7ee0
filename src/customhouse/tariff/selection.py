"""Which measures apply to a goods item, and why; then the assessment of its duty and tax lines.

Pure: the tariff is an in-memory `Tariff` (built from the file or the database by the service).

Tariff lines are keyed by HS prefixes of 2, 4, 6, 8 or 10 digits, and "" for every good. Each measure
fills a slot: the third-country duty; a preference per origin group; an in-quota rate per quota; anti-
dumping, countervailing and safeguard duties; excise; VAT. For each slot the longest prefix with a
measure in force on the date (and covering the origin) wins, so a heading can override its chapter
for one slot and inherit the others.

- A preference (FTA, GSP) is granted only when the item claims it AND a proof of origin is presented
  AND the origin is in the group; it replaces the third-country duty when its amount is lower.
- An in-quota rate replaces the customs duty when lower, for the part of the goods the quota grants
  (the service allocates; this module only splits the item pro rata).
- Anti-dumping and countervailing duties name origins; a measure naming the item's exporter wins over
  the one without an exporter (the rate for "all other exporters").
- Ad valorem excise is on customs value + customs and additional duties; VAT on customs value + all
  duties + excise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import NamedTuple

from customhouse.money import Money, Rounding
from customhouse.tariff.measures import Basis, Duty, DutyLine, amount, compute, number, quantity_in


class Role(StrEnum):
    THIRD_COUNTRY = "third_country"  # the MFN duty
    PREFERENTIAL = "preferential"
    QUOTA = "quota"  # the in-quota rate of a tariff quota
    ANTI_DUMPING = "anti_dumping"
    COUNTERVAILING = "countervailing"
    SAFEGUARD = "safeguard"
    EXCISE = "excise"
    VAT = "vat"


CUSTOMS_ROLES = frozenset({Role.THIRD_COUNTRY, Role.PREFERENTIAL, Role.QUOTA})
ADDITIONAL_ROLES = (Role.ANTI_DUMPING, Role.COUNTERVAILING, Role.SAFEGUARD)
LABELS = {
    Role.THIRD_COUNTRY: "third-country duty",
    Role.PREFERENTIAL: "preference",
    Role.QUOTA: "in-quota rate",
    Role.ANTI_DUMPING: "anti-dumping duty",
    Role.COUNTERVAILING: "countervailing duty",
    Role.SAFEGUARD: "safeguard duty",
    Role.EXCISE: "excise",
    Role.VAT: "VAT",
}


TAXES = {role: "customs" if role in CUSTOMS_ROLES else str(role) for role in Role}


QUOTA_STEP = Decimal("0.001")  # quota balances are kept in thousandths of their unit


def tax_of(role: Role) -> str:
    return TAXES[role]


def normalise_name(name: str) -> str:
    return " ".join(name.casefold().split())


@dataclass(frozen=True, slots=True)
class Measure:
    id: str
    role: Role
    hs: str  # the line's prefix: 2 to 10 digits, "" for every good
    duty: Duty
    valid_from: date
    valid_to: date | None = None  # inclusive; None: until replaced
    origins: frozenset[str] = frozenset()  # empty: any origin
    excluded_origins: frozenset[str] = frozenset()
    group: str | None = None  # preferential (and optionally quota): the origin group
    exporter: str | None = None  # anti-dumping, countervailing: a named exporter
    quota: str | None = None  # quota: the quota it draws on

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def slot(self) -> tuple[str, str]:
        """Measures of one slot replace each other by HS prefix length; a named exporter has its own."""
        return (str(self.role), self.group or self.quota or self.exporter or "")

    @property
    def line(self) -> str:
        return self.hs or "all goods"


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    kind: str  # fta or gsp
    name: str
    countries: frozenset[str]


@dataclass(frozen=True, slots=True)
class Quota:
    id: str
    volume: Decimal
    unit: str
    valid_from: date
    valid_to: date
    description: str = ""


@dataclass
class Tariff:
    name: str
    currency: str
    rounding: Rounding
    places: int
    groups: dict[str, Group]
    quotas: dict[str, Quota]
    lines: dict[str, list[Measure]]  # prefix -> its measures
    _cache: dict[tuple[str, date, str], list[Measure]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def candidates(self, hs_code: str, on: date, origin: str) -> list[Measure]:
        """Per slot, the measures in force for `origin` on the longest prefix of `hs_code` that has one,
        and the measures of the lines passed on the way that do not cover the origin (cached)."""
        key = (hs_code, on, origin)
        found = self._cache.get(key)
        if found is None:
            found, filled = [], set()
            for length in (10, 8, 6, 4, 2, 0):
                if length > len(hs_code):
                    continue
                here = [
                    m
                    for m in self.lines.get(hs_code[:length], ())
                    if m.in_force(on) and m.slot() not in filled
                ]
                found += here
                filled |= {m.slot() for m in here if _covers(m, origin)}
            if len(self._cache) >= 200_000:  # bounded: a long-running server sees many dates
                self._cache.clear()
            self._cache[key] = found
        return found


@dataclass(frozen=True, slots=True)
class Goods:
    hs_code: str  # 6 to 10 digits: the HS subheading and national digits
    origin: str
    customs_value: Money  # in the national currency
    net_mass: Decimal = Decimal(0)
    quantity: Decimal | None = None
    unit: str | None = None
    alcohol_strength: Decimal | None = None
    exporter: str | None = None
    preference_claimed: bool = False
    proof_of_origin: bool = False

    def basis(self) -> Basis:
        return Basis(self.customs_value, self.net_mass, self.quantity, self.unit, self.alcohol_strength)


class Finding(NamedTuple):  # a tuple: one per measure considered, it must be cheap
    measure: Measure
    applies: bool
    why: str

    @property
    def reason(self) -> str:
        return f"{self.measure.id} ({LABELS[self.measure.role]}, line {self.measure.line}): {self.why}"


@dataclass(slots=True)
class Selection:
    third_country: Measure | None = None
    preferences: list[Measure] = field(default_factory=list)
    quotas: list[Measure] = field(default_factory=list)
    additional: list[Measure] = field(default_factory=list)
    excise: list[Measure] = field(default_factory=list)
    vat: list[Measure] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def note(self, measure: Measure, applies: bool, why: str) -> None:
        self.findings.append(Finding(measure, applies, why))


def select(tariff: Tariff, *, goods: Goods, on: date) -> Selection:
    """The measures that may apply to `goods` on `on`, each with the reason it does or does not."""
    chosen = Selection()
    dumping: dict[Role, list[Measure]] = {}
    for measure in tariff.candidates(goods.hs_code, on, goods.origin):
        if not _covers(measure, goods.origin):
            chosen.note(measure, False, f"not for origin {goods.origin}")
        elif measure.role is Role.THIRD_COUNTRY:
            chosen.third_country = measure
            chosen.note(measure, True, "applies to goods of every origin")
        elif measure.role is Role.PREFERENTIAL or (measure.role is Role.QUOTA and measure.group):
            _preference(tariff, measure, goods, chosen)
        elif measure.role is Role.QUOTA:
            chosen.quotas.append(measure)
            chosen.note(measure, True, f"quota {measure.quota}, first come first served while it lasts")
        elif measure.role in (Role.ANTI_DUMPING, Role.COUNTERVAILING):
            dumping.setdefault(measure.role, []).append(measure)
        elif measure.role is Role.SAFEGUARD:
            chosen.additional.append(measure)
            chosen.note(measure, True, "safeguard on imports of this product")
        elif measure.role is Role.EXCISE:
            chosen.excise.append(measure)
            chosen.note(measure, True, "excise on this product")
        else:
            chosen.vat.append(measure)
            chosen.note(measure, True, "VAT on customs value + duties + excise")
    for measures in dumping.values():
        _by_exporter(measures, goods, chosen)
    return chosen


def _covers(measure: Measure, origin: str) -> bool:
    if origin in measure.excluded_origins:
        return False
    return not measure.origins or origin in measure.origins


def _preference(tariff: Tariff, measure: Measure, goods: Goods, chosen: Selection) -> None:
    group = tariff.groups[measure.group or ""]
    if goods.origin not in group.countries:
        chosen.note(measure, False, f"origin {goods.origin} is not in {group.kind.upper()} {group.id}")
    elif not goods.preference_claimed:
        chosen.note(measure, False, f"{group.kind.upper()} {group.id} not claimed")
    elif not goods.proof_of_origin:
        chosen.note(measure, False, f"{group.kind.upper()} {group.id} claimed without a proof of origin")
    elif measure.role is Role.QUOTA:
        chosen.quotas.append(measure)
        chosen.note(
            measure, True, f"{group.kind.upper()} {group.id} claimed and proven; quota {measure.quota}"
        )
    else:
        chosen.preferences.append(measure)
        chosen.note(measure, True, f"{group.kind.upper()} {group.id} claimed and proven, if lower")


def _by_exporter(measures: list[Measure], goods: Goods, chosen: Selection) -> None:
    exporter = normalise_name(goods.exporter or "")
    named = [m for m in measures if m.exporter and normalise_name(m.exporter) == exporter]
    for measure in measures:
        if measure in named:
            chosen.additional.append(measure)
            chosen.note(measure, True, f"origin {goods.origin}, exporter {measure.exporter}")
        elif measure.exporter is not None:
            chosen.note(measure, False, f"names exporter {measure.exporter}, not this one")
        elif named:
            chosen.note(measure, False, "the exporter has its own rate")
        else:
            chosen.additional.append(measure)
            chosen.note(measure, True, f"origin {goods.origin}, all other exporters")


@dataclass
class Assessment:
    lines: list[DutyLine]
    total: Money
    findings: list[Finding]
    notes: list[str]


def quota_request(tariff: Tariff, selection: Selection, goods: Goods) -> tuple[Measure, Decimal] | None:
    """The in-quota measure worth drawing on (lower than the duty otherwise due) and the quantity to
    ask of its quota, in the quota's unit; None when no quota helps."""
    basis = goods.basis()
    best = _best_customs(tariff, selection, basis)
    best_amount = amount(best.duty, basis) if best else None
    for measure in selection.quotas:
        quota = tariff.quotas[measure.quota or ""]
        if best_amount is not None and amount(measure.duty, basis) >= best_amount:
            continue
        return measure, quantity_in(quota.unit, basis)[0]
    return None


def _best_customs(tariff: Tariff, selection: Selection, basis: Basis) -> Measure | None:
    options = ([selection.third_country] if selection.third_country else []) + selection.preferences
    if len(options) < 2:
        return options[0] if options else None
    return min(options, key=lambda m: amount(m.duty, basis))


def assess(
    tariff: Tariff,
    *,
    goods: Goods,
    on: date,
    granted: Mapping[str, Decimal] | None = None,
    selection: Selection | None = None,
) -> Assessment:
    """Every tax line of one goods item. `granted`: quota id -> quantity the quota granted this item."""
    chosen = selection or select(tariff, goods=goods, on=on)
    basis = goods.basis()
    currency, rounding, places = tariff.currency, tariff.rounding, tariff.places
    lines: list[DutyLine] = []
    notes: list[str] = []

    def line(measure: Measure, on_basis: Basis) -> DutyLine:
        result = compute(
            measure.duty,
            on_basis,
            tax=TAXES[measure.role],
            measure=measure.id,
            rounding=rounding,
            places=places,
        )
        lines.append(result)
        return result

    best = _best_customs(tariff, chosen, basis)
    rest: Basis | None = basis
    request = quota_request(tariff, chosen, goods) if granted and chosen.quotas else None
    if request is not None and granted:
        measure, wanted = request
        got = granted.get(measure.quota or "", Decimal(0))
        if got >= wanted.quantize(QUOTA_STEP, rounding=ROUND_HALF_UP):  # quotas count in thousandths
            share = Decimal(1) if wanted else Decimal(0)
        else:
            share = got / wanted
        if share > 0:
            line(measure, basis if share == 1 else basis.scaled(share))
            notes.append(f"quota {measure.quota}: {number(share * 100)}% of the goods in quota")
            rest = basis.scaled(1 - share) if share < 1 else None
    if best is None:
        notes.append(f"no third-country duty for {goods.hs_code}: no customs duty line")
    elif rest is not None:
        line(best, rest)
        if best.role is Role.PREFERENTIAL:
            notes.append(f"preference {best.group} replaces the third-country duty")
    for measure in chosen.additional:
        line(measure, basis)
    duties = Decimal(0)
    for entry in lines:
        duties += entry.amount.amount
    excise = Decimal(0)
    for measure in chosen.excise:
        excise += line(measure, _base(basis, (basis.value.amount, duties))).amount.amount
    due = duties + excise
    for measure in chosen.vat:
        due += line(measure, _base(basis, (basis.value.amount, duties, excise))).amount.amount
    return Assessment(lines, Money(due, currency), chosen.findings, notes)


def _base(basis: Basis, parts: tuple[Decimal, ...]) -> Basis:
    """The base of excise or VAT: the sum of `parts`, which its formula shows one by one."""
    value = Money(sum(parts, Decimal(0)), basis.value.currency)
    return Basis(value, basis.net_mass, basis.quantity, basis.unit, basis.alcohol_strength, parts)
