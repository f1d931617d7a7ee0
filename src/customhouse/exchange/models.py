"""Exchange as stored: partners and their agreements, messages out (the delivery outbox) and in (each
message id once), every disclosure, pre-arrival data from partners and the mismatches found against
our declarations, agency tokens and traders' consents.

Declarations are named by id without a foreign key: domains talk through services and events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime


class Partner(Base):
    """A partner administration (foreign customs) or agency (tax, transport, bank, ...)."""

    __tablename__ = "exchange_partners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    base_url: Mapped[str | None] = mapped_column(String(500))
    public_jwk: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Agreement(Base):
    """What may be exchanged with a partner, why, and when; both sides register it under one id."""

    __tablename__ = "exchange_agreements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("exchange_partners.id"), index=True)
    message_types: Mapped[list[str]] = mapped_column(JsonDocument)
    fields: Mapped[list[str]] = mapped_column(JsonDocument)
    purpose: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    aeo_list: Mapped[list[str]] = mapped_column(JsonDocument)  # the partner's AEOs, as it last sent them
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutgoingMessage(Base):
    """A signed message to deliver; retried with back-off until delivered or refused."""

    __tablename__ = "exchange_outgoing"
    __table_args__ = (Index("ix_exchange_outgoing_due", "state", "next_attempt_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("exchange_partners.id"))
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_agreements.id"))
    type: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(64))  # e.g. the declaration it came from
    token: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))  # pending, delivered, refused
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IncomingMessage(Base):
    """A message received and processed; the primary key makes processing happen once."""

    __tablename__ = "exchange_incoming"

    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(ForeignKey("exchange_partners.id"))
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_agreements.id"))
    type: Mapped[str] = mapped_column(String(40))
    in_reply_to: Mapped[uuid.UUID | None] = mapped_column(index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    outcome: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Disclosure(Base):
    """Data handed to a partner: to whom, which fields, under which agreement, when, in what."""

    __tablename__ = "exchange_disclosures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("exchange_partners.id"), index=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_agreements.id"))
    message_id: Mapped[uuid.UUID | None] = mapped_column()
    channel: Mapped[str] = mapped_column(String(40))  # the message type or the agency request
    subject: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[list[str]] = mapped_column(JsonDocument)
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PreArrival(Base):
    """A partner's export data about goods coming here, and the import declaration it matched."""

    __tablename__ = "exchange_pre_arrivals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_incoming.message_id"), unique=True)
    sender: Mapped[str] = mapped_column(String(64))
    export_mrn: Mapped[str | None] = mapped_column(String(32), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    declaration_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    matched_by: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    matched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Mismatch(Base):
    """A risk signal: the partner's export data and our import declaration disagree."""

    __tablename__ = "exchange_mismatches"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    pre_arrival_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exchange_pre_arrivals.id"), index=True)
    declaration_id: Mapped[uuid.UUID] = mapped_column(index=True)
    field: Mapped[str] = mapped_column(String(20))  # value, quantity, origin
    pointer: Mapped[str] = mapped_column(String(200))
    exported: Mapped[str] = mapped_column(Text)
    declared: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AgencyToken(Base):
    """A partner agency's API token (only its SHA-256 is kept), scoped by its agreements."""

    __tablename__ = "exchange_agency_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("exchange_partners.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Consent(Base):
    """A trader's consent that an agency (a bank) may verify its export history."""

    __tablename__ = "exchange_consents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    party_id: Mapped[str] = mapped_column(String(17), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("exchange_partners.id"))
    purpose: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
