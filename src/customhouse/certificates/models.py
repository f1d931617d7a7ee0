"""Certificates as stored: every credential issued (its subject, its signed token, its place in the
status list, its revocation) and the allocation counter of the status list.

A certificate names its declaration by id without a foreign key: domains talk through services and
events, not each other's tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("status_list", "status_index"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    declaration_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    subject: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    token: Mapped[str] = mapped_column(Text)
    status_list: Mapped[int] = mapped_column(Integer)
    status_index: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    revocation_reason: Mapped[str | None] = mapped_column(Text)


class StatusListAllocation(Base):
    """How many entries of each status list have been handed out (the next entry's ordinal)."""

    __tablename__ = "certificate_status_lists"

    list_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    allocated: Mapped[int] = mapped_column(Integer)
