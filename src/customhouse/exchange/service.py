"""Government-to-government exchange: the partner registry and agreements, signed messages out through
a delivery outbox, messages in processed exactly once, every disclosure recorded, pre-arrival data
matched to our imports, origin verification, mutual recognition of AEOs and control results.

**Identity.** This administration is known to partners by CUSTOMHOUSE_EXCHANGE_ID (default its
country code) and signs with an Ed25519 key in CUSTOMHOUSE_EXCHANGE_KEY_FILE (default
var_dir/keys/exchange-ed25519.pem, made at first use); `GET /api/v1/exchange/key` gives partners the
public JWK to register.

**Agreements.** Both sides register the same agreement id. Before sending, `fields.redact` keeps only
the agreement's fields and the fields sent are recorded as a disclosure. On arrival, anything outside
the agreement (type or field) is refused with the pointer of the field; nothing is stored.

**Exactly once.** An incoming message's id is the primary key of `exchange_incoming`, inserted in the
same transaction as its effects: a replay finds it and answers "duplicate" without processing again;
two copies racing lose one of them to the key (the API answers that one as a duplicate).

Service functions never commit; the API and the CLI do.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from joserfc.jwk import OKPKey
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.certificates import service as certificates
from customhouse.config import Settings
from customhouse.db import utcnow
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Declaration, Kind, State
from customhouse.exchange import fields, matching, signing
from customhouse.exchange.edifact import service as edifact
from customhouse.exchange.models import (
    Agreement,
    Disclosure,
    IncomingMessage,
    Mismatch,
    OutgoingMessage,
    Partner,
    PreArrival,
)
from customhouse.exchange.schemas import Channel, Envelope, MessageType, NewAgreement, NewPartner
from customhouse.keys import load_or_create, new_ed25519_pem
from customhouse.parties import service as parties
from customhouse.problems import FieldError, Problem, from_validation_errors

log = logging.getLogger(__name__)

KEY_FILE = Path("keys") / "exchange-ed25519.pem"
MISMATCH_FOUND = "exchange.mismatch_found"
AGGREGATE = "exchange"
SYSTEM = Principal("exchange", frozenset({Role.SUPERVISOR}))
MATCH_WINDOW = timedelta(days=90)
CUSTOMS_TYPES = frozenset(MessageType)
AGENCY_CHANNELS = frozenset(Channel)


class Identity:
    """This administration as a sender: its id, its settings, and its signing key, read (or made) at
    first use, so that building the app writes no key file."""

    def __init__(self, settings: Settings) -> None:
        self.id = settings.exchange_id or settings.country
        self.tolerance = settings.invoice_tolerance
        self.settings = settings
        self._path = settings.exchange_key_file or settings.var_dir / KEY_FILE

    @classmethod
    def from_settings(cls, settings: Settings) -> Identity:
        return cls(settings)

    @cached_property
    def key(self) -> OKPKey:
        return signing.load_key(load_or_create(self._path, new_ed25519_pem))

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "kid": signing.kid(self.id, self.key), "jwk": signing.public_jwk(self.key)}


# ---------------------------------------------------------------- registry


def _supervisor(by: Principal) -> None:
    if not by.has(Role.SUPERVISOR, Role.ADMIN):
        raise Problem(403, "forbidden", "only supervisors manage partners and agreements")


def _customs(by: Principal) -> None:
    if not by.has(Role.OFFICER, Role.SUPERVISOR):
        raise Problem(403, "forbidden", "only customs officers and supervisors send messages to partners")


def _reader(by: Principal) -> None:
    if not (by.reads_all or by.has(Role.OFFICER)):
        raise Problem(403, "forbidden", "only customs, auditors and admins see the exchange")


def add_partner(
    session: Session, *, partner: NewPartner, by: Principal, now: datetime | None = None
) -> Partner:
    _supervisor(by)
    if session.get(Partner, partner.id) is not None:
        raise Problem(
            409,
            "conflict",
            f"partner {partner.id} is registered already",
            [FieldError("a new id", pointer="/id")],
        )
    jwk = None
    if partner.public_jwk is not None:
        try:
            jwk = signing.checked_jwk(partner.public_jwk)
        except signing.SignatureError as error:
            raise Problem(
                422, "validation", "the key is not accepted", [FieldError(str(error), pointer="/public_jwk")]
            ) from None
    if partner.kind == "customs" and (jwk is None or partner.base_url is None):
        raise Problem(
            422,
            "validation",
            "a customs partner needs its key and its address",
            [
                FieldError("is required for a customs partner", pointer=pointer)
                for pointer, value in (("/public_jwk", jwk), ("/base_url", partner.base_url))
                if value is None
            ],
        )
    record = Partner(
        id=partner.id,
        name=partner.name,
        kind=partner.kind,
        country=partner.country,
        base_url=str(partner.base_url).rstrip("/") if partner.base_url else None,
        public_jwk=jwk,
        created_at=now or utcnow(),
    )
    session.add(record)
    session.flush()
    return record


def partners(session: Session, *, by: Principal) -> list[Partner]:
    _reader(by)
    return list(session.scalars(select(Partner).order_by(Partner.id)))


def add_agreement(
    session: Session, *, agreement: NewAgreement, by: Principal, now: datetime | None = None
) -> Agreement:
    _supervisor(by)
    now = now or utcnow()
    partner = session.get(Partner, agreement.partner_id)
    if partner is None:
        raise Problem(
            422,
            "validation",
            "no such partner",
            [FieldError("a registered partner id", pointer="/partner_id")],
        )
    allowed = CUSTOMS_TYPES if partner.kind == "customs" else AGENCY_CHANNELS
    errors = [
        FieldError(f"one of {sorted(allowed)}", pointer=f"/message_types/{index}")
        for index, name in enumerate(agreement.message_types)
        if name not in allowed
    ]
    for index, pattern in enumerate(agreement.fields):
        try:
            fields.parse(pattern)
        except fields.BadPattern as error:
            errors.append(FieldError(str(error), pointer=f"/fields/{index}"))
    valid_from = agreement.valid_from or now
    if agreement.valid_until <= valid_from:
        errors.append(FieldError("a time after valid_from", pointer="/valid_until"))
    if agreement.id is not None and session.get(Agreement, agreement.id) is not None:
        errors.append(FieldError("an agreement id not registered yet", pointer="/id"))
    if errors:
        raise Problem(422, "validation", "the agreement is not accepted", errors)
    record = Agreement(
        id=agreement.id or uuid.uuid4(),
        partner_id=partner.id,
        message_types=sorted(set(agreement.message_types)),
        fields=fields.normalise(agreement.fields),
        purpose=agreement.purpose,
        valid_from=valid_from,
        valid_until=agreement.valid_until,
        aeo_list=[],
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record


def agreements(session: Session, *, by: Principal, partner_id: str | None = None) -> list[Agreement]:
    _reader(by)
    query = select(Agreement).order_by(Agreement.created_at)
    if partner_id:
        query = query.where(Agreement.partner_id == partner_id)
    return list(session.scalars(query))


def agreement_for(
    session: Session, *, partner_id: str, kind: str, at: datetime, agreement_id: uuid.UUID | None = None
) -> Agreement | None:
    """The agreement in force with the partner that allows `kind` (a message type or a channel)."""
    query = select(Agreement).where(
        Agreement.partner_id == partner_id, Agreement.valid_from <= at, Agreement.valid_until > at
    )
    if agreement_id is not None:
        query = query.where(Agreement.id == agreement_id)
    for record in session.scalars(query.order_by(Agreement.valid_from.desc())):
        if kind in record.message_types:
            return record
    return None


def disclose(
    session: Session,
    *,
    agreement: Agreement,
    channel: str,
    kept: list[str],
    subject: str | None = None,
    message_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> None:
    """Record that these fields went to the agreement's partner."""
    session.add(
        Disclosure(
            partner_id=agreement.partner_id,
            agreement_id=agreement.id,
            message_id=message_id,
            channel=channel,
            subject=subject,
            fields=kept,
            disclosed_at=now or utcnow(),
        )
    )


def disclosures(
    session: Session, *, by: Principal, partner_id: str | None = None, limit: int = 200
) -> list[Disclosure]:
    _reader(by)
    query = select(Disclosure).order_by(Disclosure.id.desc()).limit(limit)
    if partner_id:
        query = query.where(Disclosure.partner_id == partner_id)
    return list(session.scalars(query))


# ---------------------------------------------------------------- sending


def queue(
    session: Session,
    *,
    identity: Identity,
    partner_id: str,
    type: MessageType,
    payload: dict[str, Any],
    agreement_id: uuid.UUID | None = None,
    subject: str | None = None,
    in_reply_to: uuid.UUID | None = None,
    now: datetime | None = None,
) -> OutgoingMessage:
    """Sign the payload (only the fields the agreement allows) and queue it for delivery."""
    now = now or utcnow()
    partner = session.get(Partner, partner_id)
    if partner is None or partner.kind != "customs" or partner.base_url is None:
        raise Problem(
            422,
            "validation",
            "not a customs partner",
            [FieldError("a registered customs partner", pointer="/partner_id")],
        )
    agreement = agreement_for(session, partner_id=partner_id, kind=type, at=now, agreement_id=agreement_id)
    if agreement is None:
        raise Problem(
            403,
            "forbidden",
            f"no agreement in force with {partner_id} allows {type}",
            [FieldError("a message type an agreement in force allows", pointer="/type")],
        )
    kept_payload, kept, dropped = fields.redact(payload, agreement.fields)
    envelope = Envelope(
        message_id=uuid.uuid4(),
        type=type,
        sender=identity.id,
        receiver=partner.id,
        agreement_id=agreement.id,
        created_at=now,
        in_reply_to=in_reply_to,
        payload=kept_payload,
    )
    token = signing.sign(
        envelope.model_dump(mode="json", exclude_none=True), key=identity.key, sender=identity.id
    )
    record = OutgoingMessage(
        message_id=envelope.message_id,
        partner_id=partner.id,
        agreement_id=agreement.id,
        type=str(type),
        subject=subject,
        token=token,
        state="pending",
        attempts=0,
        next_attempt_at=now,
        answer={"removed": dropped} if dropped else None,
        created_at=now,
    )
    session.add(record)
    session.flush()
    disclose(
        session,
        agreement=agreement,
        channel=str(type),
        kept=kept,
        subject=subject,
        message_id=record.message_id,
        now=now,
    )
    return record


def export_payload(declaration: Declaration) -> dict[str, Any]:
    """What an export declaration tells the country of destination (before the agreement's cut)."""
    document = declaration.document.model_dump(mode="json", exclude_none=True)
    transport = [
        item["reference"]
        for item in document.get("documents", [])
        if item.get("type") in matching.TRANSPORT_DOCUMENTS
    ]
    payload: dict[str, Any] = {
        "mrn": declaration.mrn,
        "released_at": declaration.released_at.isoformat() if declaration.released_at else None,
        "transport_documents": transport,
        **{
            key: document[key]
            for key in (
                "exporter",
                "buyer",
                "country_of_dispatch",
                "country_of_destination",
                "office_of_exit",
                "transport_mode",
                "means_of_transport_id",
                "containers",
                "incoterm",
                "invoice_currency",
                "invoice_total",
                "documents",
                "goods_items",
            )
            if key in document
        },
    }
    return {key: value for key, value in payload.items() if value is not None}


def _destination_partner(session: Session, country: str) -> Partner | None:
    return session.scalars(
        select(Partner).where(Partner.kind == "customs", Partner.country == country).order_by(Partner.id)
    ).first()


def send_declaration(
    session: Session,
    *,
    identity: Identity,
    declaration_id: uuid.UUID,
    by: Principal,
    partner_id: str | None = None,
    now: datetime | None = None,
) -> OutgoingMessage:
    """A released export's data to the customs of its country of destination (or `partner_id`)."""
    _customs(by)
    declaration = declarations.get(session, declaration_id=declaration_id, by=by)
    if declaration.document.kind != Kind.EXPORT or declaration.state != State.RELEASED:
        raise Problem(
            409,
            "invalid-state",
            f"declaration {declaration_id} is a {declaration.state} {declaration.document.kind}: "
            "only released exports are sent",
        )
    if partner_id is None:
        partner = _destination_partner(session, declaration.document.country_of_destination)
        if partner is None:
            raise Problem(
                422,
                "validation",
                f"no customs partner is registered for {declaration.document.country_of_destination}",
                [FieldError("name a partner", pointer="/partner_id")],
            )
        partner_id = partner.id
    return queue(
        session,
        identity=identity,
        partner_id=partner_id,
        type=MessageType.EXPORT_DECLARATION,
        payload=export_payload(declaration),
        subject=str(declaration_id),
        now=now,
    )


def send_aeo_list(session: Session, *, identity: Identity, partner_id: str, by: Principal) -> OutgoingMessage:
    """Our authorised economic operators, for the partner's mutual recognition."""
    _customs(by)
    operators = sorted(parties.aeo_parties(session))
    return queue(
        session,
        identity=identity,
        partner_id=partner_id,
        type=MessageType.AEO_LIST,
        payload={"operators": operators},
    )


def control_payload(session: Session, *, declaration_id: uuid.UUID, by: Principal) -> dict[str, Any]:
    """The newest control result recorded on a declaration, as shared with a partner."""
    declaration = declarations.get(session, declaration_id=declaration_id, by=by)
    controls = [
        entry
        for entry in declarations.audit_trail(session, declaration_id=declaration_id, by=by)
        if entry.event == "declaration.control_recorded"
    ]
    if not controls:
        raise Problem(409, "invalid-state", f"declaration {declaration_id} has no control result to share")
    control = controls[-1]
    document = declaration.document
    payload = {
        "mrn": declaration.mrn,
        "kind": str(document.kind),
        "recorded_at": control.at.isoformat(),
        "outcome": control.data.get("outcome"),
        "irregularity": control.data.get("irregularity"),
        "note": control.data.get("note"),
        "corrections": control.data.get("patch"),
        "exporter": document.exporter.model_dump(mode="json", exclude_none=True)
        if document.exporter
        else None,
        "containers": document.containers,
        "hs_codes": sorted({item.hs_code for item in document.goods_items}),
    }
    return {key: value for key, value in payload.items() if value is not None}


def send(
    session: Session,
    *,
    identity: Identity,
    type: MessageType,
    by: Principal,
    partner_id: str | None = None,
    agreement_id: uuid.UUID | None = None,
    declaration_id: uuid.UUID | None = None,
    payload: dict[str, Any] | None = None,
) -> OutgoingMessage:
    """One message as a person asks for it (API, CLI): an export's data or a declaration's control result
    (by `declaration_id`), our AEO list (no payload), or a payload of its own."""
    _customs(by)
    if type == MessageType.EXPORT_DECLARATION:
        if declaration_id is None:
            raise Problem(
                422, "validation", "name the export", [FieldError("is required", pointer="/declaration_id")]
            )
        return send_declaration(
            session, identity=identity, declaration_id=declaration_id, by=by, partner_id=partner_id
        )
    if partner_id is None:
        raise Problem(
            422, "validation", "name the partner", [FieldError("is required", pointer="/partner_id")]
        )
    if type == MessageType.AEO_LIST and payload is None:
        return send_aeo_list(session, identity=identity, partner_id=partner_id, by=by)
    subject = None
    if type == MessageType.CONTROL_RESULT and payload is None and declaration_id is not None:
        payload, subject = control_payload(session, declaration_id=declaration_id, by=by), str(declaration_id)
    if payload is None:
        raise Problem(
            422,
            "validation",
            f"a {type} message needs its payload",
            [FieldError("is required", pointer="/payload")],
        )
    return queue(
        session,
        identity=identity,
        partner_id=partner_id,
        type=type,
        payload=payload,
        agreement_id=agreement_id,
        subject=subject,
    )


def on_released(identity: Identity) -> events.Handler:
    """A subscriber to declaration.released: a released export goes to its destination's customs when an
    agreement in force allows export data (in the dispatcher's transaction: queued exactly once)."""

    def handle(session: Session, event: events.DomainEvent) -> None:
        declaration = declarations.get(session, declaration_id=uuid.UUID(event.aggregate_id), by=SYSTEM)
        if declaration.document.kind != Kind.EXPORT:
            return
        partner = _destination_partner(session, declaration.document.country_of_destination)
        if (
            partner is None
            or agreement_for(session, partner_id=partner.id, kind=MessageType.EXPORT_DECLARATION, at=utcnow())
            is None
        ):
            return
        queue(
            session,
            identity=identity,
            partner_id=partner.id,
            type=MessageType.EXPORT_DECLARATION,
            payload=export_payload(declaration),
            subject=str(declaration.id),
        )

    return handle


def outgoing(
    session: Session, *, by: Principal, state: str | None = None, limit: int = 200
) -> list[OutgoingMessage]:
    _reader(by)
    query = select(OutgoingMessage).order_by(OutgoingMessage.created_at.desc()).limit(limit)
    if state:
        query = query.where(OutgoingMessage.state == state)
    return list(session.scalars(query))


def message(session: Session, *, message_id: uuid.UUID, by: Principal) -> OutgoingMessage | IncomingMessage:
    """A message sent or received, by id."""
    _reader(by)
    found = session.get(OutgoingMessage, message_id) or session.get(IncomingMessage, message_id)
    if found is None:
        raise Problem(404, "not-found", f"no message {message_id}")
    return found


def incoming(
    session: Session, *, by: Principal, type: str | None = None, limit: int = 200
) -> list[IncomingMessage]:
    _reader(by)
    query = select(IncomingMessage).order_by(IncomingMessage.received_at.desc()).limit(limit)
    if type:
        query = query.where(IncomingMessage.type == type)
    return list(session.scalars(query))


# ---------------------------------------------------------------- receiving


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: uuid.UUID
    duplicate: bool
    outcome: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        status = "duplicate" if self.duplicate else "processed"
        return {"status": status, "message_id": str(self.message_id), "outcome": self.outcome}


def _refuse(status: int, slug: str, detail: str, error: FieldError) -> Problem:
    return Problem(status, slug, detail, [error])


def verified(
    session: Session, *, identity: Identity, token: str, now: datetime
) -> tuple[Envelope, Agreement]:
    """The envelope of a message, once its sender, signature, agreement and fields are checked."""
    try:
        sender = signing.signer_of(token)
    except signing.SignatureError as error:
        raise _refuse(
            400, "malformed", str(error), FieldError("a compact JWS signed by a partner", parameter="jws")
        ) from None
    partner = session.get(Partner, sender)
    if partner is None or partner.public_jwk is None:
        raise _refuse(
            403,
            "forbidden",
            f"{sender!r} is not a registered partner",
            FieldError("a registered partner's kid", parameter="kid"),
        )
    try:
        document = signing.verify(token, partner.public_jwk)
    except signing.SignatureError as error:
        raise _refuse(
            401,
            "unauthorized",
            str(error),
            FieldError(f"a signature by {sender}'s registered key", parameter="signature"),
        ) from None
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as error:
        raise from_validation_errors(error.errors()) from None
    if envelope.sender != partner.id:
        raise _refuse(
            403,
            "forbidden",
            f"signed by {partner.id} for {envelope.sender}",
            FieldError(f"'{partner.id}'", pointer="/sender"),
        )
    if envelope.receiver != identity.id:
        raise _refuse(
            422,
            "validation",
            f"this administration is {identity.id}",
            FieldError(f"'{identity.id}'", pointer="/receiver"),
        )
    agreement = session.get(Agreement, envelope.agreement_id)
    if (
        agreement is None
        or agreement.partner_id != partner.id
        or not agreement.valid_from <= now < agreement.valid_until
    ):
        raise _refuse(
            403,
            "forbidden",
            f"no agreement {envelope.agreement_id} in force with {partner.id}",
            FieldError("an agreement in force with the sender", pointer="/agreement_id"),
        )
    if envelope.type not in agreement.message_types:
        raise _refuse(
            403,
            "forbidden",
            f"agreement {agreement.id} does not allow {envelope.type}",
            FieldError(f"one of {agreement.message_types}", pointer="/type"),
        )
    if extra := fields.outside(envelope.payload, agreement.fields):
        raise Problem(
            403,
            "forbidden",
            f"{len(extra)} field(s) are outside agreement {agreement.id}: nothing was stored",
            [
                FieldError("not a field the agreement allows", pointer="/payload" + pointer)
                for pointer in extra
            ],
        )
    return envelope, agreement


def receive(session: Session, *, identity: Identity, token: str, now: datetime | None = None) -> Receipt:
    """Check and process one message, once per message id."""
    now = now or utcnow()
    envelope, agreement = verified(session, identity=identity, token=token, now=now)
    seen = session.get(IncomingMessage, envelope.message_id)
    if seen is not None:
        return Receipt(envelope.message_id, True, seen.outcome)
    record = IncomingMessage(
        message_id=envelope.message_id,
        sender=envelope.sender,
        agreement_id=agreement.id,
        type=str(envelope.type),
        in_reply_to=envelope.in_reply_to,
        payload=envelope.payload,
        outcome={},
        created_at=envelope.created_at,
        received_at=now,
    )
    session.add(record)
    session.flush()  # a racing copy fails here, on the primary key
    record.outcome = PROCESSORS[envelope.type](session, identity, envelope, agreement, now)
    session.flush()
    return Receipt(envelope.message_id, False, record.outcome)


def _pre_arrival(
    session: Session, identity: Identity, envelope: Envelope, _agreement: Agreement, now: datetime
) -> dict[str, Any]:
    pre = PreArrival(
        id=uuid.uuid4(),
        message_id=envelope.message_id,
        sender=envelope.sender,
        export_mrn=str(envelope.payload["mrn"]) if envelope.payload.get("mrn") else None,
        data=envelope.payload,
        received_at=now,
    )
    session.add(pre)
    session.flush()
    found = _match_pre_arrival(session, identity, pre, now)
    return {"pre_arrival_id": str(pre.id), "declaration_id": str(found) if found else None}


def _origin_request(
    session: Session, identity: Identity, envelope: Envelope, agreement: Agreement, now: datetime
) -> dict[str, Any]:
    token = envelope.payload.get("token")
    if not isinstance(token, str):
        answer: dict[str, Any] = {"status": "unknown", "reason": "the request carries no credential (token)"}
    else:
        authority = certificates.Authority.from_settings(identity.settings)
        verdict = certificates.verify(session, token=token, authority=authority, now=now)
        answer = {"status": str(verdict.status), "reason": verdict.reason}
    reply = queue(
        session,
        identity=identity,
        partner_id=envelope.sender,
        type=MessageType.ORIGIN_ANSWER,
        payload={**answer, "question": envelope.payload.get("question")},
        in_reply_to=envelope.message_id,
        now=now,
    )
    return {**answer, "answer_id": str(reply.message_id)}


def _aeo_list(
    session: Session, _identity: Identity, envelope: Envelope, agreement: Agreement, _now: datetime
) -> dict[str, Any]:
    operators = envelope.payload.get("operators")
    if not isinstance(operators, list) or not all(isinstance(item, str) for item in operators):
        raise Problem(
            422,
            "validation",
            "an AEO list names operators",
            [FieldError("a list of party ids", pointer="/payload/operators")],
        )
    agreement.aeo_list = sorted(set(operators))
    return {"operators": len(agreement.aeo_list)}


def _stored(
    _session: Session, _identity: Identity, _envelope: Envelope, _agreement: Agreement, _now: datetime
) -> dict[str, Any]:
    return {"stored": True}


Processor = Callable[[Session, Identity, Envelope, Agreement, datetime], dict[str, Any]]
PROCESSORS: dict[MessageType, Processor] = {
    MessageType.EXPORT_DECLARATION: _pre_arrival,
    MessageType.ORIGIN_REQUEST: _origin_request,
    MessageType.ORIGIN_ANSWER: _stored,
    MessageType.AEO_LIST: _aeo_list,
    MessageType.CONTROL_RESULT: _stored,
}


def recognised_aeo(session: Session, *, at: datetime | None = None) -> frozenset[str]:
    """The partners' AEOs we recognise: those of agreements in force that allow AEO lists."""
    at = at or utcnow()
    rows = session.scalars(select(Agreement).where(Agreement.valid_from <= at, Agreement.valid_until > at))
    return frozenset(
        operator for row in rows if MessageType.AEO_LIST in row.message_types for operator in row.aeo_list
    )


# ---------------------------------------------------------------- matching


def _candidates(session: Session, exported: dict[str, set[str]], since: datetime) -> list[Declaration]:
    """The imports lodged since `since` that could match: those naming the export's MRN, one of its
    transport documents or one of its containers (a match needs one of them: an explicit reference,
    or two of exporter, container and transport document). Found through the reference index the
    EDIFACT gateway keeps, not by reading every import; newest first."""
    ids = edifact.declarations_naming(
        session,
        references=exported["reference"] | exported["transport_document"],
        containers=exported["container"],
    )
    found = [declarations.get(session, declaration_id=declaration_id, by=SYSTEM) for declaration_id in ids]
    imports = [
        item
        for item in found
        if item.document.kind == Kind.IMPORT and item.lodged_at is not None and item.lodged_at >= since
    ]
    return sorted(imports, key=lambda item: (item.lodged_at, str(item.id)), reverse=True)


def _match_pre_arrival(
    session: Session, identity: Identity, pre: PreArrival, now: datetime
) -> uuid.UUID | None:
    exported = matching.export_keys(pre.data)
    for declaration in _candidates(session, exported, now - MATCH_WINDOW):
        how = matching.matched_by(
            exported, matching.import_keys(declaration.document.model_dump(mode="json"))
        )
        if how is not None:
            _record_match(session, identity, pre, declaration, how, now)
            return declaration.id
    return None


def _record_match(
    session: Session, identity: Identity, pre: PreArrival, declaration: Declaration, how: str, now: datetime
) -> None:
    pre.declaration_id, pre.matched_by, pre.matched_at = declaration.id, how, now
    findings = matching.compare(
        pre.data, declaration.document.model_dump(mode="json"), tolerance=identity.tolerance
    )
    happened = []
    for finding in findings:
        session.add(
            Mismatch(
                pre_arrival_id=pre.id,
                declaration_id=declaration.id,
                field=finding.field,
                pointer=finding.pointer,
                exported=finding.exported,
                declared=finding.declared,
                detail=finding.detail,
                found_at=now,
            )
        )
        happened.append(
            events.DomainEvent(
                type=MISMATCH_FOUND,
                aggregate_type=AGGREGATE,
                aggregate_id=str(declaration.id),
                actor=SYSTEM.name,
                reason=finding.detail,
                data={
                    "declaration_id": str(declaration.id),
                    "mrn": declaration.mrn,
                    "export_mrn": pre.export_mrn,
                    "sender": pre.sender,
                    "field": finding.field,
                    "pointer": finding.pointer,
                    "exported": finding.exported,
                    "declared": finding.declared,
                },
                occurred_at=now,
            )
        )
    session.flush()
    events.record(session, happened)


def on_lodged(identity: Identity) -> events.Handler:
    """A subscriber to declaration.lodged: an import lodged after its pre-arrival data came is matched."""

    def handle(session: Session, event: events.DomainEvent) -> None:
        declaration = declarations.get(session, declaration_id=uuid.UUID(event.aggregate_id), by=SYSTEM)
        if declaration.document.kind != Kind.IMPORT:
            return
        declared = matching.import_keys(declaration.document.model_dump(mode="json"))
        now = utcnow()
        waiting = session.scalars(
            select(PreArrival)
            .where(PreArrival.declaration_id.is_(None), PreArrival.received_at >= now - MATCH_WINDOW)
            .order_by(PreArrival.received_at)
        )
        for pre in waiting:
            how = matching.matched_by(matching.export_keys(pre.data), declared)
            if how is not None:
                _record_match(session, identity, pre, declaration, how, now)
                return

    return handle


def pre_arrivals(
    session: Session, *, by: Principal, matched: bool | None = None, limit: int = 200
) -> list[PreArrival]:
    _reader(by)
    query = select(PreArrival).order_by(PreArrival.received_at.desc()).limit(limit)
    if matched is not None:
        query = query.where(
            PreArrival.declaration_id.is_not(None) if matched else PreArrival.declaration_id.is_(None)
        )
    return list(session.scalars(query))


def mismatches(
    session: Session,
    *,
    by: Principal,
    declaration_id: uuid.UUID | None = None,
    found: tuple[datetime, datetime] | None = None,
    limit: int = 200,
) -> list[Mismatch]:
    """The risk signals from partners' export data, newest first (supervisors, auditors, admins);
    `found`: only those found in [since, until)."""
    if not by.reads_all:
        raise Problem(403, "forbidden", "only supervisors, auditors and admins see mismatches")
    query = select(Mismatch).order_by(Mismatch.id.desc()).limit(limit)
    if declaration_id:
        query = query.where(Mismatch.declaration_id == declaration_id)
    if found:
        query = query.where(Mismatch.found_at >= found[0], Mismatch.found_at < found[1])
    return list(session.scalars(query))
