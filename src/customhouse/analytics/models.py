"""The analytics read model: one row per accepted declaration, kept by a subscriber to the declarations'
events, so that dashboards aggregate one narrow, indexed table instead of reading another domain's."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Float, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, UTCDateTime

INCLUDED = [
    "lane",
    "office",
    "transport_mode",
    "released_at",
    "release_seconds",
    "released_by",
    "control_outcome",
    "controlled_by",
]


class DeclarationFact(Base):
    __tablename__ = "analytics_declarations"
    __table_args__ = (
        # on PostgreSQL the dashboards' columns ride in the index: a period is read by an index-only scan
        Index("ix_analytics_declarations_lodged", "lodged_at", postgresql_include=INCLUDED),
        Index("ix_analytics_declarations_office_lodged", "office", "lodged_at"),
    )

    declaration_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    office: Mapped[str] = mapped_column(String(8))
    transport_mode: Mapped[str] = mapped_column(String(1))
    lane: Mapped[str] = mapped_column(String(8))
    lodged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    release_seconds: Mapped[float | None] = mapped_column(Float)  # lodgement to release
    released_by: Mapped[str | None] = mapped_column(String(128))
    control_outcome: Mapped[str | None] = mapped_column(String(16))  # conforming or irregularity
    controlled_by: Mapped[str | None] = mapped_column(String(128))


class ItemFact(Base):
    """One goods item of an accepted declaration: what the forecasts by HS section and origin count and sum
    (`revenue`: the item's duties and taxes in the national currency, from the newest assessment)."""

    __tablename__ = "analytics_items"
    __table_args__ = (Index("ix_analytics_items_lodged", "lodged_at"),)

    declaration_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    sequence: Mapped[int] = mapped_column(primary_key=True)
    hs_section: Mapped[str] = mapped_column(String(5))  # Roman numeral, I to XXI
    origin: Mapped[str] = mapped_column(String(2))
    office: Mapped[str] = mapped_column(String(8))
    lodged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
