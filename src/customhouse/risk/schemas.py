"""Targeting profiles, model versions and lane decisions as they cross the boundary (API, CLI)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from customhouse.declarations.schemas import (
    CountryCode,
    CurrencyCode,
    Incoterm,
    Kind,
    Lane,
    Note,
    OfficeCode,
    PartyId,
    TransportMode,
)


def _hs_prefix(value: str) -> str:
    if not (value.isascii() and value.isdigit() and 2 <= len(value) <= 6 and len(value) % 2 == 0):
        raise ValueError(f"{value!r} is not an HS prefix: 2, 4 or 6 digits, e.g. '6109'")
    return value


HsPrefix = Annotated[str, AfterValidator(_hs_prefix)]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Conditions(Model):
    """What a declaration must show for the profile to match: every condition given must hold (a list
    holds when any of its values does). Item conditions (HS prefix, origin, unit value) must hold on the
    same goods item. An empty set of conditions matches every declaration."""

    kinds: list[Kind] = []
    hs_prefixes: list[HsPrefix] = []
    origins: list[CountryCode] = []
    dispatch_countries: list[CountryCode] = []
    parties: list[PartyId] = []  # declarant, representative, importer, exporter, seller or buyer
    offices: list[OfficeCode] = []  # of lodgement, entry, exit or destination
    transport_modes: list[TransportMode] = []
    incoterms: list[Incoterm] = []
    currencies: list[CurrencyCode] = []
    # An item's price per kg more than this many standard deviations from the mean of log(price per kg)
    # of stored declarations of the same HS6, origin and invoice currency (see `risk_bands`).
    unit_value_sigmas: Annotated[float, Field(gt=0, le=20)] | None = None
    unit_value_side: Annotated[str, Field(pattern="^(below|above|either)$")] = "either"
    missing_documents: bool | None = None  # true: a required supporting document is missing


class ProfileIn(Model):
    code: Code
    lane: Lane
    priority: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    # at most this many matched declarations in a row released without control at an office; the next
    # goes to the yellow lane (None: the office's setting, CUSTOMHOUSE_RISK_MAX_PASSES)
    max_passes: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    valid_from: AwareDatetime | None = None  # with a time zone, e.g. 2026-12-01T00:00:00Z
    valid_to: AwareDatetime | None = None
    reason: Note
    conditions: Conditions = Conditions()

    @model_validator(mode="after")
    def _window(self) -> ProfileIn:
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class ProfileChange(Model):
    """A partial update: only the fields given change."""

    lane: Lane | None = None
    priority: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    max_passes: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None
    reason: Note | None = None
    conditions: Conditions | None = None
    active: bool | None = None


class ProfileOut(BaseModel):
    id: int
    code: str
    revision: int
    active: bool
    lane: Lane
    priority: int
    max_passes: int | None
    valid_from: datetime | None
    valid_to: datetime | None
    reason: str
    conditions: Conditions
    hits: int
    controls: int
    irregular: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class ModelOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    trained_from: date
    trained_to: date
    rows: int
    metrics: dict[str, Any]
    revenue: dict[str, Any]  # rates of revenue at stake learnt with this version (`risk.revenue`)
    sha256: str
    promoted: bool
    promoted_at: datetime | None


class DecisionOut(BaseModel):
    declaration_id: str
    decided_at: datetime
    lane: Lane
    source: str
    profile_id: int | None
    profile_revision: int | None
    matched: list[Any]
    model_version: int | None
    probability: float | None
    revenue_at_stake: Decimal | None  # national currency: the probability times the revenue if irregular
    reasons: list[str]
    explanation: list[str]
    outcome: str | None
