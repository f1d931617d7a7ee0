"""Certificates: issue (of origin from a released export declaration, or a licence, permit or other
certificate), revoke, read, and the signed status list.

**Issuer.** `Authority` holds the did:web of the administration and its Ed25519 key, in a PEM file
(PKCS#8, mode 600) under var_dir/keys created at first use like the ledger's and the receipts' keys.
The DID's host is CUSTOMHOUSE_PUBLIC_URL's, else CUSTOMHOUSE_HOST; the status list is served at
<base>/credentials/status/1 (base: the public URL, else https://<host>).

**Status list entries.** Entry n (0, 1, 2, ... as certificates are issued, one guarded UPDATE of a
counter row per certificate) gets the index `(n * 0x2F3A5 + 0x1D2B3) mod 131072`, a bijection of
[0, 131072) (odd multiplier modulo 2^17): indexes follow no visible order in the list, as the
specification's privacy section recommends, and never collide. A list holds 131,072 certificates;
the next list is a later change.

**Events.** Issue and revoke record `certificate.issued` / `certificate.revoked` (aggregate type
"certificate") carrying the SHA-256 of the signed token, so the ledger's leaf commits to the exact
credential handed out.

Service functions never commit; the API and the CLI do.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.certificates import credentials as vc
from customhouse.certificates import pdf
from customhouse.certificates.models import Certificate, StatusListAllocation
from customhouse.config import Settings
from customhouse.db import table as db_table
from customhouse.db import utcnow
from customhouse.declarations import service as declarations
from customhouse.keys import load_or_create, new_ed25519_pem
from customhouse.problems import FieldError, Problem

AGGREGATE = "certificate"
ISSUED = "certificate.issued"
REVOKED = "certificate.revoked"
KEY_FILE = Path("keys") / "certificates-ed25519.pem"
LIST_ID = 1
ORIGIN_KINDS = {False: vc.CERTIFICATE_OF_ORIGIN, True: vc.PREFERENTIAL_ORIGIN}
GENERIC_KINDS = frozenset({vc.LICENCE, vc.PERMIT, vc.OTHER})
ISSUERS = (Role.OFFICER, Role.SUPERVISOR)
DEFAULT_VALIDITY = timedelta(days=365)
MAX_VALIDITY = timedelta(days=5 * 366)
_MULTIPLIER, _OFFSET = 0x2F3A5, 0x1D2B3


def status_index(ordinal: int) -> int:
    """The list index of the `ordinal`-th entry handed out (a bijection of 0 .. 131071)."""
    return (ordinal * _MULTIPLIER + _OFFSET) % vc.STATUS_LIST_SIZE


@dataclass(frozen=True, slots=True)
class Authority:
    """The administration as an issuer of credentials."""

    issuer: vc.Issuer

    @classmethod
    def from_settings(cls, settings: Settings) -> Authority:
        if settings.public_url:
            parts = urlsplit(settings.public_url)
            host, base = parts.netloc, settings.public_url.rstrip("/")
            path = parts.path
        else:
            host, base, path = settings.host, f"https://{settings.host}", ""
        pem = load_or_create(settings.var_dir / KEY_FILE, new_ed25519_pem)
        return cls(vc.Issuer(did=vc.did_web(host, path), key=vc.private_key_from_pem(pem), status_base=base))

    def public_keys(self) -> list[vc.PublicKey]:
        return vc.keys_from_json(self.issuer.did_document())


def _allowed(by: Principal) -> None:
    if not by.has(*ISSUERS):
        raise Problem(403, "forbidden", "only customs officers and supervisors issue and revoke certificates")


def _allocate(session: Session) -> int:
    table = db_table(StatusListAllocation)
    ordinal = session.execute(
        update(table)
        .where(table.c.list_id == LIST_ID, table.c.allocated < vc.STATUS_LIST_SIZE)
        .values(allocated=table.c.allocated + 1)
        .returning(table.c.allocated)
    ).scalar_one_or_none()
    if ordinal is None:
        raise Problem(503, "internal", "the status list is full: no certificate can be issued")
    return status_index(int(ordinal) - 1)


def _validity(valid_until: datetime | None, now: datetime) -> datetime:
    if valid_until is None:
        return now + DEFAULT_VALIDITY
    if valid_until.tzinfo is None or not now < valid_until <= now + MAX_VALIDITY:
        raise Problem(
            422,
            "validation",
            "the validity end is not accepted",
            [FieldError("a time zone-aware time after now and within 5 years", pointer="/valid_until")],
        )
    return valid_until


def _issue(
    session: Session,
    *,
    authority: Authority,
    kind: str,
    subject: dict[str, Any],
    by: Principal,
    declaration_id: uuid.UUID | None,
    valid_until: datetime | None,
    now: datetime | None,
) -> Certificate:
    now = now or utcnow()
    until = _validity(valid_until, now)
    certificate_id = uuid.uuid4()
    index = _allocate(session)
    _, token = vc.issue(
        authority.issuer,
        kind=kind,
        id=f"urn:uuid:{certificate_id}",
        subject=subject,
        valid_from=now,
        valid_until=until,
        status_index=index,
    )
    record = Certificate(
        id=certificate_id,
        kind=kind,
        declaration_id=declaration_id,
        subject=subject,
        token=token,
        status_list=LIST_ID,
        status_index=index,
        valid_from=now.replace(microsecond=0),
        valid_until=until.replace(microsecond=0),
        issued_at=now,
        issued_by=by.name,
    )
    session.add(record)
    session.flush()
    data = {
        "kind": kind,
        "declaration_id": str(declaration_id) if declaration_id else None,
        "status_list": LIST_ID,
        "status_index": index,
        "valid_until": vc.rfc3339(until),
        "credential_sha256": hashlib.sha256(token.encode()).hexdigest(),
    }
    events.record(
        session,
        [
            events.DomainEvent(
                type=ISSUED,
                aggregate_type=AGGREGATE,
                aggregate_id=str(certificate_id),
                actor=by.name,
                actor_party=by.party_id,
                data=data,
                occurred_at=now,
            )
        ],
    )
    return record


def _party(party: Any) -> dict[str, Any] | None:
    if party is None:
        return None
    return {key: value for key, value in party.model_dump(mode="json").items() if value is not None}


def origin_subject(declaration: Any, *, preferential: bool) -> dict[str, Any]:
    """What a certificate of origin states, from a released export declaration."""
    document = declaration.document
    subject: dict[str, Any] = {
        "id": f"urn:customhouse:declaration:{declaration.mrn}",
        "mrn": declaration.mrn,
        "preferential": preferential,
        "exporter": _party(document.exporter),
        "consignee": _party(document.buyer),
        "countryOfExport": document.country_of_dispatch,
        "countryOfDestination": document.country_of_destination,
        "releasedAt": vc.rfc3339(declaration.released_at) if declaration.released_at else None,
        "goods": [
            {
                "sequence": item.sequence,
                "hsCode": item.hs_code,
                "description": item.description,
                "countryOfOrigin": item.origin,
                "quantity": str(item.quantity),
                "unit": item.unit,
                "grossMass": str(item.gross_mass),
            }
            for item in document.goods_items
        ],
    }
    return {key: value for key, value in subject.items() if value is not None}


def issue_origin(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    authority: Authority,
    preferential: bool = False,
    valid_until: datetime | None = None,
    now: datetime | None = None,
) -> Certificate:
    """A certificate of origin for a released export declaration; one live one per kind."""
    _allowed(by)
    declaration = declarations.get(session, declaration_id=declaration_id, by=by)
    if declaration.document.kind != "export":
        raise Problem(409, "invalid-state", f"declaration {declaration_id} is not an export declaration")
    if declaration.state != "released":
        raise Problem(
            409,
            "invalid-state",
            f"declaration {declaration_id} is {declaration.state}: certificates of origin follow release",
        )
    kind = ORIGIN_KINDS[preferential]
    existing = session.scalar(
        select(Certificate.id).where(
            Certificate.declaration_id == declaration_id,
            Certificate.kind == kind,
            Certificate.revoked_at.is_(None),
        )
    )
    if existing is not None:
        raise Problem(
            409,
            "conflict",
            f"declaration {declaration_id} already has {kind} {existing}; revoke it to issue another",
            extra={"certificate_id": str(existing)},
        )
    return _issue(
        session,
        authority=authority,
        kind=kind,
        subject=origin_subject(declaration, preferential=preferential),
        by=by,
        declaration_id=declaration_id,
        valid_until=valid_until,
        now=now,
    )


def issue_generic(
    session: Session,
    *,
    kind: str,
    subject: dict[str, Any],
    by: Principal,
    authority: Authority,
    valid_until: datetime | None = None,
    now: datetime | None = None,
) -> Certificate:
    """A licence, permit or other certificate stating `subject` (a JSON object)."""
    _allowed(by)
    if kind not in GENERIC_KINDS:
        raise Problem(
            422,
            "validation",
            f"kind {kind!r} is not a generic certificate",
            [FieldError(f"one of {sorted(GENERIC_KINDS)}", pointer="/kind")],
        )
    return _issue(
        session,
        authority=authority,
        kind=kind,
        subject=dict(subject),
        by=by,
        declaration_id=None,
        valid_until=valid_until,
        now=now,
    )


def get(session: Session, *, certificate_id: uuid.UUID, by: Principal) -> Certificate:
    """A certificate, for customs (officers, supervisors, auditors, admins) or, for one issued from a
    declaration, whoever sees that declaration; anyone else gets 404."""
    record = session.get(Certificate, certificate_id)
    if record is not None and not (by.reads_all or by.has(Role.OFFICER)):
        if record.declaration_id is None:
            record = None
        else:
            try:
                declarations.get(session, declaration_id=record.declaration_id, by=by)
            except Problem:
                record = None
    if record is None:
        raise Problem(404, "not-found", f"no certificate {certificate_id}")
    return record


def revoke(
    session: Session, *, certificate_id: uuid.UUID, by: Principal, reason: str, now: datetime | None = None
) -> Certificate:
    _allowed(by)
    if not reason.strip():
        raise Problem(
            422, "validation", "a revocation needs its reason", [FieldError("a reason", pointer="/reason")]
        )
    record = get(session, certificate_id=certificate_id, by=by)
    now = now or utcnow()
    changed = session.execute(
        update(Certificate)
        .where(Certificate.id == certificate_id, Certificate.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by.name, revocation_reason=reason.strip())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        raise Problem(409, "invalid-state", f"certificate {certificate_id} is already revoked")
    session.refresh(record)
    events.record(
        session,
        [
            events.DomainEvent(
                type=REVOKED,
                aggregate_type=AGGREGATE,
                aggregate_id=str(certificate_id),
                actor=by.name,
                actor_party=by.party_id,
                reason=reason.strip(),
                data={
                    "status_list": record.status_list,
                    "status_index": record.status_index,
                    "credential_sha256": hashlib.sha256(record.token.encode()).hexdigest(),
                },
                occurred_at=now,
            )
        ],
    )
    return record


def revoked_indexes(session: Session, list_id: int = LIST_ID) -> list[int]:
    return list(
        session.scalars(
            select(Certificate.status_index).where(
                Certificate.status_list == list_id, Certificate.revoked_at.is_not(None)
            )
        )
    )


def status_list_token(session: Session, *, authority: Authority, now: datetime | None = None) -> str:
    """The signed BitstringStatusListCredential of list 1 as it stands now."""
    return vc.sign_status_list(authority.issuer, revoked=revoked_indexes(session), valid_from=now or utcnow())


def verify(session: Session, *, token: str, authority: Authority, now: datetime | None = None) -> vc.Verdict:
    """Verify a credential against this administration's keys and its current status list."""
    now = now or utcnow()
    status = vc.StatusList(
        url=authority.issuer.status_list_url,
        bits=vc.bitstring(revoked_indexes(session)),
        issuer=authority.issuer.did,
    )
    return vc.verify(token, public_keys=authority.public_keys(), status_list=status, now=now)


def token_of(session: Session, *, certificate_id: uuid.UUID) -> str | None:
    """The credential issued under this id, for the public verification page that a printed QR code
    names by id (a random UUID: knowing it means holding the paper)."""
    record = session.get(Certificate, certificate_id)
    return record.token if record is not None else None


def paper(record: Certificate, *, base_url: str) -> bytes:
    """The certificate as a PDF whose QR code links to `base_url`/verify (see `certificates.pdf`)."""
    link = pdf.verification_link(base_url, certificate_id=str(record.id), token=record.token)
    return pdf.render(json.loads(vc.unb64url(record.token.split(".")[1])), link=link)
