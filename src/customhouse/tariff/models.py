"""The tariff in force as stored: origin groups, quotas with their running balance, and measures.

Only one tariff is in force: an import replaces groups and measures in one transaction and keeps a
row in `tariff_imports` (what was imported, when, by whom). Quota volumes and balances are integers in
thousandths of the quota's unit, so that the atomic `balance - :q` is exact on SQLite (which has no
decimal type) as on PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime


class TariffImport(Base):
    __tablename__ = "tariff_imports"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    rounding: Mapped[str] = mapped_column(String(16))
    places: Mapped[int]
    source: Mapped[str] = mapped_column(Text())
    sha256: Mapped[str] = mapped_column(String(64))
    measures: Mapped[int]
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(128))


class TariffGroup(Base):
    __tablename__ = "tariff_groups"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(200))
    countries: Mapped[list[str]] = mapped_column(JsonDocument)


class TariffQuota(Base):
    __tablename__ = "tariff_quotas"
    __table_args__ = (CheckConstraint("balance_milli >= 0", name="balance_not_negative"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text())
    unit: Mapped[str] = mapped_column(String(3))
    volume_milli: Mapped[int] = mapped_column(BigInteger())
    balance_milli: Mapped[int] = mapped_column(BigInteger())
    valid_from: Mapped[date] = mapped_column(Date())
    valid_to: Mapped[date] = mapped_column(Date())


class TariffMeasure(Base):
    __tablename__ = "tariff_measures"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int]  # order in the file, so that `show` lists measures as they were written
    hs: Mapped[str] = mapped_column(String(10), index=True)  # "" for every good
    role: Mapped[str] = mapped_column(String(16))
    duty: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # as the file writes it, amounts as text
    valid_from: Mapped[date] = mapped_column(Date())
    valid_to: Mapped[date | None] = mapped_column(Date())
    origins: Mapped[list[str]] = mapped_column(JsonDocument)
    excluded_origins: Mapped[list[str]] = mapped_column(JsonDocument)
    group_id: Mapped[str | None] = mapped_column(String(64))
    exporter: Mapped[str | None] = mapped_column(String(200))
    quota_id: Mapped[str | None] = mapped_column(String(64))
