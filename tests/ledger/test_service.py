"""The stored log: events to queued leaves, sequencing into signed checkpoints, proofs from the
database checked with the pure verifier and against an in-memory tree."""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import threading
import time
import uuid
from datetime import UTC

import pytest
from hypothesis import given, settings
from hypothesis.strategies import datetimes, timezones
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from customhouse.config import Settings
from customhouse.db import make_session_factory, writing
from customhouse.events import Dispatcher, DomainEvent, record
from customhouse.ledger import merkle, note, service
from customhouse.ledger.models import BUCKET_BITS, Checkpoint, Leaf
from tests.ledger.conftest import ORIGIN, commitment

CONTENT = hashlib.sha256(b"version one").hexdigest()
LEAVES_PER_BUCKET = 1 << BUCKET_BITS


def event(kind: str, **data: object) -> DomainEvent:
    return DomainEvent(
        type=kind, aggregate_type="declaration", aggregate_id=str(uuid.uuid4()), actor="officer", data=data
    )


def pending(session) -> int:
    """Leaves queued and not yet in a checkpoint's tree."""
    head = service.tree_head(session)
    return service.next_index(session) - (head.size if head else 0)


# ---------------------------------------------------------------- which events become which leaves


def test_each_document_version_and_decision_becomes_a_leaf_and_nothing_else_does():
    looked_up = []

    def version_hash(declaration_id: str, version: int) -> str:
        looked_up.append((declaration_id, version))
        return hashlib.sha256(f"version {version}".encode()).hexdigest()

    def kinds(item: DomainEvent) -> list[tuple[str, int | None]]:
        return [(leaf.type, leaf.version) for leaf in service.leaves_for(item, version_hash=version_hash)]

    lodged = event("declaration.lodged", lrn="L1", content_hash=CONTENT, version=1)
    (leaf,) = service.leaves_for(lodged)
    assert (leaf.type, leaf.version, leaf.document_hash.hex()) == (service.VERSION, 1, CONTENT)
    assert (leaf.issuer, leaf.time, leaf.subject, leaf.event_id) == (
        "officer",
        lodged.occurred_at,
        f"declaration/{lodged.aggregate_id}",
        lodged.event_id,
    )

    amended = event("declaration.amended", patch=[], version=2)
    assert kinds(amended) == [(service.VERSION, 2)]
    assert looked_up == [(amended.aggregate_id, 2)]
    assert kinds(event("declaration.control_recorded", outcome="conforming", version=2)) == [
        ("declaration.control_recorded", None)
    ]
    assert kinds(event("declaration.control_recorded", outcome="irregularity", patch=[], version=3)) == [
        (service.VERSION, 3),
        ("declaration.control_recorded", None),
    ]
    for kind in (
        "declaration.accepted",
        "declaration.released",
        "declaration.assessed",
        "payment.succeeded",
        "certificate.issued",
        "certificate.revoked",
    ):
        decision = event(kind, lane="green", reasons=["all documents present"], version=1)
        (leaf,) = service.leaves_for(decision)
        assert leaf.type == kind
        assert (
            leaf.document_hash
            == hashlib.sha256(
                json.dumps(decision.data, sort_keys=True, separators=(",", ":")).encode()
            ).digest()
        )
    for kind in ("declaration.drafted", "declaration.documents_requested", "declaration.cancelled", "x.y"):
        assert service.leaves_for(event(kind, version=1, content_hash=CONTENT)) == []
    with pytest.raises(service.LedgerError, match="names no document version"):
        service.leaves_for(event("declaration.amended", patch=[], version=2))


def test_a_leaf_shows_type_and_time_and_hides_who_acted_the_document_and_its_subject():
    lodged = event("declaration.lodged", content_hash=CONTENT, version=1)
    first, second = service.leaves_for(lodged)[0], service.leaves_for(lodged)[0]
    leaf = json.loads(first.leaf())
    assert set(leaf) == {"commitment", "issuer", "time", "type"}
    assert (leaf["type"], leaf["issuer"]) == (service.VERSION, "customs")  # not the user who acted
    assert leaf["time"] == lodged.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for secret in (lodged.aggregate_id, CONTENT, lodged.actor):
        assert secret.encode() not in first.leaf()
    assert first.salt != second.salt and first.leaf_hash() != second.leaf_hash()  # one document, two leaves
    opening = {
        "actor": lodged.actor,
        "document": CONTENT,
        "subject": f"declaration/{lodged.aggregate_id}",
        "version": 1,
    }
    expected = hashlib.sha256(first.salt + json.dumps(opening, separators=(",", ":")).encode()).hexdigest()
    assert leaf["commitment"] == expected
    assert first.leaf_hash() == merkle.leaf_hash(first.leaf())


@settings(max_examples=300, deadline=None)
@given(moment=datetimes(timezones=timezones()))
def test_a_leaf_time_is_the_utc_instant_with_microseconds_and_a_z(moment):
    spelled = service.rfc3339(moment)
    assert spelled == moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- queue and sequence


def test_delivered_events_are_queued_once_and_sequenced_into_a_checkpoint_the_key_verifies(
    sessions, session, signer
):
    happened = [
        event("declaration.lodged", content_hash=CONTENT, version=1),
        event("declaration.accepted", mrn="26KR1", lane="yellow", reasons=["no transport document"]),
        event("declaration.documents_requested", documents=["705"]),
        event("payment.succeeded", amount="10.00", currency="KRW"),
    ]
    record(session, happened)
    session.commit()
    dispatcher = Dispatcher(sessions)
    dispatcher.subscribe_batch(service.LOGGED, service.on_events)
    assert dispatcher.deliver_pending() == 4
    assert dispatcher.deliver_pending() == 0
    queued = session.execute(select(Leaf).order_by(Leaf.idx)).scalars().all()
    assert [leaf.type for leaf in queued] == [service.VERSION, "declaration.accepted", "payment.succeeded"]
    assert [leaf.idx for leaf in queued] == [0, 1, 2]  # numbered as queued, in order
    assert pending(session) == 3 and service.leaf_indexes(session, leaf_hash=queued[0].leaf_hash) == []
    leaf_hashes = [bytes(leaf.leaf_hash) for leaf in queued]

    done = service.sequence(session, signer=signer, origin=ORIGIN)
    assert done is not None and (done.old_size, done.size) == (0, 3)
    assert pending(session) == 0
    verifier = note.parse_verifier_key(signer.verifier.vkey)  # as /log/key publishes it
    checkpoint, _ = note.open_checkpoint(done.note, origin=ORIGIN, log=verifier)
    assert (checkpoint.size, checkpoint.root_hash) == (3, merkle.root_from_leaves(leaf_hashes))
    leaves = session.execute(select(Leaf).order_by(Leaf.idx)).scalars().all()
    assert [(leaf.idx, bytes(leaf.leaf_hash)) for leaf in leaves] == list(enumerate(leaf_hashes))
    assert service.sequence(session, signer=signer, origin=ORIGIN) is None  # nothing queued: no checkpoint


def test_the_first_pass_signs_the_empty_tree(session, signer):
    done = service.sequence(session, signer=signer, origin=ORIGIN)
    assert done is not None and (done.size, done.root) == (0, merkle.EMPTY_ROOT)
    assert note.open_checkpoint(done.note, origin=ORIGIN, log=signer.verifier)[0].size == 0
    assert service.sequence(session, signer=signer, origin=ORIGIN) is None


def test_a_pass_takes_at_most_limit_leaves_in_queue_order(session, signer):
    leaves = [commitment(number) for number in range(25)]
    service.queue(session, leaves)
    sizes = []
    while (done := service.sequence(session, signer=signer, origin=ORIGIN, limit=10)) is not None:
        sizes.append(done.size)
    assert sizes == [10, 20, 25]
    assert session.scalar(select(func.count()).select_from(Checkpoint)) == 3
    stored = session.scalars(select(Leaf.leaf_hash).order_by(Leaf.idx)).all()
    assert [bytes(value) for value in stored] == [leaf.leaf_hash() for leaf in leaves]


def test_proofs_from_the_database_verify_and_equal_an_in_memory_tree(session, signer):
    rng = random.Random(20261128)
    memory = merkle.MemoryHashStore()
    checkpoints = {}
    for _ in range(8):
        batch = [commitment(rng.randrange(10**6)) for _ in range(rng.choice((1, 2, 7, 64, 100, 255, 300)))]
        service.queue(session, batch)
        done = service.sequence(session, signer=signer, origin=ORIGIN)
        memory.extend([leaf.leaf_hash() for leaf in batch])
        assert done is not None and (done.size, done.root) == (memory.size, memory.root())
        checkpoints[done.size] = done.root
    size = memory.size
    for _ in range(60):
        tree = rng.randrange(1, size + 1)
        index = rng.randrange(tree)
        proof = service.inclusion_proof(session, index=index, size=tree)
        assert proof.proof == memory.inclusion_proof(index, tree)
        assert (
            proof.root == memory.root(tree)
            and proof.leaf_hash == memory.hashes[merkle.stored_hash_index(0, index)]
        )
        merkle.verify_inclusion(
            index=index, size=tree, leaf=proof.leaf_hash, proof=proof.proof, root=proof.root
        )
    sizes = sorted(checkpoints)
    for old in sizes:
        for new in sizes[sizes.index(old) :]:
            consistency = service.consistency_proof(session, old_size=old, new_size=new)
            merkle.verify_consistency(
                old_size=old,
                new_size=new,
                old_root=checkpoints[old],
                new_root=checkpoints[new],
                proof=consistency.proof,
            )
    latest = service.inclusion_proof(session, index=0)
    flipped = bytes([latest.leaf_hash[0] ^ 1]) + latest.leaf_hash[1:]
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index=0, size=size, leaf=flipped, proof=latest.proof, root=latest.root)
    with pytest.raises(service.NotFound):
        service.inclusion_proof(session, index=size)
    with pytest.raises(service.NotFound):
        service.consistency_proof(session, old_size=1, new_size=size + 1)


def test_leaves_are_found_by_leaf_hash_and_by_document(session, signer):
    leaves = [commitment(number) for number in range(5)]
    lodged = event("declaration.lodged", content_hash=CONTENT, version=1)
    accepted = DomainEvent(
        type="declaration.accepted",
        aggregate_type="declaration",
        aggregate_id=lodged.aggregate_id,
        actor="officer",
        data={"lane": "green"},
    )
    document = [*service.leaves_for(lodged), *service.leaves_for(accepted)]
    service.queue(session, leaves[:2] + document + leaves[2:])
    service.sequence(session, signer=signer, origin=ORIGIN)
    assert service.leaf_indexes(session, leaf_hash=leaves[3].leaf_hash()) == [5]
    assert service.leaf_indexes(session, subject_id=lodged.aggregate_id) == [2, 3]
    assert service.leaf_indexes(session, subject_id=lodged.aggregate_id, type=service.VERSION) == [2]
    assert (
        service.leaf_indexes(session, subject_id=lodged.aggregate_id, type=service.VERSION, version=2) == []
    )
    assert service.leaf_indexes(session, leaf_hash=os.urandom(32)) == []


def test_the_log_tables_are_append_only(session, signer):
    service.queue(session, [commitment(1), commitment(2)])
    service.sequence(session, signer=signer, origin=ORIGIN)
    for statement in (
        "UPDATE ledger_leaves SET issuer = 'mallory'",
        "DELETE FROM ledger_leaves",
        "UPDATE ledger_hashes SET hash = hash",
        "DELETE FROM ledger_hashes",
        "UPDATE ledger_checkpoints SET note = ''",
        "DELETE FROM ledger_checkpoints",
    ):
        with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
            session.execute(text(statement))
    assert session.scalar(select(Leaf.issuer).where(Leaf.idx == 0)) == "tester"


# ---------------------------------------------------------------- keys and settings


def test_the_log_key_is_created_once_mode_600_and_kept(tmp_path):
    path = tmp_path / "var" / "keys" / "ledger-note.key"
    first = service.load_signer(path, name=ORIGIN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = service.load_signer(path, name="another-name")  # the file wins: the key never changes
    assert (again.name, again.verifier.vkey) == (ORIGIN, first.verifier.vkey)
    assert path.read_text().startswith("PRIVATE+KEY+" + ORIGIN + "+")
    with pytest.raises(note.KeyFormatError, match="type"):
        service.load_signer(path, name=ORIGIN, key_type=note.KEY_COSIGNATURE)


def test_the_ledger_from_settings_defaults(tmp_path):
    settings = Settings(database_url="sqlite://", var_dir=tmp_path / "var", host="customs.example")
    ledger = service.Ledger.from_settings(settings)
    assert ledger.origin == "customs.example/customhouse/log"
    assert ledger.key_file == tmp_path / "var" / "keys" / "ledger-note.key"
    assert not ledger.key_file.exists()  # created at first use, not when the app is built
    assert ledger.log_key.name == ledger.origin and ledger.key_file.exists()
    public = Settings(database_url="sqlite://", var_dir=tmp_path, public_url="https://customs.example/")
    assert service.Ledger.from_settings(public).origin == "customs.example/log"


def test_look_ups_reach_every_bucket_of_the_index(session, signer):
    leaves = [commitment(number) for number in range(LEAVES_PER_BUCKET + 3)]
    service.queue(session, leaves)
    service.sequence(session, signer=signer, origin=ORIGIN, limit=len(leaves))
    buckets = session.execute(
        select(Leaf.bucket, func.count()).group_by(Leaf.bucket).order_by(Leaf.bucket)
    ).all()
    assert [tuple(row) for row in buckets] == [(0, LEAVES_PER_BUCKET), (1, 3)]
    for index in (0, LEAVES_PER_BUCKET - 1, LEAVES_PER_BUCKET, LEAVES_PER_BUCKET + 2):
        assert service.leaf_indexes(session, leaf_hash=leaves[index].leaf_hash()) == [index]
        assert service.leaf_indexes(session, subject_id=leaves[index].subject_id, subject_type="thing") == [
            index
        ]


def test_queued_rows_are_stored_as_the_orm_stores_them(session):
    leaf = service.leaves_for(event("declaration.accepted", lane="green"))[0]
    service.queue(session, [leaf])
    values = dict(zip(service.COLUMNS, leaf.values(), strict=True))
    session.add(Leaf(**{**values, "idx": 1, "bucket": 0, "type": "orm.written"}))
    session.flush()
    raw = session.execute(
        text("SELECT type, CAST(event_id AS TEXT), CAST(time AS TEXT) FROM ledger_leaves ORDER BY idx")
    ).all()
    assert raw[0][1:] == raw[1][1:]  # the driver-level insert wrote what the ORM writes
    queued = session.scalars(select(Leaf).where(Leaf.type == "declaration.accepted")).one()
    assert (queued.idx, queued.event_id, queued.time) == (0, leaf.event_id, leaf.time)


def test_concurrent_queues_number_leaves_without_gaps_or_repeats(committing_engine, signer):
    """Writers queueing at the same time (event deliveries of several processes) each get a run of
    indexes of their own, while a sequencer integrates what has committed."""
    sessions = make_session_factory(committing_engine)
    writers, batches, size = 4, 10, 25
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for batch in range(batches):
                with writing(sessions) as session:
                    first = (writer * batches + batch) * size
                    service.queue(session, [commitment(first + n) for n in range(size)])
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        with writing(sessions) as session:
            service.sequence(session, signer=signer, origin=ORIGIN, limit=7)
    for thread in threads:
        thread.join()
    assert failures == []
    while True:
        with writing(sessions) as session:
            if service.sequence(session, signer=signer, origin=ORIGIN) is None:
                break
    total = writers * batches * size
    with sessions() as session:
        subjects = session.execute(select(Leaf.idx, Leaf.subject_id).order_by(Leaf.idx)).all()
        assert [idx for idx, _ in subjects] == list(range(total))
        assert len({subject for _, subject in subjects}) == total  # every leaf once
        assert service.tree_head(session).size == total
        assert service.verify(session, log_key=signer.verifier, origin=ORIGIN).findings == []


def test_the_sequencer_thread_signs_queued_leaves_within_about_a_second(committing_engine, signer):
    sessions = make_session_factory(committing_engine)
    sequencer = service.Sequencer(lambda: sessions, service.Ledger(origin=ORIGIN, signer=signer))
    stop = threading.Event()
    thread = threading.Thread(target=sequencer.run, args=(stop,), kwargs={"interval": 1.0}, daemon=True)
    thread.start()
    try:
        with writing(sessions) as session:
            service.queue(session, [commitment(number) for number in range(3)])
        queued = time.monotonic()
        sequencer.notify()
        while time.monotonic() - queued < 5:
            with sessions() as session:
                head = service.tree_head(session)
            if head is not None and head.size == 3:
                break
            time.sleep(0.02)
        assert head is not None and head.size == 3
        assert time.monotonic() - queued < 1.5
    finally:
        stop.set()
        sequencer.notify()
        thread.join(timeout=5)
    assert not thread.is_alive()
