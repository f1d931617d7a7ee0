"""The analytics read model: one row per accepted declaration, kept by a subscriber to the declarations'
events, and daily rollups of those rows kept by the same subscriber in the same transaction, so that
the dashboards read a few thousand rollup rows for a year instead of a million declarations."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Float, Index, Integer, LargeBinary, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime

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
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))  # its items' duties and taxes
    # the ids of the targeting profiles it matched at acceptance (from the lane decision's reasons)
    profiles: Mapped[list[int]] = mapped_column(JsonDocument, default=list, server_default=text("'[]'"))


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


class DayRollup(Base):
    """The declarations lodged on one UTC day at one office, in one lane, by one transport mode: counts,
    revenue and a histogram of their release times (see analytics.histogram), so that every figure of
    the dashboards is a sum of these rows."""

    __tablename__ = "analytics_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    lane: Mapped[str] = mapped_column(String(8), primary_key=True)
    office: Mapped[str] = mapped_column(String(8), primary_key=True)
    transport_mode: Mapped[str] = mapped_column(String(1), primary_key=True)
    lodged: Mapped[int] = mapped_column(Integer)
    released: Mapped[int] = mapped_column(Integer)
    within_hour: Mapped[int] = mapped_column(Integer)  # released within 1 hour of lodgement
    controls: Mapped[int] = mapped_column(Integer)
    irregular: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    release_histogram: Mapped[bytes] = mapped_column(LargeBinary)


class OfficerDayRollup(Base):
    """What one officer did to the declarations lodged on one UTC day: controls recorded, and releases
    of declarations of a control lane (green ones release themselves)."""

    __tablename__ = "analytics_officer_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    officer: Mapped[str] = mapped_column(String(128), primary_key=True)
    controls: Mapped[int] = mapped_column(Integer)
    releases: Mapped[int] = mapped_column(Integer)


class ProfileDayRollup(Base):
    """The declarations lodged on one UTC day that one targeting profile matched: how many, and how many
    of them were controlled and found irregular (a profile's hit rate over a period is a sum of these)."""

    __tablename__ = "analytics_profile_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    profile_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    controls: Mapped[int] = mapped_column(Integer)
    irregular: Mapped[int] = mapped_column(Integer)


class StoredForecasts(Base):
    """What the forecasts page shows, as computed on one day (`service.Outlook` as JSON): fitting the
    models takes seconds and their history is whole days, so they are computed once a day, not per view.
    Only the newest day is kept."""

    __tablename__ = "analytics_forecasts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the first day forecast
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    content: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
