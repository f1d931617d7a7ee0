"""The landed cost of hypothetical goods: valuation, then the tariff's measures, item by item.

Pure: the tariff, the quota balances and the rate table come from the caller. The arithmetic is the
assessment's own (`assessment.valuation.value_goods`, `tariff.selection.assess`), so an estimate shows
the lines, formulas and reasons an assessment would, and cannot drift from it.

Choices:
- The national currency is the tariff's: its duty amounts and rounding are in it.
- A quota is read, never drawn on: an item gets the in-quota rate for what the balance would grant
  it now (items of one estimate share that balance in order), and a note says nothing is reserved.
- Every error is a 422 problem naming the field by JSON pointer in the request, as for a declaration;
  a date past the bundled ECB rates says until when they run, so the trader can pass an earlier date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from customhouse.advisory.schemas import (
    AdvisoryItem,
    Amount,
    Consideration,
    ItemEstimate,
    LandedCost,
    LandedCostRequest,
    Rate,
    TaxLine,
)
from customhouse.assessment import currency
from customhouse.assessment.valuation import (
    BEYOND_BORDER_NOTE,
    ItemValue,
    Valuation,
    ValuationError,
    value_goods,
)
from customhouse.money import Money
from customhouse.problems import FieldError, Problem
from customhouse.reference import codes
from customhouse.tariff.measures import UNITS, Alternative, Compound, Duty, QuantityMissing, Specific, number
from customhouse.tariff.schemas import duty_text
from customhouse.tariff.selection import (
    LABELS,
    Goods,
    Selection,
    Tariff,
    assess,
    quota_request,
    select,
)

ESTIMATE_NOTE = (
    "an estimate, not a decision: the assessment at acceptance uses the tariff, the exchange rate and the "
    "quota balances of that date"
)


def invalid(pointer: str, detail: str) -> Problem:
    return Problem(422, "validation", "1 field(s) are not valid", [FieldError(detail, pointer=pointer)])


def landed_cost(
    tariff: Tariff,
    request: LandedCostRequest,
    *,
    on: date,
    balances: Mapping[str, Decimal] | None = None,
    rates: currency.RateTable | None = None,
    today: bool = False,
) -> LandedCost:
    """The estimate for `request` on `on`; `balances`: quota id -> quantity left (quotas open on `on`);
    `today`: `on` was not asked for but is today (an error about the date then says so)."""
    valuation = _value(tariff, request, on, rates, today)
    left = dict(balances or {})
    items = [
        _item(tariff, index, item, value, on, left)
        for index, (item, value) in enumerate(zip(request.goods_items, valuation.items, strict=True))
    ]
    national = tariff.currency
    by_tax: dict[str, Decimal] = {}
    for estimate in items:
        for line in estimate.lines:
            by_tax[line.tax] = by_tax.get(line.tax, Decimal(0)) + line.amount.amount
    customs_value = _sum(item.customs_value.amount for item in items)
    taxes = _sum(item.duties_and_taxes.amount for item in items)
    rate = valuation.rate
    return LandedCost(
        date=on,
        tariff=tariff.name,
        national_currency=national,
        valuation_method=valuation.method,
        incoterm=request.incoterm,
        freight=_amount(valuation.freight),
        insurance=_amount(valuation.insurance),
        exchange_rate=Rate(
            base=rate.base,
            quote=rate.quote,
            rate=rate.rate,
            requested=rate.requested,
            published=rate.published,
            source=rate.source,
            text=rate.describe(),
        ),
        items=items,
        customs_value=Amount(amount=customs_value, currency=national),
        by_tax={tax: Amount(amount=total, currency=national) for tax, total in by_tax.items()},
        duties_and_taxes=Amount(amount=taxes, currency=national),
        landed_cost=Amount(amount=customs_value + taxes, currency=national),
        notes=_notes(valuation.rate, valuation.adjustment.beyond_border),
    )


def _value(
    tariff: Tariff, request: LandedCostRequest, on: date, rates: currency.RateTable | None, today: bool
) -> Valuation:
    try:
        return value_goods(
            incoterm=request.incoterm,
            invoice_currency=request.invoice_currency,
            prices=[(index, item.price) for index, item in enumerate(request.goods_items, start=1)],
            freight=request.freight,
            insurance=request.insurance,
            on=on,
            national_currency=tariff.currency,
            rounding=tariff.rounding,
            rates=rates,
        )
    except ValuationError as error:
        raise invalid(error.pointer, error.detail) from None
    except currency.UnknownCurrency as error:
        raise invalid("/invoice_currency", str(error)) from None
    except currency.RateNotAvailable as error:
        detail = str(error)
        if on > error.last:
            asked = "today, the default date, is after it" if today else "ask for an earlier date"
            detail += f"; {asked}: give a date on or before {error.last.isoformat()} (`date`, or --date)"
        problem = invalid("/date", detail)
        problem.extra["rates_until"] = error.last.isoformat()
        raise problem from None


def _item(
    tariff: Tariff, index: int, item: AdvisoryItem, value: ItemValue, on: date, left: dict[str, Decimal]
) -> ItemEstimate:
    """One item's lines and reasons; it draws on `left`, the quota balances, as lodgement would."""
    goods = Goods(
        hs_code=item.hs_code,
        origin=item.origin,
        customs_value=value.national_value,
        net_mass=item.net_mass or Decimal(0),
        quantity=item.quantity,
        unit=item.unit,
        alcohol_strength=item.alcohol_strength,
        exporter=item.exporter,
        preference_claimed=item.preference_claimed,
        proof_of_origin=item.proof_of_origin,
    )
    pointer = f"/goods_items/{index}"
    selection = select(tariff, goods=goods, on=on)
    if item.net_mass is None and (why := _needs_mass(tariff, selection)):
        raise invalid(f"{pointer}/net_mass", f"is required: {why}")
    notes: list[str] = []
    try:
        granted = _granted(tariff, selection, goods, left, notes)
        result = assess(tariff, goods=goods, on=on, granted=granted, selection=selection)
    except QuantityMissing as error:
        raise invalid(f"{pointer}/quantity", str(error)) from None
    measures = {finding.measure.id: finding.measure for finding in result.findings}
    national = tariff.currency
    lines = [
        TaxLine(
            tax=line.tax,
            measure=line.measure,
            kind=LABELS[measures[line.measure].role],
            duty=duty_text(measures[line.measure].duty, national),
            formula=line.formula,
            amount=_amount(line.amount),
        )
        for line in result.lines
    ]
    return ItemEstimate(
        sequence=value.sequence,
        hs_code=item.hs_code,
        description=codes.hs_descriptions().get(item.hs_code[:6], ""),
        origin=item.origin,
        price=_amount(value.price),
        customs_value=_amount(value.national_value),
        valuation=value.formula,
        lines=lines,
        measures=[
            Consideration(
                measure=finding.measure.id,
                kind=LABELS[finding.measure.role],
                line=finding.measure.line,
                duty=duty_text(finding.measure.duty, national),
                applies=finding.applies,
                why=finding.why,
            )
            for finding in result.findings
        ],
        notes=notes + result.notes,
        duties_and_taxes=_amount(result.total),
        landed_cost=_amount(value.national_value + result.total),
    )


def _granted(
    tariff: Tariff, selection: Selection, goods: Goods, left: dict[str, Decimal], notes: list[str]
) -> dict[str, Decimal] | None:
    """What the quota worth drawing on would grant this item now, taken from `left` (not reserved)."""
    request = quota_request(tariff, selection, goods)
    if request is None:
        return None
    measure, wanted = request
    quota = tariff.quotas[measure.quota or ""]
    available = left.get(quota.id, Decimal(0))
    granted = min(available, wanted)
    left[quota.id] = available - granted
    notes.append(
        f"quota {quota.id}: {number(available)} {quota.unit} left, {number(granted)} would be granted "
        "at lodgement now; the estimate reserves nothing"
    )
    return {quota.id: granted}


def _needs_mass(tariff: Tariff, selection: Selection) -> str | None:
    """Why the net mass is needed, if it is: without it a duty per kg or a quota in kg would read 0."""
    chosen = [selection.third_country] if selection.third_country else []
    for measure in [
        *chosen,
        *selection.preferences,
        *selection.additional,
        *selection.excise,
        *selection.vat,
    ]:
        if any(UNITS[unit][0] == "mass" for unit in _units(measure.duty)):
            return f"{measure.id} is a duty per unit of mass"
    for measure in selection.quotas:
        quota = tariff.quotas[measure.quota or ""]
        if UNITS[quota.unit][0] == "mass" or any(UNITS[u][0] == "mass" for u in _units(measure.duty)):
            return f"{measure.id} draws on quota {quota.id}, counted in {quota.unit}"
    return None


def _units(duty: Duty) -> list[str]:
    if isinstance(duty, Specific):
        return [duty.unit]
    if isinstance(duty, Compound):
        return [duty.specific.unit]
    if isinstance(duty, Alternative):
        return _units(duty.first) + _units(duty.second)
    return []


def _notes(rate: currency.ExchangeRate, beyond_border: bool) -> list[str]:
    notes = [ESTIMATE_NOTE]
    if rate.is_fallback:
        notes.append(
            f"no reference rate on {rate.requested.isoformat()}: the rate of {rate.published.isoformat()}, "
            "the business day before, is used"
        )
    if beyond_border:
        notes.append(f"the {BEYOND_BORDER_NOTE}: the customs value may be lower if declared separately")
    return notes


def _amount(money: Money) -> Amount:
    return Amount(amount=money.amount, currency=money.currency)


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))
