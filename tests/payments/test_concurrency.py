"""Fifty declarations secured at once on one guarantee, each thread on its own connection: the balance
is exact and never below zero, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from customhouse.db import make_session_factory, writing
from customhouse.money import Money
from customhouse.parties import service as parties
from customhouse.payments import service
from customhouse.payments.models import Security
from customhouse.payments.schemas import NewGuarantee, NewSecurity
from customhouse.problems import Problem
from tests.factories import TRADER
from tests.helpers import own_connections
from tests.payments.helpers import OFFICER_P, SUPERVISOR_P, TRADER_P

D = Decimal


@pytest.mark.parametrize(("limit", "expected_secured"), [("1000", 33), ("100000", 50)])
def test_fifty_concurrent_securities_never_overdraw(committing_engine, limit, expected_secured):
    sessions = make_session_factory(committing_engine)
    with writing(sessions) as session:
        parties.register(session, id=TRADER, name="Hanbit Trading Co.", country="KR")
        guarantee = service.open_guarantee(
            session,
            guarantee=NewGuarantee(party_id=TRADER, kind="guarantee", limit=D(limit), currency="KRW"),
            by=SUPERVISOR_P,
        )
    engine = own_connections(committing_engine)
    thread_sessions = make_session_factory(engine)
    barrier = threading.Barrier(50)
    secured: list[uuid.UUID] = []
    refused: list[Problem] = []
    failures: list[BaseException] = []

    def secure() -> None:
        try:
            barrier.wait()
            with writing(thread_sessions) as session:
                held, _ = service.secure(
                    session,
                    guarantee_id=guarantee.id,
                    security=NewSecurity(
                        declaration_id=uuid.uuid4(), assessment_version=1, amount=D("30.001"), currency="KRW"
                    ),
                    by=TRADER_P,
                )
            secured.append(held.id)
        except Problem as problem:
            refused.append(problem)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=secure) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(secured) == expected_secured
    assert all(problem.status == 409 for problem in refused) and len(refused) == 50 - expected_secured
    with sessions() as session:
        left = service.balance(session, guarantee_id=guarantee.id)
        held = session.scalars(select(Security.amount_milli)).all()
    assert left == Money(D(limit) - D("30.001") * expected_secured, "KRW")
    assert left.amount >= 0 and sum(held) == 30001 * expected_secured

    def release(security_id: uuid.UUID) -> None:
        try:
            barrier.wait()
            with writing(thread_sessions) as session:
                service.release_security(session, security_id=security_id, by=OFFICER_P)
        except BaseException as error:
            failures.append(error)

    barrier = threading.Barrier(50)
    twice = secured[:25] * 2  # 25 securities, each released by two threads at once
    threads = [threading.Thread(target=release, args=(security_id,)) for security_id in twice]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert failures == []
    with sessions() as session:
        after = service.balance(session, guarantee_id=guarantee.id)
    released = len(set(twice))
    assert after == Money(D(limit) - D("30.001") * (expected_secured - released), "KRW")
