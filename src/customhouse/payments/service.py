"""Payment operations: payment orders and their online payment, gateway callbacks, receipts,
reconciliation, guarantees and deferment accounts, and the idempotency keys of payment calls.

Service functions never commit: the API or CLI does, once per call, so a refused call leaves nothing
behind (its idempotency key included). Every change writes its events in the same transaction.

- An order is pending until a verified callback says its payment succeeded; the state changes with
  `UPDATE ... WHERE state = 'pending'`, so a duplicate or concurrent callback finds nothing to change and
  writes no second `payment.succeeded`. A 'failed' callback never undoes a payment.
- Securing an amount takes it from the guarantee's balance with `UPDATE ... SET balance = balance - :a
  WHERE id = :id AND balance >= :a`: the database serialises concurrent callers on the row, and the
  balance never goes below zero (also a CHECK constraint). Releasing gives it back once.
- Idempotency keys belong to the caller (the principal's name): the same key with the same request
  (method, path, body) replays the first answer; with another request it is a 409.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.db import new_id, table, utcnow
from customhouse.money import Money, from_thousandths, to_thousandths
from customhouse.parties import service as parties
from customhouse.payments import receipts, schemas
from customhouse.payments.gateway import SUCCEEDED, Callback, Gateway
from customhouse.payments.models import GatewayCallback, Guarantee, IdempotencyKey, PaymentOrder, Security
from customhouse.problems import FieldError, Problem

ORDER = "payment_order"
GUARANTEE = "guarantee"
RECEIPT_TYPE = "customhouse.payment-receipt"


# ---------------------------------------------------------------- who may do what


def _acts_for(session: Session, by: Principal, party_id: str) -> bool:
    """The party itself (a trader), its broker under a mandate valid today, or a supervisor."""
    if by.has(Role.SUPERVISOR):
        return True
    if by.party_id is None:
        return False
    if by.has(Role.TRADER) and by.party_id == party_id:
        return True
    return by.has(Role.BROKER) and bool(
        parties.mandated_pairs(session, [(by.party_id, party_id)], utcnow().date())
    )


def _sees(session: Session, by: Principal, party_id: str) -> bool:
    return by.reads_all or by.has(Role.OFFICER) or _acts_for(session, by, party_id)


def _forbidden_party(by: Principal, pointer: str) -> Problem:
    return Problem(
        403,
        "forbidden",
        "this token may not act for this party",
        [
            FieldError(
                f"must be your party ({by.party_id}) or a client that gave you a mandate", pointer=pointer
            )
        ],
    )


def _not_found(what: str, id: object) -> Problem:
    return Problem(404, "not-found", f"no {what} {id}")


# ---------------------------------------------------------------- idempotency keys


@dataclass(frozen=True, slots=True)
class Replay:
    status: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join([method.upper().encode(), path.encode(), body])).hexdigest()


def claim_key(session: Session, *, owner: str, key: str, fingerprint: str) -> Replay | None:
    """The stored answer when `key` was used before with the same request; None (and the key claimed in
    this transaction) when it is new; a 409 when it was used for another request."""
    stored = session.get(IdempotencyKey, (owner, key))
    if stored is None:
        session.add(IdempotencyKey(owner=owner, key=key, fingerprint=fingerprint, created_at=utcnow()))
        session.flush()  # a concurrent twin waits here (PostgreSQL) or queued before us (SQLite)
        return None
    if stored.fingerprint != fingerprint:
        raise Problem(
            409,
            "conflict",
            "this Idempotency-Key was used for a different request; use a new key for a new request",
            [FieldError("already used for a different request", parameter="Idempotency-Key")],
        )
    assert stored.status is not None and stored.response is not None
    return Replay(stored.status, stored.response)


def remember(session: Session, *, owner: str, key: str, status: int, body: dict[str, Any]) -> None:
    """Store the answer to the call that claimed `key`, to be replayed."""
    stored = session.get(IdempotencyKey, (owner, key))
    assert stored is not None
    stored.status, stored.response = status, body
    session.flush()


# ---------------------------------------------------------------- payment orders


def _order(record: PaymentOrder) -> schemas.Order:
    return schemas.Order.model_validate(record, from_attributes=True)


def _event(kind: str, record: PaymentOrder, by: str, party: str | None, /, **data: Any) -> events.DomainEvent:
    return events.DomainEvent(
        type=kind,
        aggregate_type=ORDER,
        aggregate_id=str(record.id),
        actor=by,
        actor_party=party,
        data={
            "declaration_id": str(record.declaration_id),
            "assessment_version": record.assessment_version,
            "amount": schemas.amount_text(record.amount),
            "currency": record.currency,
            **data,
        },
    )


def _same_money(stored: Decimal, given: Decimal) -> bool:
    return Decimal(stored) == Decimal(given)


def create_order(session: Session, *, order: schemas.NewOrder, by: Principal) -> tuple[schemas.Order, bool]:
    """An order issued by hand by a supervisor (assessments issue theirs through `settle`); (order,
    created). The same order asked again returns the existing one; another amount or party, a 409."""
    if not by.has(Role.SUPERVISOR):
        raise Problem(
            403, "forbidden", "payment orders come from assessments; only a supervisor issues one by hand"
        )
    existing = session.scalar(
        select(PaymentOrder).where(
            PaymentOrder.declaration_id == order.declaration_id,
            PaymentOrder.assessment_version == order.assessment_version,
        )
    )
    if existing is not None:
        if (existing.party_id, existing.currency) == (order.party_id, order.currency) and _same_money(
            existing.amount, order.amount
        ):
            return _order(existing), False
        raise Problem(
            409,
            "conflict",
            f"assessment version {order.assessment_version} of this declaration has an order already "
            f"({existing.id}) for another amount or party",
            extra={"order_id": str(existing.id)},
        )
    record = PaymentOrder(
        id=new_id(),
        declaration_id=order.declaration_id,
        assessment_version=order.assessment_version,
        party_id=order.party_id,
        amount=order.amount,
        currency=order.currency,
        state=schemas.OrderState.PENDING,
        created_at=utcnow(),
        created_by=by.name,
    )
    session.add(record)
    session.flush()
    events.record(session, [_event("payment.ordered", record, by.name, by.party_id)])
    return _order(record), True


def _load(session: Session, order_id: uuid.UUID, by: Principal) -> PaymentOrder:
    record = session.get(PaymentOrder, order_id)
    if record is None or not _sees(session, by, record.party_id):
        raise _not_found("payment order", order_id)
    return record


def get_order(session: Session, *, order_id: uuid.UUID, by: Principal) -> schemas.Order:
    return _order(_load(session, order_id, by))


def _for_action(session: Session, order_id: uuid.UUID, by: Principal) -> PaymentOrder:
    """The order to act on, locked (PostgreSQL) so that two payment starts cannot both open one."""
    record = _load(session, order_id, by)
    session.refresh(record, with_for_update=True)
    if not _acts_for(session, by, record.party_id):
        raise Problem(403, "forbidden", "only the party that owes the amount (or its broker) may do this")
    return record


def _not_pending(record: PaymentOrder) -> Problem:
    return Problem(409, "invalid-state", f"the payment order is {record.state}, not pending")


def start_payment(
    session: Session, *, order_id: uuid.UUID, by: Principal, gateway: Gateway
) -> schemas.PaymentStarted:
    """Open the payment of a pending order at the gateway; asked again, the same payment page."""
    record = _for_action(session, order_id, by)
    if record.state != schemas.OrderState.PENDING:
        raise _not_pending(record)
    if record.gateway_reference is None:
        started = gateway.start(
            session, order_id=str(record.id), amount=Money(Decimal(record.amount), record.currency)
        )
        record.gateway, record.gateway_reference, record.redirect_url = (
            gateway.name,
            started.reference,
            started.redirect_url,
        )
        session.flush()
        events.record(
            session,
            [
                _event(
                    "payment.started",
                    record,
                    by.name,
                    by.party_id,
                    gateway=gateway.name,
                    reference=started.reference,
                )
            ],
        )
    assert record.gateway and record.gateway_reference and record.redirect_url
    return schemas.PaymentStarted(
        order_id=record.id,
        gateway=record.gateway,
        reference=record.gateway_reference,
        redirect_url=record.redirect_url,
    )


def cancel_order(
    session: Session, *, order_id: uuid.UUID, by: Principal, reason: str | None
) -> schemas.Order:
    """Cancel a pending order (an amended assessment replaces it); a paid order is never cancelled."""
    record = _for_action(session, order_id, by)
    if record.state == schemas.OrderState.CANCELLED:
        return _order(record)
    orders = table(PaymentOrder)
    at = utcnow()
    done = session.execute(
        update(orders)
        .where(orders.c.id == record.id, orders.c.state == schemas.OrderState.PENDING)
        .values(state=schemas.OrderState.CANCELLED, cancelled_at=at)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(record)
        raise _not_pending(record)
    session.refresh(record)
    event = _event("payment.cancelled", record, by.name, by.party_id)
    events.record(session, [dataclasses.replace(event, reason=reason)])
    return _order(record)


def apply_callback(session: Session, *, gateway: str, callback: Callback) -> str:
    """Apply a verified gateway callback and record it; returns what it did. Harmless when repeated or
    out of order: only a pending order becomes paid, and a failure never undoes a payment."""
    outcome = _outcome(session, gateway=gateway, callback=callback)
    session.add(
        GatewayCallback(
            gateway=gateway,
            event_id=callback.event_id,
            reference=callback.reference,
            status=callback.status,
            outcome=outcome,
            received_at=utcnow(),
            body=callback.body,
        )
    )
    session.flush()
    return outcome


def _outcome(session: Session, *, gateway: str, callback: Callback) -> str:
    seen = session.scalar(
        select(GatewayCallback.id).where(
            GatewayCallback.gateway == gateway, GatewayCallback.event_id == callback.event_id
        )
    )
    if seen is not None:
        return "duplicate"
    record = session.scalar(
        select(PaymentOrder).where(
            PaymentOrder.gateway == gateway, PaymentOrder.gateway_reference == callback.reference
        )
    )
    if record is None:
        return "unknown-reference"
    actor = f"gateway:{gateway}"
    if callback.status != SUCCEEDED:
        if record.state != schemas.OrderState.PENDING:
            return "ignored"
        events.record(session, [_event("payment.failed", record, actor, None, reference=callback.reference)])
        return "failed"
    if callback.amount != Money(Decimal(record.amount), record.currency):
        return "amount-mismatch"
    orders = table(PaymentOrder)
    done = session.execute(
        update(orders)
        .where(orders.c.id == record.id, orders.c.state == schemas.OrderState.PENDING)
        .values(state=schemas.OrderState.PAID, paid_at=callback.occurred_at, payer=callback.payer)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return "ignored"  # paid already (a twin callback), or cancelled: reconciliation shows the latter
    session.refresh(record)
    events.record(
        session,
        [
            _event(
                "payment.succeeded",
                record,
                actor,
                None,
                order_id=str(record.id),
                gateway=gateway,
                reference=callback.reference,
                payer=callback.payer,
            )
        ],
    )
    return "applied"


def receipt(
    session: Session, *, order_id: uuid.UUID, by: Principal, signer: receipts.Signer
) -> dict[str, Any]:
    """The signed receipt of a paid order."""
    record = _load(session, order_id, by)
    if record.state != schemas.OrderState.PAID or record.paid_at is None:
        raise Problem(
            409, "invalid-state", f"the payment order is {record.state}: only a paid order has a receipt"
        )
    document = {
        "type": RECEIPT_TYPE,
        "order_id": str(record.id),
        "declaration_id": str(record.declaration_id),
        "assessment_version": record.assessment_version,
        "party_id": record.party_id,
        "amount": schemas.amount_text(record.amount),
        "currency": record.currency,
        "payer": record.payer,
        "paid_at": record.paid_at.isoformat(),
        "gateway": record.gateway,
        "gateway_reference": record.gateway_reference,
    }
    return receipts.signed(document, signer)


def reconcile(session: Session, *, gateway: Gateway) -> list[schemas.Discrepancy]:
    """Every payment on which the gateway's records and the payment orders disagree."""
    charges = {charge.reference: charge for charge in gateway.records(session)}
    orders = {
        record.gateway_reference: record
        for record in session.scalars(
            select(PaymentOrder).where(
                PaymentOrder.gateway == gateway.name, PaymentOrder.gateway_reference.is_not(None)
            )
        )
        if record.gateway_reference is not None
    }
    found = []
    for reference in sorted(charges.keys() | orders.keys()):
        charge, order = charges.get(reference), orders.get(reference)
        problem = _disagreement(charge.status if charge else None, charge.amount if charge else None, order)
        if problem:
            found.append(
                schemas.Discrepancy(
                    reference=reference,
                    order_id=str(order.id) if order else (charge.merchant_reference if charge else None),
                    gateway_status=charge.status if charge else None,
                    gateway_amount=str(charge.amount) if charge else None,
                    ledger_state=order.state if order else None,
                    ledger_amount=f"{schemas.amount_text(order.amount)} {order.currency}" if order else None,
                    problem=problem,
                )
            )
    return found


def _disagreement(status: str | None, amount: Money | None, order: PaymentOrder | None) -> str | None:
    charged = status == SUCCEEDED
    paid = order is not None and order.state == schemas.OrderState.PAID
    if charged and order is None:
        return "the gateway charged it, but no payment order has this reference"
    if charged and not paid:
        assert order is not None
        return f"the gateway charged it, but the payment order is {order.state}"
    if paid and status is None:
        return "the payment order is paid, but the gateway has no record of it"
    if paid and not charged:
        return f"the payment order is paid, but the gateway says {status}"
    if (
        paid
        and amount is not None
        and order is not None
        and amount != Money(Decimal(order.amount), order.currency)
    ):
        return "the gateway charged another amount than the payment order"
    return None


# ---------------------------------------------------------------- guarantees and deferment accounts


def _guarantee(record: Guarantee) -> schemas.Guarantee:
    return schemas.Guarantee(
        id=record.id,
        party_id=record.party_id,
        kind=schemas.GuaranteeKind(record.kind),
        currency=record.currency,
        limit=from_thousandths(record.limit_milli),
        balance=from_thousandths(record.balance_milli),
    )


def _security(record: Security, currency: str) -> schemas.Security:
    return schemas.Security(
        id=record.id,
        guarantee_id=record.guarantee_id,
        declaration_id=record.declaration_id,
        assessment_version=record.assessment_version,
        amount=from_thousandths(record.amount_milli),
        currency=currency,
        state=schemas.SecurityState(record.state),
        secured_at=record.secured_at,
        released_at=record.released_at,
    )


def _guarantee_event(
    event_type: str,
    guarantee_id: uuid.UUID,
    by: str,
    party: str | None,
    /,
    at: datetime | None = None,
    **data: Any,
) -> events.DomainEvent:
    return events.DomainEvent(
        type=event_type,
        aggregate_type=GUARANTEE,
        aggregate_id=str(guarantee_id),
        actor=by,
        actor_party=party,
        data=data,
        occurred_at=at or utcnow(),
    )


def open_guarantee(session: Session, *, guarantee: schemas.NewGuarantee, by: Principal) -> schemas.Guarantee:
    """Register a guarantee or deferment account (customs accepts it: a supervisor); full balance."""
    if not by.has(Role.SUPERVISOR, Role.ADMIN):
        raise Problem(403, "forbidden", "only a supervisor registers guarantees and deferment accounts")
    if not parties.registered(session, [guarantee.party_id]):
        raise Problem(
            422,
            "validation",
            "1 field(s) are not valid",
            [FieldError(f"{guarantee.party_id} is not a registered party", pointer="/party_id")],
        )
    taken = session.scalar(
        select(Guarantee.id).where(
            Guarantee.party_id == guarantee.party_id,
            Guarantee.kind == guarantee.kind,
            Guarantee.currency == guarantee.currency,
        )
    )
    if taken is not None:
        raise Problem(
            409,
            "conflict",
            f"{guarantee.party_id} has a {guarantee.kind} in {guarantee.currency} already ({taken})",
            extra={"guarantee_id": str(taken)},
        )
    limit = to_thousandths(guarantee.limit)
    record = Guarantee(
        id=new_id(),
        party_id=guarantee.party_id,
        kind=guarantee.kind,
        currency=guarantee.currency,
        limit_milli=limit,
        balance_milli=limit,
        created_at=utcnow(),
        created_by=by.name,
    )
    session.add(record)
    session.flush()
    events.record(
        session,
        [
            _guarantee_event(
                "guarantee.opened",
                record.id,
                by.name,
                by.party_id,
                party_id=guarantee.party_id,
                kind=guarantee.kind,
                limit=schemas.amount_text(guarantee.limit),
                currency=guarantee.currency,
            )
        ],
    )
    return _guarantee(record)


def _load_guarantee(session: Session, guarantee_id: uuid.UUID, by: Principal) -> Guarantee:
    record = session.get(Guarantee, guarantee_id)
    if record is None or not _sees(session, by, record.party_id):
        raise _not_found("guarantee", guarantee_id)
    return record


def get_guarantee(session: Session, *, guarantee_id: uuid.UUID, by: Principal) -> schemas.Guarantee:
    record = _load_guarantee(session, guarantee_id, by)
    session.refresh(record)  # the balance moves under other transactions
    return _guarantee(record)


def balance(session: Session, *, guarantee_id: uuid.UUID) -> Money:
    row = session.execute(
        select(Guarantee.balance_milli, Guarantee.currency).where(Guarantee.id == guarantee_id)
    ).one_or_none()
    if row is None:
        raise KeyError(guarantee_id)
    return Money(from_thousandths(row.balance_milli), row.currency)


def secure(
    session: Session, *, guarantee_id: uuid.UUID, security: schemas.NewSecurity, by: Principal
) -> tuple[schemas.Security, bool]:
    """Hold `security.amount` of the guarantee for a declaration's assessment; (security, created).
    Refused with 409 when the balance is short: the balance never goes below zero."""
    record = _load_guarantee(session, guarantee_id, by)
    if not _acts_for(session, by, record.party_id):
        raise _forbidden_party(by, "/guarantee_id")
    if security.currency != record.currency:
        raise Problem(
            422,
            "validation",
            "1 field(s) are not valid",
            [FieldError(f"must be the guarantee's currency, {record.currency}", pointer="/currency")],
        )
    milli = to_thousandths(security.amount)
    existing = session.scalar(
        select(Security).where(
            Security.declaration_id == security.declaration_id,
            Security.assessment_version == security.assessment_version,
        )
    )
    if existing is not None:
        if existing.guarantee_id == record.id and existing.amount_milli == milli:
            return _security(existing, record.currency), False
        raise Problem(
            409,
            "conflict",
            f"assessment version {security.assessment_version} of this declaration is secured already "
            f"({existing.id}) by another guarantee or amount",
            extra={"security_id": str(existing.id)},
        )
    guarantees = table(Guarantee)
    taken = session.execute(
        update(guarantees)
        .where(guarantees.c.id == record.id, guarantees.c.balance_milli >= milli)
        .values(balance_milli=guarantees.c.balance_milli - milli)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        left = balance(session, guarantee_id=record.id)
        raise Problem(
            409,
            "conflict",
            f"the {record.kind}'s balance is {left}, less than {schemas.amount_text(security.amount)} "
            f"{record.currency}",
            extra={"balance": schemas.amount_text(left.amount)},
        )
    row = {
        "id": new_id(),
        "guarantee_id": record.id,
        "declaration_id": security.declaration_id,
        "assessment_version": security.assessment_version,
        "amount_milli": milli,
        "state": schemas.SecurityState.SECURED,
        "secured_at": utcnow(),
        "secured_by": by.name,
    }
    session.execute(insert(table(Security)), [row])
    events.record(
        session,
        [
            _guarantee_event(
                "guarantee.secured",
                record.id,
                by.name,
                by.party_id,
                security_id=str(row["id"]),
                declaration_id=str(security.declaration_id),
                assessment_version=security.assessment_version,
                amount=schemas.amount_text(security.amount),
                currency=record.currency,
            )
        ],
    )
    created = session.get(Security, row["id"])
    assert created is not None
    return _security(created, record.currency), True


def _release(
    session: Session, security: Security, actor: str, party: str | None, at: datetime | None = None
) -> bool:
    """Give the amount back to the guarantee, once: False when it was released already."""
    at = at or utcnow()
    securities = table(Security)
    done = session.execute(
        update(securities)
        .where(securities.c.id == security.id, securities.c.state == schemas.SecurityState.SECURED)
        .values(state=schemas.SecurityState.RELEASED, released_at=at)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    guarantees = table(Guarantee)
    session.execute(
        update(guarantees)
        .where(guarantees.c.id == security.guarantee_id)
        .values(balance_milli=guarantees.c.balance_milli + security.amount_milli)
    )
    events.record(
        session,
        [
            _guarantee_event(
                "guarantee.released",
                security.guarantee_id,
                actor,
                party,
                at=at,
                security_id=str(security.id),
                declaration_id=str(security.declaration_id),
                assessment_version=security.assessment_version,
                amount=schemas.amount_text(from_thousandths(security.amount_milli)),
            )
        ],
    )
    session.refresh(security)
    return True


def release_security(session: Session, *, security_id: uuid.UUID, by: Principal) -> schemas.Security:
    """Release a security by hand (customs: an officer or supervisor); releasing twice changes nothing."""
    if not by.has(Role.OFFICER, Role.SUPERVISOR):
        raise Problem(403, "forbidden", "only customs (an officer or supervisor) releases a security")
    security = session.get(Security, security_id)
    if security is None:
        raise _not_found("security", security_id)
    _release(session, security, by.name, by.party_id)
    guarantee = session.get(Guarantee, security.guarantee_id)
    assert guarantee is not None
    return _security(security, guarantee.currency)


def on_payment_succeeded(session: Session, event: events.DomainEvent) -> None:
    """Subscriber for `payment.succeeded`: the paid assessment needs its security no longer."""
    security = session.scalar(
        select(Security).where(
            Security.declaration_id == uuid.UUID(event.data["declaration_id"]),
            Security.assessment_version == event.data["assessment_version"],
        )
    )
    if security is not None:
        _release(session, security, event.actor, None)


# ---------------------------------------------------------------- what assessments make owed


@dataclass(frozen=True, slots=True)
class Due:
    """What a declaration owes after one version of its assessment (beyond what was paid before)."""

    declaration_id: uuid.UUID
    assessment_version: int
    party_id: str  # the declarant
    amount: Decimal  # >= 0
    currency: str
    at: datetime | None = None  # when it became owed (the assessment's time); now if not given


@dataclass(frozen=True, slots=True)
class Standing:
    """Whether what a declaration owes is paid or secured, so that its goods may be released."""

    owed: Decimal
    currency: str
    order_id: uuid.UUID | None = None
    paid: bool = False
    secured: bool = False

    @property
    def settled(self) -> bool:
        return self.owed == 0 or self.paid or self.secured


def settle(
    session: Session, *, dues: list[Due], actor: str, replacing: bool = True
) -> dict[uuid.UUID, Standing]:
    """Make each declaration owe what its newest assessment says, in a few statements per batch.

    Pending orders of earlier assessments are cancelled and their securities given back; each amount
    due gets a payment order, secured at once from the declarant's deferment account, else its
    guarantee, in that currency when the balance covers it (WTO TFA art. 7.3: release against a
    guarantee before payment). An assessment that owes nothing more needs neither."""
    if not dues:
        return {}
    now = utcnow()
    ids = [due.declaration_id for due in dues]
    if replacing:  # the assessor says when none of them owed anything before (a first assessment)
        _replace_earlier(session, ids, actor, dues[0].at or now)
    owing = [due for due in dues if due.amount > 0]
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "declaration_id": due.declaration_id,
            "assessment_version": due.assessment_version,
            "party_id": due.party_id,
            "amount": due.amount,
            "currency": due.currency,
            "state": schemas.OrderState.PENDING,
            "created_at": due.at or now,
            "created_by": actor,
        }
        for due in owing
    ]
    standings = {due.declaration_id: Standing(Decimal(0), due.currency) for due in dues}
    if not rows:
        return standings
    session.execute(insert(table(PaymentOrder)), rows)
    events.record(
        session,
        [
            dataclasses.replace(
                _event("payment.ordered", PaymentOrder(**row), actor, None), occurred_at=row["created_at"]
            )
            for row in rows
        ],
    )
    held = _hold(session, owing, actor, now)
    for due, row in zip(owing, rows, strict=True):
        standings[due.declaration_id] = Standing(
            due.amount, due.currency, row["id"], secured=due.declaration_id in held
        )
    return standings


def _replace_earlier(session: Session, declaration_ids: list[uuid.UUID], actor: str, at: datetime) -> None:
    """Cancel the pending orders and give back the securities of earlier assessments (on amendment)."""
    orders = table(PaymentOrder)
    pending = session.scalars(
        select(PaymentOrder).where(
            PaymentOrder.declaration_id.in_(declaration_ids),
            PaymentOrder.state == schemas.OrderState.PENDING,
        )
    ).all()
    for record in pending:
        session.execute(
            update(orders)
            .where(orders.c.id == record.id, orders.c.state == schemas.OrderState.PENDING)
            .values(state=schemas.OrderState.CANCELLED, cancelled_at=at)
        )
        event = _event("payment.cancelled", record, actor, None)
        replaced = dataclasses.replace(event, reason="replaced by a new assessment", occurred_at=at)
        events.record(session, [replaced])
    held = session.scalars(
        select(Security).where(
            Security.declaration_id.in_(declaration_ids), Security.state == schemas.SecurityState.SECURED
        )
    ).all()
    for security in held:
        _release(session, security, actor, None, at)


def _hold(session: Session, dues: list[Due], actor: str, now: datetime) -> set[uuid.UUID]:
    """Secure each due on its party's accounts in that currency (deferment first, then guarantee) while
    their balance covers it, in order; returns the declarations secured.

    Per account, one locked read of the balance (FOR UPDATE on PostgreSQL; a SQLite writer holds the
    whole database), the choice in Python, and one UPDATE that takes the sum and is still guarded by
    `balance >= sum`: the balance never goes below zero. Then the securities and their events in bulk."""
    wanted = {(due.party_id, due.currency) for due in dues}
    accounts = session.execute(
        select(Guarantee.id, Guarantee.party_id, Guarantee.currency, Guarantee.balance_milli)
        .where(
            Guarantee.party_id.in_({party for party, _ in wanted}),
            Guarantee.currency.in_({currency for _, currency in wanted}),
        )
        .order_by(Guarantee.kind, Guarantee.id)  # "deferment" sorts before "guarantee"
        .with_for_update()
    ).all()
    left = {account.id: int(account.balance_milli) for account in accounts}
    by_owner: dict[tuple[str, str], list[uuid.UUID]] = {}
    for account in accounts:
        by_owner.setdefault((account.party_id, account.currency), []).append(account.id)
    secured: list[tuple[dict[str, Any], Due]] = []
    for due in dues:
        milli = to_thousandths(due.amount)
        for account_id in by_owner.get((due.party_id, due.currency), []):
            if left[account_id] >= milli:
                left[account_id] -= milli
                secured.append(
                    (
                        {
                            "id": new_id(),
                            "guarantee_id": account_id,
                            "declaration_id": due.declaration_id,
                            "assessment_version": due.assessment_version,
                            "amount_milli": milli,
                            "state": schemas.SecurityState.SECURED,
                            "secured_at": due.at or now,
                            "secured_by": actor,
                        },
                        due,
                    )
                )
                break
    if not secured:
        return set()
    guarantees = table(Guarantee)
    for account in accounts:
        taken = int(account.balance_milli) - left[account.id]
        if taken == 0:
            continue
        done = session.execute(
            update(guarantees)
            .where(guarantees.c.id == account.id, guarantees.c.balance_milli >= taken)
            .values(balance_milli=guarantees.c.balance_milli - taken)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"guarantee {account.id} changed under its lock")
    session.execute(insert(table(Security)), [row for row, _ in secured])
    events.record(
        session,
        [
            _guarantee_event(
                "guarantee.secured",
                row["guarantee_id"],
                actor,
                None,
                at=row["secured_at"],
                security_id=str(row["id"]),
                declaration_id=str(row["declaration_id"]),
                assessment_version=row["assessment_version"],
                amount=schemas.amount_text(due.amount),
                currency=due.currency,
            )
            for row, due in secured
        ],
    )
    return {due.declaration_id for _, due in secured}


def paid(session: Session, *, declaration_ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """What was paid so far on each declaration (its paid orders, every assessment version)."""
    totals: dict[uuid.UUID, Decimal] = {}
    for declaration_id, amount in session.execute(
        select(PaymentOrder.declaration_id, PaymentOrder.amount).where(
            PaymentOrder.declaration_id.in_(declaration_ids), PaymentOrder.state == schemas.OrderState.PAID
        )
    ):
        totals[declaration_id] = totals.get(declaration_id, Decimal(0)) + Decimal(amount)
    return totals


def standing(session: Session, *, due: Due) -> Standing:
    """Whether `due` (the newest assessment's amount) is paid, or secured by the declarant's account."""
    if due.amount == 0:
        return Standing(Decimal(0), due.currency)
    order = session.scalar(
        select(PaymentOrder).where(
            PaymentOrder.declaration_id == due.declaration_id,
            PaymentOrder.assessment_version == due.assessment_version,
            PaymentOrder.state != schemas.OrderState.CANCELLED,
        )
    )
    secured = session.scalar(
        select(Security.amount_milli)
        .join(Guarantee, Guarantee.id == Security.guarantee_id)
        .where(
            Security.declaration_id == due.declaration_id,
            Security.assessment_version == due.assessment_version,
            Security.state == schemas.SecurityState.SECURED,
            Guarantee.party_id == due.party_id,
        )
    )
    return Standing(
        due.amount,
        due.currency,
        order.id if order else None,
        paid=order is not None and order.state == schemas.OrderState.PAID,
        secured=secured is not None and secured >= to_thousandths(due.amount),
    )
