"""The model registry: train on stored declarations and control outcomes, promote, roll back; scoring in
the lodgement path uses the promoted version from the next lodgement on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from customhouse import events
from customhouse.declarations.schemas import Lane
from customhouse.declarations.service import Policy
from customhouse.problems import Problem
from customhouse.risk import history, service
from customhouse.risk.lanes import Parameters
from customhouse.risk.lanes import trace as trace_of
from customhouse.risk.revenue import RevenueRates
from customhouse.risk.selector import RiskSelector
from tests import factories
from tests.risk.stored import START, SUPERVISOR, control, deliver, dispatcher, lodge, with_selector

NEVER = lambda: 1.0  # noqa: E731
DAYS = 30


def items(price: str, seller_hint: int) -> list[dict[str, object]]:
    first = {**factories.BASE["goods_items"][0], "price": "1000.00"}
    second = {**factories.BASE["goods_items"][1], "price": price, "net_mass": str(90 + seller_hint)}
    return [first, second]


def seed_history(session: Session, policy: Policy, n: int = 90) -> None:
    """n declarations over DAYS days, all controlled: those of seller 'Cheap' are irregular."""
    for i in range(n):
        cheap = i % 3 == 0
        seller = {"name": "Cheap Textiles" if cheap else f"Fair Seller {i % 5}", "country": "CN"}
        price = Decimal("40.00") if cheap else Decimal("500.00") + i % 7
        declaration = lodge(
            session,
            policy,
            at=START + timedelta(days=i % DAYS, minutes=i),
            seller=seller,
            goods_items=items(f"{price:.2f}", i % 5),
            invoice_total=f"{Decimal('1000.00') + price:.2f}",
        )
        # an undervaluation brings in KRW 100 per USD declared
        revenue = (Decimal("1000.00") + price) * 100 if cheap else None
        control(session, policy, declaration, irregular=cheap, revenue=revenue)
    session.commit()


@pytest.fixture
def stored(session: Session, policy: Policy, tokens: dict[str, str]) -> Policy:
    seed_history(session, policy)
    return policy


def test_history_maps_stored_declarations_and_their_last_control_outcome(
    session: Session, stored: Policy
) -> None:
    data = history.labelled(session)
    assert len(data) == 90 and int(data.labels.sum()) == 30
    assert data.records["seller"][0] == "Cheap Textiles" and data.labels[0] == 1
    assert data.records["hs6"][0] == "851713"  # the most valuable item (1000.00)
    assert list(data.records["date"]) == sorted(data.records["date"])


def test_train_promote_and_roll_back_take_effect_for_the_next_lodgement(
    session: Session, sessions: sessionmaker[Session], stored: Policy
) -> None:
    policy = with_selector(stored, RiskSelector(sessions, Parameters(), max_age=3600.0, uniform=NEVER))
    first = service.train(session, by=SUPERVISOR)
    session.commit()
    assert (first.version, first.promoted, first.rows) == (1, False, 90)
    assert first.trained_to - first.trained_from == timedelta(days=DAYS - 1)
    assert first.metrics["holdout_rows"] > 0 and len(first.metrics["quantiles"]) == 101
    assert first.metrics["auc"] > 0.9  # the cheap seller is easy to tell
    assert trace_of(lodge(session, policy).lane_reasons).source == "documents"  # not promoted yet

    service.promote(session, version=1, by=SUPERVISOR)
    session.commit()
    cheap = dict(seller={"name": "Cheap Textiles", "country": "CN"}, goods_items=items("40.00", 0))
    scored = lodge(session, policy, invoice_total="1040.00", **cheap)
    found = trace_of(scored.lane_reasons)
    assert (found.source, found.model_version) == ("model", 1)
    assert scored.lane is not Lane.GREEN and found.probability is not None and found.probability > 0.5
    fair = lodge(session, policy, seller={"name": "Fair Seller 1", "country": "CN"})
    assert trace_of(fair.lane_reasons).model_version == 1
    assert trace_of(fair.lane_reasons).probability < found.probability  # type: ignore[operator]

    second = service.train(session, by=SUPERVISOR, seed=1)
    service.promote(session, version=second.version, by=SUPERVISOR)
    session.commit()
    assert trace_of(lodge(session, policy).lane_reasons).model_version == 2
    assert [m.version for m in service.list_models(session) if m.promoted] == [2]

    service.rollback(session, by=SUPERVISOR)
    session.commit()
    assert trace_of(lodge(session, policy).lane_reasons).model_version == 1
    service.rollback(session, by=SUPERVISOR)  # nothing was promoted before v1: no model
    session.commit()
    assert service.promoted_version(session) is None
    assert trace_of(lodge(session, policy).lane_reasons).source == "documents"
    with pytest.raises(Problem) as nothing:
        service.rollback(session, by=SUPERVISOR)
    assert nothing.value.status == 409
    kinds = [e.type for e in events.history(session, "risk_model", "1")]
    assert kinds == ["risk.model_trained", "risk.model_promoted", "risk.model_promoted", "risk.model_demoted"]

    deliver(dispatcher(sessions))
    decisions = service.decisions(session, declaration_id=scored.id)
    assert decisions[0].model_version == 1 and decisions[0].source == "model"
    assert decisions[0].explanation and all(text.endswith(")") for text in decisions[0].explanation)
    assert "irregularity rate" in " ".join(decisions[0].explanation) or "unit value" in " ".join(
        decisions[0].explanation
    )
    (plain,) = service.decisions(session, declaration_id=fair.id)
    if plain.lane is Lane.GREEN:
        assert plain.explanation == []  # green lanes are not explained


def test_training_needs_outcomes_of_both_kinds(
    session: Session, policy: Policy, tokens: dict[str, str]
) -> None:
    for _ in range(3):
        lodge(session, policy)
    with pytest.raises(Problem) as refused:
        service.train(session, by=SUPERVISOR)
    assert refused.value.status == 422 and "too few control outcomes" in refused.value.detail
    with pytest.raises(Problem) as unknown:
        service.promote(session, version=42, by=SUPERVISOR)
    assert unknown.value.status == 404


def test_revenue_at_stake_is_learnt_from_recoveries_and_kept_with_each_decision(
    session: Session, sessions: sessionmaker[Session], stored: Policy
) -> None:
    trained = service.train(session, by=SUPERVISOR, national_currency="KRW")
    service.promote(session, version=trained.version, by=SUPERVISOR)
    session.commit()
    rates = RevenueRates.load(trained.revenue)
    assert rates is not None and (rates.currency, rates.cases) == ("KRW", 60)  # 30 irregular x 2 items
    assert rates.rate("USD", "85") == pytest.approx(100.0) and rates.rate("USD", "61") == pytest.approx(100.0)

    policy = with_selector(stored, RiskSelector(sessions, Parameters(), max_age=3600.0, uniform=NEVER))
    cheap = dict(seller={"name": "Cheap Textiles", "country": "CN"}, goods_items=items("40.00", 0))
    scored = lodge(session, policy, invoice_total="1040.00", **cheap)
    session.commit()
    found = trace_of(scored.lane_reasons)
    assert found.revenue_at_stake is not None and found.probability is not None
    assert abs(float(found.revenue_at_stake) - found.probability * 100 * 1040) <= 0.0005 * 100 * 1040 + 1
    deliver(dispatcher(sessions))
    (decision,) = service.decisions(session, declaration_id=scored.id)
    assert decision.revenue_at_stake == found.revenue_at_stake
