"""Payment documents at the boundary: what clients send to create orders and secure amounts, and what
they get back. Amounts are decimal strings (never floats) with an ISO 4217 currency."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from customhouse.declarations.schemas import CurrencyCode, PartyId

# Up to three decimal places (every ISO 4217 currency in use), never a float: "1500.00".
Amount = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=3)]
AssessmentVersion = Annotated[int, Field(ge=1)]


def amount_text(amount: Decimal) -> str:
    """An amount as plain decimal text without superfluous zeros or exponent: "12.5", "15000"."""
    return f"{amount.normalize():f}"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class OrderState(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"


class GuaranteeKind(StrEnum):
    GUARANTEE = "guarantee"  # a comprehensive or individual guarantee lodged with customs
    DEFERMENT = "deferment"  # a deferred payment account


class SecurityState(StrEnum):
    SECURED = "secured"
    RELEASED = "released"


class NewOrder(Model):
    declaration_id: uuid.UUID
    assessment_version: AssessmentVersion
    party_id: PartyId  # the declarant who owes the amount
    amount: Amount
    currency: CurrencyCode


class NewGuarantee(Model):
    party_id: PartyId
    kind: GuaranteeKind
    limit: Amount
    currency: CurrencyCode


class NewSecurity(Model):
    declaration_id: uuid.UUID
    assessment_version: AssessmentVersion
    amount: Amount
    currency: CurrencyCode


class Order(BaseModel):
    id: uuid.UUID
    declaration_id: uuid.UUID
    assessment_version: int
    party_id: str
    amount: Decimal
    currency: str
    state: OrderState
    gateway: str | None
    gateway_reference: str | None
    payer: str | None
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None

    @field_serializer("amount")
    def _amount(self, value: Decimal) -> str:
        return amount_text(value)


class PaymentStarted(BaseModel):
    order_id: uuid.UUID
    gateway: str
    reference: str
    redirect_url: str


class Guarantee(BaseModel):
    id: uuid.UUID
    party_id: str
    kind: GuaranteeKind
    currency: str
    limit: Decimal
    balance: Decimal

    @field_serializer("limit", "balance")
    def _amounts(self, value: Decimal) -> str:
        return amount_text(value)


class Security(BaseModel):
    id: uuid.UUID
    guarantee_id: uuid.UUID
    declaration_id: uuid.UUID
    assessment_version: int
    amount: Decimal
    currency: str
    state: SecurityState
    secured_at: datetime
    released_at: datetime | None

    @field_serializer("amount")
    def _amount(self, value: Decimal) -> str:
        return amount_text(value)


class WebhookResult(BaseModel):
    outcome: str  # applied, duplicate, ignored, failed, unknown-reference, amount-mismatch


class Discrepancy(BaseModel):
    reference: str
    order_id: str | None
    gateway_status: str | None
    gateway_amount: str | None
    ledger_state: str | None
    ledger_amount: str | None
    problem: str
