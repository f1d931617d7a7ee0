"""Domain events: the transactional outbox, the audit trail and the in-process dispatcher.

A state change writes its event in the same transaction as the change itself, into two tables:
`events`, append-only and kept forever (it is the audit trail: who, when, what, why), and `outbox`,
the queue of events not yet delivered. The dispatcher hands each queued event to every subscriber
inside one transaction that also deletes the outbox row, so a subscriber that writes to the database
sees each event exactly once; a subscriber with outside effects sees it at least once. An event whose
delivery fails is retried with a back-off and keeps its error for operators; others go on.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, delete, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from customhouse.db import Base, JsonDocument, UTCDateTime, table, utcnow, writing

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_aggregate", "aggregate_type", "aggregate_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    actor_party: Mapped[str | None] = mapped_column(String(17))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class OutboxEntry(Base):
    __tablename__ = "outbox"

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.event_id"), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    type: str
    aggregate_type: str
    aggregate_id: str
    actor: str
    actor_party: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=utcnow)
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def row(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "actor_party": self.actor_party,
            "reason": self.reason,
            "data": self.data,
        }

    @classmethod
    def from_row(cls, event: Any) -> DomainEvent:
        """From an `Event` or a result row with the same columns."""
        return cls(
            type=event.type,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            actor=event.actor,
            actor_party=event.actor_party,
            reason=event.reason,
            data=event.data,
            occurred_at=event.occurred_at,
            event_id=event.event_id,
        )


def record(session: Session, events: Iterable[DomainEvent]) -> None:
    """Write events and queue them for delivery, in the caller's transaction."""
    rows = [event.row() for event in events]
    if rows:
        session.execute(insert(table(Event)), rows)
        session.execute(
            insert(table(OutboxEntry)), [{"event_id": row["event_id"], "attempts": 0} for row in rows]
        )


def history(session: Session, aggregate_type: str, aggregate_id: str) -> list[DomainEvent]:
    """Every event of one aggregate, oldest first: its audit trail."""
    rows = session.scalars(
        select(Event)
        .where(Event.aggregate_type == aggregate_type, Event.aggregate_id == aggregate_id)
        .order_by(Event.id)
    )
    return [DomainEvent.from_row(row) for row in rows]


Handler = Callable[[Session, DomainEvent], None]
BatchHandler = Callable[[Session, list[DomainEvent]], None]


class Dispatcher:
    """Delivers queued events to in-process subscribers (by event type, or "*" for all). A batch
    subscriber gets the events of its types in a pass all at once, in order: work that is cheaper in
    bulk (the assessment of hundreds of declarations) does it in a few statements."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._batch_handlers: list[tuple[frozenset[str], BatchHandler]] = []
        self._wake = threading.Event()

    def subscribe(self, event_type: str, handler: Handler) -> None:
        self._handlers[event_type].append(handler)

    def subscribe_batch(self, event_types: Iterable[str], handler: BatchHandler) -> None:
        self._batch_handlers.append((frozenset(event_types), handler))

    def notify(self) -> None:
        """Tell a running dispatcher that new events were committed."""
        self._wake.set()

    def deliver_pending(self, limit: int = 500) -> int:
        """Deliver up to `limit` due events, oldest first; return how many were delivered.

        The whole pass is tried in one savepoint with one DELETE; if any subscriber fails, the pass is
        redone one event at a time so that only the failing events stay queued (the others' outside
        effects may then happen twice: delivery is at least once for them)."""
        now = utcnow()
        outbox = table(OutboxEntry)
        with writing(self._factory) as session:
            due = session.execute(
                select(table(Event), outbox.c.attempts)
                .join(outbox, outbox.c.event_id == Event.event_id)
                .where(outbox.c.attempts < MAX_ATTEMPTS)
                .where((outbox.c.next_attempt_at.is_(None)) | (outbox.c.next_attempt_at <= now))
                .order_by(Event.id)
                .limit(limit)
            ).all()
            if not due:
                return 0
            try:
                with session.begin_nested():
                    self._deliver_all(session, [DomainEvent.from_row(row) for row in due])
                    session.execute(
                        delete(outbox).where(outbox.c.event_id.in_([row.event_id for row in due]))
                    )
                return len(due)
            except Exception:
                log.warning("a delivery failed in a pass of %d events; retrying them one by one", len(due))
            delivered = 0
            for row in due:
                try:
                    with session.begin_nested():
                        self._deliver_all(session, [DomainEvent.from_row(row)])
                        session.execute(delete(outbox).where(outbox.c.event_id == row.event_id))
                    delivered += 1
                except Exception as error:  # a subscriber's failure must not stop the others
                    log.exception("delivery of %s %s failed", row.type, row.event_id)
                    session.execute(
                        update(outbox)
                        .where(outbox.c.event_id == row.event_id)
                        .values(
                            attempts=row.attempts + 1,
                            last_error=f"{type(error).__name__}: {error}",
                            next_attempt_at=now + timedelta(seconds=2**row.attempts),
                        )
                    )
        return delivered

    def _deliver_all(self, session: Session, delivered: list[DomainEvent]) -> None:
        for event in delivered:
            for handler in [*self._handlers.get(event.type, []), *self._handlers.get("*", [])]:
                handler(session, event)
        for types, batch_handler in self._batch_handlers:
            if mine := [event for event in delivered if event.type in types]:
                batch_handler(session, mine)

    def run(self, stop: threading.Event, interval: float = 1.0, pass_size: int = 100) -> None:
        """Deliver until `stop` is set; wakes early on notify(). Passes of `pass_size` events keep each
        writing transaction short (a tenth of a second or so), so that lodgements queued behind it on
        SQLite's one writer wait little, while batch subscribers still work in bulk."""
        while not stop.is_set():
            try:
                while self.deliver_pending(pass_size):
                    pass
            except Exception:
                log.exception("event dispatcher pass failed")
            self._wake.wait(interval)
            self._wake.clear()
