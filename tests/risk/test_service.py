"""Targeting profiles in the database, and the risk engine in the lodgement path (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from customhouse import events
from customhouse.config import Settings
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Lane, State
from customhouse.declarations.service import Policy
from customhouse.parties import service as parties
from customhouse.parties.models import RegisteredParty
from customhouse.problems import Problem
from customhouse.risk import service
from customhouse.risk.lanes import OfficeShares, Parameters
from customhouse.risk.models import Passes
from customhouse.risk.schemas import Conditions, ProfileChange, ProfileIn, ProfileOut
from customhouse.risk.selector import RiskSelector, parameters_from
from tests import factories
from tests.risk.stored import START, SUPERVISOR, TRADER, control, deliver, dispatcher, lodge, with_selector

NEVER = lambda: 1.0  # noqa: E731


def profile(
    code: str = "CN-TEXTILES", lane: str = "red", priority: int = 100, **conditions: object
) -> ProfileIn:
    return ProfileIn(
        code=code,
        lane=lane,  # type: ignore[arg-type]
        priority=priority,
        reason=f"{code}: targeted",
        conditions=Conditions.model_validate(conditions or {"hs_prefixes": ["6109"], "origins": ["CN"]}),
    )


def risk_policy(policy: Policy, sessions: sessionmaker[Session], *, max_age: float = 3600.0) -> Policy:
    """The risk engine with a long max_age: only this process's commits make it reload."""
    return with_selector(policy, RiskSelector(sessions, Parameters(), max_age=max_age, uniform=NEVER))


def test_profiles_create_change_deactivate_with_events_and_revisions(session: Session) -> None:
    before = service.versions(session)
    created = service.create_profile(session, profile=profile(), by=SUPERVISOR)
    assert (created.revision, created.active, created.lane, created.hits) == (1, True, Lane.RED, 0)
    assert created.conditions.hs_prefixes == ["6109"]
    with pytest.raises(Problem) as conflict:
        service.create_profile(session, profile=profile(), by=SUPERVISOR)
    assert conflict.value.status == 409 and conflict.value.errors[0].pointer == "/code"

    changed = service.update_profile(
        session, profile_id=created.id, change=ProfileChange(lane="yellow", priority=5), by=SUPERVISOR
    )  # type: ignore[arg-type]
    assert (changed.revision, changed.lane, changed.priority) == (2, Lane.YELLOW, 5)
    assert changed.conditions == created.conditions  # untouched
    with pytest.raises(Problem) as empty:
        service.update_profile(
            session,
            profile_id=created.id,
            change=ProfileChange(valid_from=START, valid_to=START - timedelta(days=1)),
            by=SUPERVISOR,
        )
    assert empty.value.status == 422
    gone = service.deactivate_profile(session, profile_id=created.id, by=SUPERVISOR, reason="obsolete")
    assert (gone.active, gone.revision) == (False, 3)
    assert service.list_profiles(session, active=True) == []
    assert [p.code for p in service.list_profiles(session)] == ["CN-TEXTILES"]
    trail = events.history(session, "risk_profile", str(created.id))
    assert [e.type for e in trail] == [
        "risk.profile_created",
        "risk.profile_changed",
        "risk.profile_deactivated",
    ]
    assert trail[-1].reason == "obsolete" and trail[-1].actor == "supervisor"
    assert service.versions(session)["profiles"] == before["profiles"] + 3
    with pytest.raises(Problem) as missing:
        service.get_profile(session, profile_id=created.id + 99)
    assert missing.value.status == 404


def test_a_rule_selects_the_lane_at_lodgement_and_counts_hits_and_results(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    service.create_profile(session, profile=profile(), by=SUPERVISOR)
    session.commit()
    policy = risk_policy(policy, sessions)
    targeted = lodge(session, policy)  # item 2 is 610910 from CN
    elsewhere = lodge(
        session,
        policy,
        goods_items=[{**factories.BASE["goods_items"][0], "origin": "VN"}],
        invoice_total="1000.00",
    )
    session.commit()
    assert targeted.lane is Lane.RED and targeted.state is State.UNDER_CONTROL
    assert targeted.lane_reasons[0].startswith("rule CN-TEXTILES (profile ")
    assert elsewhere.lane is Lane.GREEN

    delivery = dispatcher(sessions)
    deliver(delivery)
    (decision,) = service.decisions(session, declaration_id=targeted.id)
    found = service.find_profile(session, code="CN-TEXTILES")
    assert (decision.source, decision.profile_id, decision.profile_revision) == ("rule", found.id, 1)
    assert decision.reasons == targeted.lane_reasons
    assert found.hits == 1
    (other,) = service.decisions(session, declaration_id=elsewhere.id)
    assert other.source == "documents" and other.profile_id is None

    control(session, policy, targeted, irregular=True)
    control(session, policy, elsewhere, irregular=False)
    session.commit()
    deliver(delivery)
    found = service.find_profile(session, code="CN-TEXTILES")
    assert (found.hits, found.controls, found.irregular) == (1, 1, 1)
    assert service.decisions(session, declaration_id=targeted.id)[0].outcome == "irregularity"
    deliver(delivery)  # nothing new: counted once
    assert service.find_profile(session, code="CN-TEXTILES").controls == 1


def test_a_rule_change_takes_effect_for_the_next_lodgement(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    policy = risk_policy(policy, sessions)
    assert lodge(session, policy).lane is Lane.GREEN  # loads the (empty) profiles
    created = service.create_profile(session, profile=profile(), by=SUPERVISOR)
    session.commit()
    assert lodge(session, policy).lane is Lane.RED
    service.update_profile(
        session, profile_id=created.id, change=ProfileChange(lane=Lane.YELLOW), by=SUPERVISOR
    )
    session.commit()
    changed = lodge(session, policy)
    assert changed.lane is Lane.YELLOW
    assert changed.lane_reasons[0].startswith(f"rule CN-TEXTILES (profile {created.id}, revision 2)")
    service.deactivate_profile(session, profile_id=created.id, by=SUPERVISOR)
    session.commit()
    assert lodge(session, policy).lane is Lane.GREEN


def test_another_process_change_is_seen_within_max_age(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    selector = RiskSelector(sessions, max_age=0.0, uniform=NEVER)  # reads the counters every time
    policy = with_selector(policy, selector)
    assert lodge(session, policy).lane is Lane.GREEN
    service.create_profile(session, profile=profile(), by=SUPERVISOR)
    session.flush()  # not committed: as seen from a selector that reads with the lodgement's session
    service.generation.value -= 1  # pretend this process did not commit it (another process did)
    selector.refresh(session)
    assert lodge(session, policy).lane is Lane.RED


def test_aeo_declarant_gets_the_lower_rate_through_the_register(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    session.get(RegisteredParty, factories.TRADER).aeo = True  # type: ignore[union-attr]
    session.commit()
    assert parties.aeo_parties(session) == frozenset({factories.TRADER})
    snapshot = service.snapshot(session)
    assert snapshot.aeo == frozenset({factories.TRADER}) and snapshot.scorer is None


def test_unit_value_band_from_stored_declarations(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    for price in ("490.00", "500.00", "510.00", "505.00", "495.00"):
        items = [factories.BASE["goods_items"][0], {**factories.BASE["goods_items"][1], "price": price}]
        lodge(session, policy, goods_items=items, invoice_total=f"{1000 + float(price):.2f}")
    assert service.refresh_bands(session) == 2
    service.create_profile(
        session,
        profile=profile("UNDERVALUED", "red", unit_value_sigmas=3.0, unit_value_side="below"),
        by=SUPERVISOR,
    )
    session.commit()
    policy = risk_policy(policy, sessions)
    cheap = [factories.BASE["goods_items"][0], {**factories.BASE["goods_items"][1], "price": "50.00"}]
    assert lodge(session, policy, goods_items=cheap, invoice_total="1050.00").lane is Lane.RED
    assert lodge(session, policy).lane is Lane.GREEN  # 500.00: inside the band


def test_evaluate_is_a_dry_run(session: Session, tokens: dict[str, str]) -> None:
    from customhouse.declarations.schemas import DeclarationDocument

    service.create_profile(session, profile=profile(), by=SUPERVISOR)
    document = DeclarationDocument.model_validate(factories.declaration())
    decision = service.evaluate(session, document=document)
    assert decision.lane is Lane.RED
    assert session.scalar(select(service.Profile.hits)) == 0


def test_lane_parameters_from_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parameters_from(settings) == Parameters()  # the settings' defaults are the engine's
    given = settings.model_copy(
        update={
            "risk_exploration": 0.05,
            "risk_aeo_factor": 0.25,
            "risk_office_shares": {"KR000040": (0.10, 0.02)},
            "risk_default_shares": (0.05, 0.01),
        }
    )
    parameters = parameters_from(given)
    assert (parameters.exploration, parameters.aeo_factor) == (0.05, 0.25)
    assert parameters.office_shares["KR000040"] == OfficeShares(0.10, 0.02)
    assert parameters.default_shares == OfficeShares(0.05, 0.01)
    with pytest.raises(ValueError, match="at least 2%"):
        parameters_from(settings.model_copy(update={"risk_exploration": 0.001}))
    # as an operator sets it
    monkeypatch.setenv("CUSTOMHOUSE_RISK_OFFICE_SHARES", '{"KR000040": [0.1, 0.03]}')
    assert Settings().risk_office_shares == {"KR000040": (0.1, 0.03)}


def test_an_amendment_is_selected_again_with_the_lodgement_session(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    service.create_profile(session, profile=profile("VN-TEXTILES", origins=["VN"]), by=SUPERVISOR)
    session.commit()
    policy = risk_policy(policy, sessions)
    lodged = lodge(session, policy)
    assert lodged.lane is Lane.GREEN
    items = [factories.BASE["goods_items"][0], {**factories.BASE["goods_items"][1], "origin": "VN"}]
    amended = declarations.amend(
        session,
        declaration_id=lodged.id,
        document=factories.declaration(lrn=lodged.document.lrn, goods_items=items),
        by=TRADER,
        policy=policy,
        expected_revision=lodged.revision,
    )
    assert amended.lane is Lane.RED
    assert amended.lane_reasons[0].startswith("rule VN-TEXTILES (profile ")


def test_an_acceptance_and_its_control_in_the_same_delivery_pass(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    service.create_profile(session, profile=profile(), by=SUPERVISOR)
    session.commit()
    policy = risk_policy(policy, sessions)
    targeted = lodge(session, policy)
    control(session, policy, targeted, irregular=False)
    session.commit()
    deliver(dispatcher(sessions))  # one pass: accepted, then control_recorded
    found = service.find_profile(session, code="CN-TEXTILES")
    assert (found.hits, found.controls, found.irregular) == (1, 1, 0)
    assert service.decisions(session, declaration_id=targeted.id)[0].outcome == "conforming"


def phones_fast(session: Session) -> ProfileOut:
    """A green profile that lets 2 phone imports in a row go without control."""
    return service.create_profile(
        session,
        profile=ProfileIn(
            code="PHONES-FAST",
            lane="green",  # type: ignore[arg-type]
            max_passes=2,
            reason="trusted phone imports",
            conditions=Conditions(hs_prefixes=["8517"]),
        ),
        by=SUPERVISOR,
    )


def test_a_profile_lets_at_most_max_passes_go_without_control_at_an_office(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    created = phones_fast(session)
    session.commit()
    policy = risk_policy(policy, sessions)
    declared = [lodge(session, policy) for _ in range(4)]
    session.commit()
    assert [d.lane for d in declared] == [Lane.GREEN, Lane.GREEN, Lane.YELLOW, Lane.GREEN]
    assert (
        declared[2]
        .lane_reasons[0]
        .startswith(f"rule PHONES-FAST (profile {created.id}, revision 1): 2 passes")
    )
    counted = session.scalar(select(Passes.passes).where(Passes.profile_id == created.id))
    assert counted == 1  # the one after the control
    deliver(dispatcher(sessions))
    (decision,) = service.decisions(session, declaration_id=declared[2].id)
    assert (decision.source, decision.profile_id, decision.lane) == ("rule", created.id, Lane.YELLOW)


def test_an_amendment_does_not_count_another_pass(
    session: Session, sessions: sessionmaker[Session], policy: Policy, tokens: dict[str, str]
) -> None:
    created = phones_fast(session)
    session.commit()
    policy = risk_policy(policy, sessions)
    first, second = lodge(session, policy), lodge(session, policy)
    for declared in (first, second):  # each amended twice: the declaration still passed once
        for time in range(2):
            declared = declarations.amend(
                session,
                declaration_id=declared.id,
                document=factories.declaration(lrn=declared.document.lrn, incoterm_place=f"Busan {time}"),
                by=TRADER,
                policy=policy,
                expected_revision=declared.revision,
            )
            assert declared.lane is Lane.GREEN
    session.commit()
    assert session.scalar(select(Passes.passes).where(Passes.profile_id == created.id)) == 2
    assert lodge(session, policy).lane is Lane.YELLOW  # the third declaration, not the fifth selection
