"""Officers acting at the same moment on one declaration, on separate connections: one wins, the others
get 409 with the current revision, and no update is lost."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import select

from customhouse.auth.service import Principal, Role
from customhouse.db import make_session_factory, writing
from customhouse.declarations import service
from customhouse.declarations.models import DeclarationRecord
from customhouse.events import Event
from customhouse.parties import service as parties
from customhouse.problems import Problem
from tests.factories import declaration, deferment_account, demo_tariff

OFFICE = "KR000070"


def test_concurrent_officer_actions_never_lose_an_update(committing_engine, policy):
    sessions = make_session_factory(committing_engine)
    party = "KR7" + uuid.uuid4().hex[:12].upper()
    trader = Principal(name=f"trader-{party}", roles=frozenset({Role.TRADER}), party_id=party)
    document = declaration(
        lrn="RACE-1",
        declarant={"id": party, "name": "Race Co.", "country": "KR"},
        importer={"id": party, "name": "Race Co.", "country": "KR"},
        office_of_lodgement=OFFICE,
        office_of_entry=OFFICE,
    )
    document["documents"] = document["documents"][:1]  # yellow lane: under control, awaiting an officer
    with writing(sessions) as session:
        demo_tariff(session)
        parties.register(session, id=party, name="Race Co.", country="KR")
        deferment_account(session, party)  # what it owes is secured: release waits for no payment
        lodged = service.lodge(session, document=document, by=trader, policy=policy).declaration
        assert lodged is not None
        service.assess(session, declaration_id=lodged.id, policy=policy)  # as the dispatcher does
    assert lodged.state == "under_control"

    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def officer(number: int) -> None:
        by = Principal(name=f"officer-{number}", roles=frozenset({Role.OFFICER}), offices=frozenset({OFFICE}))
        barrier.wait()
        try:
            with writing(sessions) as session:
                if number % 2:
                    service.release(
                        session,
                        declaration_id=lodged.id,
                        by=by,
                        policy=policy,
                        expected_revision=lodged.revision,
                    )
                else:
                    service.reject(
                        session,
                        declaration_id=lodged.id,
                        by=by,
                        expected_revision=lodged.revision,
                        reason="race",
                    )
            outcomes.append("won")
        except Problem as problem:
            outcomes.append(f"{problem.status} {problem.slug} {problem.extra.get('revision')}")

    threads = [threading.Thread(target=officer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("won") == 1
    assert sorted(set(outcomes) - {"won"}) == [f"409 conflict {lodged.revision + 1}"]
    with sessions() as session:
        record = session.get(DeclarationRecord, lodged.id)
        assert record is not None and record.revision == lodged.revision + 1
        final = session.scalars(
            select(Event.type).where(Event.aggregate_id == str(lodged.id)).order_by(Event.id)
        ).all()
    assert final[-1] in ("declaration.released", "declaration.rejected")
    assert final[-1] == f"declaration.{'released' if record.state == 'released' else 'rejected'}"
    assert len([kind for kind in final if kind in ("declaration.released", "declaration.rejected")]) == 1
