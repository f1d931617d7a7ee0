"""Partner agencies at home: a tax authority, a transport agency, a bank. Each has its own API token
(only its SHA-256 kept) and sees only what an agreement in force names for its channel; every answer
is recorded as a disclosure. A bank's verification of a trader's export history also needs that
trader's consent, which the trader grants and revokes.

Declarations and assessments are read through their services, as a system supervisor.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse.assessment import service as assessment
from customhouse.auth.service import Principal, Role
from customhouse.db import utcnow
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Declaration, Kind, State
from customhouse.exchange import fields, signing
from customhouse.exchange.models import AgencyToken, Agreement, Consent, Partner
from customhouse.exchange.schemas import Channel
from customhouse.exchange.service import SYSTEM, Identity, agreement_for, disclose
from customhouse.problems import FieldError, Problem

TOKEN_PREFIX = "cha_"
LOOK_BACK = timedelta(days=90)  # a release happens at most this long after lodgement, for the feed
TRANSPORT_KINDS = (Kind.IMPORT, Kind.TRANSIT)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, *, partner_id: str, by: Principal, now: datetime | None = None) -> str:
    """A new API token for an agency (shown once)."""
    if not by.has(Role.SUPERVISOR, Role.ADMIN):
        raise Problem(403, "forbidden", "only supervisors issue agency tokens")
    partner = session.get(Partner, partner_id)
    if partner is None or partner.kind == "customs":
        raise Problem(404, "not-found", f"no partner agency {partner_id}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(AgencyToken(token_hash=_hash(token), partner_id=partner.id, created_at=now or utcnow()))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> Partner | None:
    return session.scalar(
        select(Partner)
        .join(AgencyToken, AgencyToken.partner_id == Partner.id)
        .where(AgencyToken.token_hash == _hash(token), AgencyToken.revoked_at.is_(None))
    )


def _authorised(session: Session, partner: Partner, channel: Channel, now: datetime) -> Agreement:
    agreement = agreement_for(session, partner_id=partner.id, kind=channel, at=now)
    if agreement is None:
        raise Problem(403, "forbidden", f"no agreement in force lets {partner.id} use {channel}")
    return agreement


def _answer(
    session: Session,
    agreement: Agreement,
    channel: Channel,
    records: list[dict[str, Any]],
    now: datetime,
    subject: str | None = None,
) -> list[dict[str, Any]]:
    shown, kept = [], set()
    for record in records:
        redacted, fields_kept, _ = fields.redact(record, agreement.fields)
        shown.append(redacted)
        kept.update(fields_kept)
    disclose(session, agreement=agreement, channel=str(channel), kept=sorted(kept), subject=subject, now=now)
    return shown


def _declarations(session: Session, filters: declarations.Filters) -> list[Declaration]:
    found: list[Declaration] = []
    cursor = None
    while True:
        page = declarations.list_declarations(session, by=SYSTEM, filters=filters, cursor=cursor, limit=500)
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def _party(party: Any) -> dict[str, Any] | None:
    return party.model_dump(mode="json", exclude_none=True) if party is not None else None


def vat_feed(
    session: Session, *, partner: Partner, since: datetime, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Imports released since `since`, with customs value and VAT as assessed (tax authority)."""
    now = now or utcnow()
    agreement = _authorised(session, partner, Channel.VAT_FEED, now)
    released = _declarations(
        session, declarations.Filters(state=State.RELEASED, lodged_from=since - LOOK_BACK)
    )
    records = []
    for declaration in sorted(released, key=lambda item: item.released_at or now):
        if (
            declaration.document.kind != Kind.IMPORT
            or declaration.released_at is None
            or declaration.released_at < since
        ):
            continue
        assessed = assessment.assessments(session, declaration_id=declaration.id)
        if not assessed:
            continue
        newest = assessed[-1].breakdown
        vat = newest.by_tax.get("vat")
        records.append(
            {
                "mrn": declaration.mrn,
                "released_at": declaration.released_at.isoformat(),
                "importer": _party(declaration.document.importer),
                "declarant": _party(declaration.document.declarant),
                "customs_value": newest.customs_value.model_dump(mode="json"),
                "vat": vat.model_dump(mode="json")
                if vat
                else {"amount": "0", "currency": newest.national_currency},
                "duties_and_taxes": newest.duties_and_taxes.model_dump(mode="json"),
                "goods_items": [
                    {"hs_code": item.hs_code, "origin": item.origin, "price": str(item.price)}
                    for item in declaration.document.goods_items
                ],
            }
        )
    return _answer(session, agreement, Channel.VAT_FEED, records, now)


def transport_status(
    session: Session,
    *,
    partner: Partner,
    container: str | None = None,
    means: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Arrival and transit status of the consignments in a container or on a means of transport."""
    now = now or utcnow()
    agreement = _authorised(session, partner, Channel.TRANSPORT_STATUS, now)
    if not container and not means:
        raise Problem(
            422,
            "validation",
            "name a container or a means of transport",
            [
                FieldError("a container number or a means of transport id", parameter=name)
                for name in ("container", "means")
            ],
        )
    found = _declarations(session, declarations.Filters(lodged_from=now - LOOK_BACK))
    records = [
        {
            "mrn": item.mrn,
            "kind": str(item.document.kind),
            "state": str(item.state),
            "office_of_entry": item.document.office_of_entry,
            "office_of_destination": item.document.office_of_destination,
            "containers": item.document.containers,
            "means_of_transport_id": item.document.means_of_transport_id,
            "accepted_at": item.accepted_at.isoformat() if item.accepted_at else None,
            "released_at": item.released_at.isoformat() if item.released_at else None,
        }
        for item in found
        if item.document.kind in TRANSPORT_KINDS
        and item.mrn is not None
        and (container is None or container in item.document.containers)
        and (means is None or item.document.means_of_transport_id == means)
    ]
    return _answer(
        session,
        agreement,
        Channel.TRANSPORT_STATUS,
        [{k: v for k, v in r.items() if v is not None} for r in records],
        now,
    )


# ---------------------------------------------------------------- consent and export history


def grant_consent(
    session: Session, *, partner_id: str, purpose: str, by: Principal, now: datetime | None = None
) -> Consent:
    """A trader lets an agency (a bank) verify its export history."""
    if not by.has(Role.TRADER) or by.party_id is None:
        raise Problem(403, "forbidden", "only a trader consents, for its own party")
    partner = session.get(Partner, partner_id)
    if partner is None or partner.kind == "customs":
        raise Problem(
            422,
            "validation",
            "no such agency",
            [FieldError("a registered agency's id", pointer="/partner_id")],
        )
    record = Consent(
        id=uuid.uuid4(),
        party_id=by.party_id,
        partner_id=partner.id,
        purpose=purpose,
        granted_at=now or utcnow(),
        granted_by=by.name,
    )
    session.add(record)
    session.flush()
    return record


def revoke_consent(
    session: Session, *, consent_id: uuid.UUID, by: Principal, now: datetime | None = None
) -> Consent:
    record = session.get(Consent, consent_id)
    if record is None or record.party_id != by.party_id:
        raise Problem(404, "not-found", f"no consent {consent_id}")
    if record.revoked_at is not None:
        raise Problem(409, "conflict", f"consent {consent_id} is revoked already")
    record.revoked_at = now or utcnow()
    session.flush()
    return record


def consents(session: Session, *, by: Principal) -> list[Consent]:
    """A trader's own consents; customs readers see all."""
    query = select(Consent).order_by(Consent.granted_at.desc())
    if not by.reads_all:
        if by.party_id is None:
            return []
        query = query.where(Consent.party_id == by.party_id)
    return list(session.scalars(query))


def export_attestation(
    session: Session, *, partner: Partner, party_id: str, identity: Identity, now: datetime | None = None
) -> dict[str, Any]:
    """A signed statement of a trader's released exports, for a bank the trader consented to."""
    now = now or utcnow()
    agreement = _authorised(session, partner, Channel.EXPORT_HISTORY, now)
    consent = session.scalar(
        select(Consent.id).where(
            Consent.party_id == party_id, Consent.partner_id == partner.id, Consent.revoked_at.is_(None)
        )
    )
    if consent is None:
        raise Problem(
            403,
            "forbidden",
            f"{party_id} has not consented that {partner.id} verify its export history",
            [FieldError("a trader that consented (and did not revoke)", parameter="party_id")],
        )
    exports = [
        item
        for item in _declarations(session, declarations.Filters(state=State.RELEASED, party=party_id))
        if item.document.kind == Kind.EXPORT
        and item.document.exporter is not None
        and item.document.exporter.id == party_id
    ]
    values: dict[str, Decimal] = defaultdict(Decimal)
    for item in exports:
        values[item.document.invoice_currency] += item.document.invoice_total
    released = sorted(item.released_at for item in exports if item.released_at)
    statement = {
        "party_id": party_id,
        "issuer": identity.id,
        "issued_at": now.isoformat(),
        "exports": len(exports),
        "first_release": released[0].isoformat() if released else None,
        "last_release": released[-1].isoformat() if released else None,
        "value_by_currency": {currency: f"{value:f}" for currency, value in sorted(values.items())},
        "destinations": sorted({item.document.country_of_destination for item in exports}),
    }
    (shown,) = _answer(session, agreement, Channel.EXPORT_HISTORY, [statement], now, subject=party_id)
    token = signing.sign(
        {"attestation": shown, "audience": partner.id, "consent": str(consent)},
        key=identity.key,
        sender=identity.id,
    )
    return {"attestation": shown, "token": token, "verification_key": identity.public()}
