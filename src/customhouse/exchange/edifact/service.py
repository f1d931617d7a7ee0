"""EDIFACT operations: lodge CUSDEC and CUSCAR interchanges, answer status changes with CUSRES in the
declarant's mailbox, match manifests to declarations.

An interchange is taken whole or not at all: a bad segment in any message, or a declaration the
declarations domain refuses, raises one problem that names every bad segment (tag, number, reason,
and the document field by JSON pointer), and the caller's transaction is rolled back. Declarations are
read and lodged only through `declarations.service`; the transport documents and containers they name
are copied from their events into `edifact_declaration_refs`, which manifests are matched against.
Nothing here commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from customhouse.auth.service import Principal, Role
from customhouse.db import table, utcnow
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Declaration
from customhouse.events import Dispatcher, DomainEvent
from customhouse.exchange.edifact import cuscar, cusdec, cusres, schemas, syntax
from customhouse.exchange.edifact.models import CargoLine, CargoReport, DeclarationReference, MailboxMessage
from customhouse.exchange.edifact.syntax import EdifactError, ParsedInterchange, SegmentError
from customhouse.problems import FieldError, Problem
from customhouse.reference import codes

READER = Principal("edifact", frozenset({Role.AUDITOR}))  # reads declarations to answer and to match
CUSTOMS = (Role.OFFICER, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
RESPONDS_TO = (
    "declaration.accepted",
    "declaration.released",
    "declaration.rejected",
    "declaration.documents_requested",
    "declaration.cancelled",
)
INDEXED_ON = ("declaration.lodged", "declaration.amended")


def decode(body: bytes) -> str:
    """UNOW/UNOY interchanges are UTF-8; UNOC and the rest of the ISO 8859 family read as Latin-1."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def problem(errors: Sequence[SegmentError], *, status: int = 422, slug: str = "validation") -> Problem:
    """An RFC 9457 problem naming each segment: in `errors` (detail and the field's pointer) and in the
    `segments` extension (tag, position, reason, message, pointer)."""
    return Problem(
        status,
        slug,
        f"{len(errors)} segment(s) refused; nothing was stored",
        [FieldError(str(error), pointer=error.pointer) for error in errors],
        extra={"segments": [error.as_dict() for error in errors]},
    )


def parse(text: str) -> ParsedInterchange:
    try:
        interchange = syntax.parse(text, expected=("CUSDEC", "CUSCAR"))
    except EdifactError as error:
        raise problem(error.errors, status=400, slug="malformed") from None
    kinds = {message.type for message in interchange.messages}
    if len(kinds) > 1:
        raise problem([SegmentError("UNH", 1, "send CUSDEC and CUSCAR messages in separate interchanges")])
    return interchange


def submit(session: Session, *, text: str, by: Principal, policy: declarations.Policy) -> schemas.Submission:
    """Lodge every message of an interchange: declarations (CUSDEC) or cargo reports (CUSCAR)."""
    interchange = parse(text)
    if interchange.messages[0].type == "CUSCAR":
        reports = lodge_cargo(session, interchange=interchange, text=text, by=by)
        return schemas.Submission(
            type="CUSCAR",
            manifests=[
                schemas.StoredManifest(
                    message=reference,
                    status=201 if created else 200,
                    **manifest(session, report_id=report_id, by=by).model_dump(),
                )
                for reference, report_id, created in reports
            ],
        )
    return schemas.Submission(
        type="CUSDEC", declarations=lodge(session, interchange=interchange, by=by, policy=policy)
    )


# ---------------------------------------------------------------- CUSDEC in


def lodge(
    session: Session, *, interchange: ParsedInterchange, by: Principal, policy: declarations.Policy
) -> list[schemas.Lodged]:
    """Lodge each CUSDEC as the JSON API would; any refusal refuses the interchange."""
    readings: list[cusdec.Reading] = []
    errors: list[SegmentError] = []
    for message in interchange.messages:
        try:
            readings.append(cusdec.to_document(message))
        except EdifactError as error:
            errors += error.errors
    if errors:
        raise problem(errors)
    outcomes = declarations.lodge_many(session, documents=[r.data for r in readings], by=by, policy=policy)
    refused: list[Problem] = []
    for reading, outcome in zip(readings, outcomes, strict=True):
        if outcome.problem is None:
            continue
        refused.append(outcome.problem)
        field_errors = outcome.problem.errors or [FieldError(outcome.problem.detail, pointer="")]
        for field in field_errors:
            located = reading.source(field.pointer or "")
            errors.append(located.error(field.detail, reading.message.reference, field.pointer))
    if errors:
        first = refused[0]
        raise problem(errors, status=first.status, slug=first.slug)
    lodged = []
    for reading, outcome in zip(readings, outcomes, strict=True):
        declaration = outcome.declaration
        assert declaration is not None
        lodged.append(
            schemas.Lodged(
                message=reading.message.reference,
                status=201 if outcome.created else 200,
                id=declaration.id,
                lrn=declaration.document.lrn,
                mrn=declaration.mrn,
                state=declaration.state.value,
                lane=declaration.lane.value if declaration.lane else None,
            )
        )
    return lodged


# ---------------------------------------------------------------- CUSRES out


def _responses(event: DomainEvent, declaration: Declaration) -> list[cusres.Response]:
    kind = event.type.removeprefix("declaration.")
    lrn, at = declaration.document.lrn, event.occurred_at
    mrn = event.data.get("mrn") or declaration.mrn
    reasons = [event.reason] if event.reason else []
    if kind == "accepted":
        lane = str(event.data.get("lane") or "")
        out = [cusres.Response("ACC", lrn, at, mrn, lane or None, tuple(event.data.get("reasons") or ()))]
        if lane and lane != "green":
            out.append(cusres.Response("CTL", lrn, at, mrn, lane))
        return out
    if kind == "documents_requested":
        documents = tuple(event.data.get("documents") or ())
        return [cusres.Response("DRQ", lrn, at, mrn, reasons=reasons, documents=documents)]
    status = {"released": "REL", "rejected": "REJ", "cancelled": "CAN"}[kind]
    return [cusres.Response(status, lrn, at, mrn, reasons=reasons)]


def respond(session: Session, event: DomainEvent, *, sender: str) -> list[uuid.UUID]:
    """Put the CUSRES for a declaration's status change in its declarant's mailbox (once per event:
    the mailbox row carries the event's id, unique)."""
    declaration = declarations.get(session, declaration_id=uuid.UUID(event.aggregate_id), by=READER)
    document = declaration.document
    rows: list[dict[str, Any]] = []
    ids: list[uuid.UUID] = []
    for number, response in enumerate(_responses(event, declaration)):
        event_id = event.event_id if number == 0 else uuid.uuid5(event.event_id, response.status)
        message_id = uuid.uuid4()
        ids.append(message_id)
        body = syntax.serialize(
            [("1", cusres.IDENTIFIER, cusres.build(response))],
            sender=sender,
            recipient=document.declarant.id,
            control_reference=message_id.hex[:14],
            at=event.occurred_at,
        )
        rows.append(
            {
                "id": message_id,
                "event_id": event_id,
                "declaration_id": declaration.id,
                "declarant_id": document.declarant.id,
                "representative_id": document.representative.id if document.representative else None,
                "message_type": "CUSRES",
                "status": response.status,
                "reference": response.mrn or response.lrn,
                "created_at": event.occurred_at,
                "ordinal": number,
                "body": body,
            }
        )
    session.execute(insert(table(MailboxMessage)), rows)
    return ids


def _mailbox_clause(by: Principal) -> Any:
    if by.reads_all:
        return True
    if by.party_id and by.has(Role.TRADER, Role.BROKER):
        return or_(
            MailboxMessage.declarant_id == by.party_id, MailboxMessage.representative_id == by.party_id
        )
    return False


def messages(
    session: Session, *, by: Principal, after: uuid.UUID | None = None, limit: int = 100
) -> list[schemas.MailboxEntry]:
    """The reader's mailbox, oldest first; `after` (the last id read) pages on."""
    query = select(MailboxMessage).where(_mailbox_clause(by))
    if after is not None:
        last = session.get(MailboxMessage, after)
        if last is None:
            raise Problem(
                404, "not-found", f"no message {after}", [FieldError("a message id", parameter="after")]
            )
        query = query.where(
            tuple_(MailboxMessage.created_at, MailboxMessage.ordinal, MailboxMessage.id)
            > tuple_(last.created_at, last.ordinal, last.id)
        )
    order = (MailboxMessage.created_at, MailboxMessage.ordinal, MailboxMessage.id)
    rows = session.scalars(query.order_by(*order).limit(limit))
    return [
        schemas.MailboxEntry(
            id=row.id,
            message_type=row.message_type,
            declaration_id=row.declaration_id,
            status=row.status,
            reference=row.reference,
            created_at=row.created_at,
        )
        for row in rows
    ]


def message(session: Session, *, message_id: uuid.UUID, by: Principal) -> str:
    """One message of the reader's mailbox, as the EDIFACT interchange."""
    row = session.scalar(select(MailboxMessage).where(MailboxMessage.id == message_id, _mailbox_clause(by)))
    if row is None:
        raise Problem(404, "not-found", f"no message {message_id}")
    return row.body


# ---------------------------------------------------------------- CUSCAR in and matching


def index(session: Session, event: DomainEvent) -> None:
    """Keep the transport documents, containers and document references a declaration names (its
    current version)."""
    declaration_id = uuid.UUID(event.aggregate_id)
    document = declarations.get(session, declaration_id=declaration_id, by=READER).document
    categories = codes.document_types()
    refs = (
        [
            {"declaration_id": declaration_id, "kind": "document", "value": doc.reference}
            for doc in document.documents
            if categories.get(doc.type, ("", ""))[1] == "transport"
        ]
        + [{"declaration_id": declaration_id, "kind": "container", "value": c} for c in document.containers]
        + [
            {"declaration_id": declaration_id, "kind": "reference", "value": d.reference}
            for d in document.documents
        ]
    )
    session.execute(delete(DeclarationReference).where(DeclarationReference.declaration_id == declaration_id))
    if refs:
        session.execute(insert(table(DeclarationReference)), refs)


def lodge_cargo(
    session: Session, *, interchange: ParsedInterchange, text: str, by: Principal
) -> list[tuple[str, uuid.UUID, bool]]:
    """Store each CUSCAR's manifest as a version of the sender's manifest number, as its BGM message
    function says: 9 original, 5 replacement, 1 cancellation. A message stored before (the same function
    and content: a resend) is answered with the version it made and stores nothing. Carriers lodge as
    traders or brokers, customs as supervisors. Returns (message reference, version id, created)."""
    if not (by.has(Role.TRADER, Role.BROKER, Role.SUPERVISOR)):
        raise Problem(
            403, "forbidden", "only carriers (traders, brokers) and supervisors lodge cargo reports"
        )
    manifests: list[tuple[str, cuscar.Manifest]] = []
    errors: list[SegmentError] = []
    for parsed in interchange.messages:
        try:
            manifests.append((parsed.reference, cuscar.read(parsed)))
        except EdifactError as error:
            errors += error.errors
    if errors:
        raise problem(errors)
    at, sender = utcnow(), by.party_id or by.name
    out = []
    try:
        for message_reference, read in manifests:
            digest = cuscar.digest(read)
            report_id, version = _version(
                session, read, digest=digest, sender=sender, message=message_reference
            )
            if version is not None:
                _store(
                    session,
                    read,
                    report_id=report_id,
                    version=version,
                    digest=digest,
                    sender=sender,
                    by=by,
                    at=at,
                    text=text,
                )
            out.append((message_reference, report_id, version is not None))
    except IntegrityError:  # the same version was stored meanwhile by a concurrent submission
        raise Problem(
            409, "conflict", "a manifest of this interchange was stored meanwhile: send it again"
        ) from None
    return out


def _version(
    session: Session, read: cuscar.Manifest, *, digest: str, sender: str, message: str
) -> tuple[uuid.UUID, int | None]:
    """The version this message makes (a new id and its number) or made before (its id, None); a
    problem naming BGM when the function does not fit what is stored."""
    versions = list(
        session.scalars(
            select(CargoReport)
            .where(CargoReport.sender == sender, CargoReport.reference == read.reference)
            .order_by(CargoReport.version)
        )
    )
    for stored in versions:
        if stored.function == read.function and stored.digest == digest:
            return stored.id, None
    current = versions[-1] if versions else None

    def refuse(reason: str) -> Problem:
        return problem([SegmentError("BGM", 2, reason, message)], status=409, slug="conflict")

    if read.function == "9" and current is not None:
        raise refuse(
            f"manifest {read.reference} was lodged already (version {current.version}) with other "
            "content: send a correction with message function 5 (replace), a withdrawal with 1 (cancel)"
        )
    if read.function != "9" and current is None:
        raise refuse(f"there is no manifest {read.reference} to replace or cancel: send it with 9 (original)")
    if current is not None and current.function == "1":
        raise refuse(f"manifest {read.reference} was cancelled (version {current.version})")
    if read.function == "5" and current is not None and current.digest == digest:
        return current.id, None  # a replacement that changes nothing
    report_id = uuid.uuid4()
    if current is not None:
        current.replaced_by = report_id
    return report_id, len(versions) + 1


def _store(
    session: Session,
    read: cuscar.Manifest,
    *,
    report_id: uuid.UUID,
    version: int,
    digest: str,
    sender: str,
    by: Principal,
    at: datetime,
    text: str,
) -> None:
    session.add(
        CargoReport(
            id=report_id,
            reference=read.reference,
            sender=sender,
            version=version,
            function=read.function,
            digest=digest,
            party_id=by.party_id,
            submitted_by=by.name,
            carrier=read.carrier,
            means_of_transport_id=read.means_of_transport_id,
            arrival_at=read.arrival_at,
            received_at=at,
            body=text,
        )
    )
    session.flush()
    if read.lines:
        session.execute(
            insert(table(CargoLine)),
            [
                {
                    "report_id": report_id,
                    "sequence": line.sequence,
                    "transport_document": line.transport_document,
                    "containers": line.containers,
                    "description": line.description,
                    "packages": line.packages,
                    "gross_mass": line.gross_mass,
                }
                for line in read.lines
            ],
        )


def declarations_naming(session: Session, *, references: set[str], containers: set[str]) -> set[uuid.UUID]:
    """The declarations whose current version names one of these document references or containers:
    a lookup on the (kind, value) index, whatever the number of declarations."""
    wanted = [
        (kind, sorted(values)) for kind, values in (("reference", references), ("container", containers))
    ]
    clauses = [
        (DeclarationReference.kind == kind) & DeclarationReference.value.in_(values)
        for kind, values in wanted
        if values
    ]
    if not clauses:
        return set()
    return set(session.scalars(select(DeclarationReference.declaration_id).where(or_(*clauses)).distinct()))


@dataclass
class _Found:
    on: list[str]


def manifest(session: Session, *, report_id: uuid.UUID, by: Principal) -> schemas.Manifest:
    """A manifest with, per line, the declarations that name its transport document or a container."""
    report = session.get(CargoReport, report_id)
    if report is None or not (by.has(*CUSTOMS) or (by.party_id and by.party_id == report.party_id)):
        raise Problem(404, "not-found", f"no cargo report {report_id}")
    lines = session.scalars(
        select(CargoLine).where(CargoLine.report_id == report_id).order_by(CargoLine.sequence)
    )
    out = []
    seen: dict[uuid.UUID, Declaration | None] = {}
    for line in lines:
        wanted = [("document", line.transport_document)] + [("container", c) for c in line.containers]
        refs = session.execute(
            select(
                DeclarationReference.declaration_id, DeclarationReference.kind, DeclarationReference.value
            ).where(
                or_(
                    *[(DeclarationReference.kind == k) & (DeclarationReference.value == v) for k, v in wanted]
                )
            )
        ).all()
        found: dict[uuid.UUID, _Found] = {}
        for declaration_id, kind, value in refs:
            label = f"transport document {value}" if kind == "document" else f"container {value}"
            found.setdefault(declaration_id, _Found([])).on.append(label)
        matches = []
        for declaration_id, hit in sorted(found.items(), key=lambda item: str(item[0])):
            if declaration_id not in seen:
                try:
                    seen[declaration_id] = declarations.get(session, declaration_id=declaration_id, by=by)
                except Problem:
                    seen[declaration_id] = None  # not the reader's to see
            declaration = seen[declaration_id]
            if declaration is not None:
                matches.append(
                    schemas.Match(
                        declaration_id=declaration_id,
                        lrn=declaration.document.lrn,
                        mrn=declaration.mrn,
                        state=declaration.state.value,
                        on=sorted(hit.on),
                    )
                )
        out.append(
            schemas.ManifestLine(
                sequence=line.sequence,
                transport_document=line.transport_document,
                containers=list(line.containers),
                description=line.description,
                packages=line.packages,
                gross_mass=line.gross_mass,
                declared=bool(found),
                matches=matches,
            )
        )
    return schemas.Manifest(
        id=report.id,
        reference=report.reference,
        version=report.version,
        function=report.function,
        state="cancelled" if report.function == "1" else "replaced" if report.replaced_by else "in force",
        replaced_by=report.replaced_by,
        carrier=report.carrier,
        means_of_transport_id=report.means_of_transport_id,
        arrival_at=report.arrival_at,
        received_at=report.received_at,
        lines=out,
    )


def subscribe(dispatcher: Dispatcher, *, sender: str) -> None:
    """CUSRES on every status change; the reference index on lodgement and amendment."""

    def answer(session: Session, event: DomainEvent) -> None:
        respond(session, event, sender=sender)

    for event_type in RESPONDS_TO:
        dispatcher.subscribe(event_type, answer)
    for event_type in INDEXED_ON:
        dispatcher.subscribe(event_type, index)
