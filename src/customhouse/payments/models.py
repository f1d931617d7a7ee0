"""Payments as stored: payment orders, the idempotency keys of payment calls, every gateway callback
received, guarantees and deferment accounts with the amounts they secure, and the demo gateway's own
record of what it charged.

Order amounts are Numeric with their currency (no arithmetic happens on them in SQL). Guarantee limits,
balances and secured amounts are integers in thousandths of the currency unit: the atomic
`balance - :a` then is exact on SQLite (which has no decimal type and would subtract in floating point)
as on PostgreSQL, and three places cover every ISO 4217 currency in use for customs.

Orders name their declaration by id without a foreign key: domains talk through services and events,
not each other's tables, and the payments domain stands on its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime

AMOUNT = Numeric(18, 3)


class PaymentOrder(Base):
    """What a trader owes for one version of a declaration's assessment."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        UniqueConstraint("declaration_id", "assessment_version"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    declaration_id: Mapped[uuid.UUID]
    assessment_version: Mapped[int]
    party_id: Mapped[str] = mapped_column(String(17), index=True)
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(16))  # pending, paid, cancelled
    gateway: Mapped[str | None] = mapped_column(String(32))
    gateway_reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    redirect_url: Mapped[str | None] = mapped_column(String(500))
    payer: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyKey(Base):
    """The first answer to a payment call, replayed when the same caller sends the same key again."""

    __tablename__ = "payment_idempotency_keys"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)  # the principal's name
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    status: Mapped[int | None]
    response: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GatewayCallback(Base):
    """Every callback that passed the signature check, duplicates included, with what it did."""

    __tablename__ = "payment_callbacks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    reference: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # succeeded, failed
    outcome: Mapped[str] = mapped_column(String(32))  # applied, duplicate, ignored, ...
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class Guarantee(Base):
    """A guarantee or deferment account of a trader: a limit and what is left of it."""

    __tablename__ = "payment_guarantees"
    __table_args__ = (
        UniqueConstraint("party_id", "kind", "currency"),
        CheckConstraint("balance_milli >= 0", name="balance_not_negative"),
        CheckConstraint("balance_milli <= limit_milli", name="balance_within_limit"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    party_id: Mapped[str] = mapped_column(String(17))
    kind: Mapped[str] = mapped_column(String(16))  # guarantee, deferment
    currency: Mapped[str] = mapped_column(String(3))
    limit_milli: Mapped[int] = mapped_column(BigInteger())
    balance_milli: Mapped[int] = mapped_column(BigInteger())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class Security(Base):
    """An amount of a guarantee held for one version of a declaration's assessment until it is paid."""

    __tablename__ = "payment_securities"
    __table_args__ = (
        UniqueConstraint("declaration_id", "assessment_version"),
        CheckConstraint("amount_milli > 0", name="amount_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    guarantee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_guarantees.id"), index=True)
    declaration_id: Mapped[uuid.UUID]
    assessment_version: Mapped[int]
    amount_milli: Mapped[int] = mapped_column(BigInteger())
    state: Mapped[str] = mapped_column(String(16))  # secured, released
    secured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    secured_by: Mapped[str] = mapped_column(String(128))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DemoGatewayCharge(Base):
    """The demo gateway's own ledger: what it was asked to charge and what it charged. It stands for a
    payment provider's records, which reconciliation compares with the payment orders."""

    __tablename__ = "demo_gateway_charges"

    reference: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_reference: Mapped[str] = mapped_column(String(64))  # the payment order's id
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # created, succeeded, failed
    payer: Mapped[str | None] = mapped_column(String(200))
    event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    charged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    callback_delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
