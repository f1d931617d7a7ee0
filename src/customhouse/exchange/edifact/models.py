"""EDIFACT tables: the traders' mailbox of CUSRES responses, the cargo reports (CUSCAR) received, and
the transport documents and containers each declaration names (kept from its events, so that a
manifest is matched without reading the declarations' tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime


class MailboxMessage(Base):
    """A message to a declarant (and its representative): one CUSRES per status change."""

    __tablename__ = "edifact_messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)  # the status change it answers: once only
    declaration_id: Mapped[uuid.UUID] = mapped_column(index=True)
    declarant_id: Mapped[str] = mapped_column(String(17), index=True)
    representative_id: Mapped[str | None] = mapped_column(String(17), index=True)
    message_type: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(35))  # the MRN, or the LRN before acceptance
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ordinal: Mapped[int] = mapped_column(Integer)  # order among the messages of one status change
    body: Mapped[str] = mapped_column(Text)


class DeclarationReference(Base):
    """A document or container that a declaration names, for matching manifests and partners' export
    data without reading the declarations: kind "document" (a transport document), "container", or
    "reference" (any document's reference, transport documents included, e.g. an export's MRN)."""

    __tablename__ = "edifact_declaration_refs"
    __table_args__ = (Index("ix_edifact_declaration_refs_kind_value", "kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    declaration_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "document" | "container" | "reference"
    value: Mapped[str] = mapped_column(String(70))


class CargoReport(Base):
    """A version of a pre-arrival manifest (CUSCAR) as received. One sender's manifest number has
    versions 1, 2, ...: the original (BGM function 9), then each replacement (5) or its cancellation
    (1); the one in force is the version nothing replaced."""

    __tablename__ = "cargo_reports"
    __table_args__ = (UniqueConstraint("sender", "reference", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(35))
    sender: Mapped[str] = mapped_column(String(128))  # the lodging party, or the user without one
    version: Mapped[int] = mapped_column(Integer)
    function: Mapped[str] = mapped_column(String(3))  # UNCL 1225 of the message that made it: 9, 5, 1
    digest: Mapped[str | None] = mapped_column(String(64))  # cuscar.digest; None if unreadable
    replaced_by: Mapped[uuid.UUID | None] = mapped_column()  # the next version, once there is one
    party_id: Mapped[str | None] = mapped_column(String(17), index=True)  # who lodged it
    submitted_by: Mapped[str] = mapped_column(String(128))
    carrier: Mapped[str | None] = mapped_column(String(70))
    means_of_transport_id: Mapped[str | None] = mapped_column(String(35))
    arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[str] = mapped_column(Text)


class CargoLine(Base):
    """One consignment of a manifest: its transport document, containers and goods."""

    __tablename__ = "cargo_report_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cargo_reports.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    transport_document: Mapped[str] = mapped_column(String(70), index=True)
    containers: Mapped[list[Any]] = mapped_column(JsonDocument)
    description: Mapped[str | None] = mapped_column(Text)
    packages: Mapped[int | None] = mapped_column(Integer)
    gross_mass: Mapped[Decimal | None] = mapped_column(Numeric(15, 3))
