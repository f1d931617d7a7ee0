"""Assessments as stored: one per version of a declaration that was assessed, never changed after.

The breakdown (items, tax lines with their measure and formula, the exchange rate, the notes) is kept as
the JSON document the API shows, so that what a trader was told is exactly what is on record; the
amounts anybody filters or sums on (customs value, total, what was owed) are columns.
The declaration is named by id without a foreign key: domains talk through services and events.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, JsonDocument, UTCDateTime

AMOUNT = Numeric(18, 3)


class AssessmentRecord(Base):
    __tablename__ = "assessments"

    declaration_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)  # the declaration document's version
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assessed_by: Mapped[str] = mapped_column(String(128))
    declarant_id: Mapped[str] = mapped_column(String(17))  # who owes it
    date_of_law: Mapped[date]
    currency: Mapped[str] = mapped_column(String(3))
    customs_value: Mapped[Decimal] = mapped_column(AMOUNT)
    total: Mapped[Decimal] = mapped_column(AMOUNT)  # duties and taxes of this version
    difference: Mapped[Decimal] = mapped_column(AMOUNT)  # total minus the previous version's total
    paid_before: Mapped[Decimal] = mapped_column(AMOUNT)  # paid on the declaration before this version
    owed: Mapped[Decimal] = mapped_column(AMOUNT)  # total minus paid_before, when positive
    refund: Mapped[Decimal] = mapped_column(AMOUNT)  # paid_before minus total, when positive
    breakdown: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    quotas: Mapped[dict[str, str]] = mapped_column(JsonDocument)  # quota id -> quantity drawn (text)
