"""`verify` recomputes the log from the database and names what was altered behind its back: a leaf's
commitment, a stored hash, a checkpoint (text or signature), a declaration document, an event.

The ledger tables and `events` refuse UPDATE by trigger; each test first drops that protection, as
someone with the database's owner rights could (the test's transaction is rolled back afterwards)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from customhouse.declarations.models import DeclarationVersion
from customhouse.events import Event
from customhouse.ledger import merkle, note, service
from customhouse.ledger.models import Checkpoint, Leaf
from tests.ledger.conftest import commitment, publish, yellow_life


def unprotect(session: Session, table: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        session.execute(text(f"DROP TRIGGER {table}_no_update"))


@dataclass(frozen=True)
class Logged:
    declaration_id: str
    checkpoints: list[int]  # the sizes signed: 100, after the declaration, 200 leaves later
    documents: int  # leaves of the declaration


@pytest.fixture
def logged(app, log_client, tokens, session) -> Logged:
    """100 leaves, a declaration's life, 200 more leaves: three checkpoints."""
    service.queue(session, [commitment(number) for number in range(100)])
    session.commit()
    publish(app)
    declaration_id = yellow_life(app, log_client, tokens)
    publish(app)
    service.queue(session, [commitment(number) for number in range(100, 300)])
    session.commit()
    publish(app)
    sizes = list(session.scalars(select(Checkpoint.size).order_by(Checkpoint.size)))
    return Logged(declaration_id, sizes, sizes[1] - sizes[0])


def check(session: Session, ledger: service.Ledger) -> service.Verification:
    return service.verify(session, log_key=ledger.log_key, origin=ledger.origin, witnesses=ledger.witnesses)


def leaf_of(session: Session, declaration_id: str, kind: str, version: int | None = None) -> Leaf:
    query = select(Leaf).where(Leaf.subject_id == declaration_id, Leaf.type == kind)
    if version is not None:
        query = query.where(Leaf.version == version)
    return session.scalars(query).one()


def test_an_untouched_log_verifies(logged, session, ledger):
    result = check(session, ledger)
    assert result.findings == []
    size = 300 + logged.documents
    assert (result.size, result.leaves, result.documents, result.checkpoints) == (
        size,
        size,
        logged.documents,
        3,
    )
    assert logged.checkpoints == [100, 100 + logged.documents, size] and logged.documents >= 7


def test_queued_leaves_are_checked_but_not_counted_in_the_tree(logged, session, ledger):
    """Leaves past the newest checkpoint wait for the sequencer: their commitments are checked, the
    tree and its stored hashes end at the checkpoint."""
    size = 300 + logged.documents
    service.queue(session, [commitment(number) for number in range(300, 302)])
    result = check(session, ledger)
    assert result.findings == []
    assert (result.size, result.leaves) == (size, size + 2)
    unprotect(session, "ledger_leaves")
    session.execute(update(Leaf).where(Leaf.idx == size + 1).values(issuer="mallory"))
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject.split(" (")[0]) for finding in findings] == [
        ("leaf", f"leaf {size + 1}")
    ]


@pytest.mark.parametrize("field", ["issuer", "time", "salt", "type"])
def test_an_altered_leaf_commitment_is_named(logged, session, ledger, field):
    leaf = leaf_of(session, logged.declaration_id, "declaration.accepted")
    value = {
        "issuer": "mallory",
        "time": leaf.time.replace(microsecond=(leaf.time.microsecond + 1) % 1_000_000),
        "salt": bytes(16),
        "type": "declaration.rejected",
    }[field]
    unprotect(session, "ledger_leaves")
    session.execute(update(Leaf).where(Leaf.idx == leaf.idx).values({field: value}))
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject.split(" (")[0]) for finding in findings] == [
        ("leaf", f"leaf {leaf.idx}")
    ]
    assert "commitment" in findings[0].problem


def test_a_leaf_rewritten_with_its_own_leaf_hash_no_longer_matches_the_tree(logged, session, ledger):
    leaf = leaf_of(session, logged.declaration_id, "declaration.released")
    forged = replace(service.Commitment.from_row(leaf), issuer="mallory")
    unprotect(session, "ledger_leaves")
    session.execute(
        update(Leaf)
        .where(Leaf.idx == leaf.idx)
        .values(
            issuer="mallory", leaf_hash=forged.leaf_hash(), leaf_key=service.lookup_key(forged.leaf_hash())
        )
    )
    findings = check(session, ledger).findings
    stored = [finding for finding in findings if finding.kind == "stored hash"]
    assert len(stored) == 1 and f"leaf {leaf.idx}" in stored[0].problem
    assert {finding.kind for finding in findings} == {"stored hash", "checkpoint"}
    assert {finding.subject for finding in findings if finding.kind == "checkpoint"} == {
        f"checkpoint {size}" for size in logged.checkpoints[1:]
    }  # every checkpoint signed after the leaf: their roots are not the leaves' root


def test_altered_look_up_keys_are_named(logged, session, ledger):
    leaf = leaf_of(session, logged.declaration_id, "declaration.accepted")
    unprotect(session, "ledger_leaves")
    session.execute(update(Leaf).where(Leaf.idx == leaf.idx).values(subject_key=leaf.subject_key + 1))
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject.split(" (")[0]) for finding in findings] == [
        ("leaf", f"leaf {leaf.idx}")
    ]
    assert "look-up keys" in findings[0].problem


@pytest.mark.parametrize(("level", "n"), [(0, 5), (1, 60), (3, 2), (6, 1)])
def test_an_altered_stored_hash_is_named_and_nothing_else(logged, session, ledger, level, n):
    index = merkle.stored_hash_index(level, n)
    unprotect(session, "ledger_hashes")
    session.execute(
        text("UPDATE ledger_hashes SET hash = :hash WHERE idx = :idx"), {"hash": bytes(32), "idx": index}
    )
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject) for finding in findings] == [
        ("stored hash", f"stored hash {index} (level {level}, subtree {n})")
    ]


def _resigned(message: str, key: note.Signer) -> str:
    text_part, _ = note.parse_note(message.encode())
    return note.sign_note(text_part, signers=[key]).decode()


def _other_root(message: str) -> str:
    origin, size, root, *rest = message.split("\n")
    flipped = base64.b64encode(bytes([base64.b64decode(root)[0] ^ 1]) + base64.b64decode(root)[1:]).decode()
    return "\n".join([origin, size, flipped, *rest])


def _flipped_signature(message: str) -> str:
    head, _, line = message.rstrip("\n").rpartition("\n")
    name, encoded = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    return f"{head}\n{name} {base64.b64encode(bytes(raw)).decode()}\n"


@pytest.mark.parametrize(
    ("alter", "problem"),
    [
        (_other_root, "does not verify"),  # the text: another root under the old signature
        (_flipped_signature, "does not verify"),  # the signature
        (lambda message: _resigned(message, note.generate_key("customs.test/log")), "does not verify"),
        (lambda message: message.replace("customs.test/log\n", "other.test/log\n", 1), "does not verify"),
    ],
)
def test_an_altered_checkpoint_is_named(logged, session, ledger, alter, problem):
    size = logged.checkpoints[1]
    record = session.get(Checkpoint, size)
    unprotect(session, "ledger_checkpoints")
    session.execute(update(Checkpoint).where(Checkpoint.size == size).values(note=alter(record.note)))
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject) for finding in findings] == [("checkpoint", f"checkpoint {size}")]
    assert problem in findings[0].problem


def test_a_checkpoint_signed_by_the_log_over_another_root_is_named(logged, session, ledger):
    size = logged.checkpoints[1]
    record = session.get(Checkpoint, size)
    forged = _resigned(_other_root(record.note), ledger.signer)  # the log's key itself, another tree
    unprotect(session, "ledger_checkpoints")
    session.execute(update(Checkpoint).where(Checkpoint.size == size).values(note=forged))
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject, finding.problem.split(" (")[0]) for finding in findings] == [
        ("checkpoint", f"checkpoint {size}", "its root column differs from the root it signed"),
        ("checkpoint", f"checkpoint {size}", "its root is not the root of the leaves stored"),
    ]


def test_an_altered_checkpoint_root_column_is_named(logged, session, ledger):
    unprotect(session, "ledger_checkpoints")
    size = logged.checkpoints[-1]
    session.execute(update(Checkpoint).where(Checkpoint.size == size).values(root=bytes(32)))
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject) for finding in findings] == [("checkpoint", f"checkpoint {size}")]
    assert "root column" in findings[0].problem


def test_an_altered_declaration_content_hash_is_named(logged, session, ledger):
    session.execute(
        update(DeclarationVersion)
        .where(
            DeclarationVersion.declaration_id == uuid.UUID(logged.declaration_id),
            DeclarationVersion.version == 2,
        )
        .values(content_hash=hashlib.sha256(b"another document").hexdigest())
    )
    findings = check(session, ledger).findings
    leaf = leaf_of(session, logged.declaration_id, service.VERSION, version=2)
    assert [(finding.kind, finding.subject) for finding in findings] == [
        ("document", f"declaration {logged.declaration_id} version 2 (leaf {leaf.idx})")
    ]
    assert "content_hash" in findings[0].problem


def test_an_altered_declaration_document_is_named(logged, session, ledger):
    version = session.scalars(
        select(DeclarationVersion).where(
            DeclarationVersion.declaration_id == uuid.UUID(logged.declaration_id),
            DeclarationVersion.version == 3,
        )
    ).one()
    document = {**version.document, "invoice_total": "15.00"}
    session.execute(
        update(DeclarationVersion)
        .where(DeclarationVersion.declaration_id == version.declaration_id, DeclarationVersion.version == 3)
        .values(document=document)
    )
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject.split(" (")[0]) for finding in findings] == [
        ("document", f"declaration {logged.declaration_id} version 3")
    ]
    assert "stored document" in findings[0].problem


def test_an_altered_decision_event_is_named(logged, session, ledger):
    leaf = leaf_of(session, logged.declaration_id, "declaration.accepted")
    data = session.scalar(select(Event.data).where(Event.event_id == leaf.event_id))
    unprotect(session, "events")
    session.execute(
        update(Event).where(Event.event_id == leaf.event_id).values(data={**data, "lane": "green"})
    )
    findings = check(session, ledger).findings
    assert [(finding.kind, finding.subject) for finding in findings] == [
        (
            "document",
            f"event {leaf.event_id} (declaration.accepted of declaration/{logged.declaration_id}, "
            f"leaf {leaf.idx})",
        )
    ]


def test_a_log_checked_with_another_key_fails_everywhere(logged, session, ledger):
    other = note.generate_key(ledger.origin)
    findings = service.verify(session, log_key=other.verifier).findings
    assert [finding.subject for finding in findings] == [f"checkpoint {size}" for size in logged.checkpoints]
