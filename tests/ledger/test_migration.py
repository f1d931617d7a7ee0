"""Migration 0015 moves the leaves still pending into `ledger_leaves`, numbered after the last leaf
in queue order, and drops the pending table; the sequencer then integrates them as any queued leaf."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, TextClause, Uuid, bindparam, inspect, select, text

from customhouse.db import UTCDateTime, _alembic_config, make_session_factory, upgrade, writing
from customhouse.ledger import note, service
from customhouse.ledger.models import Leaf
from tests.ledger.conftest import ORIGIN, commitment


def test_0015_numbers_pending_leaves_after_the_tree(committing_engine: Engine):
    with committing_engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0014")
    signer = note.generate_key(ORIGIN)
    sessions = make_session_factory(committing_engine)
    first, *pending = [commitment(number) for number in range(3)]
    columns = ", ".join(service.COLUMNS)
    with committing_engine.begin() as connection:
        connection.execute(
            _typed(f"INSERT INTO ledger_leaves (idx, bucket, {columns}) VALUES (0, 0, {_marks()})"),
            _row(first),
        )
        for leaf in reversed(pending):  # ids in the order given: queue order is id order, not insertion
            connection.execute(
                _typed(f"INSERT INTO ledger_pending (id, {columns}) VALUES (:id, {_marks()})"),
                {"id": 10 - pending.index(leaf), **_row(leaf)},
            )
    upgrade(committing_engine)
    assert "ledger_pending" not in inspect(committing_engine).get_table_names()
    with sessions() as session:
        moved = session.execute(select(Leaf.idx, Leaf.bucket, Leaf.leaf_hash).order_by(Leaf.idx)).all()
    assert [(idx, bucket, bytes(leaf_hash)) for idx, bucket, leaf_hash in moved] == [
        (0, 0, first.leaf_hash()),
        (1, 0, pending[1].leaf_hash()),  # id 9
        (2, 0, pending[0].leaf_hash()),  # id 10
    ]
    with writing(sessions) as session:
        done = service.sequence(session, signer=signer, origin=ORIGIN)
    assert done is not None and done.size == 3
    with sessions() as session:
        assert service.verify(session, log_key=signer.verifier, origin=ORIGIN).findings == []


def _marks() -> str:
    return ", ".join(f":{name}" for name in service.COLUMNS)


def _typed(statement: str) -> TextClause:
    """The statement with the time and the event id bound as the models' columns bind them."""
    return text(statement).bindparams(
        bindparam("time", type_=UTCDateTime()), bindparam("event_id", type_=Uuid())
    )


def _row(leaf: service.Commitment) -> dict[str, object]:
    return dict(zip(service.COLUMNS, leaf.values(), strict=True))
