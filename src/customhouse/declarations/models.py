"""Declarations as stored: the current state with its searchable header, every version's document, and
the current version's goods items (for filters and analytics)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime


class DeclarationRecord(Base):
    __tablename__ = "declarations"
    __table_args__ = (
        UniqueConstraint("declarant_id", "lrn"),
        Index("ix_declarations_created", "created_at", "id"),
        Index("ix_declarations_state_office", "state", "office_of_lodgement"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    lrn: Mapped[str] = mapped_column(String(22))
    kind: Mapped[str] = mapped_column(String(8))
    pre_arrival: Mapped[bool]
    declarant_id: Mapped[str] = mapped_column(String(17))
    representative_id: Mapped[str | None] = mapped_column(String(17), index=True)
    importer_id: Mapped[str | None] = mapped_column(String(17), index=True)
    exporter_id: Mapped[str | None] = mapped_column(String(17), index=True)
    office_of_lodgement: Mapped[str] = mapped_column(String(8))
    office_of_destination: Mapped[str | None] = mapped_column(String(8))
    transport_mode: Mapped[str] = mapped_column(String(1))
    state: Mapped[str] = mapped_column(String(16))
    lane: Mapped[str | None] = mapped_column(String(8))
    lane_reasons: Mapped[list[str]] = mapped_column(JsonDocument)
    mrn: Mapped[str | None] = mapped_column(String(18), unique=True)
    version: Mapped[int]  # the document's version: 1, then one more per amendment
    revision: Mapped[int]  # every change adds one; clients send it back in If-Match
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lodged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeclarationVersion(Base):
    """Every version of the declaration document, kept: amendments add one, never overwrite."""

    __tablename__ = "declaration_versions"

    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class GoodsItemRecord(Base):
    """The current version's goods items, one row each, for HS and origin filters and for analytics."""

    __tablename__ = "goods_items"

    declaration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("declarations.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(primary_key=True)
    hs_code: Mapped[str] = mapped_column(String(6), index=True)
    origin: Mapped[str] = mapped_column(String(2))
    net_mass: Mapped[Decimal] = mapped_column(Numeric(15, 3))
    price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
