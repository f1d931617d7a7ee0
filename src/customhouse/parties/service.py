"""Register parties and mandates; answer whether a party may declare, and for whom."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse.parties.models import Mandate, RegisteredParty


def register(
    session: Session, *, id: str, name: str, country: str, kind: str = "trader", aeo: bool = False
) -> RegisteredParty:
    party = RegisteredParty(id=id, name=name, country=country, kind=kind, aeo=aeo)
    session.add(party)
    session.flush()
    return party


def grant_mandate(
    session: Session,
    *,
    representative_id: str,
    client_id: str,
    valid_from: date,
    valid_to: date | None = None,
) -> None:
    session.add(
        Mandate(
            representative_id=representative_id, client_id=client_id, valid_from=valid_from, valid_to=valid_to
        )
    )
    session.flush()


def registered(session: Session, ids: Iterable[str]) -> set[str]:
    """Those of `ids` that are registered."""
    wanted = set(ids)
    if not wanted:
        return set()
    return set(session.scalars(select(RegisteredParty.id).where(RegisteredParty.id.in_(wanted))))


def mandated_pairs(session: Session, pairs: Iterable[tuple[str, str]], on: date) -> set[tuple[str, str]]:
    """Those (representative, client) pairs under a mandate valid on `on`."""
    wanted = set(pairs)
    if not wanted:
        return set()
    rows = session.execute(
        select(Mandate.representative_id, Mandate.client_id).where(
            Mandate.representative_id.in_({representative for representative, _ in wanted}),
            Mandate.valid_from <= on,
            (Mandate.valid_to.is_(None)) | (Mandate.valid_to >= on),
        )
    )
    return {(row[0], row[1]) for row in rows} & wanted


def aeo_parties(session: Session) -> frozenset[str]:
    """The authorised economic operators (WCO SAFE): the risk engine controls them less."""
    return frozenset(session.scalars(select(RegisteredParty.id).where(RegisteredParty.aeo.is_(True))))
