"""The assessment belongs to the declaration: made after acceptance and again after each amendment or
control correction (the event dispatcher calls `declarations.service.assess`; these tests call it as
the dispatcher would), stored per version, and what it owes is paid or secured before the goods go.

Hand-computed case (the demo tariff, an invoice in KRW so that no exchange rate is involved):
phones 851713 at 1,000,000 KRW (MFN-85 0 %) and T-shirts 610910 at 500,000 KRW (MFN-61 13 %), CIF:
customs 0 + 65,000; VAT 10 % of 1,000,000 and of 565,000 = 100,000 + 56,500; total 221,500 KRW.
With the T-shirts of German origin under the KR-EU preference (proof 861): customs 0, VAT 50,000 on
them: total 150,000 KRW.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from customhouse.assessment import service as assessments
from customhouse.assessment.breakdown import landed_cost
from customhouse.assessment.currency import ecb_rates
from customhouse.assessment.schemas import LandedCostRequest
from customhouse.auth.service import Principal, Role
from customhouse.config import Settings
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Control, Declaration
from customhouse.declarations.service import Policy
from customhouse.payments import service as payments
from customhouse.payments.demo import DemoGateway
from customhouse.payments.models import PaymentOrder
from customhouse.problems import Problem
from customhouse.risk import history
from customhouse.tariff import schemas as tariff_schemas
from customhouse.tariff import service as tariff_service
from tests import factories
from tests.factories import OTHER_TRADER, TRADER
from tests.payments.helpers import callback
from tests.tariff.conftest import DEMO_TEXT

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday with ECB rates
TRADER_P = Principal("trader", frozenset({Role.TRADER}), party_id=TRADER)
OTHER_P = Principal("other", frozenset({Role.TRADER}), party_id=OTHER_TRADER)
OFFICER_P = Principal("officer", frozenset({Role.OFFICER}), offices=frozenset({"KR000040"}))
AUDITOR = Principal("auditor", frozenset({Role.AUDITOR}))
ORIGIN_PROOF = {"type": "861", "reference": "EUR.1-42", "issued_on": "2026-01-11"}


def in_krw(**overrides: Any) -> dict[str, Any]:
    document = factories.declaration(invoice_currency="KRW", invoice_total="1500000", **overrides)
    document["goods_items"][0]["price"] = "1000000"
    document["goods_items"][1]["price"] = "500000"
    return document


def german_tshirts(document: dict[str, Any]) -> dict[str, Any]:
    document = {**document, "documents": [*document["documents"], ORIGIN_PROOF]}
    document["goods_items"] = [dict(item) for item in document["goods_items"]]
    document["goods_items"][1].update(origin="DE", preference="300")
    return document


def party(document: dict[str, Any], party_id: str) -> dict[str, Any]:
    named = {"id": party_id, "name": "Daehan Imports", "country": "KR"}
    return {**document, "declarant": named, "importer": named}


@pytest.fixture
def world(session: Session) -> Session:
    factories.world(session)  # the demo tariff; TRADER has a deferment account, OTHER_TRADER none
    return session


def lodge(
    session: Session, policy: Policy, document: dict[str, Any], by: Principal = TRADER_P
) -> Declaration:
    declaration = declarations.lodge(session, document=document, by=by, policy=policy, at=AT).declaration
    assert declaration is not None
    return assessed(session, policy, declaration)


def assessed(session: Session, policy: Policy, declaration: Declaration) -> Declaration:
    """What the dispatcher does after the change: assess, release what is green and settled."""
    declarations.assess(session, declaration_id=declaration.id, policy=policy, at=declaration.updated_at)
    return declarations.get(session, declaration_id=declaration.id, by=AUDITOR)


def amend(
    session: Session, policy: Policy, declaration: Declaration, document: dict[str, Any]
) -> Declaration:
    amended = declarations.amend(
        session,
        declaration_id=declaration.id,
        document=document,
        by=TRADER_P if document["declarant"]["id"] == TRADER else OTHER_P,
        policy=policy,
        expected_revision=declaration.revision,
        at=AT + timedelta(hours=declaration.revision),
    )
    return assessed(session, policy, amended)


def newest(session: Session, declaration: Declaration) -> assessments.Assessment:
    return assessments.assessments(session, declaration_id=declaration.id)[-1]


def lines(assessment: assessments.Assessment) -> list[tuple[int, str, str, Decimal]]:
    return [
        (item.sequence, line.tax, line.measure, line.amount.amount)
        for item in assessment.breakdown.items
        for line in item.lines
    ]


def test_acceptance_assesses_line_by_line_and_the_deferment_account_secures_it(world, policy):
    declaration = lodge(world, policy, in_krw())
    assert (declaration.lane, declaration.state) == ("green", "released")
    assessment = newest(world, declaration)
    assert lines(assessment) == [
        (1, "customs", "MFN-85", Decimal(0)),
        (1, "vat", "VAT", Decimal(100_000)),
        (2, "customs", "MFN-61", Decimal(65_000)),
        (2, "vat", "VAT", Decimal(56_500)),
    ]
    assert (assessment.total, assessment.owed, assessment.settled) == (221_500, 221_500, True)
    assert assessment.date_of_law == AT.date() and assessment.version == 1
    assert assessment.breakdown.items[1].lines[1].formula  # each line shows its formula
    assert sum(amount for *_, amount in lines(assessment)) == assessment.total
    order = world.get(PaymentOrder, assessment.order_id)
    assert order is not None and (order.amount, order.state, order.party_id) == (221_500, "pending", TRADER)


def test_an_estimate_and_the_assessment_agree(world, policy):
    from customhouse.advisory import service as advisory
    from customhouse.assessment.schemas import LandedCostRequest

    document = factories.declaration()  # in USD: the ECB rate of the acceptance date
    assessment = newest(world, lodge(world, policy, document))
    request = LandedCostRequest.model_validate(
        {
            "invoice_currency": "USD",
            "incoterm": "CIF",
            "date": AT.date().isoformat(),
            "goods_items": [
                {"hs_code": item["hs_code"], "origin": item["origin"], "price": item["price"]}
                for item in document["goods_items"]
            ],
        }
    )
    estimate = advisory.estimate(world, request=request, country="KR")
    assert estimate.duties_and_taxes == assessment.breakdown.duties_and_taxes
    assert estimate.exchange_rate == assessment.breakdown.exchange_rate


def test_without_an_account_the_goods_wait_for_payment_and_go_when_it_arrives(world, policy):
    declaration = lodge(world, policy, party(in_krw(), OTHER_TRADER), by=OTHER_P)
    assert (declaration.lane, declaration.state) == ("green", "accepted")
    assessment = newest(world, declaration)
    assert (assessment.owed, assessment.settled) == (221_500, False)
    with pytest.raises(Problem) as refused:
        declarations.release(
            world, declaration_id=declaration.id, by=OFFICER_P, policy=policy, expected_revision=1
        )
    assert (refused.value.status, refused.value.slug) == (409, "not-settled")
    assert refused.value.extra == {"owed": "221500", "currency": "KRW", "order_id": str(assessment.order_id)}

    pay(world, assessment.order_id, OTHER_P, "221500")
    paid_event = next(event for event in pending_events(world) if event.type == "payment.succeeded")
    declarations.assessing(policy)(world, [paid_event])  # the subscriber to payment.succeeded
    released = declarations.get(world, declaration_id=declaration.id, by=OTHER_P)
    assert released.state == "released"
    trail = declarations.audit_trail(world, declaration_id=declaration.id, by=OTHER_P)
    assert trail[-1].event == "declaration.released" and trail[-1].data["settlement"] == "221500 KRW paid"


def pay(session: Session, order_id: uuid.UUID | None, by: Principal, amount: str) -> None:
    assert order_id is not None
    gateway = DemoGateway(secret=b"s", webhook_url="/hook")
    reference = payments.start_payment(session, order_id=order_id, by=by, gateway=gateway).reference
    assert (
        payments.apply_callback(session, gateway="demo", callback=callback(reference, amount=amount))
        == "applied"
    )


def pending_events(session: Session) -> list[Any]:
    from customhouse.events import DomainEvent, Event, OutboxEntry

    rows = session.scalars(
        select(Event).join(OutboxEntry, OutboxEntry.event_id == Event.event_id).order_by(Event.id)
    )
    return [DomainEvent.from_row(row) for row in rows]


def under_control(document: dict[str, Any]) -> dict[str, Any]:
    """Without its transport document: the yellow lane, so that amendments do not release the goods."""
    return {**document, "documents": [d for d in document["documents"] if d["type"] != "705"]}


def test_an_amendment_downwards_after_payment_is_a_refund(world, policy):
    declaration = lodge(world, policy, party(in_krw(), OTHER_TRADER), by=OTHER_P)
    first = newest(world, declaration)
    pay(world, first.order_id, OTHER_P, "221500")

    cheaper = amend(world, policy, declaration, german_tshirts(party(in_krw(), OTHER_TRADER)))
    second = newest(world, cheaper)
    assert (second.version, second.total, second.difference) == (2, 150_000, -71_500)
    assert (second.paid_before, second.owed, second.refund, second.settled) == (221_500, 0, 71_500, True)
    assert "preference KR-EU replaces the third-country duty" in second.breakdown.items[1].notes
    assert cheaper.state == "released"  # green, and nothing more to pay


def test_amending_back_restores_the_assessment_and_what_was_paid_counts(world, policy):
    base = under_control(party(in_krw(), OTHER_TRADER))
    declaration = lodge(world, policy, base, by=OTHER_P)
    first = newest(world, declaration)
    pay(world, first.order_id, OTHER_P, "221500")
    cheaper = amend(world, policy, declaration, german_tshirts(base))
    back = amend(world, policy, cheaper, base)
    third = newest(world, back)
    assert lines(third) == lines(first) and third.total == first.total
    assert (third.difference, third.owed, third.refund) == (71_500, 0, 0)  # paid before: nothing owed


def test_an_amendment_upwards_owes_only_the_difference_and_replaces_the_pending_order(world, policy):
    declaration = lodge(world, policy, german_tshirts(party(in_krw(), OTHER_TRADER)), by=OTHER_P)
    first = newest(world, declaration)
    pay(world, first.order_id, OTHER_P, "150000")
    dearer = amend(world, policy, declaration, party(in_krw(), OTHER_TRADER))
    second = newest(world, dearer)
    assert (second.total, second.paid_before, second.owed, second.settled) == (
        221_500,
        150_000,
        71_500,
        False,
    )
    order = world.get(PaymentOrder, second.order_id)
    assert order is not None and (order.amount, order.assessment_version, order.state) == (
        71_500,
        2,
        "pending",
    )
    unpaid = amend(world, policy, dearer, german_tshirts(party(in_krw(), OTHER_TRADER)))
    assert newest(world, unpaid).owed == 0
    world.refresh(order)
    assert order.state == "cancelled"  # nothing more to pay: the pending order is withdrawn


def test_a_control_correction_is_assessed_by_the_officer(world, policy):
    document = in_krw()
    document["documents"] = document["documents"][:1]  # no transport document: yellow lane
    declaration = lodge(world, policy, document)
    assert declaration.state == "under_control"
    corrected = declarations.record_control(
        world,
        declaration_id=declaration.id,
        by=OFFICER_P,
        policy=policy,
        expected_revision=declaration.revision,
        control=Control.model_validate(
            {
                "outcome": "irregularity",
                "irregularity": "undervaluation",
                "corrections": [
                    {"pointer": "/goods_items/1/price", "value": "700000"},
                    {"pointer": "/invoice_total", "value": "1700000"},
                ],
            }
        ),
        at=AT + timedelta(hours=3),
    )
    assessment = newest(world, assessed(world, policy, corrected))
    assert (assessment.version, assessment.total) == (2, 100_000 + 91_000 + 79_100)  # 13 % of 700,000; VAT
    assert assessment.date_of_law == AT.date()  # the law of the acceptance date, not of the correction
    # what the correction brought in is the revenue the risk model learns the stake of irregularities from
    first = assessments.assessments(world, declaration_id=declaration.id)[0]
    added = assessment.total - first.total
    assert first.version == 1 and added > 0
    assert assessments.recovered(world, declaration_ids=[declaration.id]) == {declaration.id: added}
    assert sum(case.recovered for case in history.recoveries(world)) == pytest.approx(float(added))


def test_exports_owe_nothing_and_go_at_once(world, policy):
    declaration = lodge(world, policy, factories.export_document())
    assert declaration.state == "released"
    assert assessments.assessments(world, declaration_id=declaration.id) == []


def test_without_a_rate_or_a_tariff_nothing_is_stored(world, policy, settings: Settings):
    from customhouse.app import policy_from

    strict = policy_from(settings.model_copy(update={"rate_look_back_days": 7}))
    before = world.scalar(select(func.count()).select_from(PaymentOrder))
    late = datetime(2099, 1, 5, tzinfo=UTC)  # the tariff is in force; the bundled rates end long before
    lodged = declarations.lodge(world, document=factories.declaration(), by=TRADER_P, policy=strict, at=late)
    assert lodged.declaration is not None and lodged.declaration.state == "accepted"
    with pytest.raises(Problem) as refused:  # raised: the dispatcher retries until rates arrive
        declarations.assess(world, declaration_id=lodged.declaration.id, policy=strict)
    assert (refused.value.status, refused.value.slug) == (503, "not-assessable")
    assert "USD" in refused.value.detail and "rate data ends" in refused.value.detail
    assert world.scalar(select(func.count()).select_from(PaymentOrder)) == before
    with pytest.raises(Problem) as held:
        declarations.release(
            world, declaration_id=lodged.declaration.id, by=OFFICER_P, policy=strict, expected_revision=1
        )
    assert held.value.slug == "not-settled" and "not assessed yet" in held.value.detail


def test_a_missing_alcoholic_strength_is_refused_naming_the_field_until_amended(world, policy):
    document = under_control(in_krw())
    document["goods_items"][1].update(hs_code="220830", description="Whisky", unit="LTR", quantity="100")
    declaration = lodge(world, policy, document)
    assert assessments.assessments(world, declaration_id=declaration.id) == []
    trail = declarations.audit_trail(world, declaration_id=declaration.id, by=AUDITOR)
    refused = trail[-1]
    assert (refused.event, refused.actor) == ("declaration.assessment_refused", "customhouse")
    assert refused.data["errors"][0]["pointer"] == "/goods_items/1/quantity"
    assert "alcohol strength" in refused.data["errors"][0]["detail"]
    document["goods_items"][1]["alcohol_strength"] = "40"
    excise = [
        line
        for line in lines(newest(world, amend(world, policy, declaration, document)))
        if line[1] == "excise"
    ]
    assert excise and excise[0][3] > 0


def test_a_reassessment_gives_back_the_quota_it_drew(world, policy):
    milk = {"hs_code": "040291", "description": "Condensed milk", "unit": "KGM", "quantity": "1000"}
    document = under_control(in_krw())
    document["goods_items"][1].update(milk)
    before = tariff_service.balance(world, quota_id="Q-0402")
    declaration = lodge(world, policy, document)
    assert tariff_service.balance(world, quota_id="Q-0402") == before - 100  # net mass: 100 kg
    again = amend(world, policy, declaration, {**document, "lrn": document["lrn"]})
    assert tariff_service.balance(world, quota_id="Q-0402") == before - 100  # given back, drawn again
    assert newest(world, again).breakdown.items[1].lines[0].measure == "TQ-0402"


# ---------------------------------------------------------------- amend and amend back, any change

PRICES = st.decimals(min_value=Decimal("1000"), max_value=Decimal("90000000"), places=0)
ORIGINS = st.sampled_from(["CN", "DE", "VN", "BD"])
CODES = st.sampled_from(["610910", "851713", "420222", "940360", "392690", "847130"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prices=st.tuples(PRICES, PRICES), origins=st.tuples(ORIGINS, ORIGINS), codes=st.tuples(CODES, CODES))
def test_amending_and_amending_back_gives_the_original_assessment(world, policy, prices, origins, codes):
    with world.begin_nested() as attempt:
        base = under_control(german_tshirts(in_krw(lrn=f"P-{uuid.uuid4().hex[:10]}")))
        declaration = lodge(world, policy, base)
        original = newest(world, declaration)
        changed = under_control(german_tshirts(in_krw(lrn=base["lrn"])))
        changed["invoice_total"] = str(sum(prices))
        for item, price, origin, code in zip(changed["goods_items"], prices, origins, codes, strict=True):
            item.update(price=str(price), origin=origin, hs_code=code)
        amended = amend(world, policy, declaration, changed)
        restored = newest(world, amend(world, policy, amended, base))
        assert lines(restored) == lines(original)
        assert restored.breakdown.items == original.breakdown.items
        assert restored.total == original.total and restored.owed == original.owed
        assert all(amount >= 0 for *_, amount in lines(newest(world, amended)))
        attempt.rollback()


# ---------------------------------------------------------------- the whole assessment adds up

ITEMS = st.lists(
    st.tuples(
        st.sampled_from(["610910", "851713", "720851", "040291", "220830", "940360", "020230"]),
        st.sampled_from(["CN", "DE", "VN", "BD", "US"]),
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000000"), places=2),
        st.decimals(min_value=Decimal("0.001"), max_value=Decimal("90000"), places=3),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


DEMO = tariff_schemas.to_tariff(tariff_schemas.parse(DEMO_TEXT, file="demo-tariff.yaml"))


@settings(max_examples=150, deadline=None)
@given(
    items=ITEMS,
    invoice_currency=st.sampled_from(["USD", "EUR", "JPY", "KRW"]),
    incoterm=st.sampled_from(["CIF", "FOB", "EXW", "DAP", "CFR"]),
    freight=st.decimals(min_value=0, max_value=Decimal("100000"), places=2),
    insurance=st.decimals(min_value=0, max_value=Decimal("10000"), places=2),
)
def test_an_assessment_adds_up_and_owes_nothing_negative(
    items, invoice_currency, incoterm, freight, insurance
):
    def grant(quota: Any, wanted: Decimal) -> tuple[Decimal, str]:
        return wanted / 2, "half granted"  # half of what is asked: the split between the two rates

    request = LandedCostRequest.model_validate(
        {
            "invoice_currency": invoice_currency,
            "incoterm": incoterm,
            "freight": str(freight),
            "insurance": str(insurance),
            "goods_items": [
                {
                    "hs_code": hs,
                    "origin": origin,
                    "price": str(price),
                    "net_mass": str(mass),
                    "quantity": str(mass),
                    "unit": "LTR" if hs.startswith("22") else "KGM",
                    "alcohol_strength": "40" if hs.startswith("22") else None,
                    "preference_claimed": claimed,
                    "proof_of_origin": claimed,
                }
                for hs, origin, price, mass, claimed in items
            ],
        }
    )
    result = landed_cost(DEMO, request, on=AT.date(), grant=grant, rates=ecb_rates())
    every_line = [line.amount.amount for item in result.items for line in item.lines]
    assert all(amount >= 0 for amount in every_line)
    assert sum(every_line) == result.duties_and_taxes.amount
    assert sum(total.amount for total in result.by_tax.values()) == result.duties_and_taxes.amount
    assert sum(item.customs_value.amount for item in result.items) == result.customs_value.amount
    assert sum(item.duties_and_taxes.amount for item in result.items) == result.duties_and_taxes.amount
    assert result.landed_cost.amount == result.customs_value.amount + result.duties_and_taxes.amount
    assert all(amount == amount.to_integral_value() for amount in every_line)  # KRW: whole won, per line
