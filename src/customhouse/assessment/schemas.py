"""The landed-cost question and its answer as they cross the boundary (API, CLI).

The question reuses the declaration's field types and names (`invoice_currency`, `incoterm`,
`freight`, `goods_items[].hs_code`, `price`...), so that an error names the same JSON pointer a
declaration would and a trader can turn an estimate into a declaration field by field. The commodity
code is the one exception: an estimate takes the 6-digit HS subheading and the national digits as one
code of 6 to 10 digits, as the tariff is keyed.

Amounts in the answer are Decimal, serialised as strings in JSON (never floats), each with its currency.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from customhouse.declarations.schemas import (
    CountryCode,
    CurrencyCode,
    Incoterm,
    Mass,
    Model,
    Money,
    Name,
    Strength,
    UnitCode,
)
from customhouse.reference import codes

MAX_ITEMS = 99
_COMMODITY = re.compile(r"[0-9]{6,10}")


def _commodity_code(value: str) -> str:
    """Why not `HsSubheading`: the tariff's national lines go to 8 or 10 digits, and an estimate for
    '22042110' should find them; the first 6 digits must still be a real HS 2022 subheading."""
    if not _COMMODITY.fullmatch(value) or value[:6] not in codes.hs_subheadings():
        raise ValueError(
            f"{value!r} is not a commodity code: an HS 2022 subheading (6 digits) and up to 4 national "
            "digits, e.g. '220421' or '22042110'"
        )
    return value


CommodityCode = Annotated[str, AfterValidator(_commodity_code)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=3)]


class AdvisoryItem(Model):
    """One hypothetical goods item: what a specific duty, an origin rule or a trade remedy reads."""

    hs_code: CommodityCode
    origin: CountryCode
    price: Money = Field(description="the price actually paid, in the invoice currency")
    quantity: Quantity | None = Field(None, description="the supplementary quantity, in `unit`")
    unit: UnitCode | None = Field(None, description="UN/ECE Rec. 20 unit of `quantity`, e.g. 'LTR'")
    net_mass: Mass | None = Field(None, description="kg; needed by duties per kg")
    alcohol_strength: Strength | None = Field(None, description="% vol; with litres, gives litres of alcohol")
    preference_claimed: bool = False
    proof_of_origin: bool = Field(False, description="a proof of origin will be presented with the claim")
    exporter: Name | None = Field(None, description="the exporter's name: anti-dumping may name it")

    @model_validator(mode="after")
    def _quantity_has_a_unit(self) -> AdvisoryItem:
        if (self.quantity is None) != (self.unit is None):
            raise ValueError("quantity and unit go together: give both or neither")
        return self


class LandedCostRequest(Model):
    invoice_currency: CurrencyCode
    incoterm: Incoterm
    freight: Money | None = Field(None, description="to the border; required with EXW, FCA, FAS, FOB")
    insurance: Money | None = Field(None, description="to the border; none when not given")
    date: dt.date | None = Field(
        None, description="the date of law (tariff and exchange rate); default today in the administration"
    )
    goods_items: Annotated[list[AdvisoryItem], Field(min_length=1, max_length=MAX_ITEMS)]


class Amount(BaseModel):
    amount: Decimal
    currency: str


class Rate(BaseModel):
    base: str
    quote: str
    rate: Decimal = Field(description="units of `quote` for one unit of `base`")
    requested: dt.date
    published: dt.date = Field(
        description="the date of the rate used: the latest published before `requested` when none was on it"
    )
    source: str
    text: str


class TaxLine(BaseModel):
    tax: str = Field(description="customs, anti_dumping, countervailing, safeguard, excise, vat")
    measure: str
    kind: str = Field(description="what the measure is, e.g. 'third-country duty', 'preference', 'excise'")
    duty: str = Field(description="the rate as the tariff writes it, e.g. '30%' or '8000 KRW/l alc.'")
    formula: str
    amount: Amount


class Consideration(BaseModel):
    measure: str
    kind: str
    line: str = Field(description="the tariff line (HS prefix) that carries the measure")
    duty: str
    applies: bool
    why: str


class ItemEstimate(BaseModel):
    sequence: int
    hs_code: str
    description: str
    origin: str
    price: Amount
    customs_value: Amount = Field(description="in the national currency")
    valuation: str = Field(description="the formula of the customs value, with its numbers")
    lines: list[TaxLine]
    measures: list[Consideration]
    notes: list[str]
    duties_and_taxes: Amount
    landed_cost: Amount


class LandedCost(BaseModel):
    """An estimate, not a decision: the assessment at acceptance uses the tariff and rate of that date."""

    date: dt.date
    tariff: str
    national_currency: str
    valuation_method: str
    incoterm: str
    freight: Amount = Field(description="freight added to the price (invoice currency; 0 if not added)")
    insurance: Amount
    exchange_rate: Rate
    items: list[ItemEstimate]
    customs_value: Amount
    by_tax: dict[str, Amount]
    duties_and_taxes: Amount
    landed_cost: Amount
    notes: list[str]
