"""Payment orders, callbacks, guarantees and reconciliation, against the database (both backends)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from customhouse import events
from customhouse.auth.service import Principal, Role
from customhouse.money import Money
from customhouse.payments import service
from customhouse.payments.demo import DemoGateway
from customhouse.payments.models import GatewayCallback, PaymentOrder
from customhouse.payments.schemas import NewGuarantee, NewSecurity
from customhouse.problems import Problem
from tests import factories
from tests.factories import OTHER_TRADER, TRADER
from tests.payments.helpers import (
    DECLARATION,
    OFFICER_P,
    OTHER_P,
    SUPERVISOR_P,
    TRADER_P,
    callback,
    new_order,
)

D = Decimal


@pytest.fixture
def gateway() -> DemoGateway:
    return DemoGateway(secret=b"s", webhook_url="/hook", send=lambda url, body, headers: 0)


def started(session, gateway):
    order, _ = service.create_order(session, order=new_order(), by=SUPERVISOR_P)
    payment = service.start_payment(session, order_id=order.id, by=TRADER_P, gateway=gateway)
    return order, payment.reference


# ---------------------------------------------------------------- orders


def test_one_order_per_assessment_version(session):
    order, created = service.create_order(session, order=new_order(), by=SUPERVISOR_P)
    again, created_again = service.create_order(
        session, order=new_order(amount=D("125000.00")), by=SUPERVISOR_P
    )
    assert (created, created_again) == (True, False)
    assert again.id == order.id and order.state == "pending" and order.amount == D("125000")
    with pytest.raises(Problem) as refused:
        service.create_order(session, order=new_order(amount=D("1")), by=SUPERVISOR_P)
    assert refused.value.status == 409 and refused.value.extra == {"order_id": str(order.id)}
    second, created = service.create_order(session, order=new_order(assessment_version=2), by=SUPERVISOR_P)
    assert created and second.id != order.id


def test_orders_come_from_assessments_a_trader_issues_none(session):
    with pytest.raises(Problem) as refused:
        service.create_order(session, order=new_order(), by=TRADER_P)
    assert refused.value.status == 403 and "come from assessments" in refused.value.detail
    assert session.scalar(select(func.count()).select_from(PaymentOrder)) == 0


def test_another_trader_cannot_see_an_order(session):
    order, _ = service.create_order(session, order=new_order(), by=SUPERVISOR_P)
    with pytest.raises(Problem) as hidden:
        service.get_order(session, order_id=order.id, by=OTHER_P)
    assert hidden.value.status == 404
    assert service.get_order(session, order_id=order.id, by=OFFICER_P).id == order.id


def test_a_broker_pays_for_a_client_that_gave_it_a_mandate(session, gateway):
    factories.world(session)
    order, _ = service.create_order(session, order=new_order(), by=SUPERVISOR_P)
    broker = Principal("broker", frozenset({Role.BROKER}), party_id=factories.BROKER)
    assert service.start_payment(session, order_id=order.id, by=broker, gateway=gateway).reference
    other, _ = service.create_order(
        session, order=new_order(party_id=OTHER_TRADER, assessment_version=2), by=SUPERVISOR_P
    )
    with pytest.raises(Problem):
        service.start_payment(session, order_id=other.id, by=broker, gateway=gateway)


def test_starting_twice_gives_the_same_payment_page(session, gateway):
    order, reference = started(session, gateway)
    again = service.start_payment(session, order_id=order.id, by=TRADER_P, gateway=gateway)
    assert again.reference == reference and again.redirect_url == f"/demo-gateway/pay/{reference}"
    assert len(gateway.records(session)) == 1


# ---------------------------------------------------------------- callbacks


def test_a_successful_callback_pays_the_order_and_tells_the_declaration(session, gateway):
    order, reference = started(session, gateway)
    assert service.apply_callback(session, gateway="demo", callback=callback(reference)) == "applied"
    paid = service.get_order(session, order_id=order.id, by=TRADER_P)
    assert (paid.state, paid.payer) == ("paid", "Kim Minji")
    succeeded = [
        e for e in events.history(session, "payment_order", str(order.id)) if e.type == "payment.succeeded"
    ]
    assert len(succeeded) == 1
    assert succeeded[0].data["declaration_id"] == str(DECLARATION)
    assert succeeded[0].data["assessment_version"] == 1
    assert succeeded[0].data["amount"] == "125000" and succeeded[0].data["currency"] == "KRW"


def test_duplicate_and_late_callbacks_change_nothing(session, gateway):
    order, reference = started(session, gateway)
    service.apply_callback(session, gateway="demo", callback=callback(reference))
    assert service.apply_callback(session, gateway="demo", callback=callback(reference)) == "duplicate"
    late_failure = callback(reference, status="failed", event_id="evt_0")
    assert service.apply_callback(session, gateway="demo", callback=late_failure) == "ignored"
    twin = callback(reference, event_id="evt_2")  # same payment reported under another event id
    assert service.apply_callback(session, gateway="demo", callback=twin) == "ignored"
    assert service.get_order(session, order_id=order.id, by=TRADER_P).state == "paid"
    types = [e.type for e in events.history(session, "payment_order", str(order.id))]
    assert types.count("payment.succeeded") == 1
    outcomes = session.scalars(select(GatewayCallback.outcome).order_by(GatewayCallback.id)).all()
    assert outcomes == ["applied", "duplicate", "ignored", "ignored"]


def test_a_failure_then_a_success_pays(session, gateway):
    order, reference = started(session, gateway)
    failure = callback(reference, status="failed", event_id="evt_a")
    assert service.apply_callback(session, gateway="demo", callback=failure) == "failed"
    assert service.get_order(session, order_id=order.id, by=TRADER_P).state == "pending"
    assert (
        service.apply_callback(session, gateway="demo", callback=callback(reference, event_id="evt_b"))
        == "applied"
    )


def test_a_callback_for_another_amount_or_an_unknown_payment_pays_nothing(session, gateway):
    order, reference = started(session, gateway)
    short = callback(reference, amount="124999")
    assert service.apply_callback(session, gateway="demo", callback=short) == "amount-mismatch"
    unknown = callback("demo_nope", event_id="evt_x")
    assert service.apply_callback(session, gateway="demo", callback=unknown) == "unknown-reference"
    assert service.get_order(session, order_id=order.id, by=TRADER_P).state == "pending"


def test_a_cancelled_order_is_not_paid_and_a_paid_one_is_not_cancelled(session, gateway):
    order, reference = started(session, gateway)
    cancelled = service.cancel_order(session, order_id=order.id, by=TRADER_P, reason="amended")
    assert cancelled.state == "cancelled"
    assert service.apply_callback(session, gateway="demo", callback=callback(reference)) == "ignored"
    other, _ = service.create_order(session, order=new_order(assessment_version=2), by=SUPERVISOR_P)
    payment = service.start_payment(session, order_id=other.id, by=TRADER_P, gateway=gateway)
    service.apply_callback(session, gateway="demo", callback=callback(payment.reference, event_id="evt_9"))
    with pytest.raises(Problem) as refused:
        service.cancel_order(session, order_id=other.id, by=TRADER_P, reason=None)
    assert refused.value.status == 409 and refused.value.slug == "invalid-state"


# ---------------------------------------------------------------- reconciliation


def test_reconciliation_lists_each_disagreement(session, gateway):
    order, reference = started(session, gateway)
    assert service.reconcile(session, gateway=gateway) == []  # created, not charged: nothing owed yet
    gateway.charge(session, reference=reference, payer="Kim", succeed=True)  # the callback never came
    [found] = service.reconcile(session, gateway=gateway)
    assert (found.reference, found.order_id, found.gateway_status, found.ledger_state) == (
        reference,
        str(order.id),
        "succeeded",
        "pending",
    )
    assert "the gateway charged it" in found.problem
    service.apply_callback(session, gateway="demo", callback=callback(reference))
    assert service.reconcile(session, gateway=gateway) == []


def test_reconciliation_finds_a_paid_order_the_gateway_did_not_charge(session, gateway):
    _, reference = started(session, gateway)
    service.apply_callback(session, gateway="demo", callback=callback(reference))  # a forged or lost record
    [found] = service.reconcile(session, gateway=gateway)
    assert found.gateway_status == "created" and found.ledger_state == "paid"
    assert "the gateway says created" in found.problem


# ---------------------------------------------------------------- guarantees


@pytest.fixture
def guarantee(session):
    factories.world(session)
    return service.open_guarantee(
        session,
        guarantee=NewGuarantee(party_id=TRADER, kind="guarantee", limit=D("1000.50"), currency="KRW"),
        by=SUPERVISOR_P,
    )


def security(amount: str, version: int = 1, currency: str = "KRW") -> NewSecurity:
    return NewSecurity(
        declaration_id=DECLARATION, assessment_version=version, amount=D(amount), currency=currency
    )


def test_securing_takes_from_the_balance_and_releasing_gives_it_back_once(session, guarantee):
    held, created = service.secure(
        session, guarantee_id=guarantee.id, security=security("400.25"), by=TRADER_P
    )
    assert created and held.state == "secured"
    assert service.balance(session, guarantee_id=guarantee.id) == Money(D("600.25"), "KRW")
    again, created = service.secure(
        session, guarantee_id=guarantee.id, security=security("400.25"), by=TRADER_P
    )
    assert not created and again.id == held.id
    assert service.balance(session, guarantee_id=guarantee.id) == Money(D("600.25"), "KRW")
    released = service.release_security(session, security_id=held.id, by=OFFICER_P)
    assert released.state == "released"
    service.release_security(session, security_id=held.id, by=OFFICER_P)
    assert service.balance(session, guarantee_id=guarantee.id) == Money(D("1000.5"), "KRW")


def test_a_short_balance_refuses_and_changes_nothing(session, guarantee):
    service.secure(session, guarantee_id=guarantee.id, security=security("1000"), by=TRADER_P)
    with pytest.raises(Problem) as refused:
        service.secure(session, guarantee_id=guarantee.id, security=security("0.51", version=2), by=TRADER_P)
    assert refused.value.status == 409 and refused.value.extra == {"balance": "0.5"}
    held, _ = service.secure(
        session, guarantee_id=guarantee.id, security=security("0.5", version=2), by=TRADER_P
    )
    assert service.balance(session, guarantee_id=guarantee.id) == Money(D(0), "KRW")
    assert held.amount == D("0.5")


def test_only_the_party_secures_and_only_in_the_guarantees_currency(session, guarantee):
    with pytest.raises(Problem) as refused:
        service.secure(session, guarantee_id=guarantee.id, security=security("1"), by=OTHER_P)
    assert refused.value.status == 404  # another trader does not even see it
    with pytest.raises(Problem) as refused:
        service.secure(
            session, guarantee_id=guarantee.id, security=security("1", currency="USD"), by=TRADER_P
        )
    assert refused.value.status == 422 and refused.value.errors[0].pointer == "/currency"
    with pytest.raises(Problem) as refused:
        service.open_guarantee(
            session,
            guarantee=NewGuarantee(party_id=TRADER, kind="deferment", limit=D(5), currency="KRW"),
            by=TRADER_P,
        )
    assert refused.value.status == 403


def test_payment_releases_the_security_of_the_paid_assessment(session, guarantee, gateway):
    service.secure(session, guarantee_id=guarantee.id, security=security("300"), by=TRADER_P)
    order, reference = started(session, gateway)
    service.apply_callback(session, gateway="demo", callback=callback(reference))
    [paid] = [
        e for e in events.history(session, "payment_order", str(order.id)) if e.type == "payment.succeeded"
    ]
    service.on_payment_succeeded(session, paid)
    service.on_payment_succeeded(session, paid)  # delivered twice: released once
    assert service.balance(session, guarantee_id=guarantee.id) == Money(D("1000.5"), "KRW")


def test_unknown_ids_are_not_found(session, guarantee):
    for call in (
        lambda: service.get_order(session, order_id=uuid.uuid4(), by=SUPERVISOR_P),
        lambda: service.get_guarantee(session, guarantee_id=uuid.uuid4(), by=SUPERVISOR_P),
        lambda: service.release_security(session, security_id=uuid.uuid4(), by=SUPERVISOR_P),
    ):
        with pytest.raises(Problem) as missing:
            call()
        assert missing.value.status == 404
