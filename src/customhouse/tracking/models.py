"""Tracking as stored: devices and their keys, transit movements, positions, each device's running
state (what the alert rules need from the previous report), alerts, gaps in sequence numbers, and the
counts of rejected messages by reason.

A movement names its declaration by id and MRN without a foreign key: domains talk through services.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class Device(Base):
    """An e-seal, a tracker or a gateway, with the Ed25519 public key its messages are signed with."""

    __tablename__ = "tracking_devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str | None] = mapped_column(
        Text
    )  # PEM; None for a device that only a gateway signs for
    gateway_id: Mapped[str | None] = mapped_column(ForeignKey("tracking_devices.id"), index=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_by: Mapped[str] = mapped_column(String(128))


class Movement(Base):
    """A transit movement under a transit declaration, from departure to discharge."""

    __tablename__ = "tracking_movements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    declaration_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    mrn: Mapped[str] = mapped_column(String(18), unique=True)
    office_of_departure: Mapped[str] = mapped_column(String(8))
    office_of_destination: Mapped[str] = mapped_column(String(8))
    corridor: Mapped[str] = mapped_column(String(32))
    time_limit: Mapped[datetime] = mapped_column(UTCDateTime())
    seals: Mapped[list[str]] = mapped_column(JsonDocument)
    guarantee_reference: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(128))
    in_transit_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    incident_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    time_limit_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    discharged_by: Mapped[str | None] = mapped_column(String(128))
    guarantee_released: Mapped[bool | None] = mapped_column()


class Position(Base):
    """One report of one device, as received."""

    __tablename__ = "tracking_positions"
    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index("ix_tracking_positions_movement_time", "movement_id", "time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    speed: Mapped[float] = mapped_column(Float)
    seal: Mapped[str] = mapped_column(String(8))
    door: Mapped[str] = mapped_column(String(8))
    battery: Mapped[float] = mapped_column(Float)
    temperature: Mapped[float] = mapped_column(Float)
    movement_id: Mapped[uuid.UUID | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeviceState(Base):
    """What the alert rules keep between two reports of a device."""

    __tablename__ = "tracking_device_states"

    device_id: Mapped[str] = mapped_column(ForeignKey("tracking_devices.id"), primary_key=True)
    movement_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lon: Mapped[float | None] = mapped_column(Float)
    outside_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stopped_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    raised: Mapped[list[str]] = mapped_column(JsonDocument)  # alert kinds whose condition still holds
    gaps: Mapped[int] = mapped_column(Integer, default=0)


class Gap(Base):
    """Sequence numbers of a device that were skipped: after_seq + 1 .. before_seq - 1 never arrived
    (before a report of them comes late)."""

    __tablename__ = "tracking_gaps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    after_seq: Mapped[int] = mapped_column(BigInteger)
    before_seq: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alert(Base):
    __tablename__ = "tracking_alerts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    movement_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    device_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    note: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(128))


class Rejection(Base):
    """How many messages (or reports, for replays) were refused for each reason."""

    __tablename__ = "tracking_rejections"

    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_detail: Mapped[str | None] = mapped_column(Text)
