"""The outbox: events delivered after commit, once per successful pass, retried on failure, kept forever."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from customhouse.events import Dispatcher, DomainEvent, Event, OutboxEntry, history, record


def make(aggregate: str, kind: str = "thing.happened") -> DomainEvent:
    return DomainEvent(
        type=kind, aggregate_type="thing", aggregate_id=aggregate, actor="tester", data={"n": aggregate}
    )


def test_events_are_delivered_in_order_and_leave_the_outbox(sessions, session):
    record(session, [make("1"), make("2"), make("3", "other.kind")])
    session.commit()
    seen, everything = [], []
    dispatcher = Dispatcher(sessions)
    dispatcher.subscribe("thing.happened", lambda _s, event: seen.append(event.aggregate_id))
    dispatcher.subscribe("*", lambda _s, event: everything.append(event.type))
    assert dispatcher.deliver_pending() == 3
    assert seen == ["1", "2"]
    assert everything == ["thing.happened", "thing.happened", "other.kind"]
    assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 0
    assert dispatcher.deliver_pending() == 0  # nothing is delivered twice
    assert [event.aggregate_id for event in history(session, "thing", "2")] == ["2"]


def test_a_failing_subscriber_is_retried_and_does_not_block_others(sessions, session):
    record(session, [make("bad"), make("good")])
    session.commit()
    delivered = []

    def handler(_session, event):
        if event.aggregate_id == "bad":
            raise RuntimeError("downstream unavailable")
        delivered.append(event.aggregate_id)

    dispatcher = Dispatcher(sessions)
    dispatcher.subscribe("thing.happened", handler)
    assert dispatcher.deliver_pending() == 1
    assert delivered == ["good"]
    entry = session.scalar(select(OutboxEntry))
    session.refresh(entry)
    assert entry.attempts == 1 and "downstream unavailable" in entry.last_error
    assert entry.next_attempt_at is not None  # backed off, not retried at once
    assert dispatcher.deliver_pending() == 0


def test_a_subscribers_writes_commit_with_the_delivery(sessions, session):
    """A subscriber writing to the database sees each event exactly once: its writes and the outbox
    deletion share a transaction."""
    record(session, [make("a")])
    session.commit()
    dispatcher = Dispatcher(sessions)
    dispatcher.subscribe(
        "thing.happened", lambda s, e: record(s, [make("derived-" + e.aggregate_id, "derived")])
    )
    dispatcher.deliver_pending()
    assert [event.type for event in history(session, "thing", "derived-a")] == ["derived"]


def test_the_audit_trail_is_append_only(session):
    record(session, [make("x")])
    session.flush()
    for statement in ("UPDATE events SET actor = 'mallory'", "DELETE FROM events"):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement))
    assert session.scalar(select(Event.actor)) == "tester"
