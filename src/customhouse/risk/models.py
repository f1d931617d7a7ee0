"""Risk management as stored: targeting profiles, reference bands, model versions, lane decisions.

`risk_versions` holds one counter per kind of state the lane selector caches (`profiles`, `bands`,
`model`): every change bumps its counter in the same transaction, and a selector reloads what changed
when it sees a newer counter (see `risk.selector`).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, LargeBinary, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime

INT64 = BigInteger().with_variant(Integer(), "sqlite")


class Profile(Base):
    """A targeting profile: conditions over declaration fields and the lane it sends matches to."""

    __tablename__ = "risk_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    revision: Mapped[int]  # 1, then one more per change of what the profile decides
    active: Mapped[bool]
    lane: Mapped[str] = mapped_column(String(8))
    priority: Mapped[int]
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    conditions: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    # at most this many matched declarations in a row go uncontrolled at an office (None: the office's
    # setting, if any); see `risk.lanes.limit_passes`
    max_passes: Mapped[int | None]
    hits: Mapped[int] = mapped_column(INT64, default=0)  # declarations it matched at acceptance
    controls: Mapped[int] = mapped_column(INT64, default=0)  # of those, control outcomes recorded
    irregular: Mapped[int] = mapped_column(INT64, default=0)  # of those, irregular
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(128))


class Passes(Base):
    """Matched declarations of a profile released without control since its last control, per office."""

    __tablename__ = "risk_passes"

    profile_id: Mapped[int] = mapped_column(ForeignKey("risk_profiles.id"), primary_key=True)
    office: Mapped[str] = mapped_column(String(8), primary_key=True)
    passes: Mapped[int]


class RiskVersion(Base):
    __tablename__ = "risk_versions"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(INT64)


class ReferenceBand(Base):
    """Distribution of log(price per kg) for an HS6, origin and invoice currency (stored declarations)."""

    __tablename__ = "risk_bands"

    hs6: Mapped[str] = mapped_column(String(6), primary_key=True)
    origin: Mapped[str] = mapped_column(String(2), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    count: Mapped[int]
    mean: Mapped[float] = mapped_column(Float)
    sd: Mapped[float] = mapped_column(Float)


class ModelRecord(Base):
    """A trained model version: training window, metrics on a later-in-time holdout, the model file."""

    __tablename__ = "risk_models"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    trained_from: Mapped[date]
    trained_to: Mapped[date]
    rows: Mapped[int]
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    revenue: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # risk.revenue.RevenueRates.dump
    blob: Mapped[bytes] = mapped_column(LargeBinary)  # risk.model.RiskModel.save's .npz
    sha256: Mapped[str] = mapped_column(String(64))
    promoted: Mapped[bool] = mapped_column(default=False)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Decision(Base):
    """A lane decision at acceptance, traced to what made it (from the `declaration.accepted` event)."""

    __tablename__ = "risk_decisions"
    __table_args__ = (Index("ix_risk_decisions_declaration", "declaration_id"),)

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    declaration_id: Mapped[uuid.UUID]
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lane: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))  # rule, model, random, documents
    profile_id: Mapped[int | None]
    profile_revision: Mapped[int | None]
    matched: Mapped[list[Any]] = mapped_column(JsonDocument)  # [[profile id, revision], ...]
    model_version: Mapped[int | None]
    probability: Mapped[float | None] = mapped_column(Float)
    revenue_at_stake: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))  # national currency
    reasons: Mapped[list[str]] = mapped_column(JsonDocument)
    explanation: Mapped[list[str]] = mapped_column(JsonDocument)  # a model's yellow or red lane: why
    outcome: Mapped[str | None] = mapped_column(String(16))  # conforming, irregularity (last control)
