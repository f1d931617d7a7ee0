from __future__ import annotations

from datetime import date

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base


class RegisteredParty(Base):
    __tablename__ = "parties"

    id: Mapped[str] = mapped_column(String(17), primary_key=True)
    name: Mapped[str] = mapped_column(String(70))
    country: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(16))  # trader or broker
    aeo: Mapped[bool] = mapped_column(default=False)  # authorised economic operator (WCO SAFE)


class Mandate(Base):
    """A broker's authority to declare for a client (direct representation)."""

    __tablename__ = "mandates"

    representative_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
