"""The pages' own small read model: which certificates belong to which declaration."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.web.models import IssuedCertificate


def on_certificate_issued(session: Session, event: events.DomainEvent) -> None:
    """Remember a certificate of a declaration; delivered at least once, so written only once."""
    declaration_id = event.data.get("declaration_id")
    certificate_id = uuid.UUID(event.aggregate_id)
    if declaration_id is None or session.get(IssuedCertificate, certificate_id) is not None:
        return
    session.add(
        IssuedCertificate(
            certificate_id=certificate_id,
            declaration_id=uuid.UUID(declaration_id),
            kind=str(event.data.get("kind", "")),
            issued_at=event.occurred_at,
        )
    )
    session.flush()


def certificates_of(session: Session, *, declaration_id: uuid.UUID) -> list[IssuedCertificate]:
    """The certificates issued for a declaration, oldest first; the caller checks who may see it."""
    return list(
        session.scalars(
            select(IssuedCertificate)
            .where(IssuedCertificate.declaration_id == declaration_id)
            .order_by(IssuedCertificate.issued_at)
        )
    )


def subscribe(dispatcher: events.Dispatcher) -> None:
    dispatcher.subscribe("certificate.issued", on_certificate_issued)
