"""What the pages need to find that no service lists: the certificates issued for a declaration, kept
from the `certificate.issued` events (the certificates' own table stays theirs)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from customhouse.db import Base, UTCDateTime


class IssuedCertificate(Base):
    __tablename__ = "web_certificates"

    certificate_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    declaration_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
