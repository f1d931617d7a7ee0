"""The daily rollups kept beside the read model equal a recomputation from the facts, whatever the
order and repetition of events; `rebuild` makes them again from the declarations' events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from customhouse import events
from customhouse.analytics import service
from customhouse.analytics.models import DayRollup, DeclarationFact, ItemFact
from customhouse.cli import app
from tests import factories
from tests.conftest import bearer
from tests.helpers import cli_database
from tests.web.conftest import deliver

START = datetime(2026, 3, 2, 22, tzinfo=UTC)  # late: some releases fall on the next day
OFFICERS = ("kim", "lee", "park")


def released(declaration_id: uuid.UUID, at: datetime, officer: str) -> events.DomainEvent:
    return events.DomainEvent(
        type="declaration.released",
        aggregate_type="declaration",
        aggregate_id=str(declaration_id),
        actor=officer,
        occurred_at=at,
    )


def controlled(declaration_id: uuid.UUID, outcome: str, officer: str) -> events.DomainEvent:
    return events.DomainEvent(
        type="declaration.control_recorded",
        aggregate_type="declaration",
        aggregate_id=str(declaration_id),
        actor=officer,
        data={"outcome": outcome},
    )


DECLARATION = st.tuples(
    st.sampled_from(["green", "yellow", "red"]),
    st.sampled_from(["KR000040", "KR000010"]),
    st.integers(0, 2),  # day of lodgement
    st.decimals(0, 10**6, places=2),  # revenue
    st.sets(st.integers(1, 3)),  # targeting profiles matched
)
# what happens to declaration n: released after s seconds (again: a re-release), or a control result
EVENT = st.one_of(
    st.tuples(st.just("release"), st.integers(0, 9), st.floats(0, 3 * 86400), st.sampled_from(OFFICERS)),
    st.tuples(
        st.just("control"),
        st.integers(0, 9),
        st.sampled_from(["conforming", "irregularity"]),
        st.sampled_from(OFFICERS),
    ),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(DECLARATION, min_size=1, max_size=10),
    st.lists(EVENT, max_size=25),
    st.lists(st.integers(1, 6), min_size=1, max_size=5),
)
def test_rollups_equal_their_recomputation_after_any_events(
    session: Session,
    declared: list[tuple[str, str, int, Decimal, set[int]]],
    happening: list[tuple[str, int, object, str]],
    batches: list[int],
) -> None:
    ids = []
    for lane, office, day, revenue, profiles in declared:
        at = START + timedelta(days=day)
        fact = DeclarationFact(
            declaration_id=uuid.uuid4(), kind="import", office=office, transport_mode="1", lane=lane,
            lodged_at=at, accepted_at=at, revenue=revenue, profiles=sorted(profiles),
        )  # fmt: skip
        session.add(fact)
        ids.append(fact.declaration_id)
    session.flush()
    changes = service.Rollups()
    for declaration_id in ids:
        changes.add(session.get_one(DeclarationFact, declaration_id), 1)
    changes.store(session)  # as acceptance does
    stream = []
    for kind, n, value, officer in happening:
        declaration_id = ids[n % len(ids)]
        if kind == "release":
            lodged = session.get_one(DeclarationFact, declaration_id).lodged_at
            assert isinstance(value, float)
            stream.append(released(declaration_id, lodged + timedelta(seconds=value), officer))
        else:
            stream.append(controlled(declaration_id, str(value), officer))
    while stream:  # in passes of any size, as the dispatcher delivers
        size = batches[len(stream) % len(batches)]
        service.on_events(session, stream[:size])
        stream = stream[size:]
    kept = service.stored(session)
    assert kept == service.recompute(session)
    matched = sum(len(fact.profiles) for fact in session.scalars(select(DeclarationFact)))
    assert sum(counts["hits"] for counts in kept.profiles.values()) == matched  # (of earlier examples too)


def test_a_repeated_release_counts_once_and_a_late_release_updates_its_lodgement_day(
    session: Session,
) -> None:
    at = START
    fact = DeclarationFact(
        declaration_id=uuid.uuid4(), kind="import", office="KR000040", transport_mode="1", lane="red",
        lodged_at=at, accepted_at=at,
    )  # fmt: skip
    session.add(fact)
    session.flush()
    service.rebuild_rollups(session)
    event = released(fact.declaration_id, at + timedelta(days=3), "kim")
    service.on_events(session, [event])
    service.on_events(session, [event])  # delivered again
    (row,) = session.scalars(select(DayRollup)).all()
    assert (row.day, row.lodged, row.released, row.within_hour) == (at.date(), 1, 1, 0)
    service.on_events(session, [released(fact.declaration_id, at + timedelta(minutes=30), "kim")])
    session.refresh(row)
    assert (row.released, row.within_hour) == (1, 1)  # the newer release replaced the older
    (study,) = service.release_summary(session, first=at.date(), last=at.date())[None]
    assert study.median == pytest.approx(1800, rel=0.02)
    assert [(w.officer, w.releases) for w in service.workload(session, first=at.date(), last=at.date())] == [
        ("kim", 1)
    ]


def test_the_subscriber_keeps_rollups_through_amendment_and_rebuild_makes_them_again(
    client: TestClient, tokens: dict[str, str], session: Session
) -> None:
    document = factories.declaration()
    document["documents"] = document["documents"][:1]  # no transport document: yellow
    lodged = client.post("/api/v1/declarations", json=document, headers=bearer(tokens["trader"]))
    assert lodged.status_code == 201, lodged.text
    deliver(client)
    declaration_id = lodged.json()["id"]
    moved = factories.declaration(office_of_lodgement="KR000010")
    amended = client.put(
        f"/api/v1/declarations/{declaration_id}",
        json=moved,
        headers={**bearer(tokens["trader"]), "If-Match": f'"{lodged.json()["revision"]}"'},
    )
    assert amended.status_code == 200, amended.text
    green = client.post(
        "/api/v1/declarations", json=factories.declaration(lrn="R-GREEN"), headers=bearer(tokens["trader"])
    )
    assert green.status_code == 201
    deliver(client)
    fact = session.get_one(DeclarationFact, uuid.UUID(declaration_id))
    session.refresh(fact)
    assert (fact.office, fact.lane) == ("KR000010", "yellow")
    assert fact.revenue is not None and fact.revenue > 0  # assessed after the amendment
    kept = service.stored(session)
    assert kept == service.recompute(session)
    assert {key[2] for key in kept.cells} == {"KR000010", "KR000040"}  # moved out of the first office
    facts = session.scalars(select(DeclarationFact).order_by(DeclarationFact.declaration_id)).all()
    before = [(f.declaration_id, f.office, f.lane, f.released_at, f.revenue) for f in facts]
    items = len(session.scalars(select(ItemFact)).all())
    for _ in range(2):  # idempotent
        replayed = service.rebuild(session, batch=2)
        session.flush()
        assert replayed >= 4
        assert service.stored(session) == kept
        facts = session.scalars(select(DeclarationFact).order_by(DeclarationFact.declaration_id)).all()
        assert [(f.declaration_id, f.office, f.lane, f.released_at, f.revenue) for f in facts] == before
        assert len(session.scalars(select(ItemFact)).all()) == items


def test_report_rebuild_clears_what_no_event_backs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with cli_database(tmp_path, monkeypatch) as sessions:
        with sessions.begin() as session:
            at = START
            session.add(
                DeclarationFact(
                    declaration_id=uuid.uuid4(), kind="import", office="KR000040", transport_mode="1",
                    lane="green", lodged_at=at, accepted_at=at,
                )
            )  # fmt: skip
            session.flush()
            service.rebuild_rollups(session)
        result = CliRunner().invoke(app, ["report", "rebuild"])
        assert result.exit_code == 0, result.output
        assert "0 events replayed: 0 declarations, 0 daily rollup rows" in result.output
        with sessions() as session:
            assert session.scalars(select(DayRollup)).all() == []
