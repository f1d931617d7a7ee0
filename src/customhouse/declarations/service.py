"""Operations on declarations: lodge (one or many), amend, cancel, the officer's actions, read, list.

Every operation runs in the caller's transaction and commits nothing: the API or CLI commits, so a
failure anywhere leaves nothing behind. Every change writes its events (the outbox and audit trail)
in that same transaction.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import jsonpatch
import orjson
from pydantic import ValidationError
from sqlalchemy import and_, bindparam, case, exists, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.config import Settings
from customhouse.db import table, utcnow
from customhouse.declarations import consistency, lifecycle
from customhouse.declarations.models import DeclarationRecord, DeclarationVersion, GoodsItemRecord
from customhouse.declarations.mrn import new_mrn
from customhouse.declarations.proofs import NoCredentials, ProofChecker
from customhouse.declarations.schemas import (
    AuditEntry,
    Control,
    Declaration,
    DeclarationDocument,
    Lane,
    Page,
    State,
)
from customhouse.declarations.selectivity import LaneSelector
from customhouse.declarations.settlement import Assessor, Settlement, ToAssess
from customhouse.parties import service as parties
from customhouse.problems import FieldError, Problem, from_validation_errors

log = logging.getLogger(__name__)

AGGREGATE = "declaration"
LANE_ORDER = {Lane.GREEN: 0, Lane.YELLOW: 1, Lane.RED: 2}
OPEN_AFTER_ACCEPTANCE = (State.ACCEPTED.value, State.UNDER_CONTROL.value)


@dataclass(frozen=True, slots=True)
class Policy:
    """What the administration decides about lodgement; built once from settings in app.py."""

    country: str
    currency: str  # the national currency: what duties are owed in
    selector: LaneSelector
    assessor: Assessor
    tolerance: Decimal = Decimal("0.01")
    auto_accept: bool = True
    auto_release_green: bool = True
    proofs: ProofChecker = field(default_factory=NoCredentials)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        selector: LaneSelector,
        assessor: Assessor,
        proofs: ProofChecker | None = None,
    ) -> Policy:
        return cls(
            country=settings.country,
            currency=settings.national_currency,
            selector=selector,
            assessor=assessor,
            proofs=proofs or NoCredentials(),
            tolerance=settings.invoice_tolerance,
            auto_accept=settings.auto_accept,
            auto_release_green=settings.auto_release_green,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of lodging one declaration: the declaration (new or existing) or the problem."""

    declaration: Declaration | None = None
    created: bool = False
    problem: Problem | None = None


@dataclass(frozen=True, slots=True)
class Filters:
    state: State | None = None
    lane: Lane | None = None
    office: str | None = None
    party: str | None = None
    hs_prefix: str | None = None
    lodged_from: datetime | None = None
    lodged_to: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the officers' work queue, and whether another page follows it."""

    items: list[Declaration]
    more: bool


@dataclass
class _Pending:
    index: int
    document: DeclarationDocument
    data: dict[str, Any]
    content_hash: str
    row: dict[str, Any] = field(default_factory=dict)
    events: list[events.DomainEvent] = field(default_factory=list)


# ---------------------------------------------------------------- parsing and shaping


def parse(raw: Any) -> DeclarationDocument:
    """A declaration document from decoded JSON, or a validation problem naming every bad field."""
    if isinstance(raw, DeclarationDocument):
        return raw
    try:
        return DeclarationDocument.model_validate(raw)
    except ValidationError as error:
        raise from_validation_errors(error.errors()) from None


def canonical(document: DeclarationDocument) -> tuple[dict[str, Any], str]:
    """The document as stored (JSON types) and the SHA-256 of its canonical bytes."""
    data = document.model_dump(mode="json", exclude_none=True)
    return data, hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _shape(record: DeclarationRecord | dict[str, Any], document: DeclarationDocument) -> Declaration:
    """The API shape of a stored row (or of the row just built for insertion), without re-validation."""
    values: dict[str, Any] = record if isinstance(record, dict) else record.__dict__
    return Declaration.model_construct(
        id=values["id"],
        mrn=values["mrn"],
        state=State(values["state"]),
        lane=Lane(values["lane"]) if values["lane"] else None,
        lane_reasons=values["lane_reasons"] or [],
        version=values["version"],
        revision=values["revision"],
        lodged_at=values["lodged_at"],
        accepted_at=values["accepted_at"],
        released_at=values["released_at"],
        updated_at=values["updated_at"],
        document=document,
    )


def _event(
    kind: str, declaration_id: uuid.UUID, by: Principal, at: datetime, reason: str | None = None, **data: Any
) -> events.DomainEvent:
    return events.DomainEvent(
        type=f"declaration.{kind}",
        aggregate_type=AGGREGATE,
        aggregate_id=str(declaration_id),
        actor=by.name,
        actor_party=by.party_id,
        reason=reason,
        data=data,
        occurred_at=at,
    )


def _header(document: DeclarationDocument) -> dict[str, Any]:
    """The columns that mirror the document, for filters and visibility."""
    return {
        "kind": document.kind.value,
        "pre_arrival": document.pre_arrival,
        "representative_id": document.representative.id if document.representative else None,
        "importer_id": document.importer.id if document.importer else None,
        "exporter_id": document.exporter.id if document.exporter else None,
        "office_of_lodgement": document.office_of_lodgement,
        "office_of_destination": document.office_of_destination,
        "transport_mode": document.transport_mode,
    }


def _item_rows(declaration_id: uuid.UUID, document: DeclarationDocument) -> list[dict[str, Any]]:
    return [
        {
            "declaration_id": declaration_id,
            "sequence": item.sequence,
            "hs_code": item.hs_code,
            "origin": item.origin,
            "net_mass": item.net_mass,
            "price": item.price,
        }
        for item in document.goods_items
    ]


# ---------------------------------------------------------------- who may do what


def _visible(by: Principal, record: DeclarationRecord) -> bool:
    if by.reads_all:
        return True
    if by.has(Role.OFFICER) and {record.office_of_lodgement, record.office_of_destination} & by.offices:
        return True
    party = by.party_id
    if party is None:
        return False
    if by.has(Role.TRADER) and party in (record.declarant_id, record.importer_id, record.exporter_id):
        return True
    return by.has(Role.BROKER) and party in (record.representative_id, record.declarant_id)


def _visibility_clause(by: Principal) -> Any:
    if by.reads_all:
        return True
    clauses: list[ColumnElement[bool]] = []
    if by.has(Role.OFFICER) and by.offices:
        clauses += [
            DeclarationRecord.office_of_lodgement.in_(by.offices),
            DeclarationRecord.office_of_destination.in_(by.offices),
        ]
    if by.party_id and by.has(Role.TRADER):
        clauses += [
            DeclarationRecord.declarant_id == by.party_id,
            DeclarationRecord.importer_id == by.party_id,
            DeclarationRecord.exporter_id == by.party_id,
        ]
    if by.party_id and by.has(Role.BROKER):
        clauses += [
            DeclarationRecord.representative_id == by.party_id,
            DeclarationRecord.declarant_id == by.party_id,
        ]
    return or_(*clauses) if clauses else False


def _declaring_problem(by: Principal, document: DeclarationDocument) -> Problem | None:
    """Why `by` may not lodge or amend `document`, if it may not."""
    party = by.party_id
    if by.has(Role.TRADER) and party == document.declarant.id:
        return None
    if by.has(Role.BROKER) and document.representative and party == document.representative.id:
        return None
    if by.has(Role.BROKER):
        error = FieldError(
            f"must be your party ({party}): a broker lodges as the representative",
            pointer="/representative/id",
        )
    elif by.has(Role.TRADER):
        error = FieldError(f"must be your party ({party})", pointer="/declarant/id")
    else:
        error = FieldError("only traders and brokers lodge declarations", pointer="/declarant/id")
    return Problem(403, "forbidden", "this token may not declare for these parties", [error])


def _require_officer(by: Principal, record: DeclarationRecord) -> None:
    if by.has(Role.SUPERVISOR):
        return
    if by.has(Role.OFFICER) and {record.office_of_lodgement, record.office_of_destination} & by.offices:
        return
    raise Problem(
        403, "forbidden", f"only an officer of {record.office_of_lodgement} or a supervisor may do this"
    )


def _require_declarant_side(by: Principal, record: DeclarationRecord) -> None:
    party = by.party_id
    if by.has(Role.TRADER) and party == record.declarant_id:
        return
    if by.has(Role.BROKER) and party is not None and party == record.representative_id:
        return
    raise Problem(403, "forbidden", "only the declarant or its representative may do this")


# ---------------------------------------------------------------- lodgement


def _accept_fields(
    session: Session,
    document: DeclarationDocument,
    declaration_id: uuid.UUID,
    policy: Policy,
    by: Principal,
    at: datetime,
) -> tuple[dict[str, Any], list[events.DomainEvent]]:
    """Acceptance: an MRN and the lane from the selectivity port. A green declaration that owes no duty
    (export, transit) is released at once; an import waits for its assessment (see `assess`)."""
    decision = policy.selector.select(document, session=session, at=at)
    mrn = new_mrn(country=policy.country, kind=document.kind, at=at)
    fields: dict[str, Any] = {
        "mrn": mrn,
        "lane": decision.lane.value,
        "lane_reasons": decision.reasons,
        "accepted_at": at,
    }
    happened = [
        _event(
            "accepted", declaration_id, by, at, mrn=mrn, lane=decision.lane.value, reasons=decision.reasons
        )
    ]
    if decision.lane is not Lane.GREEN:
        fields["state"] = State.UNDER_CONTROL.value
    elif policy.auto_release_green and not policy.assessor.required(document):
        fields["state"] = State.RELEASED.value
        fields["released_at"] = at
        happened.append(_event("released", declaration_id, by, at, lane=decision.lane.value))
    else:
        fields["state"] = State.ACCEPTED.value
    return fields, happened


def _release_if_settled(
    fields: dict[str, Any],
    settlement: Settlement,
    policy: Policy,
    declaration_id: uuid.UUID,
    by: Principal,
    at: datetime,
) -> list[events.DomainEvent]:
    """Release a green declaration at once when what it owes is paid or secured (and the policy says so);
    `fields` (its state after acceptance or amendment) are updated in place."""
    if not (
        policy.auto_release_green
        and fields.get("state") == State.ACCEPTED.value
        and fields.get("lane") == Lane.GREEN.value
        and settlement.settled
    ):
        return []
    fields.update(state=State.RELEASED.value, released_at=at)
    return [
        _event("released", declaration_id, by, at, lane=Lane.GREEN.value, settlement=settlement.describe())
    ]


def lodge_many(
    session: Session,
    *,
    documents: Sequence[Any],
    by: Principal,
    policy: Policy,
    draft: bool = False,
    at: datetime | None = None,
) -> list[Outcome]:
    """Lodge each document (decoded JSON or a parsed document); one's failure does not sink the others.

    Sending the same LRN again with the same content returns the existing declaration (created=False);
    with different content it is a conflict.
    """
    at = at or utcnow()
    today = at.date()
    outcomes: list[Outcome | None] = [None] * len(documents)
    pending: list[_Pending] = []
    for index, raw in enumerate(documents):
        try:
            document = parse(raw)
            problem = _declaring_problem(by, document)
            if problem:
                raise problem
            _raise_inconsistent(session, document, policy, at, draft=draft)
        except Problem as problem:
            outcomes[index] = Outcome(problem=problem)
            continue
        data, content_hash = canonical(document)
        pending.append(_Pending(index, document, data, content_hash))

    pending = _check_registry(session, pending, outcomes, today)
    pending = _deduplicate(session, pending, outcomes)
    for item in pending:
        _build(session, item, by=by, policy=policy, draft=draft, at=at)
    _insert(session, pending, outcomes)
    return [outcome or Outcome(problem=Problem(500, "internal", "not processed")) for outcome in outcomes]


def lodge(
    session: Session,
    *,
    document: Any,
    by: Principal,
    policy: Policy,
    draft: bool = False,
    at: datetime | None = None,
) -> Outcome:
    """Lodge one declaration; raises the problem instead of returning it."""
    (outcome,) = lodge_many(session, documents=[document], by=by, policy=policy, draft=draft, at=at)
    if outcome.problem:
        raise outcome.problem
    return outcome


def _raise_inconsistent(
    session: Session, document: DeclarationDocument, policy: Policy, at: datetime, *, draft: bool = False
) -> None:
    """Cross-field rules and the credentials cited; a draft is held only to the item numbering, the rest
    is checked at lodgement."""
    if draft:
        problems = consistency.numbering(document)
    else:
        problems = consistency.check(
            document, country=policy.country, tolerance=policy.tolerance, today=at.date()
        )
    errors = [FieldError(problem.detail, pointer=problem.pointer) for problem in problems]
    if not draft and not errors:
        errors = policy.proofs.check(document, session=session, at=at)
    if errors:
        raise Problem(422, "validation", f"{len(errors)} field(s) are not valid", errors)


def _check_registry(
    session: Session, pending: list[_Pending], outcomes: list[Outcome | None], today: date
) -> list[_Pending]:
    ids = {item.document.declarant.id for item in pending}
    ids |= {item.document.representative.id for item in pending if item.document.representative}
    known = parties.registered(session, ids)
    pairs = {
        (item.document.representative.id, item.document.declarant.id)
        for item in pending
        if item.document.representative
    }
    mandated = parties.mandated_pairs(session, pairs, today)
    kept = []
    for item in pending:
        declarant, representative = item.document.declarant, item.document.representative
        errors = []
        if declarant.id not in known:
            errors.append(FieldError(f"{declarant.id} is not a registered party", pointer="/declarant/id"))
        if representative:
            if representative.id not in known:
                errors.append(
                    FieldError(f"{representative.id} is not a registered party", pointer="/representative/id")
                )
            elif (representative.id, declarant.id) not in mandated:
                errors.append(
                    FieldError(
                        f"{representative.id} holds no mandate from {declarant.id} valid today",
                        pointer="/representative/id",
                    )
                )
        if errors:
            outcomes[item.index] = Outcome(
                problem=Problem(422, "validation", "the parties are not in the register", errors)
            )
        else:
            kept.append(item)
    return kept


def _deduplicate(session: Session, pending: list[_Pending], outcomes: list[Outcome | None]) -> list[_Pending]:
    """Resolve LRNs already used by the same declarant, in the database or earlier in this batch."""
    if not pending:
        return pending
    declarants = {item.document.declarant.id for item in pending}
    lrns = {item.document.lrn for item in pending}
    rows = session.execute(
        select(DeclarationRecord, DeclarationVersion.content_hash)
        .join(
            DeclarationVersion,
            and_(DeclarationVersion.declaration_id == DeclarationRecord.id, DeclarationVersion.version == 1),
        )
        .where(DeclarationRecord.declarant_id.in_(declarants), DeclarationRecord.lrn.in_(lrns))
    ).all()
    existing = {(record.declarant_id, record.lrn): (record, lodged_hash) for record, lodged_hash in rows}
    first_in_batch: dict[tuple[str, str], _Pending] = {}
    kept = []
    for item in pending:
        key = (item.document.declarant.id, item.document.lrn)
        if key in existing:
            record, lodged_hash = existing[key]
            if lodged_hash == item.content_hash:
                outcomes[item.index] = Outcome(declaration=_current(session, record))
            else:
                outcomes[item.index] = Outcome(problem=_lrn_conflict(item.document.lrn, record.id))
        elif key in first_in_batch:
            first = first_in_batch[key]
            if first.content_hash != item.content_hash:
                outcomes[item.index] = Outcome(problem=_lrn_conflict(item.document.lrn, None))
            else:
                first_in_batch[key].row.setdefault("_duplicates", []).append(item.index)
        else:
            first_in_batch[key] = item
            kept.append(item)
    return kept


def _lrn_conflict(lrn: str, existing: uuid.UUID | None) -> Problem:
    extra = {"existing": str(existing)} if existing else {}
    return Problem(
        409,
        "conflict",
        f"LRN {lrn} was already lodged by this declarant with different content; amend it, or use a new LRN",
        [FieldError("already used by this declarant with different content", pointer="/lrn")],
        extra,
    )


def _build(
    session: Session, item: _Pending, *, by: Principal, policy: Policy, draft: bool, at: datetime
) -> None:
    declaration_id = uuid.uuid4()
    document = item.document
    row: dict[str, Any] = {
        "id": declaration_id,
        "lrn": document.lrn,
        "declarant_id": document.declarant.id,
        **_header(document),
        "state": State.DRAFT.value if draft else State.LODGED.value,
        "lane": None,
        "lane_reasons": [],
        "mrn": None,
        "version": 1,
        "revision": 1,
        "content_hash": item.content_hash,
        "created_at": at,
        "updated_at": at,
        "lodged_at": None if draft else at,
        "accepted_at": None,
        "released_at": None,
    }
    item.events = [
        _event(
            "drafted" if draft else "lodged",
            declaration_id,
            by,
            at,
            lrn=document.lrn,
            content_hash=item.content_hash,
        )
    ]
    if not draft and policy.auto_accept and not document.pre_arrival:
        fields, accepted = _accept_fields(session, document, declaration_id, policy, by, at)
        row.update(fields)
        item.events += accepted
    item.row = {**item.row, **row}


def _insert(session: Session, pending: list[_Pending], outcomes: list[Outcome | None]) -> None:
    """Insert the batch in a few statements; if the database refuses it, insert one by one so that
    only the declarations it refuses fail."""
    if not pending:
        return
    try:
        with session.begin_nested():
            _insert_rows(session, pending)
    except DBAPIError:
        for item in pending:
            try:
                with session.begin_nested():
                    _insert_rows(session, [item])
            except DBAPIError as error:
                outcomes[item.index] = _refused(session, item, error)
                item.row["_failed"] = True
    for item in pending:
        if item.row.get("_failed"):
            continue
        declaration = _shape(item.row, item.document)
        outcomes[item.index] = Outcome(declaration=declaration, created=True)
        for duplicate in item.row.get("_duplicates", []):
            outcomes[duplicate] = Outcome(declaration=declaration)


def _refused(session: Session, item: _Pending, error: DBAPIError) -> Outcome:
    """The outcome of a declaration the database refused: mostly, a concurrent lodgement of the same
    LRN won the race (then this is the same declaration, or a conflict)."""
    record = session.scalar(
        select(DeclarationRecord).where(
            DeclarationRecord.declarant_id == item.document.declarant.id,
            DeclarationRecord.lrn == item.document.lrn,
        )
    )
    if isinstance(error, IntegrityError) and record is not None:
        if _lodged_hash(session, record) == item.content_hash:
            return Outcome(declaration=_current(session, record))
        return Outcome(problem=_lrn_conflict(item.document.lrn, record.id))
    log.error("database refused declaration %s: %s", item.document.lrn, error.orig)
    return Outcome(problem=Problem(422, "validation", f"the database refused this declaration: {error.orig}"))


def _lodged_hash(session: Session, record: DeclarationRecord) -> str | None:
    return session.scalar(
        select(DeclarationVersion.content_hash).where(
            DeclarationVersion.declaration_id == record.id, DeclarationVersion.version == 1
        )
    )


def _insert_rows(session: Session, pending: list[_Pending]) -> None:
    # Core inserts on the tables: the ORM's bulk path costs more per row than the database does.
    session.execute(
        insert(table(DeclarationRecord)),
        [{k: v for k, v in item.row.items() if not k.startswith("_")} for item in pending],
    )
    session.execute(
        insert(table(DeclarationVersion)),
        [
            {
                "declaration_id": item.row["id"],
                "version": 1,
                "document": item.data,
                "content_hash": item.content_hash,
                "created_at": item.row["created_at"],
                "created_by": item.events[0].actor,
            }
            for item in pending
        ],
    )
    session.execute(
        insert(table(GoodsItemRecord)),
        [row for item in pending for row in _item_rows(item.row["id"], item.document)],
    )
    events.record(
        session,
        [
            event
            for item in pending
            for event in _stamped(item.events, state=item.row["state"], revision=1, version=1)
        ],
    )


# ---------------------------------------------------------------- reading


def _load(session: Session, declaration_id: uuid.UUID, by: Principal) -> DeclarationRecord:
    record = session.get(DeclarationRecord, declaration_id)
    if record is None or not _visible(by, record):
        raise Problem(404, "not-found", f"no declaration {declaration_id}")
    return record


def _document(session: Session, record: DeclarationRecord, version: int | None = None) -> DeclarationDocument:
    data = session.scalar(
        select(DeclarationVersion.document).where(
            DeclarationVersion.declaration_id == record.id,
            DeclarationVersion.version == (version or record.version),
        )
    )
    return DeclarationDocument.model_validate(data)


def _current(session: Session, record: DeclarationRecord) -> Declaration:
    return _shape(record, _document(session, record))


def get(
    session: Session, *, declaration_id: uuid.UUID, by: Principal, version: int | None = None
) -> Declaration:
    record = _load(session, declaration_id, by)
    if version is not None and not 1 <= version <= record.version:
        raise Problem(404, "not-found", f"declaration {declaration_id} has versions 1 to {record.version}")
    declaration = _shape(record, _document(session, record, version))
    return declaration if version is None else declaration.model_copy(update={"version": version})


def find_by_mrn(session: Session, *, mrn: str, by: Principal) -> Declaration:
    record = session.scalar(select(DeclarationRecord).where(DeclarationRecord.mrn == mrn))
    if record is None or not _visible(by, record):
        raise Problem(404, "not-found", f"no declaration with MRN {mrn}")
    return _current(session, record)


def _encode_cursor(record: DeclarationRecord) -> str:
    return base64.urlsafe_b64encode(f"{record.created_at.isoformat()}|{record.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, identifier = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(identifier)
    except (ValueError, UnicodeDecodeError):
        raise Problem(
            422,
            "validation",
            "the cursor is not one this server issued",
            [FieldError("use next_cursor of the previous page", parameter="cursor")],
        ) from None


def list_declarations(
    session: Session, *, by: Principal, filters: Filters, cursor: str | None = None, limit: int = 50
) -> Page:
    """The declarations `by` may see, newest first, a page at a time."""
    query = (
        select(DeclarationRecord, DeclarationVersion.document)
        .join(
            DeclarationVersion,
            and_(
                DeclarationVersion.declaration_id == DeclarationRecord.id,
                DeclarationVersion.version == DeclarationRecord.version,
            ),
        )
        .where(_visibility_clause(by))
    )
    if filters.state:
        query = query.where(DeclarationRecord.state == filters.state.value)
    if filters.lane:
        query = query.where(DeclarationRecord.lane == filters.lane.value)
    if filters.office:
        query = query.where(DeclarationRecord.office_of_lodgement == filters.office)
    if filters.party:
        party = filters.party
        query = query.where(
            or_(
                DeclarationRecord.declarant_id == party,
                DeclarationRecord.representative_id == party,
                DeclarationRecord.importer_id == party,
                DeclarationRecord.exporter_id == party,
            )
        )
    if filters.lodged_from:
        query = query.where(DeclarationRecord.lodged_at >= filters.lodged_from)
    if filters.lodged_to:
        query = query.where(DeclarationRecord.lodged_at < filters.lodged_to)
    if filters.hs_prefix:
        query = query.where(
            exists().where(
                GoodsItemRecord.declaration_id == DeclarationRecord.id,
                GoodsItemRecord.hs_code.startswith(filters.hs_prefix),
            )
        )
    if cursor:
        created, identifier = _decode_cursor(cursor)
        query = query.where(
            or_(
                DeclarationRecord.created_at < created,
                and_(DeclarationRecord.created_at == created, DeclarationRecord.id < identifier),
            )
        )
    rows = session.execute(
        query.order_by(DeclarationRecord.created_at.desc(), DeclarationRecord.id.desc()).limit(limit + 1)
    ).all()
    items = [
        _shape(record, DeclarationDocument.model_validate(document)) for record, document in rows[:limit]
    ]
    return Page(items=items, next_cursor=_encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None)


def work_queue(
    session: Session, *, by: Principal, office: str | None, offset: int = 0, limit: int = 50
) -> QueuePage:
    """The declarations `by` may see that wait for customs (accepted or under control) at `office` (None:
    every office), red before yellow before green, the longest waiting first: one page, in one query.
    The inner query finds the waiting declarations by ix_declarations_state_office and sorts those alone;
    the page's documents are joined only to the page's rows."""
    lane_rank = case({lane.value: rank for lane, rank in LANE_ORDER.items()}, value=DeclarationRecord.lane)
    waiting_since = func.coalesce(DeclarationRecord.accepted_at, DeclarationRecord.lodged_at)
    waiting = select(
        DeclarationRecord.id, lane_rank.label("lane_rank"), waiting_since.label("waiting_since")
    ).where(DeclarationRecord.state.in_(OPEN_AFTER_ACCEPTANCE), _visibility_clause(by))
    if office:
        waiting = waiting.where(DeclarationRecord.office_of_lodgement == office)
    page = (
        waiting.order_by(lane_rank.desc(), waiting_since, DeclarationRecord.id)
        .offset(offset)
        .limit(limit + 1)  # one more than shown tells whether there is a next page
        .subquery()
    )
    rows = session.execute(
        select(DeclarationRecord, DeclarationVersion.document)
        .join(page, page.c.id == DeclarationRecord.id)
        .join(
            DeclarationVersion,
            and_(
                DeclarationVersion.declaration_id == DeclarationRecord.id,
                DeclarationVersion.version == DeclarationRecord.version,
            ),
        )
        .order_by(page.c.lane_rank.desc(), page.c.waiting_since, DeclarationRecord.id)
    ).all()
    items = [
        _shape(record, DeclarationDocument.model_validate(document)) for record, document in rows[:limit]
    ]
    return QueuePage(items=items, more=len(rows) > limit)


def audit_trail(session: Session, *, declaration_id: uuid.UUID, by: Principal) -> list[AuditEntry]:
    _load(session, declaration_id, by)
    return [
        AuditEntry(
            at=event.occurred_at,
            event=event.type,
            actor=event.actor,
            actor_party=event.actor_party,
            reason=event.reason,
            data=event.data,
        )
        for event in events.history(session, AGGREGATE, str(declaration_id))
    ]


# ---------------------------------------------------------------- changes to one declaration


def _for_action(
    session: Session,
    declaration_id: uuid.UUID,
    by: Principal,
    action: str,
    expected_revision: int,
    *,
    may: Callable[[Principal, DeclarationRecord], None],
) -> DeclarationRecord:
    """The declaration to act on, once `by` may see it, `may` allows it, and its state and revision fit."""
    record = _load(session, declaration_id, by)
    may(by, record)
    _check_transition(record, action, expected_revision)
    return record


def _check_transition(record: DeclarationRecord, action: str, expected_revision: int) -> None:
    if record.revision != expected_revision:
        raise _stale(record)
    if not lifecycle.allowed(action, State(record.state)):
        raise Problem(
            409,
            "invalid-state",
            f"cannot {action.replace('_', ' ')} a declaration that is {record.state}; "
            f"allowed from: {lifecycle.expected_states(action)}",
            extra={"state": record.state},
        )


def _stale(record: DeclarationRecord) -> Problem:
    return Problem(
        409,
        "conflict",
        f"the declaration was changed meanwhile: its revision is now {record.revision}; fetch it and retry",
        extra={"revision": record.revision, "state": record.state},
    )


def _save(
    session: Session,
    record: DeclarationRecord,
    *,
    expected_revision: int,
    at: datetime,
    happened: list[events.DomainEvent],
    **changes: Any,
) -> Declaration:
    """Apply `changes` if nobody changed the declaration since `expected_revision`, with its events."""
    result = session.execute(
        update(DeclarationRecord)
        .where(DeclarationRecord.id == record.id, DeclarationRecord.revision == expected_revision)
        .values(**changes, revision=expected_revision + 1, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(record)
        raise _stale(record)
    state, version = changes.get("state", record.state), changes.get("version", record.version)
    events.record(session, _stamped(happened, state=state, revision=expected_revision + 1, version=version))
    session.refresh(record)
    return _current(session, record)


def _stamped(
    happened: list[events.DomainEvent], *, state: str, revision: int, version: int
) -> list[events.DomainEvent]:
    """Events carrying where the declaration stood after the change: state, revision, document version.
    (Their data dicts are completed in place: the events are not yet recorded, and copying them costs.)"""
    for event in happened:
        event.data.setdefault("state", state)
        event.data.setdefault("revision", revision)
        event.data.setdefault("version", version)
    return happened


def _new_version(
    session: Session, record: DeclarationRecord, document: DeclarationDocument, *, by: Principal, at: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Store `document` as the next version; return the header changes and the RFC 6902 patch."""
    previous = _document(session, record)
    for field_name in ("kind", "lrn"):
        if getattr(document, field_name) != getattr(previous, field_name):
            raise Problem(
                422,
                "validation",
                "an amendment cannot change this",
                [FieldError(f"must stay {getattr(previous, field_name)!s}", pointer=f"/{field_name}")],
            )
    if document.declarant.id != previous.declarant.id:
        raise Problem(
            422,
            "validation",
            "an amendment cannot change this",
            [FieldError(f"must stay {previous.declarant.id}", pointer="/declarant/id")],
        )
    data, content_hash = canonical(document)
    patch = jsonpatch.make_patch(canonical(previous)[0], data).patch
    version = record.version + 1
    session.execute(
        insert(DeclarationVersion).values(
            declaration_id=record.id,
            version=version,
            document=data,
            content_hash=content_hash,
            created_at=at,
            created_by=by.name,
        )
    )
    session.query(GoodsItemRecord).filter(GoodsItemRecord.declaration_id == record.id).delete(
        synchronize_session=False
    )
    session.execute(insert(GoodsItemRecord), _item_rows(record.id, document))
    return {**_header(document), "version": version, "content_hash": content_hash}, patch


def amend(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    document: Any,
    by: Principal,
    policy: Policy,
    expected_revision: int,
    at: datetime | None = None,
) -> Declaration:
    """A new version from the declarant's side. After acceptance the lane is chosen again and may only
    rise (an officer's control is never lifted by an amendment)."""
    at = at or utcnow()
    record = _for_action(session, declaration_id, by, "amend", expected_revision, may=_require_declarant_side)
    parsed = parse(document)
    problem = _declaring_problem(by, parsed)
    if problem:
        raise problem
    _raise_inconsistent(session, parsed, policy, at, draft=record.state == State.DRAFT)
    changes, patch = _new_version(session, record, parsed, by=by, at=at)
    data: dict[str, Any] = {"patch": patch}
    if record.lane:
        decision = policy.selector.select(parsed, session=session, at=at, again=True)
        data["reassessed_lane"] = decision.lane.value
        if LANE_ORDER[decision.lane] > LANE_ORDER[Lane(record.lane)]:
            changes.update(
                lane=decision.lane.value, lane_reasons=decision.reasons, state=State.UNDER_CONTROL.value
            )
    return _save(
        session,
        record,
        expected_revision=expected_revision,
        at=at,
        happened=[_event("amended", record.id, by, at, **data)],
        **changes,
    )


def submit_draft(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    policy: Policy,
    expected_revision: int,
    at: datetime | None = None,
) -> Declaration:
    """Lodge a draft: the full checks run now, then acceptance as at any lodgement."""
    at = at or utcnow()
    record = _for_action(session, declaration_id, by, "lodge", expected_revision, may=_require_declarant_side)
    document = _document(session, record)
    _raise_inconsistent(session, document, policy, at)
    changes: dict[str, Any] = {"state": State.LODGED.value, "lodged_at": at}
    happened = [
        _event(
            "lodged",
            record.id,
            by,
            at,
            lrn=record.lrn,
            content_hash=record.content_hash,
        )
    ]
    if policy.auto_accept and not document.pre_arrival:
        fields, accepted = _accept_fields(session, document, record.id, policy, by, at)
        changes.update(fields)
        happened += accepted
    return _save(session, record, expected_revision=expected_revision, at=at, happened=happened, **changes)


def cancel(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    expected_revision: int,
    reason: str,
    at: datetime | None = None,
) -> Declaration:
    at = at or utcnow()
    record = _for_action(
        session, declaration_id, by, "cancel", expected_revision, may=_require_declarant_side
    )
    return _save(
        session,
        record,
        expected_revision=expected_revision,
        at=at,
        happened=[_event("cancelled", record.id, by, at, reason)],
        state=State.CANCELLED.value,
    )


def accept(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    policy: Policy,
    expected_revision: int,
    at: datetime | None = None,
) -> Declaration:
    """An officer accepts a lodged declaration (a pre-arrival one when the goods arrive, or any when
    acceptance is not automatic): MRN and lane."""
    at = at or utcnow()
    record = _for_action(session, declaration_id, by, "accept", expected_revision, may=_require_officer)
    fields, happened = _accept_fields(session, _document(session, record), record.id, policy, by, at)
    return _save(session, record, expected_revision=expected_revision, at=at, happened=happened, **fields)


def request_documents(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    expected_revision: int,
    documents: list[str],
    reason: str,
    at: datetime | None = None,
) -> Declaration:
    at = at or utcnow()
    record = _for_action(
        session, declaration_id, by, "request_documents", expected_revision, may=_require_officer
    )
    lane = (
        record.lane
        if record.lane and LANE_ORDER[Lane(record.lane)] >= LANE_ORDER[Lane.YELLOW]
        else Lane.YELLOW.value
    )
    return _save(
        session,
        record,
        expected_revision=expected_revision,
        at=at,
        happened=[_event("documents_requested", record.id, by, at, reason, documents=documents)],
        state=State.UNDER_CONTROL.value,
        lane=lane,
    )


def record_control(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    policy: Policy,
    expected_revision: int,
    control: Control,
    at: datetime | None = None,
) -> Declaration:
    """The result of a control; corrected values become a new version written by the officer."""
    at = at or utcnow()
    record = _for_action(
        session, declaration_id, by, "record_control", expected_revision, may=_require_officer
    )
    if control.outcome == "irregularity" and control.irregularity is None:
        raise Problem(
            422,
            "validation",
            "an irregularity needs its kind",
            [FieldError("is required when outcome is irregularity", pointer="/irregularity")],
        )
    if control.outcome != "irregularity" and control.revenue_recovered:
        raise Problem(
            422,
            "validation",
            "revenue is recovered only on an irregularity",
            [FieldError("must be empty or 0 when conforming", pointer="/revenue_recovered")],
        )
    changes: dict[str, Any] = {"state": State.UNDER_CONTROL.value}
    data: dict[str, Any] = {
        "outcome": control.outcome,
        "irregularity": control.irregularity,
        "note": control.note,
    }
    if control.revenue_recovered is not None:
        data["revenue_recovered"] = str(control.revenue_recovered)
    if control.corrections:
        if control.outcome != "irregularity":
            raise Problem(
                422,
                "validation",
                "corrections come with an irregularity",
                [FieldError("must be empty when conforming", pointer="/corrections")],
            )
        current = _document(session, record)
        patch = [
            {"op": "replace", "path": correction.pointer, "value": correction.value}
            for correction in control.corrections
        ]
        try:
            corrected = jsonpatch.apply_patch(canonical(current)[0], patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise Problem(
                422,
                "validation",
                "a correction names no field of the declaration",
                [FieldError(str(error), pointer="/corrections")],
            ) from None
        try:
            document = parse(corrected)
        except Problem as problem:
            raise Problem(
                422,
                "validation",
                "the corrected declaration is not valid",
                [
                    FieldError(f"{error.pointer}: {error.detail}", pointer="/corrections")
                    for error in problem.errors
                ],
            ) from None
        version_changes, applied = _new_version(session, record, document, by=by, at=at)
        changes.update(version_changes)
        data["patch"] = applied
    return _save(
        session,
        record,
        expected_revision=expected_revision,
        at=at,
        happened=[_event("control_recorded", record.id, by, at, control.note, **data)],
        **changes,
    )


def release(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    policy: Policy,
    expected_revision: int,
    at: datetime | None = None,
) -> Declaration:
    at = at or utcnow()
    record = _for_action(session, declaration_id, by, "release", expected_revision, may=_require_officer)
    settlement = policy.assessor.settlement(
        session, declaration_id=record.id, version=record.version, document=_document(session, record)
    )
    if not settlement.settled:
        raise Problem(
            409,
            "not-settled",
            f"the declaration owes {settlement.describe()}: the goods are released once it is paid or "
            "secured by a guarantee",
            extra={
                "owed": f"{settlement.owed.normalize():f}",
                "currency": settlement.currency,
                "order_id": str(settlement.order_id) if settlement.order_id else None,
            },
        )
    return _save(
        session,
        record,
        expected_revision=expected_revision,
        at=at,
        happened=[_event("released", record.id, by, at, lane=record.lane)],
        state=State.RELEASED.value,
        released_at=at,
    )


def reject(
    session: Session,
    *,
    declaration_id: uuid.UUID,
    by: Principal,
    expected_revision: int,
    reason: str,
    at: datetime | None = None,
) -> Declaration:
    at = at or utcnow()
    record = _for_action(session, declaration_id, by, "reject", expected_revision, may=_require_officer)
    return _save(
        session,
        record,
        expected_revision=expected_revision,
        at=at,
        happened=[_event("rejected", record.id, by, at, reason)],
        state=State.REJECTED.value,
    )


SYSTEM = Principal("customhouse", frozenset())
ASSESSED_ON = ("declaration.accepted", "declaration.amended", "declaration.control_recorded")
SETTLED_ON = ("payment.succeeded", "guarantee.secured")


def assess(
    session: Session, *, declaration_id: uuid.UUID, policy: Policy, at: datetime | None = None
) -> None:
    """`assess_many` of one declaration."""
    assess_many(session, declaration_ids=[declaration_id], policy=policy, at=at)


def assess_many(
    session: Session, *, declaration_ids: Sequence[uuid.UUID], policy: Policy, at: datetime | None = None
) -> None:
    """Assess the current version of each accepted declaration if it was not yet (in the order given:
    quotas are first come first served), then release those that are green and whose dues are paid or
    secured. Idempotent: the event dispatcher calls it after every acceptance, amendment, correction,
    payment and security (at least once each), for a whole pass of events at a time.

    Why after the change and not inside it: lodgement must stay fast (the assessment costs more than
    the rest of it), and a declaration is acknowledged before customs assesses it, as ASYCUDA
    separates registration from assessment. A problem the declarant can fix (a quantity in the wrong
    unit) is recorded as `declaration.assessment_refused` and waits for an amendment; one the
    administration must fix (no tariff, no exchange rate) is raised, so that the dispatcher retries."""
    at = at or utcnow()
    wanted = list(dict.fromkeys(declaration_ids))
    found = {
        record.id: record
        for record in session.scalars(select(DeclarationRecord).where(DeclarationRecord.id.in_(wanted)))
    }
    records = [
        found[identifier]
        for identifier in wanted
        if identifier in found
        and found[identifier].accepted_at is not None
        and found[identifier].state in OPEN_AFTER_ACCEPTANCE
    ]
    if not records:
        return
    documents = _documents(session, records)
    jobs = [
        ToAssess(record.id, record.version, documents[record.id], record.accepted_at or at, at)
        for record in records
    ]
    results = policy.assessor.assess(session, declarations=jobs, by=SYSTEM)
    happened: list[events.DomainEvent] = []
    releases: list[dict[str, Any]] = []
    for record, result in zip(records, results, strict=True):
        if isinstance(result, Problem):
            if result.status >= 500:
                raise result
            errors = [error.as_dict() for error in result.errors]
            refused = _event("assessment_refused", record.id, SYSTEM, at, result.detail, errors=errors)
            happened += _as_is(record, [refused])
            continue
        fields: dict[str, Any] = {"state": record.state, "lane": record.lane}
        released = _release_if_settled(fields, result, policy, record.id, SYSTEM, at)
        if released:
            releases.append({"id": record.id, "revision": record.revision})
            stamp = {"state": fields["state"], "revision": record.revision + 1, "version": record.version}
            happened += _stamped([*result.happened, *released], **stamp)
        else:
            happened += _as_is(record, result.happened)
    if releases:
        declarations = table(DeclarationRecord)
        done = session.execute(
            update(declarations)
            .where(declarations.c.id == bindparam("key"), declarations.c.revision == bindparam("seen"))
            .values(
                state=State.RELEASED.value,
                released_at=at,
                updated_at=at,
                revision=declarations.c.revision + 1,
            ),
            [{"key": release["id"], "seen": release["revision"]} for release in releases],
        )
        if done.rowcount != len(releases):  # type: ignore[attr-defined]
            raise RuntimeError("a declaration changed while it was being released; the pass is retried")
        released_ids = {release["id"] for release in releases}
        for record in records:
            if record.id in released_ids:
                session.expire(record)  # updated in bulk: read it again when next asked
    events.record(session, happened)


def _documents(
    session: Session, records: Sequence[DeclarationRecord]
) -> dict[uuid.UUID, DeclarationDocument]:
    """The current document of each declaration, in one query."""
    versions = {record.id: record.version for record in records}
    rows = session.execute(
        select(
            DeclarationVersion.declaration_id, DeclarationVersion.version, DeclarationVersion.document
        ).where(DeclarationVersion.declaration_id.in_(versions))
    )
    return {
        declaration_id: DeclarationDocument.model_validate(document)
        for declaration_id, version, document in rows
        if versions[declaration_id] == version
    }


def assessing(policy: Policy) -> events.BatchHandler:
    """The batch subscriber that assesses and releases after acceptance, amendment, correction,
    payment and security events (`ASSESSED_ON`, `SETTLED_ON`)."""

    def handle(session: Session, delivered: list[events.DomainEvent]) -> None:
        identifiers = [
            uuid.UUID(
                event.aggregate_id if event.aggregate_type == AGGREGATE else event.data["declaration_id"]
            )
            for event in delivered
        ]
        assess_many(session, declaration_ids=identifiers, policy=policy)

    return handle


def _as_is(record: DeclarationRecord, happened: list[events.DomainEvent]) -> list[events.DomainEvent]:
    """Events about a declaration that leave it as it is (its state, revision and version)."""
    return _stamped(happened, state=record.state, revision=record.revision, version=record.version)
