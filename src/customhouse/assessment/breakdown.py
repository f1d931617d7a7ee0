"""The duties and taxes of goods: valuation, then the tariff's measures, item by item, with the formula
and reason of every line. One computation for two uses: the trader's landed-cost estimate (advisory)
and the assessment of an accepted declaration (assessment.service), so they cannot drift apart.

Pure: the tariff, the quota grants and the rate table come from the caller.

Choices:
- The national currency is the tariff's: its duty amounts and rounding are in it.
- Quotas: an assessment draws on them for real (`grant`); an estimate reads the balances and reserves
  nothing: an item gets the in-quota rate for what the balance would grant it now (items of one
  estimate share that balance in order), and a note says so.
- Every error is a 422 problem naming the field by JSON pointer in the request, which uses the
  declaration's pointers (`/goods_items/0/quantity`); a date past the ECB rates says until when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from customhouse.assessment import currency
from customhouse.assessment.schemas import (
    AdvisoryItem,
    LandedCost,
    LandedCostRequest,
)
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
    Quota,
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


# A quota draw: (quota, quantity wanted in its unit) -> (quantity granted, a note saying so).
Grant = Callable[[Quota, Decimal], tuple[Decimal, str]]


def landed_cost(
    tariff: Tariff,
    request: LandedCostRequest,
    *,
    on: date,
    balances: Mapping[str, Decimal] | None = None,
    grant: Grant | None = None,
    rates: currency.RateTable | None = None,
    today: bool = False,
) -> LandedCost:
    """The duties and taxes of `request` on `on`. An assessment passes `grant`, which draws on quotas;
    an estimate passes `balances` (quota id -> quantity left, quotas open on `on`), only read.
    `today`: `on` was not asked for but is today (an error about the date then says so)."""
    estimate = grant is None
    valuation = _value(tariff, request, on, rates, today, estimate)
    draw = grant or _reader(dict(balances or {}))
    items = [
        _item(tariff, index, item, value, on, draw)
        for index, (item, value) in enumerate(zip(request.goods_items, valuation.items, strict=True))
    ]
    national = tariff.currency
    by_tax: dict[str, Decimal] = {}
    for one in items:
        for line in one["lines"]:
            by_tax[line["tax"]] = by_tax.get(line["tax"], Decimal(0)) + line["amount"]["amount"]
    customs_value = _sum(item["customs_value"]["amount"] for item in items)
    taxes = _sum(item["duties_and_taxes"]["amount"] for item in items)
    rate = valuation.rate
    return LandedCost.model_validate(
        dict(
            date=on,
            tariff=tariff.name,
            national_currency=national,
            valuation_method=valuation.method,
            incoterm=request.incoterm,
            freight=_amount(valuation.freight),
            insurance=_amount(valuation.insurance),
            exchange_rate=dict(
                base=rate.base,
                quote=rate.quote,
                rate=rate.rate,
                requested=rate.requested,
                published=rate.published,
                source=rate.source,
                text=rate.describe(),
            ),
            items=items,
            customs_value=dict(amount=customs_value, currency=national),
            by_tax={tax: dict(amount=total, currency=national) for tax, total in by_tax.items()},
            duties_and_taxes=dict(amount=taxes, currency=national),
            landed_cost=dict(amount=customs_value + taxes, currency=national),
            notes=_notes(valuation.rate, valuation.adjustment.beyond_border, estimate),
        )
    )


def _value(
    tariff: Tariff,
    request: LandedCostRequest,
    on: date,
    rates: currency.RateTable | None,
    today: bool,
    estimate: bool,
) -> Valuation:
    """The customs value; an estimate turns a missing rate into a problem about its date, an assessment
    (whose date is not the trader's to choose) lets the `RateError` go up."""
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
    except (currency.UnknownCurrency, currency.RateNotAvailable) as error:
        if not estimate:
            raise
        raise _rate_problem(error, on, today) from None


def _rate_problem(error: currency.RateError, on: date, today: bool) -> Problem:
    if not isinstance(error, currency.RateNotAvailable):
        return invalid("/invoice_currency", str(error))
    detail = str(error)
    if on > error.last:
        asked = "today, the default date, is after it" if today else "ask for an earlier date"
        detail += f"; {asked}: give a date on or before {error.last.isoformat()} (`date`, or --date)"
    problem = invalid("/date", detail)
    problem.extra["rates_until"] = error.last.isoformat()
    return problem


def _item(
    tariff: Tariff, index: int, item: AdvisoryItem, value: ItemValue, on: date, draw: Grant
) -> dict[str, Any]:
    """One item's lines and reasons (an `ItemEstimate` as plain data: the whole answer is validated once,
    which costs far less than building its many small models one by one); it draws on the quotas
    through `draw`."""
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
        granted = _granted(tariff, selection, goods, draw, notes)
        result = assess(tariff, goods=goods, on=on, granted=granted, selection=selection)
    except QuantityMissing as error:
        raise invalid(f"{pointer}/quantity", str(error)) from None
    measures = {finding.measure.id: finding.measure for finding in result.findings}
    national = tariff.currency
    lines = [
        dict(
            tax=line.tax,
            measure=line.measure,
            kind=LABELS[measures[line.measure].role],
            duty=duty_text(measures[line.measure].duty, national),
            formula=line.formula,
            amount=_amount(line.amount),
        )
        for line in result.lines
    ]
    return dict(
        sequence=value.sequence,
        hs_code=item.hs_code,
        description=codes.hs_descriptions().get(item.hs_code[:6], ""),
        origin=item.origin,
        price=_amount(value.price),
        customs_value=_amount(value.national_value),
        valuation=value.formula,
        lines=lines,
        measures=[
            dict(
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
    tariff: Tariff, selection: Selection, goods: Goods, draw: Grant, notes: list[str]
) -> dict[str, Decimal] | None:
    """What the quota worth drawing on grants this item, if one is."""
    request = quota_request(tariff, selection, goods)
    if request is None:
        return None
    measure, wanted = request
    quota = tariff.quotas[measure.quota or ""]
    granted, note = draw(quota, wanted)
    notes.append(note)
    return {quota.id: granted}


def _reader(left: dict[str, Decimal]) -> Grant:
    """An estimate's draw: from `left`, the balances read now, reserving nothing."""

    def draw(quota: Quota, wanted: Decimal) -> tuple[Decimal, str]:
        available = left.get(quota.id, Decimal(0))
        granted = min(available, wanted)
        left[quota.id] = available - granted
        note = (
            f"quota {quota.id}: {number(available)} {quota.unit} left, {number(granted)} would be granted "
            "at lodgement now; the estimate reserves nothing"
        )
        return granted, note

    return draw


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


def _notes(rate: currency.ExchangeRate, beyond_border: bool, estimate: bool) -> list[str]:
    notes = [ESTIMATE_NOTE] if estimate else []
    if rate.is_fallback:
        notes.append(
            f"no reference rate on {rate.requested.isoformat()}: the rate of {rate.published.isoformat()}, "
            "the latest published before it, is used"
        )
    if beyond_border:
        notes.append(f"the {BEYOND_BORDER_NOTE}: the customs value may be lower if declared separately")
    return notes


def _amount(money: Money) -> dict[str, Any]:
    return dict(amount=money.amount, currency=money.currency)


def _sum(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal(0))
